"""``keyhold audit verify | search | public-key``.

src/keyhold/cli.py adds these with ``add_audit_commands(commands)`` and runs them with ``run(args)``.
"""

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from cryptography.hazmat.primitives import serialization

from keyhold.audit.digest import SIGNING_KEY_NAME, load_or_create_signing_key, public_key_pem
from keyhold.audit.search import key_references, search
from keyhold.audit.verify import check_trail

AUDIT_DIR = "audit"


def _data_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("KEYHOLD_DATA_DIR", "./keyhold-data"),
        help="the server's data directory; the trail is <data-dir>/audit/ (KEYHOLD_DATA_DIR)",
    )


def _instant(text: str) -> float:
    """An ISO 8601 date or time (UTC unless it says otherwise), or epoch seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time such as 2024-05-01T10:00:00Z") from None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not a key=value pair")
    return name, value


def add_audit_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``audit`` and its subcommands to the ``keyhold`` command's subparsers."""
    audit: argparse.ArgumentParser = subparsers.add_parser("audit", help="verify, search and export the audit trail")
    commands = audit.add_subparsers(dest="audit_command", required=True)

    verify = commands.add_parser("verify", help="check the trail's log files against its signed digests")
    _data_dir_argument(verify)
    verify.add_argument(
        "--public-key", metavar="FILE", help="the trail's public key (PEM), default: from <data-dir>/audit/"
    )

    found = commands.add_parser("search", help="print the events that match every filter given")
    _data_dir_argument(found)
    found.add_argument("--key", help="a key id or key ARN")
    found.add_argument("--event", help="an event name, such as Decrypt")
    found.add_argument("--principal", help="the caller's ARN (or user name or access key id)")
    found.add_argument("--start", type=_instant, help="events at or after this time (ISO 8601, UTC by default)")
    found.add_argument("--end", type=_instant, help="events at or before this time")
    found.add_argument(
        "--context",
        type=_pair,
        nargs="+",
        action="extend",
        default=[],
        metavar="K=V",
        help="encryption context pairs the event's request must include",
    )
    found.add_argument("--json", action="store_true", help="one JSON record per line instead of a table")

    public = commands.add_parser("public-key", help="print the public key that verifies the trail's digests")
    _data_dir_argument(public)
    return audit


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the parsed ``keyhold audit ...`` command; the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    trail = Path(args.data_dir) / AUDIT_DIR
    if args.audit_command == "verify":
        return _verify(trail, args.public_key, out, err)
    if args.audit_command == "search":
        return _search(trail, args, out)
    if args.audit_command == "public-key":
        if not Path(args.data_dir).is_dir():
            print(f"keyhold audit: no data directory at {args.data_dir}", file=err)
            return 1
        trail.mkdir(mode=0o700, exist_ok=True)
        out.write(public_key_pem(load_or_create_signing_key(trail / SIGNING_KEY_NAME)).decode())
        return 0
    print(f"keyhold audit: unknown command {args.audit_command}", file=err)
    return 2


def _public_key(trail: Path, given: str | None, err: TextIO) -> bytes | None:
    path = Path(given) if given else trail / SIGNING_KEY_NAME
    if not path.is_file():
        print(f"keyhold audit: no key at {path}; pass the trail's public key with --public-key FILE", file=err)
        return None
    pem = path.read_bytes()
    try:
        serialization.load_pem_public_key(pem)
        return pem
    except ValueError:
        pass
    try:
        private = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        print(f"keyhold audit: {path} holds no PEM public or private key", file=err)
        return None
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _verify(trail: Path, public_key: str | None, out: TextIO, err: TextIO) -> int:
    if not trail.is_dir():
        print(f"keyhold audit: no audit trail at {trail}", file=err)
        return 1
    pem = _public_key(trail, public_key, err)
    if pem is None:
        return 1
    try:
        report = check_trail(trail, pem)
    except ValueError as exc:
        print(f"keyhold audit: {exc}", file=err)
        return 1
    for problem in report.errors:
        print(problem, file=out)
    for problem in report.warnings:
        print(f"WARNING: {problem}", file=out)
    counts = f"{_count(report.log_files, 'log file')}, {_count(report.digests, 'digest')} verified"
    warned = f" ({_count(len(report.warnings), 'warning')})" if report.warnings else ""
    if report.errors:
        print(f"FAILED: {_count(len(report.errors), 'problem')} found; {counts}{warned}", file=out)
        return 1
    print(f"OK: {counts}{warned}", file=out)
    return 0


def _row(record: dict[str, Any]) -> tuple[str, str, str, str, str]:
    identity = record.get("userIdentity")
    principal = (identity.get("arn") or identity.get("invokedBy")) if isinstance(identity, dict) else None
    keys = key_references(record)
    resources = [ref for ref in keys if ref.startswith("arn:")]
    key = (resources or keys or ["-"])[0]
    result = str(record.get("errorCode") or "OK")
    return str(record.get("eventTime", "-")), str(record.get("eventName", "-")), str(principal or "-"), key, result


def _search(trail: Path, args: argparse.Namespace, out: TextIO) -> int:
    records = search(
        trail,
        key=args.key,
        event_name=args.event,
        principal=args.principal,
        start=args.start,
        end=args.end,
        context=dict(args.context) or None,
    )
    if args.json:
        for record in records:
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
        return 0
    rows = [("TIME", "EVENT", "PRINCIPAL", "KEY", "RESULT"), *(_row(record) for record in records)]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
        out.write("  ".join([*cells, row[4]]) + "\n")
    return 0

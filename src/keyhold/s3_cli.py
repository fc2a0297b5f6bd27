"""``keyhold s3 inspect BUCKET KEY``: how one object is encrypted, read from the metadata database and the blob
headers directly (no server needed; safe while one runs: it only reads).

It shows the mode, the KMS key ARN, the encryption context, whether a bucket key is used, the SSE-S3 key
generation, size, ETag and, per stored stream (the whole object, or each multipart part), the blob, its plaintext
and stored sizes, its chunk count and what its 45-byte header says (format version, layers). It never shows key
material: no wrapped or sealed key, no salt, no customer-key check value, no nonce.

src/keyhold/cli.py adds the command with ``add_s3_commands(commands)`` and runs it with ``run(args)``.
"""

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from keyhold.config import Settings
from keyhold.crypto.errors import InvalidCiphertext
from keyhold.crypto.object_stream import HEADER_SIZE, chunk_count, read_header, stored_size
from keyhold.domain.objects.model import NONE, SSE_C, SSE_KMS, SSE_KMS_DSSE, SSE_S3, ObjectRecord, StoredPart
from keyhold.domain.objects.ports import BlobMissing, BlobTruncated
from keyhold.storage.blob.filesystem import FilesystemBlobStore
from keyhold.storage.sql.db import open_engine
from keyhold.storage.sql.objects import SqlObjectRepo

PROG = "keyhold s3 inspect"


class InspectError(Exception):
    """The object cannot be inspected (no data directory, database, bucket or key); the message says why."""


@dataclass(frozen=True, slots=True)
class Source:
    data_dir: Path
    database_url: str | None

    @property
    def db_url(self) -> str:
        return Settings(data_dir=self.data_dir, database_url=self.database_url).db_url


def add_s3_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``s3`` and its subcommands (``inspect``) to the ``keyhold`` command's subparsers."""
    s3: argparse.ArgumentParser = subparsers.add_parser("s3", help="object store administration (inspecting objects)")
    commands = s3.add_subparsers(dest="s3_command", required=True)
    inspect = commands.add_parser(
        "inspect",
        help="show how an object is encrypted (mode, KMS key, parts, stream headers), never its keys",
        description="Show how an object is encrypted, from the metadata database and the blob headers (no server "
        "needed). Key material (wrapped keys, salts, customer-key checks) is never shown.",
    )
    inspect.add_argument("bucket", metavar="BUCKET")
    inspect.add_argument("key", metavar="KEY")
    env = os.environ
    inspect.add_argument(
        "--data-dir",
        default=env.get("KEYHOLD_DATA_DIR", "./keyhold-data"),
        help="the server's data directory (KEYHOLD_DATA_DIR); blobs are in <data-dir>/blobs/",
    )
    inspect.add_argument(
        "--database-url",
        default=env.get("KEYHOLD_DATABASE_URL"),
        help="KEYHOLD_DATABASE_URL; default: SQLite in the data dir",
    )
    inspect.add_argument("--json", action="store_true", help="one JSON document instead of text")
    return s3


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the parsed ``keyhold s3 ...`` command; the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    if args.s3_command != "inspect":
        print(f"keyhold s3: unknown command {args.s3_command}", file=err)
        return 2
    source = Source(Path(args.data_dir).resolve(), args.database_url or None)
    try:
        report = inspect_object(source, args.bucket, args.key)
    except InspectError as exc:
        print(f"{PROG}: {exc}", file=err)
        return 1
    if args.json:
        out.write(json.dumps(report, indent=2) + "\n")
    else:
        out.write(render_text(report))
    return 0


# -- reading ----------------------------------------------------------------------------------------------------


def inspect_object(source: Source, bucket: str, key: str) -> dict[str, Any]:
    """What ``inspect`` reports about one object, as a JSON-ready dict. Raises InspectError."""
    if source.database_url is None:
        if not source.data_dir.is_dir():
            raise InspectError(f"no data directory at {source.data_dir} (pass --data-dir or set KEYHOLD_DATA_DIR)")
        if not (source.data_dir / "keyhold.db").is_file():
            raise InspectError(f"no database at {source.data_dir / 'keyhold.db'} (has the server run here?)")
    engine = open_engine(source.db_url, pool_size=1)
    try:
        repo = SqlObjectRepo(engine)
        try:
            found_bucket = repo.get_bucket(bucket)
            record = repo.get_object(bucket, key) if found_bucket is not None else None
            generations = {k.key_id: k.created_at for k in repo.sse_s3_keys()} if record is not None else {}
        except Exception as exc:  # an unreadable database: no schema, wrong URL, no server
            raise InspectError(f"cannot read the metadata database: {type(exc).__name__}: {exc}") from None
    finally:
        engine.dispose()
    if found_bucket is None:
        raise InspectError(f"no such bucket: {bucket}")
    if record is None:
        raise InspectError(f"no such key: s3://{bucket}/{key}")
    blobs_dir = source.data_dir / "blobs"
    blobs = FilesystemBlobStore(blobs_dir) if blobs_dir.is_dir() else None
    return _report(record, blobs, generations)


def _report(
    record: ObjectRecord, blobs: FilesystemBlobStore | None, generations: Mapping[str, float]
) -> dict[str, Any]:
    envelope = record.encryption
    mode = envelope.mode
    encryption: dict[str, Any] = {"mode": mode}
    if mode in (SSE_KMS, SSE_KMS_DSSE):
        encryption["kms_key_arn"] = envelope.kms_key_arn
        encryption["encryption_context"] = dict(envelope.context) if envelope.context is not None else None
        encryption["bucket_key"] = envelope.bucket_key
    if mode in (SSE_S3, SSE_KMS_DSSE):
        created = generations.get(envelope.s3_key_id or "")
        encryption["sse_s3_key"] = {
            "id": envelope.s3_key_id,
            "created": _iso(created) if created is not None else None,
        }
    if mode == SSE_C:
        encryption["customer_algorithm"] = "AES256"
    multipart = any(part.number > 0 for part in record.parts)
    return {
        "bucket": record.bucket,
        "key": record.key,
        "size": record.size,
        "etag": f'"{record.etag}"',
        "last_modified": _iso(record.last_modified),
        "content_type": record.content_type,
        "checksum": (
            {"algorithm": record.checksum.algorithm, "type": record.checksum.type}
            if record.checksum is not None
            else None
        ),
        "encryption": encryption,
        "multipart": multipart,
        "part_count": len(record.parts),
        "parts": [_part(part, mode, blobs) for part in record.parts],
    }


def _part(part: StoredPart, mode: str, blobs: FilesystemBlobStore | None) -> dict[str, Any]:
    report: dict[str, Any] = {
        "number": part.number,
        "etag": f'"{part.etag}"',
        "blob_id": part.blob_id,
        "plaintext_size": part.size,
        "stored_size": None,
        "chunks": chunk_count(part.size) if mode != NONE else None,
        "stream": None,
        "problem": None,
    }
    if blobs is None:
        report["problem"] = "blob missing (no blobs directory)"
        return report
    try:
        report["stored_size"] = blobs.size(part.blob_id)
    except (BlobMissing, ValueError):
        report["problem"] = "blob missing"
        return report
    if mode == NONE:  # stored as sent: no stream header
        if report["stored_size"] != part.size:
            report["problem"] = f"stored size differs from the plaintext size {part.size}"
        return report
    try:
        header = b"".join(blobs.read(part.blob_id, 0, HEADER_SIZE))
        stream = read_header(header)
    except (BlobTruncated, InvalidCiphertext):
        report["problem"] = "no valid object-stream header"
        return report
    report["stream"] = {"format_version": stream.version, "layers": stream.layers}
    expected = stored_size(part.size, stream.layers)
    if report["stored_size"] != expected:
        report["problem"] = f"stored size differs from the {expected} bytes the stream should have"
    return report


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- text output --------------------------------------------------------------------------------------------------

_MODE_NAMES = {
    NONE: "none (stored as sent)",
    SSE_S3: "AES256 (SSE-S3)",
    SSE_KMS: "aws:kms (SSE-KMS)",
    SSE_KMS_DSSE: "aws:kms:dsse (DSSE-KMS, two layers)",
    SSE_C: "SSE-C (customer-provided key, AES256)",
}


def render_text(report: Mapping[str, Any]) -> str:
    encryption = report["encryption"]
    rows: list[tuple[str, str]] = [("encryption", _MODE_NAMES.get(encryption["mode"], encryption["mode"]))]
    if "kms_key_arn" in encryption:
        rows.append(("KMS key", encryption["kms_key_arn"] or "-"))
        context = encryption["encryption_context"]
        rows.append(("encryption context", json.dumps(context, sort_keys=True) if context is not None else "-"))
        rows.append(("bucket key", "yes" if encryption["bucket_key"] else "no"))
    if "sse_s3_key" in encryption:
        generation = encryption["sse_s3_key"]
        created = f" (created {generation['created']})" if generation["created"] else ""
        rows.append(("SSE-S3 key", f"{generation['id'] or '-'}{created}"))
    rows += [
        ("size", f"{report['size']} bytes"),
        ("ETag", report["etag"]),
        ("last modified", report["last_modified"]),
        ("content type", report["content_type"]),
    ]
    if report["checksum"] is not None:
        rows.append(("checksum", f"{report['checksum']['algorithm']} ({report['checksum']['type']})"))
    kind = "multipart upload" if report["multipart"] else "single PUT"
    rows.append(("parts", f"{report['part_count']} ({kind})"))
    width = max(len(name) for name, _ in rows) + 1
    lines = [f"s3://{report['bucket']}/{report['key']}"]
    lines += [f"  {name + ':':<{width}} {value}" for name, value in rows]
    table = [("PART", "BLOB", "PLAINTEXT", "STORED", "CHUNKS", "STREAM")]
    for part in report["parts"]:
        stream = part["stream"]
        table.append(
            (
                str(part["number"]),
                part["blob_id"],
                str(part["plaintext_size"]),
                "-" if part["stored_size"] is None else str(part["stored_size"]),
                "-" if part["chunks"] is None else str(part["chunks"]),
                f"v{stream['format_version']}, {stream['layers']} layer{'s' if stream['layers'] != 1 else ''}"
                if stream is not None
                else "-",
            )
        )
    widths = [max(len(row[column]) for row in table) for column in range(5)]
    lines.append("")
    for index, row in enumerate(table):
        cells = [cell.ljust(w) for cell, w in zip(row[:5], widths, strict=True)]
        line = "  " + "  ".join([*cells, row[5]])
        if index > 0 and report["parts"][index - 1]["problem"]:
            line += f"  PROBLEM: {report['parts'][index - 1]['problem']}"
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"

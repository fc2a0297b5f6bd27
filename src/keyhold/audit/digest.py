"""The trail's files on disk, the signing key, and digest files that hash, chain and sign them.

This is CloudTrail's log file integrity validation, on a local directory instead of an S3 bucket. Each node
(one writer process) keeps one digest chain per account and region; every hour, and when it closes, it writes a
digest file that names and hashes every log file the node wrote since its previous digest (an empty list when
there were none), names and hashes the previous digest, and is signed with the trail's RSA key. The format and
the signed bytes are specified in docs/formats/audit-digest.md.
"""

import calendar
import contextlib
import gzip
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from keyhold.audit.events import iso_time, parse_iso_time

log = logging.getLogger("keyhold.audit")

DIGEST_FORMAT = 1
SIGNATURE_ALGORITHM = "SHA256withRSA"
HASH_ALGORITHM = "SHA-256"
SIGNING_KEY_NAME = "signing-key.pem"
SIGNATURE_SUFFIX = ".sig"
NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,63}")
_SAFE = re.compile(r"[^A-Za-z0-9-]")
_STAMP = "%Y%m%dT%H%MZ"

# -- layout ------------------------------------------------------------------------------------------------------


def path_segment(value: str) -> str:
    """An account id or region as a directory name (anything but letters, digits and '-' becomes '-')."""
    return _SAFE.sub("-", value) or "unknown"


def minute_stamp(epoch: float) -> str:
    return time.strftime(_STAMP, time.gmtime(epoch))


def log_file_path(account: str, region: str, epoch: float, node_id: str, seq: int) -> str:
    """The relative path of a log file written at ``epoch``."""
    day = time.strftime("%Y/%m/%d", time.gmtime(epoch))
    name = f"{account}_CloudTrail_{region}_{minute_stamp(epoch)}_{node_id}_{seq:06d}.json.gz"
    return f"{account}/{region}/{day}/{name}"


def digest_file_path(account: str, region: str, epoch: float, node_id: str, suffix: int = 0) -> str:
    """The relative path of a digest written at ``epoch`` (``_<n>`` added for a second digest in one minute)."""
    day = time.strftime("%Y/%m/%d", time.gmtime(epoch))
    extra = f"_{suffix}" if suffix else ""
    name = f"{account}_CloudTrail-Digest_{region}_{minute_stamp(epoch)}_{node_id}{extra}.json.gz"
    return f"{account}/{region}/digest/{day}/{name}"


@dataclass(frozen=True, slots=True)
class LogName:
    account: str
    region: str
    written: float  # the minute the file was written, from its name
    node_id: str
    seq: int


def parse_log_name(name: str) -> LogName | None:
    """The parts of a log file's name, or None when it is not a log file name Keyhold writes."""
    if not name.endswith(".json.gz"):
        return None
    parts = name[: -len(".json.gz")].split("_")
    if len(parts) != 6 or parts[1] != "CloudTrail" or not parts[5].isdigit():
        return None
    try:
        written = calendar.timegm(time.strptime(parts[3], _STAMP))
    except ValueError:
        return None
    return LogName(parts[0], parts[2], float(written), parts[4], int(parts[5]))


def is_digest_name(name: str) -> bool:
    return name.endswith(".json.gz") and "_CloudTrail-Digest_" in name


def trail_files(directory: Path) -> Iterator[tuple[str, Path]]:
    """Every ``*.json.gz`` under the trail directory, as (relative posix path, path), in sorted order."""
    for path in sorted(directory.rglob("*.json.gz")):
        if path.is_file() and not path.name.startswith("."):
            yield path.relative_to(directory).as_posix(), path


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs(directory: Path) -> None:
    """Create ``directory`` and its missing parents, fsyncing each parent so the new entries are durable."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
        _fsync_dir(path.parent)


def write_new_file(path: Path, data: bytes, mode: int = 0o600) -> bool:
    """Write-temp, fsync, link into place, fsync the directory. Never replaces a file: False if ``path`` exists.

    Readers see either no file or the complete file; the temporary name is hidden (``.<name>.<pid>.<tid>.tmp``).
    """
    _make_dirs(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    return True


def read_records(data: bytes) -> list[dict[str, Any]]:
    """The records of a log file's bytes (gzip JSON ``{"Records": [...]}``)."""
    records = json.loads(gzip.decompress(data))["Records"]
    if not isinstance(records, list):
        raise ValueError("Records is not a list")
    return records


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the signing key ---------------------------------------------------------------------------------------------


def load_or_create_signing_key(path: Path) -> rsa.RSAPrivateKey:
    """The trail's RSA-2048 key from ``path`` (PKCS#8 PEM, mode 0600), generated there on first use.

    Several processes may call this at once: the key that reaches the file first wins and all of them use it.
    """
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        write_new_file(path, pem, mode=0o600)
    if path.stat().st_mode & 0o077:
        log.warning("audit signing key %s is readable by other users; it should be mode 0600", path)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key")
    return loaded


def public_key_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> bytes:
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    """SHA-256 (hex) of the public key's DER SubjectPublicKeyInfo: ``digestPublicKeyFingerprint``."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return sha256_hex(public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def signing_string(end_time: str, digest_object: str, digest_bytes: bytes, previous_signature: str | None) -> bytes:
    """The bytes a digest's signature covers (CloudTrail's data signing string; see audit-digest.md)."""
    lines = (end_time, digest_object, sha256_hex(digest_bytes), previous_signature or "null")
    return "\n".join(lines).encode()


def sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return key.sign(message, padding.PKCS1v15(), hashes.SHA256()).hex()


def signature_valid(public: rsa.RSAPublicKey, message: bytes, signature_hex: str) -> bool:
    try:
        public.verify(bytes.fromhex(signature_hex), message, padding.PKCS1v15(), hashes.SHA256())
    except Exception:
        return False
    return True


# -- digests -----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Chain:
    account: str
    region: str
    start: str  # digestStartTime of the next digest
    previous_object: str | None = None
    previous_hash: str | None = None
    previous_signature: str | None = None
    log_files: list[dict[str, Any]] = field(default_factory=list)
    dropped: int = 0


def log_file_entry(relative: str, data: bytes, event_times: list[str]) -> dict[str, Any]:
    """A digest's ``logFiles`` entry for the file at ``relative`` holding ``data``."""
    return {
        "s3Object": relative,
        "hashValue": sha256_hex(data),
        "hashAlgorithm": HASH_ALGORITHM,
        "oldestEventTime": min(event_times, default=None),
        "newestEventTime": max(event_times, default=None),
    }


class DigestWriter:
    """One node's digest chains (one per account and region). Not thread-safe: its owner serializes calls."""

    def __init__(
        self,
        directory: Path,
        *,
        node_id: str,
        signing_key: rsa.RSAPrivateKey,
        clock: Callable[[], float] = time.time,
        period: float = 3600.0,
    ) -> None:
        if not NODE_ID.fullmatch(node_id):
            raise ValueError(f"node id {node_id!r} must be 1-64 letters, digits, '.' or '-'")
        self._directory = directory
        self._node_id = node_id
        self._key = signing_key
        self._fingerprint = fingerprint(signing_key)
        self._clock = clock
        self._period = period
        self._started = iso_time(clock())
        self._next_due = self._boundary_after(clock())
        self._chains: dict[tuple[str, str], _Chain] = {}
        self._resume()

    def _boundary_after(self, now: float) -> float:
        return (now // self._period + 1) * self._period

    def _chain(self, account: str, region: str) -> _Chain:
        chain = self._chains.get((account, region))
        if chain is None:
            chain = self._chains[(account, region)] = _Chain(account, region, self._started)
        return chain

    def add_log_file(self, account: str, region: str, entry: dict[str, Any]) -> None:
        """Note a log file written since the last digest (``entry`` from :func:`log_file_entry`)."""
        self._chain(account, region).log_files.append(entry)

    def note_dropped(self, account: str, region: str, count: int) -> None:
        """Records that could not be written; the next digest of their chain says how many."""
        self._chain(account, region).dropped += count

    def due(self) -> bool:
        return self._clock() >= self._next_due

    def write_digests(self) -> list[Path]:
        """Write one digest per chain now (empty ones too, so a gap in the hourly sequence shows)."""
        now = self._clock()
        written = [self._write(chain, now) for chain in self._chains.values()]
        self._next_due = self._boundary_after(now)
        return written

    def _write(self, chain: _Chain, now: float) -> Path:
        end = iso_time(now)
        suffix = 0
        while True:
            relative = digest_file_path(chain.account, chain.region, now, self._node_id, suffix)
            path = self._directory / relative
            sig_path = path.with_name(path.name + SIGNATURE_SUFFIX)
            if not path.exists() and not sig_path.exists():
                break
            suffix += 1
        times = [t for entry in chain.log_files for t in (entry["oldestEventTime"], entry["newestEventTime"]) if t]
        digest: dict[str, Any] = {
            "awsAccountId": chain.account,
            "digestStartTime": chain.start,
            "digestEndTime": end,
            "digestS3Object": relative,
            "digestPublicKeyFingerprint": self._fingerprint,
            "digestSignatureAlgorithm": SIGNATURE_ALGORITHM,
            "newestEventTime": max(times) if times else None,
            "oldestEventTime": min(times) if times else None,
            "previousDigestS3Object": chain.previous_object,
            "previousDigestHashValue": chain.previous_hash,
            "previousDigestHashAlgorithm": HASH_ALGORITHM if chain.previous_hash else None,
            "previousDigestSignature": chain.previous_signature,
            "logFiles": chain.log_files,
            "keyholdDigestFormat": DIGEST_FORMAT,
            "keyholdNodeId": self._node_id,
            "keyholdRegion": chain.region,
            "keyholdDroppedRecords": chain.dropped,
        }
        data = gzip.compress(json.dumps(digest, separators=(",", ":")).encode(), compresslevel=6, mtime=0)
        signature = sign(self._key, signing_string(end, relative, data, chain.previous_signature))
        if not write_new_file(sig_path, signature.encode() + b"\n"):
            raise FileExistsError(f"{sig_path} appeared while the digest was being written")
        try:
            if not write_new_file(path, data):
                raise FileExistsError(f"{path} appeared while the digest was being written")
        except BaseException:
            sig_path.unlink(missing_ok=True)
            raise
        chain.start = end
        chain.previous_object, chain.previous_hash, chain.previous_signature = relative, sha256_hex(data), signature
        chain.log_files = []
        chain.dropped = 0
        return path

    # -- continuing a chain after a restart with the same node id ------------------------------------------------

    def _resume(self) -> None:
        newest: dict[tuple[str, str], tuple[str, str, dict[str, Any], bytes]] = {}
        for relative, path in self._own_digests():
            try:
                data = path.read_bytes()
                digest = json.loads(gzip.decompress(data))
            except (OSError, ValueError, EOFError):
                log.warning("audit: cannot read digest %s; not continuing from it", relative)
                continue
            if digest.get("keyholdNodeId") != self._node_id:
                continue
            chain_key = (str(digest.get("awsAccountId")), str(digest.get("keyholdRegion")))
            rank = (str(digest.get("digestEndTime")), relative)
            if chain_key not in newest or rank > newest[chain_key][:2]:
                newest[chain_key] = (*rank, digest, data)
        for (account, region), (end, relative, digest, data) in newest.items():
            sig_path = self._directory / (relative + SIGNATURE_SUFFIX)
            signature = sig_path.read_text().strip() if sig_path.exists() else None
            chain = _Chain(account, region, end, relative, sha256_hex(data), signature)
            listed = {entry.get("s3Object") for entry in digest.get("logFiles") or []}
            chain.log_files = self._orphans(account, region, parse_iso_time(end), listed)
            self._chains[(account, region)] = chain

    def _own_digests(self) -> Iterator[tuple[str, Path]]:
        for path in sorted(self._directory.glob(f"*/*/digest/*/*/*/*_{self._node_id}*.json.gz")):
            parts = path.name[: -len(".json.gz")].split("_")
            if len(parts) in (5, 6) and parts[1] == "CloudTrail-Digest" and parts[4] == self._node_id:
                yield path.relative_to(self._directory).as_posix(), path

    def _orphans(self, account: str, region: str, since: float, listed: set[Any]) -> list[dict[str, Any]]:
        """This node's log files written after its last digest (a crash before the next one): adopt them."""
        base = self._directory / account / region
        first_day = time.strftime("%Y/%m/%d", time.gmtime(since))
        found: list[dict[str, Any]] = []
        cutoff = since // 60 * 60
        for path in sorted(base.glob(f"[0-9]*/*/*/*_{self._node_id}_*.json.gz")):
            relative = path.relative_to(self._directory).as_posix()
            parsed = parse_log_name(path.name)
            day = path.parent.relative_to(base).as_posix()
            if parsed is None or parsed.node_id != self._node_id or day < first_day or relative in listed:
                continue
            if parsed.written < cutoff:
                continue
            data = path.read_bytes()
            try:
                times = [r["eventTime"] for r in read_records(data) if isinstance(r.get("eventTime"), str)]
            except (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError):
                times = []
            found.append(log_file_entry(relative, data, times))
            log.info("audit: adopting %s, written after the last digest of node %s", relative, self._node_id)
        return found

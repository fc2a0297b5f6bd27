"""The audit trail writer: records are queued on the request path and written by a background thread.

``record`` serializes the record to JSON and appends the bytes to an in-memory queue (no I/O, no blocking;
queuing bytes rather than dictionaries keeps the garbage collector's work small). Every ``flush_interval``
seconds the writer's thread takes the whole queue and writes it as new, complete, gzip-compressed CloudTrail log
files, one per account and region (more when a file would exceed ``max_records_per_file``), each written to a
hidden temporary name, fsynced, linked into place and its directory fsynced. So at most ``flush_interval``
seconds of records (plus the one write in progress) are lost if the process dies; ``close`` writes everything.

When the queue holds ``max_queued`` records (the disk is failing or far too slow), further records are dropped
rather than stalling the requests that made them: each dropped record is counted, a warning is logged, and the
next digest of the record's account and region says how many were dropped (``keyholdDroppedRecords``), which
``keyhold audit verify`` reports. Nothing is lost silently.
"""

import gzip
import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from cryptography.hazmat.primitives.asymmetric import rsa

from keyhold.audit.digest import (
    NODE_ID,
    SIGNING_KEY_NAME,
    DigestWriter,
    load_or_create_signing_key,
    log_file_entry,
    log_file_path,
    path_segment,
    write_new_file,
)

log = logging.getLogger("keyhold.audit")

DEFAULT_ACCOUNT = "000000000000"
MAX_QUEUED = 100_000

_active: set[tuple[str, str]] = set()  # (directory, node id) of this process's open writers
_active_lock = threading.Lock()


def default_node_id() -> str:
    """``<hostname>-<pid>``, reduced to the characters a node id may hold: unique among a host's live processes."""
    host = "".join(c if c.isalnum() or c in ".-" else "-" for c in socket.gethostname().split(".")[0]) or "node"
    return f"{host.strip('.-')[:40] or 'node'}-{os.getpid()}"


def _chain_of(event: dict[str, Any]) -> tuple[str, str]:
    identity = event.get("userIdentity")
    fallback = identity.get("accountId", DEFAULT_ACCOUNT) if isinstance(identity, dict) else DEFAULT_ACCOUNT
    account = str(event.get("recipientAccountId") or fallback)
    region = str(event.get("awsRegion") or "unknown")
    chain = _chains.get((account, region))
    if chain is None:
        chain = (path_segment(account), path_segment(region))
        if len(_chains) < 10_000:  # accounts and regions are few; bound it anyway
            _chains[(account, region)] = chain
    return chain


_chains: dict[tuple[str, str], tuple[str, str]] = {}  # (account, region) -> their directory names


class _Encoded(NamedTuple):
    """One queued record (a tuple: built once per request, so it must be cheap)."""

    chain: tuple[str, str]
    encoded: bytes
    event_time: str | None


class AuditWriter:
    """One process's audit stream: log files and the digest chains that cover them, under ``directory``."""

    def __init__(
        self,
        directory: Path,
        *,
        node_id: str,
        flush_interval: float = 1.0,
        max_records_per_file: int = 10_000,
        clock: Callable[[], float] = time.time,
        max_queued: int = MAX_QUEUED,
        signing_key: rsa.RSAPrivateKey | None = None,
        digest_period: float = 3600.0,
    ) -> None:
        if not NODE_ID.fullmatch(node_id):
            raise ValueError(f"node id {node_id!r} must be 1-64 letters, digits, '.' or '-'")
        if flush_interval <= 0 or max_records_per_file < 1 or max_queued < 1:
            raise ValueError("flush_interval, max_records_per_file and max_queued must be positive")
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._identity = (str(directory.resolve()), node_id)
        with _active_lock:
            if self._identity in _active:
                raise ValueError(f"an audit writer for node {node_id} is already open on {directory}")
            _active.add(self._identity)
        self._directory = directory
        self._node_id = node_id
        self._flush_interval = flush_interval
        self._max_per_file = max_records_per_file
        self._max_queued = max_queued
        self._clock = clock
        try:
            key = signing_key or load_signing_key(directory)
            self._digests = DigestWriter(directory, node_id=node_id, signing_key=key, clock=clock, period=digest_period)
        except BaseException:
            with _active_lock:
                _active.discard(self._identity)
            raise
        self._queue: list[_Encoded] = []
        self._dropped: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()  # guards _queue, _dropped, _closed: held for an append only
        self._io_lock = threading.Lock()  # one writer of files at a time (the thread, flush, close)
        self._closed = False
        self._seq = 0
        self.files_written = 0
        self.dropped_total = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"keyhold-audit-{node_id}", daemon=True)
        self._thread.start()

    @property
    def node_id(self) -> str:
        return self._node_id

    def record(self, event: dict[str, Any]) -> None:
        """Queue one CloudTrail record. Never does I/O and never blocks on it; see the module note on overflow."""
        chain = _chain_of(event)
        try:
            encoded = orjson.dumps(event)  # compact, UTF-8; about 6x faster than json.dumps on this hot path
        except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError
            log.error("audit: a %s record could not be serialized; dropped", event.get("eventName"))
            encoded = b""
        event_time = event.get("eventTime")
        item = _Encoded(chain, encoded, event_time if isinstance(event_time, str) else None)
        with self._lock:
            if encoded and not self._closed and len(self._queue) < self._max_queued:
                self._queue.append(item)
                return
            self._dropped[chain] += 1
            self.dropped_total += 1

    def flush(self) -> None:
        """Write every queued record now, and the digests if one is due. Raises OSError if the disk fails."""
        with self._io_lock:
            self._write_queued()
            if self._digests.due():
                self._digests.write_digests()

    def close(self) -> None:
        """Stop the thread, write what is queued, and write a final digest for every chain. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stopping.set()
        self._thread.join()
        try:
            with self._io_lock:
                self._write_queued()
                self._digests.write_digests()
        finally:
            with _active_lock:
                _active.discard(self._identity)

    def _run(self) -> None:
        while not self._stopping.wait(self._flush_interval):
            try:
                self.flush()
            except Exception:
                log.exception("audit: writing the trail under %s failed; the records stay queued", self._directory)

    def _report_dropped(self) -> None:
        with self._lock:
            dropped, self._dropped = self._dropped, Counter()
        for (account, region), count in dropped.items():
            self._digests.note_dropped(account, region, count)
            log.warning(
                "audit: %d records for account %s in %s were dropped because %d records were waiting to be written",
                count,
                account,
                region,
                self._max_queued,
            )

    def _write_queued(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        self._report_dropped()
        groups: dict[tuple[str, str], list[_Encoded]] = {}
        for item in batch:
            groups.setdefault(item.chain, []).append(item)
        try:
            for chain, items in groups.items():
                while items:
                    self._write_file(chain, items[: self._max_per_file])
                    del items[: self._max_per_file]
        except BaseException:
            unwritten = [item for items in groups.values() for item in items]
            with self._lock:  # back to the front of the queue, so a failed write loses nothing
                self._queue[:0] = unwritten
            raise

    def _write_file(self, chain: tuple[str, str], items: list[_Encoded]) -> None:
        account, region = chain
        body = b'{"Records":[' + b",".join(item.encoded for item in items) + b"]}"
        data = gzip.compress(body, compresslevel=1, mtime=0)
        now = self._clock()
        while True:  # a name taken by an earlier process with the same node id: take the next sequence number
            self._seq += 1
            relative = log_file_path(account, region, now, self._node_id, self._seq)
            if write_new_file(self._directory / relative, data):
                break
        times = [item.event_time for item in items if item.event_time]
        self._digests.add_log_file(account, region, log_file_entry(relative, data, times))
        self.files_written += 1


def load_signing_key(directory: Path) -> rsa.RSAPrivateKey:
    """The trail's signing key, ``<directory>/signing-key.pem``, generated on first use."""
    return load_or_create_signing_key(directory / SIGNING_KEY_NAME)

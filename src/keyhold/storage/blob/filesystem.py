"""FilesystemBlobStore: each blob one file under a root directory (Keyhold uses ``<data-dir>/blobs/``).

Layout::

    root/ab/cd/abcd...   a blob, named by its id: 32 lowercase hex digits (secrets.token_hex(16)), in two levels
                         of shard directories named by its first four digits
    root/tmp/abcd...     a blob being written; commit renames it into place (same filesystem, so atomically)

Files are created 0600 and directories 0700. A blob becomes visible only when its writer commits: the file is
fsynced, renamed into place and its directory (and the shard directories above it) fsynced, so a blob that was
committed survives a crash and one that was not is never seen under its id. What a crash leaves behind is temp
files: ``sweep_tmp`` removes them. Blob ids are checked on every use (anything but 32 lowercase hex digits is a
ValueError), so an id can never name a path outside the store.
"""

import contextlib
import os
import re
import secrets
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

from keyhold.domain.objects.ports import BlobMissing, BlobTruncated

_ID = re.compile(r"[0-9a-f]{32}")
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


def check_blob_id(blob_id: str) -> str:
    if not isinstance(blob_id, str) or _ID.fullmatch(blob_id) is None:
        raise ValueError(f"invalid blob id: {blob_id!r}")
    return blob_id


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mkdir(path: Path) -> None:
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)


class FilesystemBlobWriter:
    """Writes one new blob to a temp file (opened O_EXCL, mode 0600). Use as a context manager to have it
    aborted on leaving the block without a commit (by an exception or otherwise).

    A writer dropped without commit or abort closes its file but leaves it in tmp/ (as a crash would), for
    ``FilesystemBlobStore.sweep_tmp``."""

    def __init__(self, root: Path, blob_id: str, tmp_path: Path, fd: int) -> None:
        self.blob_id = blob_id
        self._root = root
        self._tmp_path = tmp_path
        self._path = root / blob_id[0:2] / blob_id[2:4] / blob_id
        self._fd = fd
        self._renamed = False
        self._committed = False
        self._aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._fd < 0:
            raise ValueError("the blob writer is closed")
        with memoryview(data) as view, view.cast("B") as remaining:
            written = 0
            while written < len(remaining):
                written += os.write(self._fd, remaining[written:])

    def commit(self) -> None:
        """fsync the file, rename it into place, fsync the directories it was added to. A commit that raises
        leaves the writer to be aborted."""
        if self._committed:
            return
        if self._aborted or self._fd < 0:
            raise ValueError("the blob writer is closed")
        fd, self._fd = self._fd, -1
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        outer, inner = self._path.parent.parent, self._path.parent
        _mkdir(outer)
        _mkdir(inner)
        os.replace(self._tmp_path, self._path)
        self._renamed = True
        # The new name, and the shard directories if this or a concurrent commit just created them (fsync of a
        # directory that has not changed costs next to nothing).
        _fsync_dir(inner)
        _fsync_dir(outer)
        _fsync_dir(self._root)
        self._committed = True

    def abort(self) -> None:
        """Remove what was written. Idempotent; a no-op after a commit."""
        if self._committed or self._aborted:
            return
        self._aborted = True
        self._close()
        for path in [self._tmp_path, self._path] if self._renamed else [self._tmp_path]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def _close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> "FilesystemBlobWriter":
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.abort()

    def __del__(self) -> None:
        self._close()


class _BlobRange:
    """The blocks of one byte range of an open blob, read with pread: no more than asked is read, and each
    block is a bytes object of its own. Closes the file when exhausted, on close(), or when dropped."""

    def __init__(self, blob_id: str, fd: int, offset: int, end: int, block_size: int) -> None:
        self._blob_id = blob_id
        self._fd = fd
        self._pos = offset
        self._end = end
        self._block_size = block_size

    def __iter__(self) -> "_BlobRange":
        return self

    def __next__(self) -> bytes:
        if self._pos >= self._end or self._fd < 0:
            self.close()
            raise StopIteration
        data = os.pread(self._fd, min(self._block_size, self._end - self._pos), self._pos)
        if not data:
            self.close()
            raise BlobTruncated(f"blob {self._blob_id} ends at {self._pos}, before {self._end}")
        self._pos += len(data)
        return data

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __del__(self) -> None:
        self.close()


class FilesystemBlobStore:
    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        self._tmp = self._root / "tmp"
        self._root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._tmp.mkdir(mode=0o700, exist_ok=True)

    @property
    def root(self) -> Path:
        return self._root

    def path(self, blob_id: str) -> Path:
        """Where the blob lives (ValueError for an invalid id)."""
        check_blob_id(blob_id)
        return self._root / blob_id[0:2] / blob_id[2:4] / blob_id

    def create(self) -> FilesystemBlobWriter:
        blob_id = secrets.token_hex(16)
        tmp_path = self._tmp / blob_id
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC
        try:
            fd = os.open(tmp_path, flags, 0o600)
        except FileNotFoundError:  # tmp/ was removed under us
            self._tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(tmp_path, flags, 0o600)
        return FilesystemBlobWriter(self._root, blob_id, tmp_path, fd)

    def read(self, blob_id: str, offset: int, length: int, block_size: int = 1 << 20) -> Iterator[bytes]:
        """Raises BlobMissing and BlobTruncated (for a range past the blob's end) here, before the first block."""
        path = self.path(blob_id)
        if offset < 0 or length < 0 or block_size <= 0:
            raise ValueError("offset and length must not be negative, block_size must be positive")
        try:
            fd = os.open(path, os.O_RDONLY | _O_CLOEXEC)
        except FileNotFoundError:
            raise BlobMissing(blob_id) from None
        try:
            size = os.fstat(fd).st_size
            if offset + length > size:
                raise BlobTruncated(f"blob {blob_id} has {size} bytes, not {offset + length}")
        except BaseException:
            os.close(fd)
            raise
        return _BlobRange(blob_id, fd, offset, offset + length, block_size)

    def size(self, blob_id: str) -> int:
        try:
            return os.stat(self.path(blob_id)).st_size
        except FileNotFoundError:
            raise BlobMissing(blob_id) from None

    def delete(self, blob_ids: Sequence[str]) -> None:
        paths = [self.path(blob_id) for blob_id in blob_ids]  # every id checked before anything is deleted
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def list_blobs(self, older_than_seconds: float) -> Iterator[str]:
        """Ids of committed blobs not modified for ``older_than_seconds`` (for the unreferenced-blob sweep)."""
        cutoff = time.time() - older_than_seconds
        for first in sorted(self._root.iterdir()):
            if len(first.name) != 2 or not first.is_dir():
                continue  # tmp/ and anything else that is not a shard
            for second in sorted(first.iterdir()):
                with os.scandir(second) as entries:
                    for entry in entries:
                        try:
                            if _ID.fullmatch(entry.name) and entry.stat(follow_symlinks=False).st_mtime <= cutoff:
                                yield entry.name
                        except FileNotFoundError:
                            continue

    def sweep_tmp(self, older_than_seconds: float) -> int:
        """Remove temp files not modified for ``older_than_seconds``: blobs whose writer crashed (or was dropped)
        before commit or abort. Meant to run when Keyhold starts; other processes sharing the directory may be
        writing blobs then, so pass an age no live upload would reach between two writes (an hour, say). Returns
        how many files were removed."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        with os.scandir(self._tmp) as entries:
            for entry in entries:
                try:
                    if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime <= cutoff:
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed

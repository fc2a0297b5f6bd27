"""FilesystemBlobStore (keyhold.domain.objects.ports.BlobStore): writing, committing and aborting blobs, reading
byte ranges (and only them), ids that cannot escape the store, and what a crash leaves behind."""

import array
import gc
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keyhold.domain.objects.ports import BlobMissing, BlobStore, BlobTruncated
from keyhold.storage.blob import filesystem
from keyhold.storage.blob.filesystem import FilesystemBlobStore


@pytest.fixture
def store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs")


def put(store: FilesystemBlobStore, data: bytes) -> str:
    writer = store.create()
    writer.write(data)
    writer.commit()
    return writer.blob_id


def read_all(store: FilesystemBlobStore, blob_id: str, offset: int, length: int, block_size: int = 1 << 20) -> bytes:
    return b"".join(store.read(blob_id, offset, length, block_size))


def temp_files(store: FilesystemBlobStore) -> list[str]:
    return os.listdir(store.root / "tmp")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_it_is_a_blob_store(store: FilesystemBlobStore) -> None:
    port: BlobStore = store
    assert port is store


def test_write_commit_and_read_back(store: FilesystemBlobStore) -> None:
    data = os.urandom(300_000)
    writer = store.create()
    writer.write(data[:1000])
    writer.write(memoryview(data)[1000:200_000])
    writer.write(bytearray(data[200_000:]))
    writer.commit()

    assert store.size(writer.blob_id) == len(data)
    assert read_all(store, writer.blob_id, 0, len(data)) == data
    assert temp_files(store) == []


def test_write_takes_any_buffer_as_bytes(store: FilesystemBlobStore) -> None:
    words = array.array("I", [1, 2, 3])
    blob_id = put(store, b"")
    writer = store.create()
    writer.write(memoryview(words))
    writer.write(b"")
    writer.commit()
    assert read_all(store, writer.blob_id, 0, 12) == words.tobytes()
    assert store.size(blob_id) == 0
    assert list(store.read(blob_id, 0, 0)) == []


def test_layout_ids_and_permissions(store: FilesystemBlobStore) -> None:
    ids = {put(store, b"x") for _ in range(20)}
    assert len(ids) == 20
    for blob_id in ids:
        assert len(blob_id) == 32
        assert int(blob_id, 16) >= 0
        assert blob_id == blob_id.lower()
        path = store.root / blob_id[:2] / blob_id[2:4] / blob_id
        assert store.path(blob_id) == path
        assert mode(path) == 0o600
        assert mode(path.parent) == 0o700
        assert mode(path.parent.parent) == 0o700
    assert mode(store.root) == 0o700
    assert mode(store.root / "tmp") == 0o700


def test_temp_file_is_private_while_writing(store: FilesystemBlobStore) -> None:
    writer = store.create()
    writer.write(b"secret")
    (name,) = temp_files(store)
    assert name == writer.blob_id
    assert mode(store.root / "tmp" / name) == 0o600
    with pytest.raises(BlobMissing):
        store.size(writer.blob_id)
    writer.abort()


def test_read_ranges_in_blocks(store: FilesystemBlobStore) -> None:
    data = os.urandom(10_000)
    blob_id = put(store, data)

    blocks = list(store.read(blob_id, 100, 5000, block_size=1024))
    assert [len(b) for b in blocks] == [1024] * 4 + [904]
    assert all(type(b) is bytes for b in blocks)
    assert len({id(b) for b in blocks}) == len(blocks)  # each block its own object
    assert b"".join(blocks) == data[100:5100]

    assert read_all(store, blob_id, 0, 10_000, 10_000) == data
    assert read_all(store, blob_id, 9_999, 1) == data[-1:]
    assert read_all(store, blob_id, 10_000, 0) == b""
    assert read_all(store, blob_id, 0, 0) == b""


def test_read_past_the_end_is_truncated(store: FilesystemBlobStore) -> None:
    blob_id = put(store, b"0123456789")
    with pytest.raises(BlobTruncated):
        store.read(blob_id, 5, 6)
    with pytest.raises(BlobTruncated):
        store.read(blob_id, 11, 0)


def test_a_blob_cut_short_while_being_read_is_truncated(store: FilesystemBlobStore) -> None:
    data = os.urandom(4096)
    blob_id = put(store, data)
    blocks = store.read(blob_id, 0, 4096, block_size=1024)
    assert next(blocks) == data[:1024]
    os.truncate(store.path(blob_id), 2048)
    assert next(blocks) == data[1024:2048]
    with pytest.raises(BlobTruncated):
        next(blocks)


def test_read_missing_blob(store: FilesystemBlobStore) -> None:
    missing = os.urandom(16).hex()
    with pytest.raises(BlobMissing):
        store.read(missing, 0, 1)
    with pytest.raises(BlobMissing):
        store.read(missing, 0, 0)
    with pytest.raises(BlobMissing):
        store.size(missing)


def test_read_rejects_negative_ranges(store: FilesystemBlobStore) -> None:
    blob_id = put(store, b"abc")
    for offset, length, block_size in [(-1, 1, 1), (0, -1, 1), (0, 1, 0)]:
        with pytest.raises(ValueError, match="negative"):
            store.read(blob_id, offset, length, block_size)


def test_read_reads_only_the_range(store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = store.create()
    chunk = os.urandom(1 << 20)
    for _ in range(32):
        writer.write(chunk)
    writer.commit()
    read: list[int] = []
    real_pread = os.pread

    def counting_pread(fd: int, n: int, offset: int) -> bytes:
        data = real_pread(fd, n, offset)
        read.append(len(data))
        return data

    monkeypatch.setattr(os, "pread", counting_pread)
    data = read_all(store, writer.blob_id, 20 << 20, 1 << 20, block_size=256 << 10)
    assert data == chunk
    assert read == [256 << 10] * 4


def test_unread_ranges_close_their_file(store: FilesystemBlobStore) -> None:
    blob_id = put(store, b"x" * 100)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(50):
        store.read(blob_id, 0, 100)  # dropped without being iterated
        blocks = store.read(blob_id, 0, 100, block_size=10)
        next(blocks)  # dropped half-way
    del blocks
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) <= before


def test_abort_removes_what_was_written(store: FilesystemBlobStore) -> None:
    writer = store.create()
    writer.write(b"partial")
    writer.abort()
    writer.abort()  # idempotent
    assert temp_files(store) == []
    with pytest.raises(BlobMissing):
        store.size(writer.blob_id)
    with pytest.raises(ValueError, match="closed"):
        writer.write(b"more")
    with pytest.raises(ValueError, match="closed"):
        writer.commit()
    assert not store.path(writer.blob_id).exists()


def test_abort_after_commit_does_nothing(store: FilesystemBlobStore) -> None:
    writer = store.create()
    writer.write(b"kept")
    writer.commit()
    writer.commit()  # idempotent
    writer.abort()
    assert read_all(store, writer.blob_id, 0, 4) == b"kept"
    with pytest.raises(ValueError, match="closed"):
        writer.write(b"more")


def test_writer_as_context_manager(store: FilesystemBlobStore) -> None:
    with store.create() as writer:
        writer.write(b"done")
        writer.commit()
    assert store.size(writer.blob_id) == 4

    started: list[str] = []

    def fail() -> None:
        with store.create() as failed:
            started.append(failed.blob_id)
            failed.write(b"half")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail()
    with pytest.raises(BlobMissing):
        store.size(started[0])

    with store.create() as forgotten:
        forgotten.write(b"never committed")
    with pytest.raises(BlobMissing):
        store.size(forgotten.blob_id)
    assert temp_files(store) == []


def test_a_failed_commit_can_be_aborted(store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = store.create()
    writer.write(b"data")
    calls = {"n": 0}
    real_fsync_dir = filesystem._fsync_dir

    def failing_fsync_dir(path: Path) -> None:
        calls["n"] += 1
        raise OSError("EIO")

    monkeypatch.setattr(filesystem, "_fsync_dir", failing_fsync_dir)
    with pytest.raises(OSError, match="EIO"):
        writer.commit()
    monkeypatch.setattr(filesystem, "_fsync_dir", real_fsync_dir)
    assert calls["n"] == 1
    writer.abort()  # the rename happened: abort takes the blob back out
    assert not store.path(writer.blob_id).exists()
    assert temp_files(store) == []


def test_commit_syncs_the_file_before_the_rename_and_the_directory_after(
    store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        events.append(("replace", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    writer = store.create()
    writer.write(b"durable")
    writer.commit()
    path = store.path(writer.blob_id)
    assert events[0] == ("fsync", str(store.root / "tmp" / writer.blob_id))
    assert events[1] == ("replace", str(path))
    assert ("fsync", str(path.parent)) in events[2:]
    assert ("fsync", str(path.parent.parent)) in events[2:]


INVALID_IDS = [
    "../../../../etc/passwd",
    "0123456789ABCDEF0123456789ABCDEF",
    "0123456789abcdef0123456789abcde",
    "0123456789abcdef0123456789abcdef0",
    "0123456789abcdef0123456789abcdef\n",
    "0123456789abcdef0123456789abcde/",
    "tmp",
    "",
    "0123456789abcdef0123456789abcdeg",
]


@pytest.mark.parametrize("blob_id", INVALID_IDS)
def test_invalid_ids_are_refused(store: FilesystemBlobStore, blob_id: str) -> None:
    kept = put(store, b"kept")
    with pytest.raises(ValueError, match="invalid blob id"):
        store.read(blob_id, 0, 0)
    with pytest.raises(ValueError, match="invalid blob id"):
        store.size(blob_id)
    with pytest.raises(ValueError, match="invalid blob id"):
        store.delete([kept, blob_id])
    assert store.size(kept) == 4  # nothing deleted when any id is invalid


def test_delete(store: FilesystemBlobStore) -> None:
    first, second, third = (put(store, b"x") for _ in range(3))
    store.delete([first, second, os.urandom(16).hex()])
    store.delete([first])
    store.delete([])
    with pytest.raises(BlobMissing):
        store.size(first)
    with pytest.raises(BlobMissing):
        store.read(second, 0, 1)
    assert store.size(third) == 1


def test_a_writer_dropped_before_commit_leaves_a_temp_file_for_sweep(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    store = FilesystemBlobStore(root)
    writer = store.create()
    writer.write(b"lost in a crash")
    blob_id = writer.blob_id
    del writer
    gc.collect()

    restarted = FilesystemBlobStore(root)
    with pytest.raises(BlobMissing):
        restarted.size(blob_id)
    assert temp_files(restarted) == [blob_id]
    assert restarted.sweep_tmp(3600) == 0  # too young: it may be another process's upload
    assert temp_files(restarted) == [blob_id]
    assert restarted.sweep_tmp(0) == 1
    assert temp_files(restarted) == []
    with pytest.raises(BlobMissing):
        restarted.size(blob_id)


def test_a_crashed_process_leaves_no_visible_blob(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from keyhold.storage.blob.filesystem import FilesystemBlobStore\n"
        "writer = FilesystemBlobStore(Path(sys.argv[1])).create()\n"
        "writer.write(b'x' * 100000)\n"
        "print(writer.blob_id, flush=True)\n"
        "os._exit(9)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(root)], capture_output=True, text=True, check=False)
    assert result.returncode == 9, result.stderr
    blob_id = result.stdout.strip()

    store = FilesystemBlobStore(root)
    with pytest.raises(BlobMissing):
        store.size(blob_id)
    assert temp_files(store) == [blob_id]
    old = time.time() - 7200
    os.utime(root / "tmp" / blob_id, (old, old))
    live = store.create()  # a young temp file of a live writer survives the sweep
    live.write(b"live")
    assert store.sweep_tmp(3600) == 1
    assert temp_files(store) == [live.blob_id]
    live.commit()
    assert store.size(live.blob_id) == 4

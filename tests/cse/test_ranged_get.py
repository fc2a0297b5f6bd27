"""``EncryptionClient.get_object_range_unauthenticated`` on a real Keyhold server, on objects written by AWS's
official client (V2 and V3) and by keyhold.cse: exact bytes for ranges at block edges, the last byte, the whole
object and across 1 MiB; only the 16-byte-aligned ciphertext blocks are fetched (checked on the wire), never the tag.

The contract under test is UNAUTHENTICATED: the GCM tag is not checked, so changed ciphertext in the range comes
back as changed plaintext without an error. The same tampering makes ``get_object`` fail."""

import base64
import random
from collections.abc import Callable
from typing import Any

import pytest

from keyhold.cse import ContextMismatch, EncryptionClient, KmsKeyring, TamperedObject, UnsupportedFormat
from support.server import KeyholdServer

CONTEXT = {"purpose": "ranged"}
MIB = 1 << 20
BODY = random.Random(20260101).randbytes(MIB + 37)
N = len(BODY)
RANGES = [
    (0, 0),
    (0, 15),
    (15, 15),
    (15, 16),
    (16, 16),
    (17, 17),
    (16, 31),
    (1, 46),
    (N - 1, N - 1),
    (N - 20, N - 1),
    (0, N - 1),
    (MIB - 10, MIB + 10),
    (5, MIB + 5),
]
WRITERS = ["official-v2", "official-v3", "keyhold-v2", "keyhold-v3", "keyhold-v3-instruction"]


class Recorder:
    """A plain boto3 S3 client that records the Range/If-Match headers and Content-Length of every GetObject."""

    def __init__(self, server: KeyholdServer) -> None:
        self.client = server.s3()
        self.requests: list[tuple[str | None, str | None]] = []
        self.lengths: list[int] = []
        self.client.meta.events.register("before-send.s3.GetObject", self._request)
        self.client.meta.events.register("after-call.s3.GetObject", self._response)

    def _request(self, request: Any, **_: Any) -> None:
        def header(name: str) -> str | None:
            value = request.headers.get(name)
            return value.decode() if isinstance(value, bytes) else value

        self.requests.append((header("Range"), header("If-Match")))

    def _response(self, parsed: Any, **_: Any) -> None:
        self.lengths.append(int(parsed["ContentLength"]))

    def clear(self) -> None:
        self.requests.clear()
        self.lengths.clear()


@pytest.fixture(scope="module")
def recorder(server: KeyholdServer) -> Recorder:
    return Recorder(server)


@pytest.fixture(scope="module")
def reader(kms: Any, recorder: Recorder, kms_key: str) -> EncryptionClient:
    return EncryptionClient(recorder.client, KmsKeyring(kms, kms_key))


def write(writer: str, official: Any, kms: Any, s3: Any, kms_key: str, bucket: str, key: str, body: bytes) -> None:
    if writer.startswith("official"):
        official(writer.removeprefix("official-")).put_object(
            Bucket=bucket, Key=key, Body=body, EncryptionContext=CONTEXT
        )
        return
    fmt = writer.split("-")[1]
    client = EncryptionClient(s3, KmsKeyring(kms, kms_key), format=fmt, instruction_file=writer.endswith("instruction"))
    client.put_object(Bucket=bucket, Key=key, Body=body, EncryptionContext=CONTEXT)


@pytest.fixture(scope="module")
def big_objects(official: Callable[..., Any], kms: Any, s3: Any, kms_key: str, bucket: str) -> dict[str, str]:
    keys = {}
    for writer in WRITERS:
        keys[writer] = f"ranged-{writer}"
        write(writer, official, kms, s3, kms_key, bucket, keys[writer], BODY)
    return keys


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize(("start", "end"), RANGES, ids=[f"{a}-{b}" for a, b in RANGES])
def test_range_matches_plaintext_and_fetches_only_aligned_blocks(
    reader: EncryptionClient, recorder: Recorder, big_objects: dict[str, str], bucket: str, writer: str,
    start: int, end: int,
) -> None:  # fmt: skip
    key = big_objects[writer]
    recorder.clear()
    got = reader.get_object_range_unauthenticated(bucket, key, start, end, EncryptionContext=CONTEXT)
    assert got == BODY[start : end + 1]
    fetch_start = start // 16 * 16
    fetch_end = min((end // 16 + 1) * 16, N) - 1  # never past the plaintext: the tag stays on the server
    object_requests = [r for r in recorder.requests if r[0] is not None]
    assert object_requests == [(f"bytes={fetch_start}-{fetch_end}", object_requests[0][1])]
    assert object_requests[0][1]  # If-Match: the HEAD's ETag
    assert recorder.lengths[-1] == fetch_end - fetch_start + 1


@pytest.mark.parametrize("writer", ["official-v2", "keyhold-v3"])
def test_end_past_the_plaintext_is_clamped_and_never_reads_the_tag(
    reader: EncryptionClient, recorder: Recorder, big_objects: dict[str, str], bucket: str, writer: str
) -> None:
    recorder.clear()
    got = reader.get_object_range_unauthenticated(bucket, big_objects[writer], N - 3, N + 100, CONTEXT)
    assert got == BODY[N - 3 :]
    assert recorder.requests[-1][0] == f"bytes={(N - 3) // 16 * 16}-{N - 1}"


@pytest.mark.parametrize("writer", ["official-v2", "official-v3", "keyhold-v3"])
def test_wrong_context_is_refused(
    reader: EncryptionClient, big_objects: dict[str, str], bucket: str, writer: str
) -> None:
    for context in ({"purpose": "other"}, None, {**CONTEXT, "extra": "x"}):
        with pytest.raises(ContextMismatch):
            reader.get_object_range_unauthenticated(bucket, big_objects[writer], 0, 10, EncryptionContext=context)


def test_invalid_ranges(reader: EncryptionClient, kms: Any, s3: Any, kms_key: str, bucket: str) -> None:
    EncryptionClient(s3, KmsKeyring(kms, kms_key)).put_object(
        Bucket=bucket, Key="ranged-small", Body=b"0123456789", EncryptionContext=CONTEXT
    )
    EncryptionClient(s3, KmsKeyring(kms, kms_key)).put_object(
        Bucket=bucket, Key="ranged-empty", Body=b"", EncryptionContext=CONTEXT
    )
    for start, end, message in [(-1, 3, "invalid range"), (5, 4, "invalid range"), (10, 10, "not before"),
                                (11, 20, "not before")]:  # fmt: skip
        with pytest.raises(ValueError, match=message):
            reader.get_object_range_unauthenticated(bucket, "ranged-small", start, end, CONTEXT)
    with pytest.raises(ValueError, match="integers"):
        reader.get_object_range_unauthenticated(bucket, "ranged-small", True, 3, CONTEXT)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not before the plaintext length 0"):
        reader.get_object_range_unauthenticated(bucket, "ranged-empty", 0, 0, CONTEXT)
    assert reader.get_object_range_unauthenticated(bucket, "ranged-small", 9, 9, CONTEXT) == b"9"


def rewrite(s3: Any, bucket: str, key: str, *, metadata: dict[str, str] | None = None,
            body: Callable[[bytes], bytes] | None = None) -> None:  # fmt: skip
    response = s3.get_object(Bucket=bucket, Key=key)
    stored_metadata, stored_body = {**response["Metadata"], **(metadata or {})}, response["Body"].read()
    s3.put_object(Bucket=bucket, Key=key, Body=body(stored_body) if body else stored_body, Metadata=stored_metadata)


def flip(index: int) -> Callable[[bytes], bytes]:
    def apply(body: bytes) -> bytes:
        changed = bytearray(body)
        changed[index] ^= 0x01
        return bytes(changed)

    return apply


PLAINTEXT = bytes(range(100))


@pytest.mark.parametrize("writer", ["official-v2", "official-v3", "keyhold-v2", "keyhold-v3"])
def test_tampering_is_not_detected_by_the_unauthenticated_range_but_by_get_object(
    reader: EncryptionClient, official: Any, kms: Any, s3: Any, kms_key: str, bucket: str, object_key: str,
    writer: str,
) -> None:  # fmt: skip
    write(writer, official, kms, s3, kms_key, bucket, object_key, PLAINTEXT)
    # A flipped ciphertext bit flips the same plaintext bit (CTR): the documented unauthenticated contract.
    rewrite(s3, bucket, object_key, body=flip(40))
    got = reader.get_object_range_unauthenticated(bucket, object_key, 32, 47, CONTEXT)
    assert got != PLAINTEXT[32:48]
    assert got == PLAINTEXT[32:40] + bytes([PLAINTEXT[40] ^ 0x01]) + PLAINTEXT[41:48]
    with pytest.raises(TamperedObject):
        reader.get_object(Bucket=bucket, Key=object_key, EncryptionContext=CONTEXT)
    # A changed tag is not even read by the range; get_object still catches it.
    rewrite(s3, bucket, object_key, body=flip(40))
    rewrite(s3, bucket, object_key, body=flip(len(PLAINTEXT) + 3))
    assert reader.get_object_range_unauthenticated(bucket, object_key, 0, 99, CONTEXT) == PLAINTEXT
    with pytest.raises(TamperedObject):
        reader.get_object(Bucket=bucket, Key=object_key, EncryptionContext=CONTEXT)


def test_v3_commitment_is_still_checked(
    reader: EncryptionClient, official: Any, s3: Any, bucket: str, object_key: str
) -> None:
    official().put_object(Bucket=bucket, Key=object_key, Body=PLAINTEXT, EncryptionContext=CONTEXT)
    commitment = bytearray(base64.b64decode(s3.head_object(Bucket=bucket, Key=object_key)["Metadata"]["x-amz-d"]))
    commitment[0] ^= 0x01
    rewrite(s3, bucket, object_key, metadata={"x-amz-d": base64.b64encode(bytes(commitment)).decode()})
    with pytest.raises(TamperedObject):
        reader.get_object_range_unauthenticated(bucket, object_key, 0, 10, CONTEXT)


def test_non_gcm_objects_are_refused(
    reader: EncryptionClient, kms: Any, s3: Any, kms_key: str, bucket: str, object_key: str
) -> None:
    write("keyhold-v2", None, kms, s3, kms_key, bucket, object_key, PLAINTEXT)
    rewrite(s3, bucket, object_key, metadata={"x-amz-cek-alg": "AES/CBC/PKCS5Padding"})
    with pytest.raises(UnsupportedFormat):
        reader.get_object_range_unauthenticated(bucket, object_key, 0, 10, CONTEXT)

"""Single-range GETs through a real `keyhold serve`, in every SSE mode: the object stream encrypts in 65536-byte
chunks and each multipart part is its own stream, so ranges start and end at every chunk boundary (65535, 65536,
65537, ...) and around the part boundaries of a multipart object with 5 MiB + 1 parts; suffix and open ranges,
ranges past the end, and the unsatisfiable ones (416 InvalidRange)."""

from collections.abc import Iterator
from typing import Any

import pytest

from support.kms import new_key
from support.s3 import CHUNK, MiB, body, closing, customer_key, fails_with, new_bucket, signed_send, ssec
from support.server import KeyholdServer

MODES = ["none", "sse-s3", "sse-kms", "sse-kms-bucket-key", "dsse", "sse-c"]
SIZE = 3 * CHUNK + 100  # three whole chunks and a short one
PART = 5 * MiB + 1
PARTS = [PART, PART, CHUNK + 4464]  # part 1 ends one byte into its 81st chunk
TOTAL = sum(PARTS)


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyholdServer]:
    """A server that stores objects unencrypted when they ask for no encryption."""
    instance = KeyholdServer(
        tmp_path_factory.mktemp("ranges-plain") / "data", extra_args=("--object-encryption", "off")
    ).start()
    yield instance
    assert instance.stop() == 0, instance.log()


@pytest.fixture(scope="module")
def kms_key_id(server: KeyholdServer) -> str:
    key_id: str = new_key(server.client("kms"), Description="s3 range tests")["KeyId"]
    return key_id


@pytest.fixture(scope="module")
def ckey() -> bytes:
    return customer_key()


@pytest.fixture
def target(
    request: pytest.FixtureRequest, server: KeyholdServer, kms_key_id: str, ckey: bytes
) -> Iterator[tuple[Any, str, dict[str, Any], dict[str, Any]]]:
    """(HTTPS client, bucket, write arguments, read arguments) for the mode the test is parametrized with."""
    mode: str = request.param
    owner = request.getfixturevalue("plain_server") if mode == "none" else server
    write: dict[str, Any] = {
        "none": {},
        "sse-s3": {"ServerSideEncryption": "AES256"},
        "sse-kms": {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id},
        "sse-kms-bucket-key": {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id, "BucketKeyEnabled": True},
        "dsse": {"ServerSideEncryption": "aws:kms:dsse", "SSEKMSKeyId": kms_key_id},
        "sse-c": ssec(ckey),
    }[mode]
    read = ssec(ckey) if mode == "sse-c" else {}
    with closing(owner.s3(secure=True)) as s3:
        yield s3, new_bucket(s3, "ranges"), write, read


def ranged(s3: Any, bucket: str, key: str, header: str, **read: Any) -> dict[str, Any]:
    response: dict[str, Any] = s3.get_object(Bucket=bucket, Key=key, Range=header, **read)
    response["Data"] = response["Body"].read()
    return response


def check(s3: Any, bucket: str, key: str, data: bytes, header: str, start: int, end: int, **read: Any) -> None:
    response = ranged(s3, bucket, key, header, **read)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 206, header
    assert response["ContentRange"] == f"bytes {start}-{end}/{len(data)}", header
    assert response["ContentLength"] == end - start + 1, header
    assert response["Data"] == data[start : end + 1], header


def check_ranges(
    s3: Any, bucket: str, key: str, data: bytes, points: list[int], *, span: int | None = None, **read: Any
) -> None:
    """Every range between two of ``points`` (at most ``span`` bytes apart), open ranges and ranges past the
    end from each point that is at most ``span`` from the end, and suffix ranges of as many bytes."""
    size = len(data)
    span = size if span is None else span
    for start in points:
        for end in points:
            if start <= end <= start + span:
                check(s3, bucket, key, data, f"bytes={start}-{end}", start, end, **read)
        if size - start <= span:
            check(s3, bucket, key, data, f"bytes={start}-", start, size - 1, **read)  # open
            check(s3, bucket, key, data, f"bytes={start}-{size + 12345}", start, size - 1, **read)  # past the end
    for n in {1, 2, CHUNK - 1, CHUNK, CHUNK + 1} | {size - p for p in points if 0 < size - p <= span}:
        check(s3, bucket, key, data, f"bytes=-{n}", size - n, size - 1, **read)  # the last n bytes
    check(s3, bucket, key, data, f"bytes=-{size + 1000}", 0, size - 1, **read)  # more than there is: all of it


def check_unsatisfiable(server_s3: Any, bucket: str, key: str, size: int, **read: Any) -> None:
    for header in (f"bytes={size}-", f"bytes={size}-{size + 10}", f"bytes={size + 100}-{size + 200}"):
        status, code, message = fails_with(server_s3.get_object, Bucket=bucket, Key=key, Range=header, **read)
        assert (status, code, message) == (416, "InvalidRange", "The requested range is not satisfiable"), header


def check_ignored(s3: Any, bucket: str, key: str, data: bytes, **read: Any) -> None:
    """Ranges S3 does not serve as such: syntactically invalid, or several at once; the whole object, 200."""
    for header in ("bytes=10-5", "bytes=0-1,5-6", "items=0-5", "bytes=x-y"):
        response = ranged(s3, bucket, key, header, **read)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200, header
        assert "ContentRange" not in response, header
        assert response["Data"] == data, header


@pytest.mark.parametrize("target", MODES, indirect=True)
def test_ranges_at_chunk_boundaries(target: tuple[Any, str, dict[str, Any], dict[str, Any]]) -> None:
    s3, bucket, write, read = target
    data = body(SIZE, "single")
    s3.put_object(Bucket=bucket, Key="single", Body=data, **write)
    points = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK - 1, 2 * CHUNK, 2 * CHUNK + 1, 3 * CHUNK, SIZE - 1]
    check_ranges(s3, bucket, "single", data, points, **read)
    check_unsatisfiable(s3, bucket, "single", SIZE, **read)
    check_ignored(s3, bucket, "single", data, **read)


@pytest.mark.parametrize("target", MODES, indirect=True)
def test_ranges_across_multipart_parts(target: tuple[Any, str, dict[str, Any], dict[str, Any]]) -> None:
    s3, bucket, write, read = target
    parts = [body(size, f"part-{index}") for index, size in enumerate(PARTS)]
    data = b"".join(parts)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="multi", **write)["UploadId"]
    done = []
    for number, part in enumerate(parts, start=1):
        sent = s3.upload_part(Bucket=bucket, Key="multi", UploadId=upload_id, PartNumber=number, Body=part, **read)
        done.append({"PartNumber": number, "ETag": sent["ETag"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="multi", UploadId=upload_id, MultipartUpload={"Parts": done})

    boundary1, boundary2 = PART, 2 * PART  # first bytes of parts 2 and 3
    last_chunk = 80 * CHUNK  # where part 1's last (one-byte) chunk begins
    points = [
        0,
        CHUNK,
        last_chunk - 1,
        last_chunk,
        boundary1 - 2,
        boundary1 - 1,
        boundary1,
        boundary1 + 1,
        boundary1 + CHUNK - 1,
        boundary1 + CHUNK,
        boundary1 + CHUNK + 1,
        boundary2 - 1,
        boundary2,
        boundary2 + CHUNK - 1,
        boundary2 + CHUNK,
        TOTAL - 1,
    ]
    check_ranges(s3, bucket, "multi", data, points, span=3 * CHUNK, **read)
    check_unsatisfiable(s3, bucket, "multi", TOTAL, **read)
    # the whole object as one range, and all of part 2 and nothing else
    check(s3, bucket, "multi", data, f"bytes=0-{TOTAL - 1}", 0, TOTAL - 1, **read)
    check(s3, bucket, "multi", data, f"bytes={boundary1}-{boundary2 - 1}", boundary1, boundary2 - 1, **read)


@pytest.mark.parametrize("target", ["sse-s3", "sse-c"], indirect=True)
def test_ranges_of_tiny_and_empty_objects(target: tuple[Any, str, dict[str, Any], dict[str, Any]]) -> None:
    s3, bucket, write, read = target
    s3.put_object(Bucket=bucket, Key="one", Body=b"x", **write)
    check(s3, bucket, "one", b"x", "bytes=0-0", 0, 0, **read)
    check(s3, bucket, "one", b"x", "bytes=-5", 0, 0, **read)
    check(s3, bucket, "one", b"x", "bytes=0-100", 0, 0, **read)
    check_unsatisfiable(s3, bucket, "one", 1, **read)
    s3.put_object(Bucket=bucket, Key="empty", Body=b"", **write)
    check_unsatisfiable(s3, bucket, "empty", 0, **read)


def test_head_with_a_range(server: KeyholdServer) -> None:
    """HeadObject takes a Range too: 206 with the range's Content-Length and Content-Range, or 416."""
    with closing(server.s3()) as s3:
        bucket = new_bucket(s3, "head-range")
        s3.put_object(Bucket=bucket, Key="k", Body=body(SIZE))
        head = s3.head_object(Bucket=bucket, Key="k", Range=f"bytes={CHUNK}-{2 * CHUNK}")
        assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert head["ContentLength"] == CHUNK + 1
        assert head["ContentRange"] == f"bytes {CHUNK}-{2 * CHUNK}/{SIZE}"
        assert fails_with(s3.head_object, Bucket=bucket, Key="k", Range=f"bytes={SIZE}-")[:2] == (416, "416")


def test_invalid_range_error_document(server: KeyholdServer) -> None:
    with closing(server.s3()) as s3:
        bucket = new_bucket(s3, "range-doc")
        s3.put_object(Bucket=bucket, Key="k", Body=b"0123456789")
    response = signed_send(server, "GET", f"/{bucket}/k", headers={"Range": "bytes=10-20"})
    assert response.status == 416
    error = response.error()
    assert error["Code"] == "InvalidRange"
    assert error["RangeRequested"] == "bytes=10-20"
    assert error["ActualObjectSize"] == "10"

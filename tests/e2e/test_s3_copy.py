"""CopyObject through a real `keyhold serve`: the metadata directive (COPY, REPLACE), copying onto itself, the
copy-source conditions, the errors, and changing encryption in every direction over HTTPS: the 5 x 5 matrix of
none (a server started with --object-encryption off), SSE-S3, SSE-KMS, DSSE and SSE-C."""

import datetime
from collections.abc import Iterator
from typing import Any

import pytest

from support.kms import new_key
from support.s3 import (
    blob_ids,
    blob_path,
    body,
    closing,
    copy_source_ssec,
    customer_key,
    fails_with,
    get_bytes,
    key_md5,
    marked_body,
    md5_hex,
    new_bucket,
    object_row,
    ssec,
)
from support.server import KeyholdServer

MODES = ["none", "sse-s3", "sse-kms", "dsse", "sse-c"]
COPY_TO_ITSELF = (
    "This copy request is illegal because it is trying to copy an object to itself without changing the object's "
    "metadata, storage class, website redirect location or encryption attributes."
)
PRECONDITION = "At least one of the pre-conditions you specified did not hold"
HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def s3(server: KeyholdServer) -> Iterator[Any]:
    with closing(server.s3()) as client:
        yield client


@pytest.fixture
def bucket(s3: Any) -> str:
    return new_bucket(s3, "copy")


# -- the metadata directive ------------------------------------------------------------------------------------


def test_copy_keeps_metadata_by_default(s3: Any, bucket: str) -> None:
    data = body(150_000, "copy-me")
    s3.put_object(
        Bucket=bucket,
        Key="source",
        Body=data,
        ContentType="text/x-source",
        CacheControl="no-cache",
        ContentLanguage="en",
        Metadata={"owner": "alice", "n": "1"},
    )
    result = s3.copy_object(Bucket=bucket, Key="dest", CopySource={"Bucket": bucket, "Key": "source"})
    assert result["CopyObjectResult"]["ETag"] == f'"{md5_hex(data)}"'
    assert result["ServerSideEncryption"] == "AES256"
    head = s3.head_object(Bucket=bucket, Key="dest")
    assert head["LastModified"] == result["CopyObjectResult"]["LastModified"]
    assert head["ContentType"] == "text/x-source"
    assert head["CacheControl"] == "no-cache"
    assert head["ContentLanguage"] == "en"
    assert head["Metadata"] == {"owner": "alice", "n": "1"}
    assert get_bytes(s3, bucket, "dest") == data

    # COPY given explicitly: the request's own metadata is ignored
    s3.copy_object(
        Bucket=bucket,
        Key="dest2",
        CopySource=f"{bucket}/source",
        MetadataDirective="COPY",
        Metadata={"ignored": "yes"},
        ContentType="text/ignored",
    )
    head2 = s3.head_object(Bucket=bucket, Key="dest2")
    assert head2["Metadata"] == {"owner": "alice", "n": "1"}
    assert head2["ContentType"] == "text/x-source"


def test_copy_replace_metadata(s3: Any, bucket: str) -> None:
    s3.put_object(
        Bucket=bucket, Key="source", Body=b"data", ContentType="text/old", CacheControl="no-cache", Metadata={"a": "1"}
    )
    s3.copy_object(
        Bucket=bucket,
        Key="dest",
        CopySource={"Bucket": bucket, "Key": "source"},
        MetadataDirective="REPLACE",
        Metadata={"b": "2"},
        ContentType="text/new",
    )
    head = s3.head_object(Bucket=bucket, Key="dest")
    assert head["Metadata"] == {"b": "2"}
    assert head["ContentType"] == "text/new"
    assert "CacheControl" not in head  # REPLACE takes only what the request says
    assert s3.head_object(Bucket=bucket, Key="source")["Metadata"] == {"a": "1"}

    # REPLACE with nothing: no metadata, the default content type
    s3.copy_object(Bucket=bucket, Key="bare", CopySource=f"{bucket}/source", MetadataDirective="REPLACE")
    bare = s3.head_object(Bucket=bucket, Key="bare")
    assert bare["Metadata"] == {}
    assert bare["ContentType"] == "binary/octet-stream"


def test_copy_onto_itself(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="self", Body=b"same", Metadata={"v": "1"})
    status, code, message = fails_with(s3.copy_object, Bucket=bucket, Key="self", CopySource=f"{bucket}/self")
    assert (status, code, message) == (400, "InvalidRequest", COPY_TO_ITSELF)
    # changing the metadata makes it legal
    s3.copy_object(
        Bucket=bucket, Key="self", CopySource=f"{bucket}/self", MetadataDirective="REPLACE", Metadata={"v": "2"}
    )
    assert s3.head_object(Bucket=bucket, Key="self")["Metadata"] == {"v": "2"}
    # and so does changing the encryption
    copied = s3.copy_object(Bucket=bucket, Key="self", CopySource=f"{bucket}/self", ServerSideEncryption="aws:kms")
    assert copied["ServerSideEncryption"] == "aws:kms"
    head = s3.head_object(Bucket=bucket, Key="self")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["Metadata"] == {"v": "2"}
    assert get_bytes(s3, bucket, "self") == b"same"


def test_copy_across_buckets_and_odd_keys(s3: Any, bucket: str) -> None:
    other = new_bucket(s3, "copy-dest")
    key = "dir/ünïcödé key+plus%percent?.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=b"travels")
    s3.copy_object(Bucket=other, Key=key, CopySource={"Bucket": bucket, "Key": key})
    assert get_bytes(s3, other, key) == b"travels"


def test_copy_replaces_the_destination_and_its_blob(server: KeyholdServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="source", Body=b"new")
    s3.put_object(Bucket=bucket, Key="dest", Body=b"old")
    (old_blob,) = blob_ids(server, bucket, "dest")
    s3.copy_object(Bucket=bucket, Key="dest", CopySource=f"{bucket}/source")
    assert get_bytes(s3, bucket, "dest") == b"new"
    assert not blob_path(server, old_blob).exists()
    assert blob_ids(server, bucket, "dest") != blob_ids(server, bucket, "source")  # a copy, not a shared blob


def test_copy_errors(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="source", Body=b"x")
    assert fails_with(s3.copy_object, Bucket=bucket, Key="d", CopySource=f"{bucket}/missing")[:2] == (
        404,
        "NoSuchKey",
    )
    assert fails_with(s3.copy_object, Bucket=bucket, Key="d", CopySource="no-such-bucket-xyz/k")[:2] == (
        404,
        "NoSuchBucket",
    )
    assert fails_with(s3.copy_object, Bucket="no-such-bucket-xyz", Key="d", CopySource=f"{bucket}/source")[:2] == (
        404,
        "NoSuchBucket",
    )
    status, code, _ = fails_with(
        s3.copy_object, Bucket=bucket, Key="d", CopySource=f"{bucket}/source", MetadataDirective="MERGE"
    )
    assert (status, code) == (400, "InvalidArgument")
    assert fails_with(s3.head_object, Bucket=bucket, Key="d")[:2] == (404, "404")


# -- copy-source conditions ------------------------------------------------------------------------------------


def test_copy_source_conditions(s3: Any, bucket: str) -> None:
    """Unlike a GET, a copy answers every condition that does not hold with 412, never 304."""
    put = s3.put_object(Bucket=bucket, Key="source", Body=b"conditional source")
    etag = put["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="source")["LastModified"]
    source = {"Bucket": bucket, "Key": "source"}
    holding = [
        {"CopySourceIfMatch": etag},
        {"CopySourceIfNoneMatch": '"other"'},
        {"CopySourceIfModifiedSince": modified - HOUR},
        {"CopySourceIfUnmodifiedSince": modified},
        {"CopySourceIfMatch": etag, "CopySourceIfUnmodifiedSince": modified - HOUR},  # If-Match decides
    ]
    for conditions in holding:
        s3.copy_object(Bucket=bucket, Key="dest", CopySource=source, **conditions)
    failing = [
        {"CopySourceIfMatch": '"other"'},
        {"CopySourceIfNoneMatch": etag},
        {"CopySourceIfModifiedSince": modified},
        {"CopySourceIfModifiedSince": modified + HOUR},
        {"CopySourceIfUnmodifiedSince": modified - HOUR},
        {"CopySourceIfNoneMatch": etag, "CopySourceIfModifiedSince": modified - HOUR},
    ]
    s3.delete_object(Bucket=bucket, Key="dest")
    for conditions in failing:
        result = fails_with(s3.copy_object, Bucket=bucket, Key="dest", CopySource=source, **conditions)
        assert result == (412, "PreconditionFailed", PRECONDITION), conditions
    assert fails_with(s3.head_object, Bucket=bucket, Key="dest")[:2] == (404, "404")


def test_upload_part_copy_source_conditions(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="source", Body=b"part source")["ETag"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dest")["UploadId"]
    kwargs = {"Bucket": bucket, "Key": "dest", "UploadId": upload_id, "PartNumber": 1, "CopySource": f"{bucket}/source"}
    assert fails_with(s3.upload_part_copy, CopySourceIfNoneMatch=etag, **kwargs)[:2] == (412, "PreconditionFailed")
    assert fails_with(s3.upload_part_copy, CopySourceIfMatch='"other"', **kwargs)[:2] == (412, "PreconditionFailed")
    s3.upload_part_copy(CopySourceIfMatch=etag, **kwargs)


# -- the encryption matrix -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyholdServer]:
    """A server that stores objects unencrypted when they ask for no encryption (the "none" mode)."""
    instance = KeyholdServer(
        tmp_path_factory.mktemp("copy-plain") / "data", extra_args=("--object-encryption", "off")
    ).start()
    yield instance
    assert instance.stop() == 0, instance.log()


@pytest.fixture(scope="module")
def matrix(plain_server: KeyholdServer) -> Iterator[tuple[KeyholdServer, Any, str, str]]:
    """(server, HTTPS client, bucket, KMS key ARN) shared by the matrix's 25 cases."""
    key_arn: str = new_key(plain_server.client("kms"), Description="copy matrix")["Arn"]
    with closing(plain_server.s3(secure=True)) as s3:
        yield plain_server, s3, new_bucket(s3, "matrix"), key_arn


def write_args(mode: str, key_arn: str, ckey: bytes) -> dict[str, Any]:
    return {
        "none": {},
        "sse-s3": {"ServerSideEncryption": "AES256"},
        "sse-kms": {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key_arn},
        "dsse": {"ServerSideEncryption": "aws:kms:dsse", "SSEKMSKeyId": key_arn},
        "sse-c": ssec(ckey),
    }[mode]


def check_sse(mode: str, response: dict[str, Any], key_arn: str, ckey: bytes) -> None:
    """The SSE fields of a response about an object written in ``mode``."""
    expected = {
        "none": {},
        "sse-s3": {"ServerSideEncryption": "AES256"},
        "sse-kms": {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key_arn},
        "dsse": {"ServerSideEncryption": "aws:kms:dsse", "SSEKMSKeyId": key_arn},
        "sse-c": {"SSECustomerAlgorithm": "AES256", "SSECustomerKeyMD5": key_md5(ckey)},
    }[mode]
    names = ("ServerSideEncryption", "SSEKMSKeyId", "SSECustomerAlgorithm", "SSECustomerKeyMD5")
    assert {name: response[name] for name in names if name in response} == expected


STORED_MODE = {"none": "none", "sse-s3": "AES256", "sse-kms": "aws:kms", "dsse": "aws:kms:dsse", "sse-c": "SSE-C"}


@pytest.mark.parametrize("destination", MODES)
@pytest.mark.parametrize("source", MODES)
def test_copy_changes_encryption(matrix: tuple[KeyholdServer, Any, str, str], source: str, destination: str) -> None:
    server, s3, bucket, key_arn = matrix
    source_key, destination_key = customer_key(), customer_key()
    marker = f"<{source}->{destination}>".encode()
    data = marked_body(200_000, marker)
    src, dst = f"{source}/src", f"{source}/to/{destination}"

    put = s3.put_object(Bucket=bucket, Key=src, Body=data, **write_args(source, key_arn, source_key))
    check_sse(source, put, key_arn, source_key)

    copy_args = write_args(destination, key_arn, destination_key)
    if source == "sse-c":
        copy_args |= copy_source_ssec(source_key)
    copied = s3.copy_object(Bucket=bucket, Key=dst, CopySource={"Bucket": bucket, "Key": src}, **copy_args)
    check_sse(destination, copied, key_arn, destination_key)

    read = ssec(destination_key) if destination == "sse-c" else {}
    head = s3.head_object(Bucket=bucket, Key=dst, **read)
    check_sse(destination, head, key_arn, destination_key)
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == copied["CopyObjectResult"]["ETag"]
    if destination in ("none", "sse-s3"):
        assert head["ETag"] == f'"{md5_hex(data)}"'
    assert get_bytes(s3, bucket, dst, **read) == data

    # what is stored: the mode, and the plaintext only when unencrypted
    row = object_row(server, bucket, dst)
    assert row["encryption"]["mode"] == STORED_MODE[destination]
    (blob,) = (part["blob_id"] for part in row["parts"])
    assert (marker in blob_path(server, blob).read_bytes()) == (destination == "none")

    # the source is untouched
    source_read = ssec(source_key) if source == "sse-c" else {}
    assert get_bytes(s3, bucket, src, **source_read) == data
    if destination == "sse-c":
        assert fails_with(s3.get_object, Bucket=bucket, Key=dst)[:2] == (400, "InvalidRequest")
        assert fails_with(s3.get_object, Bucket=bucket, Key=dst, **ssec(source_key))[:2] == (403, "AccessDenied")


def test_copy_of_an_sse_c_source_needs_its_key(matrix: tuple[KeyholdServer, Any, str, str]) -> None:
    _, s3, bucket, _ = matrix
    ckey = customer_key()
    s3.put_object(Bucket=bucket, Key="locked", Body=b"locked", **ssec(ckey))
    source = {"Bucket": bucket, "Key": "locked"}
    assert fails_with(s3.copy_object, Bucket=bucket, Key="copy", CopySource=source)[:2] == (400, "InvalidRequest")
    wrong = copy_source_ssec(customer_key())
    assert fails_with(s3.copy_object, Bucket=bucket, Key="copy", CopySource=source, **wrong)[:2] == (
        403,
        "AccessDenied",
    )
    # a copy-source key for a source that has none
    s3.put_object(Bucket=bucket, Key="open", Body=b"open")
    status, code, _ = fails_with(
        s3.copy_object, Bucket=bucket, Key="copy", CopySource=f"{bucket}/open", **copy_source_ssec(ckey)
    )
    assert (status, code) == (400, "InvalidRequest")
    assert fails_with(s3.head_object, Bucket=bucket, Key="copy")[:2] == (404, "404")


def test_copy_of_a_multipart_object(matrix: tuple[KeyholdServer, Any, str, str]) -> None:
    """A multipart source (several streams) becomes one single-part object."""
    _, s3, bucket, _ = matrix
    parts = [body(5 * 1024 * 1024 + 1, "mp-1"), body(1000, "mp-2")]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp", ServerSideEncryption="aws:kms:dsse")["UploadId"]
    done = []
    for number, data in enumerate(parts, start=1):
        etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=number, Body=data)["ETag"]
        done.append({"PartNumber": number, "ETag": etag})
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": done})
    ckey = customer_key()
    s3.copy_object(Bucket=bucket, Key="mp-copy", CopySource=f"{bucket}/mp", **ssec(ckey))
    assert get_bytes(s3, bucket, "mp-copy", **ssec(ckey)) == b"".join(parts)

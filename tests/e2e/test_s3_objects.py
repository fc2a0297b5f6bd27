"""S3 objects through a real `keyhold serve`: PutObject, GetObject, HeadObject, DeleteObject(s), user metadata
and its 2 KB limit, stored headers, conditional reads and writes, and what happens to the blobs underneath."""

import datetime
from collections.abc import Iterator
from typing import Any

import pytest

from support.s3 import (
    blob_ids,
    blob_path,
    body,
    closing,
    every_blob_file,
    fails_with,
    get_bytes,
    md5_hex,
    new_bucket,
    signed_send,
)
from support.server import KeyholdServer

PRECONDITION = "At least one of the pre-conditions you specified did not hold"
HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def s3(server: KeyholdServer) -> Iterator[Any]:
    with closing(server.s3()) as client:
        yield client


@pytest.fixture
def bucket(s3: Any) -> str:
    return new_bucket(s3, "obj")


# -- put, get, head, delete ------------------------------------------------------------------------------------


def test_put_get_head_delete(s3: Any, bucket: str) -> None:
    data = body(200_000, "round-trip")
    put = s3.put_object(Bucket=bucket, Key="dir/file.bin", Body=data, ContentType="application/x-test")
    assert put["ETag"] == f'"{md5_hex(data)}"'  # SSE-S3 (the default) keeps the plaintext's MD5
    assert put["ServerSideEncryption"] == "AES256"

    got = s3.get_object(Bucket=bucket, Key="dir/file.bin")
    assert got["Body"].read() == data
    assert got["ContentLength"] == len(data)
    assert got["ContentType"] == "application/x-test"
    assert got["ETag"] == put["ETag"]
    assert got["AcceptRanges"] == "bytes"
    assert got["ServerSideEncryption"] == "AES256"
    age = datetime.datetime.now(datetime.UTC) - got["LastModified"]
    assert datetime.timedelta(seconds=-5) < age < datetime.timedelta(minutes=5)

    head = s3.head_object(Bucket=bucket, Key="dir/file.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == put["ETag"]
    assert head["LastModified"] == got["LastModified"]
    assert head["ContentType"] == "application/x-test"

    deleted = s3.delete_object(Bucket=bucket, Key="dir/file.bin")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert fails_with(s3.get_object, Bucket=bucket, Key="dir/file.bin")[:2] == (404, "NoSuchKey")
    assert fails_with(s3.head_object, Bucket=bucket, Key="dir/file.bin")[:2] == (404, "404")
    # deleting what is not there is not an error
    assert s3.delete_object(Bucket=bucket, Key="dir/file.bin")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_empty_object_and_default_content_type(server: KeyholdServer, s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert put["ETag"] == f'"{md5_hex(b"")}"'
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b""
    assert got["ContentLength"] == 0
    # a PUT without Content-Type gets binary/octet-stream (boto3 always sends one, so send the request by hand)
    response = signed_send(server, "PUT", f"/{bucket}/untyped", body=b"abc")
    assert response.status == 200
    assert s3.head_object(Bucket=bucket, Key="untyped")["ContentType"] == "binary/octet-stream"


def test_overwrite_replaces_the_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"first", Metadata={"version": "1"}, ContentType="text/plain")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second, longer")
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"second, longer"
    assert got["Metadata"] == {}  # nothing of the old object is kept
    assert got["ContentType"] == "binary/octet-stream"


@pytest.mark.parametrize(
    "key",
    [
        "plain",
        "with space and+plus",
        "percent%20literal",
        "unicode/ключ/日本語 €.txt",
        "question?mark&amp=and#hash",
        "trailing/slash/",
        "dot/./segments/../kept",
        "//double//slashes",
        "~tilde!$'()*,;:@",
    ],
)
def test_key_names_round_trip(s3: Any, bucket: str, key: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    assert get_bytes(s3, bucket, key) == key.encode()
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key)
    assert [entry["Key"] for entry in listed["Contents"]] == [key]
    s3.delete_object(Bucket=bucket, Key=key)
    assert s3.list_objects_v2(Bucket=bucket, Prefix=key)["KeyCount"] == 0


def test_key_length_limit(s3: Any, bucket: str) -> None:
    longest = "k" * 1022 + "é"  # 1024 bytes of UTF-8
    s3.put_object(Bucket=bucket, Key=longest, Body=b"ok")
    assert get_bytes(s3, bucket, longest) == b"ok"
    status, code, message = fails_with(s3.put_object, Bucket=bucket, Key="k" * 1025, Body=b"no")
    assert (status, code, message) == (400, "KeyTooLongError", "Your key is too long")


def test_key_with_a_nul_character_is_refused(s3: Any, bucket: str) -> None:
    """U+0000 cannot be stored (PostgreSQL text) nor listed (XML 1.0): a clear 400, never a 500."""
    status, code, _ = fails_with(s3.put_object, Bucket=bucket, Key="a\x00b", Body=b"no")
    assert (status, code) == (400, "InvalidArgument")
    assert s3.list_objects_v2(Bucket=bucket, Prefix="a")["KeyCount"] == 0


# -- metadata and stored headers -------------------------------------------------------------------------------


def test_user_metadata_round_trip(s3: Any, bucket: str) -> None:
    metadata = {"color": "blue", "empty": "", "mixed-case": "Value With Spaces", "n": "42"}
    s3.put_object(Bucket=bucket, Key="meta", Body=b"x", Metadata=metadata)
    assert s3.head_object(Bucket=bucket, Key="meta")["Metadata"] == metadata
    assert s3.get_object(Bucket=bucket, Key="meta")["Metadata"] == metadata


def test_user_metadata_names_are_case_insensitive(server: KeyholdServer, s3: Any, bucket: str) -> None:
    response = signed_send(server, "PUT", f"/{bucket}/cased", headers={"X-Amz-Meta-Camel-Case": "v"}, body=b"x")
    assert response.status == 200
    assert s3.head_object(Bucket=bucket, Key="cased")["Metadata"] == {"camel-case": "v"}


def test_user_metadata_limit_is_2_kb(s3: Any, bucket: str) -> None:
    exactly = {"k": "v" * 2047}  # 1 + 2047 bytes: names and values count, the x-amz-meta- prefix does not
    s3.put_object(Bucket=bucket, Key="at-limit", Body=b"x", Metadata=exactly)
    assert s3.head_object(Bucket=bucket, Key="at-limit")["Metadata"] == exactly
    spread = {"alpha": "a" * 1000, "beta": "b" * 1039}  # 5 + 1000 + 4 + 1039 = 2048
    s3.put_object(Bucket=bucket, Key="spread", Body=b"x", Metadata=spread)
    assert s3.head_object(Bucket=bucket, Key="spread")["Metadata"] == spread

    for over in ({"k": "v" * 2048}, {"alpha": "a" * 1000, "beta": "b" * 1040}):
        status, code, message = fails_with(s3.put_object, Bucket=bucket, Key="over", Body=b"x", Metadata=over)
        assert (status, code) == (400, "MetadataTooLarge"), over
        assert message == "Your metadata headers exceed the maximum allowed metadata size."
    assert fails_with(s3.head_object, Bucket=bucket, Key="over")[:2] == (404, "404")

    # the same limit on CreateMultipartUpload and on a copy that replaces the metadata
    over = {"k": "v" * 2048}
    status, code, _ = fails_with(s3.create_multipart_upload, Bucket=bucket, Key="over", Metadata=over)
    assert (status, code) == (400, "MetadataTooLarge")
    status, code, _ = fails_with(
        s3.copy_object,
        Bucket=bucket,
        Key="copied",
        CopySource={"Bucket": bucket, "Key": "at-limit"},
        MetadataDirective="REPLACE",
        Metadata=over,
    )
    assert (status, code) == (400, "MetadataTooLarge")


def test_metadata_too_large_error_document(server: KeyholdServer, bucket: str) -> None:
    response = signed_send(server, "PUT", f"/{bucket}/big-meta", headers={"x-amz-meta-k": "v" * 2048}, body=b"x")
    assert response.status == 400
    error = response.error()
    assert error["Code"] == "MetadataTooLarge"
    assert error["Size"] == "2049"
    assert error["MaxSizeAllowed"] == "2048"


def test_stored_headers_and_response_overrides(s3: Any, bucket: str) -> None:
    expires = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    s3.put_object(
        Bucket=bucket,
        Key="headers",
        Body=b"payload",
        ContentType="text/markdown",
        CacheControl="max-age=60",
        ContentDisposition='attachment; filename="a.md"',
        ContentEncoding="identity",
        ContentLanguage="de-CH",
        Expires=expires,
    )
    head = s3.head_object(Bucket=bucket, Key="headers")
    assert head["ContentType"] == "text/markdown"
    assert head["CacheControl"] == "max-age=60"
    assert head["ContentDisposition"] == 'attachment; filename="a.md"'
    assert head["ContentEncoding"] == "identity"
    assert head["ContentLanguage"] == "de-CH"
    assert head["ResponseMetadata"]["HTTPHeaders"]["expires"] == "Wed, 02 Jan 2030 03:04:05 GMT"

    got = s3.get_object(
        Bucket=bucket,
        Key="headers",
        ResponseContentType="application/json",
        ResponseCacheControl="no-store",
        ResponseContentDisposition="inline",
        ResponseContentLanguage="fr",
    )
    assert got["Body"].read() == b"payload"
    assert got["ContentType"] == "application/json"
    assert got["CacheControl"] == "no-store"
    assert got["ContentDisposition"] == "inline"
    assert got["ContentLanguage"] == "fr"
    # the overrides change that response only
    assert s3.head_object(Bucket=bucket, Key="headers")["ContentType"] == "text/markdown"


# -- DeleteObjects ---------------------------------------------------------------------------------------------


def test_delete_objects(s3: Any, bucket: str) -> None:
    keys = [f"batch/{index}" for index in range(5)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    result = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": keys[0]}, {"Key": keys[1]}, {"Key": "batch/never-existed"}]}
    )
    # S3 reports a key that was not there as deleted too
    assert sorted(entry["Key"] for entry in result["Deleted"]) == [keys[0], keys[1], "batch/never-existed"]
    assert "Errors" not in result
    remaining = [entry["Key"] for entry in s3.list_objects_v2(Bucket=bucket, Prefix="batch/")["Contents"]]
    assert remaining == keys[2:]

    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in keys[2:]], "Quiet": True})
    assert "Deleted" not in quiet
    assert "Errors" not in quiet
    assert s3.list_objects_v2(Bucket=bucket, Prefix="batch/")["KeyCount"] == 0


def test_delete_objects_in_a_missing_bucket(s3: Any) -> None:
    status, code, _ = fails_with(
        s3.delete_objects, Bucket="no-such-bucket-here-xyz", Delete={"Objects": [{"Key": "a"}]}
    )
    assert (status, code) == (404, "NoSuchBucket")


# -- conditional requests --------------------------------------------------------------------------------------


@pytest.fixture
def dated(s3: Any, bucket: str) -> tuple[str, str, datetime.datetime]:
    """An object: (key, ETag as sent by S3, Last-Modified)."""
    put = s3.put_object(Bucket=bucket, Key="dated", Body=b"conditional")
    head = s3.head_object(Bucket=bucket, Key="dated")
    assert head["ETag"] == put["ETag"]
    return "dated", put["ETag"], head["LastModified"]


def test_if_match(s3: Any, bucket: str, dated: tuple[str, str, datetime.datetime]) -> None:
    key, etag, _ = dated
    for value in (etag, etag.strip('"'), "*", f'"other", {etag}'):
        assert get_bytes(s3, bucket, key, IfMatch=value) == b"conditional"
        assert s3.head_object(Bucket=bucket, Key=key, IfMatch=value)["ETag"] == etag
    status, code, message = fails_with(s3.get_object, Bucket=bucket, Key=key, IfMatch='"0123456789abcdef"')
    assert (status, code, message) == (412, "PreconditionFailed", PRECONDITION)
    assert fails_with(s3.head_object, Bucket=bucket, Key=key, IfMatch='"0123456789abcdef"')[:2] == (412, "412")


def test_if_none_match(s3: Any, bucket: str, dated: tuple[str, str, datetime.datetime]) -> None:
    key, etag, _ = dated
    assert get_bytes(s3, bucket, key, IfNoneMatch='"0123456789abcdef"') == b"conditional"
    for value in (etag, "*"):
        assert fails_with(s3.get_object, Bucket=bucket, Key=key, IfNoneMatch=value)[:2] == (304, "304")
        assert fails_with(s3.head_object, Bucket=bucket, Key=key, IfNoneMatch=value)[:2] == (304, "304")


def test_not_modified_response(server: KeyholdServer, bucket: str, dated: tuple[str, str, datetime.datetime]) -> None:
    key, etag, last_modified = dated
    response = signed_send(server, "GET", f"/{bucket}/{key}", headers={"If-None-Match": etag})
    assert response.status == 304
    assert response.body == b""
    assert response.headers["etag"] == etag
    assert response.headers["last-modified"] == last_modified.strftime("%a, %d %b %Y %H:%M:%S GMT")


def test_if_modified_since(s3: Any, bucket: str, dated: tuple[str, str, datetime.datetime]) -> None:
    key, _, last_modified = dated
    assert get_bytes(s3, bucket, key, IfModifiedSince=last_modified - HOUR) == b"conditional"
    for since in (last_modified, last_modified + HOUR):
        assert fails_with(s3.get_object, Bucket=bucket, Key=key, IfModifiedSince=since)[:2] == (304, "304")
        assert fails_with(s3.head_object, Bucket=bucket, Key=key, IfModifiedSince=since)[:2] == (304, "304")


def test_if_unmodified_since(s3: Any, bucket: str, dated: tuple[str, str, datetime.datetime]) -> None:
    key, _, last_modified = dated
    for since in (last_modified, last_modified + HOUR):
        assert get_bytes(s3, bucket, key, IfUnmodifiedSince=since) == b"conditional"
    status, code, message = fails_with(s3.get_object, Bucket=bucket, Key=key, IfUnmodifiedSince=last_modified - HOUR)
    assert (status, code, message) == (412, "PreconditionFailed", PRECONDITION)
    assert fails_with(s3.head_object, Bucket=bucket, Key=key, IfUnmodifiedSince=last_modified - HOUR)[:2] == (
        412,
        "412",
    )


def test_condition_precedence(s3: Any, bucket: str, dated: tuple[str, str, datetime.datetime]) -> None:
    """As S3 documents (RFC 9110): If-Match that holds overrides a failing If-Unmodified-Since, and If-None-Match
    decides over If-Modified-Since."""
    key, etag, last_modified = dated
    assert get_bytes(s3, bucket, key, IfMatch=etag, IfUnmodifiedSince=last_modified - HOUR) == b"conditional"
    assert fails_with(s3.get_object, Bucket=bucket, Key=key, IfNoneMatch=etag, IfModifiedSince=last_modified - HOUR)[
        :2
    ] == (304, "304")
    assert get_bytes(s3, bucket, key, IfNoneMatch='"other"', IfModifiedSince=last_modified + HOUR) == b"conditional"
    # a failing If-Match is 412 even when If-None-Match would say 304
    assert fails_with(s3.get_object, Bucket=bucket, Key=key, IfMatch='"other"', IfNoneMatch=etag)[:2] == (
        412,
        "PreconditionFailed",
    )


def test_precondition_failed_error_document(
    server: KeyholdServer, bucket: str, dated: tuple[str, str, datetime.datetime]
) -> None:
    key, _, _ = dated
    response = signed_send(server, "GET", f"/{bucket}/{key}", headers={"If-Match": '"nope"'})
    assert response.status == 412
    error = response.error()
    assert (error["Code"], error["Message"], error["Condition"]) == ("PreconditionFailed", PRECONDITION, "If-Match")


def test_conditional_put_if_none_match_star(s3: Any, bucket: str) -> None:
    first = s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 200
    status, code, message = fails_with(s3.put_object, Bucket=bucket, Key="once", Body=b"second", IfNoneMatch="*")
    assert (status, code, message) == (412, "PreconditionFailed", PRECONDITION)
    assert get_bytes(s3, bucket, "once") == b"first"
    s3.delete_object(Bucket=bucket, Key="once")
    s3.put_object(Bucket=bucket, Key="once", Body=b"third", IfNoneMatch="*")
    assert get_bytes(s3, bucket, "once") == b"third"


def test_conditional_put_if_match(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="cas", Body=b"v1")["ETag"]
    status, code, _ = fails_with(s3.put_object, Bucket=bucket, Key="cas", Body=b"v2", IfMatch='"0123abcd"')
    assert (status, code) == (412, "PreconditionFailed")
    assert get_bytes(s3, bucket, "cas") == b"v1"
    etag2 = s3.put_object(Bucket=bucket, Key="cas", Body=b"v2", IfMatch=etag)["ETag"]
    assert etag2 != etag
    # S3 takes the ETag unquoted too
    s3.put_object(Bucket=bucket, Key="cas", Body=b"v3", IfMatch=etag2.strip('"'))
    assert get_bytes(s3, bucket, "cas") == b"v3"
    # If-Match names an object: when there is none, S3 answers NoSuchKey
    status, code, _ = fails_with(s3.put_object, Bucket=bucket, Key="never-written", Body=b"x", IfMatch=etag)
    assert (status, code) == (404, "NoSuchKey")
    assert fails_with(s3.head_object, Bucket=bucket, Key="never-written")[:2] == (404, "404")


def test_unparsable_dates_are_ignored(
    server: KeyholdServer, bucket: str, dated: tuple[str, str, datetime.datetime]
) -> None:
    key, _, _ = dated
    for header in ("If-Modified-Since", "If-Unmodified-Since"):
        response = signed_send(server, "GET", f"/{bucket}/{key}", headers={header: "not a date"})
        assert (response.status, response.body) == (200, b"conditional"), header


# -- what happens to the blobs ---------------------------------------------------------------------------------


def test_overwrite_deletes_the_old_blob(server: KeyholdServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="blobby", Body=body(100_000, "old"))
    (old_blob,) = blob_ids(server, bucket, "blobby")
    assert blob_path(server, old_blob).exists()
    before = every_blob_file(server)

    s3.put_object(Bucket=bucket, Key="blobby", Body=body(50_000, "new"))
    (new_blob,) = blob_ids(server, bucket, "blobby")
    after = every_blob_file(server)
    assert new_blob != old_blob
    assert not blob_path(server, old_blob).exists()
    assert before - after == {blob_path(server, old_blob)}
    assert after - before == {blob_path(server, new_blob)}
    assert get_bytes(s3, bucket, "blobby") == body(50_000, "new")


def test_delete_deletes_the_blob(server: KeyholdServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="gone", Body=b"soon gone")
    (blob,) = blob_ids(server, bucket, "gone")
    before = every_blob_file(server)
    s3.delete_object(Bucket=bucket, Key="gone")
    assert before - every_blob_file(server) == {blob_path(server, blob)}

    s3.put_object(Bucket=bucket, Key="batch-gone", Body=b"also gone")
    (blob,) = blob_ids(server, bucket, "batch-gone")
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "batch-gone"}]})
    assert not blob_path(server, blob).exists()


def test_failed_conditional_put_leaves_no_blob(server: KeyholdServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="guarded", Body=b"original")
    before = every_blob_file(server)
    fails_with(s3.put_object, Bucket=bucket, Key="guarded", Body=body(300_000), IfNoneMatch="*")
    assert every_blob_file(server) == before
    assert get_bytes(s3, bucket, "guarded") == b"original"

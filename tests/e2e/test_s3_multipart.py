"""Multipart uploads through a real `keyhold serve`: create, upload (and upload-copy) parts, complete, abort, list
parts and uploads with their markers, the errors of each, SSE-C parts, checksums, and the blobs underneath."""

import base64
import hashlib
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from support.s3 import (
    MiB,
    blob_ids,
    body,
    closing,
    copy_source_ssec,
    customer_key,
    every_blob_file,
    fails_with,
    get_bytes,
    md5_hex,
    new_bucket,
    signed_send,
    ssec,
)
from support.server import KeyholdServer

PART = 5 * MiB + 1  # just over S3's minimum part size
NO_SUCH_UPLOAD = (
    "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or "
    "completed."
)
MSG_PART_KEY_MISSING = (
    "The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate "
    "encryption parameters."
)
MSG_PART_KEY_DIFFERENT = "The provided encryption parameters did not match the ones used originally."


@pytest.fixture
def s3(server: KeyholdServer) -> Iterator[Any]:
    with closing(server.s3()) as client:
        yield client


@pytest.fixture
def s3s(server: KeyholdServer) -> Iterator[Any]:
    """Over HTTPS (SSE-C)."""
    with closing(server.s3(secure=True)) as client:
        yield client


@pytest.fixture
def bucket(s3: Any) -> str:
    return new_bucket(s3, "mpu")


def multipart_etag(parts: list[bytes]) -> str:
    digests = b"".join(hashlib.md5(p, usedforsecurity=False).digest() for p in parts)
    digest = hashlib.md5(digests, usedforsecurity=False)
    return f'"{digest.hexdigest()}-{len(parts)}"'


def upload(s3: Any, bucket: str, key: str, parts: list[bytes], **kwargs: Any) -> tuple[str, list[dict[str, Any]]]:
    """Start an upload and send its parts: (upload id, [{"PartNumber", "ETag"}, ...])."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **kwargs)["UploadId"]
    done = []
    for number, data in enumerate(parts, start=1):
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data, **kwargs)[
            "ETag"
        ]
        done.append({"PartNumber": number, "ETag": etag})
    return upload_id, done


def complete(s3: Any, bucket: str, key: str, upload_id: str, parts: list[dict[str, Any]], **kwargs: Any) -> Any:
    return s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}, **kwargs
    )


def complete_fails(
    s3: Any, bucket: str, key: str, upload_id: str, parts: list[dict[str, Any]], **kwargs: Any
) -> tuple[int, str, str]:
    return fails_with(
        s3.complete_multipart_upload,
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": parts},
        **kwargs,
    )


# -- the whole flow --------------------------------------------------------------------------------------------


def test_multipart_round_trip(server: KeyholdServer, s3: Any, bucket: str) -> None:
    parts = [body(PART, 1), body(PART, 2), body(1234, 3)]
    created = s3.create_multipart_upload(
        Bucket=bucket, Key="big.bin", ContentType="application/x-big", Metadata={"origin": "multipart"}
    )
    assert created["Bucket"] == bucket
    assert created["Key"] == "big.bin"
    assert created["ServerSideEncryption"] == "AES256"
    upload_id = created["UploadId"]
    done = []
    for number, data in enumerate(parts, start=1):
        sent = s3.upload_part(Bucket=bucket, Key="big.bin", UploadId=upload_id, PartNumber=number, Body=data)
        assert sent["ETag"] == f'"{md5_hex(data)}"'
        assert sent["ServerSideEncryption"] == "AES256"
        done.append({"PartNumber": number, "ETag": sent["ETag"]})

    listed = s3.list_parts(Bucket=bucket, Key="big.bin", UploadId=upload_id)
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed["Parts"]] == [
        (n, d["ETag"], len(data)) for n, d, data in zip((1, 2, 3), done, parts, strict=True)
    ]
    assert listed["IsTruncated"] is False
    assert listed["Initiator"]["ID"] == f"arn:aws:iam::{server.account_id}:root"
    assert listed["StorageClass"] == "STANDARD"
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("big.bin", upload_id)]
    # nothing is visible before the upload completes
    assert fails_with(s3.head_object, Bucket=bucket, Key="big.bin")[:2] == (404, "404")

    result = complete(s3, bucket, "big.bin", upload_id, done)
    assert result["ETag"] == multipart_etag(parts)
    assert result["Key"] == "big.bin"
    assert result["Bucket"] == bucket
    assert result["ServerSideEncryption"] == "AES256"

    got = s3.get_object(Bucket=bucket, Key="big.bin")
    assert got["Body"].read() == b"".join(parts)
    assert got["ContentLength"] == sum(map(len, parts))
    assert got["ETag"] == multipart_etag(parts)
    assert got["ContentType"] == "application/x-big"
    assert got["Metadata"] == {"origin": "multipart"}

    # the upload is gone
    assert fails_with(s3.list_parts, Bucket=bucket, Key="big.bin", UploadId=upload_id) == (
        404,
        "NoSuchUpload",
        NO_SUCH_UPLOAD,
    )
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    status, code, _ = complete_fails(s3, bucket, "big.bin", upload_id, done)
    assert (status, code) == (404, "NoSuchUpload")


def test_complete_with_some_parts_and_replaced_parts(server: KeyholdServer, s3: Any, bucket: str) -> None:
    upload_id, done = upload(s3, bucket, "subset", [body(PART, "a"), body(100, "b"), body(PART, "c"), body(10, "d")])
    # part 3 sent again: the later one counts, and the earlier one's blob goes
    before = every_blob_file(server)
    replacement = body(PART, "c2")
    done[2]["ETag"] = s3.upload_part(Bucket=bucket, Key="subset", UploadId=upload_id, PartNumber=3, Body=replacement)[
        "ETag"
    ]
    after = every_blob_file(server)
    assert len(after - before) == 1
    assert len(before - after) == 1

    chosen = [done[0], done[2], done[3]]  # part 2 left out
    complete(s3, bucket, "subset", upload_id, chosen)
    expected = [body(PART, "a"), replacement, body(10, "d")]
    assert get_bytes(s3, bucket, "subset") == b"".join(expected)
    assert s3.head_object(Bucket=bucket, Key="subset")["ETag"] == multipart_etag(expected)
    # the part left out lost its blob; the object holds exactly its three
    assert len(blob_ids(server, bucket, "subset")) == 3
    assert len(every_blob_file(server) - before) == 1  # the new part 3
    assert len(before - every_blob_file(server)) == 2  # the replaced part 3 and the unused part 2


def test_single_small_part(s3: Any, bucket: str) -> None:
    """The last part may be any size, so a one-part upload may be tiny (or empty)."""
    upload_id, done = upload(s3, bucket, "tiny", [b"just this"])
    complete(s3, bucket, "tiny", upload_id, done)
    assert get_bytes(s3, bucket, "tiny") == b"just this"
    upload_id, done = upload(s3, bucket, "nothing", [b""])
    complete(s3, bucket, "nothing", upload_id, done)
    assert get_bytes(s3, bucket, "nothing") == b""


def test_complete_replaces_an_existing_object(server: KeyholdServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="replaced", Body=b"old object")
    (old_blob,) = blob_ids(server, bucket, "replaced")
    upload_id, done = upload(s3, bucket, "replaced", [b"new object"])
    complete(s3, bucket, "replaced", upload_id, done)
    assert get_bytes(s3, bucket, "replaced") == b"new object"
    assert old_blob not in {path.name for path in every_blob_file(server)}


# -- CompleteMultipartUpload's errors --------------------------------------------------------------------------


def test_invalid_part(s3: Any, bucket: str) -> None:
    upload_id, done = upload(s3, bucket, "k", [body(PART), b"tail"])
    for parts in (
        [done[0], {"PartNumber": 2, "ETag": '"00000000000000000000000000000000"'}],  # wrong ETag
        [done[0], done[1], {"PartNumber": 3, "ETag": done[1]["ETag"]}],  # never uploaded
    ):
        status, code, message = complete_fails(s3, bucket, "k", upload_id, parts)
        assert (status, code) == (400, "InvalidPart")
        assert message.startswith("One or more of the specified parts could not be found.")
    # the upload is still there and can be completed properly
    complete(s3, bucket, "k", upload_id, done)
    assert get_bytes(s3, bucket, "k") == body(PART) + b"tail"


def test_invalid_part_order(s3: Any, bucket: str) -> None:
    upload_id, done = upload(s3, bucket, "k", [body(PART), body(PART, 2), b"tail"])
    for parts in ([done[1], done[0], done[2]], [done[0], done[0], done[2]]):
        status, code, message = complete_fails(s3, bucket, "k", upload_id, parts)
        assert (status, code) == (400, "InvalidPartOrder")
        assert message == "The list of parts was not in ascending order. Parts must be ordered by part number."
    complete(s3, bucket, "k", upload_id, done)


def test_entity_too_small(s3: Any, bucket: str) -> None:
    upload_id, done = upload(s3, bucket, "k", [body(5 * MiB - 1), b"tail"])
    status, code, message = complete_fails(s3, bucket, "k", upload_id, done)
    assert (status, code) == (400, "EntityTooSmall")
    assert message == "Your proposed upload is smaller than the minimum allowed object size."
    # exactly 5 MiB is enough
    upload_id, done = upload(s3, bucket, "k", [body(5 * MiB), b"tail"])
    complete(s3, bucket, "k", upload_id, done)
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == 5 * MiB + 4


def test_empty_part_list_is_malformed(s3: Any, bucket: str) -> None:
    upload_id, _ = upload(s3, bucket, "k", [b"x"])
    status, code, _ = complete_fails(s3, bucket, "k", upload_id, [])
    assert (status, code) == (400, "MalformedXML")


def test_no_such_upload(s3: Any, bucket: str) -> None:
    bogus = "not-an-upload-id"
    calls = [
        (s3.upload_part, {"PartNumber": 1, "Body": b"x"}),
        (s3.list_parts, {}),
        (s3.abort_multipart_upload, {}),
        (s3.complete_multipart_upload, {"MultipartUpload": {"Parts": [{"PartNumber": 1, "ETag": '"x"'}]}}),
        (s3.upload_part_copy, {"PartNumber": 1, "CopySource": {"Bucket": bucket, "Key": "src"}}),
    ]
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    for call, kwargs in calls:
        assert fails_with(call, Bucket=bucket, Key="k", UploadId=bogus, **kwargs) == (
            404,
            "NoSuchUpload",
            NO_SUCH_UPLOAD,
        ), call
    # an upload id is only good for its own key
    upload_id, _ = upload(s3, bucket, "k", [b"x"])
    assert fails_with(s3.list_parts, Bucket=bucket, Key="other", UploadId=upload_id)[:2] == (404, "NoSuchUpload")


def test_upload_id_error_document(server: KeyholdServer, bucket: str) -> None:
    response = signed_send(server, "GET", f"/{bucket}/k", query="uploadId=bogus-id")
    assert response.status == 404
    error = response.error()
    assert error["Code"] == "NoSuchUpload"
    assert error["UploadId"] == "bogus-id"


def test_part_number_limits(s3: Any, bucket: str) -> None:
    upload_id, _ = upload(s3, bucket, "k", [])
    for number in (0, 10001):
        status, code, message = fails_with(
            s3.upload_part, Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=number, Body=b"x"
        )
        assert (status, code) == (400, "InvalidArgument"), number
        assert message == "Part number must be an integer between 1 and 10000, inclusive"
    s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=10000, Body=b"last")
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]] == [10000]


def test_conditional_complete(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="exists", Body=b"first")
    upload_id, done = upload(s3, bucket, "exists", [b"second"])
    status, code, _ = complete_fails(s3, bucket, "exists", upload_id, done, IfNoneMatch="*")
    assert (status, code) == (412, "PreconditionFailed")
    assert get_bytes(s3, bucket, "exists") == b"first"
    # If-Match on a key without an object: NoSuchKey, as PutObject
    other_id, other_done = upload(s3, bucket, "absent", [b"x"])
    status, code, _ = complete_fails(s3, bucket, "absent", other_id, other_done, IfMatch='"abc"')
    assert (status, code) == (404, "NoSuchKey")
    etag = s3.head_object(Bucket=bucket, Key="exists")["ETag"]
    complete(s3, bucket, "exists", upload_id, done, IfMatch=etag)
    assert get_bytes(s3, bucket, "exists") == b"second"


# -- abort -----------------------------------------------------------------------------------------------------


def test_abort_deletes_the_parts(server: KeyholdServer, s3: Any, bucket: str) -> None:
    before = every_blob_file(server)
    upload_id, done = upload(s3, bucket, "aborted", [body(PART), body(1000)])
    assert len(every_blob_file(server) - before) == 2
    aborted = s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=upload_id)
    assert aborted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert every_blob_file(server) == before
    assert fails_with(s3.list_parts, Bucket=bucket, Key="aborted", UploadId=upload_id)[:2] == (404, "NoSuchUpload")
    assert complete_fails(s3, bucket, "aborted", upload_id, done)[:2] == (404, "NoSuchUpload")
    assert fails_with(s3.abort_multipart_upload, Bucket=bucket, Key="aborted", UploadId=upload_id)[:2] == (
        404,
        "NoSuchUpload",
    )
    assert fails_with(s3.head_object, Bucket=bucket, Key="aborted")[:2] == (404, "404")


# -- ListParts and ListMultipartUploads ------------------------------------------------------------------------


def test_list_parts_pagination(s3: Any, bucket: str) -> None:
    upload_id, _ = upload(s3, bucket, "paged", [bytes([n]) * n for n in range(1, 8)])
    seen: list[int] = []
    marker = 0
    pages = 0
    while True:
        page = s3.list_parts(Bucket=bucket, Key="paged", UploadId=upload_id, MaxParts=3, PartNumberMarker=marker)
        pages += 1
        numbers = [part["PartNumber"] for part in page["Parts"]]
        assert page["MaxParts"] == 3
        assert page["PartNumberMarker"] == marker
        assert [part["Size"] for part in page["Parts"]] == numbers
        seen += numbers
        if not page["IsTruncated"]:
            break
        assert page["NextPartNumberMarker"] == numbers[-1]
        marker = page["NextPartNumberMarker"]
    assert seen == list(range(1, 8))
    assert pages == 3
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="paged", UploadId=upload_id)["Parts"]] == seen
    paginator = s3.get_paginator("list_parts")
    walked = paginator.paginate(Bucket=bucket, Key="paged", UploadId=upload_id, PaginationConfig={"PageSize": 2})
    assert [part["PartNumber"] for page in walked for part in page["Parts"]] == seen


def test_list_multipart_uploads_with_markers(s3: Any, bucket: str) -> None:
    created: list[tuple[str, str]] = []
    for key in ["a", "b", "b", "b", "c/d", "c/e", "d"]:
        created.append((key, s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]))

    everything = s3.list_multipart_uploads(Bucket=bucket)
    listed = [(u["Key"], u["UploadId"]) for u in everything["Uploads"]]
    assert listed == created  # by key, then by when they began
    assert everything["IsTruncated"] is False

    # two at a time, by KeyMarker and UploadIdMarker (the three uploads of "b" split across pages)
    walked: list[tuple[str, str]] = []
    key_marker, id_marker = "", ""
    for _ in range(10):
        page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2, KeyMarker=key_marker, UploadIdMarker=id_marker)
        assert page["MaxUploads"] == 2
        walked += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        if not page["IsTruncated"]:
            break
        key_marker, id_marker = page["NextKeyMarker"], page["NextUploadIdMarker"]
        assert (key_marker, id_marker) == walked[-1]
    assert walked == created

    # KeyMarker alone: uploads of later keys only
    after_b = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="b")
    assert [u["Key"] for u in after_b["Uploads"]] == ["c/d", "c/e", "d"]

    # prefix and delimiter
    under_c = s3.list_multipart_uploads(Bucket=bucket, Prefix="c/")
    assert [u["Key"] for u in under_c["Uploads"]] == ["c/d", "c/e"]
    grouped = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [u["Key"] for u in grouped["Uploads"]] == ["a", "b", "b", "b", "d"]
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["c/"]

    paginator = s3.get_paginator("list_multipart_uploads")
    pages = list(paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 3}))
    assert [(u["Key"], u["UploadId"]) for page in pages for u in page.get("Uploads", [])] == created


def test_list_multipart_uploads_paged_with_delimiter(s3: Any, bucket: str) -> None:
    """A common prefix counts once, across pages too."""
    for key in ["a", "c/d", "c/e", "c/f", "e"]:
        s3.create_multipart_upload(Bucket=bucket, Key=key)
    keys: list[str] = []
    common: list[str] = []
    key_marker, id_marker = "", ""
    for _ in range(10):
        page = s3.list_multipart_uploads(
            Bucket=bucket, Delimiter="/", MaxUploads=2, KeyMarker=key_marker, UploadIdMarker=id_marker
        )
        keys += [u["Key"] for u in page.get("Uploads", [])]
        common += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        assert len(page.get("Uploads", [])) + len(page.get("CommonPrefixes", [])) <= 2
        if not page["IsTruncated"]:
            break
        key_marker, id_marker = page["NextKeyMarker"], page.get("NextUploadIdMarker", "")
    assert keys == ["a", "e"]
    assert common == ["c/"]


# -- UploadPartCopy --------------------------------------------------------------------------------------------


def test_upload_part_copy_with_ranges(s3: Any, bucket: str) -> None:
    source = body(6 * MiB + 100, "source")
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    kwargs = {"Bucket": bucket, "Key": "assembled", "UploadId": upload_id}
    whole = s3.upload_part_copy(PartNumber=1, CopySource={"Bucket": bucket, "Key": "source"}, **kwargs)
    assert whole["CopyPartResult"]["ETag"] == f'"{md5_hex(source)}"'
    assert whole["CopyPartResult"]["LastModified"]
    ranged = s3.upload_part_copy(
        PartNumber=2, CopySource={"Bucket": bucket, "Key": "source"}, CopySourceRange="bytes=65535-6000000", **kwargs
    )
    middle = source[65535:6000001]
    assert ranged["CopyPartResult"]["ETag"] == f'"{md5_hex(middle)}"'
    last = s3.upload_part_copy(
        PartNumber=3,
        CopySource=f"{bucket}/source",
        CopySourceRange=f"bytes={len(source) - 1}-{len(source) - 1}",
        **kwargs,
    )
    parts = [
        {"PartNumber": 1, "ETag": whole["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": ranged["CopyPartResult"]["ETag"]},
        {"PartNumber": 3, "ETag": last["CopyPartResult"]["ETag"]},
    ]
    sizes = [p["Size"] for p in s3.list_parts(**kwargs)["Parts"]]
    assert sizes == [len(source), len(middle), 1]
    complete(s3, bucket, "assembled", upload_id, parts)
    assert get_bytes(s3, bucket, "assembled") == source + middle + source[-1:]


def test_upload_part_copy_errors(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="source", Body=b"0123456789")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dest")["UploadId"]
    kwargs = {"Bucket": bucket, "Key": "dest", "UploadId": upload_id, "PartNumber": 1}
    for bad in ("bytes=5-10", "bytes=10-10", "bytes=6-5"):
        status, code, message = fails_with(
            s3.upload_part_copy, CopySource={"Bucket": bucket, "Key": "source"}, CopySourceRange=bad, **kwargs
        )
        assert (status, code) == (400, "InvalidArgument"), bad
        assert message == "Range specified is not valid for source object of size: 10"
    status, code, _ = fails_with(
        s3.upload_part_copy, CopySource={"Bucket": bucket, "Key": "source"}, CopySourceRange="bytes=0-", **kwargs
    )
    assert (status, code) == (400, "InvalidArgument")
    assert fails_with(s3.upload_part_copy, CopySource={"Bucket": bucket, "Key": "missing"}, **kwargs)[:2] == (
        404,
        "NoSuchKey",
    )
    assert fails_with(s3.upload_part_copy, CopySource={"Bucket": "no-such-bucket-xyz", "Key": "k"}, **kwargs)[:2] == (
        404,
        "NoSuchBucket",
    )
    status, code, _ = fails_with(
        s3.upload_part_copy, CopySource={"Bucket": bucket, "Key": "source"}, CopySourceIfMatch='"nope"', **kwargs
    )
    assert (status, code) == (412, "PreconditionFailed")
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="dest", UploadId=upload_id)


# -- SSE-C -----------------------------------------------------------------------------------------------------


def test_sse_c_parts_must_bring_the_same_key(s3s: Any) -> None:
    bucket = new_bucket(s3s, "mpu-ssec")
    key, other = customer_key(), customer_key()
    created = s3s.create_multipart_upload(Bucket=bucket, Key="secret", **ssec(key))
    upload_id = created["UploadId"]
    assert created["SSECustomerAlgorithm"] == "AES256"
    kwargs = {"Bucket": bucket, "Key": "secret", "UploadId": upload_id}

    assert fails_with(s3s.upload_part, PartNumber=1, Body=b"x", **kwargs) == (
        400,
        "InvalidRequest",
        MSG_PART_KEY_MISSING,
    )
    assert fails_with(s3s.upload_part, PartNumber=1, Body=b"x", **kwargs, **ssec(other)) == (
        400,
        "InvalidRequest",
        MSG_PART_KEY_DIFFERENT,
    )
    s3s.put_object(Bucket=bucket, Key="plain-source", Body=body(PART, "copied"))
    copy_source = {"Bucket": bucket, "Key": "plain-source"}
    assert fails_with(s3s.upload_part_copy, PartNumber=1, CopySource=copy_source, **kwargs) == (
        400,
        "InvalidRequest",
        MSG_PART_KEY_MISSING,
    )
    assert fails_with(s3s.upload_part_copy, PartNumber=1, CopySource=copy_source, **kwargs, **ssec(other)) == (
        400,
        "InvalidRequest",
        MSG_PART_KEY_DIFFERENT,
    )
    assert "Parts" not in s3s.list_parts(**kwargs)

    first = s3s.upload_part_copy(PartNumber=1, CopySource=copy_source, **kwargs, **ssec(key))
    second = s3s.upload_part(PartNumber=2, Body=b"tail", **kwargs, **ssec(key))
    assert second["SSECustomerAlgorithm"] == "AES256"
    parts = [
        {"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": second["ETag"]},
    ]
    complete(s3s, bucket, "secret", upload_id, parts)  # CompleteMultipartUpload takes no key
    assert get_bytes(s3s, bucket, "secret", **ssec(key)) == body(PART, "copied") + b"tail"
    assert fails_with(s3s.get_object, Bucket=bucket, Key="secret")[:2] == (400, "InvalidRequest")
    assert fails_with(s3s.get_object, Bucket=bucket, Key="secret", **ssec(other))[:2] == (403, "AccessDenied")


def test_sse_c_source_of_upload_part_copy(s3s: Any) -> None:
    bucket = new_bucket(s3s, "mpu-ssec-src")
    key = customer_key()
    s3s.put_object(Bucket=bucket, Key="locked", Body=b"locked data", **ssec(key))
    upload_id = s3s.create_multipart_upload(Bucket=bucket, Key="dest")["UploadId"]
    kwargs = {"Bucket": bucket, "Key": "dest", "UploadId": upload_id, "PartNumber": 1}
    source = {"Bucket": bucket, "Key": "locked"}
    assert fails_with(s3s.upload_part_copy, CopySource=source, **kwargs)[:2] == (400, "InvalidRequest")
    wrong = copy_source_ssec(customer_key())
    assert fails_with(s3s.upload_part_copy, CopySource=source, **kwargs, **wrong)[:2] == (403, "AccessDenied")
    part = s3s.upload_part_copy(CopySource=source, **kwargs, **copy_source_ssec(key))
    complete(s3s, bucket, "dest", upload_id, [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}])
    assert get_bytes(s3s, bucket, "dest") == b"locked data"


# -- checksums -------------------------------------------------------------------------------------------------


def b64(value: int, size: int = 4) -> str:
    return base64.b64encode(value.to_bytes(size, "big")).decode()


@pytest.mark.parametrize("secure", [False, True], ids=["http", "https"])
def test_composite_crc32(server: KeyholdServer, secure: bool) -> None:
    with closing(server.s3(secure=secure)) as s3:
        bucket = new_bucket(s3, "mpu-crc")
        parts = [body(PART, "x"), body(777, "y")]
        created = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32")
        assert created["ChecksumAlgorithm"] == "CRC32"
        upload_id = created["UploadId"]
        done = []
        for number, data in enumerate(parts, start=1):
            sent = s3.upload_part(
                Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=number, Body=data, ChecksumAlgorithm="CRC32"
            )
            assert sent["ChecksumCRC32"] == b64(zlib.crc32(data))
            done.append({"PartNumber": number, "ETag": sent["ETag"], "ChecksumCRC32": sent["ChecksumCRC32"]})
        listed = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)
        assert [p["ChecksumCRC32"] for p in listed["Parts"]] == [d["ChecksumCRC32"] for d in done]
        result = complete(s3, bucket, "k", upload_id, done)
        digests = b"".join(zlib.crc32(data).to_bytes(4, "big") for data in parts)
        expected = f"{b64(zlib.crc32(digests))}-2"
        assert result["ChecksumCRC32"] == expected
        head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
        assert head["ChecksumCRC32"] == expected
        assert head["ChecksumType"] == "COMPOSITE"


def test_full_object_crc32(s3: Any, bucket: str) -> None:
    parts = [body(PART, "full-1"), body(PART, "full-2"), body(99, "full-3")]
    upload_id = s3.create_multipart_upload(
        Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT"
    )["UploadId"]
    done = []
    for number, data in enumerate(parts, start=1):
        sent = s3.upload_part(
            Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=number, Body=data, ChecksumAlgorithm="CRC32"
        )
        done.append({"PartNumber": number, "ETag": sent["ETag"], "ChecksumCRC32": sent["ChecksumCRC32"]})
    result = complete(s3, bucket, "k", upload_id, done)
    whole = b64(zlib.crc32(b"".join(parts)))
    assert result["ChecksumCRC32"] == whole
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert (head["ChecksumCRC32"], head["ChecksumType"]) == (whole, "FULL_OBJECT")


def test_bad_part_checksum_stores_no_part(server: KeyholdServer, s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    before = every_blob_file(server)
    status, code, _ = fails_with(
        s3.upload_part,
        Bucket=bucket,
        Key="k",
        UploadId=upload_id,
        PartNumber=1,
        Body=body(100_000),
        ChecksumCRC32=b64(zlib.crc32(b"something else")),
    )
    assert (status, code) == (400, "BadDigest")
    assert every_blob_file(server) == before
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)

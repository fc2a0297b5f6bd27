"""S3 server-side encryption through a real `keyhold serve` and boto3: round trips in every mode (SSE-S3, SSE-KMS
with every way of naming the key, DSSE, SSE-C), the SSE headers of every response, ranged reads, multipart
uploads, the copy matrix, bucket default encryption and UpdateObjectEncryption.

The contract is ../shared/reference/s3-sse.md section 1; the error table (1.8) is in test_s3_sse_errors.py.
"""

import json
from collections.abc import Iterator
from typing import Any

import pytest

from support.kms import make_user, new_key, unique
from support.s3 import (
    BUCKET_KEY_HEADER,
    CHUNK,
    CONTEXT_HEADER,
    CUSTOMER_ALGORITHM_HEADER,
    CUSTOMER_MD5_HEADER,
    HEADER,
    KMS_KEY_HEADER,
    SIZES,
    SSE_HEADER,
    TAG,
    MiB,
    blob_ids,
    blob_path,
    body,
    closing,
    copy_source_ssec,
    customer_key,
    decode_context,
    encode_context,
    fails_with,
    get_bytes,
    headers_of,
    key_md5,
    md5_hex,
    new_bucket,
    object_arn,
    object_row,
    sse_headers,
    ssec,
)
from support.server import KeyholdServer

HEX32 = set("0123456789abcdef")


@pytest.fixture(scope="module")
def kms_key(server: KeyholdServer) -> dict[str, Any]:
    """A customer managed key with an alias, for the SSE-KMS tests of this module."""
    kms = server.client("kms")
    key = new_key(kms, Description="s3 sse tests")
    alias = f"alias/{unique('s3-sse')}"
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    return {**key, "Alias": alias, "AliasArn": f"arn:aws:kms:{server.region}:{server.account_id}:{alias}"}


@pytest.fixture(scope="module")
def s3(server: KeyholdServer) -> Iterator[Any]:
    """Over HTTPS: boto3 sends aws-chunked bodies with a trailing CRC32 there, and SSE-C is allowed. Closed
    afterwards: an idle TLS keep-alive connection holds up the server's shutdown."""
    with closing(server.s3(secure=True)) as client:
        yield client


def managed_key_arn(server: KeyholdServer) -> str:
    arn: str = server.client("kms").describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["Arn"]
    return arn


# -- modes: how a test asks for one, and what the responses must say ----------------------------------------------

MODES = ["default", "sse-s3", "kms-managed", "kms-key-id", "kms-key-arn", "kms-alias", "kms-alias-arn", "dsse", "sse-c"]


def put_args(mode: str, kms_key: dict[str, Any], ckey: bytes) -> dict[str, Any]:
    return {
        "default": {},
        "sse-s3": {"ServerSideEncryption": "AES256"},
        "kms-managed": {"ServerSideEncryption": "aws:kms"},
        "kms-key-id": {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key["KeyId"]},
        "kms-key-arn": {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key["Arn"]},
        "kms-alias": {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key["Alias"]},
        "kms-alias-arn": {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key["AliasArn"]},
        "dsse": {"ServerSideEncryption": "aws:kms:dsse", "SSEKMSKeyId": kms_key["KeyId"]},
        "sse-c": ssec(ckey),
    }[mode]


def read_args(mode: str, ckey: bytes) -> dict[str, Any]:
    return ssec(ckey) if mode == "sse-c" else {}


def expected_sse(server: KeyholdServer, mode: str, kms_key: dict[str, Any], ckey: bytes) -> dict[str, str]:
    """The SSE headers of a GET or HEAD of an object written in ``mode`` (never a context)."""
    if mode in ("default", "sse-s3"):
        return {SSE_HEADER: "AES256"}
    if mode == "sse-c":
        return {CUSTOMER_ALGORITHM_HEADER: "AES256", CUSTOMER_MD5_HEADER: key_md5(ckey)}
    arn = managed_key_arn(server) if mode == "kms-managed" else kms_key["Arn"]
    return {SSE_HEADER: "aws:kms:dsse" if mode == "dsse" else "aws:kms", KMS_KEY_HEADER: arn}


def check_etag(mode: str, etag: str, data: bytes) -> None:
    """SSE-S3 keeps the MD5 of a single PUT; SSE-KMS, DSSE and SSE-C get an opaque 32-hex ETag."""
    etag = etag.strip('"')
    if mode in ("default", "sse-s3"):
        assert etag == md5_hex(data)
    else:
        assert len(etag) == 32
        assert set(etag) <= HEX32
        assert etag != md5_hex(data)


def check_put_response(
    server: KeyholdServer, mode: str, response: dict[str, Any], bucket: str, key: str, **expected: Any
) -> None:
    want = expected_sse(server, mode, expected["kms_key"], expected["ckey"])
    got = sse_headers(response)
    context = got.pop(CONTEXT_HEADER, None)
    assert got == want
    if mode.startswith("kms") or mode == "dsse":
        assert context is not None
        assert decode_context(context) == {"aws:s3:arn": object_arn(bucket, key), **expected.get("context", {})}
    else:
        assert context is None


# -- round trips ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", MODES)
def test_round_trip_over_https(server: KeyholdServer, s3: Any, kms_key: dict[str, Any], mode: str, size: int) -> None:
    bucket = new_bucket(s3)
    ckey = customer_key()
    data = body(size, mode)
    put = s3.put_object(Bucket=bucket, Key="obj", Body=data, **put_args(mode, kms_key, ckey))
    check_put_response(server, mode, put, bucket, "obj", kms_key=kms_key, ckey=ckey)
    check_etag(mode, put["ETag"], data)

    got = s3.get_object(Bucket=bucket, Key="obj", **read_args(mode, ckey))
    assert got["Body"].read() == data
    assert got["ETag"] == put["ETag"]
    assert got["ContentLength"] == size
    assert sse_headers(got) == expected_sse(server, mode, kms_key, ckey)  # full ARN, no context

    head = s3.head_object(Bucket=bucket, Key="obj", **read_args(mode, ckey))
    assert head["ContentLength"] == size
    assert head["ETag"] == put["ETag"]
    assert sse_headers(head) == expected_sse(server, mode, kms_key, ckey)


@pytest.mark.parametrize("size", [0, 65536, 65537, 2 * MiB + 1])
@pytest.mark.parametrize("mode", ["default", "sse-s3", "kms-key-arn", "dsse"])
def test_round_trip_over_http(server: KeyholdServer, kms_key: dict[str, Any], mode: str, size: int) -> None:
    """Plain HTTP: boto3 sends the body in one piece with its checksum up front, not aws-chunked."""
    s3 = server.s3()
    bucket = new_bucket(s3)
    data = body(size, "http")
    put = s3.put_object(Bucket=bucket, Key="obj", Body=data, **put_args(mode, kms_key, b""))
    check_put_response(server, mode, put, bucket, "obj", kms_key=kms_key, ckey=b"")
    assert get_bytes(s3, bucket, "obj") == data


def test_objects_without_sse_headers_get_sse_s3(server: KeyholdServer, s3: Any) -> None:
    """AWS applies SSE-S3 to every object since 2023: no headers, no bucket default -> AES256, ETag the MD5."""
    bucket = new_bucket(s3)
    data = body(1000)
    put = s3.put_object(Bucket=bucket, Key="plain", Body=data)
    assert put["ServerSideEncryption"] == "AES256"
    assert put["ETag"].strip('"') == md5_hex(data)
    envelope = object_row(server, bucket, "plain")["encryption"]
    assert envelope["mode"] == "AES256"
    assert envelope["s3_key_id"]
    assert envelope["s3_wrapped"]
    assert "kms_key_arn" not in envelope  # the Keyhold-owned key is not a KMS key the customer can see


def test_every_sse_s3_object_gets_its_own_data_key(server: KeyholdServer, s3: Any) -> None:
    bucket = new_bucket(s3)
    data = body(100)
    for key in ("a", "b"):
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    first, second = (object_row(server, bucket, key)["encryption"] for key in ("a", "b"))
    assert first["s3_key_id"] == second["s3_key_id"]  # the same Keyhold-owned key ...
    assert first["s3_wrapped"] != second["s3_wrapped"]  # ... wraps a different data key for each object
    blobs = [blob_path(server, blob_ids(server, bucket, key)[0]).read_bytes() for key in ("a", "b")]
    assert blobs[0][HEADER:] != blobs[1][HEADER:]  # the same plaintext, different ciphertext


def test_sse_kms_custom_context_is_kept_and_replayed(server: KeyholdServer, s3: Any, kms_key: dict[str, Any]) -> None:
    bucket = new_bucket(s3)
    context = {"project": "keyhold", "tier": "gold"}
    data = body(70000, "context")
    put = s3.put_object(
        Bucket=bucket,
        Key="dir/with context",
        Body=data,
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=kms_key["KeyId"],
        SSEKMSEncryptionContext=encode_context(context),
    )
    assert decode_context(put["SSEKMSEncryptionContext"]) == {
        **context,
        "aws:s3:arn": object_arn(bucket, "dir/with context"),
    }
    assert put["SSEKMSKeyId"] == kms_key["Arn"]
    got = s3.get_object(Bucket=bucket, Key="dir/with context")  # the context is not needed to read
    assert got["Body"].read() == data
    assert CONTEXT_HEADER not in headers_of(got)
    assert CONTEXT_HEADER not in headers_of(s3.head_object(Bucket=bucket, Key="dir/with context"))
    stored = object_row(server, bucket, "dir/with context")["encryption"]
    assert stored["context"] == {**context, "aws:s3:arn": object_arn(bucket, "dir/with context")}


def test_dsse_adds_a_second_independent_layer(server: KeyholdServer, s3: Any, kms_key: dict[str, Any]) -> None:
    bucket = new_bucket(s3)
    size = 3 * CHUNK + 5
    data = body(size, "dsse")
    for key, mode in (("kms", "kms-key-id"), ("dsse", "dsse")):
        s3.put_object(Bucket=bucket, Key=key, Body=data, **put_args(mode, kms_key, b""))
    chunks = 4
    kms_blob = blob_path(server, blob_ids(server, bucket, "kms")[0])
    dsse_blob = blob_path(server, blob_ids(server, bucket, "dsse")[0])
    assert kms_blob.stat().st_size == HEADER + size + chunks * TAG  # one tag per chunk
    assert dsse_blob.stat().st_size == HEADER + size + chunks * 2 * TAG  # two layers, two tags per chunk
    envelope = object_row(server, bucket, "dsse")["encryption"]
    assert envelope["mode"] == "aws:kms:dsse"
    assert envelope["kms_key_arn"] == kms_key["Arn"]  # inner layer: a KMS data key
    assert envelope["kms_wrapped"]
    assert envelope["s3_key_id"]  # outer layer: an independent S3-owned data key
    assert envelope["s3_wrapped"]
    assert get_bytes(s3, bucket, "dsse") == data


def test_sse_kms_calls_kms_as_the_caller_via_s3(server: KeyholdServer) -> None:
    """KMS decides with the caller's identity, through s3.<region>.amazonaws.com: the AWS managed key aws/s3
    lets any principal of the account use it that way, and only that way."""
    root_s3 = server.s3()
    bucket = new_bucket(root_s3)
    s3_only = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    name, user_kms = make_user(server, s3_only)
    access = server.client("iam").create_access_key(UserName=name)["AccessKey"]
    user_s3 = server.s3(aws_access_key_id=access["AccessKeyId"], aws_secret_access_key=access["SecretAccessKey"])

    put = user_s3.put_object(Bucket=bucket, Key="managed", Body=b"via s3", ServerSideEncryption="aws:kms")
    assert put["SSEKMSKeyId"] == managed_key_arn(server)
    assert get_bytes(user_s3, bucket, "managed") == b"via s3"
    # Directly, without kms:ViaService, the same user may not use the key.
    status, code, _ = fails_with(user_kms.generate_data_key, KeyId="alias/aws/s3", KeySpec="AES_256")
    assert (status, code) == (400, "AccessDeniedException")


# -- ranged reads --------------------------------------------------------------------------------------------------

RANGES = [
    (0, 0),
    (0, CHUNK - 1),
    (CHUNK - 1, CHUNK),
    (CHUNK, 2 * CHUNK - 1),
    (CHUNK + 1, 5 * CHUNK + 3),
    (1_000_000, 2_000_000),
]


@pytest.mark.parametrize("mode", ["sse-s3", "kms-key-id", "dsse", "sse-c"])
def test_ranged_reads_across_chunk_boundaries(
    server: KeyholdServer, s3: Any, kms_key: dict[str, Any], mode: str
) -> None:
    bucket = new_bucket(s3)
    ckey = customer_key()
    size = 3 * MiB + 7
    data = body(size, "ranges")
    s3.put_object(Bucket=bucket, Key="obj", Body=data, **put_args(mode, kms_key, ckey))
    ranges = [*RANGES, (size - 1, size - 1), (size - CHUNK - 1, size - 1)]
    for start, end in ranges:
        got = s3.get_object(Bucket=bucket, Key="obj", Range=f"bytes={start}-{end}", **read_args(mode, ckey))
        assert got["Body"].read() == data[start : end + 1], (start, end)
        assert got["ContentRange"] == f"bytes {start}-{end}/{size}"
        assert sse_headers(got) == expected_sse(server, mode, kms_key, ckey)
    suffix = s3.get_object(Bucket=bucket, Key="obj", Range="bytes=-100", **read_args(mode, ckey))
    assert suffix["Body"].read() == data[-100:]
    open_ended = s3.get_object(Bucket=bucket, Key="obj", Range=f"bytes={size - CHUNK}-", **read_args(mode, ckey))
    assert open_ended["Body"].read() == data[size - CHUNK :]


# -- multipart uploads ---------------------------------------------------------------------------------------------

PART = 5 * MiB + 1


@pytest.mark.parametrize("mode", ["default", "sse-s3", "kms-key-arn", "kms-managed", "dsse", "sse-c"])
def test_multipart_round_trip(server: KeyholdServer, s3: Any, kms_key: dict[str, Any], mode: str) -> None:
    bucket = new_bucket(s3)
    ckey = customer_key()
    parts = [body(PART, "p1"), body(PART, "p2"), body(CHUNK + 1, "p3")]
    data = b"".join(parts)
    created = s3.create_multipart_upload(Bucket=bucket, Key="big", **put_args(mode, kms_key, ckey))
    check_put_response(server, mode, created, bucket, "big", kms_key=kms_key, ckey=ckey)
    upload_id = created["UploadId"]
    want = expected_sse(server, mode, kms_key, ckey)
    etags = []
    for number, part in enumerate(parts, 1):
        uploaded = s3.upload_part(
            Bucket=bucket, Key="big", UploadId=upload_id, PartNumber=number, Body=part, **read_args(mode, ckey)
        )
        assert sse_headers(uploaded) == want
        etags.append(uploaded["ETag"])
    completed = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="big",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
        **read_args(mode, ckey),
    )
    assert completed["ETag"].strip('"').endswith("-3")
    # CompleteMultipartUpload: SSE, key id and bucket key only, never the customer headers or a context.
    complete_want = {k: v for k, v in want.items() if k in (SSE_HEADER, KMS_KEY_HEADER)}
    assert sse_headers(completed) == complete_want

    head = s3.head_object(Bucket=bucket, Key="big", **read_args(mode, ckey))
    assert head["ContentLength"] == len(data)
    assert sse_headers(head) == want
    assert get_bytes(s3, bucket, "big", **read_args(mode, ckey)) == data
    for start, end in [(PART - 1, PART), (PART - CHUNK, PART + CHUNK), (2 * PART - 1, 2 * PART + CHUNK)]:
        got = get_bytes(s3, bucket, "big", Range=f"bytes={start}-{end}", **read_args(mode, ckey))
        assert got == data[start : end + 1], (start, end)


def test_multipart_sse_c_parts_must_repeat_the_same_key(s3: Any) -> None:
    bucket = new_bucket(s3)
    ckey = customer_key()
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp", **ssec(ckey))["UploadId"]
    part = {"Bucket": bucket, "Key": "mp", "UploadId": upload_id, "PartNumber": 1, "Body": b"x" * 100}
    status, code, message = fails_with(s3.upload_part, **part)
    assert (status, code) == (400, "InvalidRequest")
    assert "Subsequent part requests must include the appropriate encryption parameters" in message
    status, code, message = fails_with(s3.upload_part, **part, **ssec(customer_key()))
    assert (status, code) == (400, "InvalidRequest")
    assert message == "The provided encryption parameters did not match the ones used originally."
    ok = s3.upload_part(**part, **ssec(ckey))
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": ok["ETag"]}]}
    )
    assert get_bytes(s3, bucket, "mp", **ssec(ckey)) == b"x" * 100


def test_upload_part_copy_between_modes(s3: Any, kms_key: dict[str, Any]) -> None:
    """UploadPartCopy decrypts the source with its own key (the copy-source SSE-C trio) and encrypts the part
    under the upload's."""
    bucket = new_bucket(s3)
    source_key, dest_key = customer_key(), customer_key()
    data = body(PART + 10, "source")
    s3.put_object(Bucket=bucket, Key="src", Body=data, **ssec(source_key))
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst", **ssec(dest_key))["UploadId"]
    common = {"Bucket": bucket, "Key": "dst", "UploadId": upload_id, "CopySource": f"{bucket}/src"}
    status, code, _ = fails_with(s3.upload_part_copy, PartNumber=1, **common, **ssec(dest_key))
    assert (status, code) == (400, "InvalidRequest")  # the source's key is missing
    status, code, _ = fails_with(
        s3.upload_part_copy, PartNumber=1, **common, **ssec(dest_key), **copy_source_ssec(customer_key())
    )
    assert (status, code) == (403, "AccessDenied")  # the source's key is wrong
    status, code, _ = fails_with(s3.upload_part_copy, PartNumber=1, **common, **copy_source_ssec(source_key))
    assert (status, code) == (400, "InvalidRequest")  # the upload's key is missing
    first = s3.upload_part_copy(
        PartNumber=1, CopySourceRange=f"bytes=0-{PART - 1}", **common, **ssec(dest_key), **copy_source_ssec(source_key)
    )
    second = s3.upload_part_copy(
        PartNumber=2,
        CopySourceRange=f"bytes={PART}-{PART + 9}",
        **common,
        **ssec(dest_key),
        **copy_source_ssec(source_key),
    )
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="dst",
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
                {"PartNumber": 2, "ETag": second["CopyPartResult"]["ETag"]},
            ]
        },
    )
    assert get_bytes(s3, bucket, "dst", **ssec(dest_key)) == data


# -- CopyObject ----------------------------------------------------------------------------------------------------

COPY_SOURCES = ["sse-s3", "kms-key-id", "dsse", "sse-c"]
COPY_TARGETS = ["default", "sse-s3", "kms-key-id", "kms-managed", "dsse", "sse-c"]


@pytest.mark.parametrize("source_mode", COPY_SOURCES)
def test_copy_matrix(server: KeyholdServer, s3: Any, kms_key: dict[str, Any], source_mode: str) -> None:
    """CopyObject re-encrypts in any direction; with no SSE headers the destination gets SSE-S3 (as on AWS)."""
    bucket = new_bucket(s3)
    source_ckey = customer_key()
    data = body(CHUNK + 17, source_mode)
    s3.put_object(Bucket=bucket, Key="src", Body=data, **put_args(source_mode, kms_key, source_ckey))
    source_read = copy_source_ssec(source_ckey) if source_mode == "sse-c" else {}
    for target_mode in COPY_TARGETS:
        ckey = customer_key()
        target = f"to-{target_mode}"
        copied = s3.copy_object(
            Bucket=bucket,
            Key=target,
            CopySource={"Bucket": bucket, "Key": "src"},
            **put_args(target_mode, kms_key, ckey),
            **source_read,
        )
        check_put_response(server, target_mode, copied, bucket, target, kms_key=kms_key, ckey=ckey)
        check_etag(target_mode, copied["CopyObjectResult"]["ETag"], data)
        got = s3.get_object(Bucket=bucket, Key=target, **read_args(target_mode, ckey))
        assert got["Body"].read() == data, (source_mode, target_mode)
        assert sse_headers(got) == expected_sse(server, target_mode, kms_key, ckey)


def test_copy_with_custom_context(s3: Any, kms_key: dict[str, Any]) -> None:
    bucket = new_bucket(s3)
    s3.put_object(Bucket=bucket, Key="src", Body=b"context copy")
    context = {"department": "finance"}
    copied = s3.copy_object(
        Bucket=bucket,
        Key="dst",
        CopySource={"Bucket": bucket, "Key": "src"},
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=kms_key["Alias"],
        SSEKMSEncryptionContext=encode_context(context),
    )
    assert copied["SSEKMSKeyId"] == kms_key["Arn"]
    assert decode_context(copied["SSEKMSEncryptionContext"]) == {**context, "aws:s3:arn": object_arn(bucket, "dst")}
    assert get_bytes(s3, bucket, "dst") == b"context copy"


def test_copy_onto_itself_changes_the_sse_c_key(s3: Any) -> None:
    """A same-object copy with new encryption is how an SSE-C key is rotated; without a change it is refused."""
    bucket = new_bucket(s3)
    old, new = customer_key(), customer_key()
    s3.put_object(Bucket=bucket, Key="obj", Body=b"rotate me", **ssec(old))
    source = {"Bucket": bucket, "Key": "obj"}
    s3.copy_object(Bucket=bucket, Key="obj", CopySource=source, **copy_source_ssec(old), **ssec(new))
    assert get_bytes(s3, bucket, "obj", **ssec(new)) == b"rotate me"
    assert fails_with(s3.get_object, Bucket=bucket, Key="obj", **ssec(old))[:2] == (403, "AccessDenied")

    s3.put_object(Bucket=bucket, Key="same", Body=b"x")
    status, code, message = fails_with(s3.copy_object, Bucket=bucket, Key="same", CopySource=f"{bucket}/same")
    assert (status, code) == (400, "InvalidRequest")
    assert "copy an object to itself" in message
    s3.copy_object(Bucket=bucket, Key="same", CopySource=f"{bucket}/same", ServerSideEncryption="aws:kms")
    assert s3.head_object(Bucket=bucket, Key="same")["ServerSideEncryption"] == "aws:kms"


def test_unencrypted_objects_on_a_server_without_object_encryption(make_server: Any) -> None:
    """--object-encryption off (benchmark baselines): objects without SSE headers are stored as sent, and copy
    to and from them works in every direction."""
    plain_server: KeyholdServer = make_server("plain", extra_args=("--object-encryption", "off"))
    with closing(plain_server.s3(secure=True)) as s3:
        check_unencrypted_copies(plain_server, s3)


def check_unencrypted_copies(plain_server: KeyholdServer, s3: Any) -> None:
    bucket = new_bucket(s3)
    data = body(CHUNK + 3, "plain")
    put = s3.put_object(Bucket=bucket, Key="plain", Body=data)
    assert sse_headers(put) == {}
    assert put["ETag"].strip('"') == md5_hex(data)
    assert blob_path(plain_server, blob_ids(plain_server, bucket, "plain")[0]).read_bytes() == data
    key = new_key(plain_server.client("kms"))
    ckey = customer_key()
    for mode, args in {
        "none": {},
        "sse-s3": {"ServerSideEncryption": "AES256"},
        "kms": {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key["KeyId"]},
        "sse-c": ssec(ckey),
    }.items():
        s3.copy_object(Bucket=bucket, Key=mode, CopySource=f"{bucket}/plain", **args)
        assert get_bytes(s3, bucket, mode, **(ssec(ckey) if mode == "sse-c" else {})) == data
        back = s3.copy_object(
            Bucket=bucket,
            Key=f"{mode}-back",
            CopySource=f"{bucket}/{mode}",
            **(copy_source_ssec(ckey) if mode == "sse-c" else {}),
        )
        assert sse_headers(back) == {}
        assert get_bytes(s3, bucket, f"{mode}-back") == data


# -- bucket default encryption -------------------------------------------------------------------------------------


def rule(algorithm: str, key_id: str | None = None, bucket_key: bool = False, blocked: list[str] | None = None) -> Any:
    default: dict[str, str] = {"SSEAlgorithm": algorithm}
    if key_id is not None:
        default["KMSMasterKeyID"] = key_id
    found: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": bucket_key}
    if blocked is not None:
        found["BlockedEncryptionTypes"] = {"EncryptionType": blocked}
    return {"Rules": [found]}


def test_fresh_bucket_reports_the_implicit_aes256_rule(s3: Any) -> None:
    bucket = new_bucket(s3)
    config = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert config == {
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}]
    }


def test_put_get_delete_bucket_encryption(server: KeyholdServer, s3: Any, kms_key: dict[str, Any]) -> None:
    bucket = new_bucket(s3)
    config = rule("aws:kms", kms_key["Arn"], bucket_key=True, blocked=["SSE-C"])
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=config)
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"] == config

    deleted = s3.delete_bucket_encryption(Bucket=bucket)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"] == rule("AES256")
    again = s3.delete_bucket_encryption(Bucket=bucket)  # nothing set: still 204
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 204
    put = s3.put_object(Bucket=bucket, Key="after", Body=b"x")
    assert sse_headers(put) == {SSE_HEADER: "AES256"}


@pytest.mark.parametrize(
    ("algorithm", "key_form", "bucket_key"),
    [
        ("AES256", None, False),
        ("aws:kms", None, False),
        ("aws:kms", "KeyId", False),
        ("aws:kms", "Alias", True),
        ("aws:kms", "AliasArn", False),
        ("aws:kms:dsse", "Arn", False),
    ],
)
def test_bucket_default_applies_to_put_copy_and_multipart(
    server: KeyholdServer, s3: Any, kms_key: dict[str, Any], algorithm: str, key_form: str | None, bucket_key: bool
) -> None:
    bucket = new_bucket(s3)
    key_id = kms_key[key_form] if key_form else None
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=rule(algorithm, key_id, bucket_key))
    want = {SSE_HEADER: algorithm}
    if algorithm != "AES256":
        want[KMS_KEY_HEADER] = kms_key["Arn"] if key_form else managed_key_arn(server)
    if bucket_key:
        want[BUCKET_KEY_HEADER] = "true"

    def sse_of(response: dict[str, Any]) -> dict[str, str]:
        found = sse_headers(response)
        found.pop(CONTEXT_HEADER, None)
        return found

    data = body(CHUNK + 1, "default")
    assert sse_of(s3.put_object(Bucket=bucket, Key="put", Body=data)) == want
    assert sse_of(s3.head_object(Bucket=bucket, Key="put")) == want
    assert get_bytes(s3, bucket, "put") == data

    other = new_bucket(s3)
    s3.put_object(Bucket=other, Key="src", Body=data)
    assert sse_of(s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{other}/src")) == want
    assert sse_of(s3.head_object(Bucket=bucket, Key="copy")) == want
    assert get_bytes(s3, bucket, "copy") == data

    created = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    assert sse_of(created) == want
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=created["UploadId"], PartNumber=1, Body=data)
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=created["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert sse_of(s3.head_object(Bucket=bucket, Key="mp")) == want
    assert get_bytes(s3, bucket, "mp") == data


def test_request_headers_override_the_bucket_default(s3: Any, kms_key: dict[str, Any]) -> None:
    bucket = new_bucket(s3)
    s3.put_bucket_encryption(
        Bucket=bucket, ServerSideEncryptionConfiguration=rule("aws:kms", kms_key["KeyId"], bucket_key=True)
    )
    aes = s3.put_object(Bucket=bucket, Key="aes", Body=b"x", ServerSideEncryption="AES256")
    assert sse_headers(aes) == {SSE_HEADER: "AES256"}
    ckey = customer_key()
    customer = s3.put_object(Bucket=bucket, Key="ssec", Body=b"y", **ssec(ckey))
    assert sse_headers(customer) == {CUSTOMER_ALGORITHM_HEADER: "AES256", CUSTOMER_MD5_HEADER: key_md5(ckey)}
    assert get_bytes(s3, bucket, "ssec", **ssec(ckey)) == b"y"


# -- UpdateObjectEncryption ----------------------------------------------------------------------------------------


def snapshot(server: KeyholdServer, bucket: str, key: str) -> dict[str, bytes]:
    return {blob_id: blob_path(server, blob_id).read_bytes() for blob_id in blob_ids(server, bucket, key)}


def update_encryption(s3: Any, bucket: str, key: str, key_arn: str, bucket_key: bool | None = None) -> Any:
    sse_kms: dict[str, Any] = {"KMSKeyArn": key_arn}
    if bucket_key is not None:
        sse_kms["BucketKeyEnabled"] = bucket_key
    return s3.update_object_encryption(Bucket=bucket, Key=key, ObjectEncryption={"SSEKMS": sse_kms})


def test_update_object_encryption_rewraps_without_touching_the_data(server: KeyholdServer, s3: Any) -> None:
    assert "UpdateObjectEncryption" in s3.meta.service_model.operation_names
    kms = server.client("kms")
    first, second = new_key(kms), new_key(kms)
    bucket = new_bucket(s3)
    data = body(3 * CHUNK + 9, "rewrap")
    put = s3.put_object(Bucket=bucket, Key="obj", Body=data)  # SSE-S3
    before = snapshot(server, bucket, "obj")

    update_encryption(s3, bucket, "obj", first["Arn"])
    head = s3.head_object(Bucket=bucket, Key="obj")
    assert sse_headers(head) == {SSE_HEADER: "aws:kms", KMS_KEY_HEADER: first["Arn"]}
    assert head["ETag"] == put["ETag"]  # ETag and data stay as they were
    assert snapshot(server, bucket, "obj") == before
    assert get_bytes(s3, bucket, "obj") == data

    update_encryption(s3, bucket, "obj", second["Arn"], bucket_key=True)
    head = s3.head_object(Bucket=bucket, Key="obj")
    assert sse_headers(head) == {SSE_HEADER: "aws:kms", KMS_KEY_HEADER: second["Arn"], BUCKET_KEY_HEADER: "true"}
    assert snapshot(server, bucket, "obj") == before
    # The data key is now kept only under the second key: the first one is no longer needed.
    kms.disable_key(KeyId=first["KeyId"])
    assert get_bytes(s3, bucket, "obj") == data

    update_encryption(s3, bucket, "obj", second["Arn"], bucket_key=False)
    assert BUCKET_KEY_HEADER not in headers_of(s3.head_object(Bucket=bucket, Key="obj"))
    assert snapshot(server, bucket, "obj") == before
    assert get_bytes(s3, bucket, "obj") == data


def test_update_object_encryption_of_a_multipart_object(server: KeyholdServer, s3: Any) -> None:
    key = new_key(server.client("kms"))
    bucket = new_bucket(s3)
    parts = [body(PART, "u1"), body(100, "u2")]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp", ServerSideEncryption="aws:kms")["UploadId"]
    etags = [
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=n, Body=p)["ETag"]
        for n, p in enumerate(parts, 1)
    ]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    before = snapshot(server, bucket, "mp")
    update_encryption(s3, bucket, "mp", key["Arn"])
    assert s3.head_object(Bucket=bucket, Key="mp")["SSEKMSKeyId"] == key["Arn"]
    assert snapshot(server, bucket, "mp") == before
    assert get_bytes(s3, bucket, "mp") == b"".join(parts)


def test_update_object_encryption_refusals(server: KeyholdServer, s3: Any, kms_key: dict[str, Any]) -> None:
    bucket = new_bucket(s3)
    ckey = customer_key()
    s3.put_object(Bucket=bucket, Key="ssec", Body=b"c", **ssec(ckey))
    s3.put_object(Bucket=bucket, Key="dsse", Body=b"d", ServerSideEncryption="aws:kms:dsse")
    s3.put_object(Bucket=bucket, Key="kms", Body=b"k", ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key["KeyId"])
    for key in ("ssec", "dsse"):
        before = object_row(server, bucket, key)
        status, code, _ = fails_with(update_encryption, s3=s3, bucket=bucket, key=key, key_arn=kms_key["Arn"])
        assert (status, code) == (400, "InvalidRequest"), key
        assert object_row(server, bucket, key) == before
    status, code, _ = fails_with(update_encryption, s3=s3, bucket=bucket, key="missing", key_arn=kms_key["Arn"])
    assert (status, code) == (404, "NoSuchKey")
    status, code, _ = fails_with(update_encryption, s3=s3, bucket=bucket, key="kms", key_arn=kms_key["KeyId"])
    assert (status, code) == (400, "InvalidRequest")  # a key id is not a key ARN

    kms = server.client("kms")
    unknown = kms_key["Arn"].replace(kms_key["KeyId"], "00000000-0000-4000-8000-000000000000")
    status, code, _ = fails_with(update_encryption, s3=s3, bucket=bucket, key="kms", key_arn=unknown)
    assert (status, code) == (400, "KMS.NotFoundException")
    disabled = new_key(kms)
    kms.disable_key(KeyId=disabled["KeyId"])
    status, code, _ = fails_with(update_encryption, s3=s3, bucket=bucket, key="kms", key_arn=disabled["Arn"])
    assert (status, code) == (400, "KMS.DisabledException")
    # Nothing changed after the refusals.
    assert s3.head_object(Bucket=bucket, Key="kms")["SSEKMSKeyId"] == kms_key["Arn"]
    assert get_bytes(s3, bucket, "kms") == b"k"


def test_update_object_encryption_refuses_unencrypted_objects(make_server: Any) -> None:
    plain_server: KeyholdServer = make_server("plain", extra_args=("--object-encryption", "off"))
    s3 = plain_server.s3()
    bucket = new_bucket(s3)
    s3.put_object(Bucket=bucket, Key="plain", Body=b"p")
    key = new_key(plain_server.client("kms"))
    status, code, _ = fails_with(update_encryption, s3=s3, bucket=bucket, key="plain", key_arn=key["Arn"])
    assert (status, code) == (400, "InvalidRequest")
    assert sse_headers(s3.head_object(Bucket=bucket, Key="plain")) == {}


def test_stored_envelope_names_the_key_and_context(server: KeyholdServer, s3: Any, kms_key: dict[str, Any]) -> None:
    """What the metadata row keeps for SSE-KMS: the key ARN, the whole context and the wrapped data key; for
    SSE-C only a salted check value, never the key or its MD5."""
    bucket = new_bucket(s3)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key["Alias"])
    envelope = object_row(server, bucket, "k")["encryption"]
    assert envelope["mode"] == "aws:kms"
    assert envelope["kms_key_arn"] == kms_key["Arn"]
    assert envelope["context"] == {"aws:s3:arn": object_arn(bucket, "k")}
    ckey = customer_key()
    s3.put_object(Bucket=bucket, Key="c", Body=b"x", **ssec(ckey))
    row = object_row(server, bucket, "c")
    assert row["encryption"]["mode"] == "SSE-C"
    assert set(row["encryption"]) >= {"salt", "customer_key_check", "sealed_key"}
    text = json.dumps(row)
    assert key_md5(ckey) not in text
    assert md5_hex(ckey) not in text

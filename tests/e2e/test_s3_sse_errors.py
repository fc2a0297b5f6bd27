"""The S3 SSE error table (../shared/reference/s3-sse.md 1.8), row by row, through a real `keyhold serve` and
boto3, on every operation a row applies to; then the KMS key states and policies that make SSE-KMS fail."""

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from support.kms import make_user, new_key
from support.s3 import (
    body,
    closing,
    copy_source_ssec,
    customer_key,
    encode_context,
    fails_with,
    get_bytes,
    key_md5,
    new_bucket,
    ssec,
)
from support.server import KeyholdServer

MSG_INCOMPATIBLE = (
    "Server Side Encryption with Customer provided key is incompatible with the encryption method specified"
)
MSG_NO_ALGORITHM = (
    "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm."
)
MSG_NO_KEY = (
    "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key."
)
MSG_BAD_KEY = "The secret key was invalid for the specified algorithm."
MSG_MD5 = "The calculated MD5 hash of the key did not match the hash that was provided."
MSG_ALGORITHM = "The encryption request you specified is not valid. Supported value: AES256."
MSG_KEY_MISSING = (
    "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to "
    "retrieve the object."
)
MSG_KEY_WRONG = (
    "Requests specifying Server Side Encryption with Customer provided keys must provide the correct secret key."
)
MSG_OVER_HTTP = (
    "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection."
)


@pytest.fixture(scope="module")
def s3(server: KeyholdServer) -> Iterator[Any]:
    with closing(server.s3(secure=True)) as client:
        yield client


@pytest.fixture(scope="module")
def target(s3: Any) -> dict[str, Any]:
    """A bucket with an SSE-C object, an empty SSE-C object, an SSE-S3 object and an SSE-C multipart upload."""
    bucket = new_bucket(s3)
    key = customer_key()
    s3.put_object(Bucket=bucket, Key="ssec", Body=body(70000), **ssec(key))
    s3.put_object(Bucket=bucket, Key="empty", Body=b"", **ssec(key))
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="upload", **ssec(key))["UploadId"]
    return {"bucket": bucket, "key": key, "upload_id": upload_id}


def with_headers(client: Any, operation: str, headers: dict[str, str]) -> None:
    """Add raw headers to every ``operation`` request of ``client`` before it is signed (for headers boto3 has
    no parameter for)."""

    def add(request: Any, **_: Any) -> None:
        for name, value in headers.items():
            request.headers[name] = value

    client.meta.events.register(f"before-sign.s3.{operation}", add)


# -- the SSE-C parameter rows, on every operation that takes SSE-C parameters --------------------------------------

SSE_C_ROWS = {
    # name: (parameters, status, code, message)
    "key-without-algorithm": (lambda k: {"SSECustomerKey": k}, 400, "InvalidArgument", MSG_NO_ALGORITHM),
    "algorithm-without-key": (lambda k: {"SSECustomerAlgorithm": "AES256"}, 400, "InvalidArgument", MSG_NO_KEY),
    "key-not-32-bytes": (
        lambda k: {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": k[:16]},
        400,
        "InvalidArgument",
        MSG_BAD_KEY,
    ),
    "md5-mismatch": (
        lambda k: {
            "SSECustomerAlgorithm": "AES256",
            "SSECustomerKey": base64.b64encode(k).decode(),
            "SSECustomerKeyMD5": key_md5(bytes(reversed(k))),
        },
        400,
        "InvalidArgument",
        MSG_MD5,
    ),
    "algorithm-not-aes256": (
        lambda k: {"SSECustomerAlgorithm": "AES128", "SSECustomerKey": k},
        400,
        "InvalidEncryptionAlgorithmError",
        MSG_ALGORITHM,
    ),
}


def operations(s3: Any, target: dict[str, Any]) -> dict[str, Callable[[dict[str, Any]], Any]]:
    """Each operation that takes the SSE-C trio, called with the given SSE-C parameters."""
    bucket, key = target["bucket"], target["key"]

    def copy_source(p: dict[str, Any]) -> Any:
        renamed = {f"CopySource{name}": value for name, value in p.items()}
        return s3.copy_object(Bucket=bucket, Key="new", CopySource=f"{bucket}/ssec", **renamed)

    def part_copy_source(p: dict[str, Any]) -> Any:
        renamed = {f"CopySource{name}": value for name, value in p.items()}
        return s3.upload_part_copy(
            Bucket=bucket,
            Key="upload",
            UploadId=target["upload_id"],
            PartNumber=1,
            CopySource=f"{bucket}/ssec",
            **renamed,
            **ssec(key),
        )

    return {
        "PutObject": lambda p: s3.put_object(Bucket=bucket, Key="new", Body=b"x", **p),
        "CreateMultipartUpload": lambda p: s3.create_multipart_upload(Bucket=bucket, Key="new", **p),
        "CopyObject destination": lambda p: s3.copy_object(Bucket=bucket, Key="new", CopySource=f"{bucket}/plain", **p),
        "CopyObject source": copy_source,
        "GetObject": lambda p: s3.get_object(Bucket=bucket, Key="ssec", **p),
        "GetObject range": lambda p: s3.get_object(Bucket=bucket, Key="ssec", Range="bytes=10-20", **p),
        "HeadObject": lambda p: s3.head_object(Bucket=bucket, Key="ssec", **p),
        "UploadPart": lambda p: s3.upload_part(
            Bucket=bucket, Key="upload", UploadId=target["upload_id"], PartNumber=1, Body=b"x", **p
        ),
        "UploadPartCopy source": part_copy_source,
    }


OPERATIONS = [
    "PutObject",
    "CreateMultipartUpload",
    "CopyObject destination",
    "CopyObject source",
    "GetObject",
    "GetObject range",
    "HeadObject",
    "UploadPart",
    "UploadPartCopy source",
]


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("row", list(SSE_C_ROWS))
def test_sse_c_parameter_errors(s3: Any, target: dict[str, Any], row: str, operation: str) -> None:
    make_params, status, code, message = SSE_C_ROWS[row]
    call = operations(s3, target)[operation]
    got_status, got_code, got_message = fails_with(call, p=make_params(customer_key()))
    assert got_status == status
    if operation != "HeadObject":  # a HEAD answer has no body, so no code
        assert (got_code, got_message) == (code, message)


@pytest.mark.parametrize("algorithm", ["AES256", "aws:kms", "aws:kms:dsse"])
@pytest.mark.parametrize("operation", ["PutObject", "CreateMultipartUpload", "CopyObject destination"])
def test_sse_c_with_server_side_encryption_is_incompatible(
    s3: Any, target: dict[str, Any], algorithm: str, operation: str
) -> None:
    call = operations(s3, target)[operation]
    params = {**ssec(customer_key()), "ServerSideEncryption": algorithm}
    assert fails_with(call, p=params) == (400, "InvalidArgument", MSG_INCOMPATIBLE)


# -- reading an SSE-C object without its key, or with the wrong one ------------------------------------------------

READS = ["GetObject", "GetObject range", "HeadObject", "CopyObject source", "UploadPartCopy source"]


@pytest.mark.parametrize("obj", ["ssec", "empty"])
@pytest.mark.parametrize("operation", READS)
def test_sse_c_object_without_key_is_400_and_with_wrong_key_403(
    s3: Any, target: dict[str, Any], operation: str, obj: str
) -> None:
    """Zero-byte objects too: the key is checked before there is anything to decrypt."""
    bucket, key = target["bucket"], target["key"]
    prefix = "CopySource" if "source" in operation else ""
    no_key: dict[str, Any] = {}
    wrong = {f"{prefix}{name}": value for name, value in ssec(customer_key()).items()}
    right = {f"{prefix}{name}": value for name, value in ssec(key).items()}
    calls: dict[str, Callable[[dict[str, Any]], Any]] = {
        "GetObject": lambda p: s3.get_object(Bucket=bucket, Key=obj, **p),
        "GetObject range": lambda p: s3.get_object(Bucket=bucket, Key=obj, Range="bytes=0-10", **p),
        "HeadObject": lambda p: s3.head_object(Bucket=bucket, Key=obj, **p),
        "CopyObject source": lambda p: s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/{obj}", **p),
        "UploadPartCopy source": lambda p: s3.upload_part_copy(
            Bucket=bucket,
            Key="upload",
            UploadId=target["upload_id"],
            PartNumber=2,
            CopySource=f"{bucket}/{obj}",
            **p,
            **ssec(key),
        ),
    }
    call = calls[operation]
    status, code, message = fails_with(call, p=no_key)
    assert status == 400
    if operation != "HeadObject":
        assert (code, message) == ("InvalidRequest", MSG_KEY_MISSING)
    status, code, message = fails_with(call, p=wrong)
    assert status == 403
    if operation != "HeadObject":
        assert (code, message) == ("AccessDenied", MSG_KEY_WRONG)
    if operation != "GetObject range" or obj != "empty":  # an empty object has no byte 0
        call(right)


def test_sse_c_headers_on_an_object_without_sse_c_are_refused(s3: Any, target: dict[str, Any]) -> None:
    bucket = target["bucket"]
    status, code, message = fails_with(s3.get_object, Bucket=bucket, Key="plain", **ssec(customer_key()))
    assert (status, code) == (400, "InvalidRequest")
    assert "not applicable" in message
    assert fails_with(s3.head_object, Bucket=bucket, Key="plain", **ssec(customer_key()))[0] == 400


def test_multipart_sse_c_upload_part_without_or_with_another_key(s3: Any, target: dict[str, Any]) -> None:
    common = {"Bucket": target["bucket"], "Key": "upload", "UploadId": target["upload_id"], "PartNumber": 3}
    status, code, message = fails_with(s3.upload_part, Body=b"x", **common)
    assert (status, code) == (400, "InvalidRequest")
    assert message.startswith("The multipart upload initiate requested encryption.")
    status, code, message = fails_with(s3.upload_part, Body=b"x", **common, **ssec(customer_key()))
    assert (status, code, message) == (
        400,
        "InvalidRequest",
        "The provided encryption parameters did not match the ones used originally.",
    )
    s3.upload_part(Body=b"x", **common, **ssec(target["key"]))


# -- SSE-S3 / SSE-KMS header combinations --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"ServerSideEncryption": "AES256", "SSEKMSKeyId": "alias/aws/s3"},
        {"SSEKMSKeyId": "alias/aws/s3"},
        {"ServerSideEncryption": "AES256", "SSEKMSEncryptionContext": encode_context({"a": "b"})},
        {"ServerSideEncryption": "aes:kms"},
        {"ServerSideEncryption": "aws:fsx"},
        {"ServerSideEncryption": "aws:kms", "SSEKMSEncryptionContext": "not base64!"},
        {"ServerSideEncryption": "aws:kms", "SSEKMSEncryptionContext": base64.b64encode(b"[1, 2]").decode()},
        {"ServerSideEncryption": "aws:kms", "SSEKMSEncryptionContext": encode_context({"n": 1})},  # type: ignore[dict-item]
    ],
    ids=[
        "aes256-with-kms-key-id",
        "kms-key-id-alone",
        "aes256-with-context",
        "aes:kms",
        "aws:fsx",
        "context-not-base64",
        "context-not-an-object",
        "context-not-strings",
    ],
)
@pytest.mark.parametrize("operation", ["PutObject", "CreateMultipartUpload", "CopyObject destination"])
def test_invalid_sse_headers_on_writes(s3: Any, target: dict[str, Any], operation: str, params: Any) -> None:
    status, code, _ = fails_with(operations(s3, target)[operation], p=params)
    assert (status, code) == (400, "InvalidArgument")


@pytest.mark.parametrize(
    "headers",
    [
        {"x-amz-server-side-encryption": "AES256"},
        {"x-amz-server-side-encryption": "aws:kms"},
        {"x-amz-server-side-encryption-aws-kms-key-id": "alias/aws/s3"},
    ],
)
@pytest.mark.parametrize("operation", ["GetObject", "HeadObject"])
def test_sse_request_headers_on_reads_are_refused(
    server: KeyholdServer, target: dict[str, Any], operation: str, headers: dict[str, str]
) -> None:
    with closing(server.s3(secure=True)) as s3:
        with_headers(s3, operation, headers)
        call = s3.get_object if operation == "GetObject" else s3.head_object
        status, code, _ = fails_with(call, Bucket=target["bucket"], Key="plain")
    assert status == 400
    if operation == "GetObject":
        assert code == "InvalidArgument"


# -- SSE-C over plain HTTP -----------------------------------------------------------------------------------------


def test_sse_c_over_http_is_refused(server: KeyholdServer, target: dict[str, Any]) -> None:
    http = server.s3()
    bucket, key = target["bucket"], target["key"]
    for call, kwargs in (
        (http.put_object, {"Key": "http", "Body": b"x", **ssec(key)}),
        (http.create_multipart_upload, {"Key": "http", **ssec(key)}),
        (http.get_object, {"Key": "ssec", **ssec(key)}),
        (http.copy_object, {"Key": "http", "CopySource": f"{bucket}/ssec", **copy_source_ssec(key)}),
    ):
        assert fails_with(call, Bucket=bucket, **kwargs) == (400, "InvalidRequest", MSG_OVER_HTTP)
    assert fails_with(http.head_object, Bucket=bucket, Key="ssec", **ssec(key))[0] == 400
    assert fails_with(http.get_object, Bucket=bucket, Key="http")[:2] == (404, "NoSuchKey")  # nothing was written


def test_sse_c_over_http_when_allowed_for_test_rigs(make_server: Any) -> None:
    rig: KeyholdServer = make_server("rig", extra_args=("--allow-ssec-over-http",))
    http = rig.s3()
    bucket = new_bucket(http)
    key = customer_key()
    put = http.put_object(Bucket=bucket, Key="obj", Body=b"over http", **ssec(key))
    assert put["SSECustomerKeyMD5"] == key_md5(key)
    assert get_bytes(http, bucket, "obj", **ssec(key)) == b"over http"
    assert fails_with(http.get_object, Bucket=bucket, Key="obj", **ssec(customer_key()))[:2] == (403, "AccessDenied")


# -- SSE-C blocked by the bucket -----------------------------------------------------------------------------------


def test_sse_c_blocked_on_the_bucket_is_403(s3: Any) -> None:
    bucket = new_bucket(s3)
    key = customer_key()
    s3.put_object(Bucket=bucket, Key="before", Body=b"old", **ssec(key))
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain")
    config = {
        "Rules": [
            {
                "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                "BlockedEncryptionTypes": {"EncryptionType": ["SSE-C"]},
            }
        ]
    }
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=config)
    for call, kwargs in (
        (s3.put_object, {"Key": "new", "Body": b"x", **ssec(key)}),
        (s3.create_multipart_upload, {"Key": "new", **ssec(key)}),
        (s3.copy_object, {"Key": "new", "CopySource": f"{bucket}/plain", **ssec(key)}),
    ):
        status, code, _ = fails_with(call, Bucket=bucket, **kwargs)
        assert (status, code) == (403, "AccessDenied")
    # Existing SSE-C objects stay readable, and can be copied out of SSE-C.
    assert get_bytes(s3, bucket, "before", **ssec(key)) == b"old"
    s3.copy_object(Bucket=bucket, Key="decrypted", CopySource=f"{bucket}/before", **copy_source_ssec(key))
    assert get_bytes(s3, bucket, "decrypted") == b"old"
    config["Rules"][0]["BlockedEncryptionTypes"] = {"EncryptionType": ["NONE"]}
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=config)
    s3.put_object(Bucket=bucket, Key="new", Body=b"x", **ssec(key))
    assert get_bytes(s3, bucket, "new", **ssec(key)) == b"x"


# -- KMS key states ------------------------------------------------------------------------------------------------


@pytest.fixture
def kms(server: KeyholdServer) -> Any:
    return server.client("kms")


@pytest.mark.parametrize("form", ["KeyId", "Arn", "Alias", "AliasArn"])
def test_unknown_kms_key_is_kms_not_found(server: KeyholdServer, s3: Any, form: str) -> None:
    bucket = new_bucket(s3)
    missing = "00000000-0000-4000-8000-000000000001"
    key_id = {
        "KeyId": missing,
        "Arn": f"arn:aws:kms:{server.region}:{server.account_id}:key/{missing}",
        "Alias": "alias/no-such-alias",
        "AliasArn": f"arn:aws:kms:{server.region}:{server.account_id}:alias/no-such-alias",
    }[form]
    for call, kwargs in (
        (s3.put_object, {"Key": "k", "Body": b"x"}),
        (s3.create_multipart_upload, {"Key": "k"}),
    ):
        for algorithm in ("aws:kms", "aws:kms:dsse"):
            status, code, message = fails_with(
                call, Bucket=bucket, ServerSideEncryption=algorithm, SSEKMSKeyId=key_id, **kwargs
            )
            assert (status, code) == (400, "KMS.NotFoundException")
            assert key_id.rsplit("/", 1)[-1] in message
    assert fails_with(s3.get_object, Bucket=bucket, Key="k")[:2] == (404, "NoSuchKey")  # nothing was written


def kms_objects(s3: Any, key: dict[str, Any]) -> tuple[str, bytes]:
    """A bucket holding "kms", "dsse" and a multipart "mp" object under ``key``, and their contents."""
    bucket = new_bucket(s3)
    data = body(70000, key["KeyId"])
    for name, algorithm in (("kms", "aws:kms"), ("dsse", "aws:kms:dsse")):
        s3.put_object(Bucket=bucket, Key=name, Body=data, ServerSideEncryption=algorithm, SSEKMSKeyId=key["KeyId"])
    return bucket, data


def check_kms_failures(s3: Any, key: dict[str, Any], bucket: str, code: str) -> None:
    """PUT, GET, copy and multipart all fail with ``code`` while the key is unusable; HEAD needs no key."""
    args = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key["Arn"]}
    for name in ("kms", "dsse"):
        assert fails_with(s3.get_object, Bucket=bucket, Key=name)[:2] == (400, code), name
        assert fails_with(s3.get_object, Bucket=bucket, Key=name, Range="bytes=0-0")[:2] == (400, code)
        assert fails_with(s3.copy_object, Bucket=bucket, Key="copy", CopySource=f"{bucket}/{name}")[:2] == (400, code)
        assert s3.head_object(Bucket=bucket, Key=name)["SSEKMSKeyId"] == key["Arn"]
    assert fails_with(s3.put_object, Bucket=bucket, Key="new", Body=b"x", **args)[:2] == (400, code)
    dsse = {**args, "ServerSideEncryption": "aws:kms:dsse"}
    assert fails_with(s3.put_object, Bucket=bucket, Key="new", Body=b"x", **dsse)[:2] == (400, code)
    assert fails_with(s3.create_multipart_upload, Bucket=bucket, Key="new", **args)[:2] == (400, code)
    s3.put_object(Bucket=bucket, Key="plain", Body=b"p")
    assert fails_with(s3.copy_object, Bucket=bucket, Key="new", CopySource=f"{bucket}/plain", **args)[:2] == (
        400,
        code,
    )


def check_kms_works(s3: Any, key: dict[str, Any], bucket: str, data: bytes) -> None:
    for name in ("kms", "dsse"):
        assert get_bytes(s3, bucket, name) == data
    s3.put_object(Bucket=bucket, Key="new", Body=b"again", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["Arn"])
    assert get_bytes(s3, bucket, "new") == b"again"


def test_disabled_kms_key_then_enabled_again(s3: Any, kms: Any) -> None:
    key = new_key(kms)
    bucket, data = kms_objects(s3, key)
    upload_id = s3.create_multipart_upload(
        Bucket=bucket, Key="mp", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["KeyId"]
    )["UploadId"]
    kms.disable_key(KeyId=key["KeyId"])
    check_kms_failures(s3, key, bucket, "KMS.DisabledException")
    status, code, _ = fails_with(
        s3.upload_part, Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"part"
    )
    assert (status, code) == (400, "KMS.DisabledException")
    kms.enable_key(KeyId=key["KeyId"])
    check_kms_works(s3, key, bucket, data)
    s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"part")


def test_kms_key_pending_deletion_then_cancelled(s3: Any, kms: Any) -> None:
    key = new_key(kms)
    bucket, data = kms_objects(s3, key)
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    check_kms_failures(s3, key, bucket, "KMS.KMSInvalidStateException")
    kms.cancel_key_deletion(KeyId=key["KeyId"])  # leaves the key Disabled
    assert fails_with(s3.get_object, Bucket=bucket, Key="kms")[:2] == (400, "KMS.DisabledException")
    kms.enable_key(KeyId=key["KeyId"])
    check_kms_works(s3, key, bucket, data)


def test_bucket_default_with_a_disabled_key(s3: Any, kms: Any) -> None:
    key = new_key(kms)
    bucket = new_bucket(s3)
    config = {
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["Arn"]}}]
    }
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=config)
    kms.disable_key(KeyId=key["KeyId"])
    assert fails_with(s3.put_object, Bucket=bucket, Key="k", Body=b"x")[:2] == (400, "KMS.DisabledException")
    kms.enable_key(KeyId=key["KeyId"])
    assert s3.put_object(Bucket=bucket, Key="k", Body=b"x")["SSEKMSKeyId"] == key["Arn"]


def test_kms_is_always_configured(make_server: Any) -> None:
    """The 501 NotImplemented row (a server without KMS) cannot happen: KMS is built in. On a brand new server
    aws:kms without a key id creates and uses the AWS managed key aws/s3."""
    fresh: KeyholdServer = make_server("fresh")
    s3 = fresh.s3()
    bucket = new_bucket(s3)
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms")
    managed = fresh.client("kms").describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert managed["KeyManager"] == "AWS"
    assert put["SSEKMSKeyId"] == managed["Arn"]
    assert get_bytes(s3, bucket, "k") == b"x"


# -- KMS permissions -----------------------------------------------------------------------------------------------


def key_policy(server: KeyholdServer, *statements: dict[str, Any]) -> str:
    root = {
        "Sid": "root",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{server.account_id}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [root, *statements]})


def deny(server: KeyholdServer, actions: list[str], **extra: Any) -> dict[str, Any]:
    principal = {"AWS": f"arn:aws:iam::{server.account_id}:root"}
    return {"Effect": "Deny", "Principal": principal, "Action": actions, "Resource": "*", **extra}


def test_key_policy_denying_the_caller_is_access_denied(server: KeyholdServer, s3: Any, kms: Any) -> None:
    bucket = new_bucket(s3)
    key = new_key(kms)
    s3.put_object(Bucket=bucket, Key="old", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["KeyId"])
    policy = key_policy(server, deny(server, ["kms:GenerateDataKey", "kms:Decrypt"]))
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=policy, BypassPolicyLockoutSafetyCheck=True)
    status, code, message = fails_with(
        s3.put_object, Bucket=bucket, Key="new", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["KeyId"]
    )
    assert (status, code) == (403, "AccessDenied")
    assert "kms:GenerateDataKey" in message
    status, code, message = fails_with(s3.get_object, Bucket=bucket, Key="old")
    assert (status, code) == (403, "AccessDenied")
    assert "kms:Decrypt" in message


def test_key_policy_can_deny_use_through_s3_only(server: KeyholdServer, s3: Any, kms: Any) -> None:
    """kms:ViaService is s3.<region>.amazonaws.com when S3 calls KMS for the caller, and absent otherwise."""
    via_s3 = {"StringEquals": {"kms:ViaService": f"s3.{server.region}.amazonaws.com"}}
    statement = deny(server, ["kms:GenerateDataKey", "kms:Decrypt"], Condition=via_s3)
    key = new_key(kms, Policy=key_policy(server, statement), BypassPolicyLockoutSafetyCheck=True)
    bucket = new_bucket(s3)
    status, code, _ = fails_with(
        s3.put_object, Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["KeyId"]
    )
    assert (status, code) == (403, "AccessDenied")
    direct = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")  # the same caller, not via S3
    assert kms.decrypt(CiphertextBlob=direct["CiphertextBlob"])["Plaintext"] == direct["Plaintext"]


def test_iam_user_needs_kms_permissions_for_a_customer_key(server: KeyholdServer, s3: Any, kms: Any) -> None:
    key = new_key(kms)
    bucket = new_bucket(s3)
    s3.put_object(Bucket=bucket, Key="root", Body=b"r", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["KeyId"])
    s3_only = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    kms_too = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": key["Arn"]},
        ],
    }
    for policy, allowed in ((s3_only, False), (kms_too, True)):
        name, _ = make_user(server, policy)
        access = server.client("iam").create_access_key(UserName=name)["AccessKey"]
        user = server.s3(aws_access_key_id=access["AccessKeyId"], aws_secret_access_key=access["SecretAccessKey"])
        put = {
            "Bucket": bucket,
            "Key": name,
            "Body": b"u",
            "ServerSideEncryption": "aws:kms",
            "SSEKMSKeyId": key["Arn"],
        }
        if allowed:
            user.put_object(**put)
            assert get_bytes(user, bucket, "root") == b"r"
            assert get_bytes(user, bucket, name) == b"u"
        else:
            assert fails_with(user.put_object, **put)[:2] == (403, "AccessDenied")
            assert fails_with(user.get_object, Bucket=bucket, Key="root")[:2] == (403, "AccessDenied")
            user.put_object(Bucket=bucket, Key=f"{name}-sse-s3", Body=b"s")  # S3 itself is allowed

"""S3 Bucket Keys through a real `keyhold serve`, boto3 and the audit trail: with BucketKeyEnabled, KMS hands S3
one bucket-level key (encryption context: the bucket ARN) that is cached for a bounded time and used to derive
each object's key, so a thousand PUTs make a handful of KMS calls; without it, every PUT makes one
GenerateDataKey and every GET one Decrypt. Each KMS call S3 makes appears in the trail as the caller's own,
invokedBy s3.amazonaws.com."""

import json
from collections.abc import Iterator
from typing import Any

import pytest

from support.kms import make_user, new_key
from support.s3 import (
    BUCKET_KEY_HEADER,
    closing,
    decode_context,
    encode_context,
    fails_with,
    flushed_trail,
    get_bytes,
    headers_of,
    new_bucket,
    object_arn,
    sse_headers,
)
from support.server import KeyholdServer

HANDFUL = 5  # at most this many KMS calls for all the objects under one bucket key (the cache lives 5 minutes)


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyholdServer]:
    """A server of this module's own whose audit trail is flushed every 0.2 s, so the KMS calls counted here
    are this module's only."""
    instance = KeyholdServer(
        tmp_path_factory.mktemp("bucket-keys") / "data", extra_args=("--audit-flush-interval", "0.2")
    ).start()
    yield instance
    assert instance.stop() == 0, instance.log()


@pytest.fixture(scope="module")
def s3(audited: KeyholdServer) -> Iterator[Any]:
    with closing(audited.s3()) as client:
        yield client


@pytest.fixture
def kms(audited: KeyholdServer) -> Any:
    return audited.client("kms")


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def kms_calls(trail: list[dict[str, Any]], key_arn: str, event: str) -> list[dict[str, Any]]:
    """The trail's ``event`` records on ``key_arn`` that S3 made (invokedBy s3.amazonaws.com)."""
    return [
        record
        for record in trail
        if record["eventName"] == event
        and any(resource["ARN"] == key_arn for resource in record.get("resources", []))
        and record["userIdentity"].get("invokedBy") == "s3.amazonaws.com"
    ]


def contexts(records: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [record["requestParameters"]["encryptionContext"] for record in records]


def bucket_key_default(s3: Any, bucket: str, key_arn: str, enabled: bool = True) -> None:
    default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
    config = {"Rules": [{"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": enabled}]}
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=config)


def test_a_thousand_puts_make_a_handful_of_kms_calls(audited: KeyholdServer, s3: Any, kms: Any) -> None:
    key = new_key(kms)
    bucket = new_bucket(s3, "bk")
    bucket_key_default(s3, bucket, key["Arn"])
    for index in range(1000):
        put = s3.put_object(Bucket=bucket, Key=f"obj-{index:04d}", Body=f"object {index}".encode())
        assert put["BucketKeyEnabled"] is True
        assert put["SSEKMSKeyId"] == key["Arn"]
    for index in range(0, 1000, 5):
        assert get_bytes(s3, bucket, f"obj-{index:04d}") == f"object {index}".encode()

    trail = flushed_trail(audited, kms)
    generated = kms_calls(trail, key["Arn"], "GenerateDataKey")
    assert 1 <= len(generated) <= HANDFUL
    assert contexts(generated) == [{"aws:s3:arn": bucket_arn(bucket)}] * len(generated)
    for record in generated:
        assert record["userIdentity"]["type"] == "Root"  # the caller's own identity, S3 on its behalf
        assert record["sourceIPAddress"] == "s3.amazonaws.com"
    assert len(kms_calls(trail, key["Arn"], "Decrypt")) <= HANDFUL


def test_without_bucket_keys_every_put_and_get_calls_kms(audited: KeyholdServer, s3: Any, kms: Any) -> None:
    key = new_key(kms)
    bucket = new_bucket(s3, "bk")
    bucket_key_default(s3, bucket, key["Arn"], enabled=False)
    names = [f"obj-{index:02d}" for index in range(25)]
    for name in names:
        put = s3.put_object(Bucket=bucket, Key=name, Body=name.encode())
        assert BUCKET_KEY_HEADER not in headers_of(put)
    for name in names:
        assert get_bytes(s3, bucket, name) == name.encode()

    trail = flushed_trail(audited, kms)
    expected = sorted(({"aws:s3:arn": object_arn(bucket, name)} for name in names), key=json.dumps)
    generated = kms_calls(trail, key["Arn"], "GenerateDataKey")
    assert sorted(contexts(generated), key=json.dumps) == expected
    decrypted = kms_calls(trail, key["Arn"], "Decrypt")
    assert sorted(contexts(decrypted), key=json.dumps) == expected


def test_bucket_key_responses_and_context(audited: KeyholdServer, s3: Any, kms: Any) -> None:
    key = new_key(kms)
    bucket = new_bucket(s3, "bk")
    put = s3.put_object(
        Bucket=bucket, Key="obj", Body=b"data", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["KeyId"],
        BucketKeyEnabled=True,
    )  # fmt: skip
    assert decode_context(put["SSEKMSEncryptionContext"]) == {"aws:s3:arn": bucket_arn(bucket)}
    want = {
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": key["Arn"],
        BUCKET_KEY_HEADER: "true",
    }
    assert sse_headers(s3.head_object(Bucket=bucket, Key="obj")) == want
    got = s3.get_object(Bucket=bucket, Key="obj")
    assert got["Body"].read() == b"data"
    assert sse_headers(got) == want


def test_object_level_setting_overrides_the_bucket(audited: KeyholdServer, s3: Any, kms: Any) -> None:
    key = new_key(kms)
    with_default = new_bucket(s3, "bk")
    bucket_key_default(s3, with_default, key["Arn"])
    off = s3.put_object(Bucket=with_default, Key="off", Body=b"off", BucketKeyEnabled=False)
    assert BUCKET_KEY_HEADER not in headers_of(off)
    inherited = s3.put_object(Bucket=with_default, Key="inherited", Body=b"on", ServerSideEncryption="aws:kms")
    assert inherited["BucketKeyEnabled"] is True
    assert inherited["SSEKMSKeyId"] != key["Arn"]  # the header's key (aws/s3), the bucket's bucket-key setting

    without_default = new_bucket(s3, "bk")
    on = s3.put_object(
        Bucket=without_default, Key="on", Body=b"on", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["Arn"],
        BucketKeyEnabled=True,
    )  # fmt: skip
    assert on["BucketKeyEnabled"] is True
    dsse = s3.put_object(
        Bucket=without_default, Key="dsse", Body=b"dsse", ServerSideEncryption="aws:kms:dsse",
        SSEKMSKeyId=key["Arn"], BucketKeyEnabled=True,
    )  # fmt: skip
    assert BUCKET_KEY_HEADER not in headers_of(dsse)  # DSSE never uses a bucket key
    for bucket, name, data in (
        (with_default, "off", b"off"),
        (with_default, "inherited", b"on"),
        (without_default, "on", b"on"),
        (without_default, "dsse", b"dsse"),
    ):
        assert get_bytes(s3, bucket, name) == data

    generated = contexts(kms_calls(flushed_trail(audited, kms), key["Arn"], "GenerateDataKey"))
    assert {"aws:s3:arn": object_arn(with_default, "off")} in generated
    assert {"aws:s3:arn": object_arn(without_default, "dsse")} in generated
    assert {"aws:s3:arn": bucket_arn(without_default)} in generated
    assert len(generated) == 3


def test_one_bucket_key_per_kms_key(audited: KeyholdServer, s3: Any, kms: Any) -> None:
    first, second = new_key(kms), new_key(kms)
    bucket = new_bucket(s3, "bk")
    for index in range(30):
        for key in (first, second):
            s3.put_object(
                Bucket=bucket, Key=f"{key['KeyId']}/{index}", Body=b"x", ServerSideEncryption="aws:kms",
                SSEKMSKeyId=key["Arn"], BucketKeyEnabled=True,
            )  # fmt: skip
    trail = flushed_trail(audited, kms)
    for key in (first, second):
        assert 1 <= len(kms_calls(trail, key["Arn"], "GenerateDataKey")) <= HANDFUL
        head = s3.head_object(Bucket=bucket, Key=f"{key['KeyId']}/7")
        assert head["SSEKMSKeyId"] == key["Arn"]


def test_copy_and_multipart_use_the_bucket_key(audited: KeyholdServer, s3: Any, kms: Any) -> None:
    key = new_key(kms)
    bucket = new_bucket(s3, "bk")
    bucket_key_default(s3, bucket, key["Arn"])
    source = new_bucket(s3, "bk")
    s3.put_object(Bucket=source, Key="src", Body=b"copied")
    copied = s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{source}/src")
    assert copied["BucketKeyEnabled"] is True
    created = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    assert created["BucketKeyEnabled"] is True
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=created["UploadId"], PartNumber=1, Body=b"part")
    completed = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=created["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert completed["BucketKeyEnabled"] is True
    assert get_bytes(s3, bucket, "copy") == b"copied"
    assert get_bytes(s3, bucket, "mp") == b"part"
    assert 1 <= len(kms_calls(flushed_trail(audited, kms), key["Arn"], "GenerateDataKey")) <= HANDFUL


def test_a_cached_bucket_key_is_not_shared_with_other_principals(audited: KeyholdServer, s3: Any, kms: Any) -> None:
    """Root's bucket key is in the cache; a user that KMS would refuse must not get to use it."""
    key = new_key(kms)
    bucket = new_bucket(s3, "bk")
    bucket_key_default(s3, bucket, key["Arn"])
    s3.put_object(Bucket=bucket, Key="root", Body=b"root's")
    s3_only = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    name, _ = make_user(audited, s3_only)
    access = audited.client("iam").create_access_key(UserName=name)["AccessKey"]
    with closing(
        audited.s3(aws_access_key_id=access["AccessKeyId"], aws_secret_access_key=access["SecretAccessKey"])
    ) as user:
        assert fails_with(user.put_object, Bucket=bucket, Key="user", Body=b"x")[:2] == (403, "AccessDenied")
        assert fails_with(user.get_object, Bucket=bucket, Key="root")[:2] == (403, "AccessDenied")
    denied = [
        record
        for record in flushed_trail(audited, kms)
        if record.get("errorCode") == "AccessDeniedException" and record["userIdentity"].get("userName") == name
    ]
    assert {record["eventName"] for record in denied} == {"GenerateDataKey", "Decrypt"}
    assert {record["userIdentity"]["invokedBy"] for record in denied} == {"s3.amazonaws.com"}


def test_after_a_restart_the_bucket_key_is_asked_for_again(make_server: Any) -> None:
    """The cache is in memory: after a restart the first read asks KMS to decrypt the bucket key, so a key
    disabled meanwhile makes reads (and writes) fail, and enabling it makes them work again."""
    server: KeyholdServer = make_server("restart", extra_args=("--audit-flush-interval", "0.2"))
    kms = server.client("kms")
    key = new_key(kms)
    s3 = server.s3()
    bucket = new_bucket(s3, "bk")
    bucket_key_default(s3, bucket, key["Arn"])
    for index in range(20):
        s3.put_object(Bucket=bucket, Key=f"obj-{index}", Body=f"{index}".encode())
    kms.disable_key(KeyId=key["KeyId"])
    server.restart()
    kms, s3 = server.client("kms"), server.s3()
    assert fails_with(s3.get_object, Bucket=bucket, Key="obj-3")[:2] == (400, "KMS.DisabledException")
    assert fails_with(s3.put_object, Bucket=bucket, Key="new", Body=b"x")[:2] == (400, "KMS.DisabledException")
    kms.enable_key(KeyId=key["KeyId"])
    for index in range(20):
        assert get_bytes(s3, bucket, f"obj-{index}") == f"{index}".encode()
    decrypted = kms_calls(flushed_trail(server, kms), key["Arn"], "Decrypt")
    successful = [record for record in decrypted if "errorCode" not in record]
    assert 1 <= len(successful) <= HANDFUL
    assert contexts(successful) == [{"aws:s3:arn": bucket_arn(bucket)}] * len(successful)


def test_sse_kms_calls_carry_the_object_arn_and_the_callers_context(audited: KeyholdServer, s3: Any, kms: Any) -> None:
    """Without a bucket key: GenerateDataKey on PUT and Decrypt on GET, each with the encryption context
    {"aws:s3:arn": <object ARN>} plus the caller's x-amz-server-side-encryption-context, as the caller."""
    key = new_key(kms)
    bucket = new_bucket(s3, "bk")
    context = {"tenant": "acme", "purpose": "audit-test"}
    s3.put_object(
        Bucket=bucket, Key="dir/obj", Body=b"ctx", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["KeyId"],
        SSEKMSEncryptionContext=encode_context(context),
    )  # fmt: skip
    assert get_bytes(s3, bucket, "dir/obj") == b"ctx"
    trail = flushed_trail(audited, kms)
    expected = {**context, "aws:s3:arn": object_arn(bucket, "dir/obj")}
    for event in ("GenerateDataKey", "Decrypt"):
        (record,) = kms_calls(trail, key["Arn"], event)
        assert record["requestParameters"]["encryptionContext"] == expected
        assert record["userIdentity"]["type"] == "Root"
        assert record["userIdentity"]["invokedBy"] == "s3.amazonaws.com"
        assert "errorCode" not in record

"""Bucket policies through a real `keyhold serve`: Put/Get/DeleteBucketPolicy, the classic "deny unencrypted
uploads" policies evaluated with the s3:x-amz-server-side-encryption(-aws-kms-key-id) condition keys, and IAM
users of the account, denied without a policy and allowed by a bucket policy that names them."""

import json
from collections.abc import Iterator
from typing import Any

import pytest

from support.kms import new_key, unique
from support.s3 import closing, customer_key, fails_with, get_bytes, new_bucket, ssec
from support.server import KeyholdServer

DENIED = (403, "AccessDenied", "Access Denied")


@pytest.fixture
def s3(server: KeyholdServer) -> Iterator[Any]:
    with closing(server.s3()) as client:
        yield client


@pytest.fixture
def bucket(s3: Any) -> str:
    return new_bucket(s3, "policy")


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def deny_put(bucket: str, condition: dict[str, Any]) -> dict[str, Any]:
    return {
        "Sid": "DenyUnencrypted",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": condition,
    }


def put_denied(s3: Any, bucket: str, key: str, **kwargs: Any) -> None:
    assert fails_with(s3.put_object, Bucket=bucket, Key=key, Body=b"x", **kwargs) == DENIED, kwargs
    assert fails_with(s3.head_object, Bucket=bucket, Key=key)[:2] == (404, "404")


def make_user(server: KeyholdServer, *policies: dict[str, Any]) -> tuple[str, Any, Any]:
    """A new IAM user with the given inline IAM policies: (ARN, HTTP S3 client, HTTPS S3 client)."""
    iam = server.client("iam")
    name = unique("s3user")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    for index, document in enumerate(policies):
        iam.put_user_policy(UserName=name, PolicyName=f"p{index}", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    credentials = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
    return arn, server.s3(**credentials), server.s3(secure=True, **credentials)


@pytest.fixture
def user(server: KeyholdServer) -> Iterator[tuple[str, Any]]:
    """An IAM user of the account with no IAM policy: (ARN, S3 client)."""
    arn, http, https = make_user(server)
    with closing(http), closing(https):
        yield arn, http


# -- Put, Get, DeleteBucketPolicy ------------------------------------------------------------------------------


def test_bucket_policy_lifecycle(s3: Any, bucket: str) -> None:
    status, code, message = fails_with(s3.get_bucket_policy, Bucket=bucket)
    assert (status, code, message) == (404, "NoSuchBucketPolicy", "The bucket policy does not exist")
    document = policy(
        {
            "Sid": "ReadForEveryoneOfTheAccount",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
            "Action": ["s3:GetObject"],
            "Resource": f"arn:aws:s3:::{bucket}/*",
        }
    )
    put = s3.put_bucket_policy(Bucket=bucket, Policy=document)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(document)
    replaced = policy(deny_put(bucket, {"Null": {"s3:x-amz-server-side-encryption": "true"}}))
    s3.put_bucket_policy(Bucket=bucket, Policy=replaced)
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(replaced)
    deleted = s3.delete_bucket_policy(Bucket=bucket)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert fails_with(s3.get_bucket_policy, Bucket=bucket)[:2] == (404, "NoSuchBucketPolicy")
    s3.put_object(Bucket=bucket, Key="free", Body=b"x")  # the deny is gone with the policy


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        "{}",
        json.dumps({"Version": "2012-10-17", "Statement": []}),
        # a bucket policy must name its principals
        json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}),
        json.dumps(
            {
                "Statement": [
                    {"Effect": "Maybe", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
                ]
            }
        ),
        json.dumps(
            {
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:PutObject",
                        "Resource": "arn:aws:s3:::b/*",
                        "Condition": {"NoSuchOperator": {"s3:x-amz-server-side-encryption": "AES256"}},
                    }
                ]
            }
        ),
    ],
)
def test_malformed_policies(s3: Any, bucket: str, document: str) -> None:
    status, code, _ = fails_with(s3.put_bucket_policy, Bucket=bucket, Policy=document)
    assert (status, code) == (400, "MalformedPolicy")
    assert fails_with(s3.get_bucket_policy, Bucket=bucket)[:2] == (404, "NoSuchBucketPolicy")


def test_policy_of_a_missing_bucket(s3: Any) -> None:
    for call, kwargs in [
        (s3.get_bucket_policy, {}),
        (s3.delete_bucket_policy, {}),
        (
            s3.put_bucket_policy,
            {"Policy": policy(deny_put("nb", {"Null": {"s3:x-amz-server-side-encryption": "true"}}))},
        ),
    ]:
        assert fails_with(call, Bucket="no-such-bucket-policy-xyz", **kwargs)[:2] == (404, "NoSuchBucket")


# -- deny unencrypted uploads ----------------------------------------------------------------------------------


def test_deny_uploads_without_the_sse_header(server: KeyholdServer, s3: Any, bucket: str) -> None:
    """Deny s3:PutObject when Null s3:x-amz-server-side-encryption is true: the request must ask for SSE."""
    s3.put_bucket_policy(
        Bucket=bucket, Policy=policy(deny_put(bucket, {"Null": {"s3:x-amz-server-side-encryption": "true"}}))
    )
    put_denied(s3, bucket, "plain")
    assert s3.put_object(Bucket=bucket, Key="s3", Body=b"x", ServerSideEncryption="AES256")["ServerSideEncryption"]
    assert s3.put_object(Bucket=bucket, Key="kms", Body=b"x", ServerSideEncryption="aws:kms")["SSEKMSKeyId"]
    assert get_bytes(s3, bucket, "s3") == b"x"

    # CreateMultipartUpload and CopyObject are s3:PutObject too
    assert fails_with(s3.create_multipart_upload, Bucket=bucket, Key="mp") == DENIED
    s3.create_multipart_upload(Bucket=bucket, Key="mp", ServerSideEncryption="AES256")
    assert fails_with(s3.copy_object, Bucket=bucket, Key="copy", CopySource=f"{bucket}/s3") == DENIED
    s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/s3", ServerSideEncryption="aws:kms")

    # SSE-C sends no x-amz-server-side-encryption header: this policy refuses it as well
    with closing(server.s3(secure=True)) as s3s:
        assert fails_with(s3s.put_object, Bucket=bucket, Key="ssec", Body=b"x", **ssec(customer_key())) == DENIED

    # a bucket default does not satisfy the policy: it looks at the request's headers
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    put_denied(s3, bucket, "plain")


def test_deny_anything_but_sse_kms(s3: Any, bucket: str) -> None:
    """Deny s3:PutObject when StringNotEquals s3:x-amz-server-side-encryption aws:kms (true when absent too)."""
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(deny_put(bucket, {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}})),
    )
    put_denied(s3, bucket, "plain")
    put_denied(s3, bucket, "sse-s3", ServerSideEncryption="AES256")
    put_denied(s3, bucket, "dsse", ServerSideEncryption="aws:kms:dsse")
    put = s3.put_object(Bucket=bucket, Key="kms", Body=b"kms", ServerSideEncryption="aws:kms")
    assert put["ServerSideEncryption"] == "aws:kms"
    assert get_bytes(s3, bucket, "kms") == b"kms"  # reads are not PutObject


def test_deny_other_kms_keys(server: KeyholdServer, s3: Any, bucket: str) -> None:
    kms = server.client("kms")
    allowed, other = new_key(kms)["Arn"], new_key(kms)["Arn"]
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            deny_put(bucket, {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}),
            {
                **deny_put(bucket, {"StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": allowed}}),
                "Sid": "DenyOtherKeys",
            },
        ),
    )
    put_denied(s3, bucket, "other", ServerSideEncryption="aws:kms", SSEKMSKeyId=other)
    put_denied(s3, bucket, "managed", ServerSideEncryption="aws:kms")  # no key id: the condition's key is absent
    put_denied(s3, bucket, "s3", ServerSideEncryption="AES256")
    put = s3.put_object(Bucket=bucket, Key="right", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=allowed)
    assert put["SSEKMSKeyId"] == allowed

    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ServerSideEncryption="aws:kms", SSEKMSKeyId=allowed)
    assert upload["SSEKMSKeyId"] == allowed
    status, code, _ = fails_with(
        s3.create_multipart_upload, Bucket=bucket, Key="mp2", ServerSideEncryption="aws:kms", SSEKMSKeyId=other
    )
    assert (status, code) == (403, "AccessDenied")


def test_deny_insecure_transport(server: KeyholdServer, s3: Any, bucket: str) -> None:
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ),
    )
    assert fails_with(s3.put_object, Bucket=bucket, Key="http", Body=b"x") == DENIED
    assert fails_with(s3.list_objects_v2, Bucket=bucket) == DENIED
    assert fails_with(s3.head_object, Bucket=bucket, Key="http")[:2] == (403, "403")
    with closing(server.s3(secure=True)) as s3s:
        s3s.put_object(Bucket=bucket, Key="https", Body=b"tls")
        assert get_bytes(s3s, bucket, "https") == b"tls"
    # the owner can always take the policy away again
    s3.delete_bucket_policy(Bucket=bucket)
    assert get_bytes(s3, bucket, "https") == b"tls"
    assert fails_with(s3.head_object, Bucket=bucket, Key="http")[:2] == (404, "404")


# -- IAM users of the account ----------------------------------------------------------------------------------


def test_user_without_policies_is_denied(s3: Any, bucket: str, user: tuple[str, Any]) -> None:
    _, as_user = user
    s3.put_object(Bucket=bucket, Key="owned", Body=b"owner's")
    assert fails_with(as_user.put_object, Bucket=bucket, Key="k", Body=b"x") == DENIED
    assert fails_with(as_user.get_object, Bucket=bucket, Key="owned") == DENIED
    assert fails_with(as_user.list_objects_v2, Bucket=bucket) == DENIED
    assert fails_with(as_user.delete_object, Bucket=bucket, Key="owned") == DENIED
    assert fails_with(as_user.head_object, Bucket=bucket, Key="owned")[:2] == (403, "403")
    assert fails_with(as_user.get_bucket_policy, Bucket=bucket) == DENIED
    assert fails_with(as_user.create_multipart_upload, Bucket=bucket, Key="k") == DENIED
    assert fails_with(as_user.list_buckets) == DENIED
    assert fails_with(as_user.create_bucket, Bucket=f"{bucket}-user") == DENIED
    assert get_bytes(s3, bucket, "owned") == b"owner's"


def test_bucket_policy_naming_the_user_allows_it(s3: Any, bucket: str, user: tuple[str, Any]) -> None:
    arn, as_user = user
    s3.put_object(Bucket=bucket, Key="shared/doc", Body=b"for the user")
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": arn},
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": f"arn:aws:s3:::{bucket}/shared/*",
            },
            {
                "Effect": "Allow",
                "Principal": {"AWS": [arn]},
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{bucket}",
            },
        ),
    )
    assert get_bytes(as_user, bucket, "shared/doc") == b"for the user"
    as_user.put_object(Bucket=bucket, Key="shared/by-user", Body=b"from the user")
    assert get_bytes(s3, bucket, "shared/by-user") == b"from the user"
    listed = [entry["Key"] for entry in as_user.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == ["shared/by-user", "shared/doc"]
    # only what the policy names
    assert fails_with(as_user.put_object, Bucket=bucket, Key="elsewhere", Body=b"x") == DENIED
    assert fails_with(as_user.delete_object, Bucket=bucket, Key="shared/doc") == DENIED
    assert fails_with(as_user.put_bucket_policy, Bucket=bucket, Policy=policy()) == DENIED
    # DeleteObjects answers per key
    result = as_user.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "shared/doc"}]})
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("shared/doc", "AccessDenied")]
    assert "Deleted" not in result
    assert get_bytes(s3, bucket, "shared/doc") == b"for the user"


def test_deny_unencrypted_applies_to_allowed_users(s3: Any, bucket: str, user: tuple[str, Any]) -> None:
    arn, as_user = user
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": arn},
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            },
            deny_put(bucket, {"Null": {"s3:x-amz-server-side-encryption": "true"}}),
        ),
    )
    assert fails_with(as_user.put_object, Bucket=bucket, Key="plain", Body=b"x") == DENIED
    as_user.put_object(Bucket=bucket, Key="encrypted", Body=b"x", ServerSideEncryption="AES256")
    assert s3.head_object(Bucket=bucket, Key="encrypted")["ServerSideEncryption"] == "AES256"


def test_account_principal_needs_an_iam_policy_too(server: KeyholdServer, s3: Any, bucket: str) -> None:
    """A bucket policy naming the account (not the user) delegates to the account's IAM policies."""
    s3.put_object(Bucket=bucket, Key="doc", Body=b"doc")
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{server.account_id}:root"},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ),
    )
    _, plain, plain_s = make_user(server)
    allow_get = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}],
    }
    _, granted, granted_s = make_user(server, allow_get)
    with closing(plain), closing(plain_s), closing(granted), closing(granted_s):
        assert fails_with(plain.get_object, Bucket=bucket, Key="doc") == DENIED
        assert get_bytes(granted, bucket, "doc") == b"doc"
        assert fails_with(granted.put_object, Bucket=bucket, Key="doc", Body=b"no") == DENIED


def test_iam_policy_alone_allows_a_user_of_the_owner(server: KeyholdServer, s3: Any, bucket: str) -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": f"arn:aws:s3:::{bucket}/*"},
            {"Effect": "Deny", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/locked/*"},
        ],
    }
    _, as_user, as_user_s = make_user(server, document)
    with closing(as_user), closing(as_user_s):
        as_user.put_object(Bucket=bucket, Key="mine", Body=b"iam")
        assert get_bytes(as_user, bucket, "mine") == b"iam"
        assert fails_with(as_user.put_object, Bucket=bucket, Key="locked/x", Body=b"x") == DENIED
        assert fails_with(as_user.list_objects_v2, Bucket=bucket) == DENIED
        # an explicit Deny in the bucket policy wins over the IAM Allow
        s3.put_bucket_policy(
            Bucket=bucket, Policy=policy(deny_put(bucket, {"Null": {"s3:x-amz-server-side-encryption": "true"}}))
        )
        assert fails_with(as_user.put_object, Bucket=bucket, Key="mine", Body=b"again") == DENIED
        as_user.put_object(Bucket=bucket, Key="mine", Body=b"again", ServerSideEncryption="AES256")
        # SSE-C over HTTPS, with the user's own key
        assert fails_with(as_user_s.put_object, Bucket=bucket, Key="c", Body=b"c", **ssec(customer_key())) == DENIED

"""Request quotas through a real `keyhold serve --enforce-quotas`: ThrottlingException as AWS sends it, one bucket
per account (all its users share it), management operations apart from cryptographic ones, the throttled request
in the audit trail; and no throttling at all without the flag.

Buckets are per account and Region, so each test signs for a Region of its own and starts with full buckets. The
symmetric bucket runs at 0.1 requests/s (one request, then one per 10 s): a burst overruns it however slow the
machine. No test measures time.
"""

import gzip
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from support.kms import new_key, unique
from support.server import KeyholdServer

THROTTLED_MESSAGE = "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."
NO_RETRIES = Config(retries={"total_max_attempts": 1})  # botocore retries ThrottlingException by default
ALL_KMS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyholdServer]:
    args = ("--enforce-quotas", "--quota-symmetric-rate", "0.1", "--audit-flush-interval", "0.2")
    instance = KeyholdServer(tmp_path_factory.mktemp("quotas") / "data", extra_args=args).start()
    yield instance
    assert instance.stop() == 0, instance.log()


def kms_client(server: KeyholdServer, region: str, **kwargs: Any) -> Any:
    return server.client("kms", region_name=region, config=NO_RETRIES, **kwargs)


def assert_throttled(call: Any, **kwargs: Any) -> None:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    assert response["Error"]["Code"] == "ThrottlingException"
    assert response["Error"]["Message"] == THROTTLED_MESSAGE
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "ThrottlingException"


def throttled_count(call: Any, attempts: int, **kwargs: Any) -> int:
    codes = []
    for _ in range(attempts):
        try:
            call(**kwargs)
        except ClientError as exc:
            codes.append(exc.response["Error"]["Code"])
    assert set(codes) <= {"ThrottlingException"}, codes
    return len(codes)


def user_client(server: KeyholdServer, region: str) -> Any:
    """A KMS client of a new IAM user of the server's account whose policy allows every KMS action."""
    iam = server.client("iam")
    name = unique("user")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="kms", PolicyDocument=json.dumps(ALL_KMS))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return kms_client(
        server, region, aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
    )


def test_symmetric_operations_share_one_bucket(limited: KeyholdServer) -> None:
    kms = kms_client(limited, "eu-north-1")
    key = new_key(kms)["KeyId"]
    hmac = new_key(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"the one request the bucket holds")["CiphertextBlob"]
    assert_throttled(kms.decrypt, CiphertextBlob=blob)
    assert_throttled(kms.generate_data_key, KeyId=key, KeySpec="AES_256")
    assert_throttled(kms.generate_random, NumberOfBytes=16)
    assert_throttled(kms.generate_mac, KeyId=hmac, Message=b"m", MacAlgorithm="HMAC_SHA_256")


def test_users_of_one_account_share_its_quota(limited: KeyholdServer) -> None:
    region = "ap-south-1"
    root = kms_client(limited, region)
    alice, bob = user_client(limited, region), user_client(limited, region)
    key = new_key(root)["KeyId"]
    alice.encrypt(KeyId=key, Plaintext=b"alice takes the only token")
    assert_throttled(bob.encrypt, KeyId=key, Plaintext=b"bob")
    assert_throttled(root.generate_data_key, KeyId=key, KeySpec="AES_256")


def test_management_operations_have_buckets_of_their_own(limited: KeyholdServer) -> None:
    kms = kms_client(limited, "sa-east-1")
    key = new_key(kms)["KeyId"]
    assert throttled_count(kms.update_key_description, 30, KeyId=key, Description="busy") > 0  # 5/s
    kms.describe_key(KeyId=key)  # 2000/s, untouched
    kms.encrypt(KeyId=key, Plaintext=b"the symmetric bucket is untouched too")


def test_a_throttled_request_is_audited(limited: KeyholdServer) -> None:
    kms = kms_client(limited, "ca-central-1")
    key = new_key(kms)["KeyId"]
    kms.generate_random(NumberOfBytes=8)
    assert_throttled(kms.encrypt, KeyId=key, Plaintext=b"too soon")
    record = wait_for_record(limited, lambda r: r.get("awsRegion") == "ca-central-1" and r["eventName"] == "Encrypt")
    assert record["errorCode"] == "ThrottlingException"
    assert record["errorMessage"] == THROTTLED_MESSAGE
    assert record["userIdentity"]["type"] == "Root"


def test_get_parameters_for_import_allows_one_request_a_second(limited: KeyholdServer) -> None:
    kms = kms_client(limited, "eu-south-1")
    wrapping = {"WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"}
    try:
        key = new_key(kms, Origin="EXTERNAL")["KeyId"]
        kms.get_parameters_for_import(KeyId=key, **wrapping)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "UnsupportedOperationException":
            pytest.skip("imported key material is not served yet")
        raise
    assert throttled_count(kms.get_parameters_for_import, 5, KeyId=key, **wrapping) > 0


def test_without_the_flag_nothing_is_throttled(server: KeyholdServer) -> None:
    kms = kms_client(server, server.region)
    key = new_key(kms)["KeyId"]
    assert throttled_count(kms.update_key_description, 30, KeyId=key, Description="busy") == 0
    assert throttled_count(kms.generate_random, 30, NumberOfBytes=8) == 0


def wait_for_record(server: KeyholdServer, matches: Any, timeout: float = 30.0) -> dict[str, Any]:
    """The first audit record ``matches`` accepts, once the server's writer has flushed it."""
    deadline = time.monotonic() + timeout
    while True:
        for path in sorted((server.data_dir / "audit").rglob("*.json.gz")):
            if "Digest" not in path.name:
                for record in json.loads(gzip.decompress(path.read_bytes()))["Records"]:
                    if matches(record):
                        return dict(record)
        if time.monotonic() > deadline:
            raise AssertionError("no such audit record")
        time.sleep(0.1)

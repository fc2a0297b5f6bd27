"""Small helpers the KMS end-to-end tests share."""

import datetime
import json
import uuid
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from support.server import KeyholdServer


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error_of(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def status_of(caught: pytest.ExceptionInfo[ClientError]) -> int:
    return int(caught.value.response["ResponseMetadata"]["HTTPStatusCode"])


def unvalidated(server: KeyholdServer) -> Any:
    """A boto3 client that sends out-of-range values instead of refusing them itself."""
    return server.client("kms", config=Config(parameter_validation=False, retries={"total_max_attempts": 1}))


def new_key(kms: Any, **kwargs: Any) -> dict[str, Any]:
    return kms.create_key(**kwargs)["KeyMetadata"]


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def make_user(server: KeyholdServer, *policies: dict[str, Any]) -> tuple[str, Any]:
    """A new IAM user with the given inline policies, and a KMS client signed with its own access key."""
    iam = server.client("iam")
    name = unique("user")
    iam.create_user(UserName=name)
    for index, policy in enumerate(policies):
        iam.put_user_policy(UserName=name, PolicyName=f"p{index}", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    client = server.client("kms", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    return name, client

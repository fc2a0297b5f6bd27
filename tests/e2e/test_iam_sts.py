"""IAM and STS through a real `keyhold serve`, driven by boto3, the aws CLI and hand-signed raw requests."""

import datetime
import gzip
import json
import re
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import botocore
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from keyhold.protocols.iam.router import HANDLERS as IAM_HANDLERS
from keyhold.protocols.iam.router import IAM_OPERATIONS
from keyhold.protocols.sts.router import STS_OPERATIONS
from support.server import KeyholdServer

IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error_of(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = caught.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def raw(
    server: KeyholdServer,
    service: str,
    params: dict[str, str],
    *,
    secret: str | None = None,
    sign: bool = True,
) -> tuple[int, str]:
    """POST a form-encoded Query request, signed by botocore's own signer (or not at all)."""
    request = AWSRequest(
        method="POST",
        url=server.http_url + "/",
        data=urlencode(params).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    if sign:
        credentials = Credentials(server.access_key_id, secret or server.secret_access_key)
        SigV4Auth(credentials, service, server.region).add_auth(request)
    prepared = request.prepare()
    http = urllib.request.Request(  # noqa: S310 (an http:// URL to our own test server)
        prepared.url, data=prepared.body, headers=dict(prepared.headers), method="POST"
    )
    try:
        with urllib.request.urlopen(http, timeout=30) as response:  # noqa: S310 (as above)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def botocore_operations(service: str) -> set[str]:
    root = Path(botocore.__file__).parent / "data" / service
    (path,) = root.glob("*/service-2.json*")
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        return set(json.load(handle)["operations"])


def test_operation_lists_match_botocore() -> None:
    assert botocore_operations("iam") == IAM_OPERATIONS
    assert botocore_operations("sts") == STS_OPERATIONS
    assert set(IAM_HANDLERS) <= IAM_OPERATIONS


# --- the aws CLI --------------------------------------------------------------------------------------------


def test_cli_user_key_and_caller_identity(server: KeyholdServer) -> None:
    name = unique("cli")
    user = server.cli_json("iam", "create-user", "--user-name", name, "--path", "/cli/")["User"]
    assert user["Arn"] == f"arn:aws:iam::{server.account_id}:user/cli/{name}"
    assert re.fullmatch(r"AIDA[A-Z2-7]{16}", user["UserId"])
    key = server.cli_json("iam", "create-access-key", "--user-name", name)["AccessKey"]
    assert key["UserName"] == name
    assert key["Status"] == "Active"
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", key["AccessKeyId"])

    as_user = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    identity = json.loads(server.cli("sts", "get-caller-identity", env=as_user).stdout)
    assert identity == {"UserId": user["UserId"], "Account": server.account_id, "Arn": user["Arn"]}
    root = server.cli_json("sts", "get-caller-identity")
    assert root["Arn"] == f"arn:aws:iam::{server.account_id}:root"

    names = [entry["UserName"] for entry in server.cli_json("iam", "list-users", "--path-prefix", "/cli/")["Users"]]
    assert name in names
    listed = server.cli_json("iam", "list-access-keys", "--user-name", name)["AccessKeyMetadata"]
    assert [entry["AccessKeyId"] for entry in listed] == [key["AccessKeyId"]]

    document = json.dumps(POLICY)
    server.cli("iam", "put-user-policy", "--user-name", name, "--policy-name", "p", "--policy-document", document)
    fetched = server.cli_json("iam", "get-user-policy", "--user-name", name, "--policy-name", "p")
    assert fetched["PolicyDocument"] == POLICY

    failed = server.cli("iam", "delete-user", "--user-name", name, check=False)
    assert failed.returncode != 0
    assert "DeleteConflict" in failed.stderr
    server.cli("iam", "delete-access-key", "--user-name", name, "--access-key-id", key["AccessKeyId"])
    server.cli("iam", "delete-user-policy", "--user-name", name, "--policy-name", "p")
    server.cli("iam", "delete-user", "--user-name", name)
    gone = server.cli("sts", "get-caller-identity", env=as_user, check=False)
    assert gone.returncode != 0
    assert "InvalidClientTokenId" in gone.stderr
    missing = server.cli("iam", "get-user", "--user-name", name, check=False)
    assert "NoSuchEntity" in missing.stderr
    assert f"The user with name {name} cannot be found." in missing.stderr


# --- boto3 --------------------------------------------------------------------------------------------------


def test_boto3_user_lifecycle_and_listing(server: KeyholdServer) -> None:
    iam = server.client("iam")
    prefix = f"/{unique('page')}/"
    names = sorted(unique("u") for _ in range(5))
    for name in names:
        created = iam.create_user(UserName=name, Path=prefix)["User"]
        assert created["Path"] == prefix
        age = datetime.datetime.now(datetime.UTC) - created["CreateDate"]
        assert abs(age.total_seconds()) < 120
    pages = list(iam.get_paginator("list_users").paginate(PathPrefix=prefix, PaginationConfig={"PageSize": 2}))
    assert [len(page["Users"]) for page in pages] == [2, 2, 1]
    assert [user["UserName"] for page in pages for user in page["Users"]] == names
    assert pages[0]["IsTruncated"]
    assert not pages[-1]["IsTruncated"]
    assert iam.get_user(UserName=names[0].upper())["User"]["UserName"] == names[0]
    for name in names:
        iam.delete_user(UserName=name)
    assert iam.list_users(PathPrefix=prefix)["Users"] == []


def test_boto3_get_user_as_root_and_as_user(server: KeyholdServer) -> None:
    iam = server.client("iam")
    root = iam.get_user()["User"]
    assert root["Arn"] == f"arn:aws:iam::{server.account_id}:root"
    assert root["UserId"] == server.account_id
    assert "UserName" not in root
    name = unique("self")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    own = server.client("iam", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    with pytest.raises(ClientError) as caught:  # IAM users need a policy even to read themselves, as in IAM
        own.get_user()
    arn = f"arn:aws:iam::{server.account_id}:user/{name}"
    reason = "because no identity-based policy allows the iam:GetUser action"
    message = f"User: {arn} is not authorized to perform: iam:GetUser on resource: {arn} {reason}"
    assert error_of(caught) == ("AccessDenied", 403, message)
    self_service = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["iam:GetUser", "iam:ListAccessKeys"],
                "Resource": "arn:aws:iam::*:user/${aws:username}",
            }
        ],
    }
    iam.put_user_policy(UserName=name, PolicyName="self-service", PolicyDocument=json.dumps(self_service))
    assert own.get_user()["User"]["UserName"] == name
    assert [k["AccessKeyId"] for k in own.list_access_keys()["AccessKeyMetadata"]] == [key["AccessKeyId"]]
    with pytest.raises(ClientError) as caught:
        own.create_user(UserName=unique("escalate"))
    assert error_of(caught)[:2] == ("AccessDenied", 403)


def test_boto3_error_codes(server: KeyholdServer) -> None:
    iam = server.client("iam")
    name = unique("err")
    iam.create_user(UserName=name)
    with pytest.raises(ClientError) as caught:
        iam.create_user(UserName=name.upper())
    assert error_of(caught) == ("EntityAlreadyExists", 409, f"User with name {name.upper()} already exists.")
    with pytest.raises(ClientError) as caught:
        iam.get_user(UserName=name + "-missing")
    assert error_of(caught) == ("NoSuchEntity", 404, f"The user with name {name}-missing cannot be found.")

    keys = [iam.create_access_key(UserName=name)["AccessKey"] for _ in range(2)]
    with pytest.raises(ClientError) as caught:
        iam.create_access_key(UserName=name)
    assert error_of(caught) == ("LimitExceeded", 409, "Cannot exceed quota for AccessKeysPerUser: 2")
    with pytest.raises(ClientError) as caught:
        iam.delete_user(UserName=name)
    assert error_of(caught) == ("DeleteConflict", 409, "Cannot delete entity, must delete access keys first.")
    for key in keys:
        iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    with pytest.raises(ClientError) as caught:
        iam.delete_access_key(UserName=name, AccessKeyId=keys[0]["AccessKeyId"])
    assert error_of(caught) == (
        "NoSuchEntity",
        404,
        f"The Access Key with id {keys[0]['AccessKeyId']} cannot be found.",
    )

    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(POLICY))
    with pytest.raises(ClientError) as caught:
        iam.delete_user(UserName=name)
    assert error_of(caught) == ("DeleteConflict", 409, "Cannot delete entity, must delete policies first.")
    with pytest.raises(ClientError) as caught:
        iam.put_user_policy(UserName=name, PolicyName="bad", PolicyDocument="{not json")
    assert error_of(caught) == ("MalformedPolicyDocument", 400, "Syntax errors in policy.")
    with pytest.raises(ClientError) as caught:
        iam.get_user_policy(UserName=name, PolicyName="nope")
    assert error_of(caught) == ("NoSuchEntity", 404, "The user policy with name nope cannot be found.")
    with pytest.raises(ClientError) as caught:
        iam.create_user(UserName="bad name")
    code, status, message = error_of(caught)
    assert (code, status) == ("ValidationError", 400)
    assert message.startswith("1 validation error detected: Value 'bad name' at 'userName'")


def test_policies_round_trip_through_boto3(server: KeyholdServer) -> None:
    iam = server.client("iam")
    name = unique("pol")
    iam.create_user(UserName=name)
    document = json.dumps(POLICY, indent=2)
    iam.put_user_policy(UserName=name, PolicyName="b", PolicyDocument=document)
    iam.put_user_policy(UserName=name, PolicyName="a", PolicyDocument=document)
    got = iam.get_user_policy(UserName=name, PolicyName="a")
    assert (got["UserName"], got["PolicyName"], got["PolicyDocument"]) == (name, "a", POLICY)
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == ["a", "b"]
    iam.delete_user_policy(UserName=name, PolicyName="a")
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == ["b"]

    status, body = raw(server, "iam", {"Action": "GetUserPolicy", "Version": "2010-05-08", "UserName": name,
                                       "PolicyName": "b"})  # fmt: skip
    assert status == 200
    assert f'<GetUserPolicyResponse xmlns="{IAM_NS}">' in body
    encoded = re.search(r"<PolicyDocument>(.*)</PolicyDocument>", body, re.S)
    assert encoded is not None
    assert encoded.group(1).startswith("%7B%0A%20%20%22Version%22%3A")


def test_inactive_and_deleted_keys_are_refused(server: KeyholdServer) -> None:
    iam = server.client("iam")
    name = unique("keys")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    sts = server.client("sts", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    assert sts.get_caller_identity()["Arn"].endswith(f":user/{name}")

    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"][0]["Status"] == "Inactive"
    with pytest.raises(ClientError) as caught:
        sts.get_caller_identity()
    assert error_of(caught) == (
        "InvalidClientTokenId",
        403,
        "The security token included in the request is invalid.",
    )
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Active")
    assert sts.get_caller_identity()["Account"] == server.account_id

    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    with pytest.raises(ClientError) as caught:
        sts.get_caller_identity()
    assert error_of(caught)[:2] == ("InvalidClientTokenId", 403)


# --- signatures and dispatch --------------------------------------------------------------------------------


def test_signature_failures(server: KeyholdServer) -> None:
    wrong = server.client("sts", aws_secret_access_key="x" * 40)
    with pytest.raises(ClientError) as caught:
        wrong.get_caller_identity()
    assert error_of(caught)[:2] == ("SignatureDoesNotMatch", 403)
    wrong_iam = server.client("iam", aws_secret_access_key="x" * 40)
    with pytest.raises(ClientError) as caught:
        wrong_iam.list_users()
    assert error_of(caught)[:2] == ("SignatureDoesNotMatch", 403)
    stranger = server.client("iam", aws_access_key_id="AKIANOSUCHKEY0000000")
    with pytest.raises(ClientError) as caught:
        stranger.list_users()
    assert error_of(caught) == (
        "InvalidClientTokenId",
        403,
        "The security token included in the request is invalid.",
    )

    status, body = raw(server, "sts", {"Action": "GetCallerIdentity", "Version": "2011-06-15"}, sign=False)
    assert status == 403
    assert "<Code>MissingAuthenticationToken</Code>" in body
    assert "<Message>Request is missing Authentication Token</Message>" in body


def test_unknown_and_unimplemented_actions(server: KeyholdServer) -> None:
    status, body = raw(server, "iam", {"Action": "FlyToTheMoon", "Version": "2010-05-08"})
    assert status == 400
    assert "<Code>InvalidAction</Code>" in body
    assert "Could not find operation FlyToTheMoon for version 2010-05-08" in body
    assert f'<ErrorResponse xmlns="{IAM_NS}">' in body
    assert "<RequestId>" in body

    status, body = raw(server, "iam", {"Version": "2010-05-08"})
    assert status == 400
    assert "<Code>MissingAction</Code>" in body

    with pytest.raises(ClientError) as caught:
        server.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(POLICY))
    code, status, message = error_of(caught)
    assert (code, status) == ("NotImplemented", 501)
    assert "CreateRole" in message
    with pytest.raises(ClientError) as caught:
        server.client("sts").get_session_token()
    assert error_of(caught)[:2] == ("NotImplemented", 501)
    with pytest.raises(ClientError) as caught:
        server.client("iam").create_user(UserName=unique("tagged"), Tags=[{"Key": "k", "Value": "v"}])
    assert error_of(caught)[:2] == ("NotImplemented", 501)


def test_timestamps_are_iso8601_with_z(server: KeyholdServer) -> None:
    name = unique("time")
    server.client("iam").create_user(UserName=name)
    status, body = raw(server, "iam", {"Action": "GetUser", "Version": "2010-05-08", "UserName": name})
    assert status == 200
    assert re.search(r"<CreateDate>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ</CreateDate>", body)
    assert "<ResponseMetadata><RequestId>" in body


def test_a_deleted_key_is_refused_by_every_worker(make_server: Any) -> None:
    server: KeyholdServer = make_server(workers=2)
    iam = server.client("iam")
    iam.create_user(UserName="multi")
    key = iam.create_access_key(UserName="multi")["AccessKey"]

    def call_on_a_new_connection() -> str:
        sts = server.client("sts", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
        try:
            sts.get_caller_identity()
        except ClientError as error:
            return str(error.response["Error"]["Code"])
        return "ok"

    # New connections spread over both workers, so both now hold the key in their caches.
    assert {call_on_a_new_connection() for _ in range(40)} == {"ok"}
    iam.delete_access_key(UserName="multi", AccessKeyId=key["AccessKeyId"])
    assert {call_on_a_new_connection() for _ in range(40)} == {"InvalidClientTokenId"}

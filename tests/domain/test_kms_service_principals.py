"""Keyhold's services calling KMS in process: as their own service principal, and on behalf of a caller."""

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyhold.crypto.keywrap import RootKey
from keyhold.domain.context import RequestContext
from keyhold.domain.identity.model import Principal
from keyhold.domain.keys.errors import AccessDenied
from keyhold.domain.keys.service import KmsService
from keyhold.domain.keys.service_client import ServiceKmsClient
from keyhold.storage.sql.db import create_schema, open_engine
from keyhold.storage.sql.keys import SqlKeyRepo

ACCOUNT = "000000000000"
REGION = "us-east-1"
SES_STATEMENT = {
    "Sid": "Allow SES to encrypt messages using this CMK",
    "Effect": "Allow",
    "Principal": {"Service": "ses.amazonaws.com"},
    "Action": ["kms:Encrypt", "kms:GenerateDataKey*"],
    "Resource": "*",
    "Condition": {
        "Null": {"kms:EncryptionContext:aws:ses:rule-name": False, "kms:EncryptionContext:aws:ses:message-id": False},
        "StringEquals": {"kms:EncryptionContext:aws:ses:source-account": "000000000000"},
    },
}
ROOT_STATEMENT = {
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": "kms:*",
    "Resource": "*",
}
GOOD_CONTEXT = {"aws:ses:rule-name": "store", "aws:ses:message-id": "m-1", "aws:ses:source-account": ACCOUNT}


@pytest.fixture
def kms(tmp_path: Path) -> Iterator[KmsService]:
    engine = open_engine(f"sqlite:///{tmp_path / 'keyhold.db'}")
    create_schema(engine)
    yield KmsService(SqlKeyRepo(engine), RootKey(os.urandom(32)))
    engine.dispose()


@pytest.fixture
def root() -> RequestContext:
    principal = Principal(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, None, "AKIAROOT")
    return RequestContext(principal=principal, region=REGION, request_id="r")


def test_the_ses_statement_from_aws_documentation(kms: KmsService, root: RequestContext) -> None:
    policy = json.dumps({"Version": "2012-10-17", "Statement": [ROOT_STATEMENT, SES_STATEMENT]})
    key = kms.keys.create_key(root, policy=policy)
    ses = ServiceKmsClient(kms, "ses").as_service(ACCOUNT, REGION)

    plaintext, sealed = kms.crypto.generate_data_key(ses, key.key_id, 32, GOOD_CONTEXT)
    assert kms.crypto.decrypt(root, sealed.ciphertext, GOOD_CONTEXT).plaintext == plaintext
    kms.crypto.encrypt(ses, key.key_id, b"mail", GOOD_CONTEXT)

    without_rule = {k: v for k, v in GOOD_CONTEXT.items() if k != "aws:ses:rule-name"}
    with pytest.raises(AccessDenied, match=r"ses\.amazonaws\.com is not authorized to perform: kms:GenerateDataKey"):
        kms.crypto.generate_data_key(ses, key.key_id, 32, without_rule)
    with pytest.raises(AccessDenied):
        kms.crypto.encrypt(ses, key.key_id, b"mail", {**GOOD_CONTEXT, "aws:ses:source-account": "111111111111"})
    with pytest.raises(AccessDenied):  # the statement allows SES to encrypt, not to decrypt
        kms.crypto.decrypt(ses, sealed.ciphertext, GOOD_CONTEXT)


def test_a_service_principal_is_not_the_account(kms: KmsService, root: RequestContext) -> None:
    key = kms.keys.create_key(root)  # the default policy names only the account root
    ses = ServiceKmsClient(kms, "ses").as_service(ACCOUNT, REGION)
    with pytest.raises(AccessDenied):
        kms.crypto.encrypt(ses, key.key_id, b"mail", GOOD_CONTEXT)


def test_aws_managed_keys_work_only_via_their_service(kms: KmsService, root: RequestContext) -> None:
    s3 = ServiceKmsClient(kms, "s3")
    sealed = kms.crypto.encrypt(s3.on_behalf_of(root), "alias/aws/s3", b"object", {"aws:s3:arn": "arn:aws:s3:::b/k"})
    assert kms.crypto.decrypt(s3.on_behalf_of(root), sealed.ciphertext, {"aws:s3:arn": "arn:aws:s3:::b/k"}).plaintext
    with pytest.raises(AccessDenied):  # directly, without going through S3
        kms.crypto.encrypt(root, "alias/aws/s3", b"object", {})
    with pytest.raises(AccessDenied):  # through another service
        kms.crypto.encrypt(ServiceKmsClient(kms, "ses").on_behalf_of(root), "alias/aws/s3", b"object", {})


def test_grant_is_for_aws_resource_tells_service_grants_apart(kms: KmsService, root: RequestContext) -> None:
    """AWS's documented pattern: users may create grants only through an integrated service."""
    only_via_services = {
        "Effect": "Deny",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:CreateGrant",
        "Resource": "*",
        "Condition": {"Bool": {"kms:GrantIsForAWSResource": False}},
    }
    policy = json.dumps({"Version": "2012-10-17", "Statement": [ROOT_STATEMENT, only_via_services]})
    key = kms.keys.create_key(root, policy=policy)
    grantee = f"arn:aws:iam::{ACCOUNT}:user/worker"
    with pytest.raises(AccessDenied, match="explicit deny"):
        kms.grants.create(root, kms.authz, key.key_id, grantee, ["Decrypt"])
    via_s3 = ServiceKmsClient(kms, "s3").on_behalf_of(root)
    grant_id, _token = kms.grants.create(via_s3, kms.authz, key.key_id, grantee, ["Decrypt"])
    assert [g.grant_id for g in kms.grants.for_key(key.key_id)] == [grant_id]

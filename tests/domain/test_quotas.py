"""Request quotas: token buckets per account, region and bucket, with a clock the tests move, and KmsService's
operations charging the bucket their key (or KeyPairSpec) selects."""

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyhold.app import quotas_for
from keyhold.config import parse_serve
from keyhold.crypto.keywrap import RootKey
from keyhold.domain.context import RequestContext
from keyhold.domain.identity.model import Principal
from keyhold.domain.keys.errors import Throttled
from keyhold.domain.keys.service import KmsService
from keyhold.domain.keys.service_client import ServiceKmsClient
from keyhold.domain.quotas import (
    CHARGED_BY_KEY,
    ECC,
    NO_QUOTAS,
    RATES,
    RSA,
    SYMMETRIC,
    THROTTLED_MESSAGE,
    Quotas,
    TokenBucket,
    key_pair_bucket,
)
from keyhold.protocols.kms.router import OPERATIONS
from keyhold.protocols.model_validation import OperationValidator
from keyhold.storage.sql.db import create_schema, open_engine
from keyhold.storage.sql.keys import SqlKeyRepo

ACCOUNT = "000000000000"
OTHER_ACCOUNT = "111111111111"
REGION = "us-east-1"


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def context(account: str = ACCOUNT, region: str = REGION, user: str | None = None) -> RequestContext:
    arn = f"arn:aws:iam::{account}:user/{user}" if user else f"arn:aws:iam::{account}:root"
    principal = Principal(account, arn, user or account, user, "AKIAEXAMPLE")
    return RequestContext(principal=principal, region=region, request_id="r")


def passes(quotas: Quotas, ctx: RequestContext, bucket: str, attempts: int) -> int:
    """How many of ``attempts`` immediate requests the bucket lets through."""
    passed = 0
    for _ in range(attempts):
        try:
            quotas.charge(ctx, bucket)
            passed += 1
        except Throttled:
            pass
    return passed


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# -- the buckets ------------------------------------------------------------------------------------------------


def test_a_full_bucket_lets_its_rate_through_then_throttles(clock: FakeClock) -> None:
    quotas = Quotas(clock=clock)
    ctx = context()
    for _ in range(5):
        quotas.charge(ctx, "CreateKey")
    with pytest.raises(Throttled) as caught:
        quotas.charge(ctx, "CreateKey")
    assert caught.value.message == THROTTLED_MESSAGE


def test_buckets_refill_at_their_rate_up_to_their_capacity(clock: FakeClock) -> None:
    quotas = Quotas(clock=clock)
    ctx = context()
    assert passes(quotas, ctx, "CreateKey", 10) == 5
    clock.advance(0.1)  # half a token
    assert passes(quotas, ctx, "CreateKey", 10) == 0
    clock.advance(0.1)
    assert passes(quotas, ctx, "CreateKey", 10) == 1
    clock.advance(3600)  # an idle hour fills the bucket, no more
    assert passes(quotas, ctx, "CreateKey", 100) == 5


def test_a_rate_below_one_allows_one_request_then_one_per_interval(clock: FakeClock) -> None:
    quotas = Quotas(rates={"GetParametersForImport": 0.25}, clock=clock)
    ctx = context()
    assert passes(quotas, ctx, "GetParametersForImport", 3) == 1
    clock.advance(3.9)
    assert passes(quotas, ctx, "GetParametersForImport", 1) == 0
    clock.advance(0.1)
    assert passes(quotas, ctx, "GetParametersForImport", 3) == 1


def test_accounts_and_regions_have_buckets_of_their_own(clock: FakeClock) -> None:
    quotas = Quotas(clock=clock)
    assert passes(quotas, context(), "CreateKey", 10) == 5
    assert passes(quotas, context(OTHER_ACCOUNT), "CreateKey", 10) == 5
    assert passes(quotas, context(region="eu-west-1"), "CreateKey", 10) == 5


def test_users_of_one_account_share_its_buckets(clock: FakeClock) -> None:
    quotas = Quotas(clock=clock)
    assert passes(quotas, context(user="alice"), "CreateKey", 3) == 3
    assert passes(quotas, context(user="bob"), "CreateKey", 3) == 2
    assert passes(quotas, context(), "CreateKey", 3) == 0


def test_each_operation_has_its_own_bucket(clock: FakeClock) -> None:
    quotas = Quotas(clock=clock)
    ctx = context()
    assert passes(quotas, ctx, "CreateKey", 10) == 5
    assert passes(quotas, ctx, "CreateAlias", 10) == 5
    assert passes(quotas, ctx, "RetireGrant", 100) == 50


def test_operations_charged_by_their_key_are_not_buckets(clock: FakeClock) -> None:
    quotas = Quotas(rates={SYMMETRIC: 1}, clock=clock)
    ctx = context()
    for operation in CHARGED_BY_KEY:
        quotas.charge(ctx, operation)
    assert passes(quotas, ctx, SYMMETRIC, 2) == 1


def test_region_dependent_defaults_and_overrides() -> None:
    quotas = Quotas()
    assert quotas.rate(SYMMETRIC, "us-east-1") == 100_000
    assert quotas.rate(SYMMETRIC, "eu-west-2") == 20_000
    assert quotas.rate(SYMMETRIC, "eu-north-1") == 10_000
    assert quotas.rate(RSA, "eu-north-1") == 1_000
    assert quotas.rate(key_pair_bucket("RSA_4096"), "cn-north-1") == 0.1
    assert Quotas(rates={SYMMETRIC: 500}).rate(SYMMETRIC, "us-east-1") == 500


def test_each_worker_gets_its_share_of_every_rate(clock: FakeClock) -> None:
    quotas = Quotas(share=2, clock=clock)
    assert quotas.rate("CreateKey", REGION) == 2.5
    assert passes(quotas, context(), "CreateKey", 10) == 2
    assert Quotas(share=4).rate("GetParametersForImport", REGION) == 0.25


def test_full_buckets_are_forgotten_beyond_the_limit(clock: FakeClock) -> None:
    quotas = Quotas(clock=clock, max_buckets=2)
    quotas.charge(context(), "CreateKey")
    quotas.charge(context(OTHER_ACCOUNT), "CreateKey")
    clock.advance(1)  # both full again
    quotas.charge(context("222222222222"), "CreateKey")
    assert passes(quotas, context(), "CreateKey", 10) == 5


def test_concurrent_requests_never_take_more_than_the_bucket_holds(clock: FakeClock) -> None:
    quotas = Quotas(rates={SYMMETRIC: 1_000}, clock=clock)
    ctx = context()
    counts: list[int] = []

    def hammer() -> None:
        counts.append(passes(quotas, ctx, SYMMETRIC, 500))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 1_000


def test_quotas_off_never_throttle() -> None:
    for _ in range(100):
        NO_QUOTAS.charge(context(), "GetParametersForImport")


def test_every_kms_operation_has_a_quota() -> None:
    """Every operation in botocore's model (and so every one Keyhold serves) has a bucket of its own or is charged
    by its key; every KeyPairSpec has a bucket."""
    validator = OperationValidator.for_service("kms")
    assert OPERATIONS.keys() <= validator.operation_names
    for operation in validator.operation_names:
        assert (operation in RATES) != (operation in CHARGED_BY_KEY), operation
    for spec in ("RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521",
                 "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519", "SM2"):  # fmt: skip
        assert key_pair_bucket(spec) in RATES


def test_settings_turn_quotas_on() -> None:
    assert quotas_for(parse_serve([], env={})) is NO_QUOTAS
    assert parse_serve([], env={"KEYHOLD_ENFORCE_QUOTAS": "true"}).enforce_quotas
    assert not parse_serve([], env={"KEYHOLD_ENFORCE_QUOTAS": "0"}).enforce_quotas
    settings = parse_serve(["--enforce-quotas", "--quota-symmetric-rate", "50", "--workers", "2"], env={})
    quotas = quotas_for(settings)
    assert isinstance(quotas, Quotas)
    assert quotas.rate(SYMMETRIC, "us-east-1") == 25
    assert quotas.rate("CreateKey", "us-east-1") == 2.5
    assert parse_serve([], env={"KEYHOLD_QUOTA_SYMMETRIC_RATE": "0.5"}).quota_symmetric_rate == 0.5
    with pytest.raises(SystemExit):
        parse_serve(["--quota-symmetric-rate", "0"], env={})


# -- properties -------------------------------------------------------------------------------------------------

steps = st.lists(st.floats(min_value=0, max_value=5, allow_nan=False), min_size=1, max_size=80)


@given(rate=st.floats(min_value=0.05, max_value=200), gaps=steps)
def test_tokens_never_exceed_capacity_and_no_window_passes_more_than_it_may(rate: float, gaps: list[float]) -> None:
    """Over any period T a bucket lets through at most capacity + rate * T requests."""
    now = 0.0
    bucket = TokenBucket(rate, now)
    passed_at: list[float] = []
    for gap in gaps:
        now += gap
        if bucket.take(now):
            passed_at.append(now)
        assert 0 <= bucket.tokens <= bucket.capacity
    for first in range(len(passed_at)):
        for last in range(first, len(passed_at)):
            period = passed_at[last] - passed_at[first]
            assert last - first + 1 <= bucket.capacity + rate * period + 1e-6 * (1 + rate * period)


@given(rate=st.floats(min_value=0.05, max_value=200), gaps=steps)
def test_a_bucket_that_waits_long_enough_always_passes(rate: float, gaps: list[float]) -> None:
    now = 0.0
    bucket = TokenBucket(rate, now)
    for gap in gaps:
        now += gap
        bucket.take(now)
    assert bucket.take(now + (1 + 1e-9) / rate)


# -- KmsService charging the bucket of the key ------------------------------------------------------------------


@pytest.fixture
def quotas(clock: FakeClock) -> Quotas:
    small = {SYMMETRIC: 3, RSA: 2, ECC: 2, "DescribeKey": 1, key_pair_bucket("ECC_NIST_P256"): 1}
    return Quotas(rates=small, clock=clock)


@pytest.fixture
def kms(tmp_path: Path, quotas: Quotas) -> Iterator[KmsService]:
    engine = open_engine(f"sqlite:///{tmp_path / 'keyhold.db'}")
    create_schema(engine)
    yield KmsService(SqlKeyRepo(engine), RootKey(os.urandom(32)), quotas=quotas)
    engine.dispose()


def test_symmetric_operations_share_one_bucket(kms: KmsService, clock: FakeClock) -> None:
    root = context()
    key = kms.keys.create_key(root)
    hmac = kms.keys.create_key(root, key_spec="HMAC_256", key_usage="GENERATE_VERIFY_MAC")
    sealed = kms.crypto.encrypt(root, key.key_id, b"data", {})
    kms.crypto.decrypt(root, sealed.ciphertext, {})
    kms.macs.generate_mac(root, hmac.key_id, b"m", "HMAC_SHA_256")
    with pytest.raises(Throttled):
        kms.crypto.generate_data_key(root, key.key_id, 32, {})
    with pytest.raises(Throttled):
        kms.crypto.generate_random(root, 16)
    clock.advance(1)
    kms.crypto.generate_data_key(root, key.key_id, 32, {})


def test_rsa_ecc_and_symmetric_keys_have_separate_buckets(kms: KmsService) -> None:
    root = context()
    symmetric = kms.keys.create_key(root)
    rsa = kms.keys.create_key(root, key_spec="RSA_2048", key_usage="ENCRYPT_DECRYPT")
    ecc = kms.keys.create_key(root, key_spec="ECC_NIST_P256", key_usage="SIGN_VERIFY")
    for _ in range(2):
        kms.crypto.encrypt(root, rsa.key_id, b"x", {}, "RSAES_OAEP_SHA_256")
    with pytest.raises(Throttled):
        kms.crypto.encrypt(root, rsa.key_id, b"x", {}, "RSAES_OAEP_SHA_256")
    for _ in range(2):
        kms.asymmetric.sign(root, ecc.key_id, b"m", None, "ECDSA_SHA_256")
    with pytest.raises(Throttled):
        kms.asymmetric.verify(root, ecc.key_id, b"m", None, "ECDSA_SHA_256", b"sig")
    kms.crypto.encrypt(root, symmetric.key_id, b"x", {})
    kms.asymmetric.get_public_key(root, ecc.key_id)  # GetPublicKey has its own quota, not the key type's


def test_re_encrypt_takes_one_token_from_each_bucket_it_touches(kms: KmsService, quotas: Quotas) -> None:
    root = context()
    first, second = kms.keys.create_key(root), kms.keys.create_key(root)
    rsa = kms.keys.create_key(root, key_spec="RSA_2048", key_usage="ENCRYPT_DECRYPT")
    sealed = kms.crypto.encrypt(root, first.key_id, b"x", {})  # symmetric: 2 left
    kms.crypto.re_encrypt(root, sealed.ciphertext, {}, None, second.key_id, {})  # symmetric: 1 left
    kms.crypto.re_encrypt(
        root, sealed.ciphertext, {}, None, rsa.key_id, {}, destination_algorithm="RSAES_OAEP_SHA_256"
    )  # symmetric: 0 left, RSA: 1 left
    assert passes(quotas, root, SYMMETRIC, 1) == 0
    assert passes(quotas, root, RSA, 2) == 1


def test_data_key_pairs_are_charged_per_key_pair_spec(kms: KmsService, quotas: Quotas) -> None:
    root = context()
    key = kms.keys.create_key(root)
    kms.crypto.generate_data_key_pair(root, key.key_id, "ECC_NIST_P256", {})
    with pytest.raises(Throttled):
        kms.crypto.generate_data_key_pair(
            root, key.key_id, "ECC_NIST_P256", {}, operation="GenerateDataKeyPairWithoutPlaintext"
        )
    kms.crypto.generate_data_key_pair(root, key.key_id, "ECC_NIST_P384", {})
    assert passes(quotas, root, SYMMETRIC, 5) == 3  # the symmetric key's own bucket is not charged


def test_calls_made_by_keyhold_services_count_against_the_account(kms: KmsService) -> None:
    root = context()
    key = kms.keys.create_key(root)
    s3 = ServiceKmsClient(kms, "s3")
    ses = ServiceKmsClient(kms, "ses")
    kms.crypto.encrypt(root, key.key_id, b"x", {})
    s3.generate_data_key(s3.on_behalf_of(root), key.key_id, {})
    s3.encrypt(s3.on_behalf_of(root), key.key_id, b"x", {})
    with pytest.raises(Throttled):
        s3.decrypt(s3.on_behalf_of(root), b"anything", {})
    with pytest.raises(Throttled):
        ses.encrypt(ses.as_service(ACCOUNT, REGION), key.key_id, b"mail", {})
    s3.describe_key(s3.on_behalf_of(root), key.key_id)
    with pytest.raises(Throttled):
        s3.describe_key(s3.on_behalf_of(root), key.key_id)

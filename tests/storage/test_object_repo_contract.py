"""The ObjectRepo contract (keyhold.domain.objects.ports) against SqlObjectRepo on SQLite and PostgreSQL: buckets,
objects with their conditions, listings in S3's key order (UTF-8 bytes, whatever the database's collation),
multipart uploads, SSE-S3 keys, and the races a multi-process server can run into."""

import itertools
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from keyhold.domain.objects.errors import NoSuchBucket, NoSuchUpload, PreconditionFailed
from keyhold.domain.objects.model import (
    SSE_KMS,
    SSE_KMS_DSSE,
    SSE_S3,
    BucketEncryption,
    Checksum,
    Envelope,
    ObjectRecord,
    SseS3Key,
    StoredPart,
    UploadedPart,
)
from keyhold.domain.objects.ports import DeleteBucketResult, ObjectRepo
from keyhold.storage.sql.db import create_schema, open_engine
from keyhold.storage.sql.objects import SqlObjectRepo, prefix_upper_bound
from support.objects import ACCOUNT, BUCKET, REGION, T0, blob_id, make_bucket, make_part, make_record, make_upload

OTHER_ACCOUNT = "111111111111"

_names = itertools.count()


@pytest.fixture
def repo(engine: Engine) -> SqlObjectRepo:
    return SqlObjectRepo(engine)


def test_sql_object_repo_is_an_object_repo(repo: SqlObjectRepo) -> None:
    port: ObjectRepo = repo  # a static check, for mypy run over the tests
    assert callable(port.put_object)


def full_envelope() -> Envelope:
    return Envelope(
        mode=SSE_KMS_DSSE,
        kms_key_arn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{uuid.uuid4()}",
        context={"aws:s3:arn": f"arn:aws:s3:::{BUCKET}/ключ", "ü ✓": "\U0001f511"},
        kms_wrapped=os.urandom(184),
        bucket_key=True,
        salt=os.urandom(32),
        s3_key_id="sse-s3-1",
        s3_wrapped=b"\x00" + os.urandom(59),
        customer_key_check=os.urandom(32),
        sealed_key=os.urandom(48),
    )


@pytest.fixture
def bucket(repo: SqlObjectRepo) -> str:
    assert repo.create_bucket(make_bucket()) is None
    return BUCKET


# ---- buckets ------------------------------------------------------------------------------------------------


def test_create_and_get_bucket_round_trip_every_field(repo: SqlObjectRepo) -> None:
    bucket = make_bucket(
        encryption=BucketEncryption(SSE_KMS, "alias/ünï", bucket_key_enabled=True, blocked_types=("SSE-C", "NONE")),
        policy='{"Version": "2012-10-17", "Statement": [{"Sid": "✓"}]}',
    )
    assert repo.create_bucket(bucket) is None
    assert repo.get_bucket(bucket.name) == bucket

    plain = make_bucket("plain-bucket")
    assert repo.create_bucket(plain) is None
    assert repo.get_bucket("plain-bucket") == plain
    assert repo.get_bucket("no-such-bucket") is None


def test_create_bucket_with_a_taken_name_returns_the_existing_one(repo: SqlObjectRepo) -> None:
    first = make_bucket(policy="{}")
    assert repo.create_bucket(first) is None
    assert repo.create_bucket(make_bucket(account_id=OTHER_ACCOUNT, created_at=T0 + 5)) == first
    assert repo.get_bucket(BUCKET) == first


def test_list_buckets_is_per_account_in_byte_order(repo: SqlObjectRepo) -> None:
    names = ["b.c", "a-b", "ab", "a.b", "a", "a0", "b-c"]
    for name in names:
        repo.create_bucket(make_bucket(name))
    repo.create_bucket(make_bucket("other", OTHER_ACCOUNT))

    assert [b.name for b in repo.list_buckets(ACCOUNT)] == sorted(names)
    assert [b.name for b in repo.list_buckets(OTHER_ACCOUNT)] == ["other"]
    assert repo.list_buckets("222222222222") == []


def test_set_bucket_encryption_and_policy(repo: SqlObjectRepo, bucket: str) -> None:
    encryption = BucketEncryption(SSE_S3)
    assert repo.set_bucket_encryption(bucket, encryption) is True
    assert repo.get_bucket(bucket) == make_bucket(encryption=encryption)
    dsse = BucketEncryption(SSE_KMS_DSSE, f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/x", False, ("NONE",))
    assert repo.set_bucket_encryption(bucket, dsse) is True
    assert repo.set_bucket_policy(bucket, '{"p": 1}') is True
    assert repo.get_bucket(bucket) == make_bucket(encryption=dsse, policy='{"p": 1}')

    assert repo.set_bucket_encryption(bucket, None) is True
    assert repo.set_bucket_policy(bucket, None) is True
    assert repo.get_bucket(bucket) == make_bucket()

    assert repo.set_bucket_encryption("no-such-bucket", encryption) is False
    assert repo.set_bucket_policy("no-such-bucket", "{}") is False
    assert repo.get_bucket("no-such-bucket") is None


def test_delete_bucket_not_found(repo: SqlObjectRepo) -> None:
    assert repo.delete_bucket("no-such-bucket") == (DeleteBucketResult.NOT_FOUND, [])


def test_delete_bucket_refuses_while_it_holds_objects(repo: SqlObjectRepo, bucket: str) -> None:
    record = make_record()
    repo.put_object(record)
    upload = make_upload()
    repo.create_upload(upload)
    repo.put_part(make_part(upload.upload_id, 1))

    assert repo.delete_bucket(bucket) == (DeleteBucketResult.NOT_EMPTY, [])

    assert repo.get_bucket(bucket) == make_bucket()
    assert repo.get_object(bucket, "key") == record
    assert repo.get_upload(upload.upload_id) == upload
    assert len(repo.list_parts(upload.upload_id, 0, 10)) == 1

    repo.delete_object(bucket, "key")
    result, blob_ids = repo.delete_bucket(bucket)
    assert result is DeleteBucketResult.DELETED
    assert len(blob_ids) == 1


def test_delete_bucket_deletes_its_uploads_and_returns_their_blobs(repo: SqlObjectRepo, bucket: str) -> None:
    first, second = make_upload("a"), make_upload("b")
    repo.create_upload(first)
    repo.create_upload(second)
    parts = [make_part(first.upload_id, 1), make_part(first.upload_id, 2), make_part(second.upload_id, 7)]
    for part in parts:
        repo.put_part(part)
    repo.create_bucket(make_bucket("neighbour"))
    neighbour = make_upload("a", bucket="neighbour")
    repo.create_upload(neighbour)
    neighbour_part = make_part(neighbour.upload_id, 1)
    repo.put_part(neighbour_part)

    result, blob_ids = repo.delete_bucket(bucket)

    assert result is DeleteBucketResult.DELETED
    assert sorted(blob_ids) == sorted(p.blob_id for p in parts)
    assert repo.get_bucket(bucket) is None
    assert repo.get_upload(first.upload_id) is None
    assert repo.get_upload(second.upload_id) is None
    assert repo.list_parts(first.upload_id, 0, 100) == []
    assert repo.list_uploads(bucket, "", None, None, 100) == []
    # Other buckets keep theirs.
    assert repo.list_uploads("neighbour", "", None, None, 100) == [neighbour]
    assert repo.list_parts(neighbour.upload_id, 0, 100) == [neighbour_part]

    # The name is free again, and the new bucket starts empty.
    assert repo.delete_bucket(bucket) == (DeleteBucketResult.NOT_FOUND, [])
    assert repo.create_bucket(make_bucket(account_id=OTHER_ACCOUNT)) is None
    assert repo.count_objects(bucket) == 0


def test_delete_empty_bucket(repo: SqlObjectRepo, bucket: str) -> None:
    assert repo.delete_bucket(bucket) == (DeleteBucketResult.DELETED, [])
    assert repo.list_buckets(ACCOUNT) == []


# ---- objects ------------------------------------------------------------------------------------------------


def test_put_object_round_trips_every_field(repo: SqlObjectRepo, bucket: str) -> None:
    record = make_record(
        key="dir/ключ ✓ %_\U0001f600",
        size=5 * (1 << 40) + 3,
        etag="0123456789abcdef0123456789abcdef-3",
        last_modified=T0 + 0.123456,
        content_type="text/plain; charset=utf-8",
        headers={"cache-control": "max-age=60", "content-disposition": 'attachment; filename="ü.txt"'},
        user_metadata={"ünïcode": "välue ✓", "empty": "", "quote": '"\\', "astral": "\U0001f600"},
        checksum=Checksum("CRC64NVME", "AAAAAAAAAAA=-3", "COMPOSITE"),
        encryption=full_envelope(),
        parts=(
            StoredPart(1, 5 << 30, blob_id(), "aa" * 16),
            StoredPart(2, 5 << 30, blob_id(), "bb" * 16),
            StoredPart(3, 1, blob_id(), "cc" * 16),
        ),
    )
    assert repo.put_object(record) is None
    stored = repo.get_object(bucket, record.key)
    assert stored == record
    assert stored is not None
    assert stored.encryption.kms_wrapped == record.encryption.kms_wrapped
    assert dict(stored.encryption.context or {}) == dict(record.encryption.context or {})


def test_put_object_round_trips_the_defaults(repo: SqlObjectRepo, bucket: str) -> None:
    record = ObjectRecord(bucket, "k", 0, "d41d8cd98f00b204e9800998ecf8427e", T0, "")
    repo.put_object(record)
    assert repo.get_object(bucket, "k") == record
    sse_s3 = make_record(
        key="s3",
        encryption=Envelope(SSE_S3, s3_key_id="k1", s3_wrapped=os.urandom(60)),
        checksum=Checksum("SHA256", "x="),
    )
    repo.put_object(sse_s3)
    assert repo.get_object(bucket, "s3") == sse_s3


def test_put_object_replaces_and_returns_the_replaced_record(repo: SqlObjectRepo, bucket: str) -> None:
    first = make_record(user_metadata={"v": "1"}, checksum=Checksum("CRC32", "AAAAAA=="))
    second = make_record(user_metadata={"v": "2"}, size=99, last_modified=T0 + 1)
    assert repo.put_object(first) is None
    assert repo.put_object(second) == first
    assert repo.get_object(bucket, "key") == second
    assert repo.count_objects(bucket) == 1


def test_put_object_into_a_missing_bucket(repo: SqlObjectRepo) -> None:
    for kwargs in ({}, {"if_absent": True}, {"if_etag": "x"}):
        with pytest.raises(NoSuchBucket) as raised:
            repo.put_object(make_record("no-such-bucket"), **kwargs)
        assert raised.value.bucket == "no-such-bucket"
    assert repo.get_object("no-such-bucket", "key") is None


def test_put_object_if_absent(repo: SqlObjectRepo, bucket: str) -> None:
    first = make_record()
    assert repo.put_object(first, if_absent=True) is None
    with pytest.raises(PreconditionFailed):
        repo.put_object(make_record(), if_absent=True)
    assert repo.get_object(bucket, "key") == first
    # Another key is absent.
    assert repo.put_object(make_record(key="other"), if_absent=True) is None


def test_put_object_if_etag(repo: SqlObjectRepo, bucket: str) -> None:
    first = make_record()
    repo.put_object(first)
    second = make_record()

    with pytest.raises(PreconditionFailed):
        repo.put_object(second, if_etag="0" * 32)
    assert repo.get_object(bucket, "key") == first

    assert repo.put_object(second, if_etag=first.etag) == first
    assert repo.get_object(bucket, "key") == second

    # No object: no ETag matches.
    with pytest.raises(PreconditionFailed):
        repo.put_object(make_record(key="absent"), if_etag=first.etag)
    assert repo.get_object(bucket, "absent") is None


def test_delete_object(repo: SqlObjectRepo, bucket: str) -> None:
    record = make_record(encryption=full_envelope())
    repo.put_object(record)
    repo.put_object(make_record(key="keep"))

    assert repo.delete_object(bucket, "key") == record
    assert repo.get_object(bucket, "key") is None
    assert repo.delete_object(bucket, "key") is None
    assert repo.delete_object("no-such-bucket", "key") is None
    assert repo.count_objects(bucket) == 1


def test_objects_of_different_buckets_are_apart(repo: SqlObjectRepo, bucket: str) -> None:
    repo.create_bucket(make_bucket("second"))
    mine, theirs = make_record(), make_record("second")
    repo.put_object(mine)
    repo.put_object(theirs)
    assert repo.get_object(bucket, "key") == mine
    assert repo.get_object("second", "key") == theirs
    assert repo.count_objects(bucket) == 1
    assert [r.bucket for r in repo.list_objects("second", "", None, None, 10)] == ["second"]
    assert repo.delete_object("second", "key") == theirs
    assert repo.get_object(bucket, "key") == mine


def keys_of(records: list[ObjectRecord]) -> list[str]:
    return [r.key for r in records]


def test_list_objects_prefix_after_from_key_and_limit(repo: SqlObjectRepo, bucket: str) -> None:
    keys = ["a", "a/1", "a/2", "a/2/x", "a0", "a_b", "a%b", "ab", "b", "b/1", "é", "\U0001f600", "\uffff"]
    for key in keys:
        repo.put_object(make_record(key=key))
    ordered = sorted(keys)

    assert keys_of(repo.list_objects(bucket, "", None, None, 100)) == ordered
    assert keys_of(repo.list_objects(bucket, "", None, None, 3)) == ordered[:3]
    assert repo.list_objects(bucket, "", None, None, 0) == []
    assert keys_of(repo.list_objects(bucket, "a/", None, None, 100)) == ["a/1", "a/2", "a/2/x"]
    assert keys_of(repo.list_objects(bucket, "a", None, None, 100)) == [k for k in ordered if k.startswith("a")]
    # LIKE's wildcards are plain characters in a prefix.
    assert keys_of(repo.list_objects(bucket, "a_", None, None, 100)) == ["a_b"]
    assert keys_of(repo.list_objects(bucket, "a%", None, None, 100)) == ["a%b"]
    assert keys_of(repo.list_objects(bucket, "é", None, None, 100)) == ["é"]
    assert repo.list_objects(bucket, "zz", None, None, 100) == []

    # after: strictly greater; from_key: not less; both are positions, not necessarily stored keys.
    assert keys_of(repo.list_objects(bucket, "", None, None, 100))[:8] == [
        "a", "a%b", "a/1", "a/2", "a/2/x", "a0", "a_b", "ab"
    ]  # fmt: skip
    assert keys_of(repo.list_objects(bucket, "a", "a/2", None, 100)) == ["a/2/x", "a0", "a_b", "ab"]
    assert keys_of(repo.list_objects(bucket, "a", None, "a/2", 100)) == ["a/2", "a/2/x", "a0", "a_b", "ab"]
    assert keys_of(repo.list_objects(bucket, "a/", "a/1", "a/0", 100)) == ["a/2", "a/2/x"]
    assert keys_of(repo.list_objects(bucket, "", "a/", "a0", 2)) == ["a0", "a_b"]
    assert keys_of(repo.list_objects(bucket, "", "a0", "a/", 2)) == ["a_b", "ab"]
    assert keys_of(repo.list_objects(bucket, "", "\U0001f600", None, 100)) == []
    assert keys_of(repo.list_objects(bucket, "", "\uffff", None, 100)) == ["\U0001f600"]

    # Paging with after walks every key once.
    seen: list[str] = []
    after: str | None = None
    while page := repo.list_objects(bucket, "", after, None, 4):
        seen += keys_of(page)
        after = page[-1].key
    assert seen == ordered


def test_list_objects_with_the_greatest_code_point_in_the_prefix(repo: SqlObjectRepo, bucket: str) -> None:
    top = "\U0010ffff"
    keys = [top, top + "a", top + top, "a" + top, "a" + top + "b", "b", "\ud7ff", "\ud7ffx", "\ue000"]
    for key in keys:
        repo.put_object(make_record(key=key))
    for prefix in [top, top + top, "a" + top, "a", "\ud7ff", "\ue000", ""]:
        expected = sorted(k for k in keys if k.startswith(prefix))
        assert keys_of(repo.list_objects(bucket, prefix, None, None, 100)) == expected, prefix


def test_count_objects(repo: SqlObjectRepo, bucket: str) -> None:
    assert repo.count_objects(bucket) == 0
    assert repo.count_objects("no-such-bucket") == 0
    for i in range(5):
        repo.put_object(make_record(key=f"k{i}"))
    repo.put_object(make_record(key="k0"))
    assert repo.count_objects(bucket) == 5


# A property: listings match Python's ordering and prefix test on every backend, for any valid keys.

_SPECIALS = ["%", "_", "/", "a", "b", "é", "\x7f", "\x01", "\uffff", "\ud7ff", "\ue000", "\U0001f600", "\U0010ffff"]
# Valid Unicode text without surrogates (they cannot be UTF-8 encoded) or NUL (PostgreSQL text cannot hold it).
_CHARS = st.one_of(st.sampled_from(_SPECIALS), st.characters(codec="utf-8", exclude_characters="\x00"))
_KEYS = st.text(_CHARS, min_size=1, max_size=6)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), keys=st.lists(_KEYS, min_size=1, max_size=12, unique=True))
def test_list_objects_orders_and_filters_like_python(repo: SqlObjectRepo, data: st.DataObject, keys: list[str]) -> None:
    name = f"prop-{next(_names)}"
    repo.create_bucket(make_bucket(name))
    try:
        for key in keys:
            repo.put_object(make_record(name, key))
        for _ in range(4):
            source = data.draw(st.sampled_from(keys))
            cut = data.draw(st.integers(0, len(source)))
            prefix = data.draw(st.one_of(st.just(source[:cut]), st.just(""), _KEYS))
            after = data.draw(st.one_of(st.none(), st.sampled_from(keys), _KEYS))
            from_key = data.draw(st.one_of(st.none(), st.sampled_from(keys), _KEYS))
            limit = data.draw(st.integers(1, 15))
            expected = sorted(
                k
                for k in keys
                if k.startswith(prefix) and (after is None or k > after) and (from_key is None or k >= from_key)
            )[:limit]
            assert keys_of(repo.list_objects(name, prefix, after, from_key, limit)) == expected
    finally:
        for key in keys:
            repo.delete_object(name, key)
        repo.delete_bucket(name)


@given(
    prefix=st.text(_CHARS, max_size=4),
    rest=st.text(_CHARS, max_size=4),
    other=st.text(_CHARS, max_size=8),
)
def test_prefix_upper_bound_bounds_exactly_the_strings_with_the_prefix(prefix: str, rest: str, other: str) -> None:
    upper = prefix_upper_bound(prefix)
    for candidate in (prefix + rest, other, prefix[:-1] + other):
        in_range = candidate >= prefix and (upper is None or candidate < upper)
        assert in_range == candidate.startswith(prefix)


# ---- multipart uploads ----------------------------------------------------------------------------------------


def test_create_and_get_upload_round_trip_every_field(repo: SqlObjectRepo, bucket: str) -> None:
    upload = make_upload(
        key="dir/ключ %_✓",
        initiated=T0 + 0.5,
        content_type="image/png",
        headers={"cache-control": "no-cache"},
        user_metadata={"ü": "✓", "a": ""},
        checksum_algorithm="CRC32C",
        checksum_type="COMPOSITE",
        encryption=full_envelope(),
    )
    repo.create_upload(upload)
    assert repo.get_upload(upload.upload_id) == upload
    plain = make_upload()
    repo.create_upload(plain)
    assert repo.get_upload(plain.upload_id) == plain
    assert repo.get_upload("no-such-upload") is None


def test_create_upload_in_a_missing_bucket(repo: SqlObjectRepo) -> None:
    upload = make_upload(bucket="no-such-bucket")
    with pytest.raises(NoSuchBucket):
        repo.create_upload(upload)
    assert repo.get_upload(upload.upload_id) is None


def test_list_uploads_order_and_markers(repo: SqlObjectRepo, bucket: str) -> None:
    # Upload ids sort against the initiation order: the order within a key comes from "initiated".
    uploads = [
        make_upload("a", upload_id="z-1", initiated=T0 + 1),
        make_upload("a", upload_id="y-2", initiated=T0 + 2),
        make_upload("a", upload_id="x-3", initiated=T0 + 2),
        make_upload("a/b", upload_id="w-4", initiated=T0),
        make_upload("a_c", upload_id="v-5", initiated=T0 + 9),
        make_upload("b", upload_id="u-6", initiated=T0 - 1),
    ]
    for upload in reversed(uploads):
        repo.create_upload(upload)
    repo.create_bucket(make_bucket("second"))
    repo.create_upload(make_upload("a", bucket="second"))
    ordered = [uploads[0], uploads[2], uploads[1], uploads[3], uploads[4], uploads[5]]

    def ids(prefix: str, key_marker: str | None, upload_id_marker: str | None, limit: int = 100) -> list[str]:
        return [u.upload_id for u in repo.list_uploads(bucket, prefix, key_marker, upload_id_marker, limit)]

    every = [u.upload_id for u in ordered]
    assert repo.list_uploads(bucket, "", None, None, 100) == ordered
    assert ids("", None, None, 2) == every[:2]
    assert ids("", None, None, 0) == []
    assert ids("a/", None, None) == ["w-4"]
    assert ids("a_", None, None) == ["v-5"]
    assert ids("a", None, None) == every[:5]
    # key_marker alone: keys after it.
    assert ids("", "a", None) == every[3:]
    assert ids("", "a/a", None) == every[3:]
    assert ids("", "b", None) == []
    # With an upload id marker: the key marker's uploads after that upload, then the keys after.
    assert ids("", "a", "z-1") == every[1:]
    assert ids("", "a", "x-3") == every[2:]
    assert ids("", "a", "y-2") == every[3:]
    assert ids("", "a", "y-2", 1) == ["w-4"]
    assert ids("a", "a", "z-1", 2) == ["x-3", "y-2"]
    # A marker upload that is gone: the key's uploads with greater ids follow.
    assert ids("", "a", "xa") == ["z-1", "y-2", *every[3:]]
    # upload_id_marker without key_marker is ignored.
    assert ids("", None, "y-2") == every

    # Paging the way ListMultipartUploads does walks every upload once.
    seen: list[str] = []
    key_marker: str | None = None
    upload_id_marker: str | None = None
    while page := repo.list_uploads(bucket, "", key_marker, upload_id_marker, 2):
        seen += [u.upload_id for u in page]
        key_marker, upload_id_marker = page[-1].key, page[-1].upload_id
    assert seen == every


def test_put_part_inserts_and_replaces(repo: SqlObjectRepo, bucket: str) -> None:
    upload = make_upload()
    repo.create_upload(upload)
    first = make_part(upload.upload_id, 1, checksum="AAAAAA==")
    assert repo.put_part(first) is None
    again = make_part(upload.upload_id, 1, size=7)
    assert repo.put_part(again) == first
    assert repo.list_parts(upload.upload_id, 0, 10) == [again]


def test_put_part_of_a_missing_upload(repo: SqlObjectRepo, bucket: str) -> None:
    with pytest.raises(NoSuchUpload) as raised:
        repo.put_part(make_part("no-such-upload", 1))
    assert raised.value.upload_id == "no-such-upload"
    assert repo.list_parts("no-such-upload", 0, 10) == []


def test_list_parts_orders_by_number_after_a_marker(repo: SqlObjectRepo, bucket: str) -> None:
    upload, other = make_upload(), make_upload()
    repo.create_upload(upload)
    repo.create_upload(other)
    parts = {n: make_part(upload.upload_id, n, size=n) for n in (10000, 3, 1, 20, 2)}
    for part in parts.values():
        repo.put_part(part)
    repo.put_part(make_part(other.upload_id, 4))
    ordered = [parts[n] for n in sorted(parts)]

    assert repo.list_parts(upload.upload_id, 0, 100) == ordered
    assert repo.list_parts(upload.upload_id, 0, 2) == ordered[:2]
    assert repo.list_parts(upload.upload_id, 2, 2) == ordered[2:4]
    assert repo.list_parts(upload.upload_id, 19, 100) == ordered[3:]
    assert repo.list_parts(upload.upload_id, 10000, 100) == []
    assert repo.list_parts(upload.upload_id, 0, 0) == []


def test_complete_upload(repo: SqlObjectRepo, bucket: str) -> None:
    upload = make_upload("big")
    repo.create_upload(upload)
    parts = [make_part(upload.upload_id, n) for n in (1, 2, 3, 4)]
    for part in parts:
        repo.put_part(part)
    used = (parts[0], parts[2])
    record = make_record(
        key="big",
        etag="ab" * 16 + "-2",
        size=sum(p.size for p in used),
        parts=tuple(StoredPart(p.number, p.size, p.blob_id, p.etag) for p in used),
        encryption=full_envelope(),
    )

    replaced, unused = repo.complete_upload(upload.upload_id, record)

    assert replaced is None
    assert unused == [parts[1], parts[3]]
    assert repo.get_object(bucket, "big") == record
    assert repo.get_upload(upload.upload_id) is None
    assert repo.list_parts(upload.upload_id, 0, 100) == []
    assert repo.list_uploads(bucket, "", None, None, 100) == []
    with pytest.raises(NoSuchUpload):
        repo.complete_upload(upload.upload_id, record)
    with pytest.raises(NoSuchUpload):
        repo.put_part(make_part(upload.upload_id, 5))


def test_complete_upload_replaces_an_object(repo: SqlObjectRepo, bucket: str) -> None:
    old = make_record(key="k")
    repo.put_object(old)
    upload = make_upload("k")
    repo.create_upload(upload)
    part = make_part(upload.upload_id, 1)
    repo.put_part(part)
    record = make_record(key="k", parts=(StoredPart(1, part.size, part.blob_id, part.etag),))

    assert repo.complete_upload(upload.upload_id, record) == (old, [])
    assert repo.get_object(bucket, "k") == record


def test_complete_a_missing_upload_changes_nothing(repo: SqlObjectRepo, bucket: str) -> None:
    with pytest.raises(NoSuchUpload):
        repo.complete_upload("no-such-upload", make_record())
    assert repo.get_object(bucket, "key") is None
    with pytest.raises(NoSuchUpload):
        repo.complete_upload("no-such-upload", make_record("no-such-bucket"))


def test_abort_upload(repo: SqlObjectRepo, bucket: str) -> None:
    upload, other = make_upload(), make_upload()
    repo.create_upload(upload)
    repo.create_upload(other)
    parts = [make_part(upload.upload_id, n) for n in (2, 1)]
    for part in parts:
        repo.put_part(part)
    kept = make_part(other.upload_id, 1)
    repo.put_part(kept)

    assert repo.abort_upload(upload.upload_id) == [parts[1], parts[0]]
    assert repo.get_upload(upload.upload_id) is None
    assert repo.list_parts(upload.upload_id, 0, 10) == []
    assert repo.abort_upload(upload.upload_id) is None
    assert repo.abort_upload("no-such-upload") is None
    assert repo.list_parts(other.upload_id, 0, 10) == [kept]

    empty = make_upload()
    repo.create_upload(empty)
    assert repo.abort_upload(empty.upload_id) == []


# ---- the SSE-S3 key -------------------------------------------------------------------------------------------


def test_sse_s3_keys_oldest_first(repo: SqlObjectRepo) -> None:
    assert repo.sse_s3_keys() == []
    keys = [SseS3Key("k-b", T0 + 2, os.urandom(60)), SseS3Key("k-c", T0, b"\x00\xff"), SseS3Key("k-a", T0 + 1, b"w")]
    for key in keys:
        repo.add_sse_s3_key(key)
    assert repo.sse_s3_keys() == [keys[1], keys[2], keys[0]]
    with pytest.raises(IntegrityError):
        repo.add_sse_s3_key(SseS3Key("k-a", T0 + 5, b"other"))
    assert len(repo.sse_s3_keys()) == 3


# ---- schema -------------------------------------------------------------------------------------------------


def test_schema_has_the_object_tables_with_binary_ordered_keys(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {"s3_buckets", "s3_objects", "s3_uploads", "s3_parts", "s3_sse_keys"} <= tables
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT table_name, column_name, collation_name FROM information_schema.columns "
                "WHERE table_name IN ('s3_buckets', 's3_objects', 's3_uploads', 's3_parts') "
                "AND column_name IN ('name', 'bucket', 'key', 'upload_id')"
            )
        ).all()
    assert len(rows) == 7
    assert {row.collation_name for row in rows} == {"C"}


@pytest.fixture
def icu_engine() -> Iterator[Engine]:
    """A PostgreSQL database whose default collation (ICU en-US) sorts "a-b" after "a_b" and "B" after "ab"."""
    admin = "postgresql://postgres@127.0.0.1:5432/test"
    name = f"keyhold_test_icu_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        )
    engine = open_engine(f"postgresql://postgres@127.0.0.1:5432/{name}")
    try:
        create_schema(engine)
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
def test_key_order_is_byte_order_whatever_the_database_collation(icu_engine: Engine) -> None:
    repo = SqlObjectRepo(icu_engine)
    names = ["a.b", "a-b", "ab", "a0"]
    for name in names:
        repo.create_bucket(make_bucket(name))
    assert [b.name for b in repo.list_buckets(ACCOUNT)] == sorted(names)

    keys = ["a-b", "a_b", "ab", "aB", "B", "a b", "a", "é", "e", "f", "\U0001f600", "\uffff"]
    for key in keys:
        repo.put_object(make_record("ab", key))
        repo.create_upload(make_upload(key, bucket="ab", upload_id=f"u-{key}"))
    assert keys_of(repo.list_objects("ab", "", None, None, 100)) == sorted(keys)
    assert keys_of(repo.list_objects("ab", "", "a_b", None, 100)) == [k for k in sorted(keys) if k > "a_b"]
    assert keys_of(repo.list_objects("ab", "a", None, None, 100)) == sorted(k for k in keys if k.startswith("a"))
    assert [u.key for u in repo.list_uploads("ab", "", None, None, 100)] == sorted(keys)


# ---- races ----------------------------------------------------------------------------------------------------


def run_concurrently(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(0..count-1) on as many threads, released together; returns results or the exceptions raised."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as error:  # collected for the test to inspect
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_concurrent_puts_of_a_new_key_replace_each_other_in_turn(repo: SqlObjectRepo, bucket: str) -> None:
    records = [make_record(key="race") for _ in range(8)]
    results = run_concurrently(8, lambda i: repo.put_object(records[i]))
    assert not [r for r in results if isinstance(r, Exception)]
    current = repo.get_object(bucket, "race")
    assert current is not None
    # Every record but the last one written was replaced exactly once, and one put found nothing.
    replaced = [r.etag for r in results if r is not None]
    assert results.count(None) == 1
    assert sorted([*replaced, current.etag]) == sorted(r.etag for r in records)


def test_concurrent_puts_if_absent_let_one_win(repo: SqlObjectRepo, bucket: str) -> None:
    records = [make_record(key="once") for _ in range(8)]
    results = run_concurrently(8, lambda i: repo.put_object(records[i], if_absent=True))
    winners = [records[i] for i, r in enumerate(results) if r is None]
    assert len(winners) == 1
    assert all(isinstance(r, PreconditionFailed) for r in results if r is not None)
    assert repo.get_object(bucket, "once") == winners[0]


def test_concurrent_puts_if_etag_let_one_win(repo: SqlObjectRepo, bucket: str) -> None:
    first = make_record(key="cas")
    repo.put_object(first)
    records = [make_record(key="cas") for _ in range(8)]
    results = run_concurrently(8, lambda i: repo.put_object(records[i], if_etag=first.etag))
    winners = [records[i] for i, r in enumerate(results) if r == first]
    assert len(winners) == 1
    assert sum(isinstance(r, PreconditionFailed) for r in results) == 7
    assert repo.get_object(bucket, "cas") == winners[0]


def test_concurrent_part_uploads_and_completion_lose_no_part(repo: SqlObjectRepo, bucket: str) -> None:
    """Each part is either in the upload when it completes (returned as used or unused) or refused."""
    upload = make_upload("parts")
    repo.create_upload(upload)
    parts = [make_part(upload.upload_id, n) for n in range(1, 9)]
    record = make_record(key="parts", parts=())
    outcome: dict[str, Any] = {}

    def work(i: int) -> Any:
        if i == len(parts):
            outcome["complete"] = repo.complete_upload(upload.upload_id, record)
            return None
        return repo.put_part(parts[i])

    results = run_concurrently(len(parts) + 1, work)
    refused = {parts[i].blob_id for i, r in enumerate(results[:-1]) if isinstance(r, NoSuchUpload)}
    assert all(r is None or isinstance(r, NoSuchUpload) for r in results)
    _, unused = outcome["complete"]
    assert {p.blob_id for p in unused} | refused == {p.blob_id for p in parts}
    assert not {p.blob_id for p in unused} & refused


def test_concurrent_delete_bucket_and_puts_leave_no_orphan(repo: SqlObjectRepo, bucket: str) -> None:
    def work(i: int) -> Any:
        if i == 0:
            return repo.delete_bucket(bucket)
        return repo.put_object(make_record(key=f"k{i}"))

    results = run_concurrently(6, work)
    deleted, _ = results[0]
    stored = [r for r in results[1:] if not isinstance(r, Exception)]
    assert all(isinstance(r, NoSuchBucket) for r in results[1:] if isinstance(r, Exception))
    if deleted is DeleteBucketResult.DELETED:
        assert stored == []
        assert repo.count_objects(bucket) == 0
    else:
        assert deleted is DeleteBucketResult.NOT_EMPTY
        assert repo.count_objects(bucket) == len(stored) > 0


def test_concurrent_part_uploads_and_delete_bucket_lose_no_part(repo: SqlObjectRepo) -> None:
    """Each part is either refused or among the blobs DeleteBucket hands back (else its blob would leak)."""
    for round_ in range(5):
        name = f"parts-{round_}"
        repo.create_bucket(make_bucket(name))
        upload = make_upload("k", bucket=name)
        repo.create_upload(upload)
        early = make_part(upload.upload_id, 100)
        repo.put_part(early)
        parts = [make_part(upload.upload_id, n) for n in range(1, 9)]

        def work(i: int, parts: list[UploadedPart] = parts, name: str = name) -> Any:
            return repo.delete_bucket(name) if i == len(parts) else repo.put_part(parts[i])

        results = run_concurrently(len(parts) + 1, work)
        result, blob_ids = results[-1]
        assert result is DeleteBucketResult.DELETED
        refused = {parts[i].blob_id for i, r in enumerate(results[:-1]) if isinstance(r, NoSuchUpload)}
        assert all(r is None or isinstance(r, NoSuchUpload) for r in results[:-1])
        assert sorted(blob_ids) == sorted({p.blob_id for p in [*parts, early]} - refused)

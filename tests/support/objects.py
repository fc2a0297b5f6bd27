"""Builders of object-store rows for the storage tests: a bucket, an object, an upload, a part."""

import os
import uuid
from dataclasses import replace
from typing import Any

from keyhold.domain.objects.model import Bucket, MultipartUpload, ObjectRecord, StoredPart, UploadedPart

ACCOUNT = "000000000000"
REGION = "us-east-1"
T0 = 1_700_000_000.25
BUCKET = "bucket-one"


def blob_id() -> str:
    return os.urandom(16).hex()


def make_bucket(name: str = BUCKET, account_id: str = ACCOUNT, **changes: Any) -> Bucket:
    return replace(Bucket(name, account_id, REGION, T0), **changes)


def make_record(bucket: str = BUCKET, key: str = "key", **changes: Any) -> ObjectRecord:
    etag = os.urandom(16).hex()
    record = ObjectRecord(
        bucket=bucket,
        key=key,
        size=11,
        etag=etag,
        last_modified=T0,
        content_type="text/plain",
        parts=(StoredPart(0, 11, blob_id(), etag),),
    )
    return replace(record, **changes)


def make_upload(
    key: str = "key", bucket: str = BUCKET, upload_id: str | None = None, initiated: float = T0, **changes: Any
) -> MultipartUpload:
    upload = MultipartUpload(
        upload_id=upload_id or uuid.uuid4().hex,
        bucket=bucket,
        key=key,
        initiated=initiated,
        initiator_arn=f"arn:aws:iam::{ACCOUNT}:root",
        content_type="application/octet-stream",
    )
    return replace(upload, **changes)


def make_part(upload_id: str, number: int, **changes: Any) -> UploadedPart:
    return replace(UploadedPart(upload_id, number, 5 << 20, os.urandom(16).hex(), blob_id(), T0 + number), **changes)

"""How the object store's rows are written and read: JSON for maps and part lists, one function per table and
direction. The storage format of every column is here (schema.py declares the columns)."""

import json
from collections.abc import Mapping
from typing import Any

from keyhold.domain.objects.model import (
    Bucket,
    BucketEncryption,
    Checksum,
    Envelope,
    MultipartUpload,
    ObjectRecord,
    StoredPart,
    UploadedPart,
)


def dump_map(value: Mapping[str, str]) -> str:
    return json.dumps(dict(value), separators=(",", ":"))


def load_map(text: str) -> dict[str, str]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("stored metadata is not a JSON object")
    return value


def dump_bucket_encryption(encryption: BucketEncryption | None) -> str | None:
    if encryption is None:
        return None
    return json.dumps(
        {
            "algorithm": encryption.algorithm,
            "kms_key_id": encryption.kms_key_id,
            "bucket_key_enabled": encryption.bucket_key_enabled,
            "blocked_types": list(encryption.blocked_types),
        },
        separators=(",", ":"),
    )


def load_bucket_encryption(text: str | None) -> BucketEncryption | None:
    if text is None:
        return None
    document = json.loads(text)
    return BucketEncryption(
        algorithm=document["algorithm"],
        kms_key_id=document.get("kms_key_id"),
        bucket_key_enabled=bool(document.get("bucket_key_enabled", False)),
        blocked_types=tuple(document.get("blocked_types", ())),
    )


def dump_parts(parts: tuple[StoredPart, ...]) -> str:
    return json.dumps(
        [
            {"number": p.number, "size": p.size, "blob_id": p.blob_id, "etag": p.etag, "salt": p.stream_salt}
            for p in parts
        ],
        separators=(",", ":"),
    )


def load_parts(text: str) -> tuple[StoredPart, ...]:
    return tuple(
        StoredPart(p["number"], p["size"], p["blob_id"], p["etag"], p.get("salt", "")) for p in json.loads(text)
    )


def bucket_row(bucket: Bucket) -> dict[str, object]:
    return {
        "name": bucket.name,
        "account_id": bucket.account_id,
        "region": bucket.region,
        "created_at": bucket.created_at,
        "encryption": dump_bucket_encryption(bucket.encryption),
        "policy": bucket.policy,
    }


def bucket_from_row(row: Any) -> Bucket:
    return Bucket(
        name=row.name,
        account_id=row.account_id,
        region=row.region,
        created_at=row.created_at,
        encryption=load_bucket_encryption(row.encryption),
        policy=row.policy,
    )


def object_row(record: ObjectRecord) -> dict[str, object]:
    checksum = record.checksum
    return {
        "bucket": record.bucket,
        "key": record.key,
        "size": record.size,
        "etag": record.etag,
        "last_modified": record.last_modified,
        "content_type": record.content_type,
        "headers": dump_map(record.headers),
        "user_metadata": dump_map(record.user_metadata),
        "checksum_algorithm": checksum.algorithm if checksum is not None else None,
        "checksum_value": checksum.value if checksum is not None else None,
        "checksum_type": checksum.type if checksum is not None else None,
        "encryption": record.encryption.to_json(),
        "parts": dump_parts(record.parts),
        "seal": record.seal,
    }


def object_from_row(row: Any) -> ObjectRecord:
    checksum = None
    if row.checksum_algorithm is not None:
        checksum = Checksum(row.checksum_algorithm, row.checksum_value, row.checksum_type)
    return ObjectRecord(
        bucket=row.bucket,
        key=row.key,
        size=row.size,
        etag=row.etag,
        last_modified=row.last_modified,
        content_type=row.content_type,
        headers=load_map(row.headers),
        user_metadata=load_map(row.user_metadata),
        checksum=checksum,
        encryption=Envelope.from_json(row.encryption),
        parts=load_parts(row.parts),
        seal=bytes(row.seal),
    )


def upload_row(upload: MultipartUpload) -> dict[str, object]:
    return {
        "upload_id": upload.upload_id,
        "bucket": upload.bucket,
        "key": upload.key,
        "initiated": upload.initiated,
        "initiator_arn": upload.initiator_arn,
        "content_type": upload.content_type,
        "headers": dump_map(upload.headers),
        "user_metadata": dump_map(upload.user_metadata),
        "checksum_algorithm": upload.checksum_algorithm,
        "checksum_type": upload.checksum_type,
        "encryption": upload.encryption.to_json(),
    }


def upload_from_row(row: Any) -> MultipartUpload:
    return MultipartUpload(
        upload_id=row.upload_id,
        bucket=row.bucket,
        key=row.key,
        initiated=row.initiated,
        initiator_arn=row.initiator_arn,
        content_type=row.content_type,
        headers=load_map(row.headers),
        user_metadata=load_map(row.user_metadata),
        checksum_algorithm=row.checksum_algorithm,
        checksum_type=row.checksum_type,
        encryption=Envelope.from_json(row.encryption),
    )


def part_row(part: UploadedPart) -> dict[str, object]:
    return {
        "upload_id": part.upload_id,
        "number": part.number,
        "size": part.size,
        "etag": part.etag,
        "blob_id": part.blob_id,
        "last_modified": part.last_modified,
        "checksum": part.checksum,
        "stream_salt": part.stream_salt,
    }


def part_from_row(row: Any) -> UploadedPart:
    return UploadedPart(
        upload_id=row.upload_id,
        number=row.number,
        size=row.size,
        etag=row.etag,
        blob_id=row.blob_id,
        last_modified=row.last_modified,
        checksum=row.checksum,
        stream_salt=row.stream_salt,
    )


def without(values: dict[str, object], *names: str) -> dict[str, object]:
    return {k: v for k, v in values.items() if k not in names}

"""S3's REST-XML bodies: rendering the results and errors S3 returns (parsing what clients send: xml_parse.py).

Pure functions, no I/O. Element names and their order follow botocore's S3 model (the output shape's members in
the order the model lists them); result roots carry S3's namespace, the ``<Error>`` document does not (as S3).
Timestamps are ISO 8601 with milliseconds, ETags are quoted (``&quot;...&quot;`` on the wire).
"""

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TypeAlias, Union
from urllib.parse import quote

from keyhold.domain.objects.model import (
    SSE_S3,
    Bucket,
    BucketEncryption,
    Checksum,
    ObjectPage,
    PartPage,
    UploadPage,
)
from keyhold.protocols.xml_escape import escape_text

__all__ = [
    "NAMESPACE",
    "access_control_policy",
    "bucket_encryption",
    "complete_multipart_upload",
    "copy_object_result",
    "copy_part_result",
    "default_bucket_encryption",
    "delete_objects_result",
    "error",
    "initiate_multipart_upload",
    "list_buckets",
    "list_multipart_uploads",
    "list_objects",
    "list_objects_v2",
    "list_parts",
    "location",
    "timestamp",
]

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
PROLOG = '<?xml version="1.0" encoding="UTF-8"?>\n'
STORAGE_CLASS = "STANDARD"

# --------------------------------------------------------------------------------------------------- rendering

# A document is written as nested (name, value) pairs: a str/int is text, a bool is true/false, None leaves the
# element out, a list is the element's children in order (a repeated name is how S3 writes a flattened list).
Value: TypeAlias = Union[str, int, bool, list["Node"], None]  # noqa: UP007
Node: TypeAlias = tuple[str, Value]
_Encode: TypeAlias = Callable[[str | None], str | None]


def timestamp(epoch: float) -> str:
    """S3's body timestamp: 2026-11-23T10:11:12.345Z (milliseconds, truncated)."""
    millis = int(epoch * 1000)
    seconds, ms = divmod(millis, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}Z"


def _text(value: str) -> str:
    return escape_text(value, s3=True)


def _render(name: str, value: Value, out: list[str]) -> None:
    if value is None:
        return
    if isinstance(value, list):
        out.append(f"<{name}>")
        for child, child_value in value:
            _render(child, child_value, out)
        out.append(f"</{name}>")
        return
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int):
        text = str(value)
    else:
        text = _text(value)
    out.append(f"<{name}>{text}</{name}>" if text else f"<{name}></{name}>")


def _document(root: str, children: list[Node], *, namespace: bool = True) -> bytes:
    out = [PROLOG, f'<{root} xmlns="{NAMESPACE}">' if namespace else f"<{root}>"]
    for name, value in children:
        _render(name, value, out)
    out.append(f"</{root}>")
    return "".join(out).encode("utf-8")


def _etag(etag: str) -> str:
    return f'"{etag}"'


def _checksum_nodes(checksum: Checksum | None, *, with_type: bool) -> list[Node]:
    """Checksum<ALG> (and ChecksumType) of a result; the model lists ChecksumType after the values in
    CompleteMultipartUpload, before them in CopyObjectResult (callers place it)."""
    if checksum is None:
        return []
    nodes: list[Node] = [(f"Checksum{checksum.algorithm}", checksum.value)]
    if with_type:
        nodes.append(("ChecksumType", checksum.type))
    return nodes


def _encoder(encoding_type: str | None) -> _Encode:
    return _url_encode if encoding_type == "url" else _identity


def _url_encode(value: str | None) -> str | None:
    """``encoding-type=url``: percent-encode as AWS and LocalStack do, keeping ``/``. A space becomes ``%20``
    (decoded right by ``unquote`` and by botocore's ``unquote_plus`` alike) and ``+`` becomes ``%2B``."""
    return None if value is None else quote(value, safe="/")


def _identity(value: str | None) -> str | None:
    return value


def _owner(owner_id: str, display_name: str | None = None) -> list[Node]:
    return [("DisplayName", display_name), ("ID", owner_id)]


def error(code: str, message: str, request_id: str, host_id: str, extra: Mapping[str, str] | None = None) -> bytes:
    """S3's error document: ``<Error>`` (no namespace) with Code, Message, the error's own elements (BucketName,
    Key, ArgumentName, Condition, ...), RequestId and HostId."""
    children: list[Node] = [("Code", code), ("Message", message)]
    children.extend((extra or {}).items())
    children.extend([("RequestId", request_id), ("HostId", host_id)])
    return _document("Error", children, namespace=False)


def list_buckets(
    owner_id: str,
    buckets: Iterable[Bucket],
    *,
    display_name: str | None = None,
    continuation_token: str | None = None,
    prefix: str | None = None,
) -> bytes:
    """ListAllMyBucketsResult."""
    entries: list[Node] = [
        (
            "Bucket",
            [
                ("Name", bucket.name),
                ("CreationDate", timestamp(bucket.created_at)),
                ("BucketRegion", bucket.region),
            ],
        )
        for bucket in buckets
    ]
    return _document(
        "ListAllMyBucketsResult",
        [
            ("Buckets", entries),
            ("Owner", _owner(owner_id, display_name)),
            ("ContinuationToken", continuation_token),
            ("Prefix", prefix),
        ],
    )


def access_control_policy(owner_id: str) -> bytes:
    """GetBucketAcl / GetObjectAcl: the owner, granted FULL_CONTROL, and nothing else (S3's default "bucket owner
    enforced" object ownership, where ACLs are disabled; Keyhold has no ACLs)."""
    owner = _text(owner_id)
    grantee = (
        '<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">'
        f"<ID>{owner}</ID></Grantee>"
    )
    return (
        f'{PROLOG}<AccessControlPolicy xmlns="{NAMESPACE}"><Owner><ID>{owner}</ID></Owner><AccessControlList>'
        f"<Grant>{grantee}<Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>"
    ).encode()


def location(region: str) -> bytes:
    """GetBucketLocation: the region, or an empty element for us-east-1 (S3's "null" location)."""
    text = "" if region == "us-east-1" else _text(region)
    return f'{PROLOG}<LocationConstraint xmlns="{NAMESPACE}">{text}</LocationConstraint>'.encode()


def _contents(page: ObjectPage, encode: _Encode, owner_id: str | None) -> list[Node]:
    nodes: list[Node] = []
    for record in page.objects:
        checksum = record.checksum
        nodes.append(
            (
                "Contents",
                [
                    ("Key", encode(record.key)),
                    ("LastModified", timestamp(record.last_modified)),
                    ("ETag", _etag(record.etag)),
                    ("ChecksumAlgorithm", checksum.algorithm if checksum else None),
                    ("ChecksumType", checksum.type if checksum else None),
                    ("Size", record.size),
                    ("StorageClass", STORAGE_CLASS),
                    ("Owner", _owner(owner_id) if owner_id is not None else None),
                ],
            )
        )
    return nodes


def _common_prefixes(prefixes: Iterable[str], encode: _Encode) -> list[Node]:
    return [("CommonPrefixes", [("Prefix", encode(prefix))]) for prefix in prefixes]


def list_objects(
    page: ObjectPage,
    *,
    bucket: str,
    prefix: str | None,
    delimiter: str | None,
    max_keys: int,
    marker: str | None,
    encoding_type: str | None,
    owner_id: str,
) -> bytes:
    """ListObjects (V1) ListBucketResult. Marker is always there (empty when none was sent); NextMarker only when
    a delimiter was given and the page is truncated (without one, the client continues from the last Key)."""
    encode = _encoder(encoding_type)
    next_marker = page.next_marker if (delimiter and page.truncated) else None
    return _document(
        "ListBucketResult",
        [
            ("IsTruncated", page.truncated),
            ("Marker", encode(marker or "")),
            ("NextMarker", encode(next_marker)),
            *_contents(page, encode, owner_id),
            ("Name", bucket),
            ("Prefix", encode(prefix or "")),
            ("Delimiter", encode(delimiter or None)),
            ("MaxKeys", max_keys),
            *_common_prefixes(page.common_prefixes, encode),
            ("EncodingType", encoding_type or None),
        ],
    )


def list_objects_v2(
    page: ObjectPage,
    *,
    bucket: str,
    prefix: str | None,
    delimiter: str | None,
    max_keys: int,
    start_after: str | None,
    continuation_token: str | None,
    next_continuation_token: str | None,
    key_count: int | None = None,
    encoding_type: str | None,
    fetch_owner: bool,
    owner_id: str,
) -> bytes:
    """ListObjectsV2 ListBucketResult. Owner only with fetch-owner=true; the continuation tokens are opaque and
    never URL-encoded; KeyCount defaults to the objects plus common prefixes on the page."""
    encode = _encoder(encoding_type)
    if key_count is None:
        key_count = len(page.objects) + len(page.common_prefixes)
    return _document(
        "ListBucketResult",
        [
            ("IsTruncated", page.truncated),
            *_contents(page, encode, owner_id if fetch_owner else None),
            ("Name", bucket),
            ("Prefix", encode(prefix or "")),
            ("Delimiter", encode(delimiter or None)),
            ("MaxKeys", max_keys),
            *_common_prefixes(page.common_prefixes, encode),
            ("EncodingType", encoding_type or None),
            ("KeyCount", key_count),
            ("ContinuationToken", continuation_token),
            ("NextContinuationToken", next_continuation_token if page.truncated else None),
            ("StartAfter", encode(start_after or None)),
        ],
    )


def initiate_multipart_upload(bucket: str, key: str, upload_id: str) -> bytes:
    return _document("InitiateMultipartUploadResult", [("Bucket", bucket), ("Key", key), ("UploadId", upload_id)])


def complete_multipart_upload(
    location: str, bucket: str, key: str, etag: str, checksum: Checksum | None = None
) -> bytes:
    return _document(
        "CompleteMultipartUploadResult",
        [
            ("Location", location),
            ("Bucket", bucket),
            ("Key", key),
            ("ETag", _etag(etag)),
            *_checksum_nodes(checksum, with_type=True),
        ],
    )


def list_parts(
    page: PartPage,
    *,
    bucket: str,
    key: str,
    max_parts: int,
    part_number_marker: int | None,
    owner_id: str,
    initiator_arn: str,
    checksum_algorithm: str | None,
    checksum_type: str | None,
) -> bytes:
    """ListPartsResult. NextPartNumberMarker is the last part on the page (what the next request passes as
    part-number-marker), as S3 always sends it."""
    parts: list[Node] = []
    for part in page.parts:
        entry: list[Node] = [
            ("PartNumber", part.number),
            ("LastModified", timestamp(part.last_modified)),
            ("ETag", _etag(part.etag)),
            ("Size", part.size),
        ]
        if part.checksum is not None and checksum_algorithm:
            entry.append((f"Checksum{checksum_algorithm}", part.checksum))
        parts.append(("Part", entry))
    next_marker = page.next_part_number_marker
    if next_marker is None and page.parts:
        next_marker = page.parts[-1].number
    return _document(
        "ListPartsResult",
        [
            ("Bucket", bucket),
            ("Key", key),
            ("UploadId", page.upload.upload_id),
            ("PartNumberMarker", part_number_marker or 0),
            ("NextPartNumberMarker", next_marker),
            ("MaxParts", max_parts),
            ("IsTruncated", page.truncated),
            *parts,
            ("Initiator", [("ID", initiator_arn), ("DisplayName", None)]),
            ("Owner", _owner(owner_id)),
            ("StorageClass", STORAGE_CLASS),
            ("ChecksumAlgorithm", checksum_algorithm),
            ("ChecksumType", checksum_type),
        ],
    )


def list_multipart_uploads(
    page: UploadPage,
    *,
    bucket: str,
    prefix: str | None,
    delimiter: str | None,
    key_marker: str | None,
    upload_id_marker: str | None,
    max_uploads: int,
    encoding_type: str | None,
    owner_id: str,
) -> bytes:
    """ListMultipartUploadsResult. With ``encoding-type=url`` S3 encodes Key, Prefix, Delimiter, KeyMarker and
    NextKeyMarker (upload ids are never encoded)."""
    encode = _encoder(encoding_type)
    uploads: list[Node] = [
        (
            "Upload",
            [
                ("UploadId", upload.upload_id),
                ("Key", encode(upload.key)),
                ("Initiated", timestamp(upload.initiated)),
                ("StorageClass", STORAGE_CLASS),
                ("Owner", _owner(owner_id)),
                ("Initiator", [("ID", upload.initiator_arn), ("DisplayName", None)]),
                ("ChecksumAlgorithm", upload.checksum_algorithm),
                ("ChecksumType", upload.checksum_type),
            ],
        )
        for upload in page.uploads
    ]
    truncated = page.truncated
    return _document(
        "ListMultipartUploadsResult",
        [
            ("Bucket", bucket),
            ("KeyMarker", encode(key_marker or "")),
            ("UploadIdMarker", upload_id_marker or ""),
            ("NextKeyMarker", encode(page.next_key_marker if truncated else None)),
            ("Prefix", encode(prefix or "")),
            ("Delimiter", encode(delimiter or None)),
            ("NextUploadIdMarker", page.next_upload_id_marker if truncated else None),
            ("MaxUploads", max_uploads),
            ("IsTruncated", truncated),
            *uploads,
            *_common_prefixes(page.common_prefixes, encode),
            ("EncodingType", encoding_type or None),
        ],
    )


def copy_object_result(etag: str, last_modified: float, checksum: Checksum | None = None) -> bytes:
    children: list[Node] = [("ETag", _etag(etag)), ("LastModified", timestamp(last_modified))]
    if checksum is not None:
        children.append(("ChecksumType", checksum.type))
        children.extend(_checksum_nodes(checksum, with_type=False))
    return _document("CopyObjectResult", children)


def copy_part_result(etag: str, last_modified: float, checksum: Checksum | None = None) -> bytes:
    return _document(
        "CopyPartResult",
        [
            ("ETag", _etag(etag)),
            ("LastModified", timestamp(last_modified)),
            *_checksum_nodes(checksum, with_type=False),
        ],
    )


def delete_objects_result(deleted: Iterable[str], errors: Iterable[tuple[str, str, str]]) -> bytes:
    """DeleteResult: a Deleted per removed key (none in quiet mode: the caller passes none), an Error per
    failure as (key, code, message)."""
    children: list[Node] = [("Deleted", [("Key", key)]) for key in deleted]
    children.extend(("Error", [("Key", key), ("Code", code), ("Message", message)]) for key, code, message in errors)
    return _document("DeleteResult", children)


def bucket_encryption(enc: BucketEncryption) -> bytes:
    """GetBucketEncryption: ServerSideEncryptionConfiguration with its one Rule."""
    blocked: Value = [("EncryptionType", kind) for kind in enc.blocked_types] if enc.blocked_types else None
    rule: list[Node] = [
        (
            "ApplyServerSideEncryptionByDefault",
            [("SSEAlgorithm", enc.algorithm), ("KMSMasterKeyID", enc.kms_key_id)],
        ),
        ("BucketKeyEnabled", enc.bucket_key_enabled),
        ("BlockedEncryptionTypes", blocked),
    ]
    return _document("ServerSideEncryptionConfiguration", [("Rule", rule)])


def default_bucket_encryption() -> bytes:
    """What AWS answers for a bucket with no configuration: the implicit SSE-S3 rule, bucket key off."""
    return bucket_encryption(BucketEncryption(SSE_S3))

"""S3's REST-XML bodies: rendering the results and errors S3 returns, parsing the documents clients send.

Pure functions, no I/O. Element names and their order follow botocore's S3 model (the output shape's members in
the order the model lists them); result roots carry S3's namespace, the ``<Error>`` document does not (as S3).
Timestamps are ISO 8601 with milliseconds, ETags are quoted (``&quot;...&quot;`` on the wire).

Parsers refuse DTDs, entities and external references (defusedxml), accept documents with or without the S3
namespace, and raise ``MalformedXML`` for anything that is not the document the operation expects.
"""

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeAlias, Union
from urllib.parse import quote
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from keyhold.domain.objects.errors import InvalidArgument, MalformedXML
from keyhold.domain.objects.model import (
    SSE_KMS,
    SSE_KMS_DSSE,
    SSE_S3,
    Bucket,
    BucketEncryption,
    Checksum,
    ObjectPage,
    PartPage,
    UploadPage,
)

__all__ = [
    "BLOCKABLE_ENCRYPTION_TYPES",
    "DEFAULT_ALGORITHMS",
    "MAX_DELETE_OBJECTS",
    "NAMESPACE",
    "CompletedPart",
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
    "parse_bucket_encryption",
    "parse_complete_multipart_upload",
    "parse_create_bucket",
    "parse_delete_objects",
    "parse_object_encryption",
    "timestamp",
]

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
PROLOG = '<?xml version="1.0" encoding="UTF-8"?>\n'
STORAGE_CLASS = "STANDARD"
MAX_DELETE_OBJECTS = 1000  # DeleteObjects: more Object entries is MalformedXML on AWS
DEFAULT_ALGORITHMS = (SSE_S3, SSE_KMS, SSE_KMS_DSSE)  # PutBucketEncryption's SSEAlgorithm values
BLOCKABLE_ENCRYPTION_TYPES = ("NONE", "SSE-C")  # BlockedEncryptionTypes/EncryptionType (model enum)
KMS_KEY_NOT_APPLICABLE = (
    "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse"
)

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
    """Escape for XML character data. ``"`` becomes ``&quot;`` (as S3 writes ETags) and CR ``&#13;`` (a raw CR
    would reach the client as LF); characters XML 1.0 cannot carry at all become U+FFFD, so the document still
    parses (a client that needs such keys exactly asks for ``encoding-type=url``)."""
    out = []
    for char in value:
        code = ord(char)
        if char == "&":
            out.append("&amp;")
        elif char == "<":
            out.append("&lt;")
        elif char == ">":
            out.append("&gt;")
        elif char == '"':
            out.append("&quot;")
        elif char == "\r":
            out.append("&#13;")
        elif (code < 0x20 and char not in "\t\n") or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF):
            out.append("\ufffd")
        else:
            out.append(char)
    return "".join(out)


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


# ----------------------------------------------------------------------------------------------------- parsing

_NS_PREFIX = "{" + NAMESPACE + "}"


@dataclass(frozen=True, slots=True)
class CompletedPart:
    """One Part of a CompleteMultipartUpload request."""

    number: int
    etag: str  # unquoted
    checksums: dict[str, str] = field(default_factory=dict)  # algorithm (CRC32, SHA256, ...) -> base64 value


def _local(tag: str) -> str:
    """The element's name without the S3 namespace (an element in another namespace keeps its ``{ns}``)."""
    return tag[len(_NS_PREFIX) :] if tag.startswith(_NS_PREFIX) else tag


def _parse(body: bytes, root: str) -> Element:
    try:
        element = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError, UnicodeError):
        raise MalformedXML() from None
    if _local(element.tag) != root:
        raise MalformedXML()
    return element  # type: ignore[no-any-return]


def _children(element: Element, name: str) -> list[Element]:
    return [child for child in element if _local(child.tag) == name]


def _child(element: Element, name: str) -> Element | None:
    """The one child called ``name``, or None; more than one is malformed."""
    found = _children(element, name)
    if len(found) > 1:
        raise MalformedXML()
    return found[0] if found else None


def _text_of(element: Element | None) -> str | None:
    """An element's text exactly as sent (``""`` for an empty element), None when absent. An element with
    element children is not a value."""
    if element is None:
        return None
    if len(element):
        raise MalformedXML()
    return element.text or ""


def _required(element: Element, name: str) -> str:
    value = _text_of(_child(element, name))
    if value is None:
        raise MalformedXML()
    return value


def _boolean(element: Element, name: str) -> bool | None:
    value = _text_of(_child(element, name))
    if value is None:
        return None
    value = value.strip().lower()
    if value == "true":
        return True
    if value == "false":
        return False
    raise MalformedXML()


def _integer(value: str) -> int:
    value = value.strip()
    digits = value[1:] if value[:1] in "+-" else value
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
        raise MalformedXML()
    return int(value)


def parse_create_bucket(body: bytes) -> str | None:
    """CreateBucket's optional CreateBucketConfiguration: its LocationConstraint, None when there is no body or
    no constraint."""
    if not body.strip():
        return None
    root = _parse(body, "CreateBucketConfiguration")
    value = _text_of(_child(root, "LocationConstraint"))
    return value.strip() if value and value.strip() else None


def parse_delete_objects(body: bytes) -> tuple[bool, list[str]]:
    """DeleteObjects' Delete document: (quiet, keys in request order). Keys are taken exactly as sent (spaces
    included); VersionId and the conditional members are ignored. No Object, or more than 1000: MalformedXML."""
    root = _parse(body, "Delete")
    objects = _children(root, "Object")
    if not objects or len(objects) > MAX_DELETE_OBJECTS:
        raise MalformedXML()
    keys = [_required(entry, "Key") for entry in objects]
    return bool(_boolean(root, "Quiet")), keys


def parse_complete_multipart_upload(body: bytes) -> list[CompletedPart]:
    """CompleteMultipartUpload's parts in the order sent (the domain checks the order and the numbers' range).
    ETags are unquoted; Checksum<ALG> members become ``checksums[ALG]``."""
    root = _parse(body, "CompleteMultipartUpload")
    entries = _children(root, "Part")
    if not entries:
        raise MalformedXML()
    parts = []
    for entry in entries:
        number = _integer(_required(entry, "PartNumber"))
        etag = _required(entry, "ETag").strip().strip('"')
        checksums: dict[str, str] = {}
        for child in entry:
            name = _local(child.tag)
            if name.startswith("Checksum") and len(name) > len("Checksum"):
                value = _text_of(child)
                if value:
                    checksums[name[len("Checksum") :]] = value.strip()
        parts.append(CompletedPart(number, etag, checksums))
    return parts


def parse_bucket_encryption(body: bytes) -> BucketEncryption:
    """PutBucketEncryption's ServerSideEncryptionConfiguration: exactly one Rule with
    ApplyServerSideEncryptionByDefault/SSEAlgorithm (AES256, aws:kms or aws:kms:dsse), as AWS and MinIO accept.
    Anything else is MalformedXML; a KMSMasterKeyID with AES256 is InvalidArgument (LocalStack's AWS-validated
    provider: ArgumentName ApplyServerSideEncryptionByDefault)."""
    root = _parse(body, "ServerSideEncryptionConfiguration")
    rules = _children(root, "Rule")
    if len(rules) != 1:
        raise MalformedXML()
    rule = rules[0]
    default = _child(rule, "ApplyServerSideEncryptionByDefault")
    if default is None:
        raise MalformedXML()
    algorithm = _required(default, "SSEAlgorithm").strip()
    if algorithm not in DEFAULT_ALGORITHMS:
        raise MalformedXML()
    key_id = _text_of(_child(default, "KMSMasterKeyID"))
    if key_id is not None and algorithm == SSE_S3:
        raise InvalidArgument(KMS_KEY_NOT_APPLICABLE, name="ApplyServerSideEncryptionByDefault")
    blocked: list[str] = []
    blocked_element = _child(rule, "BlockedEncryptionTypes")
    if blocked_element is not None:
        for entry in _children(blocked_element, "EncryptionType"):
            kind = (_text_of(entry) or "").strip()
            if kind not in BLOCKABLE_ENCRYPTION_TYPES:
                raise MalformedXML()
            if kind not in blocked:
                blocked.append(kind)
    return BucketEncryption(
        algorithm=algorithm,
        kms_key_id=(key_id.strip() or None) if key_id is not None else None,
        bucket_key_enabled=bool(_boolean(rule, "BucketKeyEnabled")),
        blocked_types=tuple(blocked),
    )


def parse_object_encryption(body: bytes) -> tuple[str, bool | None]:
    """UpdateObjectEncryption's ObjectEncryption: a union whose one member in botocore's model is SSEKMS,
    written as ``<SSE-KMS>`` with KMSKeyArn (required) and BucketKeyEnabled. Returns (key ARN, bucket key or
    None when not given)."""
    root = _parse(body, "ObjectEncryption")
    sse_kms = _child(root, "SSE-KMS")
    if sse_kms is None or len(root) != 1:
        raise MalformedXML()
    arn = _required(sse_kms, "KMSKeyArn").strip()
    if not arn:
        raise MalformedXML()
    return arn, _boolean(sse_kms, "BucketKeyEnabled")

"""Parsing the XML documents S3 clients send (CreateBucket, DeleteObjects, CompleteMultipartUpload,
PutBucketEncryption, UpdateObjectEncryption). Pure functions, no I/O.

Parsers refuse DTDs, entities and external references (defusedxml), accept documents with or without the S3
namespace, and raise ``MalformedXML`` for anything that is not the document the operation expects.
"""

from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from keyhold.domain.objects.errors import InvalidArgument, MalformedXML
from keyhold.domain.objects.model import SSE_KMS, SSE_KMS_DSSE, SSE_S3, BucketEncryption
from keyhold.protocols.s3.xml import NAMESPACE

__all__ = [
    "BLOCKABLE_ENCRYPTION_TYPES",
    "DEFAULT_ALGORITHMS",
    "MAX_DELETE_OBJECTS",
    "CompletedPart",
    "parse_bucket_encryption",
    "parse_complete_multipart_upload",
    "parse_create_bucket",
    "parse_delete_objects",
    "parse_object_encryption",
]

MAX_DELETE_OBJECTS = 1000  # DeleteObjects: more Object entries is MalformedXML on AWS
DEFAULT_ALGORITHMS = (SSE_S3, SSE_KMS, SSE_KMS_DSSE)  # PutBucketEncryption's SSEAlgorithm values
BLOCKABLE_ENCRYPTION_TYPES = ("NONE", "SSE-C")  # BlockedEncryptionTypes/EncryptionType (model enum)
KMS_KEY_NOT_APPLICABLE = (
    "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse"
)

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

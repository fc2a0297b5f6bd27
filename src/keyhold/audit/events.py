"""Building CloudTrail records (eventVersion 1.08) for KMS, IAM and STS calls and KMS's own background events,
with secrets removed.

The record shape follows CloudTrail's documented format for KMS events. Parameter names are rendered as
CloudTrail renders them (lower camel case: ``KeyId`` -> ``keyId``), the members of map-valued parameters
(encryption contexts) are kept exactly, and every member that could carry a secret or a ciphertext is removed,
whatever its nesting: CloudTrail never logs plaintexts, data keys, ciphertexts, messages, signatures, MACs,
imported key material, import tokens, grant tokens or passwords, and neither does Keyhold.
"""

import os
import time
from datetime import UTC, datetime
from typing import Any

EVENT_VERSION = "1.08"
KMS_EVENT_SOURCE = "kms.amazonaws.com"
KMS_KEY_RESOURCE_TYPE = "AWS::KMS::Key"

SECRET_MEMBERS = frozenset(
    name.lower()
    for name in (
        # KMS: plaintexts, data keys, ciphertexts and anything derived from secret material
        "Plaintext",
        "CiphertextBlob",
        "SourceCiphertextBlob",
        "PrivateKeyPlaintext",
        "PrivateKeyCiphertextBlob",
        "CiphertextForRecipient",
        "SharedSecret",
        "Message",
        "Signature",
        "Mac",
        "EncryptedKeyMaterial",
        "ImportToken",
        "GrantToken",
        "GrantTokens",
        "Recipient",
        "AttestationDocument",
        "KeyStorePassword",
        "XksProxyAuthenticationCredential",
        # IAM, STS, S3 and mail, for the services that will log through this module
        "Password",
        "OldPassword",
        "NewPassword",
        "SecretAccessKey",
        "SessionToken",
        "Credentials",
        "SSECustomerKey",
        "CopySourceSSECustomerKey",
        "Body",
        "Content",
        "RawMessage",
    )
)
"""Members removed at any depth (compared case-insensitively, ignoring '-' and '_')."""

MAP_MEMBERS = frozenset(
    name.lower()
    for name in (
        "EncryptionContext",
        "SourceEncryptionContext",
        "DestinationEncryptionContext",
        "EncryptionContextSubset",
        "EncryptionContextEquals",
    )
)
"""Members whose values are user maps: their keys are data, so they are not case-converted."""

KMS_READ_ONLY = frozenset(
    {
        "Encrypt",
        "Decrypt",
        "ReEncrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "GenerateRandom",
        "GenerateMac",
        "VerifyMac",
        "Sign",
        "Verify",
        "DeriveSharedSecret",
    }
)
"""KMS operations CloudTrail marks readOnly besides the Describe*, Get* and List* ones."""


NULL_RESPONSE_EVENTS = frozenset({"ImportKeyMaterial", "DeleteImportedKeyMaterial"})
"""Write calls whose responseElements CloudTrail leaves null (their responses name only the key and material)."""


def is_read_only(event_name: str) -> bool:
    """CloudTrail's readOnly flag for a KMS operation."""
    return event_name in KMS_READ_ONLY or event_name.startswith(("Describe", "Get", "List"))


_last_second: tuple[int, str] = (-1, "")  # many events share a second; replaced whole, so threads never mix parts


def iso_time(epoch: float) -> str:
    """CloudTrail's time format: ``YYYY-MM-DDTHH:MM:SSZ`` in UTC."""
    global _last_second
    second = int(epoch // 1)
    cached = _last_second
    if cached[0] == second:
        return cached[1]
    text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
    _last_second = (second, text)
    return text


def event_id() -> str:
    """A random (version 4) UUID, as ``str(uuid.uuid4())`` renders it, at half its cost."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def parse_iso_time(text: str) -> float:
    """The inverse of :func:`iso_time` (also accepts fractional seconds and offsets)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


_NAMES: dict[str, tuple[str, bool, bool]] = {}  # member name -> (CloudTrail's name, secret, map-valued)


def _classify(name: str) -> tuple[str, bool, bool]:
    known = _NAMES.get(name)
    if known is None:
        normal = name.replace("-", "").replace("_", "").lower()
        known = (name[:1].lower() + name[1:], normal in SECRET_MEMBERS, normal in MAP_MEMBERS)
        if len(_NAMES) < 4096:  # member names come from a model; bound it anyway
            _NAMES[name] = known
    return known


def _redact_value(value: Any) -> Any:
    if isinstance(value, dict):
        return redact(value)
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value if not isinstance(item, bytes | bytearray | memoryview)]
    return value


def redact(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` as CloudTrail logs them: secret members and every binary value removed, names in lower camel case.

    The members of encryption-context maps keep their names and values (they are not secret, and CloudTrail logs
    them); binary values (blobs, already base64-decoded) are dropped wherever they appear.
    """
    result: dict[str, Any] = {}
    names = _NAMES
    for name, value in params.items():
        known = names.get(name)
        renamed, secret, map_valued = known if known is not None else _classify(name)
        if secret:
            continue
        kind = type(value)
        if kind is str or kind is int or kind is bool:  # the common members, without the isinstance chain
            result[renamed] = value
        elif isinstance(value, bytes | bytearray | memoryview):
            continue
        elif map_valued and isinstance(value, dict):
            result[renamed] = {str(k): v for k, v in value.items() if isinstance(v, str)}
        elif isinstance(value, dict | list | tuple):
            result[renamed] = _redact_value(value)
        else:
            result[renamed] = value
    return result


def response_elements(event_name: str, response: dict[str, Any] | None) -> dict[str, Any] | None:
    """CloudTrail's responseElements: null for read-only calls (all cryptographic operations) and the calls in
    NULL_RESPONSE_EVENTS, else redacted."""
    if response is None or is_read_only(event_name) or event_name in NULL_RESPONSE_EVENTS:
        return None
    return redact(response) or None


def key_resource(account_id: str, key_arn: str) -> dict[str, str]:
    """One entry of a KMS event's ``resources``."""
    return {"accountId": account_id, "type": KMS_KEY_RESOURCE_TYPE, "ARN": key_arn}


def _user_identity(
    principal_arn: str, account_id: str, principal_id: str, access_key_id: str, is_root: bool
) -> dict[str, Any]:
    if not principal_arn.startswith("arn:"):
        # A service principal (s3.amazonaws.com) calling through the in-process client on its own behalf.
        return {"type": "AWSService", "invokedBy": principal_arn}
    identity: dict[str, Any] = {
        "type": "Root" if is_root else "IAMUser",
        "principalId": principal_id,
        "arn": principal_arn,
        "accountId": account_id,
        "accessKeyId": access_key_id,
    }
    if not is_root:
        identity["userName"] = principal_arn.rsplit("/", 1)[-1]
    return identity


def api_event(
    *,
    event_name: str,
    request_id: str,
    event_time: float,
    region: str,
    source_ip: str,
    user_agent: str,
    principal_arn: str,
    account_id: str,
    principal_id: str,
    access_key_id: str,
    is_root: bool,
    request_parameters: dict[str, Any],
    response_elements: dict[str, Any] | None,
    resources: list[dict[str, str]],
    error_code: str | None,
    error_message: str | None,
    read_only: bool,
    event_source: str = KMS_EVENT_SOURCE,
    invoked_by: str | None = None,
) -> dict[str, Any]:
    """One CloudTrail record. ``request_parameters`` and ``response_elements`` are redacted here as well, so a
    caller that passes the raw request members cannot leak a secret; ``invoked_by`` names the AWS service
    (``s3.amazonaws.com``) that called KMS on the principal's behalf, as CloudTrail's ``invokedBy`` does."""
    identity = _user_identity(principal_arn, account_id, principal_id, access_key_id, is_root)
    if invoked_by is not None and identity["type"] != "AWSService":
        identity["invokedBy"] = invoked_by
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": identity,
        "eventTime": iso_time(event_time),
        "eventSource": event_source,
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": invoked_by or source_ip,
        "userAgent": invoked_by or user_agent,
    }
    if error_code is not None:
        record["errorCode"] = error_code
        record["errorMessage"] = error_message or ""
    record["requestParameters"] = redact(request_parameters) or None
    record["responseElements"] = (redact(response_elements) or None) if response_elements else None
    record["requestID"] = request_id
    record["eventID"] = event_id()
    record["readOnly"] = read_only
    record["resources"] = [dict(resource) for resource in resources]
    record["eventType"] = "AwsApiCall"
    record["managementEvent"] = True
    record["recipientAccountId"] = account_id
    record["eventCategory"] = "Management"
    return record


SERVICE_INVOKER = "AWS Internal"


def service_event(
    *,
    event_name: str,
    event_time: float,
    region: str,
    account_id: str,
    key_arn: str,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A record of something KMS did on its own (CloudTrail's ``AwsServiceEvent``): a scheduled deletion carried
    out (``DeleteKey``), an automatic rotation (``RotateKey``), imported material that expired
    (``DeleteExpiredKeyMaterial``). No caller, no request: ``invokedBy`` is "AWS Internal", as in CloudTrail."""
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": {"accountId": account_id, "invokedBy": SERVICE_INVOKER},
        "eventTime": iso_time(event_time),
        "eventSource": KMS_EVENT_SOURCE,
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": SERVICE_INVOKER,
        "userAgent": SERVICE_INVOKER,
        "requestParameters": None,
        "responseElements": None,
        "eventID": event_id(),
        "readOnly": False,
        "resources": [key_resource(account_id, key_arn)],
        "eventType": "AwsServiceEvent",
        "managementEvent": True,
        "recipientAccountId": account_id,
    }
    if details:
        record["serviceEventDetails"] = dict(details)
    record["eventCategory"] = "Management"
    return record

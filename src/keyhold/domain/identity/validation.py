"""IAM's input rules for the identity domain: name patterns and lengths, paths, paging limits, access-key
statuses, and the checks IAM applies to an identity-based policy document before storing it.

Messages follow IAM's wording ("1 validation error detected: ...", "Syntax errors in policy.") because they
are returned to callers unchanged.
"""

import json
import re
from typing import Any
from urllib.parse import unquote

from keyhold.domain.identity.errors import MalformedPolicyDocument
from keyhold.errors import InvalidInput

NAME_PATTERN = r"[\w+=,.@-]+"
_NAME = re.compile(NAME_PATTERN, re.ASCII)
_PATH = re.compile(r"/|/[\x21-\x7e]+/")
_PATH_PREFIX = re.compile(r"/[\x21-\x7f]*")
_ACCESS_KEY_ID = re.compile(r"\w+", re.ASCII)
_POLICY_TEXT = re.compile(r"[\t\n\r\x20-\xff]+")

ACCESS_KEY_STATUSES = ("Active", "Inactive")
MAX_POLICY_DOCUMENT = 131072
MAX_INLINE_USER_POLICY_SIZE = 2048  # aggregate, whitespace excluded (IAM's quota)

_VERSIONS = ("2012-10-17", "2008-10-17")
_TOP_ELEMENTS = frozenset({"Version", "Id", "Statement"})
_STATEMENT_ELEMENTS = frozenset(
    {
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    }
)
_SYNTAX = "Syntax errors in policy."


def validation_error(value: object, member: str, constraint: str) -> InvalidInput:
    shown = "null" if value is None else f"'{value}'"
    return InvalidInput(
        f"1 validation error detected: Value {shown} at '{member}' failed to satisfy constraint: "
        f"Member must {constraint}"
    )


def _check_text(value: str, member: str, pattern: re.Pattern[str], shown: str, max_len: int) -> str:
    if len(value) < 1:
        raise validation_error(value, member, "have length greater than or equal to 1")
    if len(value) > max_len:
        raise validation_error(value, member, f"have length less than or equal to {max_len}")
    if not pattern.fullmatch(value):
        raise validation_error(value, member, f"satisfy regular expression pattern: {shown}")
    return value


def check_new_user_name(name: str) -> str:
    return _check_text(name, "userName", _NAME, NAME_PATTERN, 64)


def check_user_name(name: str) -> str:
    """A name that refers to an existing user (IAM allows up to 128 characters there)."""
    return _check_text(name, "userName", _NAME, NAME_PATTERN, 128)


def check_policy_name(name: str) -> str:
    return _check_text(name, "policyName", _NAME, NAME_PATTERN, 128)


def check_path(path: str) -> str:
    return _check_text(path, "path", _PATH, r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)", 512)


def check_path_prefix(prefix: str) -> str:
    return _check_text(prefix, "pathPrefix", _PATH_PREFIX, r"\u002F[\u0021-\u007F]*", 512)


def check_access_key_id(access_key_id: str) -> str:
    if len(access_key_id) < 16:
        raise validation_error(access_key_id, "accessKeyId", "have length greater than or equal to 16")
    return _check_text(access_key_id, "accessKeyId", _ACCESS_KEY_ID, r"[\w]+", 128)


def check_status(status: str) -> str:
    if status not in ACCESS_KEY_STATUSES:
        raise validation_error(status, "status", "satisfy enum value set: [Active, Inactive]")
    return status


def check_max_items(max_items: int) -> int:
    if max_items < 1:
        raise validation_error(max_items, "maxItems", "have value greater than or equal to 1")
    if max_items > 1000:
        raise validation_error(max_items, "maxItems", "have value less than or equal to 1000")
    return max_items


def policy_size(document: str) -> int:
    """How IAM counts a policy against the size quota: characters other than whitespace."""
    return sum(1 for char in document if not char.isspace())


def check_policy_document(document: str) -> str:
    """The document to store: the JSON as given, or URL-decoded when it arrived URL-encoded (a JSON text
    never starts with '%', so decoding cannot change a document that was sent plainly). Raises
    MalformedPolicyDocument with IAM's message for the first check that fails."""
    if not document:
        raise validation_error(document, "policyDocument", "have length greater than or equal to 1")
    if document.lstrip().startswith("%"):
        document = unquote(document)
    if len(document) > MAX_POLICY_DOCUMENT:
        raise validation_error("...", "policyDocument", f"have length less than or equal to {MAX_POLICY_DOCUMENT}")
    if not _POLICY_TEXT.fullmatch(document):
        raise validation_error(
            "...", "policyDocument", r"satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u00FF]+"
        )
    try:
        parsed = json.loads(document)
    except ValueError:
        raise MalformedPolicyDocument(_SYNTAX) from None
    statements = _statements(parsed)
    _check_semantics(statements)
    return document


def _statements(parsed: Any) -> list[dict[str, Any]]:
    if not isinstance(parsed, dict) or not set(parsed) <= _TOP_ELEMENTS:
        raise MalformedPolicyDocument(_SYNTAX)
    if "Version" in parsed and parsed["Version"] not in _VERSIONS:
        raise MalformedPolicyDocument(_SYNTAX)
    if "Id" in parsed and not isinstance(parsed["Id"], str):
        raise MalformedPolicyDocument(_SYNTAX)
    raw = parsed.get("Statement")
    statements = [raw] if isinstance(raw, dict) else raw
    if not isinstance(statements, list) or not statements:
        raise MalformedPolicyDocument(_SYNTAX)
    for statement in statements:
        _check_statement_syntax(statement)
    return statements


def _check_statement_syntax(statement: Any) -> None:
    if not isinstance(statement, dict) or not set(statement) <= _STATEMENT_ELEMENTS:
        raise MalformedPolicyDocument(_SYNTAX)
    if ("Action" in statement and "NotAction" in statement) or ("Resource" in statement and "NotResource" in statement):
        raise MalformedPolicyDocument(_SYNTAX)
    effect = statement.get("Effect")
    if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
        raise MalformedPolicyDocument(_SYNTAX)
    for key in ("Action", "NotAction", "Resource", "NotResource"):
        value = statement.get(key, "")
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, str) for item in items):
            raise MalformedPolicyDocument(_SYNTAX)
    if not isinstance(statement.get("Condition", {}), dict):
        raise MalformedPolicyDocument(_SYNTAX)
    if "Sid" in statement and not isinstance(statement["Sid"], str):
        raise MalformedPolicyDocument(_SYNTAX)


def _check_semantics(statements: list[dict[str, Any]]) -> None:
    if any(statement["Effect"] not in ("Allow", "Deny") for statement in statements):
        raise MalformedPolicyDocument("The policy failed legacy parsing")
    sids = [statement["Sid"] for statement in statements if statement.get("Sid")]
    if len(sids) != len(set(sids)):
        raise MalformedPolicyDocument("Statement IDs (SID) in a single policy must be unique.")
    if any("Action" not in statement and "NotAction" not in statement for statement in statements):
        raise MalformedPolicyDocument("Policy statement must contain actions.")
    if any("Principal" in statement or "NotPrincipal" in statement for statement in statements):
        raise MalformedPolicyDocument("Policy document should not specify a principal.")
    if any("Resource" not in statement and "NotResource" not in statement for statement in statements):
        raise MalformedPolicyDocument("Policy statement must contain resources.")
    for statement in statements:
        actions = statement.get("Action", statement.get("NotAction", []))
        for action in actions if isinstance(actions, list) else [actions]:
            vendor, colon, _name = action.partition(":")
            if action != "*" and (not colon or not vendor):
                raise MalformedPolicyDocument(
                    "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
                )

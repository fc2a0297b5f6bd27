"""Validate AWS JSON-protocol request bodies against a botocore service model.

``OperationValidator`` compiles each operation's input shape once into a tree of small nodes; ``validate``
walks the decoded JSON body in one pass. A value of the wrong kind (a string where a number belongs, bad
base64, an unparsable timestamp, a lone surrogate) raises ``SerializationError`` at once, as AWS's Coral
deserializer does; constraint violations (required, length, range, enum, pattern) are collected and
raised together as one ``ValidationError`` worded like AWS's ValidationException, e.g.

    2 validation errors detected: Value null at 'keyId' failed to satisfy constraint: Member must not be
    null; Value 'x' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [...]

Paths are lowerFirst member names joined by '.', list elements are ``tags.1.member.tagKey`` (1-based);
scalar map keys and values are reported once per map ("Map keys must satisfy constraint: [...]"). Values
of sensitive shapes are never echoed ("Value at 'plaintext' ..."), blobs render as Java's
``java.nio.HeapByteBuffer[pos=0 lim=N cap=N]``, and at most ten violations are reported, as AWS does.
"""

from __future__ import annotations

import base64
import contextlib
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["OperationValidator", "SerializationError", "ValidationError"]

_MAX_REPORTED = 10
_NOT_NULL = "Member must not be null"
_BAD_BASE64 = re.compile(r"[^A-Za-z0-9+/=]|=[^=]")
_JAVA_CLASS = {
    bool: "java.lang.Boolean",
    float: "com.amazon.coral.value.json.numbers.TruncatingBigNumber",
    str: "java.lang.String",
}
_Check = Callable[[Any], str | None]  # returns the violated rule's text, or None


class SerializationError(Exception):
    """The body cannot be read as the operation's input shape (AWS: SerializationException)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(Exception):
    """Constraint violations (AWS: ValidationException); ``violations`` holds the ones reported."""

    def __init__(self, violations: list[str]) -> None:
        self.violations = tuple(violations[:_MAX_REPORTED])
        count, plural = len(self.violations), "s" if len(self.violations) > 1 else ""
        self.message = f"{count} validation error{plural} detected: " + "; ".join(self.violations)
        super().__init__(self.message)


def _render(value: Any) -> str:
    """Java's toString of the deserialized value, as AWS puts it into messages."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, bytes):
        return f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    if isinstance(value, list):
        return "[" + ", ".join(map(_render, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_render(v)}" for k, v in value.items()) + "}"
    return str(value)


def _violation(value: Any, path: str, rule: str, sensitive: bool) -> str:
    shown = "Value" if sensitive else "Value null" if value is None else f"Value '{_render(value)}'"
    return f"{shown} at '{path}' failed to satisfy constraint: {rule}"


def _type_error(value: Any, target: str) -> SerializationError:
    """Coral's wording for a JSON value of the wrong kind; ``target`` is a Java type or an 'Expected' text."""
    if isinstance(value, list):
        return SerializationError("Start of list found where not expected")
    if isinstance(value, dict):
        return SerializationError("Start of structure or map found where not expected.")
    if target.startswith("Expected"):
        return SerializationError(target)
    source = _JAVA_CLASS[bool if isinstance(value, bool) else float if isinstance(value, (int, float)) else str]
    article = "a" if target == "Blob" else "an"
    return SerializationError(f"class {source} can not be converted to {article} {target}")


def _coerce_string(value: Any) -> str:
    if type(value) is not str:
        raise _type_error(value, "String")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise SerializationError("Invalid UTF-8: string contains an unpaired surrogate") from None
    return value


def _coerce_bool(value: Any) -> bool:
    if type(value) is bool:
        return value
    if type(value) is str:
        raise SerializationError(f"'{value.upper()}' can not be converted to an Boolean")
    raise _type_error(value, "Boolean")


def _number_coercer(target: str, integral: bool) -> Callable[[Any], Any]:
    """JSON numbers only (bool is not one); integers must be integral; NaN and infinities are refused."""

    def coerce(value: Any) -> Any:
        kind = type(value)
        if kind is int:
            return value if integral else float(value)
        if kind is not float:
            raise _type_error(value, target)
        if math.isfinite(value) and (value.is_integer() or not integral):
            return int(value) if integral else value
        raise SerializationError(f"'{value}' can not be converted to an {target}")

    return coerce


_coerce_epoch = _number_coercer("Date", integral=False)


def _coerce_timestamp(value: Any) -> float:
    """Epoch seconds (a JSON number or a numeric string) or an ISO 8601 string, as a float."""
    if type(value) is not str:
        return float(_coerce_epoch(value))
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise SerializationError(f"Unable to parse date value '{value}'") from None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    if not math.isfinite(seconds):
        raise SerializationError(f"Unable to parse date value '{value}'")
    return seconds


def _blob_coercer(sensitive: bool) -> Callable[[Any], bytes]:
    def coerce(value: Any) -> bytes:
        if type(value) is not str:
            raise _type_error(value, "Blob")
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:  # binascii.Error, or non-ASCII input
            pass
        if len(value) % 4:
            detail = f"Base64 encoded length is expected a multiple of 4 bytes but found: {len(value)}"
        elif bad := _BAD_BASE64.search(value):
            detail = f"Invalid Base64 character: '{bad.group()[0]}'"
        else:
            detail = "Invalid last non-pad Base64 character dectected"
        shown = "Value" if sensitive else f"'{value}'"  # never echo a secret
        raise SerializationError(f"{shown} can not be converted to a Blob: {detail}")

    return coerce


def _bounds(shape: Mapping[str, Any], what: str) -> tuple[list[_Check], list[str]]:
    """The min/max check of ``what`` ("length" or "value"), and its rule texts in AWS's order (max first)."""
    low, high = shape.get("min"), shape.get("max")
    if low is None and high is None:
        return [], []
    low_text = f"Member must have {what} greater than or equal to {low}"
    high_text = f"Member must have {what} less than or equal to {high}"
    lo, hi = (-math.inf if low is None else low), (math.inf if high is None else high)
    measure: Callable[[Any], Any] = len if what == "length" else (lambda v: v)

    def check(value: Any) -> str | None:
        n = measure(value)
        return low_text if n < lo else high_text if n > hi else None

    return [check], ([high_text] if high is not None else []) + ([low_text] if low is not None else [])


def _rule(predicate: Callable[[Any], Any], text: str) -> _Check:
    return lambda value: None if predicate(value) else text


class _Scalar:
    __slots__ = ("checks", "coerce", "rules", "sensitive")

    def __init__(self, coerce: Callable[[Any], Any], checks: list[_Check], rules: list[str], sensitive: bool) -> None:
        self.coerce, self.checks, self.rules, self.sensitive = coerce, tuple(checks), rules, sensitive

    def ok(self, value: Any) -> bool:
        return all(check(value) is None for check in self.checks)

    def convert(self, value: Any, path: str, errors: list[str]) -> Any:
        converted = self.coerce(value)
        for check in self.checks:
            if (problem := check(converted)) is not None:
                errors.append(_violation(converted, path, problem, self.sensitive))
        return converted


class _Struct:
    __slots__ = ("members", "sensitive")

    def __init__(self, sensitive: bool) -> None:
        self.members: tuple[tuple[str, str, Callable[[Any, str, list[str]], Any], bool, bool], ...] = ()
        self.sensitive = sensitive

    def convert(self, value: Any, path: str, errors: list[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _type_error(value, "Expected null")
        out: dict[str, Any] = {}
        for name, label, convert, required, sensitive in self.members:
            member = value.get(name)
            if member is not None:
                out[name] = convert(member, f"{path}.{label}" if path else label, errors)
            elif required:
                errors.append(_violation(None, f"{path}.{label}" if path else label, _NOT_NULL, sensitive))
        return out


class _List:
    __slots__ = ("checks", "item", "sensitive")

    def __init__(self, item: _Node, checks: list[_Check], sensitive: bool) -> None:
        self.item, self.checks, self.sensitive = item, tuple(checks), sensitive

    def convert(self, value: Any, path: str, errors: list[str]) -> list[Any]:
        if not isinstance(value, list):
            raise _type_error(value, "Expected list or null")
        mark, convert, out = len(errors), self.item.convert, []
        for index, element in enumerate(value, 1):
            if element is None:
                errors.append(_violation(None, f"{path}.{index}.member", _NOT_NULL, self.item.sensitive))
            else:
                out.append(convert(element, f"{path}.{index}.member", errors))
        problems = [problem for check in self.checks if (problem := check(value)) is not None]
        errors[mark:mark] = [_violation(out, path, problem, self.sensitive) for problem in problems]
        return out


class _Map:
    __slots__ = ("checks", "key", "sensitive", "value")

    def __init__(self, key: _Scalar, value: _Node, checks: list[_Check], sensitive: bool) -> None:
        self.key, self.value, self.checks, self.sensitive = key, value, tuple(checks), sensitive

    def convert(self, value: Any, path: str, errors: list[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _type_error(value, "Expected map or null")
        key_node, node = self.key, self.value
        scalar = node if isinstance(node, _Scalar) else None
        bad_key = bad_value = null_value = False
        mark, out = len(errors), {}
        for key, item in value.items():
            key = key_node.coerce(key)
            if key_node.checks and not key_node.ok(key):
                bad_key = True
            if item is None:
                null_value = True
            elif scalar is not None:
                out[key] = item = scalar.coerce(item)
                if scalar.checks and not scalar.ok(item):
                    bad_value = True
            else:
                out[key] = node.convert(item, f"{path}.{key}", errors)
        problems = [problem for check in self.checks if (problem := check(value)) is not None]
        if bad_key:
            problems.append("Map keys must satisfy constraint: [" + ", ".join(key_node.rules) + "]")
        if bad_value or null_value:
            rules = (scalar.rules if scalar else []) + ([_NOT_NULL] if null_value else [])
            problems.append("Map value must satisfy constraint: [" + ", ".join(rules) + "]")
        if problems:
            shown = {key: out.get(key) for key in value}
            errors[mark:mark] = [_violation(shown, path, problem, self.sensitive) for problem in problems]
        return out


_Node = _Scalar | _Struct | _List | _Map


def _compile(shapes: Mapping[str, Any], name: str, cache: dict[str, _Node]) -> _Node:
    """The node for shape ``name``; containers are cached before their children, so recursion works."""
    if name in cache:
        return cache[name]
    shape = shapes[name]
    kind, sensitive = shape["type"], bool(shape.get("sensitive"))
    node: _Node
    if kind == "structure":
        node = cache[name] = _Struct(sensitive)
        required = set(shape.get("required", ()))
        members = []
        for member, ref in shape.get("members", {}).items():
            child = _compile(shapes, ref["shape"], cache)
            label = member[:1].lower() + member[1:]  # AWS lowers only the first letter: 'aWSAccountId'
            members.append((member, label, child.convert, member in required, child.sensitive))
        node.members = tuple(members)
    elif kind == "list":
        item = _compile(shapes, shape["member"]["shape"], cache)
        node = cache[name] = _List(item, _bounds(shape, "length")[0], sensitive)
    elif kind == "map":
        key = _compile(shapes, shape["key"]["shape"], cache)
        if not isinstance(key, _Scalar):
            raise TypeError(f"map {name} has a non-scalar key shape")
        value = _compile(shapes, shape["value"]["shape"], cache)
        node = cache[name] = _Map(key, value, _bounds(shape, "length")[0], sensitive)
    else:
        node = cache[name] = _compile_scalar(kind, shape, sensitive)
    return node


def _compile_scalar(kind: str, shape: Mapping[str, Any], sensitive: bool) -> _Scalar:
    coerce: Callable[[Any], Any]
    checks: list[_Check] = []
    rules: list[str] = []
    if kind == "string":
        coerce = _coerce_string
        checks, rules = _bounds(shape, "length")
        if "enum" in shape:
            rules.append("Member must satisfy enum value set: [" + ", ".join(shape["enum"]) + "]")
            checks.append(_rule(frozenset(shape["enum"]).__contains__, rules[-1]))
        if "pattern" in shape:
            rules.append("Member must satisfy regular expression pattern: " + shape["pattern"])
            with contextlib.suppress(re.error):  # ASCII like Java; \p{L} etc. cannot be checked here
                checks.append(_rule(re.compile(shape["pattern"], re.ASCII).fullmatch, rules[-1]))
    elif kind == "blob":
        coerce = _blob_coercer(sensitive)
        checks, rules = _bounds(shape, "length")
    elif kind in ("integer", "long", "short", "byte", "float", "double"):
        integral = kind not in ("float", "double")
        coerce = _number_coercer("Integer" if kind != "long" and integral else kind.capitalize(), integral)
        checks, rules = _bounds(shape, "value")
    elif kind == "boolean":
        coerce = _coerce_bool
    elif kind == "timestamp":
        coerce = _coerce_timestamp
    else:
        raise TypeError(f"unsupported shape type {kind!r}")
    return _Scalar(coerce, checks, rules, sensitive)


class OperationValidator:
    """Validates and converts request bodies for every operation of one botocore service model."""

    @classmethod
    def for_service(cls, service_name: str) -> OperationValidator:
        import botocore.loaders  # here, not at import time: only needed to read the installed models

        return cls(botocore.loaders.create_loader().load_service_model(service_name, "service-2"))

    def __init__(self, service_model: dict[str, Any]) -> None:
        shapes, cache = service_model["shapes"], dict[str, _Node]()
        self._inputs: dict[str, _Struct | None] = {}
        for name, operation in service_model["operations"].items():
            node = _compile(shapes, operation["input"]["shape"], cache) if "input" in operation else None
            if node is not None and not isinstance(node, _Struct):
                raise TypeError(f"input of {name} is not a structure")
            self._inputs[name] = node
        self._names = frozenset(self._inputs)

    @property
    def operation_names(self) -> frozenset[str]:
        return self._names

    def validate(self, operation: str, body: Any) -> dict[str, Any]:
        """``body`` converted: blobs as bytes, timestamps as floats, unknown members dropped.

        Raises KeyError for an unknown operation, SerializationError or ValidationError for bad input.
        """
        node = self._inputs[operation]
        if node is None:
            return {}
        errors: list[str] = []
        converted = node.convert({} if body is None else body, "", errors)
        if errors:
            raise ValidationError(errors)
        return converted

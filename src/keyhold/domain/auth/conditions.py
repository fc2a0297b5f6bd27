"""Condition operators of the IAM policy language, and the patterns they share with Action and Resource.

Everything is compiled when the policy is parsed; evaluation only looks values up and matches them. Semantics are
AWS IAM's ("Condition operators", "Single-valued vs. multivalued context keys", "Policy variables"):

- Key names are case-insensitive (so ``kms:EncryptionContext:<k>`` is, in ``<k>``); values are case-sensitive except
  under ``...IgnoreCase``. Several values for one key are ORed; for a negated operator (StringNotEquals,
  StringNotLike, NumericNotEquals, DateNotEquals, NotIpAddress, ArnNotEquals, ArnNotLike, ...) NORed.
- A key absent from the request (or an empty multi-valued key): the condition is false, except that a negated
  operator is TRUE (AWS: "If the policy condition requires that the key is not matched, such as StringNotLike,
  and the right key is not present, the condition is true"), ``...IfExists`` is true, ``ForAllValues:`` is true
  (AWS's famous gotcha) and ``ForAnyValue:`` is false. ``Null: true`` means "absent".
- ``ForAnyValue:op``: some request value satisfies ``op``; ``ForAllValues:op``: every one does; a request value
  satisfies a negated ``op`` when it matches none of the policy values. A single value under a qualifier is a set
  of one. A multi-valued key WITHOUT a qualifier (AWS says not to, and documents no result): the operator matches
  when ANY request value matches, and a negated operator when NONE does, so it stays the positive form's negation.
- Policy variables (``${aws:username}``, ``${aws:userid}``, ``${aws:PrincipalAccount}``, any single-valued key,
  ``${key, 'default'}``, the escapes ``${*}``, ``${?}``, ``${$}``) are substituted in Resource and String*/Arn*
  values under Version 2012-10-17, and are literal text otherwise. An unresolvable variable without a default
  makes that one value match nothing.
- ArnEquals and ArnLike are the same (both take wildcards); in each of an ARN's first five colon-separated
  components ``*`` and ``?`` do not cross a ``:``. A value with fewer than five colons is matched as a whole.
- Numeric, Date, IpAddress, BinaryEquals, Bool and Null values not of the operator's type are rejected at parse
  time. Dates are ISO 8601 (naive = UTC) or epoch seconds.
"""

import base64
import binascii
import datetime
import ipaddress
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from keyhold.domain.auth.errors import MalformedPolicy

Scalar = str | bool | int | float
ContextValue = str | bool | int | float | Sequence[str] | None
ValueTest = Callable[[Scalar, "Context"], bool]

VENDOR_MESSAGE = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."


class Context:
    """The request's condition keys, looked up by lower-cased name; the lower-cased copy is built on first use."""

    __slots__ = ("_defaults", "_lowered", "_values")

    def __init__(self, values: Mapping[str, ContextValue], defaults: Callable[[], dict[str, ContextValue]]) -> None:
        self._values = values
        self._defaults = defaults
        self._lowered: dict[str, ContextValue] | None = None

    def get(self, key: str) -> ContextValue:
        lowered = self._lowered
        if lowered is None:
            lowered = self._defaults()
            for name, value in self._values.items():
                lowered[name.lower()] = value
            self._lowered = lowered
        return lowered.get(key)


@dataclass(frozen=True, slots=True)
class _Wildcard:
    anything: str  # the regex outside an ARN's first five components
    in_component: str  # the regex inside one of them (does not cross ':')


@dataclass(frozen=True, slots=True)
class _Variable:
    key: str  # lower-cased
    default: str | None


STAR = _Wildcard(".*", "[^:]*")
QMARK = _Wildcard(".", "[^:]")
Token = str | _Wildcard | _Variable

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_BODY = re.compile(r"([^\s,']+)\s*(?:,\s*'((?:[^']|'')*)')?")
_WILDCARDS = re.compile(r"([*?])")


def tokenize(text: str, *, wildcards: bool, variables: bool) -> tuple[Token, ...]:
    """Split a policy string into literal runs, wildcards and variables (adjacent literals merged)."""
    tokens: list[Token] = []

    def literal(chunk: str) -> None:
        if tokens and isinstance(tokens[-1], str):
            tokens[-1] += chunk
        elif chunk:
            tokens.append(chunk)

    def text_run(chunk: str) -> None:
        for piece in _WILDCARDS.split(chunk) if wildcards else (chunk,):
            if wildcards and piece in ("*", "?"):
                tokens.append(STAR if piece == "*" else QMARK)
            else:
                literal(piece)

    position = 0
    for found in _VARIABLE.finditer(text) if variables else ():
        text_run(text[position : found.start()])
        body = found.group(1).strip()
        parsed = _VARIABLE_BODY.fullmatch(body)
        if body in ("*", "?", "$"):
            literal(body)
        elif parsed is not None:
            default = parsed.group(2)
            tokens.append(_Variable(parsed.group(1).lower(), None if default is None else default.replace("''", "'")))
        else:
            literal(found.group(0))
        position = found.end()
    text_run(text[position:])
    return tuple(tokens)


def variable_keys(text: str) -> set[str]:
    """The lower-cased condition keys of every policy variable (``${aws:username}``) anywhere in ``text``."""
    keys = set()
    for found in _VARIABLE.finditer(text):
        parsed = _VARIABLE_BODY.fullmatch(found.group(1).strip())
        if parsed is not None:
            keys.add(parsed.group(1).lower())
    return keys


def to_regex(tokens: Sequence[Token], arn: bool) -> str:
    """The regex (for fullmatch) of resolved tokens; ``arn`` keeps wildcards inside an ARN's first components."""
    arn = arn and sum(token.count(":") for token in tokens if isinstance(token, str)) >= 5
    parts: list[str] = []
    colons = 0
    for token in tokens:
        if isinstance(token, str):
            parts.append(re.escape(token))
            colons += token.count(":")
        elif isinstance(token, _Wildcard):
            parts.append(token.in_component if arn and colons < 5 else token.anything)
    return "".join(parts)


def text_of(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _resolve(tokens: Sequence[Token], ctx: Context, fold: bool) -> list[str | _Wildcard] | None:
    resolved: list[str | _Wildcard] = []
    for token in tokens:
        if isinstance(token, _Variable):
            value = ctx.get(token.key)
            if isinstance(value, str | bool | int | float):
                text = text_of(value)
            elif token.default is not None:
                text = token.default
            else:
                return None
            resolved.append(text.lower() if fold else text)
        else:
            resolved.append(token)
    return resolved


class ValueSet:
    """A list of policy strings compiled once: exact strings in a set, wildcard patterns in one regex, and the
    few strings with policy variables kept as tokens and resolved per request."""

    __slots__ = ("_arn", "_exact", "_fold", "_match_all", "_regex", "_templates")

    def __init__(self, texts: Sequence[str], *, wildcards: bool, fold: bool, arn: bool, variables: bool) -> None:
        exact: set[str] = set()
        regexes: list[str] = []
        self._templates: list[tuple[Token, ...]] = []
        self._match_all = False
        for text in texts:
            tokens = tokenize(text.lower() if fold else text, wildcards=wildcards, variables=variables)
            if any(isinstance(token, _Variable) for token in tokens):
                self._templates.append(tokens)
            elif all(isinstance(token, str) for token in tokens):
                exact.add("".join(str(token) for token in tokens))
            elif tokens == (STAR,):
                self._match_all = True
            else:
                regexes.append(to_regex(tokens, arn))
        self._exact = frozenset(exact)
        self._regex = re.compile("|".join(f"(?:{r})" for r in regexes), re.DOTALL) if regexes else None
        self._fold = fold
        self._arn = arn

    def matches(self, value: str, ctx: Context) -> bool:
        if self._match_all:
            return True
        if self._fold:
            value = value.lower()
        if value in self._exact:
            return True
        if self._regex is not None and self._regex.fullmatch(value) is not None:
            return True
        for tokens in self._templates:
            resolved = _resolve(tokens, ctx, self._fold)
            if resolved is None:
                continue
            if all(isinstance(token, str) for token in resolved):
                if "".join(str(token) for token in resolved) == value:
                    return True
            elif re.fullmatch(to_regex(resolved, self._arn), value, re.DOTALL) is not None:
                return True
        return False


_PLAIN, _ANY_VALUE, _ALL_VALUES = 0, 1, 2
_QUALIFIERS = (("ForAnyValue:", _ANY_VALUE), ("ForAllValues:", _ALL_VALUES))


@dataclass(frozen=True, slots=True)
class Condition:
    """One condition key under one operator, e.g. ``"ForAnyValue:StringLike": {"kms:EncryptionContextKeys": [...]}``."""

    operator: str  # as written in the policy
    key: str  # lower-cased
    qualifier: int
    if_exists: bool
    negated: bool
    null: frozenset[bool] | None  # for Null: the answers to "is the key absent?" that satisfy it
    test: ValueTest  # does one request value match any of the policy values (before negation)

    def holds(self, ctx: Context) -> bool:
        raw = ctx.get(self.key)
        values: Sequence[Scalar] = () if raw is None else (raw,) if isinstance(raw, str | bool | int | float) else raw
        if self.null is not None:
            return (not values) in self.null
        if not values:
            if self.if_exists or self.qualifier == _ALL_VALUES:
                return True
            return False if self.qualifier == _ANY_VALUE else self.negated
        test, negated = self.test, self.negated
        if self.qualifier == _PLAIN:
            hit = any(test(value, ctx) for value in values)
            return not hit if negated else hit
        if self.qualifier == _ANY_VALUE:
            return any(test(value, ctx) is not negated for value in values)
        return all(test(value, ctx) is not negated for value in values)


def _strings(wildcards: bool, fold: bool, arn: bool) -> Callable[[list[Scalar], bool], ValueTest]:
    def build(values: list[Scalar], variables: bool) -> ValueTest:
        texts = [text_of(v) for v in values]
        matcher = ValueSet(texts, wildcards=wildcards, fold=fold, arn=arn, variables=variables)
        return lambda value, ctx: matcher.matches(text_of(value), ctx)

    return build


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _number(value: Scalar) -> float | None:
    if isinstance(value, bool) or (isinstance(value, str) and not _NUMBER.fullmatch(value.strip())):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _epoch(value: Scalar) -> float | None:
    number = _number(value)
    if number is not None or not isinstance(value, str):
        return number
    try:
        moment = datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def _ordered(
    parse: Callable[[Scalar], float | None], compare: Callable[[float, float], bool], what: str
) -> Callable[[list[Scalar], bool], ValueTest]:
    def build(values: list[Scalar], variables: bool) -> ValueTest:
        wanted = [parse(v) for v in values]
        if any(w is None for w in wanted):
            raise MalformedPolicy(f"Condition values must be {what}: {values!r}.")
        bounds = tuple(w for w in wanted if w is not None)

        def test(value: Scalar, ctx: Context) -> bool:
            number = parse(value)
            return number is not None and any(compare(number, bound) for bound in bounds)

        return test

    return build


def _bool(values: list[Scalar], variables: bool) -> ValueTest:
    wanted = frozenset(text_of(v).lower() for v in values)
    if not wanted <= {"true", "false"}:
        raise MalformedPolicy(f"Bool condition values must be true or false: {values!r}.")
    return lambda value, ctx: text_of(value).lower() in wanted


def _decode(value: Scalar) -> bytes | None:
    try:
        return base64.b64decode(text_of(value), validate=True)
    except (binascii.Error, ValueError):  # binascii.Error is a ValueError; named for readers
        return None


def _binary(values: list[Scalar], variables: bool) -> ValueTest:
    wanted = {_decode(v) for v in values}
    if None in wanted:
        raise MalformedPolicy(f"BinaryEquals condition values must be base64: {values!r}.")
    return lambda value, ctx: _decode(value) in wanted


def _address(values: list[Scalar], variables: bool) -> ValueTest:
    try:
        networks = tuple(ipaddress.ip_network(text_of(v).strip(), strict=False) for v in values)
    except ValueError as exc:
        raise MalformedPolicy(f"IP address condition values must be addresses or CIDR blocks: {values!r}.") from exc

    def test(value: Scalar, ctx: Context) -> bool:
        try:
            address = ipaddress.ip_address(text_of(value).strip())
        except ValueError:
            return False
        return any(address in network for network in networks)

    return test


_EXACT, _FOLDED, _LIKE, _ARN = (False, False, False), (False, True, False), (True, False, False), (True, False, True)
_BUILDERS: dict[str, tuple[Callable[[list[Scalar], bool], ValueTest], bool]] = {
    "StringEquals": (_strings(*_EXACT), False),
    "StringNotEquals": (_strings(*_EXACT), True),
    "StringEqualsIgnoreCase": (_strings(*_FOLDED), False),
    "StringNotEqualsIgnoreCase": (_strings(*_FOLDED), True),
    "StringLike": (_strings(*_LIKE), False),
    "StringNotLike": (_strings(*_LIKE), True),
    "ArnEquals": (_strings(*_ARN), False),
    "ArnLike": (_strings(*_ARN), False),
    "ArnNotEquals": (_strings(*_ARN), True),
    "ArnNotLike": (_strings(*_ARN), True),
    "Bool": (_bool, False),
    "BinaryEquals": (_binary, False),
    "IpAddress": (_address, False),
    "NotIpAddress": (_address, True),
}
for _family, _parse, _what in (("Numeric", _number, "numbers"), ("Date", _epoch, "dates")):
    _BUILDERS[f"{_family}Equals"] = (_ordered(_parse, operator.eq, _what), False)
    _BUILDERS[f"{_family}NotEquals"] = (_ordered(_parse, operator.eq, _what), True)
    _BUILDERS[f"{_family}LessThan"] = (_ordered(_parse, operator.lt, _what), False)
    _BUILDERS[f"{_family}LessThanEquals"] = (_ordered(_parse, operator.le, _what), False)
    _BUILDERS[f"{_family}GreaterThan"] = (_ordered(_parse, operator.gt, _what), False)
    _BUILDERS[f"{_family}GreaterThanEquals"] = (_ordered(_parse, operator.ge, _what), False)
OPERATORS = frozenset(_BUILDERS) | {"Null"}


def _values(raw: object, where: str) -> list[Scalar]:
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(item, str | bool | int | float) for item in items):
        raise MalformedPolicy(f"Condition {where} must have one or more string, number or boolean values.")
    return [item for item in items if isinstance(item, str | bool | int | float)]


def _condition(name: str, key: str, raw: object, variables: bool) -> Condition:
    base, qualifier = name, _PLAIN
    for prefix, kind in _QUALIFIERS:
        if base.startswith(prefix):
            base, qualifier = base[len(prefix) :], kind
    if_exists = base.endswith("IfExists")
    if if_exists:
        base = base[: -len("IfExists")]
    if base not in OPERATORS or (base == "Null" and (if_exists or qualifier != _PLAIN)):
        raise MalformedPolicy(f"Policy contains an unknown condition operator: {name}.")
    if ":" not in key.strip(":"):
        raise MalformedPolicy(VENDOR_MESSAGE)
    values = _values(raw, f"{name} {key}")
    if base == "Null":
        answers = {text_of(v).lower() for v in values}
        if not answers <= {"true", "false"}:
            raise MalformedPolicy(f"Null condition values must be true or false: {values!r}.")
        null = frozenset(answer == "true" for answer in answers)
        return Condition(name, key.lower(), qualifier, False, False, null, lambda value, ctx: False)
    build, negated = _BUILDERS[base]
    return Condition(name, key.lower(), qualifier, if_exists, negated, None, build(values, variables))


def parse_conditions(block: object, variables: bool) -> tuple[Condition, ...]:
    """The Condition element ``{operator: {key: value | [values]}}``: operators ANDed, keys ANDed, values ORed."""
    if not isinstance(block, dict):
        raise MalformedPolicy("The Condition element must be an object of condition operators.")
    conditions: list[Condition] = []
    for name, keys in block.items():
        if not isinstance(keys, dict) or not keys:
            raise MalformedPolicy(f"Condition operator {name} must map one or more condition keys to values.")
        conditions.extend(_condition(name, key, raw, variables) for key, raw in keys.items())
    return tuple(conditions)

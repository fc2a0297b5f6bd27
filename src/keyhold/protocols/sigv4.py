"""AWS Signature Version 4 verification (server side); pure, no I/O.

The client derives a signing key from its secret (HMAC-SHA256 chained over "AWS4" + secret, the scope date,
region, service and "aws4_request") and sends HMAC(signing key, string to sign) as hex, where

    string to sign    = AWS4-HMAC-SHA256 \\n X-Amz-Date \\n date/region/service/aws4_request \\n sha256hex(CR)
    canonical request = method \\n URI \\n query \\n name:value\\n per header \\n SignedHeaders \\n hash

For "s3" the URI is the path as sent; every other service removes dot and empty segments and percent-encodes
the path once more. The query is every parameter except a presigned URL's X-Amz-Signature, decoded, encoded
again with only A-Za-z0-9-_.~ left bare, and sorted. The payload hash is the x-amz-content-sha256 header when
sent, else UNSIGNED-PAYLOAD for presigned S3 URLs, else the body's SHA-256. A streamed (S3) body is not here yet
when the signature is checked: its reader compares the declared hash with the body's at the end. The signature
parts come in the Authorization header or in the X-Amz-* query parameters of a presigned URL. ``parse`` reads
them without any secret; the caller looks the access key up and calls ``verify``. botocore's signer is the reference.
"""

import datetime
import enum
import functools
import hashlib
import hmac
import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote_to_bytes

from keyhold.protocols.http import Request

__all__ = ["ALGORITHM", "AuthError", "AuthFailure", "SignedRequest", "parse", "signing_key", "verify"]

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_EXPIRES = 604800  # seconds: a week
_UTC = datetime.UTC
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_SCOPE_PART = re.compile(r"[a-z0-9][a-z0-9-]*")
_REQUIRED = ("Credential", "Signature", "SignedHeaders")

MSG_MISSING = "Missing Authentication Token"
MSG_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
MSG_PAYLOAD = "The provided 'x-amz-content-sha256' header does not match what was computed."
MSG_HOST = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."


class AuthFailure(enum.Enum):
    MISSING = "missing"
    INCOMPLETE = "incomplete"
    SIGNATURE_MISMATCH = "signature_mismatch"
    EXPIRED = "expired"
    UNRECOGNIZED_KEY = "unrecognized_key"  # raised by callers: this module never sees the key store
    PAYLOAD_HASH_MISMATCH = "payload_hash_mismatch"
    MISSING_CONTENT_SHA256 = "missing_content_sha256"  # a streamed (S3) request signed without declaring its hash


class AuthError(Exception):
    """Why a request is not authenticated; ``message`` is AWS's wording and safe to send back."""

    def __init__(self, failure: AuthFailure, message: str) -> None:
        super().__init__(message)
        self.failure = failure
        self.message = message


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What ``parse`` found in the request; nothing verified yet."""

    access_key_id: str
    date: str  # scope date, YYYYMMDD
    region: str
    service: str
    signed_headers: tuple[str, ...]  # lower-case, sorted, no duplicates
    signature: str
    amz_date: datetime.datetime  # UTC
    presigned: bool
    expires: int | None  # X-Amz-Expires, presigned only
    session_token: str | None


def parse(request: Request) -> SignedRequest:
    """Read the signature parts from the Authorization header or a presigned URL's query parameters."""
    params: dict[str, str] = {}
    for key, value in _query_pairs(request.query_string):  # the first of repeated keys counts
        params.setdefault(key.decode("utf-8", "replace"), value.decode("utf-8", "replace"))
    if "authorization" in request.headers:
        if "X-Amz-Algorithm" in params:
            raise _incomplete(
                "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."
            )
        return _parse_header(request)
    if "X-Amz-Algorithm" in params:
        return _parse_query(params)
    raise AuthError(AuthFailure.MISSING, MSG_MISSING)


def verify(
    request: Request,
    signed: SignedRequest,
    secret_access_key: str,
    now: datetime.datetime,
    *,
    max_skew: datetime.timedelta = datetime.timedelta(minutes=15),
) -> None:
    """Raise AuthError unless the request is current, its payload hash holds and its signature matches."""
    now = now.replace(tzinfo=_UTC) if now.tzinfo is None else now.astimezone(_UTC)  # naive means UTC
    _check_time(signed, now, max_skew)
    stamp = _stamp(signed.amz_date)
    if signed.date != stamp[:8]:
        raise AuthError(
            AuthFailure.SIGNATURE_MISMATCH,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{signed.date}' != '{stamp[:8]}', from '{stamp}'.",
        )
    payload = _payload_hash(request, signed)
    query = _canonical_query(request.query_string, signed.presigned)
    headers = "".join(f"{n}:{' '.join(request.headers.get(n, '').split())}\n" for n in signed.signed_headers)
    tail = f"{query}\n{headers}\n{';'.join(signed.signed_headers)}\n{payload}"
    scope = f"{signed.date}/{signed.region}/{signed.service}/aws4_request"
    key = signing_key(secret_access_key, signed.date, signed.region, signed.service)
    provided = signed.signature.encode("utf-8", "surrogatepass")
    for uri in _canonical_uris(request.raw_path, signed.service):
        canonical = f"{request.method.upper()}\n{uri}\n{tail}".encode("utf-8", "surrogatepass")
        to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical).hexdigest()}"
        if hmac.compare_digest(_hmac(key, to_sign).hex().encode(), provided):
            return
    raise AuthError(AuthFailure.SIGNATURE_MISMATCH, MSG_MISMATCH)


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The SigV4 key for one scope; cached, so one derivation per secret, day, region and service."""
    return _derive_signing_key(secret, date, region, service)


@functools.lru_cache(maxsize=256)
def _derive_signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode("utf-8", "surrogatepass")
    for part in (date, region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()


def _incomplete(message: str) -> AuthError:
    return AuthError(AuthFailure.INCOMPLETE, message)


def _parse_header(request: Request) -> SignedRequest:
    header = request.headers["authorization"].strip()
    algorithm, *rest = re.split(r"\s+", header, maxsplit=1)
    fields: dict[str, str] = {}
    for token in re.split(r"[\s,]+", "".join(rest)):  # AWS splits on commas and on whitespace alike
        if "=" in token:
            name, _, value = token.partition("=")
            fields[name] = value
        elif token and algorithm == ALGORITHM:  # another scheme: report its missing parts below
            raise _incomplete(
                f"'{token}' not a valid key=value pair (missing equal-sign) in Authorization header: '{header}'."
            )
    missing = [f"Authorization header requires '{name}' parameter." for name in _REQUIRED if not fields.get(name)]
    amz_date = request.headers.get("x-amz-date", "").strip()
    http_date = request.headers.get("date", "").strip()
    if not amz_date and not http_date:
        missing.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if missing:
        raise _incomplete(" ".join(missing) + f" Authorization={header}")
    when = _parse_amz_date(amz_date) if amz_date else _parse_http_date(http_date)
    signed_headers = _signed_headers(fields["SignedHeaders"])
    if algorithm != ALGORITHM:
        raise _incomplete(f"Unsupported AWS 'algorithm': '{algorithm}' (only {ALGORITHM} for now).")
    key, date, region, service = _scope(fields["Credential"])
    signature, token = fields["Signature"], request.headers.get("x-amz-security-token")
    return SignedRequest(key, date, region, service, signed_headers, signature, when, False, None, token)


def _parse_query(params: dict[str, str]) -> SignedRequest:
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise _incomplete(f'X-Amz-Algorithm only supports "{ALGORITHM}"')
    names = ("X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date", "X-Amz-Expires")
    missing = [f"AWS query-string parameters must include '{name}'." for name in names if not params.get(name)]
    if missing:
        raise _incomplete(" ".join(missing) + " Re-examine the query-string parameters.")
    when = _parse_amz_date(params["X-Amz-Date"])
    expires = _parse_expires(params["X-Amz-Expires"])
    signed_headers = _signed_headers(params["X-Amz-SignedHeaders"])
    key, date, region, service = _scope(params["X-Amz-Credential"])
    signature, token = params["X-Amz-Signature"], params.get("X-Amz-Security-Token")
    return SignedRequest(key, date, region, service, signed_headers, signature, when, True, expires, token)


def _parse_amz_date(value: str) -> datetime.datetime:
    try:
        if _AMZ_DATE.fullmatch(value):  # by hand: strptime costs more than the rest of parse() together
            return datetime.datetime(
                int(value[0:4]),
                int(value[4:6]),
                int(value[6:8]),
                int(value[9:11]),
                int(value[11:13]),
                int(value[13:15]),
                tzinfo=_UTC,
            )
    except ValueError:
        pass
    raise _incomplete(
        f"Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"
    )


def _parse_http_date(value: str) -> datetime.datetime:
    """The Date header: RFC 1123 (what botocore sends) or, like X-Amz-Date, ISO 8601 basic."""
    if not _AMZ_DATE.fullmatch(value):
        try:
            when = parsedate_to_datetime(value)
            return when.replace(tzinfo=_UTC) if when.tzinfo is None else when.astimezone(_UTC)
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    return _parse_amz_date(value)  # parses, or raises AWS's "Date must be in ISO-8601 'basic format'"


def _parse_expires(value: str) -> int:
    digits = value.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        raise _incomplete("X-Amz-Expires should be a number")
    if value.startswith("-"):
        raise _incomplete("X-Amz-Expires must be non-negative")
    expires = int(digits) if len(digits) <= 10 else MAX_EXPIRES + 1  # int() refuses 4300+ digits
    if expires > MAX_EXPIRES:
        raise _incomplete(
            "X-Amz-Expires must be less than a week (in seconds); that is, "
            f"the given X-Amz-Expires must be less than {MAX_EXPIRES} seconds"
        )
    if expires < 1:
        raise _incomplete("X-Amz-Expires must be at least 1 second")
    return expires


def _signed_headers(value: str) -> tuple[str, ...]:
    names = tuple(sorted({name.strip().lower() for name in value.split(";")} - {""}))
    if "host" not in names:
        raise _incomplete(MSG_HOST)
    return names


def _scope(credential: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5:
        raise _incomplete(
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{credential}'"
        )
    key, date, region, service, terminator = parts
    problems = []
    if not _SCOPE_PART.fullmatch(region):
        problems.append(f"Credential should be scoped to a valid region, not '{region}'.")
    if not _SCOPE_PART.fullmatch(service):
        problems.append(f"Credential should be scoped to a valid service, not '{service}'.")
    if terminator != "aws4_request":
        problems.append(f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'.")
    if problems:
        raise _incomplete(" ".join(problems))
    return key, date, region, service


def _check_time(signed: SignedRequest, now: datetime.datetime, skew: datetime.timedelta) -> None:
    if signed.presigned and signed.expires is not None:
        if signed.amz_date - now > skew:
            raise AuthError(AuthFailure.EXPIRED, "Request is not valid yet")
        if now - signed.amz_date > datetime.timedelta(seconds=signed.expires):
            raise AuthError(AuthFailure.EXPIRED, "Request has expired")
        return
    if -skew <= signed.amz_date - now <= skew:
        return
    when, now_, minutes = _stamp(signed.amz_date), _stamp(now), f"{int(skew.total_seconds() // 60)} min."
    if now - signed.amz_date > skew:
        message = f"Signature expired: {when} is now earlier than {_stamp(now - skew)} ({now_} - {minutes})"
    else:
        message = f"Signature not yet current: {when} is still later than {_stamp(now + skew)} ({now_} + {minutes})"
    raise AuthError(AuthFailure.EXPIRED, message)


def _stamp(when: datetime.datetime) -> str:
    when = when.astimezone(_UTC)  # formatted by hand: strftime("%Y") does not pad years before 1000
    return f"{when.year:04d}{when.month:02d}{when.day:02d}T{when.hour:02d}{when.minute:02d}{when.second:02d}Z"


def _payload_hash(request: Request, signed: SignedRequest) -> str:
    declared = request.headers.get("x-amz-content-sha256")
    if declared is None:
        if signed.presigned and signed.service == "s3":
            return UNSIGNED_PAYLOAD
        if request.stream is not None:
            raise AuthError(
                AuthFailure.MISSING_CONTENT_SHA256, "Missing required header for this request: x-amz-content-sha256"
            )
        return hashlib.sha256(request.body).hexdigest()
    unsigned = declared == UNSIGNED_PAYLOAD or declared.startswith("STREAMING-")
    if request.stream is not None:
        return declared  # the body is still to come: its reader checks the declared hash at the end
    if not unsigned and declared.lower() != hashlib.sha256(request.body).hexdigest():
        raise AuthError(AuthFailure.PAYLOAD_HASH_MISMATCH, MSG_PAYLOAD)
    return declared


def _unquote(component: str) -> bytes:
    return unquote_to_bytes(component.encode("utf-8", "surrogatepass"))


def _query_pairs(query_string: str) -> list[tuple[bytes, bytes]]:
    """Decoded (key, value) pairs; '+' is a space, as parse_qsl (and so every handler) reads it."""
    pairs = []
    for part in query_string.split("&"):
        if part:
            key, _, value = part.replace("+", " ").partition("=")
            pairs.append((_unquote(key), _unquote(value)))
    return pairs


def _canonical_query(query_string: str, presigned: bool) -> str:
    pairs = sorted(
        (quote(key, safe="-_.~"), quote(value, safe="-_.~"))
        for key, value in _query_pairs(query_string)
        if not (presigned and key == b"X-Amz-Signature")
    )
    return "&".join(f"{key}={value}" for key, value in pairs)


def _canonical_uris(raw_path: str, service: str) -> tuple[str, ...]:
    """The canonical URI; for S3 also the path with every segment re-encoded, which other SDKs sign."""
    path = raw_path or "/"
    if service != "s3":
        return (quote(_remove_dot_segments(path), safe="/~", errors="surrogatepass"),)
    reencoded = "/".join(quote(_unquote(segment), safe="-_.~") for segment in path.split("/"))
    return (path,) if reencoded == path else (path, reencoded)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 dot-segment removal that also drops empty segments, as botocore normalises."""
    output: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if output:
                output.pop()
        elif segment and segment != ".":
            output.append(segment)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and output else ""
    return first + "/".join(output) + last

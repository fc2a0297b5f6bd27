"""AWS Signature Version 2 for S3 (server side); pure, no I/O.

Amazon S3 still accepts SigV2 (deprecated), and botocore still presigns S3 URLs with it by default. The client
sends base64(HMAC-SHA1(secret, string to sign)), where

    string to sign     = method \\n Content-MD5 \\n Content-Type \\n date \\n x-amz-* headers canonical resource
    x-amz-* headers    = name:value\\n per header: names lower-cased and sorted, values trimmed, repeats joined ","
    canonical resource = the path as sent ("/bucket" in front when the Host names the bucket), then "?" and the
                         sub-resources S3 signs (botocore's list), sorted by name, values decoded

The signature comes in ``Authorization: AWS <AccessKeyId>:<Signature>``, with the date line the Date header (empty
when x-amz-date is sent: that one is then signed among the x-amz-* headers), or in a presigned URL's
AWSAccessKeyId, Signature and Expires (epoch seconds, also the date line) query parameters; a presigned URL carries
the x-amz-* headers it was signed with as query parameters. There is no payload hash: Content-MD5, when sent, is
checked by the S3 body reader. No credential scope either: the request is for S3, in the server's region.
``parse_v2`` reads the parts without any secret; the caller looks the access key up and calls ``verify_v2``.
botocore's HmacV1Auth and HmacV1QueryAuth are the reference.
"""

import base64
import datetime
import hashlib
import hmac
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import unquote

from keyhold.protocols.http import Request
from keyhold.protocols.sigv4 import AuthError, AuthFailure

__all__ = ["SIGNED_SUBRESOURCES", "SignedV2", "parse_v2", "strings_to_sign", "verify_v2"]

# The query parameters that are part of the canonical resource: botocore's HmacV1Auth.QSAOfInterest, exactly.
SIGNED_SUBRESOURCES = frozenset(
    {
        "accelerate", "acl", "cors", "defaultObjectAcl", "location", "logging", "partNumber", "policy",
        "requestPayment", "torrent", "versioning", "versionId", "versions", "website", "uploads", "uploadId",
        "response-content-type", "response-content-language", "response-expires", "response-cache-control",
        "response-content-disposition", "response-content-encoding", "delete", "lifecycle", "tagging", "restore",
        "storageClass", "notification", "replication", "analytics", "metrics", "inventory", "select",
        "select-type", "object-lock",
    }
)  # fmt: skip

_UTC = datetime.UTC
MAX_SKEW = datetime.timedelta(minutes=15)

MSG_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your key and signing method."
)
MSG_EXPIRED = "Request has expired"
MSG_SKEWED = "The difference between the request time and the current time is too large."
MSG_HEADER = "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature"
MSG_DATE = "AWS authentication requires a valid Date or x-amz-date header"
MSG_QUERY = "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
MSG_BOTH = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string "
    "parameter or the Authorization header should be specified"
)


@dataclass(frozen=True, slots=True)
class SignedV2:
    """What ``parse_v2`` found in the request; nothing verified yet."""

    access_key_id: str
    signature: str
    presigned: bool
    expires: int | None  # presigned: the Expires parameter, epoch seconds
    when: datetime.datetime | None  # header-signed: x-amz-date, else Date (UTC)
    date_lines: tuple[str, ...]  # the date line of the string to sign (two candidates at most, see _date_lines)


def parse_v2(request: Request) -> SignedV2 | None:
    """The SigV2 signature parts of an S3 request; None when it is not signed with SigV2 (SigV4, another scheme,
    unsigned, or a SigV2 Query-API request with SignatureVersion=2, which only S3's flavour concerns here)."""
    params = _params(request.query_string)
    header = request.headers.get("authorization")
    if header is not None:
        if not header.startswith("AWS "):
            return None
        if "X-Amz-Algorithm" in params or "Signature" in params or "AWSAccessKeyId" in params:
            raise AuthError(AuthFailure.INCOMPLETE, MSG_BOTH)
        key, colon, signature = header[4:].strip().partition(":")
        if not colon or not key or not signature:
            raise AuthError(AuthFailure.INCOMPLETE, MSG_HEADER)
        amz_date = request.headers.get("x-amz-date", "").strip()
        http_date = request.headers.get("date", "").strip()
        when = _parse_date(amz_date or http_date)
        return SignedV2(key, signature.strip(), False, None, when, _date_lines(amz_date, http_date))
    if "X-Amz-Algorithm" in params or "X-Amz-Credential" in params or "SignatureVersion" in params:
        return None
    if "AWSAccessKeyId" not in params and "Signature" not in params:
        return None
    key, signature, expires = (params.get(name, "") for name in ("AWSAccessKeyId", "Signature", "Expires"))
    if not key or not signature or not expires:
        raise AuthError(AuthFailure.INCOMPLETE, MSG_QUERY)
    if not (expires.isascii() and expires.isdigit() and len(expires) <= 15):
        raise AuthError(AuthFailure.INCOMPLETE, f"Invalid date (should be seconds since epoch): {expires}")
    return SignedV2(key, signature, True, int(expires), None, (expires,))


def verify_v2(
    request: Request,
    signed: SignedV2,
    secret_access_key: str,
    now: datetime.datetime,
    virtual_host_bucket: str | None = None,
    *,
    max_skew: datetime.timedelta = MAX_SKEW,
) -> None:
    """Raise AuthError unless the request is current and its signature matches. ``virtual_host_bucket`` is the
    bucket the Host names (virtual-hosted-style), None for a path-style request."""
    now = now.replace(tzinfo=_UTC) if now.tzinfo is None else now.astimezone(_UTC)  # naive means UTC
    if signed.presigned:
        if signed.expires is None or now.timestamp() > signed.expires:
            raise AuthError(AuthFailure.EXPIRED, MSG_EXPIRED)
    elif signed.when is None or abs(signed.when - now) > max_skew:
        raise AuthError(AuthFailure.EXPIRED, MSG_SKEWED)
    key = secret_access_key.encode("utf-8", "surrogatepass")
    provided = signed.signature.encode("utf-8", "surrogatepass")
    for string in strings_to_sign(request, signed, virtual_host_bucket):
        digest = hmac.new(key, string.encode("utf-8", "surrogatepass"), hashlib.sha1).digest()
        if hmac.compare_digest(base64.b64encode(digest), provided):
            return
    raise AuthError(AuthFailure.SIGNATURE_MISMATCH, MSG_MISMATCH)


def strings_to_sign(request: Request, signed: SignedV2, virtual_host_bucket: str | None = None) -> list[str]:
    """The string to sign; more than one when clients differ in what they sign (see _date_lines and
    _canonical_resources), each of which is as good as the other: the request must match one."""
    pairs = _query_pairs(request.query_string)
    content_md5 = _standard(request, pairs, "content-md5", signed.presigned)
    content_type = _standard(request, pairs, "content-type", signed.presigned)
    amz = "".join(f"{name}:{value}\n" for name, value in _amz_headers(request, pairs, signed.presigned))
    resources = _canonical_resources(request.raw_path, pairs, virtual_host_bucket)
    method = request.method.upper()
    return [
        f"{method}\n{content_md5}\n{content_type}\n{date}\n{amz}{resource}"
        for date in signed.date_lines
        for resource in resources
    ]


def _date_lines(amz_date: str, http_date: str) -> tuple[str, ...]:
    """S3 signs an empty date line when x-amz-date is sent (S3's documentation); botocore signs the Date header
    whatever else is sent. Both are safe to accept: x-amz-date, the time that is checked, is signed either way."""
    if not amz_date:
        return (http_date,)
    return ("", http_date) if http_date else ("",)


def _parse_date(value: str) -> datetime.datetime:
    """An RFC 1123 (or the other RFC 2616) date, or ISO 8601 basic as in SigV4's X-Amz-Date."""
    if not value:
        raise AuthError(AuthFailure.INCOMPLETE, MSG_DATE)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        try:
            when = datetime.datetime.strptime(value, "%Y%m%dT%H%M%SZ")
        except ValueError:
            raise AuthError(AuthFailure.INCOMPLETE, MSG_DATE) from None
    return when.replace(tzinfo=_UTC) if when.tzinfo is None else when.astimezone(_UTC)


def _params(query_string: str) -> dict[str, str]:
    """The query parameters, decoded (the first of repeated names counts); '+' stays '+', as in a signature."""
    params: dict[str, str] = {}
    for key, value in _query_pairs(query_string):
        params.setdefault(key, unquote(value or "", errors="replace"))
    return params


def _query_pairs(query_string: str) -> list[tuple[str, str | None]]:
    """(name as sent, value still encoded, or None when sent without "=") pairs."""
    pairs: list[tuple[str, str | None]] = []
    for part in query_string.split("&"):
        if part:
            key, eq, value = part.partition("=")
            pairs.append((key, value if eq else None))
    return pairs


def _standard(request: Request, pairs: list[tuple[str, str | None]], name: str, presigned: bool) -> str:
    """Content-MD5 or Content-Type as signed: the header, or for a presigned URL sent without it the query
    parameter botocore moved it to."""
    value = request.headers.get(name)
    if value is None and presigned:
        value = next((unquote(v or "", errors="replace") for k, v in pairs if k.lower() == name), None)
    return (value or "").strip()


def _amz_headers(request: Request, pairs: list[tuple[str, str | None]], presigned: bool) -> list[tuple[str, str]]:
    found = {name: value.strip() for name, value in request.headers.items() if name.startswith("x-amz-")}
    if presigned:  # the x-amz-* headers a presigned URL was signed with travel in its query
        from_query: dict[str, list[str]] = {}
        for key, value in pairs:
            name = unquote(key, errors="replace").lower()
            if name.startswith("x-amz-") and name not in found:
                from_query.setdefault(name, []).append(unquote(value or "", errors="replace").strip())
        found.update((name, ",".join(values)) for name, values in from_query.items())
    return sorted(found.items())


def _canonical_resources(raw_path: str, pairs: list[tuple[str, str | None]], bucket: str | None) -> list[str]:
    """The canonical resource as botocore writes it ("acl=" for an empty value sent with "="), and, if that
    differs, as MinIO and other signers write it (no "=" for an empty value). A path-style request for a bucket
    ("/bucket") may also be signed with a "/" after the bucket: botocore signs "/bucket/" for those."""
    path = raw_path or "/"
    if bucket:
        path = f"/{bucket}{path}"
    paths = [path, f"{path}/"] if path.count("/") == 1 and len(path) > 1 else [path]
    signed = [
        (key, None if value is None else unquote(value, errors="replace"))
        for key, value in pairs
        if key in SIGNED_SUBRESOURCES
    ]
    signed.sort(key=lambda pair: pair[0])  # by name only: repeated names keep their order, as botocore's sort does
    if not signed:
        return paths
    exact = "?" + "&".join(key if value is None else f"{key}={value}" for key, value in signed)
    bare = "?" + "&".join(f"{key}={value}" if value else key for key, value in signed)
    queries = [exact] if bare == exact else [exact, bare]
    return [p + q for p in paths for q in queries]

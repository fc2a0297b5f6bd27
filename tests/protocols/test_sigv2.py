"""SigV2 (S3) verification, checked against requests that botocore's own SigV2 signers (HmacV1Auth for the
Authorization header, HmacV1QueryAuth for presigned URLs) sign."""

import dataclasses
import datetime
import re
from email.utils import format_datetime
from urllib.parse import urlsplit

import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode

from keyhold.protocols.http import Request
from keyhold.protocols.sigv2 import SIGNED_SUBRESOURCES, SignedV2, parse_v2, verify_v2
from keyhold.protocols.sigv4 import AuthError, AuthFailure

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
EXPIRES = int(NOW.timestamp()) + 300
ACCESS_KEY = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
ENDPOINT = "http://localhost:4566"
MINUTE = datetime.timedelta(minutes=1)


class _HeaderSigner(HmacV1Auth):
    """botocore's signer with its clock fixed (the Date header it sets)."""

    def __init__(self, credentials: Credentials, date: str) -> None:
        super().__init__(credentials)
        self._date = date

    def _get_date(self) -> str:
        return self._date


class _QuerySigner(HmacV1QueryAuth):
    """botocore's presigner with its clock fixed (the Expires it sets)."""

    def __init__(self, credentials: Credentials, expires_at: int) -> None:
        super().__init__(credentials)
        self._expires_at = expires_at

    def _get_date(self) -> str:
        return str(self._expires_at)


def to_request(aws: AWSRequest) -> Request:
    """What Keyhold's HTTP layer would hand over for the request botocore is about to send."""
    prepared = aws.prepare()
    parts = urlsplit(prepared.url)
    headers: dict[str, str] = {}
    for name, value in aws.headers.items():  # a name given twice stays twice here, not in the prepared request
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        headers[name.lower()] = f"{headers[name.lower()]},{text}" if name.lower() in headers else text
    for name, value in prepared.headers.items():
        headers.setdefault(name.lower(), value.decode("latin-1") if isinstance(value, bytes) else value)
    headers.setdefault("host", parts.netloc)
    body = prepared.body or b""
    body = body.encode() if isinstance(body, str) else body
    return Request(prepared.method, parts.path, parts.query, headers, body, "127.0.0.1", False, "req-1")


def sign(
    method: str = "GET",
    path: str = "/bucket/key",
    *,
    query: str = "",
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    body: bytes = b"",
    presign: bool = False,
    at: datetime.datetime = NOW,
    expires_at: int = EXPIRES,
    secret: str = SECRET,
    endpoint: str = ENDPOINT,
    auth_path: str | None = None,
    date: str | None = None,
) -> Request:
    credentials = Credentials(ACCESS_KEY, secret)
    auth: HmacV1Auth
    if presign:
        auth = _QuerySigner(credentials, expires_at)
    else:
        auth = _HeaderSigner(credentials, format_datetime(at, usegmt=True) if date is None else date)
    url = endpoint + path + (f"?{query}" if query else "")
    aws = AWSRequest(method=method, url=url, data=body, auth_path=auth_path)
    for name, value in headers.items() if isinstance(headers, dict) else headers or []:
        aws.headers[name] = value  # botocore's headers keep a name given twice twice
    auth.add_auth(aws)
    return to_request(aws)


def check(request: Request, now: datetime.datetime = NOW, secret: str = SECRET, bucket: str | None = None) -> SignedV2:
    signed = parse_v2(request)
    assert signed is not None
    verify_v2(request, signed, secret, now, bucket)
    return signed


def failure(
    request: Request, now: datetime.datetime = NOW, secret: str = SECRET, bucket: str | None = None
) -> AuthError:
    with pytest.raises(AuthError) as caught:
        check(request, now, secret, bucket)
    return caught.value


def mismatch(request: Request, **kwargs: object) -> None:
    assert failure(request, **kwargs).failure is AuthFailure.SIGNATURE_MISMATCH  # type: ignore[arg-type]


def with_headers(request: Request, **headers: str | None) -> Request:
    merged = dict(request.headers)
    for name, value in headers.items():
        merged.pop(name.replace("_", "-"), None)
        if value is not None:
            merged[name.replace("_", "-")] = value
    return dataclasses.replace(request, headers=merged)


def edit_query(request: Request, pattern: str, replacement: str) -> Request:
    changed = re.sub(pattern, replacement, request.query_string)
    assert changed != request.query_string
    return dataclasses.replace(request, query_string=changed)


def test_signed_subresources_are_botocores() -> None:
    assert frozenset(HmacV1Auth.QSAOfInterest) == SIGNED_SUBRESOURCES


# --- what botocore signs is accepted -----------------------------------------------------------------------------

MD5 = "1B2M2Y8AsgTpgAmY7PhCfg=="
REQUESTS: list[tuple[str, str, str, dict[str, str]]] = [
    ("GET", "/", "", {}),  # ListBuckets
    ("PUT", "/bucket", "", {}),
    ("HEAD", "/bucket", "", {}),
    ("GET", "/bucket", "list-type=2&prefix=a%2Fb&delimiter=%2F", {}),
    ("GET", "/bucket", "acl", {}),
    ("GET", "/bucket", "location", {}),
    ("PUT", "/bucket", "policy", {"Content-Type": "application/json"}),
    ("POST", "/bucket", "delete", {"Content-MD5": MD5, "Content-Type": "application/xml"}),
    ("GET", "/bucket", "uploads&prefix=x", {}),
    ("GET", "/bucket", "versions&key-marker=k", {}),
    ("PUT", "/bucket/key", "", {"Content-Type": "text/plain", "Content-MD5": MD5}),
    ("PUT", "/bucket/key", "", {"x-amz-meta-color": "blue", "X-Amz-Meta-Size": " big ", "x-amz-acl": "private"}),
    ("PUT", "/bucket/key", "", {"x-amz-server-side-encryption": "aws:kms", "x-amz-checksum-crc32": "AAAAAA=="}),
    ("PUT", "/bucket/key", "", {"x-amz-copy-source": "/other/k%C3%A9y", "x-amz-metadata-directive": "REPLACE"}),
    ("GET", "/bucket/key", "versionId=3%2Fx&response-content-disposition=attachment%3B%20filename%3Dx.txt", {}),
    ("GET", "/bucket/key", "response-content-type=text%2Fhtml&response-cache-control=no-cache", {}),
    ("GET", "/bucket/key", "", {"Range": "bytes=0-9", "If-None-Match": '"etag"'}),
    ("POST", "/bucket/key", "uploads", {"Content-Type": "binary/octet-stream"}),
    ("PUT", "/bucket/key", "partNumber=2&uploadId=abc%2Bdef", {}),
    ("POST", "/bucket/key", "uploadId=abc", {"Content-Type": "application/xml"}),
    ("DELETE", "/bucket/key", "uploadId=abc", {}),
    ("GET", "/bucket/key", "uploadId=abc&max-parts=10&part-number-marker=1", {}),
    ("PUT", "/bucket/key", "tagging", {}),
    ("DELETE", "/bucket/key", "", {}),
    ("GET", "/bucket/key", "acl=", {}),
]


@pytest.mark.parametrize(("method", "path", "query", "headers"), REQUESTS)
def test_header_signed_requests_verify(method: str, path: str, query: str, headers: dict[str, str]) -> None:
    request = sign(method, path, query=query, headers=headers, body=b"body" if method in ("PUT", "POST") else b"")
    assert request.headers["authorization"].startswith(f"AWS {ACCESS_KEY}:")
    signed = check(request)
    assert (signed.access_key_id, signed.presigned, signed.expires, signed.when) == (ACCESS_KEY, False, None, NOW)


@pytest.mark.parametrize(("method", "path", "query", "headers"), REQUESTS)
def test_presigned_requests_verify(method: str, path: str, query: str, headers: dict[str, str]) -> None:
    request = sign(method, path, query=query, headers=headers, presign=True)
    assert "authorization" not in request.headers
    assert "AWSAccessKeyId=" in request.query_string
    signed = check(request)
    assert (signed.access_key_id, signed.presigned, signed.expires, signed.when) == (ACCESS_KEY, True, EXPIRES, None)


@pytest.mark.parametrize(
    "key", ["a b", "ü/€", "a+b=c", "x/../y/./z", "dir//file", "weird!$&'()*,;:@", "%41", "trailing/", "~", "日本"]
)
@pytest.mark.parametrize("presign", [False, True])
def test_keys_are_signed_as_sent(key: str, presign: bool) -> None:
    path = "/bucket/" + percent_encode(key, safe="/~")  # what botocore's S3 serializer sends
    request = sign("PUT", path, body=b"object bytes", presign=presign)
    assert check(request)
    mismatch(dataclasses.replace(request, raw_path=path + "x"))


def test_presigned_url_carries_its_signed_headers_in_the_query() -> None:
    request = sign(
        "PUT",
        headers={"Content-Type": "text/plain", "x-amz-meta-a": "b c", "x-amz-server-side-encryption": "AES256"},
        presign=True,
    )
    assert "x-amz-meta-a=b%20c" in request.query_string
    assert "content-type=text%2Fplain" in request.query_string
    assert check(request)  # the headers it was signed with were sent too
    bare = with_headers(request, content_type=None, x_amz_meta_a=None, x_amz_server_side_encryption=None)
    assert check(bare)  # or only the URL
    mismatch(edit_query(bare, "x-amz-meta-a=b%20c", "x-amz-meta-a=b%20d"))
    mismatch(edit_query(bare, "x-amz-meta-a=b%20c&", ""))
    mismatch(edit_query(bare, "content-type=text%2Fplain", "content-type=text%2Fhtml"))
    mismatch(with_headers(request, content_type="text/html"))  # a header sent is what counts
    mismatch(with_headers(request, x_amz_meta_a="other"))


@pytest.mark.parametrize("presign", [False, True])
def test_bucket_paths_may_be_signed_with_a_trailing_slash(presign: bool) -> None:
    # botocore's clients sign "/bucket/" for a path-style "/bucket" (its authPath for bucket operations)
    request = sign("PUT", "/bucket", auth_path="/bucket/", presign=presign)
    assert check(request)
    mismatch(dataclasses.replace(request, raw_path="/bucket/key"))
    mismatch(dataclasses.replace(request, raw_path="/other"))


def test_repeated_x_amz_headers_are_joined() -> None:
    # (an HTTP server hands each value over trimmed already; Keyhold's joins them with ",", as botocore signs them)
    request = sign("PUT", headers=[("x-amz-meta-tag", "one"), ("x-amz-meta-tag", "two, three")])
    assert request.headers["x-amz-meta-tag"] == "one,two, three"
    assert check(request)


def test_virtual_hosted_requests_sign_the_bucket_in_the_path() -> None:
    request = sign("GET", "/dir/k%C3%A9y", endpoint="http://photos.localhost:4566", auth_path="/photos/dir/k%C3%A9y")
    assert request.headers["host"] == "photos.localhost:4566"
    assert check(request, bucket="photos")
    mismatch(request)  # as if path-style: "/dir/k%C3%A9y" was not what was signed
    mismatch(request, bucket="other")
    root = sign("GET", "/", query="acl", endpoint="http://photos.localhost:4566", auth_path="/photos/", presign=True)
    assert check(root, bucket="photos")


def test_x_amz_date_replaces_the_date_line() -> None:
    # S3's documented form: x-amz-date carries the time and the Date line is empty (botocore signs what Date is).
    stamp = format_datetime(NOW, usegmt=True)
    request = with_headers(sign(headers={"x-amz-date": stamp}, date=""), date=None)
    assert "date" not in request.headers
    assert check(request).when == NOW
    # botocore's own output with both headers: the Date header it signed; the time is x-amz-date's either way.
    both = sign(headers={"x-amz-date": stamp}, at=NOW - 10 * MINUTE)
    assert check(both).when == NOW
    assert failure(both, now=NOW + 16 * MINUTE).failure is AuthFailure.EXPIRED
    mismatch(with_headers(both, x_amz_date=format_datetime(NOW + MINUTE, usegmt=True)))


def test_iso_8601_dates_are_read() -> None:
    request = sign(date="20260101T120000Z")
    assert check(request).when == NOW


# --- tampering is refused ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("presign", [False, True])
def test_each_signed_part_is_covered(presign: bool) -> None:
    request = sign(
        "PUT",
        query="versionId=v1",
        headers={"Content-Type": "text/plain", "Content-MD5": MD5, "x-amz-meta-owner": "alice"},
        presign=presign,
    )
    assert check(request)
    mismatch(dataclasses.replace(request, method="POST"))
    mismatch(dataclasses.replace(request, raw_path="/bucket/other"))
    mismatch(dataclasses.replace(request, raw_path="/other/key"))
    mismatch(edit_query(request, "versionId=v1", "versionId=v2"))
    mismatch(edit_query(request, "versionId=v1", "versionId=v1&acl"))  # a signed sub-resource added
    mismatch(edit_query(request, "versionId=v1", "versionId=v1&uploadId=u"))
    mismatch(with_headers(request, content_type="text/html"))
    mismatch(with_headers(request, content_md5="AAAAAAAAAAAAAAAAAAAAAA=="))
    mismatch(with_headers(request, x_amz_meta_owner="mallory"))
    mismatch(with_headers(request, x_amz_meta_extra="added"))
    mismatch(request, secret=SECRET + "x")
    # what S3 does not sign may change: other query parameters, other headers
    assert check(edit_query(request, "versionId=v1", "versionId=v1&prefix=p&list-type=2"))
    assert check(with_headers(request, user_agent="other", range="bytes=1-2", content_length="99"))


def test_the_date_header_is_signed() -> None:
    request = sign()
    mismatch(with_headers(request, date=format_datetime(NOW + MINUTE, usegmt=True)))


def test_the_expires_parameter_is_signed() -> None:
    request = sign(presign=True)
    mismatch(edit_query(request, f"Expires={EXPIRES}", f"Expires={EXPIRES + 1}"))


def test_the_signature_itself() -> None:
    request = sign()
    header = request.headers["authorization"]
    mismatch(with_headers(request, authorization=header[:-3] + ("AAA" if not header.endswith("AAA") else "BBB")))
    presigned = sign(presign=True)
    mismatch(edit_query(presigned, "Signature=[^&]*", "Signature=AAAAAAAAAAAAAAAAAAAAAAAAAAA%3D"))


# --- time ---------------------------------------------------------------------------------------------------------


def test_presigned_urls_expire() -> None:
    request = sign(presign=True)
    assert check(request, now=NOW + datetime.timedelta(seconds=300))  # up to Expires itself
    error = failure(request, now=NOW + datetime.timedelta(seconds=301))
    assert (error.failure, error.message) == (AuthFailure.EXPIRED, "Request has expired")
    assert check(sign(presign=True, expires_at=int(NOW.timestamp()) + 365 * 86400))  # SigV2 has no upper limit


def test_expiry_is_checked_before_a_signature_that_would_match() -> None:
    request = sign(presign=True, expires_at=int(NOW.timestamp()) - 1)
    assert failure(request).failure is AuthFailure.EXPIRED


@pytest.mark.parametrize("offset", [-14, 14])
def test_header_dates_within_fifteen_minutes_verify(offset: int) -> None:
    assert check(sign(at=NOW + offset * MINUTE))


@pytest.mark.parametrize("offset", [-16, 16])
def test_header_dates_further_off_are_refused(offset: int) -> None:
    error = failure(sign(at=NOW + offset * MINUTE))
    assert error.failure is AuthFailure.EXPIRED


def test_naive_now_means_utc() -> None:
    assert check(sign(), now=NOW.replace(tzinfo=None))


# --- what is not SigV2, and SigV2 with parts missing -------------------------------------------------------------


def plain(query: str = "", **headers: str) -> Request:
    names = {name.replace("_", "-"): value for name, value in headers.items()}
    return Request("GET", "/bucket/key", query, {"host": "localhost", **names}, b"", "127.0.0.1", False, "req-1")


@pytest.mark.parametrize(
    "request_",
    [
        plain(),
        plain("prefix=a"),
        plain(authorization="AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request, Signature=x"),
        plain(authorization="Bearer token"),
        plain("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a&X-Amz-Signature=b"),
        plain("Action=ListUsers&AWSAccessKeyId=AK&SignatureVersion=2&SignatureMethod=HmacSHA256&Signature=x"),
        plain("Expires=123"),
    ],
)
def test_not_sigv2(request_: Request) -> None:
    assert parse_v2(request_) is None


@pytest.mark.parametrize(
    "request_",
    [
        plain(authorization="AWS AKIDEXAMPLE", date="Thu, 01 Jan 2026 12:00:00 GMT"),
        plain(authorization="AWS :signature", date="Thu, 01 Jan 2026 12:00:00 GMT"),
        plain(authorization="AWS AKIDEXAMPLE:", date="Thu, 01 Jan 2026 12:00:00 GMT"),
        plain(authorization="AWS AKIDEXAMPLE:c2ln"),  # no Date, no x-amz-date
        plain(authorization="AWS AKIDEXAMPLE:c2ln", date="yesterday"),
        plain("AWSAccessKeyId=AK&Signature=c2ln", authorization="AWS AK:c2ln", date="Thu, 01 Jan 2026 12:00:00 GMT"),
        plain("AWSAccessKeyId=AK&Signature=c2ln"),
        plain("AWSAccessKeyId=AK&Expires=1767268800"),
        plain("Signature=c2ln&Expires=1767268800"),
        plain("AWSAccessKeyId=AK&Signature=c2ln&Expires=soon"),
        plain("AWSAccessKeyId=AK&Signature=c2ln&Expires=-5"),
        plain("AWSAccessKeyId=AK&Signature=c2ln&Expires=" + "9" * 5000),
    ],
)
def test_incomplete_sigv2(request_: Request) -> None:
    with pytest.raises(AuthError) as caught:
        parse_v2(request_)
    assert caught.value.failure is AuthFailure.INCOMPLETE


def test_parse_reads_without_a_secret() -> None:
    signed = parse_v2(sign(presign=True))
    assert signed is not None
    assert (signed.access_key_id, signed.expires, signed.date_lines) == (ACCESS_KEY, EXPIRES, (str(EXPIRES),))
    assert re.fullmatch(r"[A-Za-z0-9+/]{27}=", signed.signature)

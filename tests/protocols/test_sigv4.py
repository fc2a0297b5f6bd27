"""SigV4 verification, checked against requests that botocore (the reference signer) signs."""

import dataclasses
import datetime
import re
from unittest import mock
from urllib.parse import quote, urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.utils import percent_encode
from hypothesis import given, settings
from hypothesis import strategies as st

from keyhold.protocols import sigv4
from keyhold.protocols.http import Request
from keyhold.protocols.sigv4 import AuthError, AuthFailure

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
ACCESS_KEY = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
ENDPOINT = "http://localhost:4566"
KMS_HEADERS = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.Encrypt"}
KMS_BODY = b'{"KeyId": "alias/app", "Plaintext": "aGVsbG8="}'


def to_request(aws: AWSRequest) -> Request:
    """What Keyhold's HTTP layer would hand over for the request botocore is about to send."""
    prepared = aws.prepare()
    parts = urlsplit(prepared.url)
    headers: dict[str, str] = {}
    for name, value in prepared.headers.items():
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        headers[name.lower()] = f"{headers[name.lower()]},{text}" if name.lower() in headers else text
    headers.setdefault("host", parts.netloc)  # botocore signs the host from the URL; the HTTP client sends it
    body = prepared.body or b""
    body = body.encode() if isinstance(body, str) else body
    return Request(prepared.method, parts.path, parts.query, headers, body, "127.0.0.1", False, "req-1")


def sign(
    signer: type[SigV4Auth] = SigV4Auth,
    method: str = "POST",
    path: str = "/",
    *,
    service: str = "kms",
    query: str = "",
    params: list[tuple[str, str]] | dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    at: datetime.datetime = NOW,
    secret: str = SECRET,
    token: str | None = None,
    expires: int = 300,
    context: dict[str, object] | None = None,
) -> Request:
    credentials = Credentials(ACCESS_KEY, secret, token)
    if issubclass(signer, SigV4QueryAuth):
        auth: SigV4Auth = signer(credentials, service, "us-east-1", expires)
    else:
        auth = signer(credentials, service, "us-east-1")
    url = ENDPOINT + path + (f"?{query}" if query else "")
    aws = AWSRequest(method=method, url=url, headers=dict(headers or {}), data=body, params=params or {})
    aws.context.update(context or {})
    with mock.patch("botocore.auth.get_current_datetime", return_value=at.replace(tzinfo=None)):
        auth.add_auth(aws)
    return to_request(aws)


def kms_request(**changes: object) -> Request:
    return sign(headers=KMS_HEADERS, body=KMS_BODY, **changes)  # type: ignore[arg-type]


def check(request: Request, now: datetime.datetime = NOW, secret: str = SECRET) -> sigv4.SignedRequest:
    signed = sigv4.parse(request)
    sigv4.verify(request, signed, secret, now)
    return signed


def failure(request: Request, now: datetime.datetime = NOW, secret: str = SECRET) -> AuthError:
    with pytest.raises(AuthError) as caught:
        check(request, now, secret)
    return caught.value


def with_headers(request: Request, **headers: str | None) -> Request:
    merged = dict(request.headers)
    for name, value in headers.items():
        merged.pop(name.replace("_", "-"), None)
        if value is not None:
            merged[name.replace("_", "-")] = value
    return dataclasses.replace(request, headers=merged)


def edit_authorization(request: Request, pattern: str, replacement: str) -> Request:
    changed = re.sub(pattern, replacement, request.headers["authorization"])
    assert changed != request.headers["authorization"]
    return with_headers(request, authorization=changed)


def edit_query(request: Request, pattern: str, replacement: str) -> Request:
    changed = re.sub(pattern, replacement, request.query_string)
    assert changed != request.query_string
    return dataclasses.replace(request, query_string=changed)


# --- requests botocore signs are accepted ---------------------------------------------------------------


def test_kms_json_request_verifies_and_parses() -> None:
    signed = check(kms_request())
    assert (signed.access_key_id, signed.date, signed.region, signed.service) == (
        ACCESS_KEY,
        "20260101",
        "us-east-1",
        "kms",
    )
    assert signed.signed_headers == ("content-type", "host", "x-amz-date", "x-amz-target")
    assert signed.amz_date == NOW
    assert (signed.presigned, signed.expires, signed.session_token) == (False, None, None)
    assert re.fullmatch("[0-9a-f]{64}", signed.signature)


def test_session_token_is_reported_for_both_forms() -> None:
    assert check(kms_request(token="FwoGZXIvYXdzEB4aDA==")).session_token == "FwoGZXIvYXdzEB4aDA=="
    presigned = sign(SigV4QueryAuth, "GET", token="tok/en+=")
    assert check(presigned).session_token == "tok/en+="


def test_date_header_is_the_fallback_for_x_amz_date() -> None:
    request = sign(headers={**KMS_HEADERS, "Date": "placeholder"}, body=KMS_BODY)
    assert "x-amz-date" not in request.headers
    assert check(request).amz_date == NOW
    assert failure(request, now=NOW + datetime.timedelta(minutes=16)).failure is AuthFailure.EXPIRED


def test_header_values_are_trimmed_and_inner_spaces_collapsed() -> None:
    request = sign(headers={**KMS_HEADERS, "X-Amz-Meta-Note": "  two   spaces\t and tab  "}, body=KMS_BODY)
    assert request.headers["x-amz-meta-note"] == "  two   spaces\t and tab  "
    assert check(request)
    assert failure(with_headers(request, x_amz_meta_note="two spaces andtab")).failure is AuthFailure.SIGNATURE_MISMATCH


def test_unsigned_headers_may_change() -> None:
    assert check(with_headers(kms_request(), user_agent="something else", x_forwarded_for="10.0.0.1"))


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/a%20b",
        "/%E2%82%AC/%C3%BC",
        "/a+b=c",
        "/a%2Bb%3Dc",
        "/a%2Fb",
        "/a/./b/../c",
        "//double//slash/",
        "/~user/x-y_z.txt",
        "/:@!$&'()*,;",
        "/%25/%2525",
    ],
)
def test_non_s3_paths_are_normalised_and_encoded_again(path: str) -> None:
    assert check(sign(path=path, service="execute-api", body=b"{}"))


@pytest.mark.parametrize(
    "key", ["a b", "ü/€", "a+b=c", "x/../y/./z", "dir//file", "weird!$&'()*,;:@", "%41", "trailing/", "~"]
)
def test_s3_paths_are_used_as_sent(key: str) -> None:
    path = "/bucket/" + percent_encode(key, safe="/~")  # what botocore's S3 serializer sends
    assert check(sign(S3SigV4Auth, "PUT", path, service="s3", body=b"object bytes"))


def test_s3_accepts_an_equivalent_encoding_of_the_signed_path() -> None:
    request = sign(S3SigV4Auth, "GET", "/bucket/a%28b%29", service="s3")
    assert check(dataclasses.replace(request, raw_path="/bucket/a(b)"))
    other = failure(dataclasses.replace(request, raw_path="/bucket/a(c)"))
    assert other.failure is AuthFailure.SIGNATURE_MISMATCH


def test_non_s3_signs_the_path_exactly_as_sent() -> None:
    request = sign(path="/a%28b%29")
    assert failure(dataclasses.replace(request, raw_path="/a(b)")).failure is AuthFailure.SIGNATURE_MISMATCH


@pytest.mark.parametrize(
    "query",
    [
        "a=1&a=2&b=",
        "b=&a=2&a=1",
        "flag",
        "x=%2B&y=a%20b",
        "empty=&empty=&empty=x",
        "k%C3%A9y=v%E2%82%AC",
        "z=~-._&A=Z",
        "list-type=2&prefix=a%2Fb%2F&delimiter=%2F",
    ],
)
@pytest.mark.parametrize("signer", [SigV4Auth, S3SigV4Auth])
def test_query_strings_as_sent(query: str, signer: type[SigV4Auth]) -> None:
    assert check(sign(signer, "GET", "/bucket", service="s3" if signer is S3SigV4Auth else "kms", query=query))


def test_query_params_with_spaces_repeats_and_empty_values() -> None:
    params = [("a", "x y"), ("a", ""), ("b", "+"), ("c", "é ü"), ("a", "x y")]
    request = sign(S3SigV4Auth, "GET", "/bucket", service="s3", params=params)
    assert "+" in request.query_string  # the HTTP client form-encodes spaces; botocore signed %20
    assert check(request)


@pytest.mark.parametrize(
    ("signer", "service"), [(SigV4QueryAuth, "kms"), (S3SigV4QueryAuth, "s3"), (SigV4QueryAuth, "sts")]
)
def test_presigned_urls_verify(signer: type[SigV4Auth], service: str) -> None:
    params = {"Action": "GetCallerIdentity", "response-content-type": "text/plain; a=b"}
    request = sign(signer, "GET", "/bucket/k%20ey", service=service, params=params, expires=900)
    signed = check(request)
    assert (signed.presigned, signed.expires, signed.service) == (True, 900, service)
    assert check(request, now=NOW + datetime.timedelta(seconds=900))


def test_presigned_s3_leaves_the_payload_unsigned_but_other_services_do_not() -> None:
    s3 = sign(S3SigV4QueryAuth, "PUT", "/bucket/key", service="s3")
    assert check(dataclasses.replace(s3, body=b"any upload"))
    kms = sign(SigV4QueryAuth, "GET", service="kms")
    assert failure(dataclasses.replace(kms, body=b"x")).failure is AuthFailure.SIGNATURE_MISMATCH


def test_declared_unsigned_and_streaming_payloads_are_not_hashed() -> None:
    context = {"client_config": Config(s3={"payload_signing_enabled": False})}
    unsigned = sign(S3SigV4Auth, "PUT", "/bucket/key", service="s3", body=b"data", context=context)
    assert unsigned.headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert check(dataclasses.replace(unsigned, body=b"other data"))
    streaming = sign(headers={"X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}, body=b"chunked")
    assert check(dataclasses.replace(streaming, body=b"different chunks"))


@pytest.mark.parametrize(
    ("pattern", "replacement"),
    [(", ", ","), (", ", " ,  "), (" Credential", "\tCredential"), (r"^", "  "), (", ", " ")],
)
def test_authorization_header_spacing_variants(pattern: str, replacement: str) -> None:
    assert check(edit_authorization(kms_request(), pattern, replacement))


def test_skew_boundaries_are_inclusive() -> None:
    request = kms_request()
    assert check(request, now=NOW + datetime.timedelta(minutes=15))
    assert check(request, now=NOW - datetime.timedelta(minutes=15))


def test_aws_sigv4_test_suite_get_vanilla() -> None:
    # "get-vanilla" from AWS's published SigV4 test suite: an answer botocore did not produce.
    authorization = (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )
    headers = {
        "host": "example.amazonaws.com",
        "x-amz-date": "20150830T123600Z",
        "authorization": authorization,
    }
    request = Request("GET", "/", "", headers, b"", "127.0.0.1", False, "req-1")
    assert check(request, now=datetime.datetime(2015, 8, 30, 12, 36, tzinfo=datetime.UTC))


def test_signing_key_matches_aws_example_and_is_cached() -> None:
    # AWS's documented example of deriving a signing key.
    key = sigv4.signing_key(SECRET, "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
    assert sigv4.signing_key(SECRET, "20120215", "us-east-1", "iam") is key


# --- each failure mode --------------------------------------------------------------------------------


def test_no_authentication_at_all() -> None:
    request = Request("POST", "/", "a=1", {"host": "localhost"}, b"", "127.0.0.1", False, "req-1")
    error = failure(request)
    assert (error.failure, error.message) == (AuthFailure.MISSING, "Missing Authentication Token")


def test_wrong_secret() -> None:
    error = failure(kms_request(), secret="not-the-secret")
    assert (error.failure, error.message) == (AuthFailure.SIGNATURE_MISMATCH, sigv4.MSG_MISMATCH)
    assert error.message.startswith("The request signature we calculated does not match")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda r: dataclasses.replace(r, body=KMS_BODY.replace(b"app", b"ppa")),
        lambda r: with_headers(r, x_amz_target="TrentService.Decrypt"),
        lambda r: with_headers(r, content_type="application/x-amz-json-1.0"),
        lambda r: dataclasses.replace(r, query_string="extra=1"),
        lambda r: dataclasses.replace(r, raw_path="/other"),
        lambda r: dataclasses.replace(r, method="PUT"),
        lambda r: with_headers(r, host="evil.example"),
        lambda r: edit_authorization(r, r"Signature=[0-9a-f]", "Signature=g"),
        lambda r: edit_authorization(r, r"us-east-1", "eu-west-1"),
        lambda r: edit_authorization(r, r"/kms/", "/sts/"),
    ],
    ids=[
        "body",
        "signed-header",
        "content-type",
        "query",
        "path",
        "method",
        "host",
        "signature",
        "region",
        "service",
    ],
)
def test_tampering_breaks_the_signature(tamper: object) -> None:
    request = kms_request()
    assert check(request)
    error = failure(tamper(request))  # type: ignore[operator]
    assert (error.failure, error.message) == (AuthFailure.SIGNATURE_MISMATCH, sigv4.MSG_MISMATCH)


def test_expired() -> None:
    error = failure(kms_request(), now=NOW + datetime.timedelta(minutes=16))
    assert error.failure is AuthFailure.EXPIRED
    assert error.message == (
        "Signature expired: 20260101T120000Z is now earlier than 20260101T120100Z (20260101T121600Z - 15 min.)"
    )


def test_not_yet_current() -> None:
    error = failure(kms_request(), now=NOW - datetime.timedelta(minutes=16))
    assert error.failure is AuthFailure.EXPIRED
    assert error.message == (
        "Signature not yet current: 20260101T120000Z is still later than 20260101T115900Z (20260101T114400Z + 15 min.)"
    )


def test_max_skew_is_configurable() -> None:
    request = kms_request()
    signed = sigv4.parse(request)
    later = NOW + datetime.timedelta(minutes=6)
    with pytest.raises(AuthError, match=r"\(20260101T120600Z - 5 min\.\)"):
        sigv4.verify(request, signed, SECRET, later, max_skew=datetime.timedelta(minutes=5))
    sigv4.verify(request, signed, SECRET, later.replace(tzinfo=None))  # naive means UTC


def test_scope_date_must_match_the_request_date() -> None:
    request = edit_authorization(kms_request(), "/20260101/", "/20251231/")
    error = failure(request)
    assert error.failure is AuthFailure.SIGNATURE_MISMATCH
    assert error.message == (
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        "'20251231' != '20260101', from '20260101T120000Z'."
    )


@pytest.mark.parametrize(
    ("pattern", "replacement", "message"),
    [
        (
            r"Signature=\w+",
            "",
            "Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC",
        ),
        (
            r"Credential=[^,]+,",
            "",
            "Authorization header requires 'Credential' parameter. Authorization=AWS4",
        ),
        (
            r"SignedHeaders=[^,]+,",
            "",
            "Authorization header requires 'SignedHeaders' parameter. Authorization=",
        ),
        (r"Signature=", "Signature= ", "'"),  # the hex digits become a token without '='
        (
            r"Credential=",
            "Credential ",
            "not a valid key=value pair (missing equal-sign) in Authorization header",
        ),
        (r"^AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512", "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only"),
        (r"/aws4_request", "", "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/"),
        (r"us-east-1", "US_EAST", "Credential should be scoped to a valid region, not 'US_EAST'."),
        (r"aws4_request", "aws5_request", "valid terminator: 'aws4_request', not 'aws5_request'."),
        (r"SignedHeaders=\S*host;", "SignedHeaders=", sigv4.MSG_HOST),
    ],
)
def test_malformed_authorization_header(pattern: str, replacement: str, message: str) -> None:
    error = failure(edit_authorization(kms_request(), pattern, replacement))
    assert error.failure is AuthFailure.INCOMPLETE
    assert message in error.message


def test_garbage_authorization_header() -> None:
    error = failure(with_headers(kms_request(), authorization="Bearer abc.def"))
    assert error.failure is AuthFailure.INCOMPLETE
    assert error.message == (
        "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' "
        "parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=Bearer abc.def"
    )


def test_missing_or_malformed_date() -> None:
    error = failure(with_headers(kms_request(), x_amz_date=None))
    assert error.failure is AuthFailure.INCOMPLETE
    assert "requires existence of either a 'X-Amz-Date' or a 'Date' header." in error.message
    for bad in ("2026-01-01T12:00:00Z", "20261301T120000Z", "20260101T120000"):
        error = failure(with_headers(kms_request(), x_amz_date=bad))
        assert error.failure is AuthFailure.INCOMPLETE
        assert error.message.startswith(f"Date must be in ISO-8601 'basic format'. Got '{bad}'.")
    error = failure(with_headers(kms_request(), x_amz_date=None, date="yesterday"))
    assert error.message.startswith("Date must be in ISO-8601 'basic format'. Got 'yesterday'.")


def test_header_and_query_authentication_together() -> None:
    request = dataclasses.replace(kms_request(), query_string="X-Amz-Algorithm=AWS4-HMAC-SHA256")
    error = failure(request)
    assert error.failure is AuthFailure.INCOMPLETE
    assert error.message.startswith("Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization'")


def test_presigned_expired_and_not_yet_valid() -> None:
    request = sign(S3SigV4QueryAuth, "GET", "/bucket/key", service="s3", expires=60)
    assert check(request, now=NOW + datetime.timedelta(seconds=60))
    late = failure(request, now=NOW + datetime.timedelta(seconds=61))
    assert (late.failure, late.message) == (AuthFailure.EXPIRED, "Request has expired")
    assert check(request, now=NOW - datetime.timedelta(minutes=15))
    early = failure(request, now=NOW - datetime.timedelta(minutes=16))
    assert (early.failure, early.message) == (AuthFailure.EXPIRED, "Request is not valid yet")


@pytest.mark.parametrize(
    ("pattern", "replacement", "failure_kind", "message"),
    [
        (r"&X-Amz-Signature=\w+", "", AuthFailure.INCOMPLETE, "must include 'X-Amz-Signature'. Re-examine"),
        (r"X-Amz-Credential=[^&]+&", "", AuthFailure.INCOMPLETE, "must include 'X-Amz-Credential'."),
        (r"X-Amz-Date=[^&]+&", "", AuthFailure.INCOMPLETE, "must include 'X-Amz-Date'."),
        (r"X-Amz-Expires=\d+&", "", AuthFailure.INCOMPLETE, "must include 'X-Amz-Expires'."),
        (
            r"X-Amz-SignedHeaders=host",
            "X-Amz-SignedHeaders=",
            AuthFailure.INCOMPLETE,
            "'X-Amz-SignedHeaders'",
        ),
        (r"X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=x-a", AuthFailure.INCOMPLETE, sigv4.MSG_HOST),
        (
            r"HMAC-SHA256",
            "HMAC-SHA1",
            AuthFailure.INCOMPLETE,
            'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"',
        ),
        (r"Expires=300", "Expires=abc", AuthFailure.INCOMPLETE, "X-Amz-Expires should be a number"),
        (r"Expires=300", "Expires=-1", AuthFailure.INCOMPLETE, "X-Amz-Expires must be non-negative"),
        (r"Expires=300", "Expires=0", AuthFailure.INCOMPLETE, "X-Amz-Expires must be at least 1 second"),
        (r"Expires=300", "Expires=604801", AuthFailure.INCOMPLETE, "must be less than 604800 seconds"),
        (r"Expires=300", "Expires=" + "9" * 5000, AuthFailure.INCOMPLETE, "must be less than a week"),
        (r"Expires=300", "Expires=301", AuthFailure.SIGNATURE_MISMATCH, sigv4.MSG_MISMATCH),
        (
            r"X-Amz-Date=\w+",
            "X-Amz-Date=2026",
            AuthFailure.INCOMPLETE,
            "Date must be in ISO-8601 'basic format'",
        ),
        (r"^", "extra=1&", AuthFailure.SIGNATURE_MISMATCH, sigv4.MSG_MISMATCH),
        (r"k%20ey", "k%20ez", AuthFailure.SIGNATURE_MISMATCH, sigv4.MSG_MISMATCH),
    ],
)
def test_malformed_or_tampered_presigned_url(
    pattern: str, replacement: str, failure_kind: AuthFailure, message: str
) -> None:
    request = sign(SigV4QueryAuth, "GET", "/x", params={"q": "k ey"})
    assert check(request)
    error = failure(edit_query(request, pattern, replacement))
    assert error.failure is failure_kind
    assert message in error.message


def test_the_first_of_repeated_presigned_parameters_counts() -> None:
    request = sign(SigV4QueryAuth, "GET", "/x")
    repeated = dataclasses.replace(request, query_string=request.query_string + "&X-Amz-Expires=abc")
    assert sigv4.parse(repeated).expires == 300
    assert failure(repeated).failure is AuthFailure.SIGNATURE_MISMATCH  # but every value is signed


def test_payload_hash_mismatch() -> None:
    request = sign(S3SigV4Auth, "PUT", "/bucket/key", service="s3", body=b"object bytes")
    error = failure(dataclasses.replace(request, body=b"other bytes"))
    assert (error.failure, error.message) == (AuthFailure.PAYLOAD_HASH_MISMATCH, sigv4.MSG_PAYLOAD)
    declared = sign(headers={"X-Amz-Content-SHA256": "0" * 64}, body=b"")
    assert failure(declared).failure is AuthFailure.PAYLOAD_HASH_MISMATCH
    garbage = sign(headers={"X-Amz-Content-SHA256": "not-a-hash"}, body=b"")
    assert failure(garbage).failure is AuthFailure.PAYLOAD_HASH_MISMATCH


def test_secrets_never_reach_messages_or_reprs() -> None:
    request = kms_request()
    errors = [failure(request, secret=SECRET + "x"), failure(request, now=NOW + datetime.timedelta(hours=1))]
    errors.append(failure(dataclasses.replace(request, body=b"x")))
    for error in errors:
        assert SECRET not in error.message
        assert SECRET not in repr(error)
    assert SECRET not in repr(sigv4.parse(request))
    assert AuthFailure.UNRECOGNIZED_KEY.value == "unrecognized_key"


# --- properties ---------------------------------------------------------------------------------------

segments = st.one_of(st.text(max_size=8), st.sampled_from([".", "..", "", "a+b", "=", "%", "~"]))
query_params = st.lists(st.tuples(st.text(max_size=6), st.text(max_size=6)), max_size=5)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(segments, max_size=5),
    query_params,
    st.sampled_from(["kms", "s3", "kms-presigned", "s3-presigned"]),
    st.booleans(),
)
def test_botocore_signed_paths_and_queries_always_verify(
    parts: list[str], params: list[tuple[str, str]], kind: str, raw_query: bool
) -> None:
    service = kind.removesuffix("-presigned")
    signer = {
        "kms": SigV4Auth,
        "s3": S3SigV4Auth,
        "kms-presigned": SigV4QueryAuth,
        "s3-presigned": S3SigV4QueryAuth,
    }[kind]
    if service == "s3":
        path = "/bucket/" + percent_encode("/".join(parts), safe="/~")
    else:
        path = "/" + "/".join(quote(part, safe="!$&'()*+,;=:@~") for part in parts)
    if raw_query:  # already encoded in the URL, as botocore's serializers build it
        query = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in params)
        request = sign(signer, "GET", path, service=service, query=query)
    else:  # botocore signs %20, the HTTP client sends '+'
        request = sign(signer, "GET", path, service=service, params=params)
    assert check(request)


AUTH_PIECES = st.sampled_from(
    [
        "AWS4-HMAC-SHA256 ",
        "Credential=",
        "AKIDEXAMPLE/20260101/us-east-1/kms/aws4_request",
        "SignedHeaders=",
        "host;x-amz-date",
        "Signature=",
        "0" * 64,
        ",",
        " ",
        "=",
        "/",
        ";",
        "\t",
        "é",
        "\udc80",
    ]
)
QUERY_PIECES = st.sampled_from(
    [
        "X-Amz-Algorithm=AWS4-HMAC-SHA256",
        "X-Amz-Credential=AKIDEXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request",
        "X-Amz-Date=20260101T120000Z",
        "X-Amz-Expires=",
        "X-Amz-SignedHeaders=host",
        "X-Amz-Signature=",
        "X-Amz-Security-Token=",
        "&",
        "=",
        "%",
        "%zz",
        "%FF",
        "+",
        "-1",
        "9" * 12,
        "\udc80",
    ]
)
NASTY = ["\udc80", "\ud800", "\x00", "é", "€", "%", "/", "+", "=", "&", ",", ";", " ", "\t"]
any_text = st.one_of(
    st.text(st.sampled_from(NASTY), max_size=10), st.text(st.characters(exclude_categories=()), max_size=40)
)


@settings(max_examples=400, deadline=None)
@given(
    authorization=st.one_of(st.none(), any_text, st.lists(AUTH_PIECES, max_size=12).map("".join)),
    query=st.one_of(any_text, st.lists(QUERY_PIECES, max_size=10).map("".join)),
    amz_date=st.one_of(st.none(), any_text, st.sampled_from(["20260101T120000Z", "99991231T235959Z", "0001"])),
    date=st.one_of(st.none(), any_text, st.just("Thu, 01 Jan 2026 12:00:00 GMT")),
    content_sha=st.one_of(st.none(), any_text, st.just("UNSIGNED-PAYLOAD")),
    path=any_text,
    method=any_text,
)
def test_malformed_input_only_ever_raises_auth_error(
    authorization: str | None,
    query: str,
    amz_date: str | None,
    date: str | None,
    content_sha: str | None,
    path: str,
    method: str,
) -> None:
    headers = {"host": "localhost:4566"}
    for name, value in [
        ("authorization", authorization),
        ("x-amz-date", amz_date),
        ("date", date),
        ("x-amz-content-sha256", content_sha),
    ]:
        if value is not None:
            headers[name] = value
    request = Request(method, path, query, headers, b"body", "127.0.0.1", False, "req-1")
    with pytest.raises(AuthError) as caught:  # nobody signed it, so it fails, but only ever this way
        sigv4.verify(request, sigv4.parse(request), SECRET, NOW)
    assert isinstance(caught.value.failure, AuthFailure)
    assert caught.value.message


@settings(max_examples=300, deadline=None)
@given(
    signature=st.one_of(
        st.text(st.sampled_from(["\udc80", "\ud800", "é", "0", "f"]), min_size=1),
        st.text(st.characters(exclude_categories=("Zs", "Zl", "Zp", "Cc"), exclude_characters=","), min_size=1),
    ),
    path=any_text,
    method=any_text,
    query=any_text,
    target=any_text,
)
def test_garbage_inside_a_well_formed_request_only_ever_raises_auth_error(
    signature: str, path: str, method: str, query: str, target: str
) -> None:
    request = kms_request()
    request = edit_authorization(request, r"Signature=\w+", f"Signature={signature}".replace("\\", "\\\\"))
    request = with_headers(request, x_amz_target=target)
    request = dataclasses.replace(request, raw_path=path, method=method, query_string=query)
    with pytest.raises(AuthError) as caught:
        sigv4.verify(request, sigv4.parse(request), SECRET, NOW)
    assert caught.value.failure in {AuthFailure.SIGNATURE_MISMATCH, AuthFailure.INCOMPLETE}  # X-Amz-* query

"""Presigned URLs through a real `keyhold serve`, made by boto3 and used by plain HTTP clients (urllib,
http.client): GET, PUT, HEAD and DELETE; response overrides; expired, altered and over-long URLs. Each test runs
with boto3's default presigner for S3 (SigV2 query authentication: AWSAccessKeyId, Signature, Expires) and with
signature_version="s3v4" (X-Amz-Algorithm, X-Amz-Credential, ..., X-Amz-Signature)."""

import datetime
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from botocore.auth import SIGV4_TIMESTAMP, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from support.s3 import RawResponse, body, closing, get_bytes, md5_hex, new_bucket, send, virtual_hosted
from support.server import KeyholdServer

SIGNATURE = {"s3v4": "X-Amz-Signature", "default": "Signature"}


@pytest.fixture(params=["default", "s3v4"])
def version(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def s3(server: KeyholdServer, version: str) -> Iterator[Any]:
    """A client whose presigned URLs use SigV2 (boto3's default for S3) or SigV4."""
    options: dict[str, Any] = {"retries": {"total_max_attempts": 1, "mode": "standard"}}
    if version == "s3v4":
        options["signature_version"] = "s3v4"
    with closing(server.s3(config=Config(**options))) as client:
        yield client


def query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


@pytest.fixture
def bucket(s3: Any) -> str:
    return new_bucket(s3, "presign")


def urlopen(
    url: str, method: str = "GET", data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310 (our server)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (as above)
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


class _SignedAt(S3SigV4QueryAuth):
    """botocore's presigner, signing as of a given time instead of now."""

    def __init__(self, credentials: Credentials, region: str, expires: int, when: datetime.datetime) -> None:
        super().__init__(credentials, "s3", region, expires=expires)
        self._when = when

    def add_auth(self, request: Any) -> None:
        request.context["timestamp"] = self._when.strftime(SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        canonical = self.canonical_request(request)
        self._inject_signature_to_request(request, self.signature(self.string_to_sign(request, canonical), request))


def presign_at(server: KeyholdServer, path: str, when: datetime.datetime, expires: int) -> str:
    request = AWSRequest(method="GET", url=server.http_url + path)
    credentials = Credentials(server.access_key_id, server.secret_access_key)
    _SignedAt(credentials, server.region, expires, when).add_auth(request)
    return str(request.url)


def error_code(data: bytes) -> str:
    return RawResponse(0, {}, data).error()["Code"]


def test_presigned_get(s3: Any, bucket: str, version: str) -> None:
    data = body(123_456, "presigned-get")
    s3.put_object(Bucket=bucket, Key="dir/file name+plus.bin", Body=data, ContentType="application/x-presigned")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "dir/file name+plus.bin"})
    assert SIGNATURE[version] in query(url)
    status, headers, got = urlopen(url)
    assert (status, got) == (200, data)
    assert headers["etag"] == f'"{md5_hex(data)}"'
    assert headers["content-type"] == "application/x-presigned"

    # response overrides travel in the signed query
    url = s3.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": bucket,
            "Key": "dir/file name+plus.bin",
            "ResponseContentDisposition": 'attachment; filename="x.bin"',
            "ResponseContentType": "text/plain",
        },
    )
    status, headers, got = urlopen(url)
    assert status == 200
    assert headers["content-disposition"] == 'attachment; filename="x.bin"'
    assert headers["content-type"] == "text/plain"

    # a Range header is not signed, and needs not be
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "dir/file name+plus.bin"})
    parts = urlsplit(url)
    response = send(url, "GET", {"Range": "bytes=65535-65537"})
    assert (response.status, response.body) == (206, data[65535:65538])
    assert parts.path.endswith("/dir/file%20name%2Bplus.bin")


def test_presigned_put(s3: Any, bucket: str, version: str) -> None:
    data = body(200_000, "presigned-put")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "uploaded"})
    response = send(url, "PUT", {}, data)
    assert response.status == 200, response.body
    assert response.headers["etag"] == f'"{md5_hex(data)}"'
    assert response.headers["x-amz-server-side-encryption"] == "AES256"
    assert get_bytes(s3, bucket, "uploaded") == data

    # a signed Content-Type and SSE header must be sent as signed
    url = s3.generate_presigned_url(
        "put_object",
        Params={"Bucket": bucket, "Key": "typed", "ContentType": "text/csv", "ServerSideEncryption": "aws:kms"},
    )
    if version == "s3v4":
        signed_headers = query(url)["X-Amz-SignedHeaders"].split(";")
        assert "content-type" in signed_headers
        assert "x-amz-server-side-encryption" in signed_headers
    wrong = send(url, "PUT", {"Content-Type": "text/plain", "x-amz-server-side-encryption": "aws:kms"}, b"a,b")
    assert (wrong.status, wrong.error()["Code"]) == (403, "SignatureDoesNotMatch")
    right = send(url, "PUT", {"Content-Type": "text/csv", "x-amz-server-side-encryption": "aws:kms"}, b"a,b")
    assert right.status == 200, right.body
    head = s3.head_object(Bucket=bucket, Key="typed")
    assert (head["ContentType"], head["ServerSideEncryption"]) == ("text/csv", "aws:kms")

    # urllib sends a Content-Type of its own with a body: SigV2 signs it, so the URL must name it
    params = {"Bucket": bucket, "Key": "by-urllib", "ContentType": "application/octet-stream"}
    url = s3.generate_presigned_url("put_object", Params=params)
    status, _, _ = urlopen(url, "PUT", b"via urllib", {"Content-Type": "application/octet-stream"})
    assert status == 200
    assert get_bytes(s3, bucket, "by-urllib") == b"via urllib"


def test_presigned_head_and_delete(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="doomed", Body=b"12345")
    url = s3.generate_presigned_url("head_object", Params={"Bucket": bucket, "Key": "doomed"})
    head = send(url, "HEAD")
    assert (head.status, head.headers["content-length"], head.body) == (200, "5", b"")
    url = s3.generate_presigned_url("delete_object", Params={"Bucket": bucket, "Key": "doomed"})
    assert send(url, "DELETE").status == 204
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    # a GET of what is gone: S3's XML error
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "doomed"})
    status, _, data = urlopen(url)
    assert (status, error_code(data)) == (404, "NoSuchKey")


def test_expired_presigned_url(server: KeyholdServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"fresh")
    now = datetime.datetime.now(datetime.UTC)
    expired = presign_at(server, f"/{bucket}/k", now - datetime.timedelta(hours=2), 3600)
    status, _, data = urlopen(expired)
    assert status == 403
    error = RawResponse(status, {}, data).error()
    assert (error["Code"], error["Message"]) == ("AccessDenied", "Request has expired")
    # the same signer, as of now: the control that the expiry is what failed
    valid = presign_at(server, f"/{bucket}/k", now, 3600)
    assert urlopen(valid)[::2] == (200, b"fresh")
    # signed two hours ago for three: still good
    still = presign_at(server, f"/{bucket}/k", now - datetime.timedelta(hours=2), 3 * 3600)
    assert urlopen(still)[::2] == (200, b"fresh")


def test_altered_presigned_urls(s3: Any, bucket: str, version: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"original")
    s3.put_object(Bucket=bucket, Key="other", Body=b"other")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    params = query(url)
    signature = params[SIGNATURE[version]]
    flipped = signature[:5] + ("A" if signature[5] != "A" else "B") + signature[6:]
    expires = "X-Amz-Expires=3600" if version == "s3v4" else f"Expires={params['Expires']}"
    longer = "X-Amz-Expires=7200" if version == "s3v4" else f"Expires={int(params['Expires']) + 3600}"
    for altered in (
        url.replace(quote(signature, safe=""), quote(flipped, safe="")),
        url.replace(f"/{bucket}/k?", f"/{bucket}/other?"),
        url.replace(expires, longer),
    ):
        assert altered != url
        status, _, data = urlopen(altered)
        assert (status, error_code(data)) == (403, "SignatureDoesNotMatch"), altered
    # a GET URL is not a PUT URL
    response = send(url, "PUT", {}, b"overwrite")
    assert (response.status, response.error()["Code"]) == (403, "SignatureDoesNotMatch")
    assert get_bytes(s3, bucket, "k") == b"original"


def test_presigned_url_longer_than_a_week(s3: Any, bucket: str, version: str) -> None:
    """SigV4 URLs live a week at most (SigV2 ones have no such limit)."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=604801)
    status, _, data = urlopen(url)
    if version == "s3v4":
        assert (status, error_code(data)) == (400, "AuthorizationQueryParametersError")
    else:
        assert (status, data) == (200, b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=604800)
    assert urlopen(url)[0] == 200


def test_expired_sigv2_presigned_url(server: KeyholdServer) -> None:
    """boto3's default presigner takes an Expires in the past (its SigV4 one refuses to)."""
    with closing(server.s3()) as s3:
        bucket = new_bucket(s3, "presign-v2")
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")
        expired = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=-60)
        valid = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60)
    assert "AWSAccessKeyId=" in expired
    status, _, data = urlopen(expired)
    error = RawResponse(status, {}, data).error()
    assert (status, error["Code"], error["Message"]) == (403, "AccessDenied", "Request has expired")
    assert urlopen(valid)[::2] == (200, b"x")


def test_presigned_url_with_unknown_access_key(server: KeyholdServer, bucket: str, version: str) -> None:
    config = Config(signature_version="s3v4") if version == "s3v4" else None
    stranger_client = server.s3(aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="x" * 40, config=config)
    with closing(stranger_client) as stranger:
        url = stranger.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    status, _, data = urlopen(url)
    assert (status, error_code(data)) == (403, "InvalidAccessKeyId")


def test_presigned_virtual_hosted_url(server: KeyholdServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="vhost.txt", Body=b"virtual and presigned")
    with closing(virtual_hosted(server)) as virtual:
        url = virtual.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "vhost.txt"})
    parts = urlsplit(url)
    assert parts.hostname == f"{bucket}.localhost"
    loopback = url.replace(f"//{parts.netloc}/", f"//127.0.0.1:{parts.port}/")
    response = send(loopback, "GET", {"Host": parts.netloc})
    assert (response.status, response.body) == (200, b"virtual and presigned")

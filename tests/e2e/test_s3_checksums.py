"""Upload integrity through a real `keyhold serve`: Content-MD5 (BadDigest, InvalidDigest), x-amz-checksum-* in
headers and (aws-chunked) trailers in every algorithm botocore computes, hand-made aws-chunked bodies (unsigned
with a trailing checksum, and STREAMING-AWS4-HMAC-SHA256-PAYLOAD signed chunks), the signed payload hash; and
that a failed upload leaves nothing in <data-dir>/blobs and the object it would have replaced readable."""

import base64
import hashlib
import hmac
import zlib
from collections.abc import Iterator
from io import BytesIO
from typing import Any

import pytest
from botocore.httpchecksum import _CHECKSUM_CLS, AwsChunkedWrapper

from support.s3 import (
    RawResponse,
    body,
    closing,
    every_blob_file,
    fails_with,
    get_bytes,
    md5_hex,
    new_bucket,
    send,
    signed,
    signed_send,
)
from support.server import KeyholdServer

ALGORITHMS = sorted(name.upper() for name in _CHECKSUM_CLS)  # what botocore 1.43 can compute
UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@pytest.fixture
def s3(server: KeyholdServer) -> Iterator[Any]:
    with closing(server.s3()) as client:
        yield client


@pytest.fixture
def s3s(server: KeyholdServer) -> Iterator[Any]:
    """Over HTTPS: botocore sends aws-chunked bodies with a trailing checksum there."""
    with closing(server.s3(secure=True)) as client:
        yield client


@pytest.fixture
def bucket(s3: Any) -> str:
    return new_bucket(s3, "sums")


def checksum_of(algorithm: str, data: bytes) -> str:
    """The base64 checksum botocore itself computes."""
    hasher = _CHECKSUM_CLS[algorithm.lower()]()
    hasher.update(data)
    value: str = hasher.b64digest()
    return value


def b64_md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def sent_headers(client: Any) -> list[dict[str, str]]:
    """The headers of every request ``client`` sends from now on, as sent."""
    seen: list[dict[str, str]] = []

    def record(request: Any, **_: Any) -> None:
        headers = request.headers.items()
        seen.append({k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in headers})

    client.meta.events.register("before-send.s3", record)
    return seen


class Rejected:
    """Asserts a failed upload changed nothing: no blob file (committed or temporary) more or less, and the object
    it would have replaced still there with its old bytes."""

    def __init__(self, server: KeyholdServer, s3: Any, bucket: str, key: str) -> None:
        self.server, self.s3, self.bucket, self.key = server, s3, bucket, key
        self.old = body(70_000, f"old-{key}")
        s3.put_object(Bucket=bucket, Key=key, Body=self.old)
        self.etag = s3.head_object(Bucket=bucket, Key=key)["ETag"]
        self.files = every_blob_file(server)

    def check(self) -> None:
        assert every_blob_file(self.server) == self.files
        assert get_bytes(self.s3, self.bucket, self.key) == self.old
        assert self.s3.head_object(Bucket=self.bucket, Key=self.key)["ETag"] == self.etag


# -- Content-MD5 -----------------------------------------------------------------------------------------------


def test_content_md5(server: KeyholdServer, s3: Any, bucket: str) -> None:
    data = body(100_000, "md5")
    put = s3.put_object(Bucket=bucket, Key="ok", Body=data, ContentMD5=b64_md5(data))
    assert put["ETag"] == f'"{md5_hex(data)}"'

    rejected = Rejected(server, s3, bucket, "target")
    status, code, message = fails_with(s3.put_object, Bucket=bucket, Key="target", Body=data, ContentMD5=b64_md5(b"x"))
    assert (status, code, message) == (
        400,
        "BadDigest",
        "The Content-MD5 you specified did not match what we received.",
    )
    rejected.check()
    for malformed in ("not base64!", base64.b64encode(b"short").decode(), "", md5_hex(data)):
        status, code, message = fails_with(s3.put_object, Bucket=bucket, Key="target", Body=data, ContentMD5=malformed)
        assert (status, code, message) == (400, "InvalidDigest", "The Content-MD5 you specified was invalid."), (
            malformed
        )
    rejected.check()


def test_content_md5_over_https(server: KeyholdServer, s3s: Any, bucket: str) -> None:
    """With a trailing checksum in the aws-chunked body, Content-MD5 is checked too."""
    data = body(100_000, "md5-https")
    rejected = Rejected(server, s3s, bucket, "target")
    status, code, _ = fails_with(s3s.put_object, Bucket=bucket, Key="target", Body=data, ContentMD5=b64_md5(b"y"))
    assert (status, code) == (400, "BadDigest")
    rejected.check()
    s3s.put_object(Bucket=bucket, Key="target", Body=data, ContentMD5=b64_md5(data))
    assert get_bytes(s3s, bucket, "target") == data


def test_content_md5_on_a_part(server: KeyholdServer, s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    files = every_blob_file(server)
    status, code, _ = fails_with(
        s3.upload_part,
        Bucket=bucket,
        Key="mp",
        UploadId=upload_id,
        PartNumber=1,
        Body=b"part",
        ContentMD5=b64_md5(b"no"),
    )
    assert (status, code) == (400, "BadDigest")
    assert every_blob_file(server) == files
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)


# -- x-amz-checksum-* ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("secure", [False, True], ids=["header", "trailer"])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_algorithm_round_trips(server: KeyholdServer, algorithm: str, secure: bool) -> None:
    with closing(server.s3(secure=secure)) as client:
        seen = sent_headers(client)
        bucket = new_bucket(client, "algo")
        data = body(150_000, algorithm)
        expected = checksum_of(algorithm, data)
        put = client.put_object(Bucket=bucket, Key="k", Body=data, ChecksumAlgorithm=algorithm)
        header = f"x-amz-checksum-{algorithm.lower()}"
        if secure:  # sent after the body
            assert seen[-1]["x-amz-trailer"] == header
            assert seen[-1]["x-amz-content-sha256"] == UNSIGNED_TRAILER
            assert header not in seen[-1]
        else:
            assert seen[-1][header] == expected
        assert put[f"Checksum{algorithm}"] == expected
        assert put["ChecksumType"] == "FULL_OBJECT"
        head = client.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
        assert head[f"Checksum{algorithm}"] == expected
        got = client.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")  # botocore checks it as it reads
        assert got[f"Checksum{algorithm}"] == expected
        assert got["Body"].read() == data
        assert f"Checksum{algorithm}" not in client.head_object(Bucket=bucket, Key="k")  # only when asked for


def test_boto3_over_https_sends_aws_chunked_with_a_trailing_crc32(server: KeyholdServer, s3s: Any, bucket: str) -> None:
    seen = sent_headers(s3s)
    data = body(3 * 1024 * 1024 + 5, "default")
    put = s3s.put_object(Bucket=bucket, Key="k", Body=data)
    sent = seen[-1]
    assert sent["content-encoding"] == "aws-chunked"
    assert sent["x-amz-content-sha256"] == UNSIGNED_TRAILER
    assert sent["x-amz-trailer"] == "x-amz-checksum-crc32"
    assert sent["x-amz-decoded-content-length"] == str(len(data))
    assert put["ChecksumCRC32"] == base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    got = s3s.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == data
    assert "ContentEncoding" not in got  # aws-chunked was how it travelled, not what it is


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA256", "CRC64NVME"])
def test_wrong_checksum_header_is_bad_digest(server: KeyholdServer, s3: Any, bucket: str, algorithm: str) -> None:
    rejected = Rejected(server, s3, bucket, "target")
    data = body(200_000, "new")
    wrong = checksum_of(algorithm, b"something else")
    status, code, message = fails_with(
        s3.put_object, Bucket=bucket, Key="target", Body=data, **{f"Checksum{algorithm}": wrong}
    )
    assert (status, code) == (400, "BadDigest")
    assert message == f"The {algorithm} you specified did not match the calculated checksum."
    rejected.check()
    # and nowhere new either
    status, code, _ = fails_with(
        s3.put_object, Bucket=bucket, Key="fresh", Body=data, **{f"Checksum{algorithm}": wrong}
    )
    assert (status, code) == (400, "BadDigest")
    assert fails_with(s3.head_object, Bucket=bucket, Key="fresh")[:2] == (404, "404")
    assert every_blob_file(server) == rejected.files


def test_malformed_and_conflicting_checksum_headers(server: KeyholdServer, s3: Any, bucket: str) -> None:
    rejected = Rejected(server, s3, bucket, "target")
    data = b"some data"
    for headers, message in [
        ({"x-amz-checksum-crc32": "not-base64"}, "Value for x-amz-checksum-crc32 header is invalid."),
        ({"x-amz-checksum-crc32": checksum_of("SHA256", data)}, "Value for x-amz-checksum-crc32 header is invalid."),
        (
            {"x-amz-checksum-crc32": checksum_of("CRC32", data), "x-amz-checksum-sha1": checksum_of("SHA1", data)},
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
        ),
        ({"x-amz-checksum-md4": "AAAA"}, "The algorithm type you specified in x-amz-checksum- header is invalid."),
    ]:
        response = signed_send(server, "PUT", f"/{bucket}/target", headers=headers, body=data)
        assert response.status == 400, headers
        error = response.error()
        assert (error["Code"], error["Message"]) == ("InvalidRequest", message), headers
    rejected.check()


def test_wrong_payload_sha256(server: KeyholdServer, s3: Any, bucket: str) -> None:
    """A header-signed request over HTTP signs the body's SHA-256: a body that is not the one signed is refused."""
    rejected = Rejected(server, s3, bucket, "target")
    signed_for = body(100_000, "signed")
    url, headers = signed(server, "PUT", f"/{bucket}/target", body=signed_for)
    assert headers["X-Amz-Content-SHA256"] == hashlib.sha256(signed_for).hexdigest()
    response = send(url, "PUT", headers, body(100_000, "sent instead"))
    assert response.status == 400
    error = response.error()
    assert error["Code"] == "XAmzContentSHA256Mismatch"
    assert error["ClientComputedContentSHA256"] == hashlib.sha256(signed_for).hexdigest()
    rejected.check()
    assert send(url, "PUT", headers, signed_for).status == 200  # the very same request with the right body
    assert get_bytes(s3, bucket, "target") == signed_for


# -- hand-made aws-chunked bodies ------------------------------------------------------------------------------


def unsigned_chunked(data: bytes, trailer: str, *, chunk: int = 65536) -> bytes:
    """STREAMING-UNSIGNED-PAYLOAD-TRAILER framing with the given trailer line(s) (``name:value``)."""
    pieces = [b"%x\r\n%s\r\n" % (len(data[i : i + chunk]), data[i : i + chunk]) for i in range(0, len(data), chunk)]
    return b"".join(pieces) + b"0\r\n" + trailer.encode() + b"\r\n\r\n"


def put_chunked(
    server: KeyholdServer, path: str, data: bytes, encoded: bytes, mode: str, trailer: str | None = None
) -> RawResponse:
    headers = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data))}
    if trailer is not None:
        headers["x-amz-trailer"] = trailer
    url, signed_headers = signed(server, "PUT", path, headers=headers, content_sha256=mode, secure=True)
    return send(url, "PUT", signed_headers, encoded, ca=server.ca_path)


def test_botocore_chunked_wrapper_body_by_hand(server: KeyholdServer, s3s: Any, bucket: str) -> None:
    """botocore's own AwsChunkedWrapper, sent as a raw request: the reference the hand-made bodies follow."""
    data = body(300_000, "wrapper")
    wrapper = AwsChunkedWrapper(
        BytesIO(data), checksum_cls=_CHECKSUM_CLS["crc32"], checksum_name="x-amz-checksum-crc32", chunk_size=100_000
    )
    encoded = wrapper.read()
    response = put_chunked(server, f"/{bucket}/wrapped", data, encoded, UNSIGNED_TRAILER, "x-amz-checksum-crc32")
    assert response.status == 200, response.body
    assert response.headers["x-amz-checksum-crc32"] == checksum_of("CRC32", data)
    assert get_bytes(s3s, bucket, "wrapped") == data
    mine = unsigned_chunked(data, f"x-amz-checksum-crc32:{checksum_of('CRC32', data)}", chunk=100_000)
    assert mine == encoded


def test_wrong_trailing_checksum(server: KeyholdServer, s3s: Any, bucket: str) -> None:
    rejected = Rejected(server, s3s, bucket, "target")
    data = body(250_000, "trailing")
    for algorithm in ("CRC32", "SHA256"):
        header = f"x-amz-checksum-{algorithm.lower()}"
        encoded = unsigned_chunked(data, f"{header}:{checksum_of(algorithm, b'other data')}")
        response = put_chunked(server, f"/{bucket}/target", data, encoded, UNSIGNED_TRAILER, header)
        assert response.status == 400, algorithm
        error = response.error()
        assert error["Code"] == "BadDigest"
        assert error["Message"] == f"The {algorithm} you specified did not match the calculated checksum."
        rejected.check()
    # the trailer named in x-amz-trailer but not sent; and a framing that breaks off
    encoded = unsigned_chunked(data, "")
    response = put_chunked(server, f"/{bucket}/target", data, encoded, UNSIGNED_TRAILER, "x-amz-checksum-crc32")
    assert (response.status, response.error()["Code"]) == (400, "MalformedTrailerError")
    encoded = unsigned_chunked(data, f"x-amz-checksum-crc32:{checksum_of('CRC32', data)}")
    response = put_chunked(server, f"/{bucket}/target", data, encoded[:-200], UNSIGNED_TRAILER, "x-amz-checksum-crc32")
    assert (response.status, response.error()["Code"]) == (400, "IncompleteBody")
    rejected.check()


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signed_chunked(
    server: KeyholdServer,
    path: str,
    data: bytes,
    *,
    chunk: int = 16384,
    trailer: tuple[str, str] | None = None,
    tamper: int | None = None,
) -> RawResponse:
    """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER) upload built by hand: each chunk signed with the previous
    signature (the first with the request's own), as the SigV4 streaming specification describes. ``tamper``
    flips a byte of that chunk's data after it was signed."""
    mode = SIGNED if trailer is None else SIGNED_TRAILER
    sizes = [len(data[i : i + chunk]) for i in range(0, len(data), chunk)] + [0]
    headers = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data))}
    if trailer is not None:
        headers["x-amz-trailer"] = trailer[0]
    url, request_headers = signed(server, "PUT", path, headers=headers, content_sha256=mode, secure=True)
    previous = request_headers["Authorization"].rsplit("Signature=", 1)[1]
    amz_date = request_headers["X-Amz-Date"]
    scope = f"{amz_date[:8]}/{server.region}/s3/aws4_request"
    key = _hmac(
        _hmac(_hmac(_hmac(f"AWS4{server.secret_access_key}".encode(), amz_date[:8]), server.region), "s3"),
        "aws4_request",
    )
    out: list[bytes] = []
    offset = 0
    for index, size in enumerate(sizes):
        piece = data[offset : offset + size]
        offset += size
        string_to_sign = "\n".join(
            ["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, EMPTY_SHA256, hashlib.sha256(piece).hexdigest()]
        )
        previous = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if index == tamper:
            piece = bytes([piece[0] ^ 1]) + piece[1:]
        out.append(f"{size:x};chunk-signature={previous}\r\n".encode() + piece)
        out.append(b"\r\n" if size or trailer is None else b"")
    if trailer is not None:
        line = f"{trailer[0]}:{trailer[1]}"
        string_to_sign = "\n".join(
            ["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, previous, hashlib.sha256(f"{line}\n".encode()).hexdigest()]
        )
        signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        out.append(f"{line}\r\nx-amz-trailer-signature:{signature}\r\n\r\n".encode())
    return send(url, "PUT", request_headers, b"".join(out), ca=server.ca_path)


def test_signed_chunks(server: KeyholdServer, s3s: Any, bucket: str) -> None:
    data = body(100_000, "signed-chunks")
    response = signed_chunked(server, f"/{bucket}/signed", data)
    assert response.status == 200, response.body
    assert response.headers["etag"] == f'"{md5_hex(data)}"'
    assert get_bytes(s3s, bucket, "signed") == data
    # one chunk that holds everything, and an empty body
    assert signed_chunked(server, f"/{bucket}/one-chunk", data, chunk=len(data)).status == 200
    assert get_bytes(s3s, bucket, "one-chunk") == data
    assert signed_chunked(server, f"/{bucket}/empty", b"").status == 200
    assert get_bytes(s3s, bucket, "empty") == b""


def test_signed_chunk_that_was_changed(server: KeyholdServer, s3s: Any, bucket: str) -> None:
    rejected = Rejected(server, s3s, bucket, "target")
    data = body(100_000, "tampered")
    for tamper in (0, 3, 6):  # first, middle, last data chunk
        response = signed_chunked(server, f"/{bucket}/target", data, tamper=tamper)
        assert response.status == 403, tamper
        assert response.error()["Code"] == "SignatureDoesNotMatch"
        rejected.check()


def test_signed_chunks_with_a_signed_trailer(server: KeyholdServer, s3s: Any, bucket: str) -> None:
    data = body(100_000, "signed-trailer")
    good = ("x-amz-checksum-crc32c", checksum_of("CRC32C", data))
    response = signed_chunked(server, f"/{bucket}/trailed", data, trailer=good)
    assert response.status == 200, response.body
    assert response.headers["x-amz-checksum-crc32c"] == good[1]
    assert get_bytes(s3s, bucket, "trailed") == data

    rejected = Rejected(server, s3s, bucket, "target")
    wrong = ("x-amz-checksum-crc32c", checksum_of("CRC32C", b"not the data"))
    response = signed_chunked(server, f"/{bucket}/target", data, trailer=wrong)
    assert (response.status, response.error()["Code"]) == (400, "BadDigest")
    rejected.check()

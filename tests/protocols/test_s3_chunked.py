"""aws-chunked decoding, fed bodies that botocore itself builds, AWS's published signed examples, and bodies a
small independent signer here builds; the refusals are the ones AWS gives (as recorded against AWS in
OpenStack Swift's test/s3api/test_input_errors.py)."""

import base64
import datetime
import hashlib
import hmac
import io
import itertools
import os
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import botocore.session
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keyhold.protocols import sigv4
from keyhold.protocols.http import Request
from keyhold.protocols.s3 import checksums
from keyhold.protocols.s3.checksums import Algorithm
from keyhold.protocols.s3.chunked import (
    MAX_LINE,
    ChunkedDecoder,
    StreamingMode,
    decoded_content_length,
    streaming_mode,
)
from keyhold.protocols.s3.input_errors import S3InputError

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

# The AWS documentation's chunked-upload examples (sigv4-streaming.html, sigv4-streaming-trailers.html).
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_DATE = "20130524T000000Z"
DOC_SCOPE = "20130524/us-east-1/s3/aws4_request"
DOC_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
DOC_CHUNKS = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)
DOC_TRAILER_SEED = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
DOC_TRAILER_CHUNKS = (
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
)
DOC_TRAILER = b"x-amz-checksum-crc32c:sOO8/Q==\r\n"
DOC_TRAILER_SIGNATURE = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
DOC_PAYLOAD = b"a" * 66560

# What the tests here sign with.
SECRET = "test-secret-key"
AMZ_DATE = "20260101T120000Z"
SCOPE = "20260101/us-east-1/s3/aws4_request"
SEED = "5eed" * 16


# --- an independent signer (the AWS documentation's algorithm, written out again) -------------------------------


def _key(secret: str, scope: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _sign(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def signed_body(
    chunks: Sequence[bytes],
    *,
    trailers: Sequence[tuple[str, str]] | None = None,
    secret: str = SECRET,
    amz_date: str = AMZ_DATE,
    scope: str = SCOPE,
    seed: str = SEED,
) -> bytes:
    """``chunks`` (the last one b"" for the final chunk) signed; with ``trailers``, the -TRAILER format."""
    key, previous, out = _key(secret, scope), seed, bytearray()
    for data in chunks:
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, EMPTY_SHA256, hashlib.sha256(data).hexdigest()]
        )
        previous = _sign(key, to_sign)
        out += b"%x;chunk-signature=%s\r\n" % (len(data), previous.encode())
        if data or trailers is None:
            out += data + b"\r\n"
    if trailers is not None:
        canonical = "".join(f"{name}:{value}\n" for name, value in trailers) or "\n"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, previous, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        out += b"".join(f"{name}:{value}\r\n".encode() for name, value in trailers)
        out += b"x-amz-trailer-signature:%s\r\n\r\n" % _sign(key, to_sign).encode()
    return bytes(out)


def unsigned_body(chunks: Sequence[bytes], trailers: Sequence[tuple[str, str]] = ()) -> bytes:
    out = b"".join(b"%x\r\n%s\r\n" % (len(data), data) for data in chunks if data) + b"0\r\n"
    return out + b"".join(f"{name}:{value}\r\n".encode() for name, value in trailers) + b"\r\n"


def signed_decoder(
    mode: StreamingMode = StreamingMode.SIGNED, *, secret: str = SECRET, seed: str = SEED, **kwargs: Any
) -> ChunkedDecoder:
    return ChunkedDecoder(
        mode, signing_key=_key(secret, SCOPE), amz_date=AMZ_DATE, scope=SCOPE, seed_signature=seed, **kwargs
    )


def decode(decoder: ChunkedDecoder, pieces: Iterable[bytes]) -> tuple[bytes, dict[str, str]]:
    payload = b"".join(decoder.feed(piece) for piece in pieces)
    return payload, decoder.finish()


def split_at(body: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = sorted({0, len(body), *(cut % (len(body) + 1) for cut in cuts)})
    return [body[a:b] for a, b in itertools.pairwise(points)]


def random_pieces(body: bytes, rng: random.Random, largest: int) -> Iterator[bytes]:
    position = 0
    while position < len(body):
        size = rng.randint(1, largest)
        yield body[position : position + size]
        position += size


def refusal(decoder: ChunkedDecoder, body: bytes | Sequence[bytes]) -> S3InputError:
    pieces = [body] if isinstance(body, bytes) else body
    with pytest.raises(S3InputError) as caught:
        decode(decoder, pieces)
    return caught.value


# --- botocore's own aws-chunked bodies ---------------------------------------------------------------------------


class _EmptyRaw:
    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        return iter([b""])


def botocore_put(body: bytes, algorithm: str) -> AWSPreparedRequest:
    """The request botocore sends for put_object over HTTPS (an unsigned-trailer aws-chunked body), unsent."""
    client = botocore.session.get_session().create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url="https://s3.example.test",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key=SECRET,
    )
    captured: list[AWSPreparedRequest] = []

    def send(request: AWSPreparedRequest, **_kwargs: Any) -> AWSResponse:
        captured.append(request)
        return AWSResponse(request.url, 200, {}, _EmptyRaw())

    client.meta.events.register("before-send.s3.PutObject", send)
    client.put_object(Bucket="bucket", Key="key", Body=io.BytesIO(body), ChecksumAlgorithm=algorithm)
    return captured[0]


def lower_headers(request: AWSPreparedRequest) -> dict[str, str]:
    return {
        name.lower(): value.decode() if isinstance(value, bytes) else value for name, value in request.headers.items()
    }


BOTOCORE_ALGORITHMS = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256", "SHA512", "XXHASH64", "XXHASH3", "XXHASH128"]


@pytest.mark.parametrize("algorithm", BOTOCORE_ALGORITHMS)
@pytest.mark.parametrize("size", [0, 1, 5000, 3 * 1024 * 1024 + 17])
def test_botocore_put_object_body_decodes(algorithm: str, size: int) -> None:
    data = os.urandom(size)
    request = botocore_put(data, algorithm)
    headers = lower_headers(request)
    mode = streaming_mode(headers)
    assert mode is StreamingMode.UNSIGNED_TRAILER
    declared = checksums.declared_checksum(headers, trailer_allowed=mode.has_trailer)
    assert declared is not None
    assert declared.in_trailer
    assert declared.algorithm is Algorithm(algorithm)
    decoder = ChunkedDecoder(mode, decoded_length=decoded_content_length(headers), trailer=declared.header)
    rng = random.Random(size)
    hasher = declared.algorithm.hasher()
    payload = bytearray()
    while piece := request.body.read(rng.randint(1, 300_000)):  # botocore's AwsChunkedWrapper, read in pieces
        decoded = decoder.feed(piece)
        hasher.update(decoded)
        payload += decoded
    trailers = decoder.finish()
    assert payload == data
    assert trailers == {declared.header: hasher.b64()}
    assert checksums.verify_checksum(declared, hasher.digest(), trailers) == hasher.b64()
    # and the request's own signature checks out with the STREAMING-UNSIGNED-PAYLOAD-TRAILER payload hash
    http = Request(
        method="PUT",
        raw_path="/bucket/key",
        query_string="",
        headers=headers,
        body=b"",
        client_ip="127.0.0.1",
        secure=True,
        request_id="r",
    )
    signed = sigv4.parse(http)
    sigv4.verify(http, signed, SECRET, signed.amz_date)


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_botocore_chunked_wrapper_any_chunk_size(algorithm: str) -> None:
    """botocore's AwsChunkedWrapper with small chunks (as from a pipe), read and fed in random pieces."""
    from botocore.httpchecksum import _CHECKSUM_CLS, AwsChunkedWrapper

    rng = random.Random(algorithm)
    data = os.urandom(200_000)
    header = Algorithm(algorithm).header
    wrapper = AwsChunkedWrapper(
        io.BytesIO(data), checksum_cls=_CHECKSUM_CLS[algorithm.lower()], checksum_name=header, chunk_size=777
    )
    body = wrapper.read()
    decoder = ChunkedDecoder(StreamingMode.UNSIGNED_TRAILER, decoded_length=len(data), trailer=header)
    payload, trailers = decode(decoder, random_pieces(body, rng, 50))
    expected = Algorithm(algorithm).hasher()
    expected.update(data)
    assert payload == data
    assert trailers == {header: expected.b64()}


# --- AWS's published signed examples ---------------------------------------------------------------------------


def doc_body(chunk_signatures: Sequence[str], tail: bytes) -> bytes:
    first, second, final = (signature.encode() for signature in chunk_signatures)
    return (
        b"10000;chunk-signature=%s\r\n%s\r\n" % (first, DOC_PAYLOAD[:65536])
        + b"400;chunk-signature=%s\r\n%s\r\n" % (second, DOC_PAYLOAD[65536:])
        + b"0;chunk-signature=%s\r\n" % final
        + tail
    )


def doc_request(content_sha256: str, signed_headers: str, signature: str, **extra: str) -> Request:
    headers = {
        "host": "s3.amazonaws.com",
        "x-amz-date": DOC_DATE,
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "x-amz-content-sha256": content_sha256,
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560",
        "authorization": (
            f"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/{DOC_SCOPE},"
            f"SignedHeaders={signed_headers},Signature={signature}"
        ),
        **extra,
    }
    return Request(
        method="PUT",
        raw_path="/examplebucket/chunkObject.txt",
        query_string="",
        headers=headers,
        body=b"",
        client_ip="127.0.0.1",
        secure=True,
        request_id="r",
    )


DOC_NOW = datetime.datetime(2013, 5, 24, tzinfo=datetime.UTC)


def test_aws_documentation_signed_example() -> None:
    request = doc_request(
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
        "x-amz-storage-class",
        DOC_SEED,
        **{"content-length": "66824"},
    )
    signed = sigv4.parse(request)
    sigv4.verify(request, signed, DOC_SECRET, DOC_NOW)  # the seed signature, by sigv4
    mode = streaming_mode(request.headers)
    assert mode is StreamingMode.SIGNED
    body = doc_body(DOC_CHUNKS, b"\r\n")
    assert len(body) == 66824  # the example's Content-Length
    decoder = ChunkedDecoder.for_request(
        mode, signed, DOC_SECRET, decoded_length=decoded_content_length(request.headers)
    )
    assert decode(decoder, random_pieces(body, random.Random(1), 9000)) == (DOC_PAYLOAD, {})
    # the same chunks, built by the signer of these tests
    chunks = [DOC_PAYLOAD[:65536], DOC_PAYLOAD[65536:], b""]
    assert body == signed_body(chunks, secret=DOC_SECRET, amz_date=DOC_DATE, scope=DOC_SCOPE, seed=DOC_SEED)


def test_aws_documentation_signed_trailer_example() -> None:
    request = doc_request(
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;"
        "x-amz-trailer",
        DOC_TRAILER_SEED,
        **{"x-amz-trailer": "x-amz-checksum-crc32c"},
    )
    signed = sigv4.parse(request)
    sigv4.verify(request, signed, DOC_SECRET, DOC_NOW)
    mode = streaming_mode(request.headers)
    assert mode is StreamingMode.SIGNED_TRAILER
    declared = checksums.declared_checksum(request.headers, trailer_allowed=mode.has_trailer)
    assert declared == checksums.DeclaredChecksum(Algorithm.CRC32C, None)
    tail = DOC_TRAILER + b"x-amz-trailer-signature:%s\r\n\r\n" % DOC_TRAILER_SIGNATURE.encode()
    body = doc_body(DOC_TRAILER_CHUNKS, tail)
    decoder = ChunkedDecoder.for_request(mode, signed, DOC_SECRET, decoded_length=66560, trailer=declared.header)
    payload, trailers = decode(decoder, random_pieces(body, random.Random(2), 5000))
    assert payload == DOC_PAYLOAD
    assert trailers == {"x-amz-checksum-crc32c": "sOO8/Q=="}
    crc = Algorithm.CRC32C.hasher()
    crc.update(payload)
    assert checksums.verify_checksum(declared, crc.digest(), trailers) == "sOO8/Q=="
    assert body == signed_body(
        [DOC_PAYLOAD[:65536], DOC_PAYLOAD[65536:], b""],
        trailers=[("x-amz-checksum-crc32c", "sOO8/Q==")],
        secret=DOC_SECRET,
        amz_date=DOC_DATE,
        scope=DOC_SCOPE,
        seed=DOC_TRAILER_SEED,
    )
    # a trailer value changed in flight, or a chunk, is caught
    forged = body.replace(b"sOO8/Q==", b"AAAAAA==")
    assert refusal(ChunkedDecoder.for_request(mode, signed, DOC_SECRET, trailer=declared.header), forged).code == (
        "SignatureDoesNotMatch"
    )


def test_aws_documentation_example_tampered() -> None:
    key = _key(DOC_SECRET, DOC_SCOPE)
    body = bytearray(doc_body(DOC_CHUNKS, b"\r\n"))
    body[66000] ^= 1  # in the second chunk's data
    signing = {"signing_key": key, "amz_date": DOC_DATE, "scope": DOC_SCOPE}
    decoder = ChunkedDecoder(StreamingMode.SIGNED, seed_signature=DOC_SEED, **signing)
    error = refusal(decoder, bytes(body))
    assert (error.status, error.code) == (403, "SignatureDoesNotMatch")
    assert dict(error.details)["StringToSign"].startswith("AWS4-HMAC-SHA256-PAYLOAD\n")
    wrong_seed = ChunkedDecoder(StreamingMode.SIGNED, seed_signature=DOC_TRAILER_SEED, **signing)
    assert refusal(wrong_seed, doc_body(DOC_CHUNKS, b"\r\n")).code == "SignatureDoesNotMatch"


# --- any split of the input -------------------------------------------------------------------------------------

chunk_lists = st.lists(st.binary(min_size=1, max_size=300), max_size=6)
cut_lists = st.lists(st.integers(min_value=0, max_value=10_000), max_size=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=chunk_lists, cuts=cut_lists, with_trailer=st.booleans())
def test_unsigned_any_split(chunks: list[bytes], cuts: list[int], with_trailer: bool) -> None:
    data = b"".join(chunks)
    crc = Algorithm.CRC32.hasher()
    crc.update(data)
    trailers = [("x-amz-checksum-crc32", crc.b64())] if with_trailer else []
    body = unsigned_body(chunks, trailers)
    decoder = ChunkedDecoder(
        StreamingMode.UNSIGNED_TRAILER,
        decoded_length=len(data),
        trailer="x-amz-checksum-crc32" if with_trailer else None,
    )
    assert decode(decoder, split_at(body, cuts)) == (data, dict(trailers))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(min_value=8192, max_value=20000), max_size=3),
    last=st.integers(0, 9000),
    cuts=cut_lists,
    with_trailer=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_signed_any_split(sizes: list[int], last: int, cuts: list[int], with_trailer: bool, seed: int) -> None:
    rng = random.Random(seed)
    chunks = [rng.randbytes(size) for size in [*sizes, last] if size] + [b""]
    data = b"".join(chunks)
    sha = Algorithm.SHA256.hasher()
    sha.update(data)
    trailers = [("x-amz-checksum-sha256", sha.b64())] if with_trailer else None
    body = signed_body(chunks, trailers=trailers)
    mode = StreamingMode.SIGNED_TRAILER if with_trailer else StreamingMode.SIGNED
    decoder = signed_decoder(mode, decoded_length=len(data), trailer="x-amz-checksum-sha256" if with_trailer else None)
    payload, got = decode(decoder, split_at(body, [cut * 7 for cut in cuts]))
    assert payload == data
    assert got == dict(trailers or [])


def test_every_split_point_of_a_small_body() -> None:
    body = signed_body([b"x" * 8192, b"yz", b""], trailers=[("x-amz-checksum-crc32", "AAAAAA==")])
    for cut in range(len(body) + 1):
        decoder = signed_decoder(StreamingMode.SIGNED_TRAILER, decoded_length=8194, trailer="x-amz-checksum-crc32")
        assert decode(decoder, [body[:cut], body[cut:]]) == (b"x" * 8192 + b"yz", {"x-amz-checksum-crc32": "AAAAAA=="})


def test_whole_blocks_of_payload_are_not_copied() -> None:
    block = os.urandom(1 << 20)
    decoder = ChunkedDecoder(StreamingMode.UNSIGNED_TRAILER, decoded_length=3 << 20)
    assert decoder.feed(b"300000\r\n") == b""
    assert decoder.feed(block) is block
    assert decoder.feed(bytearray(block)) == block
    assert decoder.feed(memoryview(block)) == block
    assert decoder.decoded == 3 << 20


# --- truncation, framing, lengths --------------------------------------------------------------------------------


def test_every_truncation_is_incomplete_body() -> None:
    body = signed_body([b"x" * 8192, b"yz", b""], trailers=[("x-amz-checksum-crc32", "AAAAAA==")])
    for cut in range(len(body)):
        decoder = signed_decoder(StreamingMode.SIGNED_TRAILER, decoded_length=8194, trailer="x-amz-checksum-crc32")
        error = refusal(decoder, body[:cut])
        assert (error.status, error.code, error.message) == (
            400,
            "IncompleteBody",
            "The request body terminated unexpectedly",
        )
        assert error.details == ()


def test_unsigned_truncation_before_the_final_chunk() -> None:
    body = unsigned_body([b"hello", b"world"])
    for cut in range(body.index(b"0\r\n")):
        assert refusal(ChunkedDecoder(StreamingMode.UNSIGNED_TRAILER), body[:cut]).code == "IncompleteBody"


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\nabc\r\n0\r\n\r\n",  # not hex
        b"-3\r\nabc\r\n0\r\n\r\n",  # negative (AWS: 500)
        b"\r\nabc\r\n0\r\n\r\n",  # no size
        b"00000000000000003\r\nabc\r\n0\r\n\r\n",  # 17 hex digits
        b"3\nabc\n0\n\n",  # LF without CR (AWS-recorded)
        b"3\rabc\r0\r\r",  # CR without LF (AWS-recorded)
        b"3\r\nabc0\r\n\r\n",  # no CRLF after the data (AWS-recorded)
        b"3\r\nabc\n\r0\r\n\r\n",
        b"3\r\nabcd\r\n0\r\n\r\n",  # more data than the size
        b"3\r\nabc\r\n",  # no final chunk (AWS-recorded)
        b"3\r\nabc\r\n0\r\n\r",  # the final CRLF cut short (AWS-recorded)
        b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32: AAAAAA==\n",  # trailer line ended by LF alone (AWS-recorded)
        b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32: AAAAAA==\r",  # ... by CR alone (AWS-recorded)
        b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32: AAAAAA==",  # ... not ended (AWS-recorded)
        b"a" * 40,  # a plain body declared aws-chunked (AWS-recorded)
        b"",
        b"3" * (MAX_LINE + 1) + b"\r\nabc\r\n0\r\n\r\n",  # a header line too long
    ],
)
def test_broken_framing_is_incomplete_body(body: bytes) -> None:
    error = refusal(ChunkedDecoder(StreamingMode.UNSIGNED_TRAILER), body)
    assert (error.status, error.code) == (400, "IncompleteBody")
    for cut in range(len(body) + 1):  # wherever it is split
        assert (
            refusal(ChunkedDecoder(StreamingMode.UNSIGNED_TRAILER), [body[:cut], body[cut:]]).code == "IncompleteBody"
        )


def test_decoded_length_mismatches() -> None:
    data = os.urandom(32)
    too_many = ChunkedDecoder(StreamingMode.UNSIGNED_TRAILER, decoded_length=32)
    error = refusal(too_many, unsigned_body([data * 2]))
    assert (error.status, error.code) == (400, "IncompleteBody")
    assert error.message == "You did not provide the number of bytes specified by the Content-Length HTTP header"
    assert error.details == (("NumberBytesExpected", "32"), ("NumberBytesProvided", "64"))  # as AWS counts them
    too_few = refusal(ChunkedDecoder(StreamingMode.UNSIGNED_TRAILER, decoded_length=33), unsigned_body([data]))
    assert too_few.details == (("NumberBytesExpected", "33"), ("NumberBytesProvided", "32"))
    # a final chunk in mid-stream ends the body (AWS-recorded: 4 bytes provided of 32)
    early_end = b"4\r\n%s\r\n0\r\n\r\n1c\r\n%s\r\n0\r\n\r\n" % (data[:4], data[4:])
    error = refusal(ChunkedDecoder(StreamingMode.UNSIGNED_TRAILER, decoded_length=32), early_end)
    assert error.details == (("NumberBytesExpected", "32"), ("NumberBytesProvided", "4"))
    signed = refusal(signed_decoder(decoded_length=8191), signed_body([b"s" * 8192, b""]))
    assert signed.details == (("NumberBytesExpected", "8191"), ("NumberBytesProvided", "8192"))


def test_data_after_the_end_is_ignored_as_aws_does() -> None:
    """AWS accepts a body with junk after the empty line that ends it (recorded: 'really??'); so does this."""
    data = b"payload"
    for tail in [b"\r\n", b"\xff\xde\xad\xbe\xef\xff", b"bonus: trailer\r\n", b"7\r\nanother\r\n0\r\n\r\n"]:
        decoder = ChunkedDecoder(StreamingMode.UNSIGNED_TRAILER, decoded_length=len(data))
        assert decode(decoder, [unsigned_body([data]), tail]) == (data, {})
        assert decoder.ignored == len(tail)
    decoder = signed_decoder(decoded_length=8192)
    assert decode(decoder, [signed_body([b"s" * 8192, b""]) + b"junk"]) == (b"s" * 8192, {})
    assert decoder.ignored == 4


# --- signatures --------------------------------------------------------------------------------------------------


def signed_refusal(body: bytes, mode: StreamingMode = StreamingMode.SIGNED, **kwargs: Any) -> S3InputError:
    return refusal(signed_decoder(mode, **kwargs), body)


def with_signature(body: bytes, index: int, signature: bytes) -> bytes:
    """``body`` with its ``index``-th chunk signature (or, past the chunks, the trailer's) replaced."""
    found = list(re.finditer(rb"(?:chunk-signature=|x-amz-trailer-signature:)([0-9a-f]{64})", body))[index]
    return body[: found.start(1)] + signature + body[found.end(1) :]


def test_chunk_signature_failures() -> None:
    good = signed_body([b"d" * 9000, b""])
    for bad in [
        good.replace(b"d" * 10, b"e" + b"d" * 9, 1),  # the data
        with_signature(good, 0, b"0" * 64),
        with_signature(good, 1, b"0" * 64),  # the final chunk's
        with_signature(good, 0, signed_body([b"e" * 9000, b""])[18:82]),
        signed_body([b"d" * 9000, b""], seed="0" * 64),  # signed with another seed
        signed_body([b"d" * 9000, b""], secret="another secret"),
    ]:
        error = signed_refusal(bad)
        assert (error.status, error.code) == (403, "SignatureDoesNotMatch")
        assert error.message == (
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method."
        )
    # AWS-recorded: a signature that is not hex, or all zeros, does not match; a blank or missing one is a broken body
    assert signed_refusal(b"5;chunk-signature=invalid\r\nhello\r\n").code == "SignatureDoesNotMatch"
    assert signed_refusal(b"5;chunk-signature=%s\r\nhello\r\n" % (b"0" * 64)).code == "SignatureDoesNotMatch"
    assert signed_refusal(b"5;chunk-signature=\r\nhello\r\n0;chunk-signature=\r\n\r\n").code == "IncompleteBody"
    assert signed_refusal(b"5\r\nhello\r\n0\r\n\r\n").code == "IncompleteBody"


def test_chunk_signature_extension_spelling() -> None:
    """AWS-recorded: spaces around ';' and '=' are fine; another extension before the signature is a signature
    that does not match, one after it a broken body."""
    good = signed_body([b"d" * 9000, b""])
    spaced = good.replace(b";chunk-signature=", b" ; chunk-signature = ")
    assert decode(signed_decoder(), [spaced]) == (b"d" * 9000, {})
    assert signed_refusal(good.replace(b";chunk-signature=", b";extra=param;chunk-signature=")).code == (
        "SignatureDoesNotMatch"
    )
    after = good.replace(b"\r\n", b";extra=param\r\n", 1)
    assert signed_refusal(after).code == "IncompleteBody"


def test_trailer_signature_failures() -> None:
    trailers = [("x-amz-checksum-crc32", "AAAAAA==")]
    good = signed_body([b"t" * 8192, b""], trailers=trailers)
    kwargs: dict[str, Any] = {"trailer": "x-amz-checksum-crc32"}
    assert decode(signed_decoder(StreamingMode.SIGNED_TRAILER, **kwargs), [good])[1] == dict(trailers)
    for bad in [good.replace(b"AAAAAA==", b"AAAAAB=="), with_signature(good, 2, b"0" * 64)]:
        error = signed_refusal(bad, StreamingMode.SIGNED_TRAILER, **kwargs)
        assert (error.status, error.code) == (403, "SignatureDoesNotMatch")
        assert dict(error.details)["StringToSign"].startswith("AWS4-HMAC-SHA256-TRAILER\n")
    no_signature = good[: good.index(b"x-amz-trailer-signature")] + b"\r\n"
    assert signed_refusal(no_signature, StreamingMode.SIGNED_TRAILER, **kwargs).code == "IncompleteBody"
    no_empty_line = good[:-2]  # AWS-recorded: the signed trailer must end with its empty line
    assert signed_refusal(no_empty_line, StreamingMode.SIGNED_TRAILER, **kwargs).code == "IncompleteBody"
    after_signature = good[:-2] + b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    assert signed_refusal(after_signature, StreamingMode.SIGNED_TRAILER, **kwargs).code == "MalformedTrailerError"
    # some clients put an empty line between the final chunk and the trailers: accepted
    spaced = good.replace(b"\r\nx-amz-checksum-crc32", b"\r\n\r\nx-amz-checksum-crc32")
    assert decode(signed_decoder(StreamingMode.SIGNED_TRAILER, **kwargs), [spaced])[1] == dict(trailers)
    # a trailer section with nothing but the signature signs "\n"
    empty = signed_body([b"t" * 8192, b""], trailers=[])
    assert decode(signed_decoder(StreamingMode.SIGNED_TRAILER), [empty]) == (b"t" * 8192, {})


def test_small_signed_chunks_are_refused_as_aws_does() -> None:
    sizes = [1024, 4 * 1024, 3 * 1024]
    body = signed_body([b"x" * size for size in sizes] + [b""])
    error = signed_refusal(body, decoded_length=sum(sizes))
    assert (error.status, error.code) == (403, "InvalidChunkSizeError")  # 403, as AWS answers
    assert error.message == "Only the last chunk is allowed to have a size less than 8192 bytes"
    assert error.details == (("Chunk", "2"), ("BadChunkSize", "1024"))  # AWS-recorded numbers
    ragged = [15 * 1024, 8 * 1024, 16 * 1024, 1]
    body = signed_body([b"r" * size for size in ragged] + [b""])
    assert decode(signed_decoder(decoded_length=sum(ragged)), [body])[0] == b"".join(b"r" * size for size in ragged)
    small_unsigned = unsigned_body([b"u" * 10, b"v" * 10])  # botocore's chunks can be any size
    assert decode(ChunkedDecoder(StreamingMode.UNSIGNED_TRAILER, decoded_length=20), [small_unsigned])[0] == (
        b"u" * 10 + b"v" * 10
    )


# --- trailers ----------------------------------------------------------------------------------------------------

CRC = "x-amz-checksum-crc32"


def unsigned_decoder(trailer: str | None = CRC) -> ChunkedDecoder:
    return ChunkedDecoder(StreamingMode.UNSIGNED_TRAILER, decoded_length=5, trailer=trailer)


@pytest.mark.parametrize(
    ("tail", "trailers"),
    [
        (b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n", {CRC: "AAAAAA=="}),
        (b"x-amz-checksum-crc32: AAAAAA==\r\n", {CRC: "AAAAAA=="}),  # no empty line at the end (AWS-recorded)
        (b"X-Amz-Checksum-CRC32 : AAAAAA== \r\n\r\n", {CRC: "AAAAAA=="}),
        (b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n\r\n", {CRC: "AAAAAA=="}),  # extra lines after (AWS-recorded)
        (b"x-amz-checksum-crc32:AAAAAA==\r\n\r\nbonus: trailer\r\n", {CRC: "AAAAAA=="}),  # (AWS-recorded)
        (b"x-amz-checksum-crc32:BBBBBB==\r\nx-amz-checksum-crc32:AAAAAA==\r\n", {CRC: "AAAAAA=="}),  # last wins
        (b"x-amz-checksum-crc32:AAAAAA==\n\r\n", {CRC: "AAAAAA=="}),  # an LF inside the line
    ],
)
def test_unsigned_trailers(tail: bytes, trailers: dict[str, str]) -> None:
    assert decode(unsigned_decoder(), [b"5\r\nhello\r\n0\r\n" + tail]) == (b"hello", trailers)


@pytest.mark.parametrize(
    "tail",
    [
        b"\r\n",  # declared, not sent (AWS-recorded)
        b"",  # declared, not sent, no empty line
        b"\r\nx-amz-checksum-crc32:AAAAAA==\r\n",  # an empty line before it ends the trailers (AWS-recorded)
        b"x-amz-checksum-crc32c:AAAAAA==\r\n\r\n",  # another one than declared (AWS-recorded)
        b"x-amz-checksum-crc32:AAAAAA==\r\nbonus: trailer\r\n",  # an extra one (AWS-recorded)
        b"no colon here\r\n\r\n",
        b":AAAAAA==\r\n\r\n",
        b"x-amz-checksum-crc32:" + b"A" * MAX_LINE + b"\r\n\r\n",  # too long
    ],
)
def test_malformed_trailers(tail: bytes) -> None:
    error = refusal(unsigned_decoder(), b"5\r\nhello\r\n0\r\n" + tail)
    assert (error.status, error.code) == (400, "MalformedTrailerError")
    assert error.message == (
        "The request contained trailing data that was not well-formed or did not conform to our published schema."
    )


def test_trailers_when_none_is_declared() -> None:
    assert decode(unsigned_decoder(None), [b"5\r\nhello\r\n0\r\n\r\n"]) == (b"hello", {})
    assert decode(unsigned_decoder(None), [b"5\r\nhello\r\n0\r\n"]) == (b"hello", {})  # AWS-recorded
    assert refusal(unsigned_decoder(None), b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n").code == (
        "MalformedTrailerError"
    )
    assert signed_refusal(signed_body([b"s" * 9000, b""])[:-2] + b"x: y\r\n\r\n").code == "MalformedTrailerError"


def test_trailer_value_checks_tie_into_checksums() -> None:
    declared = checksums.DeclaredChecksum(Algorithm.CRC32, None)
    data = b"hello"
    crc = Algorithm.CRC32.hasher()
    crc.update(data)
    _, trailers = decode(unsigned_decoder(), [unsigned_body([data], [(CRC, crc.b64())])])
    assert checksums.verify_checksum(declared, crc.digest(), trailers) == crc.b64()
    _, wrong = decode(unsigned_decoder(), [unsigned_body([data], [(CRC, "AAAAAA==")])])
    with pytest.raises(S3InputError) as caught:
        checksums.verify_checksum(declared, crc.digest(), wrong)
    assert (caught.value.code, caught.value.message) == (
        "BadDigest",
        "The CRC32 you specified did not match the calculated checksum.",
    )
    _, invalid = decode(unsigned_decoder(), [unsigned_body([data], [(CRC, "not=base-64")])])
    with pytest.raises(S3InputError) as caught:
        checksums.verify_checksum(declared, crc.digest(), invalid)
    assert (caught.value.code, caught.value.message) == (
        "InvalidRequest",
        "Value for x-amz-checksum-crc32 trailing header is invalid.",
    )


# --- headers -----------------------------------------------------------------------------------------------------


def test_streaming_mode() -> None:
    assert streaming_mode({}) is None
    assert streaming_mode({"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}) is None
    assert streaming_mode({"x-amz-content-sha256": EMPTY_SHA256}) is None
    for mode in StreamingMode:
        assert streaming_mode({"x-amz-content-sha256": mode.value}) is mode
    assert [mode.signed for mode in StreamingMode] == [False, True, True]
    assert [mode.has_trailer for mode in StreamingMode] == [True, False, True]
    error = refusal_of(streaming_mode, {"x-amz-content-sha256": "STREAMING-NONSENSE"})
    assert (error.status, error.code) == (400, "InvalidArgument")
    assert error.details == (("ArgumentName", "x-amz-content-sha256"), ("ArgumentValue", "STREAMING-NONSENSE"))
    sigv4a = refusal_of(streaming_mode, {"x-amz-content-sha256": "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"})
    assert (sigv4a.status, sigv4a.code) == (501, "NotImplemented")


def test_decoded_content_length() -> None:
    assert decoded_content_length({"x-amz-decoded-content-length": "66560"}) == 66560
    assert decoded_content_length({"x-amz-decoded-content-length": "0"}) == 0
    for headers in [{}, {"x-amz-decoded-content-length": "not an int"}, {"x-amz-decoded-content-length": "-1"}]:
        error = refusal_of(decoded_content_length, headers)  # AWS-recorded: 411 MissingContentLength
        assert (error.status, error.code, error.message) == (
            411,
            "MissingContentLength",
            "You must provide the Content-Length HTTP header.",
        )


def test_signed_modes_need_their_keys() -> None:
    with pytest.raises(ValueError, match="signing_key"):
        ChunkedDecoder(StreamingMode.SIGNED)
    with pytest.raises(ValueError, match="no trailer"):
        signed_decoder(StreamingMode.SIGNED, trailer=CRC)


def refusal_of(function: Any, headers: dict[str, str]) -> S3InputError:
    with pytest.raises(S3InputError) as caught:
        function(headers)
    return caught.value


def test_base64_in_test_vectors() -> None:
    """The documentation example's trailer is the CRC32C of its payload."""
    crc = Algorithm.CRC32C.hasher()
    crc.update(DOC_PAYLOAD)
    assert crc.b64() == "sOO8/Q==" == base64.b64encode(crc.digest()).decode()

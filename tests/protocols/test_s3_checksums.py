"""S3 checksums against botocore's own implementations, and the header checks against what AWS answers (as
recorded against AWS in OpenStack Swift's test/s3api/test_input_errors.py and test_object_checksums.py)."""

import base64
import hashlib
import itertools
import random
from collections.abc import Callable
from typing import Any

import pytest
from botocore.httpchecksum import _CHECKSUM_CLS, Crc32Checksum, CrtCrc32cChecksum, CrtCrc64NvmeChecksum
from hypothesis import given, settings
from hypothesis import strategies as st

from keyhold.protocols.s3 import checksums
from keyhold.protocols.s3.checksums import Algorithm, ChecksumType, DeclaredChecksum
from keyhold.protocols.s3.input_errors import S3InputError

BODY = b"123456789"
# AWS's answers for BODY (Swift's test_object_checksums.py, checked against AWS): the value, and the COMPOSITE
# checksum of a one-part upload of it.
AWS_VALUES = {
    Algorithm.CRC32: ("y/Q5Jg==", "7kxlUA=="),
    Algorithm.CRC32C: ("4waSgw==", "pzJFoA=="),
    Algorithm.CRC64NVME: ("rosUhgp5mIg=", None),
}
BOTOCORE_NAMES = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256", "sha512", "xxhash64", "xxhash3", "xxhash128"]


def digest_of(algorithm: Algorithm, *pieces: bytes) -> bytes:
    hasher = algorithm.hasher()
    for piece in pieces:
        hasher.update(piece)
    return hasher.digest()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def refused(function: Callable[..., Any], *args: Any, **kwargs: Any) -> S3InputError:
    with pytest.raises(S3InputError) as caught:
        function(*args, **kwargs)
    return caught.value


# --- hashers -----------------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=5000), cuts=st.lists(st.integers(0, 5000), max_size=5), name=st.sampled_from(BOTOCORE_NAMES)
)
def test_each_algorithm_matches_botocore(data: bytes, cuts: list[int], name: str) -> None:
    """Fed in any pieces, each hasher gives the bytes and base64 botocore sends in x-amz-checksum-<alg>."""
    reference = _CHECKSUM_CLS[name]()
    reference.update(data)
    hasher = Algorithm.from_name(name).hasher()  # type: ignore[union-attr]
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    for start, end in itertools.pairwise(points):
        hasher.update(memoryview(data)[start:end])
    assert hasher.digest() == reference.digest()
    assert hasher.b64() == reference.b64digest()
    assert len(hasher.digest()) == Algorithm.from_name(name).digest_size  # type: ignore[union-attr]


def test_large_random_data_matches_botocore() -> None:
    data = random.Random(7).randbytes(3 * 1024 * 1024 + 5)
    for reference, algorithm in [
        (Crc32Checksum(), Algorithm.CRC32),
        (CrtCrc32cChecksum(), Algorithm.CRC32C),
        (CrtCrc64NvmeChecksum(), Algorithm.CRC64NVME),
    ]:
        reference.update(data)
        assert b64(digest_of(algorithm, data[:1000], data[1000:])) == reference.b64digest()
    assert digest_of(Algorithm.MD5, data[:77], data[77:]) == hashlib.md5(data).digest()  # noqa: S324


def test_aws_known_values() -> None:
    for algorithm, (value, _) in AWS_VALUES.items():
        assert b64(digest_of(algorithm, BODY)) == value


def test_xxhash_digest_is_kept() -> None:
    hasher = Algorithm.XXHASH64.hasher()
    hasher.update(b"abc")
    assert hasher.digest() == hasher.digest()
    with pytest.raises(ValueError, match="after digest"):
        hasher.update(b"more")


def test_algorithm_names() -> None:
    assert Algorithm.CRC64NVME.header == "x-amz-checksum-crc64nvme"
    assert Algorithm.from_name(" crc32c ") is Algorithm.CRC32C
    assert Algorithm.from_name("md4") is None
    assert [algorithm for algorithm in Algorithm if algorithm.is_crc] == [
        Algorithm.CRC32,
        Algorithm.CRC32C,
        Algorithm.CRC64NVME,
    ]


# --- the declared checksum ---------------------------------------------------------------------------------------

CRC32_BODY = AWS_VALUES[Algorithm.CRC32][0]
SHA256_BODY = b64(hashlib.sha256(BODY).digest())
MULTIPLE = "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."


@pytest.mark.parametrize(
    ("headers", "trailer_allowed", "expected"),
    [
        ({}, False, None),
        ({"x-amz-checksum-crc32": CRC32_BODY}, False, DeclaredChecksum(Algorithm.CRC32, CRC32_BODY)),
        (
            {"x-amz-checksum-crc32": CRC32_BODY, "x-amz-sdk-checksum-algorithm": "CRC32"},
            False,
            DeclaredChecksum(Algorithm.CRC32, CRC32_BODY),
        ),
        (
            {"x-amz-checksum-sha256": SHA256_BODY, "x-amz-sdk-checksum-algorithm": "sha256"},
            False,
            DeclaredChecksum(Algorithm.SHA256, SHA256_BODY),
        ),
        ({"x-amz-trailer": "x-amz-checksum-crc32"}, True, DeclaredChecksum(Algorithm.CRC32, None)),
        (
            {"x-amz-trailer": "x-amz-checksum-crc64nvme", "x-amz-sdk-checksum-algorithm": "CRC64NVME"},
            True,
            DeclaredChecksum(Algorithm.CRC64NVME, None),
        ),
        # AWS-recorded: trailing commas and a trailing space are fine
        ({"x-amz-trailer": "x-amz-checksum-crc32,"}, True, DeclaredChecksum(Algorithm.CRC32, None)),
        ({"x-amz-trailer": "x-amz-checksum-crc32,,"}, True, DeclaredChecksum(Algorithm.CRC32, None)),
        ({"x-amz-trailer": "x-amz-checksum-crc32, "}, True, DeclaredChecksum(Algorithm.CRC32, None)),
        # AWS-recorded: x-amz-checksum-type and x-amz-checksum-algorithm on a PUT are tolerated
        (
            {"x-amz-checksum-crc32": CRC32_BODY, "x-amz-checksum-type": "COMPOSITE", "x-amz-checksum-algorithm": "x"},
            False,
            DeclaredChecksum(Algorithm.CRC32, CRC32_BODY),
        ),
    ],
)
def test_declared_checksum(headers: dict[str, str], trailer_allowed: bool, expected: DeclaredChecksum | None) -> None:
    assert checksums.declared_checksum(headers, trailer_allowed=trailer_allowed) == expected


@pytest.mark.parametrize(
    ("headers", "code", "message"),
    [
        (
            {"x-amz-checksum-crc32c": CRC32_BODY, "x-amz-checksum-crc32": CRC32_BODY},
            "InvalidRequest",
            MULTIPLE,
        ),
        (  # repeats trump the algorithm mismatch
            {
                "x-amz-checksum-crc32c": CRC32_BODY,
                "x-amz-checksum-crc32": CRC32_BODY,
                "x-amz-sdk-checksum-algorithm": "sha256",
            },
            "InvalidRequest",
            MULTIPLE,
        ),
        (
            {"x-amz-checksum-crc32": CRC32_BODY, "x-amz-trailer": "x-amz-checksum-crc32"},
            "InvalidRequest",
            "Expecting a single x-amz-checksum- header",
        ),
        (
            {"x-amz-checksum-crc32": CRC32_BODY, "x-amz-trailer": "x-amz-checksum-crc32c"},
            "InvalidRequest",
            "Expecting a single x-amz-checksum- header",
        ),
        (
            {"x-amz-checksum-crc32": CRC32_BODY, "x-amz-trailer": "x-amz-checksum-crc32, x-amz-checksum-crc32c"},
            "InvalidRequest",
            MULTIPLE,
        ),
        (
            {
                "x-amz-checksum-crc32": CRC32_BODY,
                "x-amz-checksum-sha256": SHA256_BODY,
                "x-amz-trailer": "x-amz-checksum-crc32",
            },
            "InvalidRequest",
            MULTIPLE,
        ),
        ({"x-amz-trailer": "x-amz-checksum-crc32, x-amz-checksum-sha256"}, "InvalidRequest", MULTIPLE),
        ({"x-amz-trailer": "x-amz-checksum-crc32, x-amz-checksum-crc32"}, "InvalidRequest", MULTIPLE),
        (
            {"x-amz-checksum-bad": CRC32_BODY},
            "InvalidRequest",
            "The algorithm type you specified in x-amz-checksum- header is invalid.",
        ),
        ({"x-amz-checksum-crc32": "bad"}, "InvalidRequest", "Value for x-amz-checksum-crc32 header is invalid."),
        ({"x-amz-checksum-crc32": "y/Q5Jh=="}, "InvalidRequest", "Value for x-amz-checksum-crc32 header is invalid."),
        ({"x-amz-checksum-crc32": SHA256_BODY}, "InvalidRequest", "Value for x-amz-checksum-crc32 header is invalid."),
        (
            {"x-amz-checksum-crc64nvme": "rosUhgp5mIh="},
            "InvalidRequest",
            "Value for x-amz-checksum-crc64nvme header is invalid.",
        ),
        (
            {"x-amz-checksum-crc32": CRC32_BODY, "x-amz-sdk-checksum-algorithm": "CRC32C"},
            "InvalidRequest",
            "Value for x-amz-sdk-checksum-algorithm header is invalid.",
        ),
        (
            {"x-amz-checksum-crc32": CRC32_BODY, "x-amz-sdk-checksum-algorithm": "INVALIDALGO"},
            "InvalidRequest",
            "Value for x-amz-sdk-checksum-algorithm header is invalid.",
        ),
        (
            {"x-amz-sdk-checksum-algorithm": "CRC32"},
            "InvalidRequest",
            "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers "
            "were found.",
        ),
        *(
            (
                {"x-amz-trailer": value},
                "InvalidRequest",
                "The value specified in the x-amz-trailer header is not supported",
            )
            for value in [
                ", x-amz-checksum-crc32, ,",
                ", x-amz-checksum-crc32",
                ",x-amz-checksum-crc32",
                "x-amz-checksum-crc32, ,",
                "x-amz-checksum-bad",
                "x-amz-checksum-crc32, x-amz-foo",
                "foo",
                "content-md5",
                "x-amz-content-sha256",
            ]
        ),
    ],
)
def test_declared_checksum_refusals(headers: dict[str, str], code: str, message: str) -> None:
    error = refused(checksums.declared_checksum, headers, trailer_allowed=True)
    assert (error.status, error.code, error.message) == (400, code, message)


def test_a_trailer_needs_a_trailer_format() -> None:
    """AWS-recorded: x-amz-trailer on a body that is not aws-chunked with trailers is a MalformedTrailerError."""
    error = refused(checksums.declared_checksum, {"x-amz-trailer": "x-amz-checksum-crc32"}, trailer_allowed=False)
    assert (error.status, error.code) == (400, "MalformedTrailerError")
    assert error.message == (
        "The request contained trailing data that was not well-formed or did not conform to our published schema."
    )


def test_verify_checksum() -> None:
    declared = DeclaredChecksum(Algorithm.CRC32, CRC32_BODY)
    assert checksums.verify_checksum(declared, digest_of(Algorithm.CRC32, BODY)) == CRC32_BODY
    error = refused(checksums.verify_checksum, declared, digest_of(Algorithm.CRC32, b"not the body"))
    assert (error.status, error.code, error.message) == (
        400,
        "BadDigest",
        "The CRC32 you specified did not match the calculated checksum.",
    )
    in_trailer = DeclaredChecksum(Algorithm.SHA256, None)
    digest = digest_of(Algorithm.SHA256, BODY)
    assert checksums.verify_checksum(in_trailer, digest, {"x-amz-checksum-sha256": SHA256_BODY}) == SHA256_BODY
    assert refused(checksums.verify_checksum, in_trailer, digest, {}).code == "MalformedTrailerError"
    invalid = refused(checksums.verify_checksum, in_trailer, digest, {"x-amz-checksum-sha256": "not=base-64"})
    assert invalid.message == "Value for x-amz-checksum-sha256 trailing header is invalid."
    complete = checksums.bad_digest(Algorithm.CRC32C, complete_multipart=True)
    assert complete.message == "The crc32c you specified did not match the calculated checksum."


def test_content_md5() -> None:
    md5 = hashlib.md5(BODY).digest()  # noqa: S324
    assert checksums.content_md5({}) is None
    assert checksums.content_md5({"content-md5": b64(md5)}) == md5
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(b64(md5)[-3])
    not_canonical = b64(md5)[:-3] + alphabet[last ^ 1] + "=="  # decodes to the same 16 bytes
    assert base64.b64decode(not_canonical) == md5
    for value in ["invalid", b64(md5[:15]), not_canonical]:
        error = refused(checksums.content_md5, {"content-md5": value})
        assert (error.status, error.code, error.message) == (
            400,
            "InvalidDigest",
            "The Content-MD5 you specified was invalid.",
        )
    checksums.verify_content_md5(md5, md5)
    empty = hashlib.md5(b"").digest()  # noqa: S324
    error = refused(checksums.verify_content_md5, empty, md5)
    assert (error.status, error.code, error.message) == (
        400,
        "BadDigest",
        "The Content-MD5 you specified did not match what we received.",
    )
    assert error.details == (("ExpectedDigest", empty.hex()), ("CalculatedDigest", b64(md5)))  # hex, as AWS does


# --- CreateMultipartUpload --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"x-amz-checksum-algorithm": "CRC32"}, (Algorithm.CRC32, ChecksumType.COMPOSITE)),
        ({"x-amz-checksum-algorithm": "SHA256"}, (Algorithm.SHA256, ChecksumType.COMPOSITE)),
        ({"x-amz-checksum-algorithm": "CRC64NVME"}, (Algorithm.CRC64NVME, ChecksumType.FULL_OBJECT)),
        (
            {"x-amz-checksum-algorithm": "CRC32C", "x-amz-checksum-type": "FULL_OBJECT"},
            (Algorithm.CRC32C, ChecksumType.FULL_OBJECT),
        ),
    ],
)
def test_multipart_checksum(headers: dict[str, str], expected: tuple[Algorithm, ChecksumType] | None) -> None:
    assert checksums.multipart_checksum(headers) == expected


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (
            {"x-amz-checksum-type": "FULL_OBJECT"},
            "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.",
        ),
        (
            {"x-amz-checksum-type": "COMPOSITE"},
            "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.",
        ),
        (
            {"x-amz-checksum-algorithm": "CRC32", "x-amz-checksum-type": "BADCHECKSUM"},
            "Value for x-amz-checksum-type header is invalid.",
        ),
        (
            {"x-amz-checksum-algorithm": "INVALIDALGO"},
            "Checksum algorithm provided is unsupported. Please try again with any of the valid types: "
            "[CRC32, CRC32C, CRC64NVME, SHA1, SHA256]",
        ),
        (
            {"x-amz-checksum-algorithm": "SHA256", "x-amz-checksum-type": "FULL_OBJECT"},
            "The FULL_OBJECT checksum type cannot be used with the sha256 checksum algorithm.",
        ),
        (
            {"x-amz-checksum-algorithm": "CRC64NVME", "x-amz-checksum-type": "COMPOSITE"},
            "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.",
        ),
    ],
)
def test_multipart_checksum_refusals(headers: dict[str, str], message: str) -> None:
    error = refused(checksums.multipart_checksum, headers)
    assert (error.status, error.code, error.message) == (400, "InvalidRequest", message)


# --- combining part checksums ------------------------------------------------------------------------------------


def test_composite_known_values() -> None:
    for algorithm, (value, composite_of_one) in AWS_VALUES.items():
        if composite_of_one is not None:
            assert checksums.composite(algorithm, [base64.b64decode(value)]) == composite_of_one + "-1"


@settings(max_examples=40, deadline=None)
@given(parts=st.lists(st.binary(max_size=300), min_size=1, max_size=5), name=st.sampled_from(BOTOCORE_NAMES))
def test_composite_is_the_checksum_of_the_part_checksums(parts: list[bytes], name: str) -> None:
    algorithm = Algorithm.from_name(name)
    assert algorithm is not None
    digests = [digest_of(algorithm, part) for part in parts]
    reference = _CHECKSUM_CLS[name]()
    reference.update(b"".join(digests))
    assert checksums.composite(algorithm, digests) == f"{reference.b64digest()}-{len(parts)}"


def test_composite_refuses_wrong_sizes() -> None:
    with pytest.raises(ValueError, match="4 bytes"):
        checksums.composite(Algorithm.CRC32, [b"12345"])


@settings(max_examples=80, deadline=None)
@given(
    data=st.binary(max_size=20_000),
    cuts=st.lists(st.integers(0, 20_000), max_size=8),
    algorithm=st.sampled_from([Algorithm.CRC32, Algorithm.CRC32C, Algorithm.CRC64NVME]),
)
def test_full_object_combine_is_the_crc_of_the_whole(data: bytes, cuts: list[int], algorithm: Algorithm) -> None:
    points = sorted([0, len(data), *(cut % (len(data) + 1) for cut in cuts)])  # repeated cuts: empty parts
    parts = [data[start:end] for start, end in itertools.pairwise(points)]
    combined = checksums.combine_full_object(algorithm, [(digest_of(algorithm, part), len(part)) for part in parts])
    assert combined == digest_of(algorithm, data)


def test_full_object_combine_of_large_parts() -> None:
    rng = random.Random(3)
    parts = [rng.randbytes(size) for size in (5 * 1024 * 1024, 5 * 1024 * 1024 + 1, 17, 0, 1 << 20)]
    for algorithm in (Algorithm.CRC32, Algorithm.CRC32C, Algorithm.CRC64NVME):
        pieces = [(digest_of(algorithm, part), len(part)) for part in parts]
        assert checksums.combine_full_object(algorithm, pieces) == digest_of(algorithm, *parts)
    assert checksums.combine_full_object(Algorithm.CRC32, []) == digest_of(Algorithm.CRC32)


def test_full_object_combine_refusals() -> None:
    with pytest.raises(ValueError, match="FULL_OBJECT"):
        checksums.combine_full_object(Algorithm.SHA256, [(b"\0" * 32, 1)])
    with pytest.raises(ValueError, match="4-byte"):
        checksums.combine_full_object(Algorithm.CRC32, [(b"\0" * 8, 1)])

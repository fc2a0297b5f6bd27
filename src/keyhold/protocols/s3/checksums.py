"""S3 checksums: incremental hashers, the checksum a request declares, and multipart combination; pure, no I/O.

A request declares at most one checksum, either as a header ``x-amz-checksum-<alg>: <base64>`` or, on an
aws-chunked upload, by naming that header in ``x-amz-trailer`` and sending it after the body.
``x-amz-sdk-checksum-algorithm`` may name the algorithm too and must then agree. Values are the big-endian
digest in standard base64 (what botocore sends: ``crc.to_bytes(4 or 8, "big")`` for the CRCs, ``digest()``
for the hashes); AWS refuses a value that is not exactly the canonical base64 of a digest of the right size.
``Content-MD5`` is checked on its own, with its own errors.

A multipart object's checksum is COMPOSITE, the algorithm over the concatenated binary part checksums shown
as ``<base64>-<number of parts>``, or FULL_OBJECT (CRCs only), the CRC of the whole object, which the CRC
combine operation derives from the part CRCs and lengths without reading the data again.

Every error is an S3InputError with AWS's code, message and status (the messages are AWS's verbatim, as
recorded against AWS by OpenStack Swift's test/s3api/test_input_errors.py and test_object_checksums.py, and
by LocalStack's AWS-validated S3 provider).
"""

import base64
import binascii
import enum
import hashlib
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from awscrt import checksums as crt

from keyhold.protocols.s3.input_errors import S3InputError

__all__ = [
    "Algorithm",
    "ChecksumType",
    "DeclaredChecksum",
    "Hasher",
    "S3InputError",
    "bad_digest",
    "combine_full_object",
    "composite",
    "content_md5",
    "declared_checksum",
    "malformed_trailer",
    "multipart_checksum",
    "trailer_value",
    "verify_checksum",
    "verify_content_md5",
]

HEADER_PREFIX = "x-amz-checksum-"
SDK_ALGORITHM_HEADER = "x-amz-sdk-checksum-algorithm"
MULTIPART_ALGORITHM_HEADER = "x-amz-checksum-algorithm"  # CreateMultipartUpload
TYPE_HEADER = "x-amz-checksum-type"
MODE_HEADER = "x-amz-checksum-mode"  # GetObject / HeadObject: not a checksum value
TRAILER_HEADER = "x-amz-trailer"
_NOT_VALUES = frozenset({TYPE_HEADER, MULTIPART_ALGORITHM_HEADER, MODE_HEADER})

MSG_MULTIPLE = "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
MSG_HEADER_AND_TRAILER = "Expecting a single x-amz-checksum- header"  # AWS's shorter text for header + trailer
MSG_UNKNOWN_ALGORITHM = "The algorithm type you specified in x-amz-checksum- header is invalid."
MSG_SDK_INVALID = "Value for x-amz-sdk-checksum-algorithm header is invalid."
MSG_SDK_WITHOUT_VALUE = (
    "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found."
)
MSG_TRAILER_UNSUPPORTED = "The value specified in the x-amz-trailer header is not supported"
MSG_MALFORMED_TRAILER = (
    "The request contained trailing data that was not well-formed or did not conform to our published schema."
)
MSG_MD5_INVALID = "The Content-MD5 you specified was invalid."
MSG_MD5_MISMATCH = "The Content-MD5 you specified did not match what we received."
MSG_TYPE_INVALID = "Value for x-amz-checksum-type header is invalid."
MSG_TYPE_WITHOUT_ALGORITHM = "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."


class Hasher(Protocol):
    """One running checksum: feed it the body in blocks, then read the digest (big-endian bytes) or its base64."""

    def update(self, data: bytes | bytearray | memoryview) -> None: ...

    def digest(self) -> bytes: ...

    def b64(self) -> str: ...


class _CrcHasher:
    """A CRC kept as an int; ``function(data, previous)`` continues it (zlib.crc32 and awscrt's alike)."""

    __slots__ = ("_crc", "_function", "_size")

    def __init__(self, function: Callable[[bytes | bytearray | memoryview, int], int], size: int) -> None:
        self._function = function
        self._size = size
        self._crc = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._crc = self._function(data, self._crc)

    def digest(self) -> bytes:
        return self._crc.to_bytes(self._size, "big")

    def b64(self) -> str:
        return base64.b64encode(self.digest()).decode("ascii")


class _HashlibHasher:
    """A hashlib hash (it releases the GIL on large blocks, so several uploads hash in parallel)."""

    __slots__ = ("_hash",)

    def __init__(self, name: str) -> None:
        self._hash = hashlib.new(name, usedforsecurity=False) if name in ("md5", "sha1") else hashlib.new(name)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._hash.update(data)

    def digest(self) -> bytes:
        return self._hash.digest()

    def b64(self) -> str:
        return base64.b64encode(self._hash.digest()).decode("ascii")


class _XxHasher:
    """An xxHash from awscrt (what botocore uses); finalize() ends it, so the digest is kept once read."""

    __slots__ = ("_digest", "_hash")

    def __init__(self, factory: Callable[[], crt.XXHash]) -> None:
        self._hash = factory()
        self._digest: bytes | None = None

    def update(self, data: bytes | bytearray | memoryview) -> None:
        if self._digest is not None:
            raise ValueError("update() after digest()")
        self._hash.update(data if isinstance(data, bytes) else bytes(data))  # it takes no buffer it must release

    def digest(self) -> bytes:
        if self._digest is None:
            self._digest = bytes(self._hash.finalize())
        return self._digest

    def b64(self) -> str:
        return base64.b64encode(self.digest()).decode("ascii")


def _crc32(data: bytes | bytearray | memoryview, previous: int) -> int:
    return zlib.crc32(data, previous)  # zlib's is the fastest CRC32 here (about twice awscrt's)


def _crc32c(data: bytes | bytearray | memoryview, previous: int) -> int:
    return int(crt.crc32c(data, previous))


def _crc64nvme(data: bytes | bytearray | memoryview, previous: int) -> int:
    return int(crt.crc64nvme(data, previous))


class ChecksumType(enum.Enum):
    COMPOSITE = "COMPOSITE"
    FULL_OBJECT = "FULL_OBJECT"


class Algorithm(enum.Enum):
    """The checksum algorithms of botocore 1.43's S3 model (``ChecksumAlgorithm``), by their wire names."""

    CRC32 = "CRC32"
    CRC32C = "CRC32C"
    CRC64NVME = "CRC64NVME"
    SHA1 = "SHA1"
    SHA256 = "SHA256"
    SHA512 = "SHA512"
    MD5 = "MD5"
    XXHASH64 = "XXHASH64"
    XXHASH3 = "XXHASH3"
    XXHASH128 = "XXHASH128"

    @property
    def header(self) -> str:
        """The request/response header carrying its value, e.g. ``x-amz-checksum-crc32``."""
        return HEADER_PREFIX + self.value.lower()

    @property
    def digest_size(self) -> int:
        return _DIGEST_SIZES[self]

    @property
    def is_crc(self) -> bool:
        """A CRC: its part checksums combine into a FULL_OBJECT checksum."""
        return self in _CRC_COMBINE

    def hasher(self) -> Hasher:
        if self is Algorithm.CRC32:
            return _CrcHasher(_crc32, 4)
        if self is Algorithm.CRC32C:
            return _CrcHasher(_crc32c, 4)
        if self is Algorithm.CRC64NVME:
            return _CrcHasher(_crc64nvme, 8)
        if self in _XXHASH_FACTORIES:
            return _XxHasher(_XXHASH_FACTORIES[self])
        return _HashlibHasher(self.value.lower())

    @classmethod
    def from_name(cls, name: str) -> "Algorithm | None":
        """The algorithm a header names (any case), or None."""
        return _BY_NAME.get(name.strip().upper())


_DIGEST_SIZES = {
    Algorithm.CRC32: 4,
    Algorithm.CRC32C: 4,
    Algorithm.CRC64NVME: 8,
    Algorithm.SHA1: 20,
    Algorithm.SHA256: 32,
    Algorithm.SHA512: 64,
    Algorithm.MD5: 16,
    Algorithm.XXHASH64: 8,
    Algorithm.XXHASH3: 8,
    Algorithm.XXHASH128: 16,
}
_XXHASH_FACTORIES: dict[Algorithm, Callable[[], crt.XXHash]] = {
    Algorithm.XXHASH64: crt.XXHash.new_xxhash64,
    Algorithm.XXHASH3: crt.XXHash.new_xxhash3_64,
    Algorithm.XXHASH128: crt.XXHash.new_xxhash3_128,
}
_CRC_COMBINE: dict[Algorithm, Callable[[int, int, int], int]] = {
    Algorithm.CRC32: crt.combine_crc32,
    Algorithm.CRC32C: crt.combine_crc32c,
    Algorithm.CRC64NVME: crt.combine_crc64nvme,
}
_BY_NAME = {algorithm.value: algorithm for algorithm in Algorithm}
_BY_HEADER = {algorithm.header: algorithm for algorithm in Algorithm}
# Multipart uploads: the algorithms AWS documents for CreateMultipartUpload and the types each allows.
MULTIPART_ALGORITHMS = (Algorithm.CRC32, Algorithm.CRC32C, Algorithm.CRC64NVME, Algorithm.SHA1, Algorithm.SHA256)
MSG_MULTIPART_UNSUPPORTED = (
    "Checksum algorithm provided is unsupported. Please try again with any of the valid types: "
    f"[{', '.join(algorithm.value for algorithm in MULTIPART_ALGORITHMS)}]"
)


@dataclass(frozen=True, slots=True)
class DeclaredChecksum:
    """The checksum a request declares for its body.

    ``value`` is the base64 digest from the header, or None when it comes in the trailer named ``header``.
    """

    algorithm: Algorithm
    value: str | None

    @property
    def header(self) -> str:
        return self.algorithm.header

    @property
    def in_trailer(self) -> bool:
        return self.value is None


def _invalid_request(message: str) -> S3InputError:
    return S3InputError("InvalidRequest", message, 400)


def malformed_trailer() -> S3InputError:
    return S3InputError("MalformedTrailerError", MSG_MALFORMED_TRAILER, 400)


def bad_digest(algorithm: Algorithm, *, complete_multipart: bool = False) -> S3InputError:
    """The checksum the client gave does not match: ``The CRC32 you specified...`` (PutObject, UploadPart).

    CompleteMultipartUpload names the algorithm in lower case (``The crc32 you specified...``).
    """
    name = algorithm.value.lower() if complete_multipart else algorithm.value
    return S3InputError("BadDigest", f"The {name} you specified did not match the calculated checksum.", 400)


def _strict_b64(value: str, size: int) -> bytes | None:
    """The digest a base64 value holds, or None unless it is exactly the canonical encoding of ``size`` bytes."""
    text = value.strip()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != size or base64.b64encode(raw).decode("ascii") != text:
        return None  # e.g. 'y/Q5Jh==': decodes, but is not what any digest encodes to; AWS refuses it
    return raw


def _trailer_names(value: str) -> list[str]:
    """The header names in ``x-amz-trailer``, as AWS splits them: empty entries only at the end are dropped."""
    parts = value.strip().split(",")
    while len(parts) > 1 and parts[-1] == "":
        parts.pop()
    return parts


def declared_checksum(headers: Mapping[str, str], *, trailer_allowed: bool) -> DeclaredChecksum | None:
    """The checksum a PutObject / UploadPart (or any body-carrying request) declares, or None.

    ``headers`` has lower-case names. ``trailer_allowed`` is whether the body is aws-chunked with trailers
    (STREAMING-UNSIGNED-PAYLOAD-TRAILER or STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER); a checksum named in
    ``x-amz-trailer`` otherwise is a MalformedTrailerError, as on AWS. Checks run in AWS's order: repeated
    checksums first, then unknown algorithms, then the SDK algorithm header, then the value.
    """
    in_headers = [name for name in headers if name.startswith(HEADER_PREFIX) and name not in _NOT_VALUES]
    trailer_header = headers.get(TRAILER_HEADER)
    in_trailer: list[Algorithm] = []
    if trailer_header is not None:
        for name in _trailer_names(trailer_header):
            algorithm = _BY_HEADER.get(name.strip().lower())
            if algorithm is None:
                raise _invalid_request(MSG_TRAILER_UNSUPPORTED)
            in_trailer.append(algorithm)
    if len(in_headers) + len(in_trailer) > 1:
        raise _invalid_request(MSG_HEADER_AND_TRAILER if len(in_headers) == len(in_trailer) == 1 else MSG_MULTIPLE)
    declared: DeclaredChecksum | None = None
    if in_headers:
        algorithm = _BY_HEADER.get(in_headers[0])
        if algorithm is None:
            raise _invalid_request(MSG_UNKNOWN_ALGORITHM)
        declared = DeclaredChecksum(algorithm, headers[in_headers[0]])
    elif in_trailer:
        if not trailer_allowed:
            raise malformed_trailer()
        declared = DeclaredChecksum(in_trailer[0], None)
    sdk = headers.get(SDK_ALGORITHM_HEADER)
    if sdk is not None:
        named = Algorithm.from_name(sdk)
        if named is None or (declared is not None and named is not declared.algorithm):
            raise _invalid_request(MSG_SDK_INVALID)
        if declared is None:
            raise _invalid_request(MSG_SDK_WITHOUT_VALUE)
    if declared is not None and declared.value is not None:
        raw = _strict_b64(declared.value, declared.algorithm.digest_size)
        if raw is None:
            raise _invalid_request(f"Value for {declared.header} header is invalid.")
        declared = DeclaredChecksum(declared.algorithm, declared.value.strip())
    return declared


def trailer_value(declared: DeclaredChecksum, trailers: Mapping[str, str]) -> str:
    """The base64 value the trailer carries for a checksum declared in ``x-amz-trailer``."""
    value = trailers.get(declared.header)
    if value is None:
        raise malformed_trailer()
    if _strict_b64(value, declared.algorithm.digest_size) is None:
        raise _invalid_request(f"Value for {declared.header} trailing header is invalid.")
    return value.strip()


def verify_checksum(declared: DeclaredChecksum, digest: bytes, trailers: Mapping[str, str] | None = None) -> str:
    """Check the body's ``digest`` against what the request declared; return the verified base64 value.

    ``trailers`` (from the chunked decoder's ``finish()``) supplies the value when it came in the trailer.
    """
    value = declared.value if declared.value is not None else trailer_value(declared, trailers or {})
    computed = base64.b64encode(digest).decode("ascii")
    if computed != value:
        raise bad_digest(declared.algorithm)
    return computed


def content_md5(headers: Mapping[str, str]) -> bytes | None:
    """The 16-byte MD5 the ``Content-MD5`` header declares, or None; InvalidDigest when it is not one."""
    value = headers.get("content-md5")
    if value is None:
        return None
    raw = _strict_b64(value, 16)
    if raw is None:
        raise S3InputError("InvalidDigest", MSG_MD5_INVALID, 400, (("Content-MD5", value),))
    return raw


def verify_content_md5(expected: bytes, digest: bytes) -> None:
    """BadDigest unless the body's MD5 is the declared one (AWS reflects the expected MD5 back in hex)."""
    if expected != digest:
        details = (
            ("ExpectedDigest", expected.hex()),
            ("CalculatedDigest", base64.b64encode(digest).decode("ascii")),
        )
        raise S3InputError("BadDigest", MSG_MD5_MISMATCH, 400, details)


def multipart_checksum(headers: Mapping[str, str]) -> tuple[Algorithm, ChecksumType] | None:
    """The checksum algorithm and type a CreateMultipartUpload asks for, or None.

    The type defaults to FULL_OBJECT for CRC64NVME and to COMPOSITE for the others; SHA-1 and SHA-256 cannot
    be FULL_OBJECT and CRC64NVME cannot be COMPOSITE.
    """
    name = headers.get(MULTIPART_ALGORITHM_HEADER)
    type_name = headers.get(TYPE_HEADER)
    algorithm = None
    if name is not None:
        algorithm = Algorithm.from_name(name)
        if algorithm not in MULTIPART_ALGORITHMS:
            raise _invalid_request(MSG_MULTIPART_UNSUPPORTED)
    checksum_type = None
    if type_name is not None:
        try:
            checksum_type = ChecksumType(type_name.strip().upper())
        except ValueError:
            raise _invalid_request(MSG_TYPE_INVALID) from None
    if algorithm is None:
        if checksum_type is not None:
            raise _invalid_request(MSG_TYPE_WITHOUT_ALGORITHM)
        return None
    if checksum_type is None:
        checksum_type = ChecksumType.FULL_OBJECT if algorithm is Algorithm.CRC64NVME else ChecksumType.COMPOSITE
    if (checksum_type is ChecksumType.FULL_OBJECT and not algorithm.is_crc) or (
        checksum_type is ChecksumType.COMPOSITE and algorithm is Algorithm.CRC64NVME
    ):
        raise _invalid_request(
            f"The {checksum_type.value} checksum type cannot be used with the {algorithm.value.lower()} "
            "checksum algorithm."
        )
    return algorithm, checksum_type


def composite(algorithm: Algorithm, part_digests: Sequence[bytes]) -> str:
    """A COMPOSITE multipart checksum: the algorithm over the concatenated part digests, ``<base64>-<parts>``."""
    hasher = algorithm.hasher()
    for digest in part_digests:
        if len(digest) != algorithm.digest_size:
            raise ValueError(f"a {algorithm.value} digest has {algorithm.digest_size} bytes, not {len(digest)}")
        hasher.update(digest)
    return f"{hasher.b64()}-{len(part_digests)}"


def combine_full_object(algorithm: Algorithm, parts: Sequence[tuple[bytes, int]]) -> bytes:
    """A FULL_OBJECT checksum: the CRC of the whole object from each part's (CRC digest, length in bytes)."""
    combine = _CRC_COMBINE.get(algorithm)
    if combine is None:
        raise ValueError(f"{algorithm.value} checksums do not combine into a FULL_OBJECT checksum")
    size = algorithm.digest_size
    crc = 0  # the CRC of no data, for every CRC here
    for digest, length in parts:
        if len(digest) != size or length < 0:
            raise ValueError(f"a {algorithm.value} part is a {size}-byte digest and a length >= 0")
        crc = combine(crc, int.from_bytes(digest, "big"), length)
    return crc.to_bytes(size, "big")

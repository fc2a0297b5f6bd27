"""aws-chunked request bodies (SigV4 streaming uploads): an incremental decoder; pure, no I/O.

The x-amz-content-sha256 header of an Authorization-header request selects the format:

    STREAMING-UNSIGNED-PAYLOAD-TRAILER
        <hex size>\\r\\n<data>\\r\\n ... 0\\r\\n<trailers>\\r\\n
    STREAMING-AWS4-HMAC-SHA256-PAYLOAD
        <hex size>;chunk-signature=<sig>\\r\\n<data>\\r\\n ... 0;chunk-signature=<sig>\\r\\n\\r\\n
    STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER
        as above up to the final chunk's header, then <trailers>x-amz-trailer-signature:<sig>\\r\\n\\r\\n

where <trailers> is zero or more ``name:value\\r\\n`` lines (botocore sends the unsigned kind, with the
checksum named in x-amz-trailer). Each chunk signature is HMAC-SHA256(signing key, string to sign) in hex:

    AWS4-HMAC-SHA256-PAYLOAD \\n amz date \\n scope \\n previous signature \\n sha256hex("") \\n sha256hex(data)

the first previous signature being the request's own (the seed). The trailer signature signs

    AWS4-HMAC-SHA256-TRAILER \\n amz date \\n scope \\n last chunk signature \\n sha256hex(trailer lines)

with each trailer line as ``name:value\\n`` (``\\n`` alone when there are none).

How AWS reads the framing (recorded against AWS in OpenStack Swift's test/s3api/test_input_errors.py) and so
how this decoder reads it: lines end with CRLF exactly; a broken frame, a missing signature, a missing final
chunk or a body that ends early is 400 IncompleteBody; after the final chunk the trailer lines run to an empty
line or to the end of the body (but a signed trailer must end with its empty line), later duplicates win, and
anything after that empty line is ignored; a trailer not named in x-amz-trailer, or one named but not sent, is
400 MalformedTrailerError; a chunk signature that does not match is 403 SignatureDoesNotMatch; with signed
chunks every chunk but the last must hold at least 8 KiB (403 InvalidChunkSizeError); and the data must add up
to x-amz-decoded-content-length (400 IncompleteBody, with both numbers).

``feed`` hands back payload as it arrives: it is not authenticated, nor known to be complete, until
``finish`` returns.
"""

import datetime
import enum
import hashlib
import hmac
from collections.abc import Mapping

from keyhold.protocols.s3.checksums import malformed_trailer
from keyhold.protocols.s3.input_errors import S3InputError
from keyhold.protocols.sigv4 import SignedRequest, signing_key

__all__ = [
    "ChunkedDecoder",
    "StreamingMode",
    "decoded_content_length",
    "streaming_mode",
]

CONTENT_SHA256_HEADER = "x-amz-content-sha256"
DECODED_LENGTH_HEADER = "x-amz-decoded-content-length"
TRAILER_SIGNATURE = "x-amz-trailer-signature"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MIN_SIGNED_CHUNK = 8192  # every signed chunk but the last
MAX_LINE = 4096  # a chunk header or trailer line; real ones are under 200 bytes
MAX_SIZE_DIGITS = 16  # hex digits of a chunk size

MSG_TERMINATED = "The request body terminated unexpectedly"
MSG_LENGTH = "You did not provide the number of bytes specified by the Content-Length HTTP header"
MSG_MISSING_LENGTH = "You must provide the Content-Length HTTP header."
MSG_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your key and signing method."
)
MSG_CHUNK_SIZE = "Only the last chunk is allowed to have a size less than 8192 bytes"
MSG_CONTENT_SHA256 = (
    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, "
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or "
    "a valid sha256 value."
)
MSG_NOT_IMPLEMENTED = "A header you provided implies functionality that is not implemented"
_SIGV4A_STREAMING = ("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER")


class StreamingMode(enum.Enum):
    """An aws-chunked format, named by its x-amz-content-sha256 value."""

    UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"

    @property
    def signed(self) -> bool:
        return self is not StreamingMode.UNSIGNED_TRAILER

    @property
    def has_trailer(self) -> bool:
        """Whether the body may end with trailing headers (a checksum named in x-amz-trailer)."""
        return self is not StreamingMode.SIGNED


def streaming_mode(headers: Mapping[str, str]) -> StreamingMode | None:
    """The aws-chunked format of an Authorization-header request's body, or None for a plain body.

    AWS decodes by x-amz-content-sha256 alone (Content-Encoding: aws-chunked may be absent). Presigned and
    SigV2 requests do not stream: for them a STREAMING-* value is just a payload hash that does not match.
    """
    value = headers.get(CONTENT_SHA256_HEADER)
    if value is None or not value.startswith("STREAMING-"):
        return None
    try:
        return StreamingMode(value)
    except ValueError:
        pass
    if value in _SIGV4A_STREAMING:  # SigV4a: Keyhold verifies no ECDSA signatures
        raise S3InputError("NotImplemented", MSG_NOT_IMPLEMENTED, 501, (("Header", CONTENT_SHA256_HEADER),))
    details = (("ArgumentName", CONTENT_SHA256_HEADER), ("ArgumentValue", value))
    raise S3InputError("InvalidArgument", MSG_CONTENT_SHA256, 400, details)


def decoded_content_length(headers: Mapping[str, str]) -> int:
    """x-amz-decoded-content-length, which a streaming upload must send (AWS: 411 MissingContentLength)."""
    value = headers.get(DECODED_LENGTH_HEADER, "").strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 19):
        raise S3InputError("MissingContentLength", MSG_MISSING_LENGTH, 411)
    return int(value)


class _State(enum.Enum):
    HEADER = 1  # reading a chunk header line
    DATA = 2  # passing chunk data through
    DATA_END = 3  # reading the CRLF after chunk data
    TRAILER = 4  # reading trailer lines, after the final chunk
    DONE = 5  # past the empty line that ends the trailers: the rest is ignored


def _incomplete() -> S3InputError:
    return S3InputError("IncompleteBody", MSG_TERMINATED, 400)


def _length_mismatch(expected: int, provided: int) -> S3InputError:
    details = (("NumberBytesExpected", str(expected)), ("NumberBytesProvided", str(provided)))
    return S3InputError("IncompleteBody", MSG_LENGTH, 400, details)


class ChunkedDecoder:
    """Decodes one aws-chunked body fed in blocks of any size, split anywhere.

    ``decoded_length`` is x-amz-decoded-content-length; ``trailer`` the checksum header x-amz-trailer names
    (lower case), the only trailer then accepted. Signed modes need the request's signing key, X-Amz-Date
    (``20130524T000000Z``), credential scope (``20130524/us-east-1/s3/aws4_request``) and signature (the
    seed); ``for_request`` takes them from a verified sigv4.SignedRequest.

    Memory is bounded: payload is handed straight back, and besides it only the current header or trailer
    line (at most MAX_LINE bytes) and the declared trailer's value are kept.
    """

    def __init__(
        self,
        mode: StreamingMode,
        *,
        decoded_length: int | None = None,
        trailer: str | None = None,
        signing_key: bytes | None = None,
        amz_date: str | None = None,
        scope: str | None = None,
        seed_signature: str | None = None,
    ) -> None:
        if mode.signed and (signing_key is None or amz_date is None or scope is None or seed_signature is None):
            raise ValueError("a signed aws-chunked body needs signing_key, amz_date, scope and seed_signature")
        if trailer is not None and not mode.has_trailer:
            raise ValueError(f"{mode.value} has no trailer")
        self.mode = mode
        self._expected = decoded_length
        self._trailer = trailer.lower() if trailer is not None else None
        self._key = signing_key or b""
        self._prefix = f"\n{amz_date}\n{scope}\n"
        self._previous = seed_signature or ""
        self._state = _State.HEADER
        self._line = bytearray()  # the part of the current line seen so far (HEADER and TRAILER states)
        self._remaining = 0  # data bytes still due in the current chunk
        self._crlf = 0  # bytes of the CRLF after chunk data seen so far
        self._chunk_signature = ""
        self._chunk_hash = hashlib.sha256()
        self._chunks = 0  # chunk headers read
        self._last_size: int | None = None  # size of the previous data chunk
        self.decoded = 0  # payload bytes handed back so far
        self.ignored = 0  # bytes after the end of the body, which AWS ignores too
        self._trailers: dict[str, str] = {}
        self._trailer_lines = 0
        self._trailer_hash = hashlib.sha256()  # of the canonical trailer lines (signed trailer)
        self._trailer_signed = False

    @classmethod
    def for_request(
        cls,
        mode: StreamingMode,
        signed: SignedRequest,
        secret_access_key: str,
        *,
        decoded_length: int | None = None,
        trailer: str | None = None,
    ) -> "ChunkedDecoder":
        """A decoder for the body of a request whose seed signature sigv4.verify has accepted."""
        when = signed.amz_date.astimezone(datetime.UTC)
        amz_date = f"{when.year:04d}{when.month:02d}{when.day:02d}T{when.hour:02d}{when.minute:02d}{when.second:02d}Z"
        return cls(
            mode,
            decoded_length=decoded_length,
            trailer=trailer,
            signing_key=signing_key(secret_access_key, signed.date, signed.region, signed.service),
            amz_date=amz_date,
            scope=f"{signed.date}/{signed.region}/{signed.service}/aws4_request",
            seed_signature=signed.signature,
        )

    def feed(self, data: bytes | bytearray | memoryview) -> bytes:
        """Decode the next part of the body; returns the payload bytes it completes (maybe b"")."""
        if not isinstance(data, bytes):
            data = bytes(data)
        view = memoryview(data)
        size = len(data)
        pieces: list[memoryview] = []
        position = 0
        while position < size:
            state = self._state
            if state is _State.DATA:
                end = min(size, position + self._remaining)
                piece = view[position:end]
                if self.mode.signed:
                    self._chunk_hash.update(piece)
                pieces.append(piece)
                self._remaining -= end - position
                self.decoded += end - position
                position = end
                if self._remaining == 0:
                    self._state = _State.DATA_END
                    if self.mode.signed:
                        self._check_chunk_signature(self._chunk_hash.hexdigest())
            elif state is _State.DATA_END:
                if data[position] != b"\r\n"[self._crlf]:
                    raise _incomplete()
                position += 1
                self._crlf += 1
                if self._crlf == 2:
                    self._state = _State.HEADER
            elif state is _State.DONE:
                self.ignored += size - position
                position = size
            else:
                line, position = self._take_line(data, position)
                if line is not None:
                    if state is _State.HEADER:
                        self._chunk_header(line)
                    else:
                        self._trailer_line(line)
        if not pieces:
            return b""
        if len(pieces) == 1 and len(pieces[0]) == size:
            return data  # the whole block was payload: no copy
        return b"".join(pieces)

    def finish(self) -> dict[str, str]:
        """Check that the body ended properly; return its trailers (lower-case names, trimmed values)."""
        state = self._state
        if state is _State.TRAILER and not self._line and self.mode is not StreamingMode.SIGNED_TRAILER:
            state = _State.DONE  # the unsigned trailers may end with the body, without their empty line (AWS)
        if state is not _State.DONE:
            raise _incomplete()
        if self._trailer is not None and self._trailer not in self._trailers:
            raise malformed_trailer()
        return dict(self._trailers)

    def _take_line(self, data: bytes, position: int) -> tuple[bytes | None, int]:
        """The line ending at the next CRLF (without it) and the position after it, or None if still open."""
        line = self._line
        if line and line[-1] == 0x0D and data[position] == 0x0A:  # the CRLF was split between two blocks
            text = bytes(line[:-1])
            line.clear()
            return text, position + 1
        room = MAX_LINE - len(line)  # how much more of the line may come before its CRLF
        end = data.find(b"\r\n", position, position + room + 2)
        if end < 0:
            if len(data) - position > room + 1:  # + 1: a CR whose LF starts the next block
                raise self._line_too_long()
            line += data[position:]
            return None, len(data)
        line += data[position:end]
        text = bytes(line)
        line.clear()
        return text, end + 2

    def _line_too_long(self) -> S3InputError:
        return _incomplete() if self._state is _State.HEADER else malformed_trailer()

    def _chunk_header(self, line: bytes) -> None:
        size_text, has_extension, extensions = line.partition(b";")
        size_text = size_text.strip()
        if not size_text or len(size_text) > MAX_SIZE_DIGITS or size_text.strip(b"0123456789abcdefABCDEF"):
            raise _incomplete()
        chunk_size = int(size_text, 16)
        self._chunks += 1
        if self.mode.signed:
            self._chunk_signature = self._read_signature(has_extension, extensions)
            if chunk_size and self._last_size is not None and self._last_size < MIN_SIGNED_CHUNK:
                details = (("Chunk", str(self._chunks)), ("BadChunkSize", str(self._last_size)))
                raise S3InputError("InvalidChunkSizeError", MSG_CHUNK_SIZE, 403, details)
        if self._expected is not None and self.decoded + chunk_size > self._expected:
            raise _length_mismatch(self._expected, self.decoded + chunk_size)
        if chunk_size == 0:  # the final chunk
            if self.mode.signed:
                self._check_chunk_signature(EMPTY_SHA256)
            if self._expected is not None and self.decoded != self._expected:
                raise _length_mismatch(self._expected, self.decoded)
            self._state = _State.TRAILER
            return
        self._last_size = chunk_size
        self._remaining = chunk_size
        self._crlf = 0
        self._chunk_hash = hashlib.sha256()
        self._state = _State.DATA

    @staticmethod
    def _read_signature(has_extension: bytes, extensions: bytes) -> str:
        """The chunk-signature extension's value. As on AWS: no signature is IncompleteBody, another
        extension in its place is a signature that does not match, and anything after it is IncompleteBody."""
        name, _, value = extensions.partition(b"=")
        value = value.strip()
        if not has_extension or not value:
            raise _incomplete()
        if name.strip() != b"chunk-signature":
            return value.decode("latin-1")  # never a valid signature: reported as SignatureDoesNotMatch
        if b";" in value:
            raise _incomplete()
        return value.decode("latin-1")

    def _check_chunk_signature(self, data_sha256: str) -> None:
        to_sign = f"AWS4-HMAC-SHA256-PAYLOAD{self._prefix}{self._previous}\n{EMPTY_SHA256}\n{data_sha256}"
        self._previous = self._check_signature(to_sign, self._chunk_signature)

    def _check_signature(self, to_sign: str, provided: str) -> str:
        expected = hmac.new(self._key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), provided.encode("latin-1")):
            details = (("StringToSign", to_sign), ("SignatureProvided", provided))
            raise S3InputError("SignatureDoesNotMatch", MSG_SIGNATURE, 403, details)
        return expected

    def _trailer_line(self, line: bytes) -> None:
        if not line:
            if self.mode is StreamingMode.SIGNED_TRAILER and not self._trailer_signed:
                if self._trailer_lines == 0:
                    self._trailer_lines = -1  # one empty line before the trailers, as some clients send: skip it
                    return
                raise _incomplete()  # the trailer signature is missing
            self._state = _State.DONE
            return
        if self._trailer_signed:
            raise malformed_trailer()  # nothing may follow the trailer signature but the empty line
        name_bytes, colon, value_bytes = line.partition(b":")
        name = name_bytes.strip().decode("latin-1").lower()
        value = value_bytes.strip().decode("latin-1")
        if not colon or not name:
            raise malformed_trailer()
        self._trailer_lines = max(self._trailer_lines, 0) + 1
        if self.mode is StreamingMode.SIGNED_TRAILER and name == TRAILER_SIGNATURE:
            canonical = self._trailer_hash.hexdigest() if self._trailer_lines > 1 else hashlib.sha256(b"\n").hexdigest()
            to_sign = f"AWS4-HMAC-SHA256-TRAILER{self._prefix}{self._previous}\n{canonical}"
            self._previous = self._check_signature(to_sign, value)
            self._trailer_signed = True
            return
        if name != self._trailer:
            raise malformed_trailer()
        self._trailers[name] = value  # a later duplicate wins, as on AWS
        self._trailer_hash.update(f"{name}:{value}\n".encode("latin-1"))

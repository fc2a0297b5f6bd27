"""An upload's body as the object store reads it: arriving in blocks, decoded, and checked at its end.

    raw blocks ─> aws-chunked decoding (when Content-Encoding says so; chunk signatures checked)
               ─> payload blocks, hashed on the way: the declared x-amz-checksum-*, Content-MD5, the signed SHA-256
               ─> at the end: every declared value compared; a mismatch raises S3InputError before anything commits

The domain iterates a RequestPayload exactly once; ``checksum`` is valid after that.
"""

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

from keyhold.domain.identity.model import Credential
from keyhold.domain.objects.model import Checksum
from keyhold.protocols.http import Request
from keyhold.protocols.s3 import checksums, chunked
from keyhold.protocols.s3.input_errors import S3InputError
from keyhold.protocols.sigv4 import UNSIGNED_PAYLOAD, parse

MAX_SINGLE_PUT = 5 * 1024**3
MSG_TOO_LARGE = "Your proposed upload exceeds the maximum allowed size"
MSG_NO_LENGTH = "You must provide the Content-Length HTTP header."


class RequestPayload:
    def __init__(
        self,
        request: Request,
        credentials: Callable[[str], Credential | None],
        *,
        max_size: int = MAX_SINGLE_PUT,
        checksum_type: str = "FULL_OBJECT",
    ) -> None:
        """Validates the body's headers now (S3 refuses before reading the body); reading happens on iteration."""
        headers = request.headers
        self._request = request
        self._checksum_type = checksum_type
        self._checksum: Checksum | None = None
        self._mode = chunked.streaming_mode(headers)
        self._decoder: chunked.ChunkedDecoder | None = None
        if self._mode is not None:
            length = chunked.decoded_content_length(headers)
            trailer = headers.get(checksums.TRAILER_HEADER)
            self._decoder = self._make_decoder(request, credentials, length, trailer)
            self.length: int | None = length
        else:
            self.length = _content_length(headers)
            if self.length is None and request.method == "PUT":
                raise S3InputError("MissingContentLength", MSG_NO_LENGTH, 411)
        if self.length is not None and self.length > max_size:
            raise S3InputError("EntityTooLarge", MSG_TOO_LARGE, 400, (("MaxSizeAllowed", str(max_size)),))
        self._declared = checksums.declared_checksum(
            headers, trailer_allowed=self._mode is not None and self._mode.has_trailer
        )
        self._md5 = checksums.content_md5(headers)
        declared_sha = headers.get("x-amz-content-sha256", UNSIGNED_PAYLOAD)
        self._sha256 = declared_sha.lower() if _is_hex_sha256(declared_sha) else None

    def _make_decoder(
        self,
        request: Request,
        credentials: Callable[[str], Credential | None],
        length: int,
        trailer: str | None,
    ) -> chunked.ChunkedDecoder:
        assert self._mode is not None
        trailer_name = trailer.strip().lower() if trailer and self._mode.has_trailer else None
        if not self._mode.signed:
            return chunked.ChunkedDecoder(self._mode, decoded_length=length, trailer=trailer_name)
        signed = parse(request)  # verified already; read again for the seed signature and scope
        credential = credentials(signed.access_key_id)
        if credential is None:
            raise S3InputError(
                "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", 403
            )
        return chunked.ChunkedDecoder.for_request(
            self._mode, signed, credential.secret_access_key, decoded_length=length, trailer=trailer_name
        )

    @property
    def checksum(self) -> Checksum | None:
        return self._checksum

    def __iter__(self) -> Iterator[bytes]:
        stream = self._request.stream
        if stream is None:
            raise S3InputError("IncompleteBody", "The request body terminated unexpectedly", 400)
        hashers: list[Any] = []
        checksum = self._declared.algorithm.hasher() if self._declared is not None else None
        md5 = hashlib.md5(usedforsecurity=False) if self._md5 is not None else None
        sha = hashlib.sha256() if self._sha256 is not None else None
        hashers = [h for h in (checksum, md5, sha) if h is not None]
        decoder = self._decoder
        total = 0
        while block := stream.read_block():
            payload = decoder.feed(block) if decoder is not None else block
            if decoder is not None and sha is not None:
                sha.update(block)  # the signed hash of a chunked body covers the encoded bytes
            if not payload:
                continue
            total += len(payload)
            for hasher in hashers:
                if hasher is not sha or decoder is None:
                    hasher.update(payload)
            yield payload
        trailers = decoder.finish() if decoder is not None else {}
        if decoder is None and self.length is not None and total != self.length:
            raise S3InputError(
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length HTTP header",
                400,
                (("NumberBytesExpected", str(self.length)), ("NumberBytesProvided", str(total))),
            )
        if sha is not None and sha.hexdigest() != self._sha256:
            raise S3InputError(
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                400,
                (("ClientComputedContentSHA256", self._sha256 or ""), ("S3ComputedContentSHA256", sha.hexdigest())),
            )
        if md5 is not None and self._md5 is not None:
            checksums.verify_content_md5(self._md5, md5.digest())
        if checksum is not None and self._declared is not None:
            value = checksums.verify_checksum(self._declared, checksum.digest(), trailers)
            self._checksum = Checksum(self._declared.algorithm.value, value, self._checksum_type)


def _content_length(headers: dict[str, str]) -> int | None:
    value = headers.get("content-length")
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit():
        raise S3InputError("InvalidArgument", "Content-Length must be a number", 400)
    return int(value)


def _is_hex_sha256(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value)

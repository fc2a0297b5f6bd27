"""``EncryptionClient``: put and get S3EC-encrypted objects through any boto3 S3 client.

Whole bodies in memory for now; streaming (multipart, bounded memory) comes later. Ranged get exists only
unauthenticated (``get_object_range_unauthenticated``).
"""

from collections.abc import Mapping
from typing import Any, Literal

from botocore.exceptions import ClientError

from keyhold.crypto import s3ec
from keyhold.crypto.errors import InvalidCiphertext
from keyhold.crypto.rand import RandomSource, system_random
from keyhold.cse import metadata as md
from keyhold.cse.errors import NotEncrypted, TamperedObject
from keyhold.cse.keyrings import Keyring

Format = Literal["v3", "v2"]


class EncryptionClient:
    """Encrypts on put and decrypts on get. ``format="v3"`` (default: suite 0x0073 with key commitment) or
    ``"v2"`` (AES/GCM/NoPadding, for older readers). Reads V2 and V3 whatever ``format`` is, with or without
    instruction files. ``instruction_file=True`` writes the data key to ``<key>.instruction`` instead of the
    object's metadata (off by default)."""

    def __init__(
        self,
        s3_client: Any,
        keyring: Keyring,
        *,
        format: Format = "v3",
        instruction_file: bool = False,
        random: RandomSource = system_random,
    ) -> None:
        if format not in ("v3", "v2"):
            raise ValueError("format must be 'v3' or 'v2'")
        self.s3_client = s3_client
        self.keyring = keyring
        self.format = format
        self.instruction_file = instruction_file
        self._random = random

    def put_object(
        self,
        Bucket: str,
        Key: str,
        Body: bytes | Any = b"",
        EncryptionContext: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> Any:
        """Encrypt ``Body`` (bytes or a readable) and put it; ``extra`` goes to S3 ``put_object`` (``Metadata``
        is merged with the encryption metadata, whose keys it may not use). Returns S3's response for the object.

        With ``instruction_file=True`` the instruction file is put first (plain ``Bucket``/``Key``/``Body``/
        ``Metadata``, ``extra`` not applied), then the object, so a new object never lacks its file."""
        plaintext = Body if isinstance(Body, bytes | bytearray | memoryview) else Body.read()
        plaintext = bytes(plaintext)
        user_metadata = dict(extra.pop("Metadata", None) or {})
        clashing = sorted(k for k in user_metadata if k.lower() in md.RESERVED_KEYS)
        if clashing:
            raise ValueError(f"metadata keys reserved for client-side encryption: {', '.join(clashing)}")
        context = dict(EncryptionContext or {})
        if self.format == "v3":
            data_key = self.keyring.generate(s3ec.V3_CEK_ALG, context)
            header, body = s3ec.encrypt_v3(data_key.plaintext, plaintext, random=self._random)
            encryption_metadata = md.build_v3(
                wrap_alg=data_key.wrap_alg,
                encrypted_data_key=data_key.encrypted,
                header=header,
                stored_context=data_key.stored_context,
            )
        else:
            data_key = self.keyring.generate(s3ec.V2_CEK_ALG, context)
            iv, body = s3ec.encrypt_v2(data_key.plaintext, plaintext, random=self._random)
            encryption_metadata = md.build_v2(
                wrap_alg=data_key.wrap_alg,
                encrypted_data_key=data_key.encrypted,
                iv=iv,
                stored_context=data_key.stored_context,
                plaintext_length=len(plaintext),
            )
        if self.instruction_file:
            encryption_metadata, instruction = md.split_for_instruction_file(encryption_metadata)
            self.s3_client.put_object(
                Bucket=Bucket,
                Key=Key + md.INSTRUCTION_SUFFIX,
                Body=instruction,
                Metadata={md.INSTRUCTION_FILE_MARKER: ""},
            )
        return self.s3_client.put_object(
            Bucket=Bucket, Key=Key, Body=body, Metadata={**user_metadata, **encryption_metadata}, **extra
        )

    def get_object(
        self,
        Bucket: str,
        Key: str,
        EncryptionContext: Mapping[str, str] | None = None,
        InstructionFileSuffix: str = md.INSTRUCTION_SUFFIX,
    ) -> bytes:
        """Get and decrypt a V2 or V3 object; the plaintext only after every check has passed. An object whose
        metadata holds no data key is read with ``<Key><InstructionFileSuffix>``."""
        response = self.s3_client.get_object(Bucket=Bucket, Key=Key)
        body = response["Body"].read()
        metadata = response.get("Metadata") or {}
        instruction = self._instruction_file_for(Bucket, Key, metadata, InstructionFileSuffix)
        return self.decrypt(metadata, body, EncryptionContext, instruction_file=instruction)

    def get_object_range_unauthenticated(
        self,
        Bucket: str,
        Key: str,
        start: int,
        end: int,
        EncryptionContext: Mapping[str, str] | None = None,
        InstructionFileSuffix: str = md.INSTRUCTION_SUFFIX,
    ) -> bytes:
        """UNAUTHENTICATED: plaintext bytes ``start`` to ``end`` (inclusive, as in an HTTP range; ``end`` past the
        last byte is clamped) of a V2 or V3 object, WITHOUT checking the GCM tag. Changed ciphertext in the range
        decrypts to wrong bytes and no error is raised; use ``get_object`` whenever integrity matters.

        The data key, the encryption context and (V3) the key commitment are checked as ``get_object`` does. Only
        the 16-byte-aligned ciphertext blocks covering the range are fetched (one HEAD, then a GET with ``Range``
        and ``If-Match`` on the HEAD's ETag), never the tag. ``ValueError`` for ``start < 0``, ``end < start`` or
        ``start`` at or past the plaintext length."""
        if isinstance(start, bool) or isinstance(end, bool) or not isinstance(start, int) or not isinstance(end, int):
            raise ValueError("start and end must be integers")
        if start < 0 or end < start:
            raise ValueError(f"invalid range {start}-{end}")
        head = self.s3_client.head_object(Bucket=Bucket, Key=Key)
        metadata = head.get("Metadata") or {}
        instruction = self._instruction_file_for(Bucket, Key, metadata, InstructionFileSuffix)
        content = md.parse(metadata, instruction)
        plaintext_length = int(head["ContentLength"]) - s3ec.TAG_SIZE
        if plaintext_length < 0:
            raise TamperedObject("the object is shorter than an AES-GCM tag")
        if content.plaintext_length is not None and content.plaintext_length != plaintext_length:
            raise TamperedObject(f"{md.UNENCRYPTED_LENGTH} does not match the object's length")
        if start >= plaintext_length:
            raise ValueError(f"range start {start} is not before the plaintext length {plaintext_length}")
        end = min(end, plaintext_length - 1)
        data_key = self._unwrap(content, EncryptionContext)
        first_block = start // s3ec.BLOCK_SIZE
        fetch_start = first_block * s3ec.BLOCK_SIZE
        fetch_end = min((end // s3ec.BLOCK_SIZE + 1) * s3ec.BLOCK_SIZE, plaintext_length) - 1
        response = self.s3_client.get_object(
            Bucket=Bucket, Key=Key, Range=f"bytes={fetch_start}-{fetch_end}", IfMatch=head["ETag"]
        )
        ciphertext = response["Body"].read()
        if len(ciphertext) != fetch_end - fetch_start + 1:
            raise TamperedObject("S3 returned another byte range than requested")
        try:
            if content.version == 3:
                header = s3ec.V3Header(message_id=content.message_id, commitment=content.commitment)
                plaintext = s3ec.decrypt_range_unauthenticated_v3(data_key, header, ciphertext, first_block)
            else:
                plaintext = s3ec.decrypt_range_unauthenticated_v2(data_key, content.iv, ciphertext, first_block)
        except InvalidCiphertext as exc:
            raise TamperedObject("the object's key commitment or IV is invalid") from exc
        return plaintext[start - fetch_start : end - fetch_start + 1]

    def _instruction_file_for(self, bucket: str, key: str, metadata: Mapping[str, str], suffix: str) -> bytes | None:
        """The instruction file's body when the object's metadata needs one (``None`` when it does not)."""
        use = md.instruction_file_use(metadata)
        if use is None:
            return None
        instruction_key = key + suffix
        instruction = self._get_instruction_file(bucket, instruction_key)
        if instruction is None:
            if use == "required":
                raise TamperedObject(f"the object's instruction file {instruction_key!r} is missing")
            raise NotEncrypted(
                f"the object has no S3 Encryption Client metadata and no instruction file {instruction_key!r}"
            )
        return instruction

    def _get_instruction_file(self, bucket: str, key: str) -> bytes | None:
        try:
            response = self.s3_client.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return bytes(response["Body"].read())

    def decrypt(
        self,
        object_metadata: Mapping[str, str],
        body: bytes,
        context: Mapping[str, str] | None = None,
        *,
        instruction_file: bytes | None = None,
    ) -> bytes:
        """Decrypt an object from its user metadata and whole body (as S3 returned them), and the body of its
        instruction file when its metadata holds no data key."""
        content = md.parse(object_metadata, instruction_file)
        data_key = self._unwrap(content, context)
        try:
            if content.version == 3:
                header = s3ec.V3Header(message_id=content.message_id, commitment=content.commitment)
                plaintext = s3ec.decrypt_v3(data_key, header, body)
            else:
                plaintext = s3ec.decrypt_v2(data_key, content.iv, body)
        except InvalidCiphertext as exc:
            raise TamperedObject("the object's body or key commitment fails authentication") from exc
        if content.plaintext_length is not None and content.plaintext_length != len(plaintext):
            raise TamperedObject(f"{md.UNENCRYPTED_LENGTH} does not match the decrypted length")
        return plaintext

    def _unwrap(self, content: md.ContentMetadata, context: Mapping[str, str] | None) -> bytes:
        return self.keyring.decrypt(
            content.wrap_alg,
            content.encrypted_data_key,
            cek_alg=content.cek_alg,
            stored_context=content.stored_context,
            context=dict(context or {}),
        )

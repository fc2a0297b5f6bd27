"""The seal on an object's metadata row: an HMAC under a key derived from the root key over every field.

Streams authenticate their own bytes and envelopes their own keys, but a row also says how many parts an object
has, which blobs hold them, how large it is and which envelope opens it. Someone who can write the metadata
database but has no root key could drop a part and shrink the size to match, or relabel an encrypted object as
unencrypted. With the seal, any change to a row is caught before a byte is served (docs/formats/object-envelope.md,
"The row seal"). What a seal cannot catch is an earlier, complete row of the same object put back.
"""

import json
from dataclasses import replace

from keyhold.crypto.errors import InvalidCiphertext
from keyhold.crypto.keywrap import RootKey
from keyhold.domain.objects.model import ObjectRecord

PURPOSE = b"s3-object-row"


def canonical(record: ObjectRecord) -> bytes:
    """The row's fields as canonical JSON (sorted keys, no whitespace, UTF-8), everything but the seal."""
    checksum = record.checksum
    document = {
        "bucket": record.bucket,
        "key": record.key,
        "size": record.size,
        "etag": record.etag,
        "last_modified": record.last_modified,
        "content_type": record.content_type,
        "headers": dict(record.headers),
        "user_metadata": dict(record.user_metadata),
        "checksum": None if checksum is None else [checksum.algorithm, checksum.value, checksum.type],
        "encryption": record.encryption.to_json(),
        "parts": [[p.number, p.size, p.blob_id, p.etag, p.stream_salt] for p in record.parts],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class RowSeals:
    def __init__(self, root_key: RootKey) -> None:
        self._root_key = root_key

    def seal(self, record: ObjectRecord) -> ObjectRecord:
        return replace(record, seal=self._root_key.seal_record(PURPOSE, canonical(record)))

    def check(self, record: ObjectRecord) -> ObjectRecord:
        """The record, if its seal holds; InvalidCiphertext otherwise."""
        if not self._root_key.record_sealed(record.seal, PURPOSE, canonical(record)):
            raise InvalidCiphertext
        return record

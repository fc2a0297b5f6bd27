"""Client-side encryption compatible with AWS's S3 Encryption Client formats V2 and V3 (see
docs/client-side-encryption.md). Wraps any boto3 S3 client; the store only ever sees ciphertext."""

from keyhold.cse.client import EncryptionClient
from keyhold.cse.errors import ContextMismatch, CseError, NotEncrypted, TamperedObject, UnsupportedFormat, WrongKey
from keyhold.cse.keyrings import AesKeyring, Keyring, KmsKeyring, RsaKeyring

__all__ = [
    "AesKeyring",
    "ContextMismatch",
    "CseError",
    "EncryptionClient",
    "Keyring",
    "KmsKeyring",
    "NotEncrypted",
    "RsaKeyring",
    "TamperedObject",
    "UnsupportedFormat",
    "WrongKey",
]

"""The crypto package's errors. Every failure to decrypt or unwrap is the one opaque InvalidCiphertext."""


class CryptoError(Exception):
    """Root of the errors raised by keyhold.crypto."""


class InvalidCiphertext(CryptoError):
    """Decryption failed: tampered, truncated, foreign, wrong key or wrong context. Deliberately no more."""

    def __init__(self) -> None:
        super().__init__("decryption failed")

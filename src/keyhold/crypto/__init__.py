"""Pure cryptographic primitives: no I/O, no AWS names, nothing imported from the rest of Keyhold.

Every nonce Keyhold uses is chosen in this package; services above never call an AEAD directly.
"""

"""keyhold.crypto.s3ec: known answers from AWS's Go S3EC and the reference's worked examples, checked against an
independent implementation of the format, and tamper tests on every byte."""

import base64
import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from hypothesis import given, settings
from hypothesis import strategies as st

from keyhold.crypto import s3ec
from keyhold.crypto.errors import InvalidCiphertext

# aws/amazon-s3-encryption-client-go v4/internal/key_derivation_test.go, TestDeriveKeys_KnownAnswerTests
GO_HKDF_VECTORS = [
    (
        "80d90dc4cc7e77d8a6332efa44eba56230a7fe7b89af37d1e501ab2e07c0a163",
        "b8ea76bed24c7b85382a148cb9dcd1cfdfb765f55ded4dfa6e0c4c79",
        "6dd14f546cc006e639126e83f5d4d1b118576bb5df97f38c6fb3a1db87bbc338",
        "f89818bc0a346d3a3426b68e9509b6b2ae5fe1f904aa329fb73625db",
    ),
    (
        "501afb8227d22e75e68010414b8abdaf3064c081e8e922dafef4992036394d60",
        "61a00b4981a5aacfd136c55cb726e32d2a547dc7600a7d4675c69127",
        "e14786a714748d1d2c3a4a6816dec56ddf1881bbeabb4f39420ffb9f63700b2f",
        "5c1e73e47f6fe3a70d6d094283aceaa76d2975feb829212d88f0afc1",
    ),
]
PDK = bytes.fromhex(GO_HKDF_VECTORS[0][0])
MESSAGE_ID = bytes.fromhex(GO_HKDF_VECTORS[0][1])
HELLO = b"hello world"


def fixed(*chunks: bytes):
    """A RandomSource returning the given chunks in order (and failing if asked for anything else)."""
    queue = list(chunks)

    def draw(n: int) -> bytes:
        chunk = queue.pop(0)
        assert len(chunk) == n
        return chunk

    return draw


def independent_v3_keys(data_key: bytes, message_id: bytes) -> tuple[bytes, bytes]:
    """The key schedule straight from the reference (section 1.4), without keyhold code."""
    prk = hmac.new(message_id, data_key, hashlib.sha512).digest()
    dek = HKDFExpand(hashes.SHA512(), 32, b"\x00\x73DERIVEKEY").derive(prk)
    ck = HKDFExpand(hashes.SHA512(), 28, b"\x00\x73COMMITKEY").derive(prk)
    return dek, ck


@pytest.mark.parametrize(("pdk", "message_id", "dek", "commitment"), GO_HKDF_VECTORS)
def test_hkdf_vectors_of_the_go_client(pdk: str, message_id: str, dek: str, commitment: str) -> None:
    derived = s3ec.derive_v3_keys(bytes.fromhex(pdk), bytes.fromhex(message_id))
    assert derived == (bytes.fromhex(dek), bytes.fromhex(commitment))
    assert independent_v3_keys(bytes.fromhex(pdk), bytes.fromhex(message_id)) == derived


def test_v3_worked_example() -> None:
    header, body = s3ec.encrypt_v3(PDK, HELLO, random=fixed(MESSAGE_ID))
    assert base64.b64encode(header.message_id) == b"uOp2vtJMe4U4KhSMudzRz9+3ZfVd7U36bgxMeQ=="
    assert base64.b64encode(header.commitment) == b"+JgYvAo0bTo0JraOlQm2sq5f4fkEqjKftzYl2w=="
    assert body.hex() == "ca3eed752d46c4f622f2046115bda079e9bc65e6fe2c6f29f265eb"
    dek, _ = independent_v3_keys(PDK, MESSAGE_ID)
    assert AESGCM(dek).decrypt(b"\x01" * 12, body, b"\x00\x73") == HELLO
    assert s3ec.decrypt_v3(PDK, header, body) == HELLO


def test_v2_worked_example() -> None:
    key, iv = bytes(range(32)), bytes(range(12))
    got_iv, body = s3ec.encrypt_v2(key, HELLO, random=fixed(iv))
    assert got_iv == iv
    assert body.hex() == "2f67ba77aac5b574ff2df305301c56437e2377b98ef3961c271928"
    assert AESGCM(key).decrypt(iv, body, None) == HELLO
    assert s3ec.decrypt_v2(key, iv, body) == HELLO


def test_aes_gcm_wrap_worked_example() -> None:
    wrapped = s3ec.wrap_aes_gcm(b"\x42" * 32, bytes(range(32)), s3ec.V2_CEK_ALG, random=fixed(bytes(12)))
    expected = "AAAAAAAAAAAAAAAA9LP9+liJg+CRRkEEPYa7XsHv9GEsP72s1CH05oITBSq1w5oWSPc+9Zg1psEZqokf"
    assert base64.b64encode(wrapped).decode() == expected
    assert s3ec.unwrap_aes_gcm(b"\x42" * 32, wrapped, s3ec.V2_CEK_ALG) == bytes(range(32))


def test_aes_gcm_wrap_binds_the_content_algorithm() -> None:
    wrapped = s3ec.wrap_aes_gcm(b"\x42" * 32, PDK, s3ec.V3_CEK_ALG)
    assert AESGCM(b"\x42" * 32).decrypt(wrapped[:12], wrapped[12:], b"115") == PDK
    with pytest.raises(InvalidCiphertext):
        s3ec.unwrap_aes_gcm(b"\x42" * 32, wrapped, s3ec.V2_CEK_ALG)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize("cek_alg", [s3ec.V2_CEK_ALG, s3ec.V3_CEK_ALG])
def test_rsa_oaep_sha1_pseudo_key_layout(rsa_key: rsa.RSAPrivateKey, cek_alg: str) -> None:
    wrapped = s3ec.wrap_rsa_oaep_sha1(rsa_key.public_key(), PDK, cek_alg)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303 (the format)
    assert rsa_key.decrypt(wrapped, oaep) == b"\x20" + PDK + cek_alg.encode()
    assert s3ec.unwrap_rsa_oaep_sha1(rsa_key, wrapped, cek_alg) == PDK
    other = s3ec.V3_CEK_ALG if cek_alg == s3ec.V2_CEK_ALG else s3ec.V2_CEK_ALG
    with pytest.raises(InvalidCiphertext):
        s3ec.unwrap_rsa_oaep_sha1(rsa_key, wrapped, other)


def test_rsa_unwrap_rejects_a_bad_length_byte_and_foreign_ciphertext(rsa_key: rsa.RSAPrivateKey) -> None:
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303 (the format)
    bad = rsa_key.public_key().encrypt(b"\x1f" + PDK + b"115", oaep)
    with pytest.raises(InvalidCiphertext):
        s3ec.unwrap_rsa_oaep_sha1(rsa_key, bad, "115")
    with pytest.raises(InvalidCiphertext):
        s3ec.unwrap_rsa_oaep_sha1(rsa_key, b"\x00" * 256, "115")


def test_random_values_come_from_the_random_source() -> None:
    data_key = s3ec.new_data_key(random=fixed(b"\x07" * 32))
    assert data_key == b"\x07" * 32
    header, _ = s3ec.encrypt_v3(PDK, b"", random=fixed(b"\x09" * 28))
    assert header.message_id == b"\x09" * 28
    with pytest.raises(ValueError, match="too few"):
        s3ec.encrypt_v2(PDK, b"", random=lambda n: b"\x00" * (n - 1))


def test_fresh_message_ids_give_different_bodies() -> None:
    (h1, b1), (h2, b2) = s3ec.encrypt_v3(PDK, HELLO), s3ec.encrypt_v3(PDK, HELLO)
    assert h1.message_id != h2.message_id
    assert b1 != b2


def flips(data: bytes):
    for i in range(len(data)):
        yield data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]


def test_v3_every_body_byte_and_the_commitment_are_authenticated() -> None:
    header, body = s3ec.encrypt_v3(PDK, HELLO, random=fixed(MESSAGE_ID))
    for tampered in flips(body):
        with pytest.raises(InvalidCiphertext):
            s3ec.decrypt_v3(PDK, header, tampered)
    for commitment in flips(header.commitment):
        with pytest.raises(InvalidCiphertext):
            s3ec.decrypt_v3(PDK, s3ec.V3Header(header.message_id, commitment), body)
    for message_id in flips(header.message_id):
        with pytest.raises(InvalidCiphertext):
            s3ec.decrypt_v3(PDK, s3ec.V3Header(message_id, header.commitment), body)
    for cut in (body[:-1], body[:15], b"", body + b"\x00"):
        with pytest.raises(InvalidCiphertext):
            s3ec.decrypt_v3(PDK, header, cut)


def test_v3_commitment_is_checked_before_the_body() -> None:
    """A different data key with a matching tag is impossible to build, but a wrong key must fail at the
    commitment: decrypt_v3 never reaches AES-GCM (the body here is garbage of the right length)."""
    header, _ = s3ec.encrypt_v3(PDK, HELLO)
    with pytest.raises(InvalidCiphertext):
        s3ec.decrypt_v3(bytes(32), header, bytes(27))


def test_v2_every_body_and_iv_byte_is_authenticated() -> None:
    iv, body = s3ec.encrypt_v2(PDK, HELLO)
    for tampered in flips(body):
        with pytest.raises(InvalidCiphertext):
            s3ec.decrypt_v2(PDK, iv, tampered)
    for tampered_iv in flips(iv):
        with pytest.raises(InvalidCiphertext):
            s3ec.decrypt_v2(PDK, tampered_iv, body)
    with pytest.raises(InvalidCiphertext):
        s3ec.decrypt_v2(bytes(32), iv, body)
    with pytest.raises(InvalidCiphertext):
        s3ec.decrypt_v2(PDK, iv[:8], body)


def test_aes_gcm_wrap_every_byte_is_authenticated() -> None:
    wrapped = s3ec.wrap_aes_gcm(b"\x42" * 32, PDK, s3ec.V3_CEK_ALG)
    assert len(wrapped) == 60
    for tampered in flips(wrapped):
        with pytest.raises(InvalidCiphertext):
            s3ec.unwrap_aes_gcm(b"\x42" * 32, tampered, s3ec.V3_CEK_ALG)
    with pytest.raises(InvalidCiphertext):
        s3ec.unwrap_aes_gcm(b"\x43" * 32, wrapped, s3ec.V3_CEK_ALG)


def test_empty_and_large_bodies_round_trip() -> None:
    for plaintext in (b"", bytes(range(256)) * 4096):
        header, body = s3ec.encrypt_v3(PDK, plaintext)
        assert len(body) == len(plaintext) + 16
        assert s3ec.decrypt_v3(PDK, header, body) == plaintext
        iv, body2 = s3ec.encrypt_v2(PDK, plaintext)
        assert s3ec.decrypt_v2(PDK, iv, body2) == plaintext


# -- unauthenticated ranged reads: AES-CTR with GCM's counters ----------------------------------------------------


@st.composite
def body_and_range(draw: st.DrawFn) -> tuple[bytes, int, int]:
    plaintext = draw(st.binary(min_size=1, max_size=200))
    start = draw(st.integers(0, len(plaintext) - 1))
    end = draw(st.integers(start, len(plaintext) - 1))
    return plaintext, start, end


def aligned_slice(body: bytes, start: int, end: int) -> tuple[bytes, int, int]:
    """(ciphertext blocks covering [start, end], first block, offset of start in them): never the tag."""
    first_block = start // 16
    ciphertext = body[: len(body) - s3ec.TAG_SIZE]
    return ciphertext[first_block * 16 : (end // 16 + 1) * 16], first_block, start - first_block * 16


@settings(max_examples=200, deadline=None)
@given(case=body_and_range(), data_key=st.binary(min_size=32, max_size=32), iv=st.binary(min_size=12, max_size=12))
def test_v2_range_via_ctr_equals_gcm_plaintext(case: tuple[bytes, int, int], data_key: bytes, iv: bytes) -> None:
    plaintext, start, end = case
    _, body = s3ec.encrypt_v2(data_key, plaintext, random=fixed(iv))
    blocks, first_block, offset = aligned_slice(body, start, end)
    got = s3ec.decrypt_range_unauthenticated_v2(data_key, iv, blocks, first_block)
    assert len(got) == len(blocks)
    assert got[offset : offset + end - start + 1] == plaintext[start : end + 1]


@settings(max_examples=200, deadline=None)
@given(case=body_and_range(), data_key=st.binary(min_size=32, max_size=32))
def test_v3_range_via_ctr_equals_gcm_plaintext(case: tuple[bytes, int, int], data_key: bytes) -> None:
    plaintext, start, end = case
    header, body = s3ec.encrypt_v3(data_key, plaintext, random=fixed(MESSAGE_ID))
    blocks, first_block, offset = aligned_slice(body, start, end)
    got = s3ec.decrypt_range_unauthenticated_v3(data_key, header, blocks, first_block)
    assert got[offset : offset + end - start + 1] == plaintext[start : end + 1]


def test_range_decrypt_of_the_whole_body_and_the_last_partial_block() -> None:
    key, iv = bytes(range(32)), bytes(range(12))
    plaintext = bytes(range(256)) * 4 + b"tail!"  # 1029 bytes: the last block holds 5
    _, body = s3ec.encrypt_v2(key, plaintext, random=fixed(iv))
    ciphertext = body[: -s3ec.TAG_SIZE]
    assert s3ec.decrypt_range_unauthenticated_v2(key, iv, ciphertext, 0) == plaintext
    assert s3ec.decrypt_range_unauthenticated_v2(key, iv, ciphertext[1024:], 64) == b"tail!"
    # The counter layout written out: block i is XORed with AES(K, IV || BE32(2 + i)).
    keystream = Cipher(algorithms.AES(key), modes.ECB()).encryptor().update(iv + (2 + 64).to_bytes(4, "big"))  # noqa: S305
    assert bytes(c ^ k for c, k in zip(ciphertext[1024:], keystream, strict=False)) == b"tail!"


def test_range_decrypt_is_unauthenticated_and_v3_still_checks_the_commitment() -> None:
    header, body = s3ec.encrypt_v3(PDK, HELLO, random=fixed(MESSAGE_ID))
    tampered = bytes([body[0] ^ 1]) + body[1 : len(HELLO)]
    assert s3ec.decrypt_range_unauthenticated_v3(PDK, header, tampered, 0) == bytes([HELLO[0] ^ 1]) + HELLO[1:]
    bad = s3ec.V3Header(message_id=header.message_id, commitment=bytes(28))
    with pytest.raises(InvalidCiphertext):
        s3ec.decrypt_range_unauthenticated_v3(PDK, bad, body[: len(HELLO)], 0)
    with pytest.raises(InvalidCiphertext):
        s3ec.decrypt_range_unauthenticated_v2(PDK, bytes(16), body[: len(HELLO)], 0)
    with pytest.raises(ValueError, match="block range"):
        s3ec.decrypt_range_unauthenticated_v2(PDK, bytes(12), bytes(32), s3ec.GCM_MAX_BLOCKS - 1)
    with pytest.raises(ValueError, match="block range"):
        s3ec.decrypt_range_unauthenticated_v2(PDK, bytes(12), bytes(16), -1)

"""HMAC keys: RFC 4231 known answers through generate_mac/verify_mac, and what verify_mac must reject."""

import pytest

from keyhold.crypto import mac
from keyhold.crypto.keywrap import RootKey

ALGORITHMS = ("HMAC_SHA_224", "HMAC_SHA_256", "HMAC_SHA_384", "HMAC_SHA_512")

# RFC 4231, section 4 (test cases 1-4, 6 and 7): key, data, then HMAC-SHA-224/256/384/512 as hex.
RFC_4231 = [
    (
        "case-1",
        b"\x0b" * 20,
        b"Hi There",
        (
            "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22",
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
            "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
        ),
    ),
    (
        "case-2",
        b"Jefe",
        b"what do ya want for nothing?",
        (
            "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
            "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        ),
    ),
    (
        "case-3",
        b"\xaa" * 20,
        b"\xdd" * 50,
        (
            "7fb3cb3588c6c1f6ffa9694d7d6ad2649365b0c1f65d69d1ec8333ea",
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b2a5ab39dc13814b94e3ab6e101a34f27",
            "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39"
            "bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb",
        ),
    ),
    (
        "case-4",
        bytes(range(0x01, 0x1A)),
        b"\xcd" * 50,
        (
            "6c11506874013cac6a2abc1bb382627cec6a90d86efc012de7afec5a",
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            "3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e6801dd23c4a7d679ccf8a386c674cffb",
            "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db"
            "a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd",
        ),
    ),
    (
        "case-6",
        b"\xaa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        (
            "95e9a0db962095adaebe9b2d6f0dbce2d499f112f2d2b7273fa6870e",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
            "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
            "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
        ),
    ),
    (
        "case-7",
        b"\xaa" * 131,
        b"This is a test using a larger than block-size key and a larger than block-size data. "
        b"The key needs to be hashed before being used by the HMAC algorithm.",
        (
            "3a854166ac5d9f023f54d517d0b39dbd946770db9c2b95c9f6f565d1",
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5a678cc31e799176d3860e6110c46523e",
            "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944"
            "b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58",
        ),
    ),
]

# RFC 4231 test case 5: the output truncated to 128 bits. KMS never truncates, so verify_mac must reject these.
RFC_4231_CASE_5 = (
    b"\x0c" * 20,
    b"Test With Truncation",
    (
        "0e2aea68a90c8d37c988bcdb9fca6fa8",
        "a3b6167473100ee06e0c796c2955552b",
        "3abf34c3503b2a23a46efc619baef897",
        "415fad6271580a531d4179bc891d87a6",
    ),
)

VECTORS = [
    pytest.param(key, data, algorithm, bytes.fromhex(expected[i]), id=f"{name}-{algorithm}")
    for name, key, data, expected in RFC_4231
    for i, algorithm in enumerate(ALGORITHMS)
]


@pytest.mark.parametrize(("key", "data", "algorithm", "expected"), VECTORS)
def test_rfc_4231_known_answers(key: bytes, data: bytes, algorithm: str, expected: bytes) -> None:
    assert mac.generate_mac(key, algorithm, data) == expected
    assert mac.verify_mac(key, algorithm, data, expected)
    assert len(expected) == mac.mac_length(algorithm)


@pytest.mark.parametrize(("key", "data", "algorithm", "expected"), VECTORS)
def test_verify_mac_rejects_a_flipped_bit(key: bytes, data: bytes, algorithm: str, expected: bytes) -> None:
    for index in (0, len(expected) // 2, len(expected) - 1):
        for bit in (0x01, 0x80):
            tampered = bytearray(expected)
            tampered[index] ^= bit
            assert not mac.verify_mac(key, algorithm, data, bytes(tampered))


@pytest.mark.parametrize(("key", "data", "algorithm", "expected"), VECTORS)
def test_verify_mac_rejects_truncated_extended_and_empty(
    key: bytes, data: bytes, algorithm: str, expected: bytes
) -> None:
    assert not mac.verify_mac(key, algorithm, data, expected[:-1])
    assert not mac.verify_mac(key, algorithm, data, expected[:16])
    assert not mac.verify_mac(key, algorithm, data, expected + b"\x00")
    assert not mac.verify_mac(key, algorithm, data, b"")


@pytest.mark.parametrize(("key", "data", "algorithm", "expected"), VECTORS)
def test_verify_mac_rejects_other_message_key_and_algorithm(
    key: bytes, data: bytes, algorithm: str, expected: bytes
) -> None:
    assert not mac.verify_mac(key, algorithm, data + b"!", expected)
    assert not mac.verify_mac(key + b"!", algorithm, data, expected)
    other = next(a for a in ALGORITHMS if a != algorithm)
    assert not mac.verify_mac(key, other, data, expected)


@pytest.mark.parametrize(("algorithm", "truncated"), list(zip(ALGORITHMS, RFC_4231_CASE_5[2], strict=True)))
def test_rfc_4231_case_5_truncated_output_is_a_prefix_and_is_rejected(algorithm: str, truncated: str) -> None:
    key, data, _ = RFC_4231_CASE_5
    full = mac.generate_mac(key, algorithm, data)
    assert full[:16] == bytes.fromhex(truncated)
    assert mac.verify_mac(key, algorithm, data, full)
    assert not mac.verify_mac(key, algorithm, data, bytes.fromhex(truncated))


def test_key_specs_lengths_and_algorithms() -> None:
    assert mac.HMAC_KEY_SPECS == {"HMAC_224": 28, "HMAC_256": 32, "HMAC_384": 48, "HMAC_512": 64}
    assert mac.mac_algorithms("HMAC_224") == ("HMAC_SHA_224",)
    assert mac.mac_algorithms("HMAC_256") == ("HMAC_SHA_256",)
    assert mac.mac_algorithms("HMAC_384") == ("HMAC_SHA_384",)
    assert mac.mac_algorithms("HMAC_512") == ("HMAC_SHA_512",)
    for other in ("SYMMETRIC_DEFAULT", "RSA_2048", "ECC_NIST_P256", "HMAC_1024", ""):
        assert mac.mac_algorithms(other) == ()


@pytest.mark.parametrize("key_spec", sorted(mac.HMAC_KEY_SPECS))
def test_generated_keys_have_the_spec_length_and_differ(key_spec: str) -> None:
    keys = {mac.generate_hmac_key(key_spec) for _ in range(8)}
    assert len(keys) == 8
    assert {len(k) for k in keys} == {mac.HMAC_KEY_SPECS[key_spec]}
    (algorithm,) = mac.mac_algorithms(key_spec)
    key = keys.pop()
    tag = mac.generate_mac(key, algorithm, b"message")
    assert len(tag) == mac.mac_length(algorithm)
    assert mac.verify_mac(key, algorithm, b"message", tag)


def test_generate_hmac_key_uses_the_given_random_source() -> None:
    assert mac.generate_hmac_key("HMAC_256", random=lambda n: b"\x07" * n) == b"\x07" * 32
    with pytest.raises(ValueError, match="too few"):
        mac.generate_hmac_key("HMAC_256", random=lambda n: b"\x07" * (n - 1))


def test_empty_message_is_allowed() -> None:
    key = mac.generate_hmac_key("HMAC_256")
    tag = mac.generate_mac(key, "HMAC_SHA_256", b"")
    assert mac.verify_mac(key, "HMAC_SHA_256", b"", tag)


def test_bad_inputs_raise_value_error_without_the_key() -> None:
    key = bytes(range(32))
    with pytest.raises(ValueError, match="unknown HMAC key spec") as spec_error:
        mac.generate_hmac_key("HMAC_128")
    with pytest.raises(ValueError, match="unknown MAC algorithm") as generate_error:
        mac.generate_mac(key, "HMAC_SHA_1", b"m")
    with pytest.raises(ValueError, match="unknown MAC algorithm") as verify_error:
        mac.verify_mac(key, "HMAC_MD5", b"m", b"x" * 32)
    with pytest.raises(ValueError, match="empty"):
        mac.generate_mac(b"", "HMAC_SHA_256", b"m")
    for error in (spec_error, generate_error, verify_error):
        assert key.hex() not in str(error.value)
        assert repr(key) not in str(error.value)


def test_worked_example_of_the_spec() -> None:
    """docs/formats/asymmetric-material.md, "Worked example": an HMAC_256 key wrapped like symmetric material."""
    root = bytes.fromhex("7ae11e3af1b3df3347d3d3d52bb27f6310f13e801f391296f027525bacb6e89e")
    nonce = bytes.fromhex("6d61632d6b65792d6e6f6e63")
    arn = b"arn:aws:kms:us-east-1:000000000000:key/5e7a3c1d-2b4f-4a6e-8c9d-0f1e2d3c4b5a"
    material_id = b"9f" * 32
    secret = bytes.fromhex("202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f")
    wrapped = bytes.fromhex(
        "016d61632d6b65792d6e6f6e63aa104de936ed5bf3e19b874978da8296ee1d18"
        "51120467ebed02f3ff1606a6b0ca9b1994beabff487cb8be2202ee032f"
    )
    assert mac.generate_hmac_key("HMAC_256", random=lambda n: secret[:n]) == secret
    root_key = RootKey(root, random=lambda n: nonce[:n])
    assert root_key.wrap(secret, b"kms-key-material", arn, material_id) == wrapped
    assert root_key.unwrap(wrapped, b"kms-key-material", arn, material_id) == secret
    assert mac.generate_mac(secret, "HMAC_SHA_256", b"Hi There") == bytes.fromhex(
        "a25fde0875403607a241ee0eb4c6f0a9c5d601aed7ae35028ddd91e3accc9ac8"
    )

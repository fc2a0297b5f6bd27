"""HMAC KMS keys through a real server: GenerateMac / VerifyMac for every spec, and their refusals."""

from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.kms import error_of, make_user, new_key
from support.server import KeyholdServer

SPECS = {"HMAC_224": 28, "HMAC_256": 32, "HMAC_384": 48, "HMAC_512": 64}


def expect(code: str, call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    got, message = error_of(caught)
    assert got == code, message
    return message


@pytest.mark.parametrize(("spec", "length"), sorted(SPECS.items()))
def test_generate_and_verify_mac(server: KeyholdServer, spec: str, length: int) -> None:
    kms = server.client("kms")
    key = new_key(kms, KeySpec=spec, KeyUsage="GENERATE_VERIFY_MAC")
    algorithm = "HMAC_SHA_" + spec[-3:]
    assert key["MacAlgorithms"] == [algorithm]
    assert "EncryptionAlgorithms" not in key
    assert "CurrentKeyMaterialId" not in key
    message = b"message to authenticate"
    made = kms.generate_mac(KeyId=key["KeyId"], Message=message, MacAlgorithm=algorithm)
    assert made["KeyId"] == key["Arn"]
    assert made["MacAlgorithm"] == algorithm
    assert len(made["Mac"]) == length
    assert kms.generate_mac(KeyId=key["KeyId"], Message=message, MacAlgorithm=algorithm)["Mac"] == made["Mac"]
    assert kms.generate_mac(KeyId=key["KeyId"], Message=message + b".", MacAlgorithm=algorithm)["Mac"] != made["Mac"]
    verified = kms.verify_mac(KeyId=key["KeyId"], Message=message, MacAlgorithm=algorithm, Mac=made["Mac"])
    assert verified == {**verified, "KeyId": key["Arn"], "MacValid": True, "MacAlgorithm": algorithm}
    flipped = bytes([made["Mac"][0] ^ 1]) + made["Mac"][1:]
    for bad_mac, bad_message in ((flipped, message), (made["Mac"], message + b"."), (made["Mac"][:-1], message)):
        expect(
            "KMSInvalidMacException",
            kms.verify_mac,
            KeyId=key["KeyId"],
            Message=bad_message,
            MacAlgorithm=algorithm,
            Mac=bad_mac,
        )
    # Another key of the same spec makes another MAC.
    other = new_key(kms, KeySpec=spec, KeyUsage="GENERATE_VERIFY_MAC")
    assert kms.generate_mac(KeyId=other["KeyId"], Message=message, MacAlgorithm=algorithm)["Mac"] != made["Mac"]


def test_hmac_refusals(server: KeyholdServer) -> None:
    kms = server.client("kms")
    key = new_key(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    message = expect(
        "InvalidKeyUsageException", kms.generate_mac, KeyId=key["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_512"
    )
    assert message == "Algorithm HMAC_SHA_512 is incompatible with key spec HMAC_256."
    symmetric = new_key(kms)
    message = expect(
        "InvalidKeyUsageException",
        kms.generate_mac,
        KeyId=symmetric["KeyId"],
        Message=b"m",
        MacAlgorithm="HMAC_SHA_256",
    )
    assert message == f"{symmetric['Arn']} key usage is ENCRYPT_DECRYPT which is not valid for GenerateMac."
    message = expect("InvalidKeyUsageException", kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x")
    assert message == f"{key['Arn']} key usage is GENERATE_VERIFY_MAC which is not valid for Encrypt."
    expect("UnsupportedOperationException", kms.get_public_key, KeyId=key["KeyId"])
    message = expect("ValidationException", kms.create_key, KeySpec="HMAC_256")
    assert message == "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."
    expect("ValidationException", kms.create_key, KeySpec="HMAC_256", KeyUsage="ENCRYPT_DECRYPT")
    expect("UnsupportedOperationException", kms.enable_key_rotation, KeyId=key["KeyId"])
    expect("UnsupportedOperationException", kms.rotate_key_on_demand, KeyId=key["KeyId"])
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is False
    kms.disable_key(KeyId=key["KeyId"])
    expect("DisabledException", kms.generate_mac, KeyId=key["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")


def test_a_policy_condition_on_the_mac_algorithm_and_dry_run(server: KeyholdServer) -> None:
    key = new_key(server.client("kms"), KeySpec="HMAC_384", KeyUsage="GENERATE_VERIFY_MAC")
    condition = {"StringEquals": {"kms:MacAlgorithm": "HMAC_SHA_384"}}
    _, kms = make_user(
        server,
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "kms:GenerateMac", "Resource": "*", "Condition": condition}],
        },
    )
    mac = kms.generate_mac(KeyId=key["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_384")["Mac"]
    expect(
        "AccessDeniedException", kms.verify_mac, KeyId=key["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_384", Mac=mac
    )
    expect(
        "DryRunOperationException",
        kms.generate_mac,
        KeyId=key["KeyId"],
        Message=b"m",
        MacAlgorithm="HMAC_SHA_384",
        DryRun=True,
    )

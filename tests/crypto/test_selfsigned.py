"""The HTTPS certificate verifies against its CA with cryptography's X.509 verifier, for every name it has."""

import datetime
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from keyhold.crypto.selfsigned import TlsMaterial, generate

NOW = datetime.datetime(2026, 1, 15, 12, 0, tzinfo=datetime.UTC)
HOSTS = ["keyhold.internal", "localhost", "127.0.0.1", "::1"]


@pytest.fixture(scope="module")
def material() -> TlsMaterial:
    return generate(HOSTS, NOW)


def certs(material: TlsMaterial) -> tuple[x509.Certificate, x509.Certificate]:
    return x509.load_pem_x509_certificate(material.ca_pem), x509.load_pem_x509_certificate(material.cert_pem)


def general_name(host: str) -> x509.DNSName | x509.IPAddress:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def verify(material: TlsMaterial, host: str, when: datetime.datetime = NOW) -> list[x509.Certificate]:
    ca, cert = certs(material)
    verifier = PolicyBuilder().store(Store([ca])).time(when).build_server_verifier(general_name(host))
    return verifier.verify(cert, [])


@pytest.mark.parametrize("host", HOSTS)
def test_certificate_verifies_for_each_name(material: TlsMaterial, host: str) -> None:
    ca, cert = certs(material)
    chain = verify(material, host)
    assert chain == [cert, ca]


def test_certificate_carries_exactly_the_sans(material: TlsMaterial) -> None:
    _, cert = certs(material)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["keyhold.internal", "localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == HOSTS[0]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_server_key_matches_certificate(material: TlsMaterial) -> None:
    _, cert = certs(material)
    key = serialization.load_pem_private_key(material.key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(*spki) == cert.public_key().public_bytes(*spki)
    assert material.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")


def test_ca_is_a_ca_and_not_the_server(material: TlsMaterial) -> None:
    ca, cert = certs(material)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert constraints.value.path_length == 0
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert cert.issuer == ca.subject
    key = serialization.load_pem_private_key(material.key_pem, password=None)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(*spki) != ca.public_key().public_bytes(*spki)


def test_validity_window(material: TlsMaterial) -> None:
    _, cert = certs(material)
    assert cert.not_valid_before_utc <= NOW < cert.not_valid_after_utc
    assert cert.not_valid_after_utc == NOW + datetime.timedelta(days=825)
    verify(material, "localhost", NOW + datetime.timedelta(days=824))
    with pytest.raises(VerificationError):
        verify(material, "localhost", NOW + datetime.timedelta(days=826))
    with pytest.raises(VerificationError):
        verify(material, "localhost", NOW - datetime.timedelta(hours=1))


@pytest.mark.parametrize("host", ["example.com", "keyhold.internal.evil", "127.0.0.2", "::2"])
def test_certificate_does_not_verify_for_other_names(material: TlsMaterial, host: str) -> None:
    with pytest.raises(VerificationError):
        verify(material, host)


def test_certificate_does_not_verify_against_another_ca(material: TlsMaterial) -> None:
    other = generate(HOSTS, NOW)
    assert other.ca_pem != material.ca_pem
    assert other.key_pem != material.key_pem
    crossed = TlsMaterial(ca_pem=other.ca_pem, cert_pem=material.cert_pem, key_pem=material.key_pem)
    with pytest.raises(VerificationError):
        verify(crossed, "localhost")

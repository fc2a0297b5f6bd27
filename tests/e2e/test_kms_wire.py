"""KMS on the wire: hand-built AWS JSON 1.1 requests, signed by botocore's own SigV4 signer (or deliberately
not), sent with http.client to a real `keyhold serve`. Authentication errors, serialization errors, unknown and
unsupported operations, response headers, keep-alive, and a fuzz loop that must never produce a 500."""

import base64
import datetime
import http.client
import json
import uuid
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from keyhold.protocols.kms.router import OPERATIONS
from support.server import KeyholdServer

JSON_11 = "application/x-amz-json-1.1"
KMS_MODEL = boto3.session.Session().client("kms", region_name="us-east-1").meta.service_model
MODEL_OPERATIONS = sorted(KMS_MODEL.operation_names)


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_type(self) -> str:
        return str(self.json()["__type"])

    @property
    def message(self) -> str:
        document = self.json()
        return str(document.get("message", document.get("Message", "")))


class JsonQueryAuth(SigV4QueryAuth):
    """Query-string SigV4 for a JSON API: the auth goes in the URL and the body stays a (signed) JSON body.

    botocore's SigV4QueryAuth moves a body into the query string, as Query APIs (IAM, STS) expect.
    """

    def __init__(self, credentials: Credentials, service: str, region: str) -> None:
        super().__init__(credentials, service, region, expires=300)

    def _modify_request_before_signing(self, request: AWSRequest) -> None:
        body, request.data = request.data, b""
        super()._modify_request_before_signing(request)
        request.data = body


def build(
    server: KeyholdServer,
    operation: str,
    body: bytes | str | dict[str, Any],
    *,
    target: str | None = None,
    sign: bool = True,
    access_key: str | None = None,
    secret: str | None = None,
    presign: bool = False,
) -> AWSRequest:
    """A POST / with the KMS headers, signed by botocore (header form, or query-string form if presign)."""
    if isinstance(body, dict):
        body = json.dumps(body)
    data = body.encode() if isinstance(body, str) else body
    request = AWSRequest(
        method="POST",
        url=server.http_url + "/",
        data=data,
        headers={"Content-Type": JSON_11, "X-Amz-Target": target or f"TrentService.{operation}"},
    )
    if sign:
        credentials = Credentials(access_key or server.access_key_id, secret or server.secret_access_key)
        signer = JsonQueryAuth if presign else SigV4Auth
        signer(credentials, "kms", server.region).add_auth(request)
    return request


def send(server: KeyholdServer, request: AWSRequest, conn: http.client.HTTPConnection | None = None) -> Reply:
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    own = conn is None
    if conn is None:
        conn = connect(server)
    try:
        headers = dict(prepared.headers.items())
        conn.request("POST", path, body=prepared.body, headers=headers)
        response = conn.getresponse()
        body = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        if own:
            conn.close()


def connect(server: KeyholdServer) -> http.client.HTTPConnection:
    parts = urlsplit(server.http_url)
    assert parts.hostname is not None
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)


def call(server: KeyholdServer, operation: str, body: bytes | str | dict[str, Any], **kwargs: Any) -> Reply:
    return send(server, build(server, operation, body, **kwargs))


def assert_error(reply: Reply, code: str, status: int = 400) -> None:
    assert reply.status == status, (reply.status, reply.body)
    assert reply.error_type == code, reply.body
    assert reply.headers["x-amzn-errortype"] == code
    assert reply.headers["content-type"] == JSON_11
    assert reply.headers.get("x-amzn-requestid")


# -- authentication ----------------------------------------------------------------------------------------------


def test_signed_request_succeeds(server: KeyholdServer) -> None:
    reply = call(server, "GenerateRandom", {"NumberOfBytes": 16})
    assert reply.status == 200, reply.body
    assert len(base64.b64decode(reply.json()["Plaintext"])) == 16
    assert reply.headers["content-type"] == JSON_11
    assert str(uuid.UUID(reply.headers["x-amzn-requestid"])) == reply.headers["x-amzn-requestid"]
    assert "x-amzn-errortype" not in reply.headers


def test_bad_signature(server: KeyholdServer) -> None:
    reply = call(server, "GenerateRandom", {"NumberOfBytes": 16}, secret="x" * 40)
    assert_error(reply, "InvalidSignatureException")
    assert "signature" in reply.message.lower()
    # A body changed after signing breaks the signature too.
    request = build(server, "GenerateRandom", {"NumberOfBytes": 16})
    request.data = json.dumps({"NumberOfBytes": 17}).encode()
    assert_error(send(server, request), "InvalidSignatureException")
    # So does a signed header changed after signing.
    request = build(server, "GenerateRandom", {"NumberOfBytes": 16})
    request.headers.replace_header("X-Amz-Target", "TrentService.ListKeys")
    assert_error(send(server, request), "InvalidSignatureException")


def test_unknown_access_key(server: KeyholdServer) -> None:
    reply = call(server, "GenerateRandom", {"NumberOfBytes": 16}, access_key="AKIANOSUCHKEY0000000")
    assert_error(reply, "UnrecognizedClientException")
    assert reply.message == "The security token included in the request is invalid."


def test_missing_authorization(server: KeyholdServer) -> None:
    reply = call(server, "GenerateRandom", {"NumberOfBytes": 16}, sign=False)
    assert_error(reply, "MissingAuthenticationTokenException")


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256 garbage",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/kms/aws4_request",
        "AWS4-HMAC-SHA256 Credential=AKID/2026/us-east-1/kms, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/kms/aws4_request, SignedHeaders=x-amz-date, "
        "Signature=00",
    ],
)
def test_malformed_authorization(server: KeyholdServer, authorization: str) -> None:
    request = build(server, "GenerateRandom", {"NumberOfBytes": 16}, sign=False)
    request.headers["X-Amz-Date"] = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    request.headers["Authorization"] = authorization
    assert_error(send(server, request), "IncompleteSignatureException")


@pytest.mark.parametrize(("minutes", "phrase"), [(-20, "Signature expired"), (20, "Signature not yet current")])
def test_signature_outside_the_15_minute_window(
    server: KeyholdServer, monkeypatch: pytest.MonkeyPatch, minutes: int, phrase: str
) -> None:
    then = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=minutes)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: then)
    request = build(server, "GenerateRandom", {"NumberOfBytes": 16})
    assert request.headers["X-Amz-Date"] == then.strftime("%Y%m%dT%H%M%SZ")
    reply = send(server, request)
    assert_error(reply, "InvalidSignatureException")
    assert phrase in reply.message


def test_signature_a_few_minutes_old_is_accepted(server: KeyholdServer, monkeypatch: pytest.MonkeyPatch) -> None:
    then = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=10)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: then)
    reply = call(server, "GenerateRandom", {"NumberOfBytes": 8})
    assert reply.status == 200, reply.body


def test_presigned_query_string_request(server: KeyholdServer, monkeypatch: pytest.MonkeyPatch) -> None:
    request = build(server, "GenerateRandom", {"NumberOfBytes": 24}, presign=True)
    assert "X-Amz-Signature=" in request.url
    assert "Authorization" not in request.headers
    reply = send(server, request)
    assert reply.status == 200, reply.body
    assert len(base64.b64decode(reply.json()["Plaintext"])) == 24
    # A presigned request with a wrong secret, and one past its X-Amz-Expires, are refused.
    assert_error(
        call(server, "GenerateRandom", {"NumberOfBytes": 24}, presign=True, secret="y" * 40),
        "InvalidSignatureException",
    )
    then = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=10)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: then)
    assert_error(call(server, "GenerateRandom", {"NumberOfBytes": 24}, presign=True), "InvalidSignatureException")


# -- request bodies and targets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("GenerateRandom", b"{not json"),
        ("GenerateRandom", b'{"NumberOfBytes": 16'),
        ("GenerateRandom", b"\xff\xfe\x00garbage"),
        ("GenerateRandom", b"[]"),
        ("GenerateRandom", b'[{"NumberOfBytes": 16}]'),
        ("GenerateRandom", b'"just a string"'),
        ("GenerateRandom", b'{"NumberOfBytes": "16"}'),
        ("GenerateRandom", b'{"NumberOfBytes": 1.5}'),
        ("GenerateRandom", b'{"NumberOfBytes": true}'),
        ("Encrypt", b'{"KeyId": 12, "Plaintext": "aGk="}'),
        ("Encrypt", b'{"KeyId": "alias/x", "Plaintext": "not base64!"}'),
        ("Encrypt", b'{"KeyId": "alias/x", "Plaintext": "aGk=", "EncryptionContext": ["a", "b"]}'),
        ("Encrypt", b'{"KeyId": "alias/x", "Plaintext": "aGk=", "EncryptionContext": {"a": 1}}'),
        ("CreateKey", b'{"Tags": {"TagKey": "a"}}'),
    ],
)
def test_serialization_errors(server: KeyholdServer, operation: str, body: bytes) -> None:
    assert_error(call(server, operation, body), "SerializationException")


def test_validation_errors_on_the_wire(server: KeyholdServer) -> None:
    reply = call(server, "GenerateRandom", {"NumberOfBytes": 0})
    assert_error(reply, "ValidationException")
    reply = call(server, "Encrypt", {"Plaintext": "aGk="})
    assert_error(reply, "ValidationException")
    assert "keyId" in reply.message


def test_empty_body_is_an_empty_request(server: KeyholdServer) -> None:
    reply = call(server, "ListKeys", b"")
    assert reply.status == 200, reply.body
    assert isinstance(reply.json()["Keys"], list)


@pytest.mark.parametrize(
    "target", ["TrentService.FlyToTheMoon", "TrentService.", "Trent.ListKeys", "ListKeys", "trentservice.ListKeys"]
)
def test_unknown_operation(server: KeyholdServer, target: str) -> None:
    assert_error(call(server, "", {}, target=target), "UnknownOperationException")


def test_unsupported_operations(server: KeyholdServer) -> None:
    assert set(OPERATIONS) <= set(MODEL_OPERATIONS)
    with pytest.raises(ClientError) as caught:
        server.client("kms").create_custom_key_store(CustomKeyStoreName="hsm")
    assert caught.value.response["Error"]["Code"] == "UnsupportedOperationException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    unsupported = [op for op in MODEL_OPERATIONS if op not in OPERATIONS]
    assert "CreateCustomKeyStore" in unsupported
    for operation in unsupported:
        reply = call(server, operation, {})
        assert_error(reply, "UnsupportedOperationException")
        assert operation in reply.message


# -- responses and connections -----------------------------------------------------------------------------------


def test_response_headers(server: KeyholdServer) -> None:
    kms = server.client("kms")
    created = kms.create_key()
    metadata = created["ResponseMetadata"]
    assert metadata["HTTPStatusCode"] == 200
    assert metadata["HTTPHeaders"]["content-type"] == JSON_11
    assert metadata["RequestId"] == metadata["HTTPHeaders"]["x-amzn-requestid"]
    disabled = kms.disable_key(KeyId=created["KeyMetadata"]["KeyId"])["ResponseMetadata"]
    assert disabled["HTTPStatusCode"] == 200
    assert disabled["HTTPHeaders"]["content-type"] == JSON_11
    assert disabled["RequestId"] != metadata["RequestId"]
    raw = call(server, "DisableKey", {"KeyId": created["KeyMetadata"]["KeyId"]})
    assert raw.status == 200
    assert raw.body.strip() in (b"", b"{}")


def test_keep_alive_serves_many_requests_on_one_connection(server: KeyholdServer) -> None:
    conn = connect(server)
    try:
        key_id = ""
        request_ids = set()
        first_socket = None
        operations: list[tuple[str, dict[str, Any]]] = [
            ("CreateKey", {"Description": "keep-alive"}),
            ("GenerateRandom", {"NumberOfBytes": 32}),
            ("DescribeKey", {}),
            ("FlyToTheMoon", {}),  # an error answer must not close the connection either
            ("Encrypt", {"Plaintext": base64.b64encode(b"kept alive").decode()}),
            ("ListKeys", {"Limit": 5}),
            ("GenerateRandom", {"NumberOfBytes": 1}),
        ]
        for operation, body in operations:
            if key_id:
                body = {**body, "KeyId": key_id} if operation in ("DescribeKey", "Encrypt") else body
            reply = send(server, build(server, operation, body), conn)
            if operation == "FlyToTheMoon":
                assert_error(reply, "UnknownOperationException")
            else:
                assert reply.status == 200, (operation, reply.body)
            if operation == "CreateKey":
                key_id = reply.json()["KeyMetadata"]["KeyId"]
            assert reply.headers.get("connection", "").lower() != "close"
            assert conn.sock is not None, f"the server closed the connection after {operation}"
            first_socket = first_socket or conn.sock
            assert conn.sock is first_socket, f"a new connection was opened for {operation}"
            request_ids.add(reply.headers["x-amzn-requestid"])
        assert len(request_ids) == len(operations)
    finally:
        conn.close()


# -- fuzzing -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_refs(server: KeyholdServer) -> list[str]:
    """Real references for the fuzzer to draw from, so that it gets past "not found" into deeper code."""
    kms = server.client("kms")
    meta = kms.create_key(Description="fuzz target")["KeyMetadata"]
    alias = f"alias/fuzz-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"fuzz")["CiphertextBlob"]
    return [
        meta["KeyId"],
        meta["Arn"],
        alias,
        f"arn:aws:kms:{server.region}:{server.account_id}:{alias}",
        base64.b64encode(blob).decode(),
        base64.b64encode(b"plain").decode(),
        "alias/aws/s3",
        "SYMMETRIC_DEFAULT",
        "AES_256",
        "ALL_KEY_MATERIAL",
        "default",
        "",
    ]


def json_values(refs: list[str]) -> st.SearchStrategy[Any]:
    leaves = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**70), max_value=2**70)
        | st.sampled_from([0, 1, 7, 30, 1024, 1025, -1])
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=30)
        | st.sampled_from(refs)
    )
    return st.recursive(
        leaves,
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
        max_leaves=8,
    )


@settings(max_examples=200, deadline=None, database=None)
@given(data=st.data())
def test_fuzzed_requests_never_fail_with_500(server: KeyholdServer, fuzz_refs: list[str], data: Any) -> None:
    printable = st.characters(min_codepoint=0x21, max_codepoint=0x7E)  # what an HTTP header value may hold
    operation = data.draw(
        st.sampled_from(MODEL_OPERATIONS) | st.text(alphabet=printable, max_size=12), label="operation"
    )
    members = sorted(KMS_MODEL.operation_model(operation).input_shape.members) if operation in MODEL_OPERATIONS else []
    names = st.sampled_from(members) | st.text(max_size=10) if members else st.text(max_size=10)
    body = data.draw(
        st.dictionaries(names, json_values(fuzz_refs), max_size=6).map(lambda d: json.dumps(d).encode())
        | json_values(fuzz_refs).map(lambda v: json.dumps(v).encode())
        | st.binary(max_size=64),
        label="body",
    )
    reply = call(server, operation, body)
    assert reply.status in (200, 400), (reply.status, reply.body)
    assert reply.headers["content-type"] == JSON_11
    assert reply.headers.get("x-amzn-requestid")
    document = reply.json()
    assert isinstance(document, dict)
    if reply.status == 400:
        assert document["__type"] == reply.headers["x-amzn-errortype"]
        assert document["__type"] not in ("KMSInternalException", "InternalFailure")


def test_a_body_over_one_mebibyte_is_refused_whole(server: KeyholdServer) -> None:
    policy = json.dumps({"Statement": [{"Sid": "x" * (1 << 20)}]})
    reply = call(server, "PutKeyPolicy", {"KeyId": "alias/none", "Policy": policy})
    assert_error(reply, "SerializationException", 413)
    assert "1048576 bytes" in reply.message

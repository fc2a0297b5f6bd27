"""The S3 error table: every object-store error maps to S3's (status, code), the most specific class wins, KMS
failures become S3's KMS.* answers, signature failures S3's codes; the rendered responses read back through a
botocore S3 client as S3's own would."""

import inspect
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError

from keyhold import errors as generic
from keyhold.domain.keys import errors as kms
from keyhold.domain.objects import errors as s3
from keyhold.errors import ServiceError
from keyhold.protocols.s3 import errors
from keyhold.protocols.s3.errors import AUTH_ERRORS, ERRORS, auth_error, describe, extra_fields, render, render_auth
from keyhold.protocols.sigv4 import AuthFailure

EXPECTED: dict[type[ServiceError], tuple[int, str]] = {
    s3.NoSuchBucket: (404, "NoSuchBucket"),
    s3.NoSuchKey: (404, "NoSuchKey"),
    s3.NoSuchUpload: (404, "NoSuchUpload"),
    s3.NoSuchBucketPolicy: (404, "NoSuchBucketPolicy"),
    s3.BucketAlreadyExists: (409, "BucketAlreadyExists"),
    s3.BucketAlreadyOwnedByYou: (409, "BucketAlreadyOwnedByYou"),
    s3.BucketNotEmpty: (409, "BucketNotEmpty"),
    s3.InvalidBucketName: (400, "InvalidBucketName"),
    s3.IllegalLocationConstraint: (400, "IllegalLocationConstraintException"),
    s3.InvalidLocationConstraint: (400, "InvalidLocationConstraint"),
    s3.InvalidArgument: (400, "InvalidArgument"),
    s3.InvalidRequest: (400, "InvalidRequest"),
    s3.InvalidEncryptionAlgorithm: (400, "InvalidEncryptionAlgorithmError"),
    s3.KeyTooLong: (400, "KeyTooLongError"),
    s3.MetadataTooLarge: (400, "MetadataTooLarge"),
    s3.EntityTooSmall: (400, "EntityTooSmall"),
    s3.EntityTooLarge: (400, "EntityTooLarge"),
    s3.InvalidPart: (400, "InvalidPart"),
    s3.InvalidPartOrder: (400, "InvalidPartOrder"),
    s3.MalformedXML: (400, "MalformedXML"),
    s3.MalformedPolicy: (400, "MalformedPolicy"),
    s3.InvalidRange: (416, "InvalidRange"),
    s3.PreconditionFailed: (412, "PreconditionFailed"),
    s3.NotModified: (304, "NotModified"),
    s3.ServerSideEncryptionConfigurationNotFound: (404, "ServerSideEncryptionConfigurationNotFoundError"),
    s3.ObjectAccessDenied: (403, "AccessDenied"),
}

# One instance of every class, as the domain raises them.
SAMPLES: dict[type[ServiceError], ServiceError] = {
    s3.NoSuchBucket: s3.NoSuchBucket("bk"),
    s3.NoSuchKey: s3.NoSuchKey("a/b c"),
    s3.NoSuchUpload: s3.NoSuchUpload("upload-1"),
    s3.NoSuchBucketPolicy: s3.NoSuchBucketPolicy("bk"),
    s3.BucketAlreadyExists: s3.BucketAlreadyExists("bk"),
    s3.BucketAlreadyOwnedByYou: s3.BucketAlreadyOwnedByYou("bk"),
    s3.BucketNotEmpty: s3.BucketNotEmpty("bk"),
    s3.InvalidBucketName: s3.InvalidBucketName("B_K"),
    s3.IllegalLocationConstraint: s3.IllegalLocationConstraint("eu-west-1"),
    s3.InvalidLocationConstraint: s3.InvalidLocationConstraint(),
    s3.InvalidArgument: s3.InvalidArgument("bad", "x-amz-server-side-encryption", "aes:kms"),
    s3.InvalidRequest: s3.InvalidRequest("bad request"),
    s3.InvalidEncryptionAlgorithm: s3.InvalidEncryptionAlgorithm(),
    s3.KeyTooLong: s3.KeyTooLong(),
    s3.MetadataTooLarge: s3.MetadataTooLarge(2049, 2048),
    s3.EntityTooSmall: s3.EntityTooSmall(),
    s3.EntityTooLarge: s3.EntityTooLarge(),
    s3.InvalidPart: s3.InvalidPart(),
    s3.InvalidPartOrder: s3.InvalidPartOrder(),
    s3.MalformedXML: s3.MalformedXML(),
    s3.MalformedPolicy: s3.MalformedPolicy("Policies must be valid JSON"),
    s3.InvalidRange: s3.InvalidRange(10, "bytes=100-200"),
    s3.PreconditionFailed: s3.PreconditionFailed("If-Match"),
    s3.NotModified: s3.NotModified("abc", 1_700_000_000.0),
    s3.ServerSideEncryptionConfigurationNotFound: s3.ServerSideEncryptionConfigurationNotFound("bk"),
    s3.ObjectAccessDenied: s3.ObjectAccessDenied("Access Denied"),
    s3.KmsFailure: s3.KmsFailure(kms.DisabledKey("arn:aws:kms:us-east-1:111122223333:key/k is disabled.")),
}


def domain_classes() -> list[type[ServiceError]]:
    return [
        cls
        for _, cls in inspect.getmembers(s3, inspect.isclass)
        if issubclass(cls, ServiceError) and cls.__module__ == s3.__name__
    ]


def test_every_object_store_error_has_an_s3_answer() -> None:
    for cls in domain_classes():
        assert cls in SAMPLES, f"{cls.__name__}: add a sample and its expected answer"
        if cls is not s3.KmsFailure:
            assert ERRORS[cls] == EXPECTED[cls], cls.__name__


@pytest.mark.parametrize("cls", sorted(EXPECTED, key=lambda c: c.__name__))
def test_describe(cls: type[ServiceError]) -> None:
    error = SAMPLES[cls]
    assert describe(error) == (*EXPECTED[cls], error.message)


def test_the_most_specific_class_wins() -> None:
    class VanishedKey(s3.NoSuchKey):
        pass

    class NewValidation(generic.InvalidInput):
        pass

    assert describe(VanishedKey("k"))[:2] == (404, "NoSuchKey")
    assert describe(NewValidation("nope")) == (400, "InvalidArgument", "nope")
    assert describe(generic.NotFound("gone"))[:2] == (404, "NotFound")
    assert describe(generic.AccessDenied("no"))[:2] == (403, "AccessDenied")
    assert describe(generic.Unsupported("later"))[:2] == (501, "NotImplemented")
    assert describe(generic.Conflict("race"))[:2] == (409, "OperationAborted")
    assert describe(generic.LimitExceeded("too many"))[:2] == (400, "TooManyBuckets")
    assert describe(kms.DisabledKey("not wrapped"))[:2] == (400, "InvalidRequest")  # a generic InvalidState


def test_anything_else_is_an_internal_error_that_keeps_its_message_to_itself() -> None:
    assert describe(ServiceError("database on fire")) == (
        500,
        "InternalError",
        "We encountered an internal error. Please try again.",
    )


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        (kms.NotFound("Invalid keyId 'nope'"), (400, "KMS.NotFoundException", "Invalid keyId 'nope'")),
        (kms.DisabledKey("k is disabled."), (400, "KMS.DisabledException", "k is disabled.")),
        (
            kms.InvalidKeyState("k is pending deletion."),
            (400, "KMS.KMSInvalidStateException", "k is pending deletion."),
        ),
        (kms.InvalidKeyUsage("wrong usage"), (400, "KMS.InvalidKeyUsageException", "wrong usage")),
        (kms.InvalidCiphertextError(""), (400, "KMS.InvalidCiphertextException", "")),
        (
            kms.KeyAccessDenied("User: arn:aws:iam::1:user/u is not authorized to perform: kms:Decrypt", "arn"),
            (403, "AccessDenied", "User: arn:aws:iam::1:user/u is not authorized to perform: kms:Decrypt"),
        ),
        (
            kms.Throttled("You have exceeded the rate at which you may call KMS."),
            (503, "SlowDown", "Please reduce your request rate for operations involving AWS KMS."),
        ),
        (ServiceError("internal"), (500, "InternalError", "We encountered an internal error. Please try again.")),
        (kms.DryRunSucceeded("dry"), (500, "InternalError", "We encountered an internal error. Please try again.")),
    ],
)
def test_kms_failures(cause: ServiceError, expected: tuple[int, str, str]) -> None:
    assert describe(s3.KmsFailure(cause)) == expected
    assert describe(s3.KmsFailure(s3.KmsFailure(cause))) == expected
    assert extra_fields(s3.KmsFailure(cause)) == {}


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (SAMPLES[s3.NoSuchBucket], {"BucketName": "bk"}),
        (SAMPLES[s3.NoSuchKey], {"Key": "a/b c"}),
        (SAMPLES[s3.NoSuchUpload], {"UploadId": "upload-1"}),
        (SAMPLES[s3.InvalidBucketName], {"BucketName": "B_K"}),
        (SAMPLES[s3.InvalidArgument], {"ArgumentName": "x-amz-server-side-encryption", "ArgumentValue": "aes:kms"}),
        (s3.InvalidArgument("no name"), {}),
        (SAMPLES[s3.PreconditionFailed], {"Condition": "If-Match"}),
        (SAMPLES[s3.InvalidRange], {"RangeRequested": "bytes=100-200", "ActualObjectSize": "10"}),
        (SAMPLES[s3.MetadataTooLarge], {"Size": "2049", "MaxSizeAllowed": "2048"}),
        (SAMPLES[s3.KeyTooLong], {}),
        (SAMPLES[s3.MalformedXML], {}),
    ],
)
def test_extra_fields(error: ServiceError, expected: dict[str, str]) -> None:
    extra = extra_fields(error)
    assert extra == expected
    assert list(extra) == list(expected)  # S3's order


def test_invalid_range_lists_the_range_before_the_size() -> None:
    body = render(SAMPLES[s3.InvalidRange], "rid").body
    assert b"<RangeRequested>bytes=100-200</RangeRequested><ActualObjectSize>10</ActualObjectSize><RequestId>" in body


# ----------------------------------------------------------------------------------------------------- responses


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@pytest.fixture(scope="module")
def client() -> Any:
    session = botocore.session.get_session()
    return session.create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://localhost:9000",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
    )


def call_answered_by(client: Any, response: Any, operation: str, **params: Any) -> ClientError:
    """Make ``operation`` and have it answered by ``response``; the ClientError botocore raises."""

    def send(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, response.status, dict(response.headers), _Raw(response.body))

    client.meta.events.register_first("before-send.s3.*", send, unique_id="answer")
    try:
        getattr(client, operation)(**params)
    except ClientError as error:
        return error
    finally:
        client.meta.events.unregister("before-send.s3.*", unique_id="answer")
    raise AssertionError("no error raised")


def test_render_reads_back_as_s3s_own(client: Any) -> None:
    response = render(SAMPLES[s3.NoSuchKey], "req-1")
    assert response.status == 404
    headers = dict(response.headers)
    assert headers["content-type"] == "application/xml"
    assert headers["x-amz-request-id"] == "req-1"
    assert headers["x-amz-id-2"] == errors.host_id("req-1")
    error = call_answered_by(client, response, "get_object", Bucket="bk", Key="a/b c")
    assert error.response["Error"] == {
        "Code": "NoSuchKey",
        "Message": "The specified key does not exist.",
        "Key": "a/b c",
    }
    metadata = error.response["ResponseMetadata"]
    assert (metadata["HTTPStatusCode"], metadata["RequestId"], metadata["HostId"]) == (
        404,
        "req-1",
        errors.host_id("req-1"),
    )
    assert f"<HostId>{errors.host_id('req-1')}</HostId>".encode() in response.body


def test_render_kms_failure(client: Any) -> None:
    response = render(s3.KmsFailure(kms.NotFound("Key 'arn:aws:kms:us-east-1:1:key/x' does not exist")), "r")
    error = call_answered_by(client, response, "put_object", Bucket="bk", Key="k", Body=b"x")
    assert error.response["Error"] == {
        "Code": "KMS.NotFoundException",
        "Message": "Key 'arn:aws:kms:us-east-1:1:key/x' does not exist",
    }
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_head_answer_has_no_body(client: Any) -> None:
    response = render(SAMPLES[s3.NoSuchKey], "req-2", head=True)
    assert (response.status, response.body) == (404, b"")
    assert dict(response.headers)["x-amz-request-id"] == "req-2"
    error = call_answered_by(client, response, "head_object", Bucket="bk", Key="k")
    assert error.response["Error"]["Code"] == "404"  # what boto3 reports for S3's own bodiless 404


def test_not_modified_is_a_bare_304_with_the_etag(client: Any) -> None:
    for head in (False, True):
        response = render(SAMPLES[s3.NotModified], "req-3", head=head)
        assert (response.status, response.body) == (304, b"")
        headers = dict(response.headers)
        assert headers["etag"] == '"abc"'
        assert headers["last-modified"] == "Tue, 14 Nov 2023 22:13:20 GMT"
        assert "content-type" not in headers
    error = call_answered_by(client, response, "get_object", Bucket="bk", Key="k", IfNoneMatch='"abc"')
    assert error.response["Error"]["Code"] == "304"


def test_internal_errors_carry_no_extra_elements() -> None:
    class Broken(ServiceError):
        def __init__(self) -> None:
            super().__init__("secret detail")
            self.key = "k"

    response = render(Broken(), "r")
    assert response.status == 500
    assert b"<Key>" not in response.body
    assert b"secret detail" not in response.body


# --------------------------------------------------------------------------------------------------------- auth


def test_every_auth_failure_has_an_answer() -> None:
    assert set(AUTH_ERRORS) == set(AuthFailure)
    for failure in AuthFailure:
        for presigned in (False, True):
            status, code, message = auth_error(failure, "verifier says", presigned)
            assert 400 <= status < 500
            assert code
            assert message


MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your key and signing method."
)


@pytest.mark.parametrize(
    ("failure", "message", "presigned", "expected"),
    [
        (AuthFailure.MISSING, "Missing Authentication Token", False, (403, "AccessDenied", "Access Denied")),
        (AuthFailure.INCOMPLETE, "bad header", False, (400, "AuthorizationHeaderMalformed", "bad header")),
        (AuthFailure.INCOMPLETE, "bad query", True, (400, "AuthorizationQueryParametersError", "bad query")),
        (AuthFailure.SIGNATURE_MISMATCH, "kms wording", False, (403, "SignatureDoesNotMatch", MISMATCH)),
        (AuthFailure.SIGNATURE_MISMATCH, "kms wording", True, (403, "SignatureDoesNotMatch", MISMATCH)),
        (
            AuthFailure.EXPIRED,
            "Signature expired: 20260101T000000Z is now earlier than ...",
            False,
            (403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large."),
        ),
        (AuthFailure.EXPIRED, "Request has expired", True, (403, "AccessDenied", "Request has expired")),
        (AuthFailure.EXPIRED, "Request is not valid yet", True, (403, "AccessDenied", "Request is not valid yet")),
        (
            AuthFailure.UNRECOGNIZED_KEY,
            "",
            False,
            (403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."),
        ),
        (
            AuthFailure.PAYLOAD_HASH_MISMATCH,
            "",
            False,
            (
                400,
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ),
        ),
        (
            AuthFailure.MISSING_CONTENT_SHA256,
            "",
            False,
            (400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"),
        ),
    ],
)
def test_auth_error(failure: AuthFailure, message: str, presigned: bool, expected: tuple[int, str, str]) -> None:
    assert auth_error(failure, message, presigned) == expected


def test_render_auth(client: Any) -> None:
    response = render_auth(AuthFailure.UNRECOGNIZED_KEY, "", False, "req-4")
    error = call_answered_by(client, response, "list_buckets")
    assert error.response["Error"] == {
        "Code": "InvalidAccessKeyId",
        "Message": "The AWS Access Key Id you provided does not exist in our records.",
    }
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert render_auth(AuthFailure.MISSING, "", False, "r", head=True).body == b""

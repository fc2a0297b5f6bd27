"""S3 REST-XML bodies: every rendered result is read back by a real botocore S3 client (its RestXMLParser and
after-call handlers, e.g. the URL decoding of listings), and every parser reads what botocore's serializer
writes."""

import base64
import calendar
import datetime
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from hypothesis import given
from hypothesis import strategies as st

from keyhold.domain.objects.errors import InvalidArgument, MalformedXML
from keyhold.domain.objects.model import (
    Bucket,
    BucketEncryption,
    Checksum,
    MultipartUpload,
    ObjectPage,
    ObjectRecord,
    PartPage,
    UploadedPart,
    UploadPage,
)
from keyhold.protocols.s3 import xml, xml_parse
from keyhold.protocols.s3.xml_parse import CompletedPart

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
ETAG = "d41d8cd98f00b204e9800998ecf8427e"
WHEN = 1_795_000_000.5  # a time with milliseconds
AWKWARD_KEYS = ["plain.txt", "a b.txt", "a+b.txt", "100%.csv", "한글/x.txt", "amp&lt<gt>\"quote'", "tab\tnew\nline"]


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class Wire:
    """A botocore S3 client whose requests never leave the process: each answers with the canned response, and
    the last request sent is kept."""

    def __init__(self) -> None:
        session = botocore.session.get_session()
        self.client = session.create_client(
            "s3",
            region_name="us-east-1",
            endpoint_url="http://localhost:9000",
            aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key="secret",
            config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
        )
        self.status = 200
        self.body = b""
        self.headers: dict[str, str] = {}
        self.sent: Any = None
        self.client.meta.events.register("before-send.s3.*", self._send)

    def _send(self, request: Any, **_: Any) -> AWSResponse:
        self.sent = request
        return AWSResponse(request.url, self.status, self.headers, _Raw(self.body))

    def answer(self, body: bytes, status: int = 200) -> Any:
        self.status, self.body = status, body
        return self.client

    def request_body(self, call: Callable[[Any], object]) -> bytes:
        """What botocore's serializer sends for ``call(client)``."""
        self.answer(b"")
        call(self.client)
        body = self.sent.body
        return body if isinstance(body, bytes) else body.encode("utf-8")


@pytest.fixture
def wire() -> Wire:
    return Wire()


_SHARED: list[Wire] = []


def shared_wire() -> Wire:
    """One client for the property tests (making a client costs about 0.2 s)."""
    if not _SHARED:
        _SHARED.append(Wire())
    return _SHARED[0]


def at(epoch: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC)


def record(key: str, *, checksum: Checksum | None = None, size: int = 5) -> ObjectRecord:
    return ObjectRecord("bk", key, size, ETAG, WHEN, "text/plain", checksum=checksum)


def upload(key: str, upload_id: str = "u-1", **kwargs: Any) -> MultipartUpload:
    return MultipartUpload(upload_id, "bk", key, WHEN, "arn:aws:iam::111122223333:user/alice", "text/plain", **kwargs)


# ------------------------------------------------------------------------------------------------------ format


def test_timestamps_are_iso8601_with_milliseconds() -> None:
    assert xml.timestamp(0) == "1970-01-01T00:00:00.000Z"
    epoch = calendar.timegm((2026, 11, 23, 10, 11, 12))
    assert xml.timestamp(epoch) == "2026-11-23T10:11:12.000Z"
    assert xml.timestamp(epoch + 0.25) == "2026-11-23T10:11:12.250Z"
    assert xml.timestamp(epoch + 0.9999) == "2026-11-23T10:11:12.999Z"  # truncated, never rounded up


def test_documents_have_the_prolog_and_the_namespace_but_errors_no_namespace() -> None:
    body = xml.initiate_multipart_upload("bk", "k", "u").decode()
    assert body.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<InitiateMultipartUploadResult ' + NS + ">")
    error = xml.error("NoSuchKey", "m", "rid", "hid", {"Key": "k"}).decode()
    assert error == (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code><Message>m</Message>'
        "<Key>k</Key><RequestId>rid</RequestId><HostId>hid</HostId></Error>"
    )


def test_etags_are_quoted_and_text_is_escaped() -> None:
    body = xml.copy_object_result(ETAG, WHEN).decode()
    assert f"<ETag>&quot;{ETAG}&quot;</ETag>" in body
    error = xml.error("C", 'a&b<c>"d"\re', "r", "h").decode()
    assert "<Message>a&amp;b&lt;c&gt;&quot;d&quot;&#13;e</Message>" in error


def test_characters_xml_cannot_carry_are_replaced_so_the_document_still_parses(wire: Wire) -> None:
    page = ObjectPage([record("bad\x00\x01\ud800key")], [], False, None)
    body = xml.list_objects_v2(
        page,
        bucket="bk",
        prefix=None,
        delimiter=None,
        max_keys=1000,
        start_after=None,
        continuation_token=None,
        next_continuation_token=None,
        encoding_type=None,
        fetch_owner=False,
        owner_id="o",
    )
    result = wire.answer(body).list_objects_v2(Bucket="bk", EncodingType="url")  # url: no decoding by botocore
    assert result["Contents"][0]["Key"] == "bad\ufffd\ufffd\ufffdkey"


# --------------------------------------------------------------------------------------------------- renderers


def test_list_buckets(wire: Wire) -> None:
    buckets = [Bucket("alpha", "111122223333", "us-east-1", WHEN), Bucket("beta", "111122223333", "eu-west-1", 0.0)]
    result = wire.answer(xml.list_buckets("owner-id", buckets, display_name="me")).list_buckets()
    assert result["Owner"] == {"ID": "owner-id", "DisplayName": "me"}
    assert [(b["Name"], b["CreationDate"], b["BucketRegion"]) for b in result["Buckets"]] == [
        ("alpha", at(WHEN), "us-east-1"),
        ("beta", at(0.0), "eu-west-1"),
    ]
    assert "ContinuationToken" not in result
    assert wire.answer(xml.list_buckets("o", [])).list_buckets()["Buckets"] == []
    paged = wire.answer(xml.list_buckets("o", buckets[:1], continuation_token="t", prefix="al")).list_buckets()
    assert (paged["ContinuationToken"], paged["Prefix"]) == ("t", "al")


@pytest.mark.parametrize(("region", "expected"), [("us-east-1", None), ("eu-west-1", "eu-west-1")])
def test_location(wire: Wire, region: str, expected: str | None) -> None:
    body = xml.location(region)
    assert wire.answer(body).get_bucket_location(Bucket="bk").get("LocationConstraint") == expected
    if expected is None:
        assert body.endswith(b"<LocationConstraint " + NS.encode() + b"></LocationConstraint>")


def _v1(page: ObjectPage, **overrides: Any) -> bytes:
    args: dict[str, Any] = {
        "bucket": "bk",
        "prefix": None,
        "delimiter": None,
        "max_keys": 1000,
        "marker": None,
        "encoding_type": "url",
        "owner_id": "owner-id",
    }
    args.update(overrides)
    return xml.list_objects(page, **args)


def test_list_objects_v1_url_encoded_round_trip(wire: Wire) -> None:
    crc = Checksum("CRC32", "AAAAAA==")
    page = ObjectPage(
        [record(key, checksum=crc if i == 0 else None) for i, key in enumerate(AWKWARD_KEYS)], [], False, None
    )
    result = wire.answer(_v1(page, marker="a b")).list_objects(Bucket="bk", Marker="a b")  # boto3 sets url itself
    assert result["EncodingType"] == "url"
    assert [c["Key"] for c in result["Contents"]] == AWKWARD_KEYS
    first = result["Contents"][0]
    assert first == {
        "Key": "plain.txt",
        "LastModified": at(WHEN),
        "ETag": f'"{ETAG}"',
        "ChecksumAlgorithm": ["CRC32"],
        "ChecksumType": "FULL_OBJECT",
        "Size": 5,
        "StorageClass": "STANDARD",
        "Owner": {"ID": "owner-id"},
    }
    assert "ChecksumAlgorithm" not in result["Contents"][1]
    assert (result["Marker"], result["IsTruncated"], result["Name"], result["MaxKeys"]) == ("a b", False, "bk", 1000)
    assert "NextMarker" not in result
    assert "Delimiter" not in result


def test_list_objects_v1_next_marker_only_with_a_delimiter(wire: Wire) -> None:
    page = ObjectPage([record("a/b c")], ["a/d e/"], True, "a/d e/")
    with_delimiter = wire.answer(_v1(page, delimiter="/", prefix="a/")).list_objects(Bucket="bk")
    assert with_delimiter["NextMarker"] == "a/d e/"
    assert with_delimiter["CommonPrefixes"] == [{"Prefix": "a/d e/"}]
    assert with_delimiter["Delimiter"] == "/"
    assert with_delimiter["Prefix"] == "a/"  # botocore does not decode V1's Prefix; nothing to decode here
    without = wire.answer(_v1(page)).list_objects(Bucket="bk")
    assert without["IsTruncated"] is True
    assert "NextMarker" not in without
    assert b"<Marker></Marker>" in _v1(page)


def test_list_objects_url_encoding_matches_what_aws_encodes() -> None:
    page = ObjectPage([record("a b+c%/é")], ["p q/"], True, "p q/")
    body = _v1(page, prefix="a b", delimiter="/", marker="m n").decode()
    for element in ("<Key>a%20b%2Bc%25/%C3%A9</Key>", "<Prefix>a%20b</Prefix>", "<Marker>m%20n</Marker>"):
        assert element in body
    assert "<CommonPrefixes><Prefix>p%20q/</Prefix></CommonPrefixes>" in body
    assert "<NextMarker>p%20q/</NextMarker>" in body
    assert "<EncodingType>url</EncodingType>" in body
    plain = _v1(page, prefix="a b", encoding_type=None).decode()
    assert "<Key>a b+c%/é</Key>" in plain
    assert "EncodingType" not in plain


def _v2(page: ObjectPage, **overrides: Any) -> bytes:
    args: dict[str, Any] = {
        "bucket": "bk",
        "prefix": None,
        "delimiter": None,
        "max_keys": 1000,
        "start_after": None,
        "continuation_token": None,
        "next_continuation_token": None,
        "encoding_type": "url",
        "fetch_owner": False,
        "owner_id": "owner-id",
    }
    args.update(overrides)
    return xml.list_objects_v2(page, **args)


def test_list_objects_v2_round_trip(wire: Wire) -> None:
    page = ObjectPage([record(key) for key in AWKWARD_KEYS], ["dir one/"], True, "dir one/")
    body = _v2(
        page,
        prefix="p q",
        delimiter="/",
        max_keys=8,
        start_after="s+t",
        continuation_token="tok/1+=",
        next_continuation_token="tok/2+=",
    )
    result = wire.answer(body).list_objects_v2(Bucket="bk")
    assert [c["Key"] for c in result["Contents"]] == AWKWARD_KEYS
    assert all("Owner" not in c for c in result["Contents"])  # fetch-owner not asked for
    assert result["CommonPrefixes"] == [{"Prefix": "dir one/"}]
    assert (result["Prefix"], result["Delimiter"], result["StartAfter"]) == ("p q", "/", "s+t")
    assert (result["ContinuationToken"], result["NextContinuationToken"]) == ("tok/1+=", "tok/2+=")  # opaque
    assert (result["KeyCount"], result["MaxKeys"], result["IsTruncated"]) == (len(AWKWARD_KEYS) + 1, 8, True)
    assert result["Contents"][0]["LastModified"] == at(WHEN)


def test_list_objects_v2_owner_and_last_page(wire: Wire) -> None:
    page = ObjectPage([record("k")], [], False, None)
    result = wire.answer(_v2(page, fetch_owner=True, next_continuation_token="ignored", key_count=1)).list_objects_v2(
        Bucket="bk"
    )
    assert result["Contents"][0]["Owner"] == {"ID": "owner-id"}
    assert "NextContinuationToken" not in result  # not truncated
    assert "StartAfter" not in result
    empty = wire.answer(_v2(ObjectPage([], [], False, None))).list_objects_v2(Bucket="bk")
    assert (empty["KeyCount"], empty.get("Contents"), empty["Prefix"]) == (0, None, "")


def test_multipart_results(wire: Wire) -> None:
    created = wire.answer(xml.initiate_multipart_upload("bk", "a b&c", "upload-1")).create_multipart_upload(
        Bucket="bk", Key="a b&c"
    )
    assert (created["Bucket"], created["Key"], created["UploadId"]) == ("bk", "a b&c", "upload-1")
    body = xml.complete_multipart_upload(
        "http://localhost/bk/k", "bk", "k", f"{ETAG}-2", Checksum("CRC32", "AAAAAA==-2", "COMPOSITE")
    )
    done = wire.answer(body).complete_multipart_upload(
        Bucket="bk", Key="k", UploadId="u", MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": ETAG}]}
    )
    assert (done["Location"], done["Bucket"], done["Key"], done["ETag"]) == (
        "http://localhost/bk/k",
        "bk",
        "k",
        f'"{ETAG}-2"',
    )
    assert (done["ChecksumCRC32"], done["ChecksumType"]) == ("AAAAAA==-2", "COMPOSITE")
    plain = wire.answer(xml.complete_multipart_upload("loc", "bk", "k", ETAG)).complete_multipart_upload(
        Bucket="bk", Key="k", UploadId="u", MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": ETAG}]}
    )
    assert "ChecksumType" not in plain


def test_list_parts(wire: Wire) -> None:
    parts = [UploadedPart("u-1", n, 5 * 1024 * 1024, ETAG, f"blob{n}", WHEN + n, checksum="AAAAAA==") for n in (2, 3)]
    page = PartPage(upload("k", checksum_algorithm="CRC32", checksum_type="COMPOSITE"), parts, True, None)
    body = xml.list_parts(
        page,
        bucket="bk",
        key="k",
        max_parts=2,
        part_number_marker=1,
        owner_id="owner-id",
        initiator_arn="arn:aws:iam::111122223333:user/alice",
        checksum_algorithm="CRC32",
        checksum_type="COMPOSITE",
    )
    result = wire.answer(body).list_parts(Bucket="bk", Key="k", UploadId="u-1")
    assert (result["Bucket"], result["Key"], result["UploadId"]) == ("bk", "k", "u-1")
    assert (result["PartNumberMarker"], result["NextPartNumberMarker"], result["MaxParts"]) == (1, 3, 2)
    assert result["IsTruncated"] is True
    assert result["Parts"] == [
        {
            "PartNumber": n,
            "LastModified": at(WHEN + n),
            "ETag": f'"{ETAG}"',
            "Size": 5 * 1024 * 1024,
            "ChecksumCRC32": "AAAAAA==",
        }
        for n in (2, 3)
    ]
    assert result["Initiator"] == {"ID": "arn:aws:iam::111122223333:user/alice"}
    assert result["Owner"] == {"ID": "owner-id"}
    assert (result["StorageClass"], result["ChecksumAlgorithm"], result["ChecksumType"]) == (
        "STANDARD",
        "CRC32",
        "COMPOSITE",
    )
    empty = PartPage(upload("k"), [], False, None)
    none = xml.list_parts(
        empty,
        bucket="bk",
        key="k",
        max_parts=1000,
        part_number_marker=None,
        owner_id="o",
        initiator_arn="i",
        checksum_algorithm=None,
        checksum_type=None,
    )
    result = wire.answer(none).list_parts(Bucket="bk", Key="k", UploadId="u-1")
    assert result["PartNumberMarker"] == 0
    assert "NextPartNumberMarker" not in result
    assert "Parts" not in result


def test_list_multipart_uploads(wire: Wire) -> None:
    uploads = [upload("a b", "u-1", checksum_algorithm="SHA256", checksum_type="COMPOSITE"), upload("c+d", "u-2")]
    page = UploadPage(uploads, ["e f/"], True, "c+d", "u-2")
    body = xml.list_multipart_uploads(
        page,
        bucket="bk",
        prefix=None,
        delimiter="/",
        key_marker="a a",
        upload_id_marker="u-0",
        max_uploads=2,
        encoding_type=None,
        owner_id="owner-id",
    )
    result = wire.answer(body).list_multipart_uploads(Bucket="bk")
    assert [(u["Key"], u["UploadId"]) for u in result["Uploads"]] == [("a b", "u-1"), ("c+d", "u-2")]
    first = result["Uploads"][0]
    assert first["Initiated"] == at(WHEN)
    assert (first["StorageClass"], first["Owner"], first["Initiator"]) == (
        "STANDARD",
        {"ID": "owner-id"},
        {"ID": "arn:aws:iam::111122223333:user/alice"},
    )
    assert (first["ChecksumAlgorithm"], first["ChecksumType"]) == ("SHA256", "COMPOSITE")
    assert (result["KeyMarker"], result["UploadIdMarker"]) == ("a a", "u-0")
    assert (result["NextKeyMarker"], result["NextUploadIdMarker"]) == ("c+d", "u-2")
    assert (result["Prefix"], result["Delimiter"], result["MaxUploads"], result["IsTruncated"]) == ("", "/", 2, True)
    assert result["CommonPrefixes"] == [{"Prefix": "e f/"}]
    # botocore does not decode this listing: with url encoding the client sees what S3 encoded.
    encoded = xml.list_multipart_uploads(
        page,
        bucket="bk",
        prefix="a b",
        delimiter="/",
        key_marker="a a",
        upload_id_marker=None,
        max_uploads=2,
        encoding_type="url",
        owner_id="o",
    )
    raw = wire.answer(encoded).list_multipart_uploads(Bucket="bk", EncodingType="url")
    assert [u["Key"] for u in raw["Uploads"]] == [quote("a b"), quote("c+d")]
    assert (raw["Prefix"], raw["KeyMarker"], raw["NextKeyMarker"], raw["EncodingType"]) == (
        "a%20b",
        "a%20a",
        "c%2Bd",
        "url",
    )
    assert raw["UploadIdMarker"] == ""


def test_copy_results(wire: Wire) -> None:
    checksum = Checksum("SHA256", base64.b64encode(b"\x01" * 32).decode())
    result = wire.answer(xml.copy_object_result(ETAG, WHEN, checksum)).copy_object(
        Bucket="bk", Key="k", CopySource="bk/src"
    )["CopyObjectResult"]
    assert result == {
        "ETag": f'"{ETAG}"',
        "LastModified": at(WHEN),
        "ChecksumType": "FULL_OBJECT",
        "ChecksumSHA256": checksum.value,
    }
    part = wire.answer(xml.copy_part_result(ETAG, WHEN, checksum)).upload_part_copy(
        Bucket="bk", Key="k", CopySource="bk/src", UploadId="u", PartNumber=1
    )["CopyPartResult"]
    assert part == {"ETag": f'"{ETAG}"', "LastModified": at(WHEN), "ChecksumSHA256": checksum.value}
    bare = wire.answer(xml.copy_object_result(ETAG, WHEN)).copy_object(Bucket="bk", Key="k", CopySource="bk/src")
    assert bare["CopyObjectResult"] == {"ETag": f'"{ETAG}"', "LastModified": at(WHEN)}


def test_delete_objects_result(wire: Wire) -> None:
    body = xml.delete_objects_result(["a b", "c&d"], [("e<f", "AccessDenied", "Access Denied")])
    result = wire.answer(body).delete_objects(Bucket="bk", Delete={"Objects": [{"Key": "a b"}]})
    assert result["Deleted"] == [{"Key": "a b"}, {"Key": "c&d"}]
    assert result["Errors"] == [{"Key": "e<f", "Code": "AccessDenied", "Message": "Access Denied"}]
    quiet = wire.answer(xml.delete_objects_result([], [])).delete_objects(
        Bucket="bk", Delete={"Objects": [{"Key": "a"}], "Quiet": True}
    )
    assert "Deleted" not in quiet
    assert "Errors" not in quiet


def test_bucket_encryption(wire: Wire) -> None:
    enc = BucketEncryption("aws:kms", "arn:aws:kms:us-east-1:111122223333:key/1234", True, ("SSE-C",))
    result = wire.answer(xml.bucket_encryption(enc)).get_bucket_encryption(Bucket="bk")
    assert result["ServerSideEncryptionConfiguration"] == {
        "Rules": [
            {
                "ApplyServerSideEncryptionByDefault": {
                    "SSEAlgorithm": "aws:kms",
                    "KMSMasterKeyID": "arn:aws:kms:us-east-1:111122223333:key/1234",
                },
                "BucketKeyEnabled": True,
                "BlockedEncryptionTypes": {"EncryptionType": ["SSE-C"]},
            }
        ]
    }
    default = wire.answer(xml.default_bucket_encryption()).get_bucket_encryption(Bucket="bk")
    assert default["ServerSideEncryptionConfiguration"] == {
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}]
    }


def test_bucket_encryption_document_is_the_reference_one() -> None:
    """../shared/reference/s3-sse.md 1.6: the document botocore writes is the one GetBucketEncryption returns."""
    enc = BucketEncryption("aws:kms", "arn:aws:kms:us-east-1:111122223333:key/1234", True, ("SSE-C",))
    assert xml.bucket_encryption(enc).decode() == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<ServerSideEncryptionConfiguration {NS}><Rule>"
        "<ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm>"
        "<KMSMasterKeyID>arn:aws:kms:us-east-1:111122223333:key/1234</KMSMasterKeyID>"
        "</ApplyServerSideEncryptionByDefault>"
        "<BucketKeyEnabled>true</BucketKeyEnabled>"
        "<BlockedEncryptionTypes><EncryptionType>SSE-C</EncryptionType></BlockedEncryptionTypes>"
        "</Rule></ServerSideEncryptionConfiguration>"
    )


def test_error_document_through_botocore(wire: Wire) -> None:
    body = xml.error("NoSuchKey", "The specified key does not exist.", "req-1", "host-1", {"Key": "a&b"})
    client = wire.answer(body, 404)
    with pytest.raises(client.exceptions.NoSuchKey) as caught:
        client.get_object(Bucket="bk", Key="a&b")
    response = caught.value.response
    assert response["Error"] == {"Code": "NoSuchKey", "Message": "The specified key does not exist.", "Key": "a&b"}
    # RequestId and HostId are where botocore looks for them: it takes them out of the Error (and reads the
    # metadata from the x-amz-request-id / x-amz-id-2 headers).
    assert b"<RequestId>req-1</RequestId><HostId>host-1</HostId></Error>" in body


# ----------------------------------------------------------------------------------------------------- parsers


def test_parse_create_bucket(wire: Wire) -> None:
    body = wire.request_body(
        lambda c: c.create_bucket(Bucket="bk", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    )
    assert xml_parse.parse_create_bucket(body) == "eu-west-1"
    assert xml_parse.parse_create_bucket(b"") is None
    assert xml_parse.parse_create_bucket(b"  \n") is None
    assert xml_parse.parse_create_bucket(b"<CreateBucketConfiguration/>") is None
    assert xml_parse.parse_create_bucket(
        b"<CreateBucketConfiguration><LocationConstraint/></CreateBucketConfiguration>"
    ) is (None)
    no_ns = (
        b"<CreateBucketConfiguration><LocationConstraint>ap-south-1</LocationConstraint></CreateBucketConfiguration>"
    )
    assert xml_parse.parse_create_bucket(no_ns) == "ap-south-1"


def test_parse_delete_objects_reads_what_botocore_writes(wire: Wire) -> None:
    keys = [*AWKWARD_KEYS, " leading and trailing ", "carriage\rreturn"]
    body = wire.request_body(
        lambda c: c.delete_objects(
            Bucket="bk",
            Delete={"Objects": [{"Key": key, "VersionId": "v"} for key in keys], "Quiet": True},
        )
    )
    assert xml_parse.parse_delete_objects(body) == (True, keys)
    loud = wire.request_body(lambda c: c.delete_objects(Bucket="bk", Delete={"Objects": [{"Key": "k"}]}))
    assert xml_parse.parse_delete_objects(loud) == (False, ["k"])


def _delete(count: int) -> bytes:
    objects = "".join(f"<Object><Key>k{i}</Key></Object>" for i in range(count))
    return f"<Delete {NS}>{objects}</Delete>".encode()


def test_parse_delete_objects_limits() -> None:
    assert len(xml_parse.parse_delete_objects(_delete(1000))[1]) == 1000
    for count in (0, 1001):
        with pytest.raises(MalformedXML):
            xml_parse.parse_delete_objects(_delete(count))


@pytest.mark.parametrize(
    "body",
    [
        b"<Delete><Object><VersionId>v</VersionId></Object></Delete>",  # no Key
        b"<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>",  # two Keys
        b"<Delete><Object><Key>a</Key></Object><Quiet>maybe</Quiet></Delete>",
        b"<Delete><Object><Key><b>x</b></Key></Object></Delete>",  # markup in a value
        b"<NotDelete><Object><Key>a</Key></Object></NotDelete>",
        b'<Delete xmlns="urn:other"><Object><Key>a</Key></Object></Delete>',  # another namespace
        b"",
    ],
)
def test_parse_delete_objects_malformed(body: bytes) -> None:
    with pytest.raises(MalformedXML):
        xml_parse.parse_delete_objects(body)


def test_parse_complete_multipart_upload_reads_what_botocore_writes(wire: Wire) -> None:
    parts = [
        {"PartNumber": 1, "ETag": f'"{ETAG}"', "ChecksumCRC32": "AAAAAA=="},
        {"PartNumber": 2, "ETag": ETAG, "ChecksumSHA256": "BBBB"},
    ]
    body = wire.request_body(
        lambda c: c.complete_multipart_upload(Bucket="bk", Key="k", UploadId="u", MultipartUpload={"Parts": parts})
    )
    assert xml_parse.parse_complete_multipart_upload(body) == [
        CompletedPart(1, ETAG, {"CRC32": "AAAAAA=="}),
        CompletedPart(2, ETAG, {"SHA256": "BBBB"}),
    ]
    escaped = b"<CompleteMultipartUpload><Part><PartNumber> 7 </PartNumber><ETag>&quot;abc&quot;</ETag></Part>"
    assert xml_parse.parse_complete_multipart_upload(escaped + b"</CompleteMultipartUpload>") == [
        CompletedPart(7, "abc")
    ]


@pytest.mark.parametrize(
    "parts",
    [
        "",  # no Part
        "<Part><ETag>e</ETag></Part>",  # no PartNumber
        "<Part><PartNumber>1</PartNumber></Part>",  # no ETag
        "<Part><PartNumber>one</PartNumber><ETag>e</ETag></Part>",
        "<Part><PartNumber>1.5</PartNumber><ETag>e</ETag></Part>",
        "<Part><PartNumber></PartNumber><ETag>e</ETag></Part>",
        "<Part><PartNumber>" + "9" * 5000 + "</PartNumber><ETag>e</ETag></Part>",
    ],
)
def test_parse_complete_multipart_upload_malformed(parts: str) -> None:
    with pytest.raises(MalformedXML):
        xml_parse.parse_complete_multipart_upload(
            f"<CompleteMultipartUpload {NS}>{parts}</CompleteMultipartUpload>".encode()
        )


ENCRYPTIONS = [
    BucketEncryption("AES256"),
    BucketEncryption("AES256", bucket_key_enabled=True, blocked_types=("NONE",)),
    BucketEncryption("aws:kms"),
    BucketEncryption("aws:kms", "alias/app", True, ("SSE-C",)),
    BucketEncryption("aws:kms:dsse", "arn:aws:kms:us-east-1:111122223333:key/1234"),
]


@pytest.mark.parametrize("enc", ENCRYPTIONS)
def test_bucket_encryption_round_trip(wire: Wire, enc: BucketEncryption) -> None:
    assert xml_parse.parse_bucket_encryption(xml.bucket_encryption(enc)) == enc
    rule: dict[str, Any] = {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": enc.algorithm},
        "BucketKeyEnabled": enc.bucket_key_enabled,
    }
    if enc.kms_key_id:
        rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] = enc.kms_key_id
    if enc.blocked_types:
        rule["BlockedEncryptionTypes"] = {"EncryptionType": list(enc.blocked_types)}
    body = wire.request_body(
        lambda c: c.put_bucket_encryption(Bucket="bk", ServerSideEncryptionConfiguration={"Rules": [rule]})
    )
    assert xml_parse.parse_bucket_encryption(body) == enc


def _sse(rules: str) -> bytes:
    return f"<ServerSideEncryptionConfiguration {NS}>{rules}</ServerSideEncryptionConfiguration>".encode()


def _rule(algorithm: str, extra: str = "", rule_extra: str = "") -> str:
    return (
        f"<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>{algorithm}</SSEAlgorithm>{extra}"
        f"</ApplyServerSideEncryptionByDefault>{rule_extra}</Rule>"
    )


@pytest.mark.parametrize(
    "body",
    [
        _sse(""),  # no rule
        _sse(_rule("AES256") * 2),  # two rules: AWS and MinIO accept exactly one
        _sse(_rule("aes:kms")),  # unknown algorithm
        _sse(_rule("aws:fsx")),  # FSx-only value
        _sse(_rule("")),
        _sse("<Rule><BucketKeyEnabled>true</BucketKeyEnabled></Rule>"),  # no default
        _sse("<Rule><ApplyServerSideEncryptionByDefault/></Rule>"),  # no algorithm
        _sse(_rule("aws:kms", rule_extra="<BucketKeyEnabled>yes</BucketKeyEnabled>")),
        _sse(
            _rule(
                "AES256",
                rule_extra="<BlockedEncryptionTypes><EncryptionType>SSE-KMS</EncryptionType></BlockedEncryptionTypes>",
            )
        ),
        b"<ServerSideEncryptionRule/>",
    ],
)
def test_parse_bucket_encryption_malformed(body: bytes) -> None:
    with pytest.raises(MalformedXML):
        xml_parse.parse_bucket_encryption(body)


def test_parse_bucket_encryption_kms_key_with_aes256_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgument) as caught:
        xml_parse.parse_bucket_encryption(_sse(_rule("AES256", "<KMSMasterKeyID>k</KMSMasterKeyID>")))
    assert caught.value.message == (
        "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse"
    )
    assert (caught.value.name, caught.value.value) == ("ApplyServerSideEncryptionByDefault", None)


def test_parse_bucket_encryption_details() -> None:
    empty_key = xml_parse.parse_bucket_encryption(_sse(_rule("aws:kms", "<KMSMasterKeyID></KMSMasterKeyID>")))
    assert empty_key == BucketEncryption("aws:kms")
    twice = "<BlockedEncryptionTypes><EncryptionType>SSE-C</EncryptionType><EncryptionType>SSE-C</EncryptionType>"
    assert xml_parse.parse_bucket_encryption(_sse(_rule("AES256", rule_extra=twice + "</BlockedEncryptionTypes>"))) == (
        BucketEncryption("AES256", blocked_types=("SSE-C",))
    )


def test_parse_object_encryption(wire: Wire) -> None:
    arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    body = wire.request_body(
        lambda c: c.update_object_encryption(
            Bucket="bk", Key="k", ObjectEncryption={"SSEKMS": {"KMSKeyArn": arn, "BucketKeyEnabled": True}}
        )
    )
    assert b"<SSE-KMS>" in body
    assert xml_parse.parse_object_encryption(body) == (arn, True)
    bare = wire.request_body(
        lambda c: c.update_object_encryption(Bucket="bk", Key="k", ObjectEncryption={"SSEKMS": {"KMSKeyArn": arn}})
    )
    assert xml_parse.parse_object_encryption(bare) == (arn, None)


@pytest.mark.parametrize(
    "body",
    [
        b"<ObjectEncryption/>",
        b"<ObjectEncryption><SSE-KMS><BucketKeyEnabled>true</BucketKeyEnabled></SSE-KMS></ObjectEncryption>",
        b"<ObjectEncryption><SSE-KMS><KMSKeyArn> </KMSKeyArn></SSE-KMS></ObjectEncryption>",
        b"<ObjectEncryption><SSE-KMS><KMSKeyArn>a</KMSKeyArn></SSE-KMS><SSE-S3/></ObjectEncryption>",
        b"<ObjectEncryption><SSE-KMS><KMSKeyArn>a</KMSKeyArn></SSE-KMS><SSE-KMS/></ObjectEncryption>",
        b"<SSE-KMS><KMSKeyArn>a</KMSKeyArn></SSE-KMS>",
    ],
)
def test_parse_object_encryption_malformed(body: bytes) -> None:
    with pytest.raises(MalformedXML):
        xml_parse.parse_object_encryption(body)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Delete><Object><Key>&lol4;</Key></Object></Delete>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Delete><Object><Key>&xxe;</Key></Object></Delete>"""

PARSERS: list[Callable[[bytes], object]] = [
    xml_parse.parse_delete_objects,
    xml_parse.parse_complete_multipart_upload,
    xml_parse.parse_bucket_encryption,
    xml_parse.parse_object_encryption,
    xml_parse.parse_create_bucket,
]


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize(
    "body",
    [
        b"garbage",
        b"<unclosed>",
        b"<a></b>",
        b"\xff\xfe\x00<",
        b"<WrongRoot/>",
        BILLION_LAUGHS,
        EXTERNAL_ENTITY,
        b'<?xml version="1.0"?><!DOCTYPE Delete><Delete><Object><Key>k</Key></Object></Delete>',
    ],
)
def test_every_parser_refuses_malformed_and_hostile_documents(parser: Callable[[bytes], object], body: bytes) -> None:
    with pytest.raises(MalformedXML):
        parser(body)


@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=20))
def test_delete_objects_keys_survive_the_round_trip(keys: list[str]) -> None:
    """Any key a client can put in a DeleteObjects document comes back exactly (characters XML 1.0 cannot carry
    at all excepted: no client can send those in XML)."""
    wire = shared_wire()
    carried = [k for k in keys if all(c in "\t\n\r" or 0x20 <= ord(c) < 0xD800 or 0xE000 <= ord(c) < 0xFFFE for c in k)]
    if not carried:
        return
    body = wire.request_body(lambda c: c.delete_objects(Bucket="bk", Delete={"Objects": [{"Key": k} for k in carried]}))
    assert xml_parse.parse_delete_objects(body) == (False, carried)


@given(st.lists(st.text(min_size=1, max_size=30), max_size=10))
def test_url_encoded_listing_keys_survive_the_round_trip(keys: list[str]) -> None:
    keys = sorted({k for k in keys if not any(0xD800 <= ord(c) <= 0xDFFF for c in k)})
    page = ObjectPage([record(k) for k in keys], [], False, None)
    result = shared_wire().answer(_v2(page)).list_objects_v2(Bucket="bk")
    assert [c["Key"] for c in result.get("Contents", [])] == keys

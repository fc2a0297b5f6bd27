"""S3 buckets through a real `keyhold serve`: create, head, list, location, delete, S3's XML errors, path-style
and virtual-hosted-style addressing, and what S3 does not implement here."""

import datetime
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.s3 import closing, fails_with, new_bucket, signed_send, unique_bucket, virtual_hosted
from support.server import KeyholdServer

MSG_NO_BUCKET = "The specified bucket does not exist"


@pytest.fixture
def s3(server: KeyholdServer) -> Iterator[Any]:
    with closing(server.s3()) as client:
        yield client


def test_bucket_lifecycle(server: KeyholdServer, s3: Any) -> None:
    name = unique_bucket("life")
    before = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    created = s3.create_bucket(Bucket=name)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert created["Location"] == f"/{name}"

    head = s3.head_bucket(Bucket=name)
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"

    listed = s3.list_buckets()
    assert listed["Owner"]["ID"]
    mine = [bucket for bucket in listed["Buckets"] if bucket["Name"] == name]
    assert len(mine) == 1
    assert before <= mine[0]["CreationDate"] <= datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)

    # us-east-1 buckets have no location constraint: an empty LocationConstraint element, None to boto3
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None

    deleted = s3.delete_bucket(Bucket=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert name not in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]
    assert fails_with(s3.head_bucket, Bucket=name)[:2] == (404, "404")


def test_create_twice_in_us_east_1_succeeds(s3: Any) -> None:
    """S3's legacy behaviour in us-east-1: creating a bucket you already own answers 200 again."""
    name = new_bucket(s3, "twice")
    s3.put_object(Bucket=name, Key="kept", Body=b"still here")
    again = s3.create_bucket(Bucket=name)
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_object(Bucket=name, Key="kept")["Body"].read() == b"still here"


def test_create_twice_elsewhere_is_bucket_already_owned_by_you(make_server: Any) -> None:
    server = make_server(region="eu-west-1")
    with closing(server.s3()) as s3:
        name = unique_bucket("owned")
        config = {"LocationConstraint": "eu-west-1"}
        s3.create_bucket(Bucket=name, CreateBucketConfiguration=config)
        assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
        assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "eu-west-1"
        status, code, message = fails_with(s3.create_bucket, Bucket=name, CreateBucketConfiguration=config)
        assert (status, code) == (409, "BucketAlreadyOwnedByYou")
        assert message == "Your previous request to create the named bucket succeeded and you already own it."


def test_location_constraint_of_another_region(s3: Any) -> None:
    name = unique_bucket("elsewhere")
    status, code, message = fails_with(
        s3.create_bucket, Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    assert (status, code) == (400, "IllegalLocationConstraintException")
    assert "eu-west-1" in message
    assert name not in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]


def test_us_east_1_named_explicitly_is_invalid(s3: Any) -> None:
    name = unique_bucket("explicit")
    status, code, message = fails_with(
        s3.create_bucket, Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-east-1"}
    )
    assert (status, code, message) == (
        400,
        "InvalidLocationConstraint",
        "The specified location-constraint is not valid",
    )


@pytest.mark.parametrize(
    "name",
    [
        "ab",  # too short
        "a" * 64,  # too long
        "Upper-case-bucket",
        "under_score-bucket",
        "-leading-hyphen",
        "trailing-hyphen-",
        "double..dots",
        "dot.-hyphen",
        "192.168.5.4",
        "xn--punycode-prefix",
        "name-s3alias",
    ],
)
def test_invalid_bucket_names(s3: Any, name: str) -> None:
    status, code, message = fails_with(s3.create_bucket, Bucket=name)
    assert (status, code, message) == (400, "InvalidBucketName", "The specified bucket is not valid.")


def test_valid_bucket_name_limits(s3: Any) -> None:
    longest = (unique_bucket("long") + "x" * 63)[:63]
    shortest = unique_bucket("x")[:3]
    dotted = f"dotted.{unique_bucket('name')}.bucket"
    for name in (longest, shortest, dotted):
        s3.create_bucket(Bucket=name)
        assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
        s3.delete_bucket(Bucket=name)


def test_no_such_bucket_everywhere(server: KeyholdServer, s3: Any) -> None:
    name = unique_bucket("missing")
    for call, kwargs in [
        (s3.list_objects_v2, {}),
        (s3.list_objects, {}),
        (s3.get_bucket_location, {}),
        (s3.delete_bucket, {}),
        (s3.put_object, {"Key": "k", "Body": b"x"}),
        (s3.get_object, {"Key": "k"}),
        (s3.get_bucket_policy, {}),
        (s3.create_multipart_upload, {"Key": "k"}),
        (s3.list_multipart_uploads, {}),
    ]:
        assert fails_with(call, Bucket=name, **kwargs) == (404, "NoSuchBucket", MSG_NO_BUCKET), call
    # HEAD has no body: the status is all
    assert fails_with(s3.head_bucket, Bucket=name)[:2] == (404, "404")
    assert fails_with(s3.head_object, Bucket=name, Key="k")[:2] == (404, "404")

    # the XML error document itself
    response = signed_send(server, "GET", f"/{name}")
    assert response.status == 404
    assert response.headers["content-type"] == "application/xml"
    assert response.headers["x-amz-request-id"]
    error = response.error()
    assert error["Code"] == "NoSuchBucket"
    assert error["Message"] == MSG_NO_BUCKET
    assert error["BucketName"] == name
    assert error["RequestId"] == response.headers["x-amz-request-id"]
    assert error["HostId"] == response.headers["x-amz-id-2"]
    assert response.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')


def test_bucket_not_empty(s3: Any) -> None:
    name = new_bucket(s3, "full")
    s3.put_object(Bucket=name, Key="one", Body=b"1")
    status, code, message = fails_with(s3.delete_bucket, Bucket=name)
    assert (status, code, message) == (409, "BucketNotEmpty", "The bucket you tried to delete is not empty")
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200

    s3.delete_object(Bucket=name, Key="one")
    s3.delete_bucket(Bucket=name)
    assert fails_with(s3.head_bucket, Bucket=name)[:2] == (404, "404")


def test_no_such_key_error_document(server: KeyholdServer, s3: Any) -> None:
    name = new_bucket(s3, "nokey")
    status, code, message = fails_with(s3.get_object, Bucket=name, Key="absent/key.txt")
    assert (status, code, message) == (404, "NoSuchKey", "The specified key does not exist.")
    response = signed_send(server, "GET", f"/{name}/absent/key.txt")
    assert response.status == 404
    assert response.error()["Key"] == "absent/key.txt"
    head = signed_send(server, "HEAD", f"/{name}/absent/key.txt")
    assert (head.status, head.body) == (404, b"")


def test_method_not_allowed(server: KeyholdServer, s3: Any) -> None:
    name = new_bucket(s3, "method")
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    for method, path in [("POST", f"/{name}/k"), ("POST", f"/{name}"), ("DELETE", "/"), ("PUT", "/")]:
        response = signed_send(server, method, path)
        assert response.status == 405, (method, path)
        error = response.error()
        assert error["Code"] == "MethodNotAllowed"
        assert error["Message"] == "The specified method is not allowed against this resource."
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"x"


def test_unimplemented_subresources_are_not_implemented(s3: Any) -> None:
    name = new_bucket(s3, "notimpl")
    for call, kwargs in [
        (s3.put_bucket_versioning, {"VersioningConfiguration": {"Status": "Enabled"}}),
        (s3.get_bucket_versioning, {}),
        (s3.put_bucket_acl, {"ACL": "private"}),
        (s3.get_bucket_website, {}),
        (s3.put_bucket_tagging, {"Tagging": {"TagSet": [{"Key": "a", "Value": "b"}]}}),
        (s3.get_bucket_lifecycle_configuration, {}),
        (s3.list_object_versions, {}),
        (s3.get_bucket_cors, {}),
    ]:
        status, code, message = fails_with(call, Bucket=name, **kwargs)
        assert (status, code) == (501, "NotImplemented"), call
        assert message == "A header you provided implies functionality that is not implemented"
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    assert fails_with(s3.get_object_tagging, Bucket=name, Key="k")[:2] == (501, "NotImplemented")
    assert fails_with(s3.put_object_acl, Bucket=name, Key="k", ACL="private")[:2] == (501, "NotImplemented")


def test_virtual_hosted_style(server: KeyholdServer, s3: Any) -> None:
    with closing(virtual_hosted(server)) as virtual:
        hosts: list[str] = []
        virtual.meta.events.register("before-send.s3", lambda request, **_: hosts.append(request.headers["Host"]))
        name = unique_bucket("vhost")
        virtual.create_bucket(Bucket=name)
        assert hosts[-1].startswith(f"{name}.localhost:")
        virtual.put_object(Bucket=name, Key="dir/with space+plus.txt", Body=b"virtual")
        assert virtual.get_object(Bucket=name, Key="dir/with space+plus.txt")["Body"].read() == b"virtual"
        assert virtual.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
        listed = virtual.list_objects_v2(Bucket=name, Prefix="dir/")
        assert [entry["Key"] for entry in listed["Contents"]] == ["dir/with space+plus.txt"]
        assert all(host.startswith(f"{name}.localhost:") for host in hosts), hosts
        # botocore sends GetBucketLocation path-style to the bare endpoint (Host: localhost:<port>)
        assert virtual.get_bucket_location(Bucket=name)["LocationConstraint"] is None
        assert hosts[-1].startswith("localhost:")

        # the same bucket and key, path-style
        assert s3.get_object(Bucket=name, Key="dir/with space+plus.txt")["Body"].read() == b"virtual"
        s3.put_object(Bucket=name, Key="from-path", Body=b"path")
        assert virtual.get_object(Bucket=name, Key="from-path")["Body"].read() == b"path"

        virtual.delete_object(Bucket=name, Key="dir/with space+plus.txt")
        virtual.delete_object(Bucket=name, Key="from-path")
        virtual.delete_bucket(Bucket=name)
        with pytest.raises(ClientError):
            s3.head_bucket(Bucket=name)


def test_list_buckets_is_sorted_by_name(s3: Any) -> None:
    name = new_bucket(s3, "listed")
    names = [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]
    assert name in names
    assert names == sorted(names)

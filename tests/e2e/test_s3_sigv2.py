"""S3 requests signed with Signature Version 2 through a real `keyhold serve`: the presigned URLs boto3 makes by
default (``?AWSAccessKeyId=...&Signature=...&Expires=...``), fetched with urllib, and the Authorization header
``AWS <key>:<signature>`` of a boto3 client with ``signature_version="s3"`` and of s3cmd with signature_v2."""

import configparser
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.auth import HmacV1Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from defusedxml import ElementTree

from support.s3 import RawResponse, closing, fails_with, get_bytes, new_bucket, send, virtual_hosted
from support.server import KeyholdServer

SIGV2 = Config(signature_version="s3", retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture
def s3(server: KeyholdServer) -> Iterator[Any]:
    with closing(server.s3()) as client:  # boto3's defaults: SigV4 requests, SigV2 presigned URLs
        yield client


@pytest.fixture
def bucket(s3: Any) -> str:
    return new_bucket(s3, "sigv2")


def fetch(url: str, method: str = "GET", data: bytes | None = None, headers: dict[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310  # http://
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        body: bytes = response.read()
        return body


def refused(url: str, method: str = "GET", data: bytes | None = None) -> tuple[int, str, str]:
    """(status, Code, Message) of an S3 error answering a request made with urllib."""
    with pytest.raises(urllib.error.HTTPError) as caught:
        fetch(url, method, data)
    root = ElementTree.fromstring(caught.value.read())
    return caught.value.code, root.findtext("Code") or "", root.findtext("Message") or ""


def is_sigv2(url: str) -> bool:
    params = parse_qs(urlsplit(url).query)
    return {"AWSAccessKeyId", "Signature", "Expires"} <= params.keys() and "X-Amz-Signature" not in params


# -- presigned URLs, boto3's default ---------------------------------------------------------------------------


def test_presigned_get_with_boto3_defaults(s3: Any, bucket: str) -> None:
    key = "dir/ké y+plus.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=b"presigned v2")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
    assert is_sigv2(url), url
    assert fetch(url) == b"presigned v2"
    head = s3.generate_presigned_url("head_object", Params={"Bucket": bucket, "Key": key})
    assert fetch(head, "HEAD") == b""


def test_presigned_get_with_response_overrides(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="report.csv", Body=b"a,b\n")
    params = {
        "Bucket": bucket,
        "Key": "report.csv",
        "ResponseContentDisposition": 'attachment; filename="r.csv"',
        "ResponseContentType": "text/csv",
    }
    url = s3.generate_presigned_url("get_object", Params=params)
    assert is_sigv2(url)
    request = urllib.request.Request(url)  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        assert response.read() == b"a,b\n"
        assert response.headers["Content-Disposition"] == 'attachment; filename="r.csv"'
        assert response.headers["Content-Type"] == "text/csv"
    # response-* parameters are signed: changing one breaks the signature
    status, code, _ = refused(url.replace("text%2Fcsv", "text%2Fhtml"))
    assert (status, code) == (403, "SignatureDoesNotMatch")


def test_presigned_put_with_boto3_defaults(s3: Any, bucket: str) -> None:
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "up.bin", "ContentType": "application/octet-stream"}
    )
    assert is_sigv2(url), url
    fetch(url, "PUT", b"uploaded with urllib", {"Content-Type": "application/octet-stream"})
    assert get_bytes(s3, bucket, "up.bin") == b"uploaded with urllib"
    assert s3.head_object(Bucket=bucket, Key="up.bin")["ContentType"] == "application/octet-stream"
    # without a Content-Type, sent as signed: none at all (urllib would add one, so http.client)
    bare = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "bare.bin"})
    assert send(bare, "PUT", body=b"no content type").status == 200
    assert get_bytes(s3, bucket, "bare.bin") == b"no content type"


def test_presigned_put_carries_its_metadata(s3: Any, bucket: str) -> None:
    params = {"Bucket": bucket, "Key": "meta.txt", "Metadata": {"colour": "blue"}}
    url = s3.generate_presigned_url("put_object", Params=params)
    assert "x-amz-meta-colour=blue" in url
    response = send(url, "PUT", {"x-amz-meta-colour": "blue"}, b"with metadata")
    assert response.status == 200, response.body
    assert s3.head_object(Bucket=bucket, Key="meta.txt")["Metadata"] == {"colour": "blue"}
    assert send(url, "PUT", {"x-amz-meta-colour": "red"}, b"other").error()["Code"] == "SignatureDoesNotMatch"


def test_expired_presigned_url_is_access_denied(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="soon.txt", Body=b"gone soon")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "soon.txt"}, ExpiresIn=1)
    assert is_sigv2(url)
    expires = int(parse_qs(urlsplit(url).query)["Expires"][0])
    while time.time() <= expires + 0.2:  # the server's clock is this machine's: just past Expires
        time.sleep(0.1)
    assert refused(url) == (403, "AccessDenied", "Request has expired")
    past = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "late.txt"}, ExpiresIn=-60)
    assert refused(past, "PUT", b"too late") == (403, "AccessDenied", "Request has expired")
    assert fails_with(s3.head_object, Bucket=bucket, Key="late.txt")[0] == 404


def test_tampered_or_foreign_presigned_urls_are_refused(server: KeyholdServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.put_object(Bucket=bucket, Key="other", Body=b"y")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    assert refused(url.replace(f"/{bucket}/k?", f"/{bucket}/other?"))[:2] == (403, "SignatureDoesNotMatch")
    assert refused(url, "DELETE")[:2] == (403, "SignatureDoesNotMatch")
    expires = parse_qs(urlsplit(url).query)["Expires"][0]
    assert refused(url.replace(f"Expires={expires}", f"Expires={int(expires) + 60}"))[:2] == (
        403,
        "SignatureDoesNotMatch",
    )
    with closing(server.s3(aws_access_key_id="AKIAUNKNOWNKEY000000")) as stranger:
        foreign = stranger.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    assert refused(foreign)[:2] == (403, "InvalidAccessKeyId")
    incomplete = url.split("&Expires=")[0]
    assert refused(incomplete)[:2] == (400, "AuthorizationQueryParametersError")


# -- the Authorization header: boto3 with signature_version="s3", s3cmd with signature_v2 --------------------------


def test_boto3_header_sigv2_client(server: KeyholdServer) -> None:
    with closing(server.s3(config=SIGV2)) as v2:
        seen: list[str] = []
        v2.meta.events.register(
            "before-send.s3", lambda request, **_: seen.append(str(request.headers["Authorization"], "ascii"))
        )
        bucket = new_bucket(v2, "sigv2-header")
        v2.put_object(Bucket=bucket, Key="a/ü €.txt", Body=b"header signed", Metadata={"k": "v"}, ContentType="text/x")
        v2.put_object(Bucket=bucket, Key="b.txt", Body=b"second", ServerSideEncryption="aws:kms")
        assert get_bytes(v2, bucket, "a/ü €.txt") == b"header signed"
        head = v2.head_object(Bucket=bucket, Key="a/ü €.txt")
        assert (head["Metadata"], head["ContentType"]) == ({"k": "v"}, "text/x")
        assert get_bytes(v2, bucket, "b.txt", Range="bytes=1-3") == b"eco"
        listed = v2.list_objects_v2(Bucket=bucket)
        assert [o["Key"] for o in listed["Contents"]] == ["a/ü €.txt", "b.txt"]
        assert [o["Key"] for o in v2.list_objects(Bucket=bucket, Prefix="a/")["Contents"]] == ["a/ü €.txt"]
        assert bucket in [b["Name"] for b in v2.list_buckets()["Buckets"]]
        v2.copy_object(Bucket=bucket, Key="c.txt", CopySource={"Bucket": bucket, "Key": "b.txt"})
        upload = v2.create_multipart_upload(Bucket=bucket, Key="multi")["UploadId"]
        part = v2.upload_part(Bucket=bucket, Key="multi", UploadId=upload, PartNumber=1, Body=b"part one")
        v2.complete_multipart_upload(
            Bucket=bucket,
            Key="multi",
            UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
        )
        assert get_bytes(v2, bucket, "multi") == b"part one"
        v2.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in ("a/ü €.txt", "b.txt", "c.txt")]})
        v2.delete_object(Bucket=bucket, Key="multi")
        v2.delete_bucket(Bucket=bucket)
        assert seen
        assert all(value.startswith(f"AWS {server.access_key_id}:") for value in seen)


def test_boto3_header_sigv2_over_https_and_virtual_hosted(server: KeyholdServer) -> None:
    with closing(server.s3(secure=True, config=SIGV2)) as secure:
        bucket = new_bucket(secure, "sigv2-tls")
        secure.put_object(Bucket=bucket, Key="k", Body=b"over tls")
        assert get_bytes(secure, bucket, "k") == b"over tls"
    virtual_config = SIGV2.merge(Config(s3={"addressing_style": "virtual"}))
    with closing(virtual_hosted(server, config=virtual_config)) as virtual:
        hosts: list[str] = []
        virtual.meta.events.register("before-send.s3", lambda request, **_: hosts.append(request.headers["Host"]))
        virtual.put_object(Bucket=bucket, Key="dir/v h.txt", Body=b"virtual")
        assert get_bytes(virtual, bucket, "dir/v h.txt") == b"virtual"
        assert [o["Key"] for o in virtual.list_objects_v2(Bucket=bucket)["Contents"]] == ["dir/v h.txt", "k"]
        assert hosts[0].startswith(f"{bucket}.localhost:")


def test_header_sigv2_with_a_wrong_secret_or_unknown_key(server: KeyholdServer, bucket: str) -> None:
    with closing(server.s3(config=SIGV2, aws_secret_access_key="x" * 40)) as wrong:
        assert fails_with(wrong.head_bucket, Bucket=bucket)[:2] == (403, "403")
        status, code, _ = fails_with(wrong.put_object, Bucket=bucket, Key="k", Body=b"no")
        assert (status, code) == (403, "SignatureDoesNotMatch")
    with closing(server.s3(config=SIGV2, aws_access_key_id="AKIAUNKNOWNKEY000000")) as stranger:
        assert fails_with(stranger.list_objects_v2, Bucket=bucket)[:2] == (403, "InvalidAccessKeyId")


class _DatedSigner(HmacV1Auth):
    """botocore's SigV2 header signer with the Date it signs chosen by the test."""

    def __init__(self, credentials: Credentials, when: float) -> None:
        super().__init__(credentials)
        self._when = when

    def _get_date(self) -> str:
        return formatdate(self._when, usegmt=True)


def signed_v2_send(server: KeyholdServer, method: str, path: str, when: float) -> RawResponse:
    request = AWSRequest(method=method, url=server.http_url + path)
    _DatedSigner(Credentials(server.access_key_id, server.secret_access_key), when).add_auth(request)
    return send(request.url, method, dict(request.headers.items()))


def test_header_sigv2_with_a_skewed_clock(server: KeyholdServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"timely")
    assert signed_v2_send(server, "GET", f"/{bucket}/k", time.time() - 10 * 60).body == b"timely"
    for offset in (-20 * 60, 20 * 60):
        response = signed_v2_send(server, "GET", f"/{bucket}/k", time.time() + offset)
        assert (response.status, response.error()["Code"]) == (403, "RequestTimeTooSkewed")


def s3cmd_config(server: KeyholdServer, path: Path) -> Path:
    host = server.http_url.split("://", 1)[1]
    config = configparser.ConfigParser(interpolation=None)
    config["default"] = {
        "access_key": server.access_key_id,
        "secret_key": server.secret_access_key,
        "host_base": host,
        "host_bucket": host,  # path-style
        "bucket_location": server.region,
        "use_https": "False",
        "signature_v2": "True",
        "progress_meter": "False",
    }
    with path.open("w") as handle:
        config.write(handle)
    return path


def s3cmd(config: Path, home: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = str(home)
    done = subprocess.run(
        ["s3cmd", "-c", str(config), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"s3cmd {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_s3cmd_with_signature_v2(server: KeyholdServer, s3: Any, tmp_path: Path) -> None:
    config = s3cmd_config(server, tmp_path / "s3cfg")
    bucket = new_bucket(s3, "s3cmd-v2")
    small = tmp_path / "small.txt"
    small.write_bytes(b"s3cmd signature v2\n")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(11 * 1024 * 1024))
    s3cmd(config, tmp_path, "put", str(small), f"s3://{bucket}/dir/small file.txt")
    s3cmd(config, tmp_path, "put", str(big), f"s3://{bucket}/big.bin", "--multipart-chunk-size-mb", "5")
    listing = s3cmd(config, tmp_path, "ls", "-r", f"s3://{bucket}")
    assert f"s3://{bucket}/dir/small file.txt" in listing
    assert f"s3://{bucket}/big.bin" in listing
    s3cmd(config, tmp_path, "get", f"s3://{bucket}/big.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == big.read_bytes()
    url = s3cmd(config, tmp_path, "signurl", f"s3://{bucket}/dir/small file.txt", "+300").strip()
    assert is_sigv2(url), url
    assert fetch(url) == small.read_bytes()
    s3cmd(config, tmp_path, "del", f"s3://{bucket}/dir/small file.txt")
    assert get_bytes(s3, bucket, "big.bin") == big.read_bytes()

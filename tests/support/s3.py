"""Small helpers the S3 end-to-end tests share: buckets, bodies, SSE-C parameters, errors, and the server's
data directory as a tamper test sees it (blob files, the SQLite metadata rows, the audit trail)."""

import base64
import contextlib
import dataclasses
import gc
import gzip
import hashlib
import http.client
import json
import random
import sqlite3
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from defusedxml import ElementTree

from support.server import KeyholdServer

T = TypeVar("T")

MiB = 1024 * 1024
CHUNK = 65536  # the object stream's plaintext chunk size
HEADER = 45  # the object stream's header size
TAG = 16  # one AES-GCM tag per layer per chunk
SIZES = [0, 1, 65535, 65536, 65537, 3 * MiB + 7]

SSE_HEADER = "x-amz-server-side-encryption"
KMS_KEY_HEADER = "x-amz-server-side-encryption-aws-kms-key-id"
CONTEXT_HEADER = "x-amz-server-side-encryption-context"
BUCKET_KEY_HEADER = "x-amz-server-side-encryption-bucket-key-enabled"
CUSTOMER_ALGORITHM_HEADER = "x-amz-server-side-encryption-customer-algorithm"
CUSTOMER_MD5_HEADER = "x-amz-server-side-encryption-customer-key-md5"


# -- names and bodies ----------------------------------------------------------------------------------------------


def unique_bucket(prefix: str = "sse") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def new_bucket(s3: Any, prefix: str = "sse") -> str:
    name = unique_bucket(prefix)
    s3.create_bucket(Bucket=name)
    return name


def body(size: int, seed: int | str = 0) -> bytes:
    """``size`` reproducible pseudo-random bytes (different seeds, different bytes)."""
    return random.Random(f"{seed}:{size}").randbytes(size)


def marked_body(size: int, marker: bytes) -> bytes:
    """``size`` bytes made of ``marker`` repeated: a plaintext a search of the data directory can find."""
    return (marker * (size // len(marker) + 1))[:size]


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


# -- SSE parameters ------------------------------------------------------------------------------------------------


def customer_key() -> bytes:
    return random.SystemRandom().randbytes(32)


def ssec(key: bytes) -> dict[str, Any]:
    """The SSE-C parameters of a request (boto3 base64-encodes the key and adds its MD5)."""
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


def copy_source_ssec(key: bytes) -> dict[str, Any]:
    return {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": key}


def key_md5(key: bytes) -> str:
    return base64.b64encode(hashlib.md5(key, usedforsecurity=False).digest()).decode()


def encode_context(context: dict[str, str]) -> str:
    return base64.b64encode(json.dumps(context).encode()).decode()


def decode_context(value: str) -> dict[str, str]:
    decoded: dict[str, str] = json.loads(base64.b64decode(value))
    return decoded


def object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


# -- responses -----------------------------------------------------------------------------------------------------


def headers_of(response: dict[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = response["ResponseMetadata"]["HTTPHeaders"]
    return headers


def sse_headers(response: dict[str, Any]) -> dict[str, str]:
    """The x-amz-server-side-encryption* headers of a response."""
    return {name: value for name, value in headers_of(response).items() if name.startswith(SSE_HEADER)}


def s3_error(caught: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    """(HTTP status, code, message) of an S3 error (a HEAD has no body: its code is the status)."""
    response = caught.value.response
    error = response.get("Error", {})
    return int(response["ResponseMetadata"]["HTTPStatusCode"]), error.get("Code", ""), error.get("Message", "")


def fails_with(call: Callable[..., Any], **kwargs: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return s3_error(caught)


def get_bytes(s3: Any, bucket: str, key: str, **kwargs: Any) -> bytes:
    data: bytes = s3.get_object(Bucket=bucket, Key=key, **kwargs)["Body"].read()
    return data


def read_outcome(s3: Any, bucket: str, key: str, **kwargs: Any) -> bytes | Exception:
    """The bytes a GET returned, or the exception botocore raised (an S3 error, or a connection the server cut
    after the status line because the damage was further in)."""
    try:
        return get_bytes(s3, bucket, key, **kwargs)
    except Exception as error:  # ClientError, IncompleteReadError, ResponseStreamingError, ProtocolError, ...
        return error


# -- the data directory --------------------------------------------------------------------------------------------


def blob_path(server: KeyholdServer, blob_id: str) -> Path:
    return server.blobs_dir / blob_id[:2] / blob_id[2:4] / blob_id


@contextlib.contextmanager
def database(server: KeyholdServer) -> Iterator[sqlite3.Connection]:
    """The server's SQLite metadata database, opened beside the running server (WAL mode allows it)."""
    conn = sqlite3.connect(server.data_dir / "keyhold.db", timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


def object_row(server: KeyholdServer, bucket: str, key: str) -> dict[str, Any]:
    with database(server) as conn:
        row = conn.execute("SELECT * FROM s3_objects WHERE bucket = ? AND key = ?", (bucket, key)).fetchone()
    assert row is not None, (bucket, key)
    found = dict(row)
    found["encryption"] = json.loads(found["encryption"])
    found["parts"] = json.loads(found["parts"])
    found["seal"] = bytes(found["seal"]).hex()  # the row's HMAC seal: bytes in the database, hex here
    return found


def update_object_row(server: KeyholdServer, bucket: str, key: str, **columns: Any) -> None:
    """Overwrite columns of an object's row; dicts and lists are stored as JSON, as the server stores them."""
    values = {name: json.dumps(v) if isinstance(v, (dict, list)) else v for name, v in columns.items()}
    assignments = ", ".join(f'"{name}" = ?' for name in values)
    with database(server) as conn, conn:
        changed = conn.execute(
            f"UPDATE s3_objects SET {assignments} WHERE bucket = ? AND key = ?",  # noqa: S608  # names are ours
            (*values.values(), bucket, key),
        ).rowcount
    assert changed == 1


def blob_ids(server: KeyholdServer, bucket: str, key: str) -> list[str]:
    return [part["blob_id"] for part in object_row(server, bucket, key)["parts"]]


def flip(data: bytes, offset: int, mask: int = 0x01) -> bytes:
    changed = bytearray(data)
    changed[offset] ^= mask
    return bytes(changed)


# -- the audit trail -----------------------------------------------------------------------------------------------


def audit_records(data_dir: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted((data_dir / "audit").rglob("*.json.gz")):
        if "Digest" not in path.name:
            found.extend(json.loads(gzip.decompress(path.read_bytes()))["Records"])
    return found


def wait_for(probe: Callable[[], T | None], *, timeout: float = 30.0, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def flushed_trail(server: KeyholdServer, kms: Any, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The audit trail once everything recorded so far is on disk: make a KMS call with a unique marker and
    wait until its record is written (records are written in the order they were queued)."""
    marker = uuid.uuid4().hex
    with contextlib.suppress(ClientError):
        kms.describe_key(KeyId=f"alias/trail-marker-{marker}")  # NotFoundException, recorded all the same

    def marker_written() -> list[dict[str, Any]] | None:
        trail = audit_records(server.data_dir)
        for record in trail:
            if marker in json.dumps(record.get("requestParameters") or {}):
                return trail
        return None

    return wait_for(marker_written, timeout=timeout, what="the audit trail to be flushed")


# -- raw requests, closed clients, virtual-hosted addressing -------------------------------------------------------


def every_blob_file(server: KeyholdServer) -> set[Path]:
    """Every file under <data-dir>/blobs, the temporary ones being written included."""
    root = server.blobs_dir
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


@contextlib.contextmanager
def closing(client: Any) -> Iterator[Any]:
    """A boto3 client whose pooled connections are closed afterwards (an idle TLS connection left open keeps
    the server's graceful shutdown waiting)."""
    try:
        yield client
    finally:
        # A connection an exception's traceback still refers to (pytest.raises) is back in the pool only once
        # the garbage collector has broken that reference cycle; close() closes pooled connections only.
        gc.collect()
        client.close()


def virtual_hosted(server: KeyholdServer, **kwargs: Any) -> Any:
    """A boto3 client that addresses buckets virtual-hosted-style (Host: <bucket>.localhost:<port>), whatever
    this machine's resolver does with *.localhost: the request is signed for that Host and sent to 127.0.0.1."""
    port = urlsplit(server.http_url).port
    client = server.s3(addressing="virtual", endpoint_url=f"http://localhost:{port}", **kwargs)

    def to_loopback(request: Any, **_: Any) -> None:
        parts = urlsplit(request.url)
        request.headers["Host"] = parts.netloc
        request.url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{parts.port}"))

    client.meta.events.register("before-send.s3", to_loopback)
    return client


@dataclasses.dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def error(self) -> dict[str, str]:
        """The elements of an S3 XML error document (Code, Message, Key, RequestId, ...)."""
        root = ElementTree.fromstring(self.body)
        assert root.tag == "Error", self.body
        return {child.tag: child.text or "" for child in root}


def send(
    url: str, method: str, headers: dict[str, str] | None = None, body: bytes = b"", ca: Path | None = None
) -> RawResponse:
    """One HTTP(S) request exactly as given (http.client adds Host unless ``headers`` has one)."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=str(ca) if ca else None)
        connection = http.client.HTTPSConnection(parts.hostname, parts.port, context=context, timeout=60)
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        names = {name.lower() for name in headers or {}}
        connection.putrequest(method, target, skip_host="host" in names, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if "content-length" not in names and (body or method in ("PUT", "POST")):
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        response = connection.getresponse()
        data = response.read()
        return RawResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        connection.close()


class _Signer(S3SigV4Auth):
    """botocore's S3 signer, with the x-amz-content-sha256 value chosen by the test (STREAMING-..., a wrong
    hash) instead of computed from the body."""

    def __init__(self, credentials: Credentials, region: str, content_sha256: str | None) -> None:
        super().__init__(credentials, "s3", region)
        self._content_sha256 = content_sha256

    def payload(self, request: Any) -> str:
        return self._content_sha256 or str(super().payload(request))


def signed(
    server: KeyholdServer,
    method: str,
    path: str,
    *,
    query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    content_sha256: str | None = None,
    secure: bool = False,
    secret: str | None = None,
) -> tuple[str, dict[str, str]]:
    """(url, headers) of a request signed with SigV4 for service s3 as the server's root user (``path`` is sent
    as given: quote it yourself). The body itself is not part of the result: send it with ``send``."""
    base = server.https_url if secure else server.http_url
    url = base + path + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    credentials = Credentials(server.access_key_id, secret or server.secret_access_key)
    _Signer(credentials, server.region, content_sha256).add_auth(request)
    return url, dict(request.headers.items())


def signed_send(server: KeyholdServer, method: str, path: str, **kwargs: Any) -> RawResponse:
    body: bytes = kwargs.get("body", b"")
    url, headers = signed(server, method, path, **kwargs)
    return send(url, method, headers, body, ca=server.ca_path)

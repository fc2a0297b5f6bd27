"""Keyhold's S3 driven by three real clients, each uploading, downloading and listing with server-side encryption:
the aws CLI (v1, from the venv: multipart uploads and parallel ranged GETs for large files), s3cmd and rclone
(Debian packages, installed by `make test` through scripts/ensure-system-deps.sh). What each client stored is
then checked with boto3's HeadObject: the encryption asked for is the encryption the object has."""

import base64
import configparser
import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.server import KeyholdServer

MIB = 1 << 20
BIG = 100 * MIB  # above the aws CLI's 8 MiB multipart threshold: 13 parts up, ranged GETs down
CLI_TIMEOUT = 600


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(MIB):
            digest.update(block)
    return digest.hexdigest()


def write_random(path: Path, size: int) -> Path:
    with path.open("wb") as handle:
        for offset in range(0, size, 4 * MIB):
            handle.write(os.urandom(min(4 * MIB, size - offset)))
    return path


def binary(name: str) -> str:
    """A client program: the venv's own (the aws CLI), else from PATH. Never a skip: `make test` installs them."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run `make test` (scripts/ensure-system-deps.sh test installs it)")
    return found


def client_env(home: Path) -> dict[str, str]:
    """The environment of a client run: none of the caller's AWS_* (AWS_CA_BUNDLE would replace rclone's HTTP
    transport), RCLONE_* or S3CMD settings, and a HOME of the test's own (no ~/.s3cfg or rclone config read)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
    env["HOME"] = str(home)
    return env


def run(argv: list[str], *, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=CLI_TIMEOUT)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{' '.join(result.args)} failed ({result.returncode}):\n{result.stderr}"
    return result


def aws(server: KeyholdServer, *args: str, secure: bool = False, cwd: Path | None = None) -> Any:
    """Run the aws CLI against the server (over HTTPS, trusting its CA, with ``secure``); the completed process."""
    endpoint = ["--endpoint-url", server.https_url, "--ca-bundle", str(server.ca_path)] if secure else []
    endpoint = endpoint or ["--endpoint-url", server.http_url]
    argv = [binary("aws"), *endpoint, "--region", server.region, "--output", "json", *args]
    return run(argv, env=server.cli_env(), cwd=cwd)


def aws_json(server: KeyholdServer, *args: str, secure: bool = False, cwd: Path | None = None) -> Any:
    out = ok(aws(server, *args, secure=secure, cwd=cwd)).stdout
    return json.loads(out) if out.strip() else {}


def key_arn(server: KeyholdServer, key_id: str) -> str:
    return f"arn:aws:kms:{server.region}:{server.account_id}:key/{key_id}"


def create_kms_key(server: KeyholdServer) -> str:
    return str(aws_json(server, "kms", "create-key", "--description", "s3 client test")["KeyMetadata"]["KeyId"])


def set_default_kms(server: KeyholdServer, bucket: str) -> None:
    """A bucket default of aws:kms, so that an object stored as AES256 shows that the client's own header won."""
    server.s3().put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = write_random(tmp_path_factory.mktemp("big") / "big.bin", BIG)
    return path, sha256(path)


# -- the aws CLI ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sse", ["aws:kms", "AES256"])
def test_aws_cli_large_file_round_trip(
    server: KeyholdServer, tmp_path: Path, big_file: tuple[Path, str], sse: str
) -> None:
    source, digest = big_file
    bucket = unique("cli-big")
    ok(aws(server, "s3", "mb", f"s3://{bucket}"))
    if sse == "AES256":
        set_default_kms(server, bucket)
    ok(aws(server, "s3", "cp", str(source), f"s3://{bucket}/data/big.bin", "--sse", sse, "--only-show-errors"))

    assert bucket in ok(aws(server, "s3", "ls")).stdout.split()
    listing = ok(aws(server, "s3", "ls", f"s3://{bucket}/data/")).stdout
    assert listing.split()[-2:] == [str(BIG), "big.bin"], listing
    head = aws_json(server, "s3api", "head-object", "--bucket", bucket, "--key", "data/big.bin")
    assert head["ContentLength"] == BIG
    assert head["ServerSideEncryption"] == sse
    assert head["ETag"].strip('"').endswith("-13")  # a multipart upload of 8 MiB parts
    if sse == "aws:kms":
        managed = aws_json(server, "kms", "describe-key", "--key-id", "alias/aws/s3")["KeyMetadata"]["Arn"]
        assert head["SSEKMSKeyId"] == managed
    else:
        assert "SSEKMSKeyId" not in head

    target = tmp_path / "down.bin"
    ok(aws(server, "s3", "cp", f"s3://{bucket}/data/big.bin", str(target), "--only-show-errors"))
    assert sha256(target) == digest


def test_aws_cli_sse_c_large_file_and_copy(server: KeyholdServer, tmp_path: Path, big_file: tuple[Path, str]) -> None:
    source, digest = big_file
    bucket = unique("cli-ssec")
    key_file = tmp_path / "customer.key"
    customer_key = os.urandom(32)
    key_file.write_bytes(customer_key)
    other_key = "0123456789abcdef" + uuid.uuid4().hex[:16]  # 32 raw bytes given as a string on the command line
    ssec = ["--sse-c", "AES256", "--sse-c-key", f"fileb://{key_file}"]
    ok(aws(server, "s3", "mb", f"s3://{bucket}", secure=True))
    ok(aws(server, "s3", "cp", str(source), f"s3://{bucket}/big.bin", *ssec, "--only-show-errors", secure=True))

    listing = ok(aws(server, "s3", "ls", f"s3://{bucket}", secure=True)).stdout
    assert listing.split()[-2:] == [str(BIG), "big.bin"], listing
    head = aws_json(
        server, "s3api", "head-object", "--bucket", bucket, "--key", "big.bin",
        "--sse-customer-algorithm", "AES256", "--sse-customer-key", f"fileb://{key_file}", secure=True,
    )  # fmt: skip
    assert head["SSECustomerAlgorithm"] == "AES256"
    assert (
        head["SSECustomerKeyMD5"]
        == base64.b64encode(hashlib.md5(customer_key, usedforsecurity=False).digest()).decode()
    )
    assert "ServerSideEncryption" not in head
    assert head["ContentLength"] == BIG

    # Without the key, neither HeadObject nor the download works, and nothing is written.
    keyless = aws(server, "s3api", "head-object", "--bucket", bucket, "--key", "big.bin", secure=True)
    assert keyless.returncode != 0
    assert "400" in keyless.stderr, keyless.stderr
    refused = tmp_path / "refused.bin"
    failed = aws(server, "s3", "cp", f"s3://{bucket}/big.bin", str(refused), "--only-show-errors", secure=True)
    assert failed.returncode != 0
    assert not refused.exists() or refused.stat().st_size == 0

    target = tmp_path / "down.bin"
    ok(aws(server, "s3", "cp", f"s3://{bucket}/big.bin", str(target), *ssec, "--only-show-errors", secure=True))
    assert sha256(target) == digest

    # A server-side copy (multipart UploadPartCopy) from the SSE-C object to one under another customer key.
    ok(
        aws(
            server, "s3", "cp", f"s3://{bucket}/big.bin", f"s3://{bucket}/copy.bin",
            "--sse-c-copy-source", "AES256", "--sse-c-copy-source-key", f"fileb://{key_file}",
            "--sse-c", "AES256", "--sse-c-key", other_key, "--only-show-errors", secure=True,
        )
    )  # fmt: skip
    copied = aws_json(
        server, "s3api", "head-object", "--bucket", bucket, "--key", "copy.bin",
        "--sse-customer-algorithm", "AES256", "--sse-customer-key", other_key, secure=True,
    )  # fmt: skip
    assert (
        copied["SSECustomerKeyMD5"]
        == base64.b64encode(hashlib.md5(other_key.encode(), usedforsecurity=False).digest()).decode()
    )
    wrong = aws(server, "s3", "cp", f"s3://{bucket}/copy.bin", str(tmp_path / "w.bin"), *ssec, secure=True)
    assert wrong.returncode != 0  # the copy is under the other key now
    copy_target = tmp_path / "copy.bin"
    ok(
        aws(
            server, "s3", "cp", f"s3://{bucket}/copy.bin", str(copy_target),
            "--sse-c", "AES256", "--sse-c-key", other_key, "--only-show-errors", secure=True,
        )
    )  # fmt: skip
    assert sha256(copy_target) == digest


def test_aws_cli_sse_c_refused_over_plain_http(server: KeyholdServer, tmp_path: Path) -> None:
    bucket = unique("cli-ssec-http")
    ok(aws(server, "s3", "mb", f"s3://{bucket}"))
    small = tmp_path / "small.txt"
    small.write_text("customer key over plain HTTP")
    key = "k" * 32
    result = aws(server, "s3", "cp", str(small), f"s3://{bucket}/small.txt", "--sse-c", "AES256", "--sse-c-key", key)
    assert result.returncode != 0
    assert "must be made over a secure connection" in result.stderr, result.stderr


def test_aws_cli_sse_kms_walkthrough_bucket_default(server: KeyholdServer, tmp_path: Path) -> None:
    """The SSE-KMS walkthrough as a user types it: a bucket whose default is aws:kms, then a plain put-object."""
    bucket = unique("walkthrough")
    (tmp_path / "sse-config-kms.json").write_text(
        '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms"}}]}'
    )
    (tmp_path / "file").write_bytes(b"walkthrough object\n")
    assert aws_json(server, "s3api", "create-bucket", "--bucket", bucket)["Location"] == f"/{bucket}"
    put_config = aws(
        server, "s3api", "put-bucket-encryption", "--bucket", bucket,
        "--server-side-encryption-configuration", "file://sse-config-kms.json", cwd=tmp_path,
    )  # fmt: skip
    assert ok(put_config).stdout.strip() == ""
    rules = aws_json(server, "s3api", "get-bucket-encryption", "--bucket", bucket)
    default = rules["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]
    assert default["SSEAlgorithm"] == "aws:kms"

    put = aws_json(server, "s3api", "put-object", "--bucket", bucket, "--key", "k", "--body", "file", cwd=tmp_path)
    assert put["ServerSideEncryption"] == "aws:kms"
    managed = aws_json(server, "kms", "describe-key", "--key-id", "alias/aws/s3")["KeyMetadata"]
    assert put["SSEKMSKeyId"] == managed["Arn"] == key_arn(server, managed["KeyId"])
    head = aws_json(server, "s3api", "head-object", "--bucket", bucket, "--key", "k")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", managed["Arn"])
    ok(aws(server, "s3api", "get-object", "--bucket", bucket, "--key", "k", "out", cwd=tmp_path))
    assert (tmp_path / "out").read_bytes() == b"walkthrough object\n"


def test_aws_cli_sse_kms_with_own_key(server: KeyholdServer, tmp_path: Path) -> None:
    bucket = unique("kms-own")
    key_id = create_kms_key(server)
    (tmp_path / "file").write_bytes(b"under my own key\n")
    ok(aws(server, "s3api", "create-bucket", "--bucket", bucket))
    put = aws_json(
        server, "s3api", "put-object", "--bucket", bucket, "--key", "k", "--body", "file",
        "--server-side-encryption", "aws:kms", "--ssekms-key-id", key_id, cwd=tmp_path,
    )  # fmt: skip
    assert put["ServerSideEncryption"] == "aws:kms"
    assert put["SSEKMSKeyId"] == key_arn(server, key_id)  # the full ARN, though the key id was given
    head = server.s3().head_object(Bucket=bucket, Key="k")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key_arn(server, key_id))
    ok(aws(server, "s3api", "get-object", "--bucket", bucket, "--key", "k", "out", cwd=tmp_path))
    assert (tmp_path / "out").read_bytes() == b"under my own key\n"


# -- s3cmd --------------------------------------------------------------------------------------------------------


def s3cmd_config(server: KeyholdServer, path: Path, *, secure: bool) -> Path:
    host = (server.https_url if secure else server.http_url).split("://", 1)[1]
    config = configparser.ConfigParser(interpolation=None)
    config["default"] = {
        "access_key": server.access_key_id,
        "secret_key": server.secret_access_key,
        "host_base": host,
        "host_bucket": host,  # path-style: no bucket name in the host
        "bucket_location": server.region,
        "use_https": str(secure),
        "check_ssl_certificate": "True",
        "ca_certs_file": str(server.ca_path) if secure else "",
        "signature_v2": "False",
        "progress_meter": "False",
    }
    with path.open("w") as handle:
        config.write(handle)
    return path


def s3cmd(config: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run([binary("s3cmd"), "-c", str(config), *args], env=client_env(home))


@pytest.mark.parametrize("secure", [False, True], ids=["http", "https"])
def test_s3cmd_sse_s3_and_sse_kms(server: KeyholdServer, tmp_path: Path, secure: bool) -> None:
    config = s3cmd_config(server, tmp_path / "s3cfg", secure=secure)
    bucket = unique("s3cmd")
    key_id = create_kms_key(server)
    big = write_random(tmp_path / "big.bin", 12 * MIB)
    small = tmp_path / "small.txt"
    small.write_text("s3cmd small object\n")

    assert f"Bucket 's3://{bucket}/' created" in ok(s3cmd(config, tmp_path, "mb", f"s3://{bucket}")).stdout
    set_default_kms(server, bucket)
    ok(s3cmd(config, tmp_path, "put", str(big), f"s3://{bucket}/s3/big.bin",
             "--server-side-encryption", "--multipart-chunk-size-mb", "5"))  # fmt: skip
    ok(s3cmd(config, tmp_path, "put", str(small), f"s3://{bucket}/s3/small.txt", "--server-side-encryption"))
    ok(s3cmd(config, tmp_path, "put", str(big), f"s3://{bucket}/kms/big.bin", "--server-side-encryption",
             "--server-side-encryption-kms-id", key_id, "--multipart-chunk-size-mb", "5"))  # fmt: skip
    ok(s3cmd(config, tmp_path, "put", str(small), f"s3://{bucket}/kms/small.txt", "--server-side-encryption",
             "--server-side-encryption-kms-id", key_id))  # fmt: skip

    listing = ok(s3cmd(config, tmp_path, "ls", "-r", f"s3://{bucket}")).stdout
    listed = {line.split()[-1]: int(line.split()[-2]) for line in listing.splitlines() if line.strip()}
    assert listed == {
        f"s3://{bucket}/kms/big.bin": 12 * MIB,
        f"s3://{bucket}/kms/small.txt": small.stat().st_size,
        f"s3://{bucket}/s3/big.bin": 12 * MIB,
        f"s3://{bucket}/s3/small.txt": small.stat().st_size,
    }
    top = ok(s3cmd(config, tmp_path, "ls", f"s3://{bucket}")).stdout
    assert f"DIR  s3://{bucket}/kms/" in top
    assert f"DIR  s3://{bucket}/s3/" in top

    info = ok(s3cmd(config, tmp_path, "info", f"s3://{bucket}/kms/big.bin")).stdout
    assert "SSE:       aws:kms" in info, info
    assert f"File size: {12 * MIB}" in info
    assert "FULL_CONTROL" in info  # GetObjectAcl: the owner
    assert "SSE:       AES256" in ok(s3cmd(config, tmp_path, "info", f"s3://{bucket}/s3/small.txt")).stdout

    for name, local in [("s3/big.bin", big), ("kms/big.bin", big), ("s3/small.txt", small), ("kms/small.txt", small)]:
        target = tmp_path / "down" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        ok(s3cmd(config, tmp_path, "get", f"s3://{bucket}/{name}", str(target)))
        assert sha256(target) == sha256(local), name

    s3 = server.s3()
    for name in ("s3/big.bin", "s3/small.txt"):
        head = s3.head_object(Bucket=bucket, Key=name)
        assert head["ServerSideEncryption"] == "AES256", name  # the header s3cmd sent, not the bucket's aws:kms
        assert "SSEKMSKeyId" not in head
    for name in ("kms/big.bin", "kms/small.txt"):
        head = s3.head_object(Bucket=bucket, Key=name)
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key_arn(server, key_id)), name
    for name in ("s3/big.bin", "kms/big.bin"):
        assert s3.head_object(Bucket=bucket, Key=name)["ETag"].strip('"').endswith("-3")  # 5 + 5 + 2 MiB


# -- rclone ------------------------------------------------------------------------------------------------------


RCLONE_FILES = {"a.txt": 6, "b.bin": 1000, "sub/c.txt": 7, "sub/deeper/big.bin": 12 * MIB}  # big: > 5M cutoff


def rclone_tree(root: Path) -> dict[str, str]:
    for name, size in RCLONE_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_random(root / name, size)
    return {name: sha256(root / name) for name in RCLONE_FILES}


def rclone_config(server: KeyholdServer, path: Path, *, secure: bool, options: dict[str, str]) -> Path:
    config = configparser.ConfigParser(interpolation=None)
    config["keyhold"] = {
        "type": "s3",
        "provider": "Other",
        "endpoint": server.https_url if secure else server.http_url,
        "access_key_id": server.access_key_id,
        "secret_access_key": server.secret_access_key,
        "region": server.region,
        "force_path_style": "true",
        **options,
    }
    with path.open("w") as handle:
        config.write(handle)
    return path


@pytest.mark.parametrize("mode", ["aws:kms", "AES256", "SSE-C"])
def test_rclone_copy_up_and_down(server: KeyholdServer, tmp_path: Path, mode: str) -> None:
    bucket = unique("rclone")
    secure = mode == "SSE-C"
    customer_key = uuid.uuid4().hex  # 32 characters: rclone sends them as the 32-byte key
    key_id = create_kms_key(server) if mode == "aws:kms" else ""
    options = {
        "aws:kms": {"server_side_encryption": "aws:kms", "sse_kms_key_id": key_id},
        "AES256": {"server_side_encryption": "AES256"},
        "SSE-C": {"sse_customer_algorithm": "AES256", "sse_customer_key": customer_key},
    }[mode]
    config = rclone_config(server, tmp_path / "rclone.conf", secure=secure, options=options)
    base = [binary("rclone"), "--config", str(config), "--retries", "1", "--low-level-retries", "1"]
    if secure:
        base += ["--ca-cert", str(server.ca_path)]
    env = client_env(tmp_path)

    def rclone(*args: str) -> subprocess.CompletedProcess[str]:
        return run([*base, *args], env=env)

    local = tmp_path / "up"
    digests = rclone_tree(local)
    ok(rclone("mkdir", f"keyhold:{bucket}"))
    if mode == "AES256":
        set_default_kms(server, bucket)
    remote = f"keyhold:{bucket}/backup"
    ok(rclone("copy", str(local), remote, "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"))

    listed = json.loads(ok(rclone("lsjson", "-R", "--files-only", remote)).stdout)
    assert {entry["Path"]: entry["Size"] for entry in listed} == RCLONE_FILES
    plain = ok(rclone("ls", remote)).stdout
    assert {(line.split()[1], int(line.split()[0])) for line in plain.splitlines()} == set(RCLONE_FILES.items())
    checked = rclone("check", str(local), remote)
    assert checked.returncode == 0, checked.stderr
    assert f"{len(RCLONE_FILES)} matching files" in checked.stderr

    down = tmp_path / "down"
    ok(rclone("copy", remote, str(down)))
    assert {name: sha256(down / name) for name in RCLONE_FILES} == digests

    s3 = server.s3(secure=secure)
    for name in RCLONE_FILES:
        if mode == "SSE-C":
            with pytest.raises(ClientError) as refused:
                s3.head_object(Bucket=bucket, Key=f"backup/{name}")
            assert refused.value.response["Error"]["Code"] == "400"
            head = s3.head_object(
                Bucket=bucket, Key=f"backup/{name}", SSECustomerAlgorithm="AES256", SSECustomerKey=customer_key
            )
            assert head["SSECustomerAlgorithm"] == "AES256"
            assert "ServerSideEncryption" not in head
        else:
            head = s3.head_object(Bucket=bucket, Key=f"backup/{name}")
            assert head["ServerSideEncryption"] == mode, name
            if mode == "aws:kms":
                assert head["SSEKMSKeyId"] == key_arn(server, key_id)
        assert head["ContentLength"] == RCLONE_FILES[name]
        if name == "sub/deeper/big.bin":
            assert head["ETag"].strip('"').endswith("-3")  # a multipart upload: 5 + 5 + 2 MiB


# -- a client's idle connection and the server's stop ---------------------------------------------------------------


def test_server_stops_cleanly_with_idle_https_clients(make_server: Any) -> None:
    """Clients keep connections open in their pools (boto3 does, as do the SDKs and rclone). Closing a TLS
    connection waits for the peer's close_notify, which such a client never sends: the server must not wait for it
    (KeyholdServer.stop() kills a server still running after 30 seconds, and then answers -9, not 0)."""
    instance = make_server("idle-clients")
    secure, plain = instance.s3(secure=True), instance.s3()
    bucket = unique("idle")
    secure.create_bucket(Bucket=bucket)
    assert plain.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert instance.stop() == 0, instance.log()
    assert "Keyhold stopped." in instance.log()
    del secure, plain  # held open until the server had stopped

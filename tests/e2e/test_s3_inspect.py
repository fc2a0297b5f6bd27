"""`keyhold s3 inspect BUCKET KEY` against objects a real server wrote in every encryption mode: what it reports
(mode, KMS key, context, bucket key, SSE-S3 key, sizes, parts, stream headers), and that no stored secret (wrapped
or sealed key, salt, customer-key check) ever appears in its output."""

import base64
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from keyhold.crypto.object_stream import HEADER_SIZE, chunk_count, stored_size
from keyhold.storage.sql.schema import s3_objects
from support.server import KeyholdServer

MIB = 1 << 20
SECRET_FIELDS = ("kms_wrapped", "sealed_key", "customer_key_check", "salt", "s3_wrapped")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def inspect(
    *args: str, data_dir: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "keyhold", "s3", "inspect", *args]
    if data_dir is not None:
        argv += ["--data-dir", str(data_dir)]
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("KEYHOLD_")}
    run_env.update(env or {})
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=run_env)


def inspect_json(server: KeyholdServer, bucket: str, key: str) -> dict[str, Any]:
    result = inspect(bucket, key, "--json", data_dir=server.data_dir)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def inspect_text(server: KeyholdServer, bucket: str, key: str) -> str:
    result = inspect(bucket, key, data_dir=server.data_dir)
    assert result.returncode == 0, result.stderr
    return result.stdout


def stored_row(db_url: str, bucket: str, key: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The object's row as stored: its envelope document and its parts."""
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            row = conn.execute(
                select(s3_objects.c.encryption, s3_objects.c.parts).where(
                    s3_objects.c.bucket == bucket, s3_objects.c.key == key
                )
            ).one()
    finally:
        engine.dispose()
    return json.loads(row.encryption), json.loads(row.parts)


def secrets_of(server: KeyholdServer, db_url: str, bucket: str, key: str) -> list[str]:
    """Every stored secret of the object, as it is stored (base64) and as hex, plus each stream header's salt and
    nonce prefix: none of them may appear in the output."""
    envelope, parts = stored_row(db_url, bucket, key)
    found = [envelope[name] for name in SECRET_FIELDS if envelope.get(name)]
    found += [base64.b64decode(value).hex() for value in list(found)]
    for part in parts:
        found += [str(value) for name, value in part.items() if "salt" in name and value]
        blob = server.blobs_dir / part["blob_id"][0:2] / part["blob_id"][2:4] / part["blob_id"]
        header = blob.read_bytes()[:HEADER_SIZE]
        if header[:4] == b"KHOS":
            found += [header[6:38].hex(), base64.b64encode(header[6:38]).decode(), header[38:45].hex()]
    return found


def assert_no_secrets(server: KeyholdServer, bucket: str, key: str, db_url: str | None = None) -> None:
    db_url = db_url or f"sqlite:///{server.data_dir / 'keyhold.db'}"
    secrets = secrets_of(server, db_url, bucket, key)
    envelope, _parts = stored_row(db_url, bucket, key)
    assert secrets or envelope.get("mode", "none") == "none"  # an encrypted object has something to hide
    database = ("--database-url", db_url) if db_url.startswith("postgresql") else ()
    for extra in ((), ("--json",)):
        result = inspect(bucket, key, *extra, *database, data_dir=server.data_dir)
        assert result.returncode == 0, result.stderr
        output = result.stdout
        assert output.strip()
        for secret in secrets:
            assert secret not in output


def assert_parts(server: KeyholdServer, report: dict[str, Any], layers: int) -> None:
    """Each part's sizes, chunk count and stream header, against the blob files themselves."""
    assert report["part_count"] == len(report["parts"])
    assert sum(part["plaintext_size"] for part in report["parts"]) == report["size"]
    for part in report["parts"]:
        blob = server.blobs_dir / part["blob_id"][0:2] / part["blob_id"][2:4] / part["blob_id"]
        assert part["stored_size"] == blob.stat().st_size
        assert part["problem"] is None
        if layers == 0:
            assert part["stored_size"] == part["plaintext_size"]
            assert part["stream"] is None
            continue
        assert part["stored_size"] == stored_size(part["plaintext_size"], layers)
        assert part["chunks"] == chunk_count(part["plaintext_size"])
        assert part["stream"] == {"format_version": 1, "layers": layers}


# -- every mode, one object each -----------------------------------------------------------------------------------


def test_inspect_sse_s3(server: KeyholdServer) -> None:
    bucket, key = unique("inspect-s3"), "docs/report.txt"
    s3 = server.s3()
    s3.create_bucket(Bucket=bucket)
    body = os.urandom(200_000)
    put = s3.put_object(Bucket=bucket, Key=key, Body=body, ServerSideEncryption="AES256", ContentType="text/plain")

    report = inspect_json(server, bucket, key)
    assert (report["bucket"], report["key"], report["size"]) == (bucket, key, len(body))
    assert report["etag"] == put["ETag"]
    assert report["content_type"] == "text/plain"
    encryption = report["encryption"]
    assert encryption["mode"] == "AES256"
    envelope, _parts = stored_row(f"sqlite:///{server.data_dir / 'keyhold.db'}", bucket, key)
    assert encryption["sse_s3_key"]["id"] == envelope["s3_key_id"]
    assert encryption["sse_s3_key"]["created"].endswith("Z")
    assert "kms_key_arn" not in encryption
    assert (report["multipart"], report["part_count"]) == (False, 1)
    assert report["parts"][0]["number"] == 0
    assert report["parts"][0]["chunks"] == 4  # 200,000 bytes in 64 KiB chunks
    assert_parts(server, report, layers=1)

    text = inspect_text(server, bucket, key)
    assert text.startswith(f"s3://{bucket}/{key}\n")
    assert "AES256 (SSE-S3)" in text
    assert envelope["s3_key_id"] in text
    assert put["ETag"] in text
    assert "v1, 1 layer" in text
    assert_no_secrets(server, bucket, key)


@pytest.mark.parametrize("bucket_key", [False, True], ids=["data-key", "bucket-key"])
def test_inspect_sse_kms(server: KeyholdServer, bucket_key: bool) -> None:
    bucket, key = unique("inspect-kms"), "k"
    key_arn = server.client("kms").create_key()["KeyMetadata"]["Arn"]
    s3 = server.s3()
    s3.create_bucket(Bucket=bucket)
    context = {"tenant": "acme"}
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=b"kms object",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=key_arn,
        SSEKMSEncryptionContext=base64.b64encode(json.dumps(context).encode()).decode(),
        BucketKeyEnabled=bucket_key,
    )
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head.get("BucketKeyEnabled", False) is bucket_key

    report = inspect_json(server, bucket, key)
    encryption = report["encryption"]
    assert encryption["mode"] == "aws:kms"
    assert encryption["kms_key_arn"] == key_arn == head["SSEKMSKeyId"]
    assert encryption["bucket_key"] is bucket_key
    assert encryption["encryption_context"]["tenant"] == "acme"
    # With a bucket key, KMS protects the bucket key, under the bucket's ARN (as on S3).
    arn = f"arn:aws:s3:::{bucket}" if bucket_key else f"arn:aws:s3:::{bucket}/{key}"
    assert encryption["encryption_context"]["aws:s3:arn"] == arn
    assert "sse_s3_key" not in encryption
    assert_parts(server, report, layers=1)

    text = inspect_text(server, bucket, key)
    assert "aws:kms (SSE-KMS)" in text
    assert key_arn in text
    assert '"tenant": "acme"' in text
    assert f"bucket key:         {'yes' if bucket_key else 'no'}" in text
    assert_no_secrets(server, bucket, key)


def test_inspect_dsse_multipart(server: KeyholdServer) -> None:
    bucket, key = unique("inspect-dsse"), "parts.bin"
    key_arn = server.client("kms").create_key()["KeyMetadata"]["Arn"]
    s3 = server.s3()
    s3.create_bucket(Bucket=bucket)
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key=key, ServerSideEncryption="aws:kms:dsse", SSEKMSKeyId=key_arn
    )["UploadId"]
    sizes = [5 * MIB, 5 * MIB, 70_000]
    etags = [
        s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=n, Body=os.urandom(size))["ETag"]
        for n, size in enumerate(sizes, start=1)
    ]
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]},
    )

    report = inspect_json(server, bucket, key)
    encryption = report["encryption"]
    assert encryption["mode"] == "aws:kms:dsse"
    assert encryption["kms_key_arn"] == key_arn
    assert encryption["sse_s3_key"]["id"]  # the outer layer's key
    assert report["etag"] == done["ETag"]
    assert report["etag"].strip('"').endswith("-3")
    assert (report["multipart"], report["part_count"]) == (True, 3)
    assert [p["number"] for p in report["parts"]] == [1, 2, 3]
    assert [p["plaintext_size"] for p in report["parts"]] == sizes
    assert [p["etag"] for p in report["parts"]] == etags
    assert [p["chunks"] for p in report["parts"]] == [80, 80, 2]
    assert len({p["blob_id"] for p in report["parts"]}) == 3
    assert_parts(server, report, layers=2)

    text = inspect_text(server, bucket, key)
    assert "aws:kms:dsse" in text
    assert "3 (multipart upload)" in text
    assert text.count("v1, 2 layers") == 3
    assert_no_secrets(server, bucket, key)


def test_inspect_sse_c(server: KeyholdServer) -> None:
    bucket, key = unique("inspect-ssec"), "secret.bin"
    customer_key = os.urandom(32)
    s3 = server.s3(secure=True)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(
        Bucket=bucket, Key=key, Body=b"c" * 70_000, SSECustomerAlgorithm="AES256", SSECustomerKey=customer_key
    )

    report = inspect_json(server, bucket, key)
    assert report["encryption"] == {"mode": "SSE-C", "customer_algorithm": "AES256"}
    assert report["size"] == 70_000
    assert_parts(server, report, layers=1)
    assert "SSE-C (customer-provided key, AES256)" in inspect_text(server, bucket, key)
    assert_no_secrets(server, bucket, key)
    for output in (inspect_text(server, bucket, key), json.dumps(report)):
        assert customer_key.hex() not in output
        assert base64.b64encode(customer_key).decode() not in output


def test_inspect_unencrypted(make_server: Any) -> None:
    """A server with --object-encryption off stores an object that asks for none as sent: mode none, no header."""
    plain = make_server("plain", extra_args=("--object-encryption", "off"))
    bucket, key = unique("inspect-none"), "clear.txt"
    s3 = plain.s3()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=b"stored as sent\n")

    report = inspect_json(plain, bucket, key)
    assert report["encryption"] == {"mode": "none"}
    assert report["parts"][0]["chunks"] is None
    assert_parts(plain, report, layers=0)
    assert "none (stored as sent)" in inspect_text(plain, bucket, key)


# -- finding the data, and what is not there -----------------------------------------------------------------------


def test_inspect_missing_bucket_key_and_data_dir(server: KeyholdServer, tmp_path: Path) -> None:
    bucket = unique("inspect-missing")
    server.s3().create_bucket(Bucket=bucket)

    no_key = inspect(bucket, "nope", data_dir=server.data_dir)
    assert no_key.returncode == 1
    assert no_key.stderr.strip() == f"keyhold s3 inspect: no such key: s3://{bucket}/nope"
    assert no_key.stdout == ""

    no_bucket = inspect(unique("absent"), "k", "--json", data_dir=server.data_dir)
    assert no_bucket.returncode == 1
    assert "no such bucket" in no_bucket.stderr
    assert no_bucket.stdout == ""

    nowhere = inspect(bucket, "k", data_dir=tmp_path / "none")
    assert nowhere.returncode == 1
    assert f"no data directory at {tmp_path / 'none'}" in nowhere.stderr
    assert not (tmp_path / "none").exists()  # nothing was created by looking

    empty = tmp_path / "empty"
    empty.mkdir()
    no_db = inspect(bucket, "k", data_dir=empty)
    assert no_db.returncode == 1
    assert "no database" in no_db.stderr
    assert list(empty.iterdir()) == []


def test_inspect_finds_the_data_dir_from_the_environment(server: KeyholdServer) -> None:
    bucket, key = unique("inspect-env"), "k"
    s3 = server.s3()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    result = inspect(bucket, key, "--json", env={"KEYHOLD_DATA_DIR": str(server.data_dir)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["key"] == key


def test_inspect_reads_a_missing_blob_as_a_problem(server: KeyholdServer) -> None:
    bucket, key = unique("inspect-gone"), "k"
    s3 = server.s3()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=b"soon gone")
    blob_id = inspect_json(server, bucket, key)["parts"][0]["blob_id"]
    (server.blobs_dir / blob_id[0:2] / blob_id[2:4] / blob_id).unlink()

    report = inspect_json(server, bucket, key)
    assert report["parts"][0]["problem"] == "blob missing"
    assert report["parts"][0]["stored_size"] is None
    assert "PROBLEM: blob missing" in inspect_text(server, bucket, key)


@pytest.mark.postgres
def test_inspect_with_a_postgresql_database(make_server: Any, fresh_pg_url: str) -> None:
    pg = make_server("pg", database_url=fresh_pg_url)
    bucket, key = unique("inspect-pg"), "k"
    s3 = pg.s3()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=b"in postgres", ServerSideEncryption="aws:kms")

    result = inspect(bucket, key, "--json", "--database-url", fresh_pg_url, data_dir=pg.data_dir)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["encryption"]["mode"] == "aws:kms"
    assert report["encryption"]["kms_key_arn"] == s3.head_object(Bucket=bucket, Key=key)["SSEKMSKeyId"]
    assert_parts(pg, report, layers=1)
    via_env = inspect(bucket, key, env={"KEYHOLD_DATABASE_URL": fresh_pg_url, "KEYHOLD_DATA_DIR": str(pg.data_dir)})
    assert via_env.returncode == 0, via_env.stderr
    assert "aws:kms (SSE-KMS)" in via_env.stdout
    assert_no_secrets(pg, bucket, key, db_url=fresh_pg_url)


def test_inspect_while_the_server_writes(server: KeyholdServer) -> None:
    """The command only reads: the server goes on serving and writing the same database meanwhile."""
    bucket = unique("inspect-live")
    s3 = server.s3()
    s3.create_bucket(Bucket=bucket)
    for index in range(3):
        s3.put_object(Bucket=bucket, Key=f"k{index}", Body=b"v" * index)
        assert inspect_json(server, bucket, f"k{index}")["size"] == index
    s3.put_object(Bucket=bucket, Key="after", Body=b"still writable")
    assert s3.get_object(Bucket=bucket, Key="after")["Body"].read() == b"still writable"
    with closing(sqlite3.connect(server.data_dir / "keyhold.db")) as conn:
        count = conn.execute("SELECT count(*) FROM s3_objects WHERE bucket = ?", (bucket,)).fetchone()[0]
    assert count == 4

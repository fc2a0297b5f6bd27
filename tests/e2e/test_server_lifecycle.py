"""`keyhold serve` as an operator runs it: restarts keep everything, PostgreSQL (one node or two sharing a
database), several workers sharing one database, the root key and root credentials from the environment,
secrets at rest and in logs, HTTPS, signals and environment-variable configuration."""

import base64
import configparser
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError, SSLError

from support.server import KeyholdServer, free_port

CONTEXT = {"app": "lifecycle", "tenant": "t-1"}
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]})
FRESH_CONNECTIONS = 20

MakeServer = Callable[..., KeyholdServer]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error_code(caught: pytest.ExceptionInfo[ClientError]) -> str:
    return str(caught.value.response["Error"]["Code"])


def random_root_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def without_metadata(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def fresh_client(server: KeyholdServer, service: str, **kwargs: Any) -> Any:
    """A client of its own: its requests go out on a new connection, so any worker may answer them."""
    return server.client(service, **kwargs)


def user_client(server: KeyholdServer, service: str, access_key: dict[str, Any]) -> Any:
    return fresh_client(
        server,
        service,
        aws_access_key_id=access_key["AccessKeyId"],
        aws_secret_access_key=access_key["SecretAccessKey"],
    )


# ---- a population of resources that must survive a restart -----------------------------------------------


def populate(server: KeyholdServer) -> dict[str, Any]:
    kms = server.client("kms")
    key = kms.create_key(Description="lifecycle key", Tags=[{"TagKey": "team", "TagValue": "keyhold"}])
    key_id = key["KeyMetadata"]["KeyId"]
    alias = unique("alias/lifecycle")
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    blob_before = kms.encrypt(KeyId=alias, Plaintext=b"before rotation", EncryptionContext=CONTEXT)
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    kms.rotate_key_on_demand(KeyId=key_id)
    blob_after = kms.encrypt(KeyId=key_id, Plaintext=b"after rotation", EncryptionContext=CONTEXT)
    assert blob_after["CiphertextBlob"] != blob_before["CiphertextBlob"]

    disabled = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=disabled)
    pending = kms.create_key()["KeyMetadata"]["KeyId"]
    deletion = kms.schedule_key_deletion(KeyId=pending, PendingWindowInDays=7)

    iam = server.client("iam")
    user_name = unique("lifecycle-user")
    user = iam.create_user(UserName=user_name, Path="/lifecycle/")["User"]
    access_key = iam.create_access_key(UserName=user_name)["AccessKey"]
    iam.put_user_policy(UserName=user_name, PolicyName="kms-all", PolicyDocument=POLICY)
    assert user_client(server, "sts", access_key).get_caller_identity()["Arn"] == user["Arn"]

    return {
        "root": (server.access_key_id, server.secret_access_key),
        "key": without_metadata(kms.describe_key(KeyId=key_id))["KeyMetadata"],
        "alias": alias,
        "rotation": without_metadata(kms.get_key_rotation_status(KeyId=key_id)),
        "rotations": kms.list_key_rotations(KeyId=key_id)["Rotations"],
        "blobs": {b"before rotation": blob_before["CiphertextBlob"], b"after rotation": blob_after["CiphertextBlob"]},
        "disabled": disabled,
        "pending": pending,
        "deletion_date": deletion["DeletionDate"],
        "user": user,
        "access_key": access_key,
    }


def verify(server: KeyholdServer, state: dict[str, Any]) -> None:
    assert (server.access_key_id, server.secret_access_key) == state["root"]
    kms = server.client("kms")
    key = state["key"]
    key_id = key["KeyId"]
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"] == key
    assert kms.describe_key(KeyId=state["alias"])["KeyMetadata"]["Arn"] == key["Arn"]
    assert [a["AliasName"] for a in kms.list_aliases(KeyId=key_id)["Aliases"]] == [state["alias"]]
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "team", "TagValue": "keyhold"}]
    assert without_metadata(kms.get_key_rotation_status(KeyId=key_id)) == state["rotation"]
    assert state["rotation"]["KeyRotationEnabled"] is True
    assert state["rotation"]["RotationPeriodInDays"] == 90
    assert kms.list_key_rotations(KeyId=key_id)["Rotations"] == state["rotations"]
    assert [r["RotationType"] for r in state["rotations"]] == ["ON_DEMAND"]

    for plaintext, blob in state["blobs"].items():
        opened = kms.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT)
        assert (opened["Plaintext"], opened["KeyId"]) == (plaintext, key["Arn"])
    fresh = kms.encrypt(KeyId=state["alias"], Plaintext=b"after restart", EncryptionContext=CONTEXT)
    assert kms.decrypt(CiphertextBlob=fresh["CiphertextBlob"], EncryptionContext=CONTEXT)["Plaintext"] == (
        b"after restart"
    )

    assert kms.describe_key(KeyId=state["disabled"])["KeyMetadata"]["KeyState"] == "Disabled"
    with pytest.raises(ClientError) as caught:
        kms.encrypt(KeyId=state["disabled"], Plaintext=b"x")
    assert error_code(caught) == "DisabledException"
    pending = kms.describe_key(KeyId=state["pending"])["KeyMetadata"]
    assert (pending["KeyState"], pending["DeletionDate"]) == ("PendingDeletion", state["deletion_date"])

    iam = server.client("iam")
    user = state["user"]
    assert iam.get_user(UserName=user["UserName"])["User"] == user
    keys = iam.list_access_keys(UserName=user["UserName"])["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(state["access_key"]["AccessKeyId"], "Active")]
    policy = iam.get_user_policy(UserName=user["UserName"], PolicyName="kms-all")["PolicyDocument"]
    assert policy == json.loads(POLICY)  # botocore decodes IAM policy documents
    assert user_client(server, "sts", state["access_key"]).get_caller_identity()["Arn"] == user["Arn"]


# ---- (a) restart persistence ------------------------------------------------------------------------------


def test_a_restart_keeps_keys_aliases_tags_rotations_ciphertexts_and_identities(make_server: MakeServer) -> None:
    server = make_server()
    state = populate(server)
    verify(server, state)
    server.restart()
    verify(server, state)


# ---- (b) PostgreSQL ---------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_backend_round_trip_with_restart(make_server: MakeServer, fresh_pg_url: str) -> None:
    server = make_server(database_url=fresh_pg_url)
    state = populate(server)
    server.restart()
    verify(server, state)
    assert not (server.data_dir / "keyhold.db").exists()


@pytest.fixture
def shared_env() -> dict[str, str]:
    """What two nodes of one deployment share besides the database: the root key and root credentials."""
    return {
        "KEYHOLD_ROOT_KEY": random_root_key(),
        "KEYHOLD_ROOT_ACCESS_KEY_ID": "AKIASHAREDNODEROOT01",
        "KEYHOLD_ROOT_SECRET_ACCESS_KEY": "shared/Root+Secret0123456789abcdefghijklm",
    }


@pytest.mark.postgres
def test_two_servers_on_one_postgres_database_share_keys_and_see_changes_at_once(
    make_server: MakeServer, fresh_pg_url: str, shared_env: dict[str, str]
) -> None:
    one = make_server("one", database_url=fresh_pg_url, env=shared_env)
    two = make_server("two", database_url=fresh_pg_url, env=shared_env)
    for node in (one, two):
        assert (node.access_key_id, node.secret_access_key) == (
            shared_env["KEYHOLD_ROOT_ACCESS_KEY_ID"],
            shared_env["KEYHOLD_ROOT_SECRET_ACCESS_KEY"],
        )
    kms_one, kms_two = one.client("kms"), two.client("kms")

    key = kms_one.create_key(Description="shared")["KeyMetadata"]
    assert kms_two.describe_key(KeyId=key["KeyId"])["KeyMetadata"] == key
    blob = kms_one.encrypt(KeyId=key["KeyId"], Plaintext=b"from one", EncryptionContext=CONTEXT)["CiphertextBlob"]
    assert kms_two.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT)["Plaintext"] == b"from one"
    blob = kms_two.encrypt(KeyId=key["KeyId"], Plaintext=b"from two")["CiphertextBlob"]
    assert kms_one.decrypt(CiphertextBlob=blob)["Plaintext"] == b"from two"

    # Both nodes have the key cached as enabled; disabling it on one must stop the other at once.
    kms_one.disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as caught:
        kms_two.encrypt(KeyId=key["KeyId"], Plaintext=b"refused")
    assert error_code(caught) == "DisabledException"
    with pytest.raises(ClientError) as caught:
        kms_two.decrypt(CiphertextBlob=blob)
    assert error_code(caught) == "DisabledException"

    kms_two.enable_key(KeyId=key["KeyId"])
    assert kms_one.decrypt(CiphertextBlob=blob)["Plaintext"] == b"from two"

    alias = unique("alias/shared")
    kms_two.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    assert kms_one.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == key["KeyId"]
    kms_two.rotate_key_on_demand(KeyId=key["KeyId"])
    rotated = kms_one.encrypt(KeyId=alias, Plaintext=b"new material")["CiphertextBlob"]
    assert kms_two.decrypt(CiphertextBlob=rotated)["Plaintext"] == b"new material"
    assert kms_one.decrypt(CiphertextBlob=blob)["Plaintext"] == b"from two"

    kms_one.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert kms_two.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    with pytest.raises(ClientError) as caught:
        kms_two.encrypt(KeyId=key["KeyId"], Plaintext=b"refused")
    assert error_code(caught) == "KMSInvalidStateException"


@pytest.mark.postgres
def test_two_servers_on_one_postgres_database_share_identities_and_see_changes_at_once(
    make_server: MakeServer, fresh_pg_url: str, shared_env: dict[str, str]
) -> None:
    one = make_server("one", database_url=fresh_pg_url, env=shared_env)
    two = make_server("two", database_url=fresh_pg_url, env=shared_env)
    iam_one = one.client("iam")
    user_name = unique("shared-user")
    arn = iam_one.create_user(UserName=user_name)["User"]["Arn"]
    access_key = iam_one.create_access_key(UserName=user_name)["AccessKey"]
    on_two = user_client(two, "sts", access_key)
    # The first call's change poll empties node two's credential cache; the second leaves the credential in it.
    for _ in range(2):
        assert on_two.get_caller_identity()["Arn"] == arn

    iam_one.update_access_key(UserName=user_name, AccessKeyId=access_key["AccessKeyId"], Status="Inactive")
    with pytest.raises(ClientError) as caught:
        on_two.get_caller_identity()
    assert error_code(caught) == "InvalidClientTokenId"

    two.client("iam").update_access_key(UserName=user_name, AccessKeyId=access_key["AccessKeyId"], Status="Active")
    assert user_client(one, "sts", access_key).get_caller_identity()["Arn"] == arn
    iam_one.delete_access_key(UserName=user_name, AccessKeyId=access_key["AccessKeyId"])
    with pytest.raises(ClientError) as caught:
        on_two.get_caller_identity()
    assert error_code(caught) == "InvalidClientTokenId"


# ---- (c) several workers on one database ------------------------------------------------------------------


def encrypt_on_fresh_connections(server: KeyholdServer, key_ref: str) -> list[str]:
    """Encrypt under ``key_ref`` once per fresh connection; "ok" or the error code of each call."""
    outcomes = []
    for _ in range(FRESH_CONNECTIONS):
        try:
            fresh_client(server, "kms").encrypt(KeyId=key_ref, Plaintext=b"x")
            outcomes.append("ok")
        except ClientError as exc:
            outcomes.append(str(exc.response["Error"]["Code"]))
    return outcomes


def test_workers_see_each_others_kms_changes_at_once(make_server: MakeServer) -> None:
    server = make_server(workers=2)
    kms = server.client("kms")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    assert encrypt_on_fresh_connections(server, key_id) == ["ok"] * FRESH_CONNECTIONS  # every worker caches it

    kms.disable_key(KeyId=key_id)
    assert encrypt_on_fresh_connections(server, key_id) == ["DisabledException"] * FRESH_CONNECTIONS

    kms.enable_key(KeyId=key_id)
    assert encrypt_on_fresh_connections(server, key_id) == ["ok"] * FRESH_CONNECTIONS

    alias = unique("alias/workers")
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    assert encrypt_on_fresh_connections(server, alias) == ["ok"] * FRESH_CONNECTIONS
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=other)
    kms.update_alias(AliasName=alias, TargetKeyId=other)
    assert encrypt_on_fresh_connections(server, alias) == ["DisabledException"] * FRESH_CONNECTIONS

    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert encrypt_on_fresh_connections(server, key_id) == ["KMSInvalidStateException"] * FRESH_CONNECTIONS


def test_a_key_created_in_one_request_is_usable_in_every_other(make_server: MakeServer) -> None:
    server = make_server(workers=2)
    for _ in range(3):
        key_id = fresh_client(server, "kms").create_key()["KeyMetadata"]["KeyId"]
        blobs = []
        for _ in range(FRESH_CONNECTIONS // 2):
            blobs.append(fresh_client(server, "kms").encrypt(KeyId=key_id, Plaintext=b"many")["CiphertextBlob"])
        for blob in blobs:
            assert fresh_client(server, "kms").decrypt(CiphertextBlob=blob)["Plaintext"] == b"many"


def test_workers_see_each_others_identity_changes_at_once(make_server: MakeServer) -> None:
    server = make_server(workers=2)
    iam = server.client("iam")
    user_name = unique("workers-user")
    iam.create_user(UserName=user_name)
    access_key = iam.create_access_key(UserName=user_name)["AccessKey"]

    def calls() -> list[str]:
        outcomes = []
        for _ in range(FRESH_CONNECTIONS):
            try:
                user_client(server, "sts", access_key).get_caller_identity()
                outcomes.append("ok")
            except ClientError as exc:
                outcomes.append(str(exc.response["Error"]["Code"]))
        return outcomes

    assert calls() == ["ok"] * FRESH_CONNECTIONS  # every worker caches the credential
    iam.update_access_key(UserName=user_name, AccessKeyId=access_key["AccessKeyId"], Status="Inactive")
    assert calls() == ["InvalidClientTokenId"] * FRESH_CONNECTIONS


# ---- (d) the root key from the environment ----------------------------------------------------------------


def assert_start_refused(data_dir: Path, env: dict[str, str], message: str) -> None:
    wrong = KeyholdServer(data_dir, env=env)
    try:
        with pytest.raises(RuntimeError, match=message):
            wrong.start()
        assert wrong.process is not None
        assert wrong.process.returncode not in (0, None)
    finally:
        wrong.stop()


def test_a_different_root_key_is_refused_at_start(make_server: MakeServer) -> None:
    original = random_root_key()
    server = make_server(env={"KEYHOLD_ROOT_KEY": original})
    kms = server.client("kms")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"sealed under the original")["CiphertextBlob"]
    assert server.stop() == 0
    assert not (server.data_dir / "root.key").exists()  # a root key from the environment is not written down

    assert_start_refused(server.data_dir, {"KEYHOLD_ROOT_KEY": random_root_key()}, "root key does not match")
    assert not (server.data_dir / "endpoints.json").exists()

    server.start()  # the original key still opens everything
    assert server.client("kms").decrypt(CiphertextBlob=blob)["Plaintext"] == b"sealed under the original"


def test_a_root_key_in_the_environment_must_match_the_generated_one(make_server: MakeServer) -> None:
    server = make_server()
    generated = (server.data_dir / "root.key").read_text().strip()
    assert len(base64.b64decode(generated, validate=True)) == 32
    assert server.stop() == 0

    assert_start_refused(server.data_dir, {"KEYHOLD_ROOT_KEY": random_root_key()}, "root key does not match")

    server.env = {"KEYHOLD_ROOT_KEY": generated}  # the same key, given the other way
    server.start()
    server.client("kms").create_key()


def run_until_exit(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("not base64 at all!", "not valid base64"),
        ("QUJ", "not valid base64"),
        (base64.b64encode(os.urandom(16)).decode(), "32 bytes"),
        (base64.b64encode(os.urandom(33)).decode(), "32 bytes"),
        (os.urandom(32).hex(), "32 bytes"),  # hex is valid base64 of 48 bytes
    ],
    ids=["garbage", "bad-padding", "16-bytes", "33-bytes", "hex"],
)
def test_a_malformed_root_key_stops_start_up_with_a_clear_error(tmp_path: Path, value: str, complaint: str) -> None:
    data_dir = tmp_path / "data"
    result = run_until_exit(KeyholdServer(data_dir).command(), {"KEYHOLD_ROOT_KEY": value})
    assert result.returncode != 0
    assert "KEYHOLD_ROOT_KEY" in result.stderr
    assert complaint in result.stderr
    assert "Traceback" not in result.stderr
    assert value not in result.stdout + result.stderr
    assert not (data_dir / "endpoints.json").exists()
    assert not (data_dir / "root.key").exists()


# ---- (e) secrets at rest and in the log -------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def files_holding(needles: dict[str, bytes], paths: list[Path]) -> list[tuple[str, str]]:
    found = []
    for path in paths:
        content = path.read_bytes()
        found += [(name, path.name) for name, needle in needles.items() if needle in content]
    return found


def test_secret_files_are_private_and_secrets_stay_out_of_the_database_and_log(make_server: MakeServer) -> None:
    server = make_server()
    data = server.data_dir
    for private in ("root.key", "credentials", "tls/server.key"):
        assert mode(data / private) == 0o600, private
    root_key = base64.b64decode((data / "root.key").read_text().strip(), validate=True)
    assert len(root_key) == 32

    kms = server.client("kms")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=CONTEXT)
    assert (
        kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"], EncryptionContext=CONTEXT)["Plaintext"]
        == (data_key["Plaintext"])
    )
    kms.rotate_key_on_demand(KeyId=key_id)
    iam = server.client("iam")
    iam.create_user(UserName="secrets-user")
    user_secret = iam.create_access_key(UserName="secrets-user")["AccessKey"]["SecretAccessKey"]

    needles = {
        "root key": root_key,
        "root key (base64)": base64.b64encode(root_key),
        "data key": data_key["Plaintext"],
        "data key (base64)": base64.b64encode(data_key["Plaintext"]),
        "user secret": user_secret.encode(),
    }

    def scanned() -> list[Path]:
        paths = [p for p in data.rglob("*") if p.is_file() and p.name != "root.key"]
        assert data / "keyhold.db" in paths
        return [*paths, server.log_path]

    while_running = scanned()
    assert data / "keyhold.db-wal" in while_running
    assert files_holding(needles, while_running) == []
    assert server.stop() == 0
    assert files_holding(needles, scanned()) == []


# ---- (f) root credentials from the environment ------------------------------------------------------------


def credentials_file(server: KeyholdServer) -> tuple[str, str]:
    parser = configparser.ConfigParser()
    parser.read(server.data_dir / "credentials")
    return parser["default"]["aws_access_key_id"], parser["default"]["aws_secret_access_key"]


def test_root_credentials_from_the_environment(make_server: MakeServer) -> None:
    first = ("AKIAKEYHOLDROOTONE01", "first/Secret+0123456789abcdefghijklmnopqr")
    second = ("AKIAKEYHOLDROOTTWO02", "second/Secret+0123456789abcdefghijklmnopq")
    env = {"KEYHOLD_ROOT_ACCESS_KEY_ID": first[0], "KEYHOLD_ROOT_SECRET_ACCESS_KEY": first[1]}
    server = make_server(env=env)

    assert credentials_file(server) == first
    assert mode(server.data_dir / "credentials") == 0o600
    client = server.client("sts", aws_access_key_id=first[0], aws_secret_access_key=first[1])
    assert client.get_caller_identity()["Arn"] == "arn:aws:iam::000000000000:root"
    server.client("kms", aws_access_key_id=first[0], aws_secret_access_key=first[1]).create_key()

    # Other credentials in the environment replace the root credentials on the next start.
    server.env = {"KEYHOLD_ROOT_ACCESS_KEY_ID": second[0], "KEYHOLD_ROOT_SECRET_ACCESS_KEY": second[1]}
    server.restart()
    assert credentials_file(server) == second
    client = server.client("sts", aws_access_key_id=second[0], aws_secret_access_key=second[1])
    assert client.get_caller_identity()["Arn"] == "arn:aws:iam::000000000000:root"
    with pytest.raises(ClientError) as caught:
        server.client("sts", aws_access_key_id=first[0], aws_secret_access_key=first[1]).get_caller_identity()
    assert error_code(caught) == "InvalidClientTokenId"

    # Without them, the root credentials stay what they were.
    server.env = {}
    server.restart()
    assert credentials_file(server) == second
    server.client("sts").get_caller_identity()


def test_half_given_root_credentials_stop_start_up_with_a_clear_error(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = run_until_exit(KeyholdServer(data_dir).command(), {"KEYHOLD_ROOT_ACCESS_KEY_ID": "AKIAKEYHOLDHALFONLY1"})
    assert result.returncode != 0
    assert "keyhold: cannot start:" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (data_dir / "endpoints.json").exists()


# ---- (g) HTTPS --------------------------------------------------------------------------------------------


def test_https_with_the_data_dir_ca(make_server: MakeServer) -> None:
    server = make_server()
    ca = server.data_dir / "tls" / "ca.pem"
    kms = server.client("kms", endpoint_url=server.https_url, verify=str(ca))
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"over tls")["CiphertextBlob"]
    assert server.client("kms").decrypt(CiphertextBlob=blob)["Plaintext"] == b"over tls"
    sts = server.client("sts", endpoint_url=server.https_url, verify=str(ca))
    assert sts.get_caller_identity()["Account"] == "000000000000"

    untrusting = server.client("kms", endpoint_url=server.https_url, verify=True)
    with pytest.raises(SSLError):
        untrusting.list_keys()


# ---- (h) signals ------------------------------------------------------------------------------------------


def refuses_connections(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=5):
            return False
    except ConnectionRefusedError:
        return True


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_server_cleanly(make_server: MakeServer, signum: int, workers: int) -> None:
    server = make_server(workers=workers)
    urls = (server.http_url, server.https_url)
    for _ in range(4):
        fresh_client(server, "kms").create_key()
    assert server.stop(signum) == 0
    log = server.log()
    assert "Keyhold stopped." in log
    assert "Traceback" not in log
    for url in urls:
        assert refuses_connections(url), url  # no worker is left holding the sockets


# ---- (i) configuration from KEYHOLD_* variables -----------------------------------------------------------


class EnvConfiguredServer(KeyholdServer):
    """`keyhold serve` with no options at all: everything from KEYHOLD_* variables."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "keyhold", "serve"]


@pytest.mark.postgres
def test_configuration_from_environment_variables(tmp_path: Path, fresh_pg_url: str) -> None:
    http_port, https_port = free_port(), free_port()
    data_dir = tmp_path / "env-data"
    env = {
        "KEYHOLD_DATA_DIR": str(data_dir),
        "KEYHOLD_HTTP_PORT": str(http_port),
        "KEYHOLD_HTTPS_PORT": str(https_port),
        "KEYHOLD_REGION": "eu-west-1",
        "KEYHOLD_WORKERS": "2",
        "KEYHOLD_DATABASE_URL": fresh_pg_url,
    }
    server = EnvConfiguredServer(data_dir, env=env, region="eu-west-1")
    try:
        server.start()
        assert (urlsplit(server.http_url).port, urlsplit(server.https_url).port) == (http_port, https_port)
        assert "Workers:         2" in server.log()
        key = server.client("kms").create_key()["KeyMetadata"]
        assert key["Arn"].startswith("arn:aws:kms:eu-west-1:000000000000:key/")
        assert (data_dir / "config").read_text() == "[default]\nregion = eu-west-1\n"
        assert not (data_dir / "keyhold.db").exists()  # the metadata went to PostgreSQL
        assert server.stop() == 0
    finally:
        server.stop()


def test_command_line_options_win_over_environment_variables(make_server: MakeServer) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        # The fixture passes --http-port 0 --region us-east-1: the variables must lose.
        server = make_server(env={"KEYHOLD_HTTP_PORT": str(busy), "KEYHOLD_REGION": "ap-south-1"})
        assert urlsplit(server.http_url).port != busy
    key = server.client("kms").create_key()["KeyMetadata"]
    assert key["Arn"].startswith("arn:aws:kms:us-east-1:")

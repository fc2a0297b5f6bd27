"""The data directory: what `keyhold serve` creates on first start and checks on every start.

<data-dir>/root.key      the 256-bit root key, base64 on one line, mode 0600 (unless KEYHOLD_ROOT_KEY is set)
<data-dir>/keyhold.db    SQLite metadata (WAL), unless --database-url names another database
<data-dir>/credentials   AWS shared-credentials INI with the root access key, profile "default", mode 0600
<data-dir>/config        AWS config INI naming the region for profile "default"
<data-dir>/tls/          ca.pem (trust this), server.pem, server.key (0600)
<data-dir>/endpoints.json  the URLs actually bound (written once the ports are open)
"""

import base64
import binascii
import datetime
import json
import os
from pathlib import Path

from keyhold.crypto import selfsigned
from keyhold.crypto.keywrap import RootKey


class StartupError(Exception):
    """The data directory or the settings cannot be used; the message says what to do."""


def write_file_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write-temp, fsync, rename, fsync the directory: the file is either absent or complete."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def prepare(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    (data_dir / "tls").mkdir(exist_ok=True, mode=0o700)


def _decode_root_key(text: str, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise StartupError(f"{source} is not valid base64") from exc
    if len(key) != 32:
        raise StartupError(f"{source} must hold 32 bytes (256 bits), base64-encoded; it holds {len(key)}")
    return key


def load_root_key(data_dir: Path, from_env: str | None) -> RootKey:
    """The root key from KEYHOLD_ROOT_KEY, else from <data-dir>/root.key, generated there on first start."""
    if from_env is not None:
        return RootKey(_decode_root_key(from_env, "KEYHOLD_ROOT_KEY"))
    path = data_dir / "root.key"
    if not path.exists():
        write_file_atomically(path, base64.b64encode(os.urandom(32)) + b"\n", mode=0o600)
    return RootKey(_decode_root_key(path.read_text(), str(path)))


def write_credentials(data_dir: Path, access_key_id: str, secret_access_key: str, region: str) -> None:
    credentials = (
        f"[default]\naws_access_key_id = {access_key_id}\naws_secret_access_key = {secret_access_key}\n"
    ).encode()
    path = data_dir / "credentials"
    if not path.exists() or path.read_bytes() != credentials:
        write_file_atomically(path, credentials, mode=0o600)
    config = f"[default]\nregion = {region}\n".encode()
    config_path = data_dir / "config"
    if not config_path.exists() or config_path.read_bytes() != config:
        write_file_atomically(config_path, config, mode=0o644)


def ensure_tls(data_dir: Path, host: str) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key); generated once, kept across restarts."""
    tls = data_dir / "tls"
    ca, cert, key = tls / "ca.pem", tls / "server.pem", tls / "server.key"
    if not (ca.exists() and cert.exists() and key.exists()):
        names = ["localhost", "127.0.0.1", "::1"]
        if host not in names and host not in ("0.0.0.0", "::"):
            names.insert(0, host)
        material = selfsigned.generate(names, datetime.datetime.now(datetime.UTC))
        write_file_atomically(key, material.key_pem, mode=0o600)
        write_file_atomically(cert, material.cert_pem)
        write_file_atomically(ca, material.ca_pem)
    return ca, cert, key


def write_endpoints(data_dir: Path, endpoints: dict[str, str]) -> None:
    write_file_atomically(data_dir / "endpoints.json", (json.dumps(endpoints, indent=2) + "\n").encode())

"""A real `keyhold serve` subprocess on free ports with its own data directory, and clients pointed at it."""

import configparser
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

START_TIMEOUT = 60.0


class KeyholdServer:
    def __init__(
        self,
        data_dir: Path,
        *,
        workers: int = 1,
        database_url: str | None = None,
        env: dict[str, str] | None = None,
        extra_args: tuple[str, ...] = (),
        region: str = "us-east-1",
    ) -> None:
        self.data_dir = data_dir
        self.workers = workers
        self.database_url = database_url
        self.env = env or {}
        self.extra_args = extra_args
        self.region = region
        self.account_id = "000000000000"
        self.process: subprocess.Popen[bytes] | None = None
        self.http_url = ""
        self.https_url = ""
        self.access_key_id = ""
        self.secret_access_key = ""
        self.log_path = data_dir.parent / f"{data_dir.name}.log"

    # -- process ----------------------------------------------------------------------------------------------

    def command(self) -> list[str]:
        command = [
            sys.executable, "-m", "keyhold", "serve",
            "--data-dir", str(self.data_dir),
            "--http-port", "0", "--https-port", "0",
            "--region", self.region,
            "--workers", str(self.workers),
        ]  # fmt: skip
        if self.database_url:
            command += ["--database-url", self.database_url]
        return command + list(self.extra_args)

    def start(self) -> "KeyholdServer":
        endpoints = self.data_dir / "endpoints.json"
        endpoints.unlink(missing_ok=True)
        env = {**os.environ, **self.env}
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not endpoints.exists():
            self._check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"keyhold did not start:\n{self.log()}")
            time.sleep(0.05)
        urls = json.loads(endpoints.read_text())
        self.http_url, self.https_url = urls["http"], urls["https"]
        credentials = configparser.ConfigParser()
        credentials.read(self.data_dir / "credentials")
        self.access_key_id = credentials["default"]["aws_access_key_id"]
        self.secret_access_key = credentials["default"]["aws_secret_access_key"]
        self._wait_serving(deadline)
        return self

    def _wait_serving(self, deadline: float) -> None:
        """Until a signed request gets an answer from a worker (the socket is bound before workers start)."""
        client = self.client("sts")
        while True:
            self._check_alive()
            try:
                client.get_caller_identity()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"keyhold exited with {self.process.returncode}:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process is None:
            return 0
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.process = None
        return code

    def restart(self) -> "KeyholdServer":
        self.stop()
        return self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- clients ----------------------------------------------------------------------------------------------

    def client(self, service: str, **kwargs: Any) -> Any:
        options: dict[str, Any] = {
            "endpoint_url": self.http_url,
            "region_name": self.region,
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "config": Config(retries={"total_max_attempts": 1, "mode": "standard"}),  # no retries: every error seen
        }
        options.update(kwargs)
        return boto3.client(service, **options)

    def s3(self, *, secure: bool = False, addressing: str = "path", **kwargs: Any) -> Any:
        """A boto3 S3 client with its default settings (flexible checksums on). ``secure`` goes over HTTPS,
        trusting the server's own CA: that is where boto3 sends aws-chunked bodies with trailing checksums, and
        where SSE-C is allowed."""
        if secure:
            kwargs.setdefault("endpoint_url", self.https_url)
            kwargs.setdefault("verify", str(self.ca_path))
        config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, s3={"addressing_style": addressing})
        kwargs.setdefault("config", config)
        return self.client("s3", **kwargs)

    @property
    def ca_path(self) -> Path:
        return self.data_dir / "tls" / "ca.pem"

    @property
    def blobs_dir(self) -> Path:
        return self.data_dir / "blobs"

    def cli_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_SHARED_CREDENTIALS_FILE=str(self.data_dir / "credentials"),
            AWS_CONFIG_FILE=str(self.data_dir / "config"),
            AWS_PAGER="",
        )
        env.update(extra or {})
        return env

    def cli(
        self, *args: str, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = ["aws", "--endpoint-url", self.http_url, "--region", self.region, "--output", "json", *args]
        result = subprocess.run(command, env=self.cli_env(env), capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def cli_json(self, *args: str) -> Any:
        out = self.cli(*args).stdout
        return json.loads(out) if out.strip() else {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

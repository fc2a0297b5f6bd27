"""Settings, parsed once from command-line options and KEYHOLD_* environment variables."""

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    host: str = "127.0.0.1"
    http_port: int = 4566
    https_port: int = 4567
    region: str = DEFAULT_REGION
    database_url: str | None = None  # None: SQLite file <data-dir>/keyhold.db
    workers: int = 1
    job_interval: float = 60.0  # seconds between runs of background jobs (deletions, rotations)
    audit_flush_interval: float = 1.0  # seconds an audit record may wait in memory (the loss window on a crash)
    audit: bool = True  # the audit trail; off only for throwaway environments (and the benchmark's baseline)
    enforce_quotas: bool = False  # AWS's default KMS request quotas, per account and region (ThrottlingException)
    quota_symmetric_rate: float | None = None  # None: AWS's Region-dependent default for symmetric crypto operations
    allow_ssec_over_http: bool = False  # SSE-C over plain HTTP: only for test rigs (S3 refuses it)
    object_encryption: bool = True  # off: objects that ask for no encryption are stored as sent (benchmark baselines)
    # Secrets given through the environment; never printed, never in repr().
    root_key_b64: str | None = field(default=None, repr=False)
    root_access_key_id: str | None = None
    root_secret_access_key: str | None = field(default=None, repr=False)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'keyhold.db'}"


def _port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0 picks a free port)")
    return port


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _positive_rate(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError("must be a number of requests per second above 0")
    return number


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def add_serve_arguments(parser: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    def default(name: str, fallback: str) -> str:
        return env.get(f"KEYHOLD_{name}", fallback)

    parser.add_argument("--data-dir", default=default("DATA_DIR", "./keyhold-data"), help="KEYHOLD_DATA_DIR")
    parser.add_argument("--host", default=default("HOST", "127.0.0.1"), help="KEYHOLD_HOST")
    parser.add_argument("--http-port", type=_port, default=default("HTTP_PORT", "4566"), help="KEYHOLD_HTTP_PORT")
    parser.add_argument("--https-port", type=_port, default=default("HTTPS_PORT", "4567"), help="KEYHOLD_HTTPS_PORT")
    parser.add_argument("--region", default=default("REGION", DEFAULT_REGION), help="KEYHOLD_REGION")
    parser.add_argument(
        "--database-url",
        default=env.get("KEYHOLD_DATABASE_URL"),
        help="KEYHOLD_DATABASE_URL; default: SQLite in the data dir; postgresql://... selects PostgreSQL",
    )
    parser.add_argument("--workers", type=_positive, default=default("WORKERS", "1"), help="KEYHOLD_WORKERS")
    parser.add_argument(
        "--job-interval",
        type=float,
        default=default("JOB_INTERVAL", "60"),
        help="seconds between background job runs (KEYHOLD_JOB_INTERVAL)",
    )
    _add_audit_argument(parser, env)
    _add_quota_arguments(parser, env)
    _add_object_arguments(parser, env)


def _add_object_arguments(parser: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    parser.add_argument(
        "--allow-ssec-over-http",
        action="store_true",
        default=_flag(env.get("KEYHOLD_ALLOW_SSEC_OVER_HTTP")),
        help="accept SSE-C keys over plain HTTP, for test rigs only (KEYHOLD_ALLOW_SSEC_OVER_HTTP=1)",
    )
    parser.add_argument(
        "--object-encryption",
        choices=("on", "off"),
        default=env.get("KEYHOLD_OBJECT_ENCRYPTION", "on"),
        help="encrypt objects that ask for no encryption with SSE-S3, as S3 does (default on); off stores them "
        "as sent, for benchmark baselines only (KEYHOLD_OBJECT_ENCRYPTION)",
    )


def _add_quota_arguments(parser: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    parser.add_argument(
        "--enforce-quotas",
        action="store_true",
        default=_flag(env.get("KEYHOLD_ENFORCE_QUOTAS")),
        help="throttle KMS requests beyond AWS's default request quotas (KEYHOLD_ENFORCE_QUOTAS=1)",
    )
    parser.add_argument(
        "--quota-symmetric-rate",
        type=_positive_rate,
        default=env.get("KEYHOLD_QUOTA_SYMMETRIC_RATE") or None,
        help="requests/s shared by symmetric cryptographic operations; default: AWS's for the Region "
        "(KEYHOLD_QUOTA_SYMMETRIC_RATE)",
    )


def _add_audit_argument(parser: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    parser.add_argument(
        "--audit",
        choices=("on", "off"),
        default=env.get("KEYHOLD_AUDIT", "on"),
        help="record every request in the audit trail (default on; KEYHOLD_AUDIT); off keeps no trail at all",
    )
    parser.add_argument(
        "--audit-flush-interval",
        type=float,
        default=env.get("KEYHOLD_AUDIT_FLUSH_INTERVAL", "1"),
        help="seconds audit records may wait in memory before they are written (KEYHOLD_AUDIT_FLUSH_INTERVAL)",
    )


def settings_from(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    return Settings(
        data_dir=Path(args.data_dir).resolve(),
        host=args.host,
        http_port=int(args.http_port),
        https_port=int(args.https_port),
        region=args.region,
        database_url=args.database_url or None,
        workers=int(args.workers),
        job_interval=float(args.job_interval),
        audit_flush_interval=float(args.audit_flush_interval),
        audit=args.audit != "off",
        enforce_quotas=bool(args.enforce_quotas),
        quota_symmetric_rate=None if args.quota_symmetric_rate is None else float(args.quota_symmetric_rate),
        allow_ssec_over_http=bool(args.allow_ssec_over_http),
        object_encryption=args.object_encryption != "off",
        root_key_b64=env.get("KEYHOLD_ROOT_KEY") or None,
        root_access_key_id=env.get("KEYHOLD_ROOT_ACCESS_KEY_ID") or None,
        root_secret_access_key=env.get("KEYHOLD_ROOT_SECRET_ACCESS_KEY") or None,
    )


def parse_serve(argv: Sequence[str], env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(prog="keyhold serve")
    add_serve_arguments(parser, env)
    return settings_from(parser.parse_args(argv), env)

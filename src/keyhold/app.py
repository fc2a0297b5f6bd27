"""The composition root: settings → stores → services → the HTTP app. Nothing here runs at import time."""

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, insert, select

from keyhold import datadir
from keyhold.audit import AuditWriter, default_node_id, load_or_create_signing_key
from keyhold.config import Settings
from keyhold.crypto.keywrap import RootKey
from keyhold.domain.identity.model import DEFAULT_ACCOUNT_ID
from keyhold.domain.identity.service import IdentityService
from keyhold.domain.keys.service import KmsService
from keyhold.domain.keys.service_client import ServiceKmsClient
from keyhold.domain.objects.service import ObjectStore, build_object_store
from keyhold.domain.quotas import NO_QUOTAS, SYMMETRIC, QuotaMeter, Quotas
from keyhold.protocols.asgi import Adapter, KeyholdApp
from keyhold.protocols.kms.audit import KmsAudit, key_event_record
from keyhold.protocols.kms.router import KmsProtocol
from keyhold.protocols.model_validation import OperationValidator
from keyhold.protocols.query_adapters import iam_adapter, sts_adapter
from keyhold.protocols.s3.multipart_handlers import combine_checksum
from keyhold.protocols.s3.router import S3Protocol
from keyhold.storage.blob.filesystem import FilesystemBlobStore
from keyhold.storage.sql.changes import ChangeFeed
from keyhold.storage.sql.db import create_schema, open_engine
from keyhold.storage.sql.identity import SqlIdentityRepo
from keyhold.storage.sql.keys import SqlKeyRepo
from keyhold.storage.sql.objects import SqlObjectRepo
from keyhold.storage.sql.schema import meta

log = logging.getLogger("keyhold")

ROOT_KEY_CHECK = "root_key_check"


@dataclass(frozen=True, slots=True)
class Bootstrap:
    access_key_id: str
    secret_access_key: str


@dataclass(slots=True)
class Runtime:
    """Everything one process serves with."""

    settings: Settings
    engine: Engine
    identity: IdentityService
    kms: KmsService
    changes: ChangeFeed
    audit: AuditWriter
    objects: ObjectStore

    def kms_client(self, service: str) -> ServiceKmsClient:
        """The in-process KMS client a Keyhold service ("s3", "ses", "workmail") uses; its calls are audited."""
        return ServiceKmsClient(self.kms, service, KmsAudit(self.audit.record) if self.settings.audit else None)

    def close(self) -> None:
        self.audit.close()
        self.changes.close()
        self.engine.dispose()


def _check_root_key(engine: Engine, root_key: RootKey) -> None:
    with engine.begin() as conn:
        stored = conn.scalar(select(meta.c.value).where(meta.c.name == ROOT_KEY_CHECK))
        if stored is None:
            conn.execute(insert(meta).values(name=ROOT_KEY_CHECK, value=root_key.check_value()))
            return
    if not root_key.matches(bytes(stored)):
        raise datadir.StartupError(
            "The root key does not match the one this database was written with. Start with the original "
            "root key (KEYHOLD_ROOT_KEY or <data-dir>/root.key); Keyhold will not serve data it cannot decrypt."
        )


def bootstrap(settings: Settings) -> Bootstrap:
    """First-start work and start-up checks, done once in the parent process before workers start."""
    datadir.prepare(settings.data_dir)
    root_key = datadir.load_root_key(settings.data_dir, settings.root_key_b64)
    audit_dir(settings).mkdir(mode=0o700, exist_ok=True)
    load_or_create_signing_key(audit_dir(settings) / "signing-key.pem")  # once, before workers could race for it
    engine = open_engine(settings.db_url, pool_size=2)
    try:
        create_schema(engine)
        _check_root_key(engine, root_key)
        identity = IdentityService(SqlIdentityRepo(engine), root_key)
        access_key_id, secret = identity.bootstrap_account(
            DEFAULT_ACCOUNT_ID, settings.root_access_key_id, settings.root_secret_access_key
        )
    finally:
        engine.dispose()
    # Temporary files of uploads cut short by a crash; an hour leaves uploads in flight elsewhere alone.
    FilesystemBlobStore(blobs_dir(settings)).sweep_tmp(older_than_seconds=3600)
    datadir.write_credentials(settings.data_dir, access_key_id, secret, settings.region)
    datadir.ensure_tls(settings.data_dir, settings.host)
    return Bootstrap(access_key_id, secret)


def audit_dir(settings: Settings) -> Path:
    return settings.data_dir / "audit"


def open_runtime(settings: Settings, node_suffix: str = "") -> Runtime:
    """``node_suffix`` tells this process's audit stream apart from others of the same pid (the job thread)."""
    root_key = datadir.load_root_key(settings.data_dir, settings.root_key_b64)
    engine = open_engine(settings.db_url)
    identity_repo = SqlIdentityRepo(engine)
    identity = IdentityService(identity_repo, root_key)
    audit = AuditWriter(
        audit_dir(settings), node_id=default_node_id() + node_suffix, flush_interval=settings.audit_flush_interval
    )
    kms = KmsService(
        SqlKeyRepo(engine),
        root_key,
        identity_policies=identity.user_policies.documents,
        quotas=quotas_for(settings),
        on_event=(lambda event: audit.record(key_event_record(event))) if settings.audit else lambda _event: None,
    )
    changes = ChangeFeed(engine)
    changes.subscribe("identity", identity.invalidate)
    changes.subscribe("kms", kms.invalidate)
    s3_kms = ServiceKmsClient(kms, "s3", KmsAudit(audit.record) if settings.audit else None)
    objects = build_object_store(
        SqlObjectRepo(engine),
        FilesystemBlobStore(blobs_dir(settings)),
        s3_kms,
        root_key,
        identity.user_policies.documents,
        settings.region,
        encrypt_by_default=settings.object_encryption,
        combine_checksum=combine_checksum,
    )
    return Runtime(settings, engine, identity, kms, changes, audit, objects)


def blobs_dir(settings: Settings) -> Path:
    return settings.data_dir / "blobs"


def quotas_for(settings: Settings) -> QuotaMeter:
    """AWS's request quotas if enforced; each worker process holds its own buckets, so each gets 1/workers."""
    if not settings.enforce_quotas:
        return NO_QUOTAS
    rates = {SYMMETRIC: settings.quota_symmetric_rate} if settings.quota_symmetric_rate is not None else None
    return Quotas(rates=rates, share=settings.workers)


def build_app(runtime: Runtime) -> KeyholdApp:
    sink = runtime.audit.record if runtime.settings.audit else None
    adapters: dict[str, Adapter] = {
        "kms": KmsProtocol(runtime.kms, OperationValidator.for_service("kms"), KmsAudit(sink) if sink else None),
        "iam": iam_adapter(runtime.identity, sink),
        "sts": sts_adapter(runtime.identity, sink),
        "s3": S3Protocol(
            runtime.objects, runtime.identity.credential, allow_http_ssec=runtime.settings.allow_ssec_over_http
        ),
    }
    return KeyholdApp(
        adapters, runtime.identity.credential, runtime.changes.poll, default_region=runtime.settings.region
    )

"""The relational schema, one MetaData for SQLite and PostgreSQL alike.

Times are stored as epoch seconds (float, UTC). Secrets are stored only wrapped under the root key (see
crypto/keywrap.py): key material in ``kms_materials.wrapped``, secret access keys in
``access_keys.wrapped_secret``.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# Small named values: the root-key check value, the schema version.
meta = Table(
    "meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

# Change counters, one per cache domain ("kms", "identity"). Every write transaction that changes what a cache
# holds increments its counter; every process compares the counter before trusting its cache.
generations = Table(
    "generations",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", Integer, nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("created_at", Float, nullable=False),
)

iam_users = Table(
    "iam_users",
    metadata,
    Column("account_id", String(12), ForeignKey("accounts.account_id"), primary_key=True),
    # IAM user names are unique case-insensitively; the name as given is kept in user_name.
    Column("name_key", String(64), primary_key=True),
    Column("user_name", String(64), nullable=False),
    Column("user_id", String(32), nullable=False, unique=True),
    Column("path", String(512), nullable=False),
    Column("created_at", Float, nullable=False),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("access_key_id", String(128), primary_key=True),
    Column("account_id", String(12), ForeignKey("accounts.account_id"), nullable=False),
    # NULL for the account's root access key.
    Column("user_name", String(64), nullable=True),
    Column("wrapped_secret", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
)
Index("access_keys_by_user", access_keys.c.account_id, access_keys.c.user_name)

user_policies = Table(
    "user_policies",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name_key", String(64), primary_key=True),
    Column("policy_name", String(128), primary_key=True),
    Column("document", Text, nullable=False),
)

kms_keys = Table(
    "kms_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("description", Text, nullable=False),
    Column("key_usage", String(32), nullable=False),
    Column("key_spec", String(32), nullable=False),
    Column("origin", String(32), nullable=False),
    Column("key_manager", String(16), nullable=False),
    Column("state", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("deletion_date", Float, nullable=True),
    Column("pending_window_days", Integer, nullable=True),
    Column("rotation_enabled", Boolean, nullable=False),
    Column("rotation_period_days", Integer, nullable=True),
    Column("next_rotation_at", Float, nullable=True),
    Column("multi_region", Boolean, nullable=False),
    Column("policy", Text, nullable=False),
    # "" for an EXTERNAL key that never had material imported.
    Column("current_material_id", String(64), nullable=False),
    # EXTERNAL keys only: the expiration model and earliest valid-to date of their imported material.
    Column("expiration_model", String(32), nullable=True),
    Column("valid_to", Float, nullable=True),
)
Index("kms_keys_by_account_region", kms_keys.c.account_id, kms_keys.c.region, kms_keys.c.created_at)

kms_materials = Table(
    "kms_materials",
    metadata,
    Column("material_id", String(64), primary_key=True),
    Column("key_id", String(64), ForeignKey("kms_keys.key_id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    # NULL while imported material is deleted or expired (it keeps its id until the same material is reimported).
    Column("wrapped", LargeBinary, nullable=True),
    Column("created_at", Float, nullable=False),
    # NULL for the material a key was created with; AUTOMATIC or ON_DEMAND for rotations.
    Column("rotation_type", String(16), nullable=True),
    # Imported material only: ExpirationModel, ValidTo, KeyMaterialDescription, and whether it was imported as new
    # material that RotateKeyOnDemand has not made current yet (PENDING_ROTATION).
    Column("expiration_model", String(32), nullable=True),
    Column("valid_to", Float, nullable=True),
    Column("description", String(256), nullable=True),
    Column("pending_rotation", Boolean, nullable=False, default=False),
)
Index("kms_materials_by_key", kms_materials.c.key_id, kms_materials.c.seq, unique=True)

kms_aliases = Table(
    "kms_aliases",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("alias_name", String(256), primary_key=True),
    Column("target_key_id", String(64), ForeignKey("kms_keys.key_id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)
Index("kms_aliases_by_target", kms_aliases.c.target_key_id)

kms_tags = Table(
    "kms_tags",
    metadata,
    Column("key_id", String(64), ForeignKey("kms_keys.key_id", ondelete="CASCADE"), primary_key=True),
    Column("tag_key", String(128), primary_key=True),
    Column("tag_value", String(256), nullable=False),
)

kms_grants = Table(
    "kms_grants",
    metadata,
    Column("grant_id", String(64), primary_key=True),
    Column("key_id", String(64), ForeignKey("kms_keys.key_id", ondelete="CASCADE"), nullable=False),
    Column("name", String(256), nullable=True),
    Column("grantee_principal", String(256), nullable=False),
    Column("retiring_principal", String(256), nullable=True),
    Column("issuing_account", String(256), nullable=False),
    Column("operations", Text, nullable=False),  # JSON list
    Column("context_subset", Text, nullable=True),  # JSON object
    Column("context_equals", Text, nullable=True),  # JSON object
    Column("created_at", Float, nullable=False),
)
Index("kms_grants_by_key", kms_grants.c.key_id, kms_grants.c.grant_id)
Index("kms_grants_by_retiring", kms_grants.c.retiring_principal, kms_grants.c.grant_id)


# ---- the object store (storage/sql/objects.py) ---------------------------------------------------------------


def _binary_ordered(length: int) -> String:
    """A string column compared and ordered by its UTF-8 bytes, as S3 orders keys: SQLite's default BINARY
    collation does that; on PostgreSQL the column gets the "C" collation whatever the database's default."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


s3_buckets = Table(
    "s3_buckets",
    metadata,
    Column("name", _binary_ordered(63), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("encryption", Text, nullable=True),  # JSON object: the BucketEncryption; NULL: the SSE-S3 default
    Column("policy", Text, nullable=True),
)
Index("s3_buckets_by_account", s3_buckets.c.account_id, s3_buckets.c.name)

# No ON DELETE CASCADE: a bucket that holds objects cannot be deleted.
s3_objects = Table(
    "s3_objects",
    metadata,
    Column("bucket", _binary_ordered(63), ForeignKey("s3_buckets.name"), primary_key=True),
    Column("key", _binary_ordered(1024), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("etag", String(64), nullable=False),
    Column("last_modified", Float, nullable=False),
    Column("content_type", Text, nullable=False),
    Column("headers", Text, nullable=False),  # JSON object
    Column("user_metadata", Text, nullable=False),  # JSON object
    Column("checksum_algorithm", String(16), nullable=True),
    Column("checksum_value", String(128), nullable=True),
    Column("checksum_type", String(16), nullable=True),
    Column("encryption", Text, nullable=False),  # Envelope.to_json()
    Column("parts", Text, nullable=False),  # JSON list of {number, size, blob_id, etag, salt}
    Column("seal", LargeBinary, nullable=False),  # HMAC under the root key over the row (domain/objects/sealing.py)
)

# In-progress multipart uploads; deleted with their bucket (by SqlObjectRepo.delete_bucket, not by cascade).
s3_uploads = Table(
    "s3_uploads",
    metadata,
    Column("upload_id", _binary_ordered(128), primary_key=True),
    Column("bucket", _binary_ordered(63), ForeignKey("s3_buckets.name"), nullable=False),
    Column("key", _binary_ordered(1024), nullable=False),
    Column("initiated", Float, nullable=False),
    Column("initiator_arn", Text, nullable=False),
    Column("content_type", Text, nullable=False),
    Column("headers", Text, nullable=False),  # JSON object
    Column("user_metadata", Text, nullable=False),  # JSON object
    Column("checksum_algorithm", String(16), nullable=True),
    Column("checksum_type", String(16), nullable=True),
    Column("encryption", Text, nullable=False),  # Envelope.to_json()
)
Index("s3_uploads_by_key", s3_uploads.c.bucket, s3_uploads.c.key, s3_uploads.c.initiated, s3_uploads.c.upload_id)

s3_parts = Table(
    "s3_parts",
    metadata,
    Column("upload_id", _binary_ordered(128), ForeignKey("s3_uploads.upload_id", ondelete="CASCADE"), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("etag", String(64), nullable=False),
    Column("blob_id", String(64), nullable=False),
    Column("last_modified", Float, nullable=False),
    Column("checksum", String(128), nullable=True),  # base64, in the upload's checksum algorithm
    Column("stream_salt", String(64), nullable=False, default=""),  # hex; "" when not encrypted
)

# Generations of the Keyhold-owned key that seals SSE-S3 data keys, wrapped under the root key.
s3_sse_keys = Table(
    "s3_sse_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("wrapped", LargeBinary, nullable=False),
)

"""Buckets: create, delete, list, and their settings (default encryption, bucket policy)."""

import re
import time
from collections.abc import Callable

from keyhold.domain.auth.errors import MalformedPolicy as PolicyError
from keyhold.domain.auth.policy import PolicyKind, parse_policy
from keyhold.domain.context import RequestContext
from keyhold.domain.objects.authz import BucketAuthorizer
from keyhold.domain.objects.envelopes import bucket_arn
from keyhold.domain.objects.errors import (
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    IllegalLocationConstraint,
    InvalidBucketName,
    InvalidLocationConstraint,
    MalformedPolicy,
    NoSuchBucket,
    NoSuchBucketPolicy,
)
from keyhold.domain.objects.model import Bucket, BucketEncryption
from keyhold.domain.objects.ports import BlobStore, DeleteBucketResult, ObjectRepo

_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP = re.compile(r"\d+\.\d+\.\d+\.\d+")


def valid_bucket_name(name: str) -> bool:
    """S3's rules for general purpose buckets."""
    return bool(
        _NAME.fullmatch(name)
        and ".." not in name
        and ".-" not in name
        and "-." not in name
        and not _IP.fullmatch(name)
        and not name.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
        and not name.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"))
    )


class Buckets:
    def __init__(
        self,
        repo: ObjectRepo,
        blobs: BlobStore,
        authz: BucketAuthorizer,
        region: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._repo = repo
        self._blobs = blobs
        self._authz = authz
        self._region = region
        self._clock = clock

    def get(self, ctx: RequestContext, name: str, action: str) -> Bucket:
        """The bucket, once the caller is known to be allowed ``action`` on it (NoSuchBucket first, as S3)."""
        bucket = self._repo.get_bucket(name)
        if bucket is None:
            raise NoSuchBucket(name)
        self._authz.check(ctx, bucket, action, bucket_arn(name))
        return bucket

    def create(self, ctx: RequestContext, name: str, location: str | None) -> Bucket:
        self._authz.check(ctx, None, "s3:CreateBucket", bucket_arn(name))
        if not valid_bucket_name(name):
            raise InvalidBucketName(name)
        self._check_location(location)
        bucket = Bucket(name=name, account_id=ctx.account_id, region=self._region, created_at=self._clock())
        existing = self._repo.create_bucket(bucket)
        if existing is None:
            return bucket
        if existing.account_id == ctx.account_id:
            if self._region == "us-east-1":  # S3's legacy behaviour in us-east-1: creating it again succeeds
                return existing
            raise BucketAlreadyOwnedByYou(name)
        raise BucketAlreadyExists(name)

    def _check_location(self, location: str | None) -> None:
        """As S3: us-east-1 takes no constraint (naming it is invalid); every other Region needs its own."""
        if self._region == "us-east-1":
            if location == "us-east-1":
                raise InvalidLocationConstraint()
            if location:
                raise IllegalLocationConstraint(location)
        elif location != self._region:
            raise IllegalLocationConstraint(location or "unspecified")

    def delete(self, ctx: RequestContext, name: str) -> None:
        self.get(ctx, name, "s3:DeleteBucket")
        result, blob_ids = self._repo.delete_bucket(name)
        if result is DeleteBucketResult.NOT_FOUND:
            raise NoSuchBucket(name)
        if result is DeleteBucketResult.NOT_EMPTY:
            raise BucketNotEmpty(name)
        self._blobs.delete(blob_ids)

    def list(self, ctx: RequestContext) -> list[Bucket]:
        self._authz.check(ctx, None, "s3:ListAllMyBuckets", "*")
        return self._repo.list_buckets(ctx.account_id)

    # -- default encryption -----------------------------------------------------------------------------------

    def get_encryption(self, ctx: RequestContext, name: str) -> BucketEncryption | None:
        return self.get(ctx, name, "s3:GetEncryptionConfiguration").encryption

    def put_encryption(self, ctx: RequestContext, name: str, encryption: BucketEncryption) -> None:
        self.get(ctx, name, "s3:PutEncryptionConfiguration")
        if not self._repo.set_bucket_encryption(name, encryption):
            raise NoSuchBucket(name)

    def delete_encryption(self, ctx: RequestContext, name: str) -> None:
        self.get(ctx, name, "s3:PutEncryptionConfiguration")
        if not self._repo.set_bucket_encryption(name, None):
            raise NoSuchBucket(name)

    # -- bucket policy ----------------------------------------------------------------------------------------

    def get_policy(self, ctx: RequestContext, name: str) -> str:
        bucket = self.get(ctx, name, "s3:GetBucketPolicy")
        if bucket.policy is None:
            raise NoSuchBucketPolicy(name)
        return bucket.policy

    def put_policy(self, ctx: RequestContext, name: str, policy: str) -> None:
        self.get(ctx, name, "s3:PutBucketPolicy")
        try:
            parse_policy(policy, PolicyKind.RESOURCE)
        except PolicyError as exc:
            raise MalformedPolicy(exc.message) from None
        if not self._repo.set_bucket_policy(name, policy):
            raise NoSuchBucket(name)

    def delete_policy(self, ctx: RequestContext, name: str) -> None:
        self.get(ctx, name, "s3:DeleteBucketPolicy")
        if not self._repo.set_bucket_policy(name, None):
            raise NoSuchBucket(name)

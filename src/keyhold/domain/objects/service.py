"""The object store assembled: buckets, objects and multipart uploads over one repository and blob store."""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from keyhold.crypto.keywrap import RootKey
from keyhold.domain.identity.model import Principal
from keyhold.domain.keys.service_client import ServiceKmsClient
from keyhold.domain.objects.authz import BucketAuthorizer
from keyhold.domain.objects.bucket_keys import BucketKeys
from keyhold.domain.objects.buckets import Buckets
from keyhold.domain.objects.envelopes import Envelopes
from keyhold.domain.objects.model import NONE, SSE_S3
from keyhold.domain.objects.multipart import MultipartUploads
from keyhold.domain.objects.objects import Objects
from keyhold.domain.objects.ports import BlobStore, ObjectRepo
from keyhold.domain.objects.sealing import RowSeals
from keyhold.domain.objects.sse_s3 import SseS3Keyring
from keyhold.domain.objects.sweeper import GRACE_SECONDS, sweep_unreferenced_blobs


@dataclass(frozen=True, slots=True)
class ObjectStore:
    buckets: Buckets
    objects: Objects
    uploads: MultipartUploads
    repo: ObjectRepo
    blobs: BlobStore

    def sweep_unreferenced_blobs(self, grace: float = GRACE_SECONDS) -> int:
        return sweep_unreferenced_blobs(self.repo, self.blobs, grace)


def build_object_store(
    repo: ObjectRepo,
    blobs: BlobStore,
    kms: ServiceKmsClient,
    root_key: RootKey,
    identity_policies: Callable[[Principal], Sequence[str]],
    region: str,
    *,
    encrypt_by_default: bool = True,
    combine_checksum: Callable[[str, str, Sequence[tuple[str, int]]], str | None],
    clock: Callable[[], float] = time.time,
) -> ObjectStore:
    """``encrypt_by_default`` False (--object-encryption off) stores objects that ask for no encryption as they
    are, as S3 did before 2023; only for benchmarks' baselines and throwaway environments."""
    authz = BucketAuthorizer(identity_policies, clock)
    envelopes = Envelopes(kms, SseS3Keyring(repo, root_key, clock=clock), BucketKeys(kms))
    buckets = Buckets(repo, blobs, authz, region, clock)
    default_mode = SSE_S3 if encrypt_by_default else NONE
    objects = Objects(
        repo, blobs, buckets, envelopes, authz, RowSeals(root_key), default_mode=default_mode, clock=clock
    )
    uploads = MultipartUploads(repo, blobs, objects, combine_checksum=combine_checksum, clock=clock)
    return ObjectStore(buckets, objects, uploads, repo, blobs)

"""Removing blobs that no row refers to: what a crash between a blob's commit and its metadata commit leaves.

A write makes its blob durable before the metadata row that refers to it, so a process killed between the two
leaves a blob nobody can reach. The sweep deletes committed blobs older than ``grace`` seconds that no object and
no uploaded part refers to. The grace period covers every write in flight (a blob is renamed into place moments
before its row commits), so a blob that is about to be referred to is never taken.
"""

import logging

from keyhold.domain.objects.ports import BlobStore, ObjectRepo

log = logging.getLogger("keyhold.objects")

GRACE_SECONDS = 3600.0


def sweep_unreferenced_blobs(repo: ObjectRepo, blobs: BlobStore, grace: float = GRACE_SECONDS) -> int:
    """Delete unreferenced blobs older than ``grace``; returns how many. Candidates are listed before the rows are
    read, so a blob that gets its row after the listing is still seen as referenced."""
    candidates = list(blobs.list_blobs(grace))
    if not candidates:
        return 0
    referenced = repo.referenced_blobs()
    orphans = [blob_id for blob_id in candidates if blob_id not in referenced]
    if orphans:
        blobs.delete(orphans)
        log.info("removed %d blobs no object refers to", len(orphans))
    return len(orphans)

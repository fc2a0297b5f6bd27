"""Conditional requests (RFC 9110 section 13, as S3 applies them) and byte ranges.

    If-Match false                                 -> 412 PreconditionFailed
    If-Unmodified-Since false (and no If-Match)    -> 412 PreconditionFailed
    If-None-Match matches                          -> 304 Not Modified on GET/HEAD, 412 on writes
    If-Modified-Since false (and no If-None-Match) -> 304 Not Modified

Only one byte range is served (S3 ignores multi-range requests and sends the whole object); an unparsable Range is
ignored; a range starting at or past the end is 416 InvalidRange.
"""

import re
from dataclasses import dataclass

from keyhold.domain.objects.errors import InvalidRange, NotModified, PreconditionFailed

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass(frozen=True, slots=True)
class Conditions:
    if_match: str | None = None  # ETags as sent: quoted or not, comma-separated, or "*"
    if_none_match: str | None = None
    if_modified_since: float | None = None  # epoch seconds
    if_unmodified_since: float | None = None

    @property
    def empty(self) -> bool:
        return self == _NONE


_NONE = Conditions()


def _etags(header: str) -> set[str]:
    return {item.strip().removeprefix("W/").strip('"') for item in header.split(",") if item.strip()}


def etag_matches(header: str, etag: str) -> bool:
    tags = _etags(header)
    return "*" in tags or etag in tags


def check_read(conditions: Conditions, etag: str, last_modified: float) -> None:
    """For GET and HEAD (and a copy source): raise PreconditionFailed or NotModified when a condition says so."""
    modified = int(last_modified)  # HTTP dates have whole seconds
    if conditions.if_match is not None:
        if not etag_matches(conditions.if_match, etag):
            raise PreconditionFailed("If-Match")
    elif conditions.if_unmodified_since is not None and modified > conditions.if_unmodified_since:
        raise PreconditionFailed("If-Unmodified-Since")
    if conditions.if_none_match is not None:
        if etag_matches(conditions.if_none_match, etag):
            raise NotModified(etag, last_modified)
    elif conditions.if_modified_since is not None and modified <= conditions.if_modified_since:
        raise NotModified(etag, last_modified)


def check_copy_source(conditions: Conditions, etag: str, last_modified: float) -> None:
    """x-amz-copy-source-if-* (CopyObject, UploadPartCopy): evaluated as for a read, but a copy answers every
    condition that does not hold with 412 PreconditionFailed, never 304."""
    try:
        check_read(conditions, etag, last_modified)
    except NotModified:
        raise PreconditionFailed(
            "If-None-Match" if conditions.if_none_match is not None else "If-Modified-Since"
        ) from None


def check_write(if_match: str | None, if_none_match: str | None, current_etag: str | None) -> None:
    """Conditional writes (PutObject, CompleteMultipartUpload): If-None-Match "*" and If-Match <etag>."""
    if if_none_match is not None and current_etag is not None and etag_matches(if_none_match, current_etag):
        raise PreconditionFailed("If-None-Match")
    if if_match is not None and (current_etag is None or not etag_matches(if_match, current_etag)):
        raise PreconditionFailed("If-Match")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range a Range header asks for, or None for the whole object."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return None
    if not first:  # the last n bytes
        n = int(last)
        if n == 0:
            raise InvalidRange(size, header)
        return (max(0, size - n), size - 1) if size else _unsatisfiable(size, header)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # syntactically invalid: ignored
    if start >= size:
        raise InvalidRange(size, header)
    return start, min(end, size - 1)


def _unsatisfiable(size: int, header: str) -> tuple[int, int]:
    raise InvalidRange(size, header)

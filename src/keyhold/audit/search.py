"""``keyhold audit search``: the records of a trail that match every filter given, in the order written."""

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from keyhold.audit.digest import is_digest_name, parse_log_name, read_records, trail_files
from keyhold.audit.events import parse_iso_time

log = logging.getLogger("keyhold.audit")

_CONTEXT_MEMBERS = ("encryptionContext", "sourceEncryptionContext", "destinationEncryptionContext")


def _key_id(reference: str) -> str:
    """A key's id from its id or ARN (``arn:aws:kms:<region>:<account>:key/<id>``); other references as given."""
    if reference.startswith("arn:") and ":key/" in reference:
        return reference.rsplit("/", 1)[-1]
    return reference


def key_references(record: dict[str, Any]) -> list[str]:
    """Every key the record names: ``keyId``-like request parameters and the resources' ARNs."""
    found: list[str] = []
    params = record.get("requestParameters")
    if isinstance(params, dict):
        found.extend(str(value) for name, value in params.items() if name.lower().endswith("keyid") and value)
    resources = record.get("resources")
    if isinstance(resources, list):
        found.extend(str(r["ARN"]) for r in resources if isinstance(r, dict) and r.get("ARN"))
    return found


def principal_names(record: dict[str, Any]) -> list[str]:
    identity = record.get("userIdentity")
    if not isinstance(identity, dict):
        return []
    return [str(identity[name]) for name in ("arn", "userName", "accessKeyId", "invokedBy") if identity.get(name)]


def _matches_key(record: dict[str, Any], key: str) -> bool:
    wanted = _key_id(key)
    return any(ref == key or _key_id(ref) == wanted for ref in key_references(record))


def _matches_context(record: dict[str, Any], context: dict[str, str]) -> bool:
    params = record.get("requestParameters")
    if not isinstance(params, dict):
        return False
    for member in _CONTEXT_MEMBERS:
        found = params.get(member)
        if isinstance(found, dict) and all(found.get(k) == v for k, v in context.items()):
            return True
    return False


def _in_time(record: dict[str, Any], start: float | None, end: float | None) -> bool:
    try:
        when = parse_iso_time(str(record.get("eventTime")))
    except ValueError:
        return False
    return (start is None or when >= start) and (end is None or when <= end)


def search(
    directory: Path,
    *,
    key: str | None = None,
    event_name: str | None = None,
    principal: str | None = None,
    start: float | None = None,
    end: float | None = None,
    context: dict[str, str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Records matching all the filters given (None: no filter).

    ``key``: a key id or key ARN, matched against ``keyId``, ``sourceKeyId``, ``destinationKeyId`` and the
    resources' ARNs (an alias name matches a request that used that alias). ``principal``: the caller's ARN (or
    user name, access key id, or the invoking service). ``start``/``end``: epoch seconds, inclusive. ``context``:
    every pair must be in the request's encryption context (or ReEncrypt's source or destination context).
    """
    for relative, path in trail_files(directory) if directory.is_dir() else ():
        name = relative.rsplit("/", 1)[-1]
        parsed = parse_log_name(name)
        if parsed is None or is_digest_name(name):
            continue
        if start is not None and parsed.written < start // 86400 * 86400:
            continue  # written on a day before start: it holds only earlier events
        try:
            records = read_records(path.read_bytes())
        except (OSError, ValueError, EOFError, KeyError):
            log.warning("audit search: cannot read %s; skipped (run `keyhold audit verify`)", relative)
            continue
        for record in records:
            if not isinstance(record, dict):
                continue
            if event_name is not None and record.get("eventName") != event_name:
                continue
            if principal is not None and principal not in principal_names(record):
                continue
            if key is not None and not _matches_key(record, key):
                continue
            if (start is not None or end is not None) and not _in_time(record, start, end):
                continue
            if context and not _matches_context(record, context):
                continue
            yield record

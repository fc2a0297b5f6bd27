"""One page of a bucket listing: keys and common prefixes in S3's order, each common prefix listed once."""

from keyhold.domain.objects.model import ObjectPage, ObjectRecord
from keyhold.domain.objects.ports import ObjectRepo


def common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    """The common prefix ``key`` rolls up into (up to and including the first delimiter after ``prefix``), or None."""
    if not delimiter:
        return None
    index = key.find(delimiter, len(prefix))
    return key[: index + len(delimiter)] if index >= 0 else None


def is_common_prefix(marker: str | None, prefix: str, delimiter: str) -> bool:
    """Whether a marker is itself a common prefix: the page before ended by rolling keys up into it."""
    return bool(
        delimiter and marker and marker.startswith(prefix) and common_prefix(marker, prefix, delimiter) == marker
    )


def list_page(
    repo: ObjectRepo, bucket: str, prefix: str, delimiter: str, after: str | None, max_keys: int
) -> ObjectPage:
    """One page of keys and common prefixes. A common prefix is listed once; the keys under it are skipped with
    one query each, not read."""
    objects: list[ObjectRecord] = []
    prefixes: list[str] = []
    from_key: str | None = None
    if after is not None and is_common_prefix(after, prefix, delimiter):  # the page before ended with it
        from_key, after = successor(after), None
    last: str | None = None
    while True:
        room = max_keys - len(objects) - len(prefixes)
        batch = repo.list_objects(bucket, prefix, after, from_key, room + 1)
        if not batch:
            return ObjectPage(objects, prefixes, False, None)
        for record in batch:
            common = common_prefix(record.key, prefix, delimiter)
            if len(objects) + len(prefixes) == max_keys:
                return ObjectPage(objects, prefixes, True, last)
            if common is None:
                objects.append(record)
                last = record.key
                continue
            prefixes.append(common)
            last = common
            following = successor(common)
            if following is None:
                return ObjectPage(objects, prefixes, False, None)
            after, from_key = None, following
            break
        else:
            if len(batch) <= room:
                return ObjectPage(objects, prefixes, False, None)
            after, from_key = batch[-1].key, None


def successor(text: str) -> str | None:
    """The smallest string greater than every string that starts with ``text``, or None if there is none."""
    while text:
        last = ord(text[-1])
        if last < 0x10FFFF:
            following = last + 1 if last + 1 != 0xD800 else 0xE000  # skip the surrogates
            return text[:-1] + chr(following)
        text = text[:-1]
    return None

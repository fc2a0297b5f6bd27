"""Tags on KMS keys (TagResource, UntagResource, ListResourceTags)."""

from collections.abc import Mapping, Sequence

from keyhold.domain.context import RequestContext
from keyhold.domain.keys.authz import Authorizer
from keyhold.domain.keys.errors import LimitExceeded, TagError
from keyhold.domain.keys.keyring import Keyring
from keyhold.domain.keys.paging import decode_marker, page

MAX_TAGS_PER_KEY = 50


def check_tags(tags: Mapping[str, str]) -> None:
    for tag_key in tags:
        if tag_key.lower().startswith("aws:"):
            raise TagError("Tags beginning with aws: are reserved.")
    if len(tags) > MAX_TAGS_PER_KEY:
        raise LimitExceeded(f"A KMS key can have at most {MAX_TAGS_PER_KEY} tags.")


class Tags:
    def __init__(self, keyring: Keyring, authz: Authorizer) -> None:
        self._keyring = keyring
        self._authz = authz

    def tag(self, ctx: RequestContext, key_ref: str, tags: Mapping[str, str]) -> None:
        key = self._keyring.resolve(ctx, key_ref)
        self._authz.check(ctx, key, "TagResource")
        self._keyring.require_not_pending_deletion(key)
        merged = {**self._keyring.repo.get_tags(key.key_id), **tags}
        check_tags(merged)
        self._keyring.repo.put_tags(key.key_id, tags)

    def untag(self, ctx: RequestContext, key_ref: str, tag_keys: Sequence[str]) -> None:
        key = self._keyring.resolve(ctx, key_ref)
        self._authz.check(ctx, key, "UntagResource")
        self._keyring.require_not_pending_deletion(key)
        self._keyring.repo.remove_tags(key.key_id, tag_keys)

    def list(
        self, ctx: RequestContext, key_ref: str, marker: str | None, limit: int
    ) -> tuple[list[tuple[str, str]], str | None]:
        key = self._keyring.resolve(ctx, key_ref)
        self._authz.check(ctx, key, "ListResourceTags")
        after = decode_marker(marker)
        items = sorted(self._keyring.repo.get_tags(key.key_id).items())
        if after is not None:
            items = [item for item in items if item[0] > after]
        return page(items[: limit + 1], limit, lambda item: item[0])

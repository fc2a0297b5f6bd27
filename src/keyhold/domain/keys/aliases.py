"""Aliases: friendly names (alias/...) that point at keys in one account and region."""

from keyhold.domain.context import RequestContext
from keyhold.domain.keys.authz import Authorizer
from keyhold.domain.keys.errors import AlreadyExists, InvalidAliasName, NotFound, ValidationFailed
from keyhold.domain.keys.keyring import Keyring
from keyhold.domain.keys.model import Alias, Key, alias_arn
from keyhold.domain.keys.paging import decode_marker, page

RESERVED_PREFIX = "alias/aws/"


class Aliases:
    def __init__(self, keyring: Keyring, authz: Authorizer) -> None:
        self._keyring = keyring
        self._authz = authz

    def create(self, ctx: RequestContext, alias_name: str, target_ref: str) -> None:
        _check_name(alias_name)
        key = self._target(ctx, target_ref, "CreateAlias")
        now = self._keyring.clock()
        alias = Alias(ctx.account_id, ctx.region, alias_name, key.key_id, now, now)
        if not self._keyring.repo.insert_alias(alias):
            raise AlreadyExists(f"An alias with the name {alias.arn} already exists")
        self._keyring.invalidate()

    def update(self, ctx: RequestContext, alias_name: str, target_ref: str) -> None:
        _check_name(alias_name)
        current = self._existing(ctx, alias_name)
        key = self._target(ctx, target_ref, "UpdateAlias")
        updated = Alias(
            current.account_id,
            current.region,
            current.name,
            key.key_id,
            current.created_at,
            self._keyring.clock(),
        )
        self._keyring.repo.retarget_alias(updated)
        self._keyring.invalidate()

    def delete(self, ctx: RequestContext, alias_name: str) -> None:
        _check_name(alias_name)
        alias = self._existing(ctx, alias_name)
        target = self._keyring.get(alias.target_key_id)
        self._authz.check(ctx, target, "DeleteAlias")
        self._keyring.repo.delete_alias(ctx.account_id, ctx.region, alias_name)
        self._keyring.invalidate()

    def list(
        self, ctx: RequestContext, key_ref: str | None, marker: str | None, limit: int
    ) -> tuple[list[Alias], str | None]:
        self._authz.check(ctx, None, "ListAliases")
        key_id = None
        if key_ref is not None:
            if key_ref.startswith("alias/") or ":alias/" in key_ref:
                raise ValidationFailed("The KeyId parameter of ListAliases takes a key ID or key ARN.")
            key_id = self._keyring.resolve(ctx, key_ref).key_id
        after = decode_marker(marker)
        aliases = self._keyring.repo.list_aliases(ctx.account_id, ctx.region, key_id, after, limit + 1)
        return page(aliases, limit, lambda alias: alias.name)

    def _existing(self, ctx: RequestContext, alias_name: str) -> Alias:
        alias = self._keyring.alias(ctx.account_id, ctx.region, alias_name)
        if alias is None:
            raise NotFound(f"Alias {alias_arn(ctx.region, ctx.account_id, alias_name)} is not found.")
        return alias

    def _target(self, ctx: RequestContext, target_ref: str, action: str) -> Key:
        if target_ref.startswith("alias/") or ":alias/" in target_ref:
            raise ValidationFailed("Aliases must refer to keys. Not aliases")
        key = self._keyring.resolve(ctx, target_ref)
        self._authz.check(ctx, key, action)
        self._keyring.require_not_pending_deletion(key)
        return key


def _check_name(alias_name: str) -> None:
    if not alias_name.startswith("alias/") or alias_name == "alias/":
        raise InvalidAliasName('Alias must start with the prefix "alias/" and name a key alias.')
    if alias_name.startswith(RESERVED_PREFIX):
        raise InvalidAliasName("Alias names beginning with alias/aws/ are reserved for AWS managed keys.")

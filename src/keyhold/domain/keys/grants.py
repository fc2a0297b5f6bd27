"""Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant, and grant tokens.

A grant lets its grantee use one key for the listed operations, optionally only with encryption contexts that
include (EncryptionContextSubset) or equal (EncryptionContextEquals) given pairs. Keyhold's grants take effect at
once; a grant token (returned by CreateGrant) names its grant and is accepted wherever GrantTokens are.
"""

import base64
import binascii
from collections.abc import Mapping, Sequence

from keyhold.domain.auth.conditions import ContextValue
from keyhold.domain.cache import Cache
from keyhold.domain.context import RequestContext
from keyhold.domain.keys.authz import CONTEXT_OPERATIONS, Authorizer
from keyhold.domain.keys.errors import AccessDenied, InvalidGrantToken, NotFound, ValidationFailed
from keyhold.domain.keys.keyring import Keyring
from keyhold.domain.keys.model import Grant, Key
from keyhold.domain.keys.paging import decode_marker, page
from keyhold.domain.keys.specs import GRANT_OPERATIONS, grant_operations, is_symmetric

SYMMETRIC_GRANT_OPERATIONS = GRANT_OPERATIONS["SYMMETRIC"]
_TOKEN_VERSION = 1


class Grants:
    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._by_key: Cache[str, tuple[Grant, ...]] = Cache()

    def invalidate(self) -> None:
        self._by_key.invalidate()

    def for_key(self, key_id: str) -> tuple[Grant, ...]:
        """The grants on a key (cached; the authorizer reads them on every request)."""
        return self._by_key.get(key_id, lambda kid: tuple(self._keyring.repo.list_grants(kid))) or ()

    def create(
        self,
        ctx: RequestContext,
        authz: Authorizer,
        key_ref: str,
        grantee: str,
        operations: Sequence[str],
        *,
        retiring: str | None = None,
        constraints: Mapping[str, Mapping[str, str]] | None = None,
        name: str | None = None,
    ) -> tuple[str, str]:
        """(grant id, grant token)."""
        key = self._keyring.resolve(ctx, key_ref)
        facts: dict[str, ContextValue] = {
            "kms:GrantOperations": tuple(operations),
            "kms:GranteePrincipal": grantee,
            # true when an AWS service integrated with KMS (here: a Keyhold service) creates the grant for a caller
            "kms:GrantIsForAWSResource": ctx.via_service is not None,
        }
        if retiring is not None:
            facts["kms:RetiringPrincipal"] = retiring
        if constraints:
            facts["kms:GrantConstraintType"] = tuple(constraints)
        authz.check(ctx, key, "CreateGrant", facts)
        self._keyring.require_not_pending_deletion(key)
        _check_principal(grantee, "GranteePrincipal")
        if retiring is not None:
            _check_principal(retiring, "RetiringPrincipal")
        subset, equals = _constraints(constraints or {}, operations)
        _check_operations(key, operations)
        grant = Grant(
            grant_id=self._keyring.random(32).hex(),
            key_id=key.key_id,
            name=name,
            grantee_principal=grantee,
            retiring_principal=retiring,
            issuing_account=f"arn:aws:iam::{ctx.account_id}:root",
            operations=tuple(dict.fromkeys(operations)),
            context_subset=subset,
            context_equals=equals,
            created_at=self._keyring.clock(),
        )
        if name is not None:
            for existing in self.for_key(key.key_id):
                if existing.name == name and existing.same_terms(grant):
                    return existing.grant_id, self._token(existing.grant_id)
        self._keyring.repo.insert_grant(grant)
        self.invalidate()
        return grant.grant_id, self._token(grant.grant_id)

    def list_grants(
        self,
        ctx: RequestContext,
        authz: Authorizer,
        key_ref: str,
        grant_id: str | None,
        grantee: str | None,
        marker: str | None,
        limit: int,
    ) -> tuple[list[Grant], str | None]:
        key = self._keyring.resolve(ctx, key_ref)
        authz.check(ctx, key, "ListGrants")
        after = decode_marker(marker)
        grants = [
            grant
            for grant in self.for_key(key.key_id)
            if (grant_id is None or grant.grant_id == grant_id)
            and (grantee is None or grant.grantee_principal == grantee)
            and (after is None or grant.grant_id > after)
        ]
        return page(grants[: limit + 1], limit, lambda grant: grant.grant_id)

    def list_retirable(
        self, ctx: RequestContext, authz: Authorizer, retiring: str, marker: str | None, limit: int
    ) -> tuple[list[Grant], str | None]:
        authz.check(ctx, None, "ListRetirableGrants")
        grants = self._keyring.repo.list_retirable_grants(retiring, decode_marker(marker), limit + 1)
        return page(grants, limit, lambda grant: grant.grant_id)

    def retire(self, ctx: RequestContext, token: str | None, key_ref: str | None, grant_id: str | None) -> None:
        if token is not None:
            grant_id = self.grant_id_of(token)
        elif key_ref is None or grant_id is None:
            raise ValidationFailed("RetireGrant needs a GrantToken, or both a KeyId and a GrantId.")
        grant = self._keyring.repo.get_grant(grant_id)
        if grant is None or (key_ref is not None and self._keyring.resolve(ctx, key_ref).key_id != grant.key_id):
            raise NotFound(f"Grant ID {grant_id} not found")
        caller = ctx.via_service_principal or ctx.principal.arn
        may_retire = (
            caller == grant.retiring_principal
            or (caller == grant.grantee_principal and "RetireGrant" in grant.operations)
            or caller == grant.issuing_account
        )
        if not may_retire:
            raise AccessDenied(f"User: {caller} is not authorized to retire the grant {grant.grant_id}")
        self._keyring.repo.delete_grant(grant.grant_id)
        self.invalidate()

    def revoke(self, ctx: RequestContext, authz: Authorizer, key_ref: str, grant_id: str) -> None:
        key = self._keyring.resolve(ctx, key_ref)
        authz.check(ctx, key, "RevokeGrant")
        grant = self._keyring.repo.get_grant(grant_id)
        if grant is None or grant.key_id != key.key_id:
            raise NotFound(f"Grant ID {grant_id} not found")
        self._keyring.repo.delete_grant(grant_id)
        self.invalidate()

    def check_tokens(self, tokens: Sequence[str]) -> None:
        """Every GrantTokens entry must be a token Keyhold issued for a grant that still exists."""
        for token in tokens:
            if self._keyring.repo.get_grant(self.grant_id_of(token)) is None:
                raise InvalidGrantToken("The grant token is not valid: its grant does not exist (retired or revoked).")

    def _token(self, grant_id: str) -> str:
        raw = bytes([_TOKEN_VERSION]) + bytes.fromhex(grant_id) + self._keyring.random(16)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @staticmethod
    def grant_id_of(token: str) -> str:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError) as exc:
            raise InvalidGrantToken("The grant token is not valid.") from exc
        if len(raw) != 49 or raw[0] != _TOKEN_VERSION:
            raise InvalidGrantToken("The grant token is not valid.")
        return raw[1:33].hex()


def _check_principal(principal: str, member: str) -> None:
    if not (principal.startswith("arn:aws:iam::") or principal.endswith(".amazonaws.com") or principal == "*"):
        raise ValidationFailed(f"{member} must be an IAM principal ARN or an AWS service principal, not {principal}")


def _check_operations(key: Key, operations: Sequence[str]) -> None:
    """Only the operations a key of this kind supports (AWS: grant operations per key type)."""
    allowed = grant_operations(key)
    wrong = [operation for operation in operations if operation not in allowed]
    if wrong:
        kind = (
            "a symmetric encryption key"
            if is_symmetric(key)
            else f"a {key.key_spec} key with key usage {key.key_usage.value}"
        )
        raise ValidationFailed(f"Grant operations {', '.join(wrong)} are not valid for {kind}.")


def _constraints(
    constraints: Mapping[str, Mapping[str, str]], operations: Sequence[str]
) -> tuple[tuple[tuple[str, str], ...] | None, tuple[tuple[str, str], ...] | None]:
    subset = constraints.get("EncryptionContextSubset")
    equals = constraints.get("EncryptionContextEquals")
    if subset is not None and equals is not None:
        raise ValidationFailed("Use EncryptionContextSubset or EncryptionContextEquals, not both.")
    if (subset is not None or equals is not None) and not set(operations) <= CONTEXT_OPERATIONS:
        raise ValidationFailed(
            "Grant constraints apply only to operations that take an encryption context; "
            f"{', '.join(sorted(set(operations) - CONTEXT_OPERATIONS))} do not."
        )
    return (
        tuple(sorted(subset.items())) if subset is not None else None,
        tuple(sorted(equals.items())) if equals is not None else None,
    )

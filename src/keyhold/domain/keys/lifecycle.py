"""Creating, describing, listing, enabling, disabling and deleting keys, and their descriptions.

The key-state machine (AWS's key-state.md):

    Enabled ⇄ Disabled            EnableKey / DisableKey (idempotent)
    Enabled|Disabled → PendingDeletion   ScheduleKeyDeletion (7-30 days, default 30)
    PendingDeletion → Disabled    CancelKeyDeletion (never straight back to Enabled; PendingImport for an
                                  EXTERNAL key that lacks material)
    PendingDeletion → (gone)      when the deletion date passes
    PendingImport → Enabled       ImportKeyMaterial (EXTERNAL keys: imports.py); EnableKey/DisableKey refuse it
"""

from collections.abc import Mapping

from keyhold.domain.auth.conditions import ContextValue
from keyhold.domain.context import RequestContext
from keyhold.domain.keys import import_state
from keyhold.domain.keys.authz import Authorizer
from keyhold.domain.keys.errors import InvalidKeyState, Unsupported, ValidationFailed
from keyhold.domain.keys.keyring import Keyring, deletion_due
from keyhold.domain.keys.model import (
    DAY,
    ORIGIN_AWS_KMS,
    ORIGIN_EXTERNAL,
    SYMMETRIC_DEFAULT,
    Key,
    KeyManager,
    KeyState,
    KeyUsage,
    default_key_policy,
)
from keyhold.domain.keys.paging import decode_marker, page
from keyhold.domain.keys.policies import check_lockout, check_policy_document
from keyhold.domain.keys.specs import check_spec_and_usage
from keyhold.domain.keys.tags import check_tags

MIN_PENDING_WINDOW_DAYS = 7
MAX_PENDING_WINDOW_DAYS = 30


class Lifecycle:
    def __init__(self, keyring: Keyring, authz: Authorizer) -> None:
        self._keyring = keyring
        self._authz = authz

    def create_key(
        self,
        ctx: RequestContext,
        *,
        description: str = "",
        key_usage: str | None = None,
        key_spec: str | None = None,
        origin: str | None = None,
        policy: str | None = None,
        tags: Mapping[str, str] | None = None,
        multi_region: bool = False,
        bypass_lockout_check: bool = False,
    ) -> Key:
        key_spec = key_spec or SYMMETRIC_DEFAULT
        requested_usage = key_usage or KeyUsage.ENCRYPT_DECRYPT.value
        self._authz.check(
            ctx,
            None,
            "CreateKey",
            {
                "kms:KeySpec": key_spec,
                "kms:KeyUsage": requested_usage,
                "kms:KeyOrigin": origin or ORIGIN_AWS_KMS,
                "kms:MultiRegion": multi_region,
                "kms:BypassPolicyLockoutSafetyCheck": bypass_lockout_check,
            },
        )
        usage = check_spec_and_usage(key_spec, key_usage)
        origin = origin or ORIGIN_AWS_KMS
        if origin not in (ORIGIN_AWS_KMS, ORIGIN_EXTERNAL):
            raise Unsupported(f"Keyhold has no custom key stores; Origin {origin} is not supported.")
        if multi_region:
            raise Unsupported("Multi-Region keys are not supported by Keyhold.")
        tags = dict(tags or {})
        check_tags(tags)
        keyring = self._keyring
        key = Key(
            key_id=keyring.new_key_id(),
            account_id=ctx.account_id,
            region=ctx.region,
            description=description,
            key_usage=usage,
            key_spec=key_spec,
            origin=origin,
            key_manager=KeyManager.CUSTOMER,
            state=KeyState.ENABLED if origin == ORIGIN_AWS_KMS else KeyState.PENDING_IMPORT,
            created_at=keyring.clock(),
            deletion_date=None,
            pending_window_days=None,
            rotation_enabled=False,
            rotation_period_days=None,
            next_rotation_at=None,
            multi_region=False,
            policy=policy if policy is not None else default_key_policy(ctx.account_id),
            current_material_id="",
        )
        if policy is not None:
            check_policy_document(policy)
            if not bypass_lockout_check:
                check_lockout(self._authz, ctx, key)
        if origin == ORIGIN_EXTERNAL:  # no material until ImportKeyMaterial
            keyring.repo.insert_key(key, [], tags, None)
            return key
        material = keyring.new_material(key, 0, None)
        key = key.with_changes(current_material_id=material.material_id)
        keyring.repo.insert_key(key, material, tags, None)
        return key

    def describe(self, ctx: RequestContext, key_ref: str) -> Key:
        return self._authorized(ctx, key_ref, "DescribeKey")

    def list_keys(self, ctx: RequestContext, marker: str | None, limit: int) -> tuple[list[Key], str | None]:
        self._authz.check(ctx, None, "ListKeys")
        after = decode_marker(marker)
        keys = self._keyring.repo.list_keys(ctx.account_id, ctx.region, after, limit + 1)
        due = [key for key in keys if self._keyring.get(key.key_id) is None]  # purge keys whose time has come
        keys = [key for key in keys if key not in due]
        return page(keys, limit, lambda key: key.key_id)

    def enable(self, ctx: RequestContext, key_ref: str) -> None:
        key = self._authorized(ctx, key_ref, "EnableKey")
        self._keyring.require_material(key)
        if key.state is not KeyState.ENABLED:
            self._save(key.with_changes(state=KeyState.ENABLED))

    def disable(self, ctx: RequestContext, key_ref: str) -> None:
        key = self._authorized(ctx, key_ref, "DisableKey")
        self._keyring.require_material(key)
        if key.state is not KeyState.DISABLED:
            self._save(key.with_changes(state=KeyState.DISABLED))

    def schedule_deletion(self, ctx: RequestContext, key_ref: str, pending_window_days: int | None) -> Key:
        days = 30 if pending_window_days is None else pending_window_days
        if not MIN_PENDING_WINDOW_DAYS <= days <= MAX_PENDING_WINDOW_DAYS:
            bound = "greater than or equal to 7" if days < MIN_PENDING_WINDOW_DAYS else "less than or equal to 30"
            raise ValidationFailed(
                f"1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed to satisfy "
                f"constraint: Member must have value {bound}"
            )
        key = self._authorized(
            ctx, key_ref, "ScheduleKeyDeletion", {"kms:ScheduleKeyDeletionPendingWindowInDays": days}
        )
        self._keyring.require_not_pending_deletion(key)
        key = key.with_changes(
            state=KeyState.PENDING_DELETION,
            deletion_date=self._keyring.clock() + days * DAY,
            pending_window_days=days,
        )
        self._save(key)
        return key

    def cancel_deletion(self, ctx: RequestContext, key_ref: str) -> Key:
        key = self._authorized(ctx, key_ref, "CancelKeyDeletion")
        if key.state is not KeyState.PENDING_DELETION:
            raise InvalidKeyState(f"{key.arn} is not pending deletion.")
        state = KeyState.DISABLED
        if key.origin == ORIGIN_EXTERNAL and not import_state.complete(self._keyring.repo.list_materials(key.key_id)):
            state = KeyState.PENDING_IMPORT
        key = key.with_changes(state=state, deletion_date=None, pending_window_days=None)
        self._save(key)
        return key

    def update_description(self, ctx: RequestContext, key_ref: str, description: str) -> None:
        key = self._authorized(ctx, key_ref, "UpdateKeyDescription")
        self._save(key.with_changes(description=description))

    def purge_due(self) -> int:
        """Delete every key whose deletion date has passed; the background job's half of "deleted when due"."""
        keyring = self._keyring
        now = keyring.clock()
        count = 0
        for key in keyring.repo.keys_due(now):
            if deletion_due(key, now):
                keyring.delete_due_key(key, now)
                count += 1
        return count

    def _authorized(
        self, ctx: RequestContext, key_ref: str, action: str, facts: Mapping[str, ContextValue] | None = None
    ) -> Key:
        """The key, once the caller is authorized for ``action`` on it (AWS managed keys' policies refuse
        every management action)."""
        key = self._keyring.resolve(ctx, key_ref)
        self._authz.check(ctx, key, action, facts)
        return key

    def _save(self, key: Key) -> None:
        self._keyring.repo.update_key(key)
        self._keyring.invalidate()

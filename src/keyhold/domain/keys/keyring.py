"""The core every KMS operation shares: finding keys by any reference, gating on state, and key material.

Keys and unwrapped materials are cached in memory; ``invalidate()`` drops both when another process changed
KMS data (the composition root wires it to the "kms" change counter). A key pending deletion whose date has
passed is deleted on first sight, so it is gone when due even between background sweeps; likewise imported
material whose ValidTo has passed is deleted on first sight of its key (which becomes PendingImport).
"""

import os
import uuid
from collections.abc import Callable

from keyhold.crypto import asymmetric, kms_blob, mac
from keyhold.crypto.keywrap import RootKey
from keyhold.crypto.rand import RandomSource
from keyhold.domain.cache import Cache
from keyhold.domain.context import RequestContext
from keyhold.domain.keys import import_state
from keyhold.domain.keys.errors import (
    DisabledKey,
    InvalidCiphertextError,
    InvalidKeyState,
    NotFound,
)
from keyhold.domain.keys.managed import MANAGED_ALIASES, managed_key_policy
from keyhold.domain.keys.model import (
    DAY,
    ORIGIN_AWS_KMS,
    SYMMETRIC_DEFAULT,
    Alias,
    Key,
    KeyEvent,
    KeyManager,
    KeyState,
    KeyUsage,
    Material,
    RotationType,
    alias_arn,
    key_arn,
)
from keyhold.domain.keys.ports import KeyRepo

MATERIAL_PURPOSE = b"kms-key-material"


class Keyring:
    def __init__(
        self,
        repo: KeyRepo,
        root_key: RootKey,
        *,
        clock: Callable[[], float],
        random: RandomSource = os.urandom,
        on_event: Callable[[KeyEvent], None] = lambda _event: None,
    ) -> None:
        """``on_event`` hears what KMS does to keys on its own (see KeyEvent): the audit trail."""
        self.repo = repo
        self.clock = clock
        self.random = random
        self.on_event = on_event
        self._root_key = root_key
        self._keys: Cache[str, Key] = Cache()
        self._ciphers: Cache[str, tuple[str, kms_blob.MaterialKey]] = Cache()
        self._secrets: Cache[str, tuple[str, bytes]] = Cache()
        self._public_keys: Cache[str, bytes] = Cache()
        self._aliases: Cache[tuple[str, str, str], Alias] = Cache()

    def invalidate(self) -> None:
        self._keys.invalidate()
        self._ciphers.invalidate()
        self._secrets.invalidate()
        self._public_keys.invalidate()
        self._aliases.invalidate()

    # -- finding keys -----------------------------------------------------------------------------------------

    def get(self, key_id: str) -> Key | None:
        """The key, or None if it does not exist (or was pending deletion and is now due)."""
        key = self._keys.get(key_id, self.repo.get_key)
        if key is None:
            return None
        now = self.clock()
        if deletion_due(key, now):
            self.delete_due_key(key, now)
            return None
        if key.valid_to is not None and key.valid_to <= now:
            return self._expire_materials(key.key_id, now)
        return key

    def _expire_materials(self, key_id: str, now: float) -> Key | None:
        """Delete the key's imported materials whose ValidTo has come; the key as it is afterwards (read afresh:
        another process may have expired them already)."""
        self._keys.invalidate()
        key = self.repo.get_key(key_id)
        expiry = import_state.expire(key, self.repo.list_materials(key_id), now) if key is not None else None
        if expiry is None:
            return key
        self.apply_expiry(expiry, now)
        return expiry.key

    def delete_due_key(self, key: Key, now: float) -> None:
        """Carry out a scheduled deletion whose date has come (on read or by the background job)."""
        if self.repo.delete_key(key.key_id):
            self.on_event(KeyEvent("DeleteKey", key, now))
        self.invalidate()

    def apply_expiry(self, expiry: import_state.Expiry, now: float) -> None:
        """Delete imported materials whose ValidTo has come (on read or by the background job)."""
        self.repo.replace_materials(expiry.key, expiry.cleared, expiry.removed)
        expired = ",".join(m.material_id for m in expiry.cleared) or ",".join(expiry.removed)
        self.on_event(KeyEvent("DeleteExpiredKeyMaterial", expiry.key, now, (("keyMaterialId", expired),)))
        self.invalidate()

    def resolve(self, ctx: RequestContext, ref: str) -> Key:
        """A key named by key id, key ARN, alias name or alias ARN, in the caller's account and region."""
        account_id, region = ctx.account_id, ctx.region
        if ref.startswith("alias/"):
            return self._by_alias(account_id, region, ref)
        if ref.startswith("arn:"):
            parts = ref.split(":", 5)
            if len(parts) != 6 or parts[0] != "arn" or parts[2] != "kms":
                raise NotFound(f"Invalid arn {ref}")
            region, account_id, resource = parts[3], parts[4], parts[5]
            if resource.startswith("alias/"):
                return self._by_alias(account_id, region, resource)
            if not resource.startswith("key/"):
                raise NotFound(f"Invalid arn {ref}")
            ref = resource[len("key/") :]
        if not _is_key_id(ref):
            raise NotFound(f"Invalid keyId {ref}")
        ref = ref.lower()
        key = self.get(ref)
        if key is None or key.account_id != account_id or key.region != region:
            raise NotFound(f"Key '{key_arn(region, account_id, ref)}' does not exist")
        return key

    def _by_alias(self, account_id: str, region: str, name: str) -> Key:
        alias = self.alias(account_id, region, name)
        key = self.get(alias.target_key_id) if alias is not None else None
        if key is None and alias is None and name in MANAGED_ALIASES:
            key = self._create_managed_key(account_id, region, name)
        if key is None:
            raise NotFound(f"Alias {alias_arn(region, account_id, name)} is not found.")
        return key

    def _create_managed_key(self, account_id: str, region: str, name: str) -> Key | None:
        """AWS managed keys (alias/aws/<service>) come into being the first time anyone names them."""
        now = self.clock()
        service = name[len("alias/aws/") :]
        key = Key(
            key_id=self.new_key_id(),
            account_id=account_id,
            region=region,
            description=f"Default key that protects my {MANAGED_ALIASES[name]} when no other key is defined",
            key_usage=KeyUsage.ENCRYPT_DECRYPT,
            key_spec=SYMMETRIC_DEFAULT,
            origin=ORIGIN_AWS_KMS,
            key_manager=KeyManager.AWS,
            state=KeyState.ENABLED,
            created_at=now,
            deletion_date=None,
            pending_window_days=None,
            rotation_enabled=True,
            rotation_period_days=365,
            next_rotation_at=now + 365 * DAY,
            multi_region=False,
            policy=managed_key_policy(account_id, region, service),
            current_material_id="",
        )
        material = self.new_material(key, 0, None)
        key = key.with_changes(current_material_id=material.material_id)
        alias = Alias(account_id, region, name, key.key_id, now, now)
        if self.repo.insert_key(key, material, {}, alias):
            return key
        winner = self.repo.get_alias(account_id, region, name)  # another request created it first
        return self.get(winner.target_key_id) if winner is not None else None

    def alias(self, account_id: str, region: str, name: str) -> Alias | None:
        return self._aliases.get((account_id, region, name), lambda ref: self.repo.get_alias(*ref))

    # -- state gates ------------------------------------------------------------------------------------------

    @staticmethod
    def require_enabled(key: Key) -> None:
        """The gate for cryptographic use, with AWS's exceptions and messages."""
        if key.state is KeyState.ENABLED:
            return
        if key.state is KeyState.DISABLED:
            raise DisabledKey(f"{key.arn} is disabled.")
        raise InvalidKeyState(f"{key.arn} is {_state_phrase(key.state)}.")

    @staticmethod
    def require_not_pending_deletion(key: Key) -> None:
        if key.state is KeyState.PENDING_DELETION:
            raise InvalidKeyState(f"{key.arn} is pending deletion.")

    @staticmethod
    def require_material(key: Key) -> None:
        """KMSInvalidStateException unless the key has its material: not pending deletion, not pending import."""
        if key.state in (KeyState.PENDING_DELETION, KeyState.PENDING_IMPORT):
            raise InvalidKeyState(f"{key.arn} is {_state_phrase(key.state)}.")

    # -- key material -----------------------------------------------------------------------------------------

    def new_material(self, key: Key, seq: int, rotation_type: RotationType | None) -> Material:
        """Fresh material for ``key``'s KeySpec, wrapped under the root key; the plaintext is not kept.

        SYMMETRIC_DEFAULT: 32 random bytes. HMAC_*: the raw HMAC key. RSA and ECC specs: the PKCS#8 DER private
        key (docs/formats/asymmetric-material.md).
        """
        material_id = self.random(32).hex()
        secret = self._new_secret(key.key_spec)
        return Material(
            material_id=material_id,
            key_id=key.key_id,
            seq=seq,
            wrapped=self.wrap_material(key, material_id, secret),
            created_at=self.clock(),
            rotation_type=rotation_type,
        )

    def wrap_material(self, key: Key, material_id: str, secret: bytes) -> bytes:
        """``secret`` wrapped under the root key for ``key``'s material ``material_id`` (root-key-wrapping.md)."""
        return self._root_key.wrap(secret, MATERIAL_PURPOSE, key.arn.encode(), material_id.encode())

    def unwrap_material(self, key: Key, material: Material) -> bytes | None:
        """The secret of one of ``key``'s materials; None while imported material is deleted or expired."""
        if material.wrapped is None:
            return None
        material_id = material.material_id.encode()
        return self._root_key.unwrap(material.wrapped, MATERIAL_PURPOSE, key.arn.encode(), material_id)

    def _new_secret(self, key_spec: str) -> bytes:
        if key_spec == SYMMETRIC_DEFAULT:
            return self.random(32)
        if key_spec in mac.HMAC_KEY_SPECS:
            return mac.generate_hmac_key(key_spec, random=self.random)
        return asymmetric.generate_private_key(key_spec)

    def secret(self, key: Key) -> bytes:
        """The unwrapped secret of an asymmetric or HMAC key's (only) material: PKCS#8 DER or the HMAC key."""
        entry = self._secrets.get(key.current_material_id, self._load_secret)
        if entry is None or entry[0] != key.key_id:
            raise InvalidKeyState(f"{key.arn} has no usable key material.")
        return entry[1]

    def public_key(self, key: Key) -> bytes:
        """The SubjectPublicKeyInfo DER of an asymmetric key (derived from its private key, then cached)."""
        cached = self._public_keys.get(
            key.current_material_id, lambda _mid: asymmetric.public_key_der(self.secret(key))
        )
        if cached is None:  # pragma: no cover - public_key_der never answers None
            raise InvalidKeyState(f"{key.arn} has no usable key material.")
        return cached

    def _load_secret(self, material_id: str) -> tuple[str, bytes] | None:
        material = self.repo.get_material(material_id)
        if material is None:
            return None
        key = self.repo.get_key(material.key_id)
        secret = self.unwrap_material(key, material) if key is not None else None
        return (material.key_id, secret) if secret is not None else None

    def cipher(self, key: Key, material_id: str) -> kms_blob.MaterialKey:
        """The unwrapped key for one of ``key``'s materials; InvalidCiphertext if the material is not the key's."""
        entry = self._ciphers.get(material_id, self._load_cipher)
        if entry is None or entry[0] != key.key_id:
            raise InvalidCiphertextError("")
        return entry[1]

    def _load_cipher(self, material_id: str) -> tuple[str, kms_blob.MaterialKey] | None:
        material = self.repo.get_material(material_id)
        if material is None or material.pending_rotation:
            return None
        key = self.repo.get_key(material.key_id)
        secret = self.unwrap_material(key, material) if key is not None else None
        if secret is None:
            return None
        return material.key_id, kms_blob.MaterialKey(secret, random=self.random)

    def new_key_id(self) -> str:
        return str(uuid.UUID(bytes=self.random(16), version=4))


def deletion_due(key: Key, now: float) -> bool:
    return key.state is KeyState.PENDING_DELETION and key.deletion_date is not None and key.deletion_date <= now


def _is_key_id(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


def _state_phrase(state: KeyState) -> str:
    return {
        KeyState.PENDING_DELETION: "pending deletion",
        KeyState.PENDING_IMPORT: "pending import",
        KeyState.UNAVAILABLE: "unavailable",
    }.get(state, state.value)

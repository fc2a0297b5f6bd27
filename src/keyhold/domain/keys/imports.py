"""Imported key material: GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial, and expiry.

Only keys created with Origin EXTERNAL take imported material; they start in PendingImport with no material.

    GetParametersForImport   a fresh RSA wrapping key; its public half and an ImportToken (docs/formats/
                             import-token.md) that carries the private half sealed under the root key, for 24 h
    ImportKeyMaterial        token authentic, for this key, unexpired → unwrap → check against the KeySpec →
                             store (wrapped under the root key) → PendingImport becomes Enabled
    DeleteImportedKeyMaterial the material's secret is dropped, its id kept → PendingImport until reimported
    ValidTo passes           the same as a deletion, done by the background job and on first sight of the key

A material's id is derived from the key id and the material (crypto/key_import.material_id), so the same material
imported again gets the same id and the ciphertexts that name it decrypt again. Symmetric keys may take further
materials with ImportType NEW_KEY_MATERIAL: they wait as PENDING_ROTATION until RotateKeyOnDemand makes them
current (rotation.py). Asymmetric and HMAC keys take one material, ever.
"""

from dataclasses import dataclass

from keyhold.crypto import import_token, key_import
from keyhold.crypto.errors import InvalidCiphertext
from keyhold.crypto.keywrap import RootKey
from keyhold.domain.auth.conditions import ContextValue
from keyhold.domain.context import RequestContext
from keyhold.domain.keys import import_state
from keyhold.domain.keys.authz import Authorizer
from keyhold.domain.keys.errors import (
    ExpiredImportToken,
    IncorrectKeyMaterial,
    InvalidCiphertextError,
    InvalidImportToken,
    InvalidKeyState,
    NotFound,
    Unsupported,
    ValidationFailed,
)
from keyhold.domain.keys.keyring import Keyring
from keyhold.domain.keys.model import (
    DAY,
    KEY_MATERIAL_DOES_NOT_EXPIRE,
    KEY_MATERIAL_EXPIRES,
    ORIGIN_EXTERNAL,
    Key,
    Material,
    key_id_to_bytes,
)
from keyhold.domain.keys.specs import is_symmetric

PARAMETERS_LIFETIME = DAY  # GetParametersForImport's public key and token are valid for 24 hours
MAX_VALID_TO_DAYS = 365
NEW_KEY_MATERIAL = "NEW_KEY_MATERIAL"
EXISTING_KEY_MATERIAL = "EXISTING_KEY_MATERIAL"
RSA_KEY_SPECS = ("RSA_2048", "RSA_3072", "RSA_4096")


@dataclass(frozen=True, slots=True)
class WrappingParameters:
    """GetParametersForImport's answer."""

    key: Key
    import_token: bytes
    public_key: bytes  # SubjectPublicKeyInfo DER of the RSA wrapping key
    valid_to: float  # ParametersValidTo


@dataclass(frozen=True, slots=True)
class MaterialChange:
    """ImportKeyMaterial's and DeleteImportedKeyMaterial's answer: the key afterwards and the material's id
    ("" when DeleteImportedKeyMaterial found nothing to delete)."""

    key: Key
    material_id: str


class Imports:
    def __init__(self, keyring: Keyring, authz: Authorizer, root_key: RootKey) -> None:
        self._keyring = keyring
        self._authz = authz
        self._root_key = root_key

    def get_parameters(
        self, ctx: RequestContext, key_ref: str, wrapping_algorithm: str, wrapping_key_spec: str
    ) -> WrappingParameters:
        key = self._keyring.resolve(ctx, key_ref)
        facts = {"kms:WrappingAlgorithm": wrapping_algorithm, "kms:WrappingKeySpec": wrapping_key_spec}
        self._authz.check(ctx, key, "GetParametersForImport", facts)
        _require_external(key)
        self._keyring.require_not_pending_deletion(key)
        _check_wrapping(key, wrapping_algorithm, wrapping_key_spec)
        private_key = key_import.generate_wrapping_key(wrapping_key_spec)
        valid_to_ms = int((self._keyring.clock() + PARAMETERS_LIFETIME) * 1000)
        token = import_token.seal(
            self._root_key,
            key.arn,
            key_id_to_bytes(key.key_id),
            wrapping_algorithm,
            wrapping_key_spec,
            valid_to_ms,
            private_key,
        )
        return WrappingParameters(key, token, key_import.wrapping_public_key(private_key), valid_to_ms / 1000)

    def import_material(
        self,
        ctx: RequestContext,
        key_ref: str,
        token: bytes,
        encrypted_material: bytes,
        *,
        expiration_model: str | None = None,
        valid_to: float | None = None,
        import_type: str | None = None,
        material_id: str | None = None,
        description: str | None = None,
    ) -> MaterialChange:
        key = self._keyring.resolve(ctx, key_ref)
        facts: dict[str, ContextValue] = {}
        if expiration_model is not None:  # kms:ExpirationModel is absent (Null) when the request omits it
            facts["kms:ExpirationModel"] = expiration_model
        if valid_to is not None:
            facts["kms:ValidTo"] = valid_to
        self._authz.check(ctx, key, "ImportKeyMaterial", facts)
        _require_external(key)
        self._keyring.require_not_pending_deletion(key)
        _check_symmetric_only_members(key, import_type, material_id, description)
        now = self._keyring.clock()
        expiration_model, valid_to = _check_expiration(expiration_model, valid_to, now)
        secret = self._unwrap(key, token, encrypted_material, now)
        imported_id = key_import.material_id(key.key_id, secret)
        materials = self._keyring.repo.list_materials(key.key_id)
        existing = next((m for m in materials if m.material_id == imported_id), None)
        kind = import_type or (EXISTING_KEY_MATERIAL if materials else NEW_KEY_MATERIAL)
        wrapped = self._keyring.wrap_material(key, imported_id, secret)
        if kind == NEW_KEY_MATERIAL:
            if existing is not None:
                raise IncorrectKeyMaterial(
                    f"The key material in the request is already associated with {key.arn}; "
                    "reimport it with ImportType EXISTING_KEY_MATERIAL."
                )
            _refuse_second_pending(key, materials)
            material = Material(
                material_id=imported_id,
                key_id=key.key_id,
                seq=max((m.seq for m in materials), default=-1) + 1,
                wrapped=wrapped,
                created_at=now,
                rotation_type=None,
                expiration_model=expiration_model,
                valid_to=valid_to,
                description=description,
                pending_rotation=bool(materials),
            )
            if not materials:
                key = key.with_changes(current_material_id=imported_id)
        else:
            if existing is None:
                raise IncorrectKeyMaterial(
                    f"The key material in the request is not the key material previously imported into {key.arn}."
                )
            if material_id is not None and material_id != imported_id:
                raise IncorrectKeyMaterial(f"The key material in the request is not key material {material_id}.")
            material = existing.with_changes(
                wrapped=wrapped,
                expiration_model=expiration_model,
                valid_to=valid_to,
                description=description if description is not None else existing.description,
            )
        after = [m for m in materials if m.material_id != imported_id] + [material]
        key = import_state.settle(key, after)
        self._keyring.repo.replace_materials(key, [material])
        self._keyring.invalidate()
        return MaterialChange(key, imported_id)

    def delete_material(self, ctx: RequestContext, key_ref: str, material_id: str | None = None) -> MaterialChange:
        """Drop the secret of the named (default: the current) material; the key becomes PendingImport unless it is
        pending deletion. Material pending rotation is removed outright. Nothing to delete is not an error."""
        key = self._keyring.resolve(ctx, key_ref)
        self._authz.check(ctx, key, "DeleteImportedKeyMaterial")
        _require_external(key)
        materials = self._keyring.repo.list_materials(key.key_id)
        wanted = material_id if material_id is not None else key.current_material_id
        target = next((m for m in materials if m.material_id == wanted), None)
        if target is None:
            if material_id is not None:
                raise NotFound(f"Key material {material_id} is not associated with {key.arn}.")
            return MaterialChange(key, "")
        if not target.present:
            return MaterialChange(key, target.material_id)
        key = import_state.settle(key, import_state.without(materials, [target]))
        if target.pending_rotation:
            self._keyring.repo.replace_materials(key, [], [target.material_id])
        else:
            self._keyring.repo.replace_materials(key, [import_state.cleared(target)])
        self._keyring.invalidate()
        return MaterialChange(key, target.material_id)

    def expire_due(self) -> int:
        """Delete every imported material whose ValidTo has come (the background job's half of expiry); the number
        of keys that lost material."""
        keyring = self._keyring
        now = keyring.clock()
        count = 0
        for key in keyring.repo.keys_due(now):
            expiry = import_state.expire(key, keyring.repo.list_materials(key.key_id), now)
            if expiry is not None:
                keyring.apply_expiry(expiry, now)
                count += 1
        return count

    def _unwrap(self, key: Key, token: bytes, encrypted_material: bytes, now: float) -> bytes:
        """The key material, checked against the key's spec and in Keyhold's canonical form."""
        try:
            parameters = import_token.open_token(self._root_key, token, key.arn)
        except InvalidCiphertext:
            raise InvalidImportToken(
                f"The import token is invalid or was issued for a KMS key other than {key.arn}."
            ) from None
        if parameters.valid_to_ms <= now * 1000:
            raise ExpiredImportToken(
                "The import token has expired. Use GetParametersForImport to get a new import token and public key."
            )
        try:
            raw = key_import.unwrap(parameters.private_key, parameters.wrapping_algorithm, encrypted_material)
        except InvalidCiphertext:
            raise InvalidCiphertextError(
                f"The encrypted key material could not be decrypted with the public key and wrapping algorithm "
                f"({parameters.wrapping_algorithm}) of the import token."
            ) from None
        try:
            return key_import.canonical_material(key.key_spec, raw)
        except key_import.IncorrectMaterial as exc:
            raise IncorrectKeyMaterial(str(exc)) from None


def _require_external(key: Key) -> None:
    if key.origin != ORIGIN_EXTERNAL:
        raise Unsupported(f"{key.arn} origin is {key.origin} which is not valid for this operation.")


def _check_wrapping(key: Key, algorithm: str, wrapping_key_spec: str) -> None:
    """The wrapping algorithm and key spec must be ones Keyhold offers and able to carry this key's material."""
    if algorithm == "RSAES_PKCS1_V1_5":
        raise ValidationFailed(
            "The RSAES_PKCS1_V1_5 wrapping algorithm is no longer supported. Use RSAES_OAEP_SHA_256, "
            "RSAES_OAEP_SHA_1, RSA_AES_KEY_WRAP_SHA_256 or RSA_AES_KEY_WRAP_SHA_1."
        )
    sm2 = (algorithm == "SM2PKE", wrapping_key_spec == "SM2")
    if any(sm2):
        if all(sm2):
            raise Unsupported("SM2 wrapping keys (China Regions only) are not supported by Keyhold.")
        raise ValidationFailed(
            f"Wrapping algorithm {algorithm} is not compatible with wrapping key spec {wrapping_key_spec}."
        )
    if algorithm.startswith("RSAES_OAEP_"):
        if key.key_spec in RSA_KEY_SPECS:
            raise ValidationFailed(
                f"Wrapping algorithm {algorithm} cannot wrap {key.key_spec} key material. "
                "Use RSA_AES_KEY_WRAP_SHA_256 or RSA_AES_KEY_WRAP_SHA_1."
            )
        if key.key_spec == "ECC_NIST_P521" and wrapping_key_spec == "RSA_2048":
            raise ValidationFailed(
                f"Wrapping algorithm {algorithm} with wrapping key spec RSA_2048 cannot wrap ECC_NIST_P521 key "
                "material. Use a longer wrapping key or an RSA_AES_KEY_WRAP algorithm."
            )


def _check_symmetric_only_members(
    key: Key, import_type: str | None, material_id: str | None, description: str | None
) -> None:
    if not is_symmetric(key) and (import_type is not None or material_id is not None or description is not None):
        raise ValidationFailed(
            "ImportType, KeyMaterialId and KeyMaterialDescription are valid only for symmetric encryption keys."
        )
    if import_type == NEW_KEY_MATERIAL and material_id is not None:
        raise ValidationFailed("You cannot specify a KeyMaterialId with ImportType NEW_KEY_MATERIAL.")


def _check_expiration(expiration_model: str | None, valid_to: float | None, now: float) -> tuple[str, float | None]:
    """ExpirationModel (default KEY_MATERIAL_EXPIRES) and ValidTo, as ImportKeyMaterial requires them."""
    model = expiration_model or KEY_MATERIAL_EXPIRES
    if model == KEY_MATERIAL_DOES_NOT_EXPIRE:
        if valid_to is not None:
            raise ValidationFailed(
                "ValidTo must not be specified when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE."
            )
        return model, None
    if valid_to is None:
        raise ValidationFailed("ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES.")
    if valid_to <= now:
        raise ValidationFailed("ValidTo must be a date and time in the future.")
    if valid_to > now + MAX_VALID_TO_DAYS * DAY:
        raise ValidationFailed(f"ValidTo must be at most {MAX_VALID_TO_DAYS} days after the request.")
    return model, valid_to


def _refuse_second_pending(key: Key, materials: list[Material]) -> None:
    pending = [m for m in materials if m.pending_rotation]
    if pending:
        raise InvalidKeyState(
            f"{key.arn} already has key material {pending[0].material_id} pending rotation. Rotate to it with "
            "RotateKeyOnDemand, or delete it with DeleteImportedKeyMaterial, before importing new key material."
        )

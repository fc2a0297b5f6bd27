"""SqlKeyRepo: the KMS domain's KeyRepo on SQLAlchemy Core (SQLite or PostgreSQL)."""

from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, Engine, Row, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from keyhold.domain.keys.model import Alias, Grant, Key, KeyManager, KeyState, KeyUsage, Material, RotationType
from keyhold.storage.sql.db import bump_generations
from keyhold.storage.sql.grants import grant_from_row, grant_row
from keyhold.storage.sql.schema import kms_aliases, kms_grants, kms_keys, kms_materials, kms_tags

_MUTABLE = (
    "description",
    "state",
    "deletion_date",
    "pending_window_days",
    "rotation_enabled",
    "rotation_period_days",
    "next_rotation_at",
    "policy",
    "current_material_id",
    "expiration_model",
    "valid_to",
)


def _key_row(key: Key) -> dict[str, object]:
    return {
        "key_id": key.key_id,
        "account_id": key.account_id,
        "region": key.region,
        "description": key.description,
        "key_usage": key.key_usage.value,
        "key_spec": key.key_spec,
        "origin": key.origin,
        "key_manager": key.key_manager.value,
        "state": key.state.value,
        "created_at": key.created_at,
        "deletion_date": key.deletion_date,
        "pending_window_days": key.pending_window_days,
        "rotation_enabled": key.rotation_enabled,
        "rotation_period_days": key.rotation_period_days,
        "next_rotation_at": key.next_rotation_at,
        "multi_region": key.multi_region,
        "policy": key.policy,
        "current_material_id": key.current_material_id,
        "expiration_model": key.expiration_model,
        "valid_to": key.valid_to,
    }


def _key(row: Row[tuple[object, ...]]) -> Key:
    m = row._mapping
    return Key(
        key_id=m["key_id"],
        account_id=m["account_id"],
        region=m["region"],
        description=m["description"],
        key_usage=KeyUsage(m["key_usage"]),
        key_spec=m["key_spec"],
        origin=m["origin"],
        key_manager=KeyManager(m["key_manager"]),
        state=KeyState(m["state"]),
        created_at=m["created_at"],
        deletion_date=m["deletion_date"],
        pending_window_days=m["pending_window_days"],
        rotation_enabled=bool(m["rotation_enabled"]),
        rotation_period_days=m["rotation_period_days"],
        next_rotation_at=m["next_rotation_at"],
        multi_region=bool(m["multi_region"]),
        policy=m["policy"],
        current_material_id=m["current_material_id"],
        expiration_model=m["expiration_model"],
        valid_to=m["valid_to"],
    )


def _material_row(material: Material) -> dict[str, object]:
    return {
        "material_id": material.material_id,
        "key_id": material.key_id,
        "seq": material.seq,
        "wrapped": material.wrapped,
        "created_at": material.created_at,
        "rotation_type": material.rotation_type.value if material.rotation_type else None,
        "expiration_model": material.expiration_model,
        "valid_to": material.valid_to,
        "description": material.description,
        "pending_rotation": material.pending_rotation,
    }


def _material(row: Row[tuple[object, ...]]) -> Material:
    m = row._mapping
    return Material(
        material_id=m["material_id"],
        key_id=m["key_id"],
        seq=m["seq"],
        wrapped=bytes(m["wrapped"]) if m["wrapped"] is not None else None,
        created_at=m["created_at"],
        rotation_type=RotationType(m["rotation_type"]) if m["rotation_type"] else None,
        expiration_model=m["expiration_model"],
        valid_to=m["valid_to"],
        description=m["description"],
        pending_rotation=bool(m["pending_rotation"]),
    )


def _alias(row: Row[tuple[object, ...]]) -> Alias:
    m = row._mapping
    return Alias(
        account_id=m["account_id"],
        region=m["region"],
        name=m["alias_name"],
        target_key_id=m["target_key_id"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def _alias_row(alias: Alias) -> dict[str, object]:
    return {
        "account_id": alias.account_id,
        "region": alias.region,
        "alias_name": alias.name,
        "target_key_id": alias.target_key_id,
        "created_at": alias.created_at,
        "updated_at": alias.updated_at,
    }


class SqlKeyRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _changed(self, conn: Connection) -> None:
        bump_generations(conn, ["kms"])

    def insert_key(
        self, key: Key, material: Material | Sequence[Material], tags: Mapping[str, str], alias: Alias | None
    ) -> bool:
        materials = [material] if isinstance(material, Material) else list(material)
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(kms_keys).values(_key_row(key)))
                if materials:
                    conn.execute(insert(kms_materials), [_material_row(m) for m in materials])
                if tags:
                    conn.execute(
                        insert(kms_tags),
                        [{"key_id": key.key_id, "tag_key": k, "tag_value": v} for k, v in tags.items()],
                    )
                if alias is not None:
                    conn.execute(insert(kms_aliases).values(_alias_row(alias)))
                self._changed(conn)
        except IntegrityError:
            if alias is None:
                raise
            return False
        return True

    def get_key(self, key_id: str) -> Key | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(kms_keys).where(kms_keys.c.key_id == key_id)).first()
        return _key(row) if row is not None else None

    def list_keys(self, account_id: str, region: str, after: str | None, limit: int) -> list[Key]:
        query = select(kms_keys).where(kms_keys.c.account_id == account_id, kms_keys.c.region == region)
        if after is not None:
            query = query.where(kms_keys.c.key_id > after)
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(kms_keys.c.key_id).limit(limit)).all()
        return [_key(row) for row in rows]

    def update_key(self, key: Key) -> None:
        row = _key_row(key)
        with self._engine.begin() as conn:
            conn.execute(update(kms_keys).where(kms_keys.c.key_id == key.key_id).values({k: row[k] for k in _MUTABLE}))
            self._changed(conn)

    def add_material(self, key: Key, material: Material) -> None:
        row = _key_row(key)
        with self._engine.begin() as conn:
            conn.execute(insert(kms_materials).values(_material_row(material)))
            conn.execute(update(kms_keys).where(kms_keys.c.key_id == key.key_id).values({k: row[k] for k in _MUTABLE}))
            self._changed(conn)

    def replace_materials(self, key: Key, materials: Sequence[Material], removed: Sequence[str] = ()) -> None:
        row = _key_row(key)
        with self._engine.begin() as conn:
            if removed:
                conn.execute(
                    delete(kms_materials).where(
                        kms_materials.c.key_id == key.key_id, kms_materials.c.material_id.in_(list(removed))
                    )
                )
            for material in materials:
                values = _material_row(material)
                updated = conn.execute(
                    update(kms_materials)
                    .where(kms_materials.c.material_id == material.material_id, kms_materials.c.key_id == key.key_id)
                    .values({k: v for k, v in values.items() if k not in ("material_id", "key_id")})
                )
                if updated.rowcount == 0:
                    conn.execute(insert(kms_materials).values(values))
            conn.execute(update(kms_keys).where(kms_keys.c.key_id == key.key_id).values({k: row[k] for k in _MUTABLE}))
            self._changed(conn)

    def get_material(self, material_id: str) -> Material | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(kms_materials).where(kms_materials.c.material_id == material_id)).first()
        return _material(row) if row is not None else None

    def list_materials(self, key_id: str) -> list[Material]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(kms_materials).where(kms_materials.c.key_id == key_id).order_by(kms_materials.c.seq)
            ).all()
        return [_material(row) for row in rows]

    def delete_key(self, key_id: str) -> bool:
        with self._engine.begin() as conn:
            conn.execute(delete(kms_aliases).where(kms_aliases.c.target_key_id == key_id))
            conn.execute(delete(kms_grants).where(kms_grants.c.key_id == key_id))
            conn.execute(delete(kms_tags).where(kms_tags.c.key_id == key_id))
            conn.execute(delete(kms_materials).where(kms_materials.c.key_id == key_id))
            deleted = conn.execute(delete(kms_keys).where(kms_keys.c.key_id == key_id)).rowcount > 0
            self._changed(conn)
        return deleted

    def keys_due(self, now: float) -> list[Key]:
        expired = (
            select(kms_materials.c.material_id)
            .where(
                kms_materials.c.key_id == kms_keys.c.key_id,
                kms_materials.c.wrapped.is_not(None),
                kms_materials.c.valid_to <= now,
            )
            .exists()
        )
        query = select(kms_keys).where(
            or_(
                and_(kms_keys.c.deletion_date.is_not(None), kms_keys.c.deletion_date <= now),
                and_(kms_keys.c.rotation_enabled.is_(True), kms_keys.c.next_rotation_at <= now),
                expired,
            )
        )
        with self._engine.connect() as conn:
            return [_key(row) for row in conn.execute(query).all()]

    def get_alias(self, account_id: str, region: str, name: str) -> Alias | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(kms_aliases).where(
                    kms_aliases.c.account_id == account_id,
                    kms_aliases.c.region == region,
                    kms_aliases.c.alias_name == name,
                )
            ).first()
        return _alias(row) if row is not None else None

    def list_aliases(
        self, account_id: str, region: str, key_id: str | None, after: str | None, limit: int
    ) -> list[Alias]:
        query = select(kms_aliases).where(kms_aliases.c.account_id == account_id, kms_aliases.c.region == region)
        if key_id is not None:
            query = query.where(kms_aliases.c.target_key_id == key_id)
        if after is not None:
            query = query.where(kms_aliases.c.alias_name > after)
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(kms_aliases.c.alias_name).limit(limit)).all()
        return [_alias(row) for row in rows]

    def insert_alias(self, alias: Alias) -> bool:
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(kms_aliases).values(_alias_row(alias)))
                self._changed(conn)
        except IntegrityError:
            return False
        return True

    def retarget_alias(self, alias: Alias) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(kms_aliases)
                .where(
                    kms_aliases.c.account_id == alias.account_id,
                    kms_aliases.c.region == alias.region,
                    kms_aliases.c.alias_name == alias.name,
                )
                .values(target_key_id=alias.target_key_id, updated_at=alias.updated_at)
            )
            self._changed(conn)

    def delete_alias(self, account_id: str, region: str, name: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                delete(kms_aliases).where(
                    kms_aliases.c.account_id == account_id,
                    kms_aliases.c.region == region,
                    kms_aliases.c.alias_name == name,
                )
            )
            self._changed(conn)

    def get_tags(self, key_id: str) -> dict[str, str]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(kms_tags.c.tag_key, kms_tags.c.tag_value).where(kms_tags.c.key_id == key_id))
            return {row.tag_key: row.tag_value for row in rows}

    def put_tags(self, key_id: str, tags: Mapping[str, str]) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(kms_tags).where(kms_tags.c.key_id == key_id, kms_tags.c.tag_key.in_(list(tags))))
            conn.execute(insert(kms_tags), [{"key_id": key_id, "tag_key": k, "tag_value": v} for k, v in tags.items()])
            self._changed(conn)

    def remove_tags(self, key_id: str, tag_keys: Sequence[str]) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(kms_tags).where(kms_tags.c.key_id == key_id, kms_tags.c.tag_key.in_(list(tag_keys))))
            self._changed(conn)

    def insert_grant(self, grant: Grant) -> None:
        with self._engine.begin() as conn:
            conn.execute(insert(kms_grants).values(grant_row(grant)))
            self._changed(conn)

    def get_grant(self, grant_id: str) -> Grant | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(kms_grants).where(kms_grants.c.grant_id == grant_id)).first()
        return grant_from_row(row) if row is not None else None

    def list_grants(self, key_id: str) -> list[Grant]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(kms_grants).where(kms_grants.c.key_id == key_id).order_by(kms_grants.c.grant_id)
            ).all()
        return [grant_from_row(row) for row in rows]

    def list_retirable_grants(self, retiring_principal: str, after: str | None, limit: int) -> list[Grant]:
        query = select(kms_grants).where(kms_grants.c.retiring_principal == retiring_principal)
        if after is not None:
            query = query.where(kms_grants.c.grant_id > after)
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(kms_grants.c.grant_id).limit(limit)).all()
        return [grant_from_row(row) for row in rows]

    def delete_grant(self, grant_id: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(kms_grants).where(kms_grants.c.grant_id == grant_id))
            self._changed(conn)

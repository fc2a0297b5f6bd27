"""What the KMS domain needs from storage. Each method is one atomic transaction."""

from collections.abc import Mapping, Sequence
from typing import Protocol

from keyhold.domain.keys.model import Alias, Grant, Key, Material


class KeyRepo(Protocol):
    def insert_key(
        self, key: Key, material: Material | Sequence[Material], tags: Mapping[str, str], alias: Alias | None
    ) -> bool:
        """Store a new key with its material (one, several versions, or none for an EXTERNAL key pending import),
        its tags and an alias; False if the alias already exists."""
        ...

    def get_key(self, key_id: str) -> Key | None: ...

    def list_keys(self, account_id: str, region: str, after: str | None, limit: int) -> list[Key]:
        """Keys ordered by key id, starting after the key id ``after``."""
        ...

    def update_key(self, key: Key) -> None:
        """Write the key's mutable fields (state, dates, description, rotation, policy)."""
        ...

    def add_material(self, key: Key, material: Material) -> None:
        """Append a material version and make it current (``key.current_material_id``)."""
        ...

    def replace_materials(self, key: Key, materials: Sequence[Material], removed: Sequence[str] = ()) -> None:
        """Write the key's mutable fields, insert or overwrite each of ``materials`` (by material id) and delete the
        materials whose ids are in ``removed``, in one transaction (imports, deletions and expiry of material)."""
        ...

    def get_material(self, material_id: str) -> Material | None: ...

    def list_materials(self, key_id: str) -> list[Material]:
        """Oldest first."""
        ...

    def delete_key(self, key_id: str) -> bool:
        """Remove the key, its materials, aliases and tags; False if it was already gone."""
        ...

    def keys_due(self, now: float) -> list[Key]:
        """Keys whose deletion date or next automatic rotation has come, or with present material whose valid-to
        date has passed."""
        ...

    def get_alias(self, account_id: str, region: str, name: str) -> Alias | None: ...

    def list_aliases(
        self, account_id: str, region: str, key_id: str | None, after: str | None, limit: int
    ) -> list[Alias]: ...

    def insert_alias(self, alias: Alias) -> bool:
        """False if the name is taken."""
        ...

    def retarget_alias(self, alias: Alias) -> None: ...

    def delete_alias(self, account_id: str, region: str, name: str) -> None: ...

    def get_tags(self, key_id: str) -> dict[str, str]: ...

    def put_tags(self, key_id: str, tags: Mapping[str, str]) -> None: ...

    def remove_tags(self, key_id: str, tag_keys: Sequence[str]) -> None: ...

    def insert_grant(self, grant: Grant) -> None: ...

    def get_grant(self, grant_id: str) -> Grant | None: ...

    def list_grants(self, key_id: str) -> list[Grant]:
        """Every grant on the key, ordered by grant id."""
        ...

    def list_retirable_grants(self, retiring_principal: str, after: str | None, limit: int) -> list[Grant]: ...

    def delete_grant(self, grant_id: str) -> None: ...

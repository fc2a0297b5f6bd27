"""What the KMS domain needs from storage. Each method is one atomic transaction."""

from collections.abc import Mapping, Sequence
from typing import Protocol

from keyhold.domain.keys.model import Alias, Key, Material


class KeyRepo(Protocol):
    def insert_key(self, key: Key, material: Material, tags: Mapping[str, str], alias: Alias | None) -> bool:
        """Store a new key with its first material (and an alias); False if the alias already exists."""
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

    def get_material(self, material_id: str) -> Material | None: ...

    def list_materials(self, key_id: str) -> list[Material]:
        """Oldest first."""
        ...

    def delete_key(self, key_id: str) -> None:
        """Remove the key, its materials, aliases and tags."""
        ...

    def keys_due(self, now: float) -> list[Key]:
        """Keys whose deletion date or next automatic rotation has come."""
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

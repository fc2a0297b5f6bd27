"""`keyhold kms seed FILE.yaml`: keys, aliases and (optionally) key material from a file, idempotently.

The file is read and checked whole first (every problem reported with its line); then the store is checked
against it (a key or alias that exists differently is a conflict); only if both pass is anything written. Keys
and aliases that exist as described are reported as present and left alone, so running the same file again
changes nothing. The format is documented in docs/kms.md ("Seeding"); the decisions are domain/keys/seeding.py.
"""

import argparse
import base64
import binascii
import json
import os
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from keyhold import app
from keyhold.config import DEFAULT_REGION, Settings
from keyhold.crypto.key_import import private_key_from_pem
from keyhold.domain.identity.model import DEFAULT_ACCOUNT_ID
from keyhold.domain.keys.model import ORIGIN_AWS_KMS
from keyhold.domain.keys.rotation import DEFAULT_ROTATION_PERIOD_DAYS
from keyhold.domain.keys.seeding import AliasSeed, KeySeed, Outcome, SeedConflict, Seeder

KEY_FIELDS = frozenset(
    {"KeyId", "Description", "KeySpec", "KeyUsage", "Origin", "Enabled", "Policy", "Tags", "EnableKeyRotation",
     "RotationPeriodInDays", "KeyMaterial"}
)  # fmt: skip
ALIAS_FIELDS = frozenset({"AliasName", "TargetKeyId"})
MATERIAL_FORMS = ("Hex", "Base64", "Pem")
MAX_DESCRIPTION = 8192  # botocore's DescriptionType
MAX_TAG_KEY, MAX_TAG_VALUE = 128, 256  # TagKeyType, TagValueType


class SeedFileError(Exception):
    """The seed file cannot be used; ``problems`` are "line N: where: what" texts."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class SeedPlan:
    keys: list[tuple[int, KeySeed]]  # (line, seed)
    aliases: list[tuple[int, AliasSeed]]


# -- reading the file -----------------------------------------------------------------------------------------


class _Located(dict[Any, Any]):
    """A YAML mapping that remembers its line and the line of each of its keys (1-based)."""

    line = 0
    key_lines: dict[Any, int]


class _LineLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type hints
    """yaml.SafeLoader (no arbitrary objects) whose mappings remember where they were written."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _Located:
    mapping = _Located(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {
        loader.construct_object(key_node, deep=True): key_node.start_mark.line + 1 for key_node, _ in node.value
    }
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _Reader:
    """Turns the parsed document into seeds, collecting every problem instead of stopping at the first."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self.problems: list[str] = []

    def problem(self, line: int, where: str, what: str) -> None:
        self.problems.append(f"line {line}: {where}: {what}")

    def read(self, document: object) -> SeedPlan:
        plan = SeedPlan([], [])
        if document is None:
            return plan
        if not isinstance(document, _Located):
            self.problem(1, "file", "must be a mapping with Keys and/or Aliases")
            return plan
        for name in sorted(set(document) - {"Keys", "Aliases"}, key=str):
            self.problem(document.key_lines[name], str(name), "unknown section (expected Keys or Aliases)")
        for index, entry in enumerate(self._list(document, "Keys")):
            seed = self._key(entry, f"Keys[{index}]")
            if seed is not None:
                plan.keys.append((entry.line, seed))
        for index, entry in enumerate(self._list(document, "Aliases")):
            alias = self._alias(entry, f"Aliases[{index}]")
            if alias is not None:
                plan.aliases.append((entry.line, alias))
        seen: dict[str, int] = {}
        for line, seed in plan.keys:
            if seed.key_id in seen:
                self.problem(line, "KeyId", f"{seed.key_id} is already described on line {seen[seed.key_id]}")
            seen.setdefault(seed.key_id, line)
        names: dict[str, int] = {}
        for line, alias in plan.aliases:
            if alias.name in names:
                self.problem(line, "AliasName", f"{alias.name} is already described on line {names[alias.name]}")
            names.setdefault(alias.name, line)
        return plan

    def _list(self, document: _Located, section: str) -> list[_Located]:
        value = document.get(section)
        if value is None:
            return []
        line = document.key_lines[section]
        if not isinstance(value, list):
            self.problem(line, section, "must be a list")
            return []
        entries = [item for item in value if isinstance(item, _Located)]
        if len(entries) != len(value):
            self.problem(line, section, "every entry must be a mapping")
        return entries

    def _key(self, entry: _Located, where: str) -> KeySeed | None:
        before = len(self.problems)
        for name in sorted(set(entry) - KEY_FIELDS, key=str):
            self.problem(
                entry.key_lines[name], f"{where}.{name}", f"unknown field (expected one of {_names(KEY_FIELDS)})"
            )
        key_id = self._key_id(entry, "KeyId", where, required=True)
        description = self._string(entry, "Description", where) or ""
        if len(description) > MAX_DESCRIPTION:
            self.problem(
                self._line(entry, "Description"), f"{where}.Description", f"is over {MAX_DESCRIPTION} characters"
            )
        key_spec = self._string(entry, "KeySpec", where) or "SYMMETRIC_DEFAULT"
        key_usage = self._string(entry, "KeyUsage", where)
        origin = self._string(entry, "Origin", where) or ORIGIN_AWS_KMS
        enabled = self._bool(entry, "Enabled", where, default=True)
        policy = self._policy(entry, where)
        tags = self._tags(entry, where)
        rotation = self._rotation(entry, where)
        materials = self._materials(entry, where, key_spec)
        if len(self.problems) != before or key_id is None:
            return None
        return KeySeed(
            key_id=key_id,
            account_id=self.account_id,
            region=self.region,
            description=description,
            key_spec=key_spec,
            key_usage=key_usage,
            origin=origin,
            policy=policy,
            tags=tags,
            enabled=enabled,
            rotation_period_days=rotation,
            materials=materials,
        )

    def _alias(self, entry: _Located, where: str) -> AliasSeed | None:
        before = len(self.problems)
        for name in sorted(set(entry) - ALIAS_FIELDS, key=str):
            self.problem(entry.key_lines[name], f"{where}.{name}", f"unknown field (expected {_names(ALIAS_FIELDS)})")
        name = self._string(entry, "AliasName", where, required=True)
        target = self._key_id(entry, "TargetKeyId", where, required=True)
        if len(self.problems) != before or name is None or target is None:
            return None
        return AliasSeed(name=name, target_key_id=target, account_id=self.account_id, region=self.region)

    # -- fields ---------------------------------------------------------------------------------------------

    def _line(self, entry: _Located, name: str) -> int:
        return entry.key_lines.get(name, entry.line)

    def _string(self, entry: _Located, name: str, where: str, *, required: bool = False) -> str | None:
        value = entry.get(name)
        if value is None:
            if required:
                self.problem(entry.line, f"{where}.{name}", "is required")
            return None
        if not isinstance(value, str):
            self.problem(self._line(entry, name), f"{where}.{name}", "must be a string")
            return None
        return value

    def _bool(self, entry: _Located, name: str, where: str, *, default: bool) -> bool:
        value = entry.get(name, default)
        if not isinstance(value, bool):
            self.problem(self._line(entry, name), f"{where}.{name}", "must be true or false")
            return default
        return value

    def _key_id(self, entry: _Located, name: str, where: str, *, required: bool) -> str | None:
        text = self._string(entry, name, where, required=required)
        if text is None:
            return None
        try:
            return str(uuid.UUID(text))
        except ValueError:
            self.problem(self._line(entry, name), f"{where}.{name}", f"{text!r} is not a key id (a UUID)")
            return None

    def _policy(self, entry: _Located, where: str) -> str | None:
        value = entry.get("Policy")
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, dict):
            return json.dumps(value, indent=2)
        self.problem(self._line(entry, "Policy"), f"{where}.Policy", "must be a policy document (mapping) or JSON text")
        return None

    def _tags(self, entry: _Located, where: str) -> dict[str, str]:
        value = entry.get("Tags")
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            self.problem(self._line(entry, "Tags"), f"{where}.Tags", "must map tag keys to string values")
            return {}
        if not all(1 <= len(k) <= MAX_TAG_KEY and len(v) <= MAX_TAG_VALUE for k, v in value.items()):
            self.problem(
                self._line(entry, "Tags"),
                f"{where}.Tags",
                f"tag keys are 1 to {MAX_TAG_KEY} characters, values at most {MAX_TAG_VALUE}",
            )
            return {}
        return dict(value)

    def _rotation(self, entry: _Located, where: str) -> int | None:
        enabled = self._bool(entry, "EnableKeyRotation", where, default="RotationPeriodInDays" in entry)
        period = entry.get("RotationPeriodInDays", DEFAULT_ROTATION_PERIOD_DAYS)
        if not isinstance(period, int) or isinstance(period, bool):
            self.problem(self._line(entry, "RotationPeriodInDays"), f"{where}.RotationPeriodInDays", "must be a number")
            return None
        return period if enabled else None

    def _materials(self, entry: _Located, where: str, key_spec: str) -> list[bytes]:
        value = entry.get("KeyMaterial")
        if value is None:
            return []
        line = self._line(entry, "KeyMaterial")
        items = value if isinstance(value, list) else [value]
        materials: list[bytes] = []
        for index, item in enumerate(items):
            at = f"{where}.KeyMaterial" + (f"[{index}]" if isinstance(value, list) else "")
            item_line = item.line if isinstance(item, _Located) else line
            if not isinstance(item, dict) or len(item) != 1 or next(iter(item)) not in MATERIAL_FORMS:
                self.problem(item_line, at, "must be a mapping with exactly one of Hex, Base64 or Pem")
                continue
            form, text = next(iter(item.items()))
            if not isinstance(text, str):
                self.problem(item_line, f"{at}.{form}", "must be a string")
                continue
            decoded = _decode_material(form, text)
            if decoded is None:
                self.problem(item_line, f"{at}.{form}", f"is not valid {form.lower()} key material")
                continue
            if form == "Pem" and key_spec in ("SYMMETRIC_DEFAULT", "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512"):
                self.problem(item_line, f"{at}.Pem", f"{key_spec} material is given as Hex or Base64, not PEM")
                continue
            materials.append(decoded)
        return materials


def _decode_material(form: str, text: str) -> bytes | None:
    """The bytes a Hex, Base64 or Pem value stands for; None if it is not valid (the message never shows it)."""
    try:
        if form == "Hex":
            return bytes.fromhex("".join(text.split()))
        if form == "Base64":
            return base64.b64decode("".join(text.split()), validate=True)
        return private_key_from_pem(text.encode("ascii"))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        return None


def _names(fields: frozenset[str]) -> str:
    return ", ".join(sorted(fields))


def read_seed_file(path: Path, account_id: str, region: str) -> SeedPlan:
    """The seeds in ``path``; SeedFileError listing every problem (with its line) if there is any."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedFileError([f"cannot read the file: {exc.__class__.__name__}: {exc}"]) from None
    try:
        document = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a yaml.SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise SeedFileError([f"{where}not valid YAML: {getattr(exc, 'problem', None) or exc}"]) from None
    reader = _Reader(account_id, region)
    plan = reader.read(document)
    if reader.problems:
        raise SeedFileError(reader.problems)
    return plan


# -- applying it ----------------------------------------------------------------------------------------------


def apply_plan(seeder: Seeder, plan: SeedPlan, out: TextIO) -> tuple[int, int]:
    """Check every seed against the store, then (if all pass) create what is missing: (created, present)."""
    conflicts: list[str] = []
    planned: list[str] = []
    for line, key in plan.keys:
        try:
            if seeder.ensure_key(key, apply=False) is Outcome.CREATED:
                planned.append(key.key_id)
        except SeedConflict as exc:
            conflicts.append(f"line {line}: {exc}")
    for line, alias in plan.aliases:
        try:
            seeder.ensure_alias(alias, apply=False, planned_keys=planned)
        except SeedConflict as exc:
            conflicts.append(f"line {line}: {exc}")
    if conflicts:
        raise SeedFileError(conflicts)
    created = present = 0
    for _line, key in plan.keys:
        outcome = seeder.ensure_key(key)
        what = f"{key.key_spec}, {key.origin}" + (
            f", {len(key.materials)} material version(s)" if key.materials else ""
        )
        print(f"{outcome.value} key {key.key_id} ({what})", file=out)
        created, present = (created + 1, present) if outcome is Outcome.CREATED else (created, present + 1)
    for _line, alias in plan.aliases:
        outcome = seeder.ensure_alias(alias)
        print(f"{outcome.value} alias {alias.name} -> {alias.target_key_id}", file=out)
        created, present = (created + 1, present) if outcome is Outcome.CREATED else (created, present + 1)
    return created, present


def seed(settings: Settings, path: Path, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """The command: 0 when the store holds everything the file describes, 1 if the file or the store disagree."""
    account_id = DEFAULT_ACCOUNT_ID
    try:
        plan = read_seed_file(path, account_id, settings.region)
    except SeedFileError as exc:
        _report(err, path, exc.problems)
        return 1
    app.bootstrap(settings)
    runtime = app.open_runtime(settings, node_suffix="-seed")
    try:
        created, present = apply_plan(Seeder(runtime.kms.keyring), plan, out)
    except SeedFileError as exc:
        _report(err, path, exc.problems)
        return 1
    finally:
        runtime.close()
    print(
        f"seeded account {account_id}, region {settings.region}: {created} created, {present} already present",
        file=out,
    )
    return 0


def _report(err: TextIO, path: Path, problems: list[str]) -> None:
    for problem in problems:
        print(f"keyhold kms seed: {path}: {problem}", file=err)
    print("keyhold kms seed: nothing was changed", file=err)


# -- command line ---------------------------------------------------------------------------------------------


def add_kms_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``kms`` and its subcommands (``seed``) to the ``keyhold`` command's subparsers."""
    kms: argparse.ArgumentParser = subparsers.add_parser("kms", help="KMS administration (seeding keys)")
    commands = kms.add_subparsers(dest="kms_command", required=True)
    parser = commands.add_parser("seed", help="create the keys and aliases a YAML file describes, idempotently")
    parser.add_argument("file", type=Path, metavar="FILE.yaml", help="the seed file (format: docs/kms.md, Seeding)")
    env = os.environ
    parser.add_argument("--data-dir", default=env.get("KEYHOLD_DATA_DIR", "./keyhold-data"), help="KEYHOLD_DATA_DIR")
    parser.add_argument(
        "--database-url",
        default=env.get("KEYHOLD_DATABASE_URL"),
        help="KEYHOLD_DATABASE_URL; default: SQLite in the data dir",
    )
    parser.add_argument(
        "--region", default=env.get("KEYHOLD_REGION", DEFAULT_REGION), help="the keys' region (KEYHOLD_REGION)"
    )
    parser.add_argument(
        "--host",
        default=env.get("KEYHOLD_HOST", "127.0.0.1"),
        help="the host `serve` will use, for the TLS certificate if seeding creates the data dir (KEYHOLD_HOST)",
    )
    return kms


def run(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    settings = Settings(
        data_dir=Path(args.data_dir).resolve(),
        host=args.host,
        region=args.region,
        database_url=args.database_url or None,
        root_key_b64=env.get("KEYHOLD_ROOT_KEY") or None,
        root_access_key_id=env.get("KEYHOLD_ROOT_ACCESS_KEY_ID") or None,
        root_secret_access_key=env.get("KEYHOLD_ROOT_SECRET_ACCESS_KEY") or None,
    )
    return seed(settings, args.file)

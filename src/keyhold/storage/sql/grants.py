"""Rows of ``kms_grants`` <-> Grant (used by SqlKeyRepo)."""

import json
from typing import Any

from sqlalchemy import Row

from keyhold.domain.keys.model import Grant


def _pairs(text: str | None) -> tuple[tuple[str, str], ...] | None:
    return None if text is None else tuple(sorted(json.loads(text).items()))


def _text(pairs: tuple[tuple[str, str], ...] | None) -> str | None:
    return None if pairs is None else json.dumps(dict(pairs), sort_keys=True)


def grant_row(grant: Grant) -> dict[str, Any]:
    return {
        "grant_id": grant.grant_id,
        "key_id": grant.key_id,
        "name": grant.name,
        "grantee_principal": grant.grantee_principal,
        "retiring_principal": grant.retiring_principal,
        "issuing_account": grant.issuing_account,
        "operations": json.dumps(list(grant.operations)),
        "context_subset": _text(grant.context_subset),
        "context_equals": _text(grant.context_equals),
        "created_at": grant.created_at,
    }


def grant_from_row(row: Row[Any]) -> Grant:
    m = row._mapping
    return Grant(
        grant_id=m["grant_id"],
        key_id=m["key_id"],
        name=m["name"],
        grantee_principal=m["grantee_principal"],
        retiring_principal=m["retiring_principal"],
        issuing_account=m["issuing_account"],
        operations=tuple(json.loads(m["operations"])),
        context_subset=_pairs(m["context_subset"]),
        context_equals=_pairs(m["context_equals"]),
        created_at=m["created_at"],
    )

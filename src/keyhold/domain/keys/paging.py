"""Opaque pagination markers: the last item's sort key, base64url-encoded."""

import base64
import binascii
from collections.abc import Callable
from typing import TypeVar

from keyhold.domain.keys.errors import InvalidMarker


def encode_marker(last: str) -> str:
    return base64.urlsafe_b64encode(last.encode()).decode()


def decode_marker(marker: str | None) -> str | None:
    if marker is None:
        return None
    try:
        return base64.urlsafe_b64decode(marker.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise InvalidMarker("Invalid marker") from exc


T = TypeVar("T")


def page(items: list[T], limit: int, sort_key: Callable[[T], str]) -> tuple[list[T], str | None]:
    """``items`` was fetched with limit + 1; returns the page and the marker for the next one."""
    if len(items) > limit:
        return items[:limit], encode_marker(sort_key(items[limit - 1]))
    return items, None

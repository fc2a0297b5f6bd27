"""Escaping text for XML 1.0 character data, shared by the Query (IAM, STS) and REST-XML (S3) renderers.

``&``, ``<`` and ``>`` become entities; characters XML 1.0 cannot carry at all (most C0 controls, lone
surrogates, U+FFFE/U+FFFF) become U+FFFD, so the document still parses. ``s3=True`` also writes ``"`` as
``&quot;`` (as S3 writes ETags) and CR as ``&#13;`` (a raw CR would reach the client as LF).
"""

import re

_INVALID = "\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff"
_QUERY = re.compile(f"[&<>{_INVALID}]")
_S3 = re.compile(f'[&<>"\r{_INVALID}]')
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;"}


def _replace(match: re.Match[str]) -> str:
    return _ENTITIES.get(match.group(), "\ufffd")


def escape_text(value: str, *, s3: bool = False) -> str:
    return (_S3 if s3 else _QUERY).sub(_replace, value)

"""Keeping API keys out of everything qasynth writes or says.

:func:`redact` removes the configured secrets themselves (whatever their shape)
and anything shaped like a key or bearer token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["redact"]

_KEY_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-*]{4,}|Bearer\s+\S+)")


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` without the given secrets and without anything shaped like a key."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return _KEY_PATTERN.sub("[redacted]", text)

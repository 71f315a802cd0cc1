"""Keeping API keys out of everything qasynth writes or says.

:func:`redact` removes the configured secrets themselves (whatever their shape)
and anything shaped like a key or bearer token; :func:`remove_secrets` removes
only the configured secrets, for text that is otherwise kept as it is (cached
model replies).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["REDACTED", "redact", "remove_secrets"]

REDACTED = "[redacted]"
_KEY_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-*]{4,}|Bearer\s+\S+)")


def remove_secrets(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every given secret (four characters or more) replaced."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` without the given secrets and without anything shaped like a key."""
    return _KEY_PATTERN.sub(REDACTED, remove_secrets(text, secrets))

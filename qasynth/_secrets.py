"""Keeping API keys out of everything qasynth writes or says.

:func:`redact` removes the configured secrets themselves (whatever their shape)
and anything shaped like a key or bearer token; :func:`remove_secrets` removes
only the configured secrets, for text that is otherwise kept as it is (cached
model replies).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["REDACTED", "credentials", "redact", "remove_secrets"]

REDACTED = "[redacted]"
_KEY_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-*]{4,}|Bearer\s+\S+)")
_URL_PASSWORD = re.compile(r"(?<=://)([^/\s:@]*):[^/\s@]+@")
"""The password of a URL that carries one (``https://user:PASSWORD@host/v1``)."""


def remove_secrets(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every given secret (four characters or more) replaced."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` without the given secrets and without anything shaped like a key or
    a URL's password."""
    text = _KEY_PATTERN.sub(REDACTED, remove_secrets(text, secrets))
    if "://" in text and "@" in text:
        text = _URL_PASSWORD.sub(rf"\1:{REDACTED}@", text)
    return text


def credentials(secrets: Iterable[str | None]) -> tuple[str, ...]:
    """The secrets that look like credentials: 12 characters or more, with letters and
    digits or shaped like a key (``sk-...``). These are removed from model replies
    too, should a server quote one back. A placeholder that local servers take as a
    key ("EMPTY", "ollama", "lm-studio") is no secret, and removing it from the pairs
    would change what they say."""
    return tuple(
        secret
        for secret in secrets
        if secret
        and len(secret) >= 12
        and any(c.isalpha() for c in secret)
        and (any(c.isdigit() for c in secret) or _KEY_PATTERN.fullmatch(secret) is not None)
    )

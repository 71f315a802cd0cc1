"""A model's reply made safe to keep, and a reply recovered from an error.

:func:`clean_reply` takes lone surrogates and secrets out of a reply's text;
:func:`cut_off_reply` is the reply a structured-output call was cut off in, which
the ``openai`` client raises as an error.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage

from ._secrets import remove_secrets

__all__ = ["clean_reply", "cut_off_reply", "replace_lone_surrogates", "without_secrets"]

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# The same written as a JSON escape: a high half not followed by a low one, or a low
# half not after a high one ("\\ud83d\\ude00" is one character, and is kept).
_LONE_SURROGATE_ESCAPE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def clean_reply(reply: AIMessage, secrets: Sequence[str] = ()) -> AIMessage:
    """``reply`` without lone surrogates and without ``secrets`` in its text.

    A server may send ``"\\ud800"``, as a character or as an escape in the reply's
    JSON: valid JSON, but no text that could be saved or written (UTF-8 has no such
    character), so it becomes U+FFFD; and a server that quotes the API key back must
    not get it into the pairs, the state or a report."""
    content = reply.content
    if isinstance(content, str):
        cleaned: Any = _clean_text(content, secrets)
        changed = cleaned is not content
    elif isinstance(content, list):
        cleaned = [_clean_block(block, secrets) for block in content]
        changed = any(new is not old for new, old in zip(cleaned, content, strict=True))
    else:
        return reply
    return reply.model_copy(update={"content": cleaned}) if changed else reply


def replace_lone_surrogates(text: str) -> tuple[str, int]:
    """``text`` with each lone surrogate (a code point that is not a character, which
    UTF-8 cannot hold) replaced by U+FFFD, and how many there were; ``text`` itself
    when there are none, found out in one pass in C."""
    if text.isascii():
        return text, 0
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.subn("\ufffd", text)
    return text, 0


def _clean_block(block: Any, secrets: Sequence[str]) -> Any:
    if isinstance(block, str):
        return _clean_text(block, secrets)
    if isinstance(block, dict) and isinstance(block.get("text"), str):
        text = _clean_text(block["text"], secrets)
        return block if text is block["text"] else {**block, "text": text}
    return block


def _clean_text(text: str, secrets: Sequence[str]) -> str:
    """``text``, or (only when something changed) a cleaned copy of it."""
    cleaned, _ = replace_lone_surrogates(text)
    if "\\u" in cleaned and _LONE_SURROGATE_ESCAPE.search(cleaned) is not None:
        cleaned = _LONE_SURROGATE_ESCAPE.sub(r"\\ufffd", cleaned)  # in the reply's JSON
    if secrets:
        cleaned = without_secrets(cleaned, secrets)
    return text if cleaned == text else cleaned


def without_secrets(text: str, secrets: Sequence[str]) -> str:
    """``text`` without ``secrets``, also where the reply's JSON (or a Python literal in
    it) writes them with escapes: ``\\/`` for ``/``, ``\\u0041`` for ``A``, ``\\"``
    and ``\\\\`` for a quote and a backslash, all of which decode to the secret. The
    escapes that stand for characters needing none (``\\/``, ``\\u`` of a printable
    character other than a quote or backslash) are decoded first where a secret hides
    behind them, which leaves what the JSON says unchanged."""
    forms = _escaped_forms(tuple(secrets))
    if "\\/" in text or "\\u" in text:
        plain = _NEEDLESS_ESCAPE.sub(_decoded, text)
        if plain != text and any(form in plain for form in forms):
            text = plain
    if any(form in text for form in forms):
        text = remove_secrets(text, forms)
    return text


@functools.lru_cache(maxsize=8)
def _escaped_forms(secrets: tuple[str, ...]) -> tuple[str, ...]:
    """Each secret as written in text, in a JSON string and in a Python literal
    (longest first, so that a form is replaced whole)."""
    forms = set()
    for secret in secrets:
        forms |= {
            secret,
            json.dumps(secret)[1:-1],
            json.dumps(secret, ensure_ascii=False)[1:-1],
            secret.replace("\\", "\\\\").replace("'", "\\'"),
        }
    return tuple(sorted(forms, key=len, reverse=True))


# An escape (after an even number of backslashes, so not itself escaped) of "/" or of
# a character by its code point.
_NEEDLESS_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\(?:/|u([0-9a-fA-F]{4}))")


def _decoded(match: re.Match[str]) -> str:
    """The escape as its character when JSON needs no escape for it, else as it was."""
    code = match.group(2)
    if code is None:
        return match.group(1) + "/"
    char = chr(int(code, 16))
    if char in '"\\' or not char.isprintable() or "\ud800" <= char <= "\udfff":
        return match.group(0)
    return match.group(1) + char


def cut_off_reply(exc: BaseException) -> AIMessage | None:
    """The reply a structured-output call was cut off in (the ``openai`` client raises
    ``LengthFinishReasonError`` instead of returning it), so that local repair keeps
    its complete pairs as it does in parser mode; ``None`` for any other error."""
    import openai

    if not isinstance(exc, openai.LengthFinishReasonError):
        return None
    completion = exc.completion
    text = completion.choices[0].message.content if completion.choices else None
    usage = completion.usage
    meta: Any = None
    if usage is not None:
        cached = getattr(usage.prompt_tokens_details, "cached_tokens", None) or 0
        meta = {
            "input_tokens": usage.prompt_tokens,
            "output_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "input_token_details": {"cache_read": cached},
        }
    return AIMessage(content=text or "", usage_metadata=meta,
                     response_metadata={"finish_reason": "length"})  # fmt: skip

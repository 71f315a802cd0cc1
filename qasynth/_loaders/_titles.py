"""A document's theme: its own title when it has a usable one, else its file name."""

from __future__ import annotations

import re
from pathlib import Path

from langchain_core.documents import Document

__all__ = ["clean_title", "theme_of"]

_MAX_TITLE_CHARS = 200
# Titles that word processors and PDF printers fill in by themselves.
_PLACEHOLDER = re.compile(
    r"^(untitled|untitled document|document\d*|title|no title|none|null|\(anonymous\)|"
    r"slide \d+|powerpoint presentation|microsoft word - .*|.*\.(docx?|pdf|txt|rtf|odt|html?))$",
    re.IGNORECASE,
)


def clean_title(value: object) -> str | None:
    """``value`` as a one-line title, or ``None`` when it is empty or a placeholder
    ("Untitled", "Microsoft Word - draft.docx", a file name)."""
    if not isinstance(value, str):
        return None
    title = " ".join(value.split())
    if not title or _PLACEHOLDER.match(title):
        return None
    return title[:_MAX_TITLE_CHARS]


def theme_of(document: Document, default: str | None = None) -> str:
    """A document's theme: its ``theme`` metadata, else its ``title``, else the stem of
    its file (``file`` metadata, or ``source``), else ``default``."""
    metadata = document.metadata
    theme = metadata.get("theme")
    if isinstance(theme, str) and theme.strip():
        return theme.strip()
    title = clean_title(metadata.get("title"))
    if title:
        return title
    for key in ("file", "source"):
        source = metadata.get(key)
        if isinstance(source, str) and source and not source.startswith("<"):
            stem = Path(source).stem
            if stem:
                return stem
    return (default or "").strip()

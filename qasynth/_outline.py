"""Where a chunk sits in its document: the page it starts on and its heading path.

Headings are Markdown ATX lines (``#`` to ``######`` and a space), which is how
the loaders write the headings of Markdown, HTML and DOCX files; lines inside
fenced code blocks (````` ``` ````` or ``~~~``) are not headings. Pages come from the
document's metadata:

- ``page_starts``: the character offset at which each page starts (first page
  first), as the PDF loader writes it for a whole file;
- ``page_number``: a 1-based page number for a document that is one page;
- ``page``: a 0-based page number, as LangChain's PDF loaders give it (page 0
  is reported as page 1).

``page_label`` (the label printed on the page, such as "iv") is not a position
and is not used.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Outline", "first_heading", "heading_lines"]

_LINE = re.compile(
    r"^(?: {0,3}(?P<fence>`{3,}|~{3,})[^\n]*"
    r"| {0,3}(?P<hashes>#{1,6})[ \t]+(?P<title>[^\n]*?)(?:[ \t]+#+)?[ \t]*)$",
    re.MULTILINE,
)
_MAX_HEADING_CHARS = 200


def heading_lines(text: str) -> list[tuple[int, int, str]]:
    """``(offset, level, title)`` of every Markdown heading line outside code fences."""
    if "#" not in text:
        return []
    found: list[tuple[int, int, str]] = []
    fence = ""
    for match in _LINE.finditer(text):
        marker = match.group("fence")
        if marker:
            if not fence:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence):
                fence = ""
            continue
        title = match.group("title").strip()
        if fence or not title:
            continue
        found.append((match.start(), len(match.group("hashes")), title[:_MAX_HEADING_CHARS]))
    return found


def first_heading(text: str, level: int = 1) -> str | None:
    """The title of the first heading of ``level`` (``# Title`` for 1), if any."""
    for _, found_level, title in heading_lines(text):
        if found_level == level:
            return title
    return None


class Outline:
    """Answers "which page, under which headings?" for offsets into one document."""

    def __init__(self, text: str, metadata: Mapping[str, Any]) -> None:
        self._heading_starts: list[int] = []
        self._paths: list[tuple[str, ...]] = []
        stack: list[tuple[int, str]] = []
        for offset, level, title in heading_lines(text):
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title))
            self._heading_starts.append(offset)
            self._paths.append(tuple(t for _, t in stack))
        self._page_starts = _page_starts(metadata.get("page_starts"))
        self._page = None if self._page_starts else _single_page(metadata)

    def headings_at(self, offset: int) -> tuple[str, ...]:
        """The heading path (outermost first) in force at ``offset``."""
        index = bisect.bisect_right(self._heading_starts, offset) - 1
        return self._paths[index] if index >= 0 else ()

    def page_at(self, offset: int) -> int | None:
        """The 1-based page that holds ``offset``, where the document has pages."""
        if self._page_starts:
            return max(1, bisect.bisect_right(self._page_starts, offset))
        return self._page


def _page_starts(value: object) -> list[int]:
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        return []
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return []
    return list(value)


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _single_page(metadata: Mapping[str, Any]) -> int | None:
    number = _as_int(metadata.get("page_number"))
    if number is not None and number >= 1:
        return number
    index = _as_int(metadata.get("page"))
    if index is not None and index >= 0:
        return index + 1
    return None

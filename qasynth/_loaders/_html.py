"""HTML files: the main content as text, headings as Markdown ``#`` lines.

Never read: scripts, styles, templates, form controls, navigation, asides, footers,
the page's header (a ``<header>`` outside ``<article>``/``<main>``/``<section>``)
and hidden elements. When the page has a ``<main>`` element (or
``role="main"``), only that is read; else its ``<article>`` elements, if any;
else the whole body. Paragraph-like elements become paragraphs, list items
start with ``- ``, table cells are separated by `` | ``, ``<pre>`` keeps its
line breaks. The ``<title>`` is the document's title.

Built on the standard library's forgiving HTML parser: no dependency, and
broken markup (unclosed tags, stray end tags) still gives the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import NamedTuple

from langchain_core.documents import Document

from .._errors import DocumentError
from ._text import decode_text, read_bytes
from ._titles import clean_title

__all__ = ["check_html", "html_to_text", "read_html"]

_SKIPPED = frozenset(
    {
        "script", "style", "noscript", "template", "svg", "math", "canvas", "iframe",
        "object", "embed", "nav", "aside", "footer", "button", "select",
        "textarea", "head", "dialog", "menu",
    }
)  # fmt: skip
_SKIPPED_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search"})
_SECTIONS = frozenset({"article", "main", "section"})
_BLOCKS = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "blockquote", "ul", "ol", "dl",
        "dt", "dd", "table", "thead", "tbody", "tfoot", "figure", "figcaption", "address",
        "details", "summary", "hr", "body", "center", "fieldset", "form",
    }
)  # fmt: skip
_VOID = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "param", "source", "track", "wbr",
    }
)  # fmt: skip
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\r\n\f\v]+")


class _Block(NamedTuple):
    text: str
    in_main: bool
    in_article: bool
    tight: str


class _Element:
    __slots__ = ("in_article", "in_main", "in_section", "skip", "tag")
    tag: str
    skip: bool
    in_main: bool
    in_article: bool
    in_section: bool

    def __init__(self, tag: str, parent: _Element | None, skip: bool, main: bool) -> None:
        self.tag = tag
        self.skip = skip or (parent is not None and parent.skip)
        self.in_main = main or (parent is not None and parent.in_main)
        self.in_article = tag == "article" or (parent is not None and parent.in_article)
        self.in_section = tag in _SECTIONS or (parent is not None and parent.in_section)


class _TextExtractor(HTMLParser):
    """Collects text blocks, each marked with where it sits (main, article, elsewhere)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title_parts: list[str] = []
        self.blocks: list[_Block] = []
        self._stack: list[_Element] = []
        self._line: list[str] = []
        self._prefix = ""
        self._tight = ""  # "li" or "tr": no blank line between two of them
        self._in_title = False
        self._pre = 0

    # -- structure ------------------------------------------------------------------------

    def _top(self) -> _Element | None:
        return self._stack[-1] if self._stack else None

    def _skips(self, tag: str, attrs: dict[str, str | None], parent: _Element | None) -> bool:
        if tag in _SKIPPED or (attrs.get("role") or "").lower() in _SKIPPED_ROLES:
            return True
        if tag == "header" and not (parent is not None and parent.in_section):
            return True
        if "hidden" in attrs or (attrs.get("aria-hidden") or "").lower() == "true":
            return True
        return bool(_HIDDEN_STYLE.search(attrs.get("style") or ""))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            # the page's title, not an <svg>'s; <head> is skipped but its title is read
            self._in_title = not self.title_parts and not any(
                e.tag in ("svg", "math") for e in self._stack
            )
            return
        if tag == "br":
            self._line.append("\n")
            return
        if tag in _HEADINGS or tag in _BLOCKS or tag in ("li", "tr", "pre"):
            self._flush()
        if tag in _VOID:
            return
        parent = self._top()
        attributes = dict(attrs)
        main = tag == "main" or (attributes.get("role") or "").lower() == "main"
        element = _Element(tag, parent, self._skips(tag, attributes, parent), main)
        self._stack.append(element)
        if element.skip:
            return
        if tag in _HEADINGS:
            self._prefix = "#" * _HEADINGS[tag] + " "
        elif tag == "li":
            self._prefix = "- "
            self._tight = "li"
        elif tag == "tr":
            self._tight = "tr"
        elif tag in ("td", "th") and self._line:
            self._line.append(" | ")
        elif tag == "pre":
            self._pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
            return
        for index in range(len(self._stack) - 1, -1, -1):
            if self._stack[index].tag == tag:
                break
        else:
            return  # a stray end tag
        if tag in _HEADINGS or tag in _BLOCKS or tag in ("li", "tr", "pre"):
            self._flush()  # before leaving the element, so the text keeps its place
        for element in self._stack[index:]:
            if element.tag == "pre" and not element.skip:
                self._pre -= 1
        del self._stack[index:]

    def _stack_skips(self) -> bool:
        top = self._top()
        return top is not None and top.skip

    # -- text -----------------------------------------------------------------------------

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif not self._stack_skips():
            self._text(data)

    def _text(self, data: str) -> None:
        if not self._pre:
            data = _SPACES.sub(" ", data)
        self._line.append(data)

    def _flush(self) -> None:
        text = "".join(self._line)
        self._line = []
        prefix, self._prefix = self._prefix, ""
        tight, self._tight = self._tight, ""
        if self._pre:
            text = text.strip("\n")
        else:
            text = "\n".join(" ".join(line.split()) for line in text.split("\n")).strip()
            text = re.sub(r"\n{2,}", "\n", text)
        if not text.strip():
            return
        top = self._top()
        in_main = top is not None and top.in_main
        in_article = top is not None and top.in_article
        self.blocks.append(_Block(prefix + text, in_main, in_article, tight))

    def close(self) -> None:
        super().close()
        self._flush()


def html_to_text(html: str) -> tuple[str, str | None]:
    """The main text of an HTML page, and its ``<title>`` (or ``None``)."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    blocks = parser.blocks
    if any(block.in_main for block in blocks):
        blocks = [block for block in blocks if block.in_main]
    elif any(block.in_article for block in blocks):
        blocks = [block for block in blocks if block.in_article]
    parts: list[str] = []
    for index, block in enumerate(blocks):
        if index:
            tight = block.tight and block.tight == blocks[index - 1].tight
            parts.append("\n" if tight else "\n\n")
        parts.append(block.text)
    return "".join(parts), clean_title("".join(parser.title_parts))


def _decode(data: bytes, file: Path) -> str:
    """Text of an HTML file: by its byte-order mark, else its declared charset, else UTF-8."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 or UTF-32
        return decode_text(data, file)
    declared = _CHARSET.search(data[:4096])
    if declared and not data.startswith(b"\xef\xbb\xbf"):
        name = declared.group(1).decode("ascii").lower()
        if name not in ("utf-8", "utf8"):
            try:
                return data.decode(name).replace("\r\n", "\n").replace("\r", "\n")
            except LookupError:
                pass  # an unknown charset name: try UTF-8
            except UnicodeDecodeError as exc:
                raise DocumentError(
                    f"{file} declares charset {name} but is not valid {name} (byte "
                    f"{exc.start}); fix the <meta charset> or convert the file to UTF-8",
                    path=file,
                ) from exc
    return decode_text(data, file)


def check_html(file: Path) -> None:
    _decode(read_bytes(file), file)


def read_html(file: Path) -> Iterator[Document]:
    text, title = html_to_text(_decode(read_bytes(file), file))
    metadata: dict[str, object] = {"source": str(file)}
    if title:
        metadata["title"] = title
    yield Document(page_content=text, metadata=metadata)

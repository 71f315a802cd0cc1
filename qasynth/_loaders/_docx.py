"""Word (.docx) files: paragraphs and tables in document order, headings as headings.

Headings (the built-in "Title" and "Heading 1" to "Heading 9" styles, and
styles based on them) become Markdown ``#`` lines, so chunks know their heading
path; list items start with ``- ``; each table row becomes one line of cells
separated by `` | ``, and a table inside a cell gives its rows as lines of
their own, after the row that holds it. The title is the file's "Title"
property, else its first paragraph in the Title style.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document

from .._errors import DocumentError
from ._titles import clean_title

if TYPE_CHECKING:
    from docx.document import Document as DocxDocument
    from docx.table import Table
    from docx.text.paragraph import Paragraph

__all__ = ["check_docx", "read_docx"]

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)
_MAX_STYLE_DEPTH = 10


def _open(file: Path) -> DocxDocument:
    import docx

    with file.open("rb") as stream:
        magic = stream.read(8)
    if magic == _OLE_MAGIC:
        raise DocumentError(
            f"{file}: the file is encrypted (password-protected) or in the old Word format; "
            "save an unprotected copy as .docx and pass that",
            path=file,
        )
    try:
        return docx.Document(str(file))
    except Exception as exc:  # not a zip, a missing part, bad XML, ...
        raise DocumentError(
            f"{file}: not a readable DOCX file ({type(exc).__name__}: {exc}); check that the "
            "file is complete, or save it again as .docx",
            path=file,
        ) from exc


def _heading_level(paragraph: Paragraph) -> int | None:
    style: Any = paragraph.style
    for _ in range(_MAX_STYLE_DEPTH):
        if style is None:
            return None
        name = str(style.name or "").strip()
        if name.lower() == "title":
            return 1
        match = _HEADING_STYLE.match(name)
        if match:
            return int(match.group(1))
        style = style.base_style
    return None


def _is_list_item(paragraph: Paragraph) -> bool:
    properties = paragraph._p.pPr
    if properties is not None and properties.numPr is not None:
        return True
    style: Any = paragraph.style
    return style is not None and str(style.name or "").lower().startswith("list")


def _paragraph_text(paragraph: Paragraph) -> str:
    text = " ".join(paragraph.text.split())
    if not text:
        return ""
    level = _heading_level(paragraph)
    if level is not None:
        return f"{'#' * min(level, 6)} {text}"
    return f"- {text}" if _is_list_item(paragraph) else text


def _table_text(table: Table) -> str:
    return "\n".join(_table_lines(table))


def _table_lines(table: Table) -> Iterator[str]:
    """Each row as one line of cells, then the rows of the tables nested in its cells.

    A merged cell repeats for every column (and row) it spans, so its text is
    taken once a row and its nested tables once a table. The sets hold the
    cells' elements, not their ids: lxml makes a new proxy for a node whose
    last one was dropped, and that one can take a freed id."""
    nested_read: set[Any] = set()
    for row in table.rows:
        cells: list[str] = []
        nested: list[Table] = []
        seen: set[Any] = set()
        for cell in row.cells:
            if cell._tc in seen:
                continue
            seen.add(cell._tc)
            cells.append(" ".join(cell.text.split()))  # the cell's own paragraphs
            if cell._tc not in nested_read:
                nested_read.add(cell._tc)
                nested += cell.tables
        if any(cells):
            yield " | ".join(cells)
        for inner in nested:
            yield from _table_lines(inner)


def _blocks(document: DocxDocument) -> Iterator[tuple[str, bool]]:
    """Each paragraph's or table's text, and whether it is in the Title style."""
    from docx.text.paragraph import Paragraph

    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            style: Any = block.style
            is_title = style is not None and str(style.name or "").lower() == "title"
            yield _paragraph_text(block), is_title
        else:
            yield _table_text(block), False


def check_docx(file: Path) -> None:
    _open(file)


def read_docx(file: Path) -> Iterator[Document]:
    document = _open(file)
    parts: list[str] = []
    title = clean_title(document.core_properties.title)
    for text, is_title in _blocks(document):
        if not text:
            continue
        if is_title and title is None:
            title = clean_title(text.lstrip("# "))
        parts.append(text)
    metadata: dict[str, object] = {"source": str(file)}
    if title:
        metadata["title"] = title
    yield Document(page_content="\n\n".join(parts), metadata=metadata)

"""PDF files: the text layer of every page, in order, with where each page starts.

A PDF becomes one document, so that chunks can run across page breaks; its
``page_starts`` metadata lists the offset at which each page's text starts, from
which every chunk gets the page it starts on. Pages are read one at a time from
the open file. Pages without text are skipped (a warning says how many); a file
without any text has no text layer, which only OCR can make.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from langchain_core.documents import Document

from .._errors import DocumentError
from ._titles import clean_title

if TYPE_CHECKING:
    from pypdf import PdfReader

__all__ = ["check_pdf", "read_pdf"]

logger = logging.getLogger("qasynth")

_PAGE_BREAK = "\n\n"
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_BLANK_LINES = re.compile(r"\n{3,}")


def _open(file: Path, stream: BinaryIO) -> PdfReader:
    """A reader for ``stream``, decrypted when it needs no password."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(stream)
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError(
                f"{file}: the PDF is encrypted (password-protected); save an unprotected "
                "copy and pass that",
                path=file,
            )
        len(reader.pages)  # walks the page tree: a damaged file fails here
    except DocumentError:
        raise
    except DependencyError as exc:
        raise DocumentError(
            f"{file}: the PDF is encrypted in a way that needs the 'cryptography' package "
            f"({exc}); run: pip install cryptography",
            path=file,
        ) from exc
    except Exception as exc:  # the parser raises many kinds of errors on damaged files
        raise DocumentError(
            f"{file}: not a readable PDF ({type(exc).__name__}: {exc}); check that the file "
            "is complete, or save it again from its source",
            path=file,
        ) from exc
    return reader


def _page_texts(file: Path, reader: PdfReader) -> Iterator[str]:
    for number, page in enumerate(reader.pages, start=1):
        try:
            text = page.extract_text()
        except Exception as exc:  # a damaged page
            raise DocumentError(
                f"{file}: cannot read the text of page {number} ({type(exc).__name__}: "
                f"{exc}); save the PDF again from its source",
                path=file,
            ) from exc
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
        yield _BLANK_LINES.sub("\n\n", _TRAILING_SPACE.sub("\n", text)).strip()


def _no_text_layer(file: Path) -> DocumentError:
    return DocumentError(
        f"{file}: no text layer (scanned?); run OCR first, for example with a tool that "
        "writes searchable PDFs, and pass the result",
        path=file,
    )


def _title(file: Path, reader: PdfReader) -> str | None:
    try:
        metadata: Any = reader.metadata
        return clean_title(metadata.title if metadata is not None else None)
    except Exception:  # a damaged info dictionary only costs the title
        logger.debug("cannot read the title of %s", file, exc_info=True)
        return None


def check_pdf(file: Path) -> None:
    """Fail now if the PDF cannot be opened or holds no text at all.

    Stops at the first page with text, so a normal PDF costs one page of work."""
    with file.open("rb") as stream:
        reader = _open(file, stream)
        if not any(_page_texts(file, reader)):
            raise _no_text_layer(file)


def read_pdf(file: Path) -> Iterator[Document]:
    with file.open("rb") as stream:
        reader = _open(file, stream)
        parts: list[str] = []
        starts: list[int] = []
        offset = 0
        empty = 0
        for text in _page_texts(file, reader):
            starts.append(offset)
            if not text:
                empty += 1
                continue
            if parts:
                parts.append(_PAGE_BREAK)
                offset += len(_PAGE_BREAK)
                starts[-1] = offset
            parts.append(text)
            offset += len(text)
        if empty == len(starts):
            raise _no_text_layer(file)
        if empty:
            logger.warning(
                "%s: %d of %d pages have no text (scanned?); only the others are used",
                file,
                empty,
                len(starts),
            )
        metadata: dict[str, Any] = {"source": str(file), "total_pages": len(starts)}
        metadata["page_starts"] = starts
        title = _title(file, reader)
    if title:
        metadata["title"] = title
    yield Document(page_content="".join(parts), metadata=metadata)

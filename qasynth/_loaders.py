"""Turning what the caller passes into LangChain ``Document`` objects.

Accepted inputs: a string of text, a path (``str`` or ``pathlib.Path``) to a
file, a folder (its ``*.txt`` and ``*.md`` files, recursively), a
``Document``, or an iterable mixing them. A string that names an existing file
or folder is read as that file or folder. Files are read lazily, one at a time, as UTF-8 (a BOM is
dropped, line ends become ``\\n``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Union

from langchain_core.documents import Document

from ._errors import DocumentError

__all__ = ["TEXT_SUFFIXES", "DocumentInput", "iter_documents", "read_text_file", "theme_of"]

DocumentInput = Union[str, "os.PathLike[str]", Document]
TEXT_SUFFIXES = (".txt", ".md")
_MAX_PATH_CHARS = 4096


def read_text_file(path: str | os.PathLike[str]) -> str:
    """Read a text file as UTF-8, dropping a BOM and normalising line ends."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError as exc:
        raise DocumentError(f"file not found: {file}", path=file) from exc
    except OSError as exc:
        raise DocumentError(f"cannot read {file}: {exc.strerror or exc}", path=file) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DocumentError(
            f"{file} is not valid UTF-8 (byte {exc.start}, line {line}: "
            f"{data[exc.start : exc.start + 4]!r}); convert it to UTF-8 first, "
            f"for example: iconv -f cp932 -t utf-8 {file.name} > {file.stem}.utf8{file.suffix}",
            path=file,
        ) from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def theme_of(document: Document, default: str | None = None) -> str:
    """A document's theme: its ``theme`` metadata, else its file's stem, else ``default``."""
    theme = document.metadata.get("theme")
    if isinstance(theme, str) and theme.strip():
        return theme.strip()
    source = document.metadata.get("source")
    if isinstance(source, str) and source and not source.startswith("<"):
        stem = Path(source).stem
        if stem:
            return stem
    return (default or "").strip()


def _looks_like_path(text: str) -> bool:
    return (
        len(text) < _MAX_PATH_CHARS
        and "\n" not in text
        and text.strip() == text
        and text.lower().endswith(TEXT_SUFFIXES)
    )


def _is_existing_path(text: str) -> bool:
    """Whether a string names an existing file or folder (text never does)."""
    if len(text) >= _MAX_PATH_CHARS or "\n" in text or "\x00" in text or not text.strip():
        return False
    try:
        path = Path(text)
        return path.is_file() or path.is_dir()
    except OSError:
        return False


def _folder_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)


def _file_document(path: Path) -> Document:
    return Document(page_content=read_text_file(path), metadata={"source": str(path)})


def _path_documents(path: Path) -> Iterator[Document]:
    if path.is_dir():
        files = _folder_files(path)
        if not files:
            raise DocumentError(
                f"folder {path} holds no .txt or .md files; pass files or another folder",
                path=path,
            )
        for file in files:
            yield _file_document(file)
    elif path.is_file():
        yield _file_document(path)
    else:
        raise DocumentError(f"file not found: {path}", path=path)


def iter_documents(inputs: DocumentInput | Iterable[DocumentInput]) -> Iterator[Document]:
    """Yield one ``Document`` per input text or file, reading files lazily.

    Raw strings get a ``source`` of ``<text N>`` (N counts from 1).
    """
    items: Iterable[DocumentInput]
    items = [inputs] if isinstance(inputs, (str, os.PathLike, Document)) else inputs
    for number, item in enumerate(items, start=1):
        if isinstance(item, Document):
            yield item
        elif isinstance(item, os.PathLike):
            yield from _path_documents(Path(item))
        elif isinstance(item, str):
            if _is_existing_path(item):
                yield from _path_documents(Path(item))
            elif _looks_like_path(item):
                raise DocumentError(
                    f"file not found: {item} (a single-line string ending in .txt/.md is "
                    "taken as a path; wrap text in a Document to use it as content)",
                    path=item,
                )
            else:
                yield Document(page_content=item, metadata={"source": f"<text {number}>"})
        else:
            raise DocumentError(
                f"input #{number} is a {type(item).__name__}; pass text, a path or a "
                "langchain_core.documents.Document"
            )

"""Turning what the caller passes into LangChain ``Document`` objects.

Accepted inputs: a string of text, a path (``str`` or ``pathlib.Path``) to a
file, a folder, a ``Document``, or an iterable mixing them. A string that names
an existing file or folder is read as that file or folder.

Files are read by kind, from their suffix: text (``.txt``), Markdown (``.md``),
PDF, DOCX, HTML (``.html``, ``.htm``), and tables of documents (``.jsonl``,
``.csv``: one document per row). A file named directly with another suffix is
read as UTF-8 text. A folder gives the files of those kinds below it, sorted,
hidden ones (a name starting with ``.``) left out, narrowed by
:class:`LoadOptions` globs; a JSONL or CSV file in a folder whose rows have no
text field (chat data, a Q&A table) is left out with a warning. Symlinked
files and folders are followed (a folder once, so loops end); a file reached
by several paths is read once, by the first; a broken symlink is left out with
a warning.

Files are read lazily, one at a time; :func:`check_inputs` opens every file up
front, so that a command can refuse a bad input before any model call.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Union

from langchain_core.documents import Document

from .._errors import REPORTED, DocumentError
from ._docx import check_docx, read_docx
from ._html import check_html, read_html
from ._options import LoadOptions
from ._pdf import check_pdf, read_pdf
from ._rows import check_rows, first_row_fields, read_rows
from ._text import read_markdown, read_text, read_text_file
from ._titles import clean_title, theme_of

__all__ = [
    "SUFFIXES",
    "DocumentInput",
    "LoadOptions",
    "LoadedInputs",
    "check_inputs",
    "clean_title",
    "folder_reach",
    "input_files",
    "iter_documents",
    "read_text_file",
    "theme_of",
]

logger = logging.getLogger("qasynth")

DocumentInput = Union[str, "os.PathLike[str]", Document]
_MAX_PATH_CHARS = 4096


@dataclass(frozen=True)
class _Kind:
    name: str
    read: Callable[[Path, LoadOptions], Iterator[Document]]
    check: Callable[[Path, LoadOptions, list[str]], None]
    rows: bool = False


def _check_text(file: Path, options: LoadOptions, notes: list[str]) -> None:
    read_text_file(file)


_TEXT = _Kind("text", lambda f, _: read_text(f), _check_text)
_MARKDOWN = _Kind("Markdown", lambda f, _: read_markdown(f), _check_text)
_PDF = _Kind("PDF", lambda f, _: read_pdf(f), lambda f, _, __: check_pdf(f))
_DOCX = _Kind("DOCX", lambda f, _: read_docx(f), lambda f, _, __: check_docx(f))
_HTML = _Kind("HTML", lambda f, _: read_html(f), lambda f, _, __: check_html(f))
_ROWS = _Kind("table of documents", read_rows, check_rows, rows=True)

_KINDS: dict[str, _Kind] = {
    ".txt": _TEXT,
    ".md": _MARKDOWN,
    ".markdown": _MARKDOWN,
    ".pdf": _PDF,
    ".docx": _DOCX,
    ".html": _HTML,
    ".htm": _HTML,
    ".jsonl": _ROWS,
    ".csv": _ROWS,
}
SUFFIXES = tuple(_KINDS)
"""The suffixes of the files a folder gives (compared without case)."""

_UNSUPPORTED = {
    ".doc": "the old Word format; save it as .docx",
    ".rtf": "rich text; save it as .docx",
    ".odt": "an OpenDocument text; save it as .docx",
    ".pages": "a Pages document; export it as .docx or PDF",
    ".pptx": "a presentation; export it as PDF",
    ".ppt": "a presentation; export it as PDF",
    ".xlsx": "a spreadsheet; save the sheet as CSV with a 'text' column",
    ".xls": "a spreadsheet; save the sheet as CSV with a 'text' column",
    ".json": "a JSON file; write one document per line as JSONL (.jsonl) with a 'text' field",
    ".epub": "an e-book; convert it to PDF, HTML or text",
}


def _kind_of(file: Path) -> _Kind:
    suffix = file.suffix.lower()
    hint = _UNSUPPORTED.get(suffix)
    if hint:
        readable = ", ".join(SUFFIXES)
        raise DocumentError(
            f"{file}: unsupported file type {suffix} ({hint}); qasynth reads {readable}",
            path=file,
        )
    return _KINDS.get(suffix, _TEXT)


# -- folders ---------------------------------------------------------------------------------


def _matches(relative: PurePosixPath, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        pattern = pattern.removeprefix("./").lower()
        for candidate in {pattern, pattern.removeprefix("**/")}:
            target = relative.as_posix() if "/" in candidate else relative.name
            if fnmatch.fnmatchcase(target.lower(), candidate):
                return True
    return False


def _holds_documents(file: Path, options: LoadOptions, notes: list[str] | None) -> bool:
    """Whether a JSONL or CSV file in a folder is a table of documents."""
    fields = first_row_fields(file)
    if fields is not None and options.text_field in fields:
        return True
    note = (
        f"skipping {file}: its first row has no {options.text_field!r} field (fields: "
        f"{', '.join(fields or []) or 'none'}); pass --text-field, or name the file, to read it"
    )
    _note(note, notes)
    return False


def _note(note: str, notes: list[str] | None) -> None:
    if notes is None:
        logger.warning("%s", note, extra=REPORTED)  # the command lists notes first
    else:
        notes.append(note)


def _walk(folder: Path, entered: set[Path] | None = None) -> list[Path]:
    """Every name below ``folder`` that is not a folder, sorted, following symlinked
    folders; a folder already entered (a symlink loop, or two links to one folder) is
    entered only once, by the first path in sorted order. Hidden folders are not entered.
    ``entered`` gets the real path of every folder entered."""
    found: list[Path] = []
    entered = set() if entered is None else entered
    for root, folders, names in os.walk(folder, followlinks=True):
        real = Path(root).resolve()
        if real in entered:
            folders.clear()
            continue
        entered.add(real)
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        found += (Path(root, name) for name in names)
    return sorted(found)


def folder_reach(folder: Path) -> tuple[set[Path], set[Path]]:
    """The real paths of the files and folders a folder input reaches, through its
    symlinks too: what no output may overwrite, or be written into."""
    folders: set[Path] = set()
    files = {file.resolve() for file in _walk(folder, folders)}
    return files, folders


def _folder_files(folder: Path, options: LoadOptions, notes: list[str] | None) -> list[Path]:
    found: list[Path] = []
    unread: dict[str, list[Path]] = {}  # by suffix: files of kinds qasynth does not read
    for file in _walk(folder):
        relative = PurePosixPath(file.relative_to(folder).as_posix())
        if any(part.startswith(".") for part in relative.parts) or file.name.startswith("~$"):
            continue  # hidden files and folders, and Word's lock files
        if options.include and not _matches(relative, options.include):
            continue
        if _matches(relative, options.exclude):
            continue
        if file.is_symlink() and not file.exists():
            _note(f"skipping {file}: a broken symlink (to {os.readlink(file)})", notes)
            continue
        kind = _KINDS.get(file.suffix.lower())
        if kind is None or not file.is_file():
            if file.is_file():
                unread.setdefault(file.suffix.lower(), []).append(file)
            continue
        if kind.rows and not _holds_documents(file, options, notes):
            continue
        found.append(file)
    _note_unread(folder, unread, notes)
    if not found:
        narrowed = " matching --include/--exclude" if options.include or options.exclude else ""
        raise DocumentError(
            f"folder {folder} holds no files qasynth reads{narrowed} "
            f"({', '.join(SUFFIXES)}); pass files or another folder",
            path=folder,
        )
    return found


def _note_unread(folder: Path, unread: dict[str, list[Path]], notes: list[str] | None) -> None:
    """One note for each kind of document qasynth does not read but says how to
    convert (a .doc, a .pptx), and one for all the other files it leaves out."""
    others: list[str] = []
    for suffix, files in sorted(unread.items()):
        hint = _UNSUPPORTED.get(suffix)
        if hint is None:
            label = suffix or "no suffix"
            others.append(label if len(files) == 1 else f"{label} ×{len(files)}")
            continue
        shown = ", ".join(str(file) for file in files[:3])
        more = f" and {len(files) - 3:,} more" if len(files) > 3 else ""
        count = "1 file" if len(files) == 1 else f"{len(files):,} files"
        _note(f"skipping {count} in {folder} of type {suffix} ({hint}): {shown}{more}", notes)
    if others:
        total = sum(len(files) for suffix, files in unread.items() if suffix not in _UNSUPPORTED)
        count = "1 file" if total == 1 else f"{total:,} files"
        _note(f"skipping {count} in {folder} of kinds qasynth does not read: "
              f"{', '.join(others)}", notes)  # fmt: skip


def input_files(
    path: Path, options: LoadOptions | None = None, *, notes: list[str] | None = None
) -> list[Path]:
    """The files a path stands for: itself, or a folder's files.

    Files a folder holds but that are left out are logged as warnings, or added to
    ``notes`` when it is given."""
    options = options or LoadOptions()
    if path.is_dir():
        return _folder_files(path, options, notes)
    if path.is_file():
        _kind_of(path)
        return [path]
    if path.is_symlink():
        raise DocumentError(
            f"file not found: {path} is a broken symlink (to {os.readlink(path)})", path=path
        )
    raise DocumentError(f"file not found: {path}", path=path)


class _Once:
    """The files of one call's inputs, each read once however many paths reach it
    (symlinks, a folder and a file in it both given)."""

    def __init__(self, notes: list[str] | None) -> None:
        self._notes = notes
        self._seen: dict[tuple[int, int], Path] = {}

    def files(self, path: Path, options: LoadOptions) -> Iterator[Path]:
        for file in input_files(path, options, notes=self._notes):
            try:
                status = file.stat()
            except OSError as exc:
                raise DocumentError(
                    f"cannot read {file}: {exc.strerror or exc}", path=file
                ) from exc
            key = (status.st_dev, status.st_ino)
            first = self._seen.get(key)
            if first is None:
                self._seen[key] = file
                yield file
            elif first == file:
                _note(f"skipping {file}: given twice, read once", self._notes)
            else:
                _note(f"skipping {file}: the same file as {first}, read once", self._notes)


# -- reading ---------------------------------------------------------------------------------


def _looks_like_path(text: str) -> bool:
    return (
        len(text) < _MAX_PATH_CHARS
        and "\n" not in text
        and text.strip() == text
        and text.lower().endswith(SUFFIXES)
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


def _path_documents(path: Path, options: LoadOptions, once: _Once) -> Iterator[Document]:
    for file in once.files(path, options):
        yield from _kind_of(file).read(file, options)


def _items(inputs: DocumentInput | Iterable[DocumentInput]) -> Iterable[DocumentInput]:
    """The inputs one by one: one text, path or Document, or a list (any iterable) of
    them. Bytes, a mapping or anything else is refused with what to pass instead."""
    if isinstance(inputs, (str, os.PathLike, Document)):
        return [inputs]
    if isinstance(inputs, (bytes, bytearray)):
        raise DocumentError(
            "the input is bytes; pass text (decode it, e.g. data.decode('utf-8')), a path "
            "or a langchain_core.documents.Document"
        )
    if isinstance(inputs, Mapping) or not isinstance(inputs, Iterable):
        raise DocumentError(
            f"the input is a {type(inputs).__name__}; pass text, a path, a "
            "langchain_core.documents.Document, or a list of them"
        )
    return inputs


def _as_path(item: object, number: int) -> Path | None:
    """The path an input names; ``None`` for text and Documents."""
    if isinstance(item, os.PathLike):
        return Path(item)
    if isinstance(item, str):
        if _is_existing_path(item):
            return Path(item)
        if _looks_like_path(item):
            raise DocumentError(
                f"file not found: {item} (a single-line string ending in a file suffix such as "
                ".txt or .pdf is taken as a path; wrap text in a Document to use it as content)",
                path=item,
            )
        return None
    if isinstance(item, Document):
        return None
    hint = " (decode it first)" if isinstance(item, (bytes, bytearray)) else ""
    raise DocumentError(
        f"input #{number} is a {type(item).__name__}{hint}; pass text, a path or a "
        "langchain_core.documents.Document"
    )


def iter_documents(
    inputs: DocumentInput | Iterable[DocumentInput], options: LoadOptions | None = None
) -> Iterator[Document]:
    """Yield the documents of every input, reading files lazily.

    Raw strings get a ``source`` of ``<text N>`` (N counts from 1).
    """
    options = options or LoadOptions()
    once = _Once(None)
    for number, item in enumerate(_items(inputs), start=1):
        path = _as_path(item, number)
        if path is not None:
            yield from _path_documents(path, options, once)
        elif isinstance(item, Document):
            yield item
        else:
            yield Document(page_content=str(item), metadata={"source": f"<text {number}>"})


def check_inputs(
    inputs: DocumentInput | Iterable[DocumentInput], options: LoadOptions | None = None
) -> list[str]:
    """Open every file the inputs name and fail on the first one that cannot be read
    (unsupported, damaged, encrypted, a PDF without text, a bad table row).

    Cheap: a PDF is read up to its first page with text, a text file is decoded.
    Returns notes on what will be left out (files a folder holds that are not tables
    of documents, table rows without text), one line each.
    """
    options = options or LoadOptions()
    notes: list[str] = []
    once = _Once(notes)
    for number, item in enumerate(_items(inputs), start=1):
        path = _as_path(item, number)
        if path is None:
            continue
        for file in once.files(path, options):
            _kind_of(file).check(file, options, notes)
    return notes


@dataclass(frozen=True)
class LoadedInputs:
    """Inputs and the options to read them with; each iteration reads them lazily."""

    items: tuple[DocumentInput, ...]
    options: LoadOptions = field(default_factory=LoadOptions)

    def __iter__(self) -> Iterator[Document]:
        return iter_documents(self.items, self.options)

"""Tables of documents: JSONL and CSV files, one document per row.

A row's text is in the field ``text`` and its title in ``title`` (both can be
renamed); its source is ``FILE:LINE``. The first row must have the text field,
so a wrong field name fails at once; a later row without text is reported by
line (a warning) and counted as an empty document.
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.documents import Document

from .._errors import REPORTED, DocumentError
from ._options import LoadOptions
from ._text import not_utf8_hint

__all__ = ["check_rows", "first_row_fields", "read_rows"]

logger = logging.getLogger("qasynth")

T = TypeVar("T")

_FIELD_LIMIT = 2**31 - 1  # csv's default (131,072 characters) is smaller than many documents
_WARNINGS_PER_FILE = 5


def _field_hint(file: Path, fields: list[str], options: LoadOptions) -> DocumentError:
    listed = ", ".join(fields) or "none"
    return DocumentError(
        f"{file}: no {options.text_field!r} field in the first row; its fields are: {listed}; "
        "pass --text-field NAME to read the text from another field",
        path=file,
    )


def _jsonl_rows(file: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with file.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise _not_utf8(file, number, raw, exc) from exc
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DocumentError(
                    f"{file} line {number}: not valid JSON ({exc.msg}, column {exc.colno}); "
                    "each line must be one JSON object",
                    path=file,
                ) from exc
            except RecursionError as exc:
                raise DocumentError(
                    f"{file} line {number}: JSON nested too deeply to read (arrays or objects "
                    "thousands deep inside one another); remove the line or flatten it",
                    path=file,
                ) from exc
            if not isinstance(row, dict):
                raise DocumentError(
                    f"{file} line {number}: a JSON {type(row).__name__}, not an object; each "
                    'line must be one object such as {"text": "...", "title": "..."}',
                    path=file,
                )
            yield number, row


def _csv_rows(file: Path, options: LoadOptions) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        with file.open(encoding="utf-8-sig", newline="") as stream:
            reader = csv.DictReader(stream)
            fields = _read(lambda: reader.fieldnames) or []
            repeated = sorted({f for f in fields if fields.count(f) > 1 and f})
            if repeated:
                raise DocumentError(
                    f"{file} line 1: the header names column {repeated[0]!r} twice; rename "
                    "one of them",
                    path=file,
                )
            if options.text_field not in fields:
                raise _field_hint(file, list(fields), options)
            start = reader.line_num + 1
            while (row := _read(lambda: next(reader, None))) is not None:
                yield start, row
                start = reader.line_num + 1
    except UnicodeDecodeError as exc:
        raise _first_not_utf8(file) from exc
    except csv.Error as exc:
        raise DocumentError(f"{file}: not a readable CSV file ({exc})", path=file) from exc


def _not_utf8(file: Path, number: int, raw: bytes, exc: UnicodeDecodeError) -> DocumentError:
    if number == 1 and raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return DocumentError(
            f"{file} is UTF-16 text (it starts with a UTF-16 byte-order mark), but a table "
            "of documents must be UTF-8 (in Excel: save as CSV UTF-8); "
            f"{not_utf8_hint(file, encoding='UTF-16')}",
            path=file,
        )
    return DocumentError(
        f"{file} line {number} is not valid UTF-8 (byte {exc.start} of the line: "
        f"{raw[exc.start : exc.start + 4]!r}); {not_utf8_hint(file)}",
        path=file,
    )


def _first_not_utf8(file: Path) -> DocumentError:
    """The error for a file that is not UTF-8, naming its first line that is not (the csv
    module reads blocks, so its error knows only a position in one)."""
    with file.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            try:
                raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                return _not_utf8(file, number, raw, exc)
    return DocumentError(f"{file} is not valid UTF-8; {not_utf8_hint(file)}", path=file)


def _read(step: Callable[[], T]) -> T:
    """Run one csv step with room for large fields, leaving the global limit as it was."""
    previous = csv.field_size_limit(_FIELD_LIMIT)
    try:
        return step()
    finally:
        csv.field_size_limit(previous)


def _rows(file: Path, options: LoadOptions) -> Iterator[tuple[int, dict[str, Any]]]:
    if file.suffix.lower() == ".csv":
        return _csv_rows(file, options)
    return _jsonl_rows(file)


def first_row_fields(file: Path) -> list[str] | None:
    """The field names of the first row, or a CSV file's header (``None`` if empty)."""
    if file.suffix.lower() == ".csv":
        try:
            with file.open(encoding="utf-8-sig", newline="") as stream:
                return _read(lambda: next(csv.reader(stream), None))
        except UnicodeDecodeError as exc:
            raise _first_not_utf8(file) from exc
        except csv.Error as exc:
            raise DocumentError(f"{file}: not a readable CSV file ({exc})", path=file) from exc
    for _, row in _jsonl_rows(file):
        return list(row)
    return None


def _document(file: Path, number: int, row: Mapping[str, Any], options: LoadOptions) -> Document:
    text = row.get(options.text_field)
    if text is not None and not isinstance(text, str):
        raise DocumentError(
            f"{file} line {number}: field {options.text_field!r} holds "
            f"{_kind_of_value(text)}, not text",
            path=file,
        )
    metadata: dict[str, Any] = {"source": f"{file}:{number}", "file": str(file), "line": number}
    title = row.get(options.title_field)
    if isinstance(title, str) and title.strip():
        metadata["title"] = title
    return Document(page_content=text or "", metadata=metadata)


def _documents(
    file: Path, options: LoadOptions, report: Callable[[str], object]
) -> Iterator[Document]:
    """The rows' documents; rows without text are reported by line (the first few, then
    how many in all) and given as empty documents."""
    without_text = 0
    first = True
    for number, row in _rows(file, options):
        if first and options.text_field not in row:  # a misspelt field name: fail at once
            raise _field_hint(file, list(row), options)
        first = False
        document = _document(file, number, row, options)
        if not document.page_content.strip():
            without_text += 1
            if without_text <= _WARNINGS_PER_FILE:
                report(
                    f"{file} line {number}: no text in field {options.text_field!r}; "
                    "the row is skipped"
                )
        yield document
    if without_text > _WARNINGS_PER_FILE:
        report(f"{file}: {without_text:,} rows in all have no text in field {options.text_field!r}")


def check_rows(file: Path, options: LoadOptions, notes: list[str]) -> None:
    """Fail now on a row that cannot be read (every row is parsed); note rows without text."""
    for _ in _documents(file, options, notes.append):
        pass


def read_rows(file: Path, options: LoadOptions) -> Iterator[Document]:
    """One document per row of a JSONL or CSV file."""
    return _documents(file, options, lambda note: logger.warning("%s", note, extra=REPORTED))


def _kind_of_value(value: Any) -> str:
    """A JSON value's kind in words: "a number", "a list", ..."""
    kinds = {bool: "true or false", int: "a number", float: "a number", list: "a list",
             dict: "an object"}  # fmt: skip
    return kinds.get(type(value), f"a {type(value).__name__}")

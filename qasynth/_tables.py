"""Reading Q&A tables (CSV, TSV, JSON, JSONL) into records that know their line numbers.

Tables
    UTF-8 with or without a BOM (Excel's "CSV UTF-8"), UTF-16 with a BOM (Excel's
    "Unicode Text"), or any codec named by ``encoding=`` (``"cp932"`` for Shift_JIS
    files saved on Japanese Windows). CRLF or LF line ends; quoted cells may hold
    delimiters, doubled quotes and line breaks (which become ``\\n``). The delimiter
    is the one given, else a tab for ``tsv``, else sniffed from the header line among
    ``,`` tab ``;`` ``|``. The first non-blank row is the header; cells and header
    names are stripped.

JSON and JSONL
    A JSON list of objects, or an object holding exactly one list of objects
    (``{"data": [...]}``); or JSONL, one object per line.

A record's ``line`` is the physical line (1-based; a table's header is line 1)
where it starts in the file, even when earlier cells spanned several lines.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import DocumentError, InputError

__all__ = [
    "INPUT_FORMATS",
    "TableRecord",
    "cell_text",
    "detect_format",
    "is_blank",
    "json_type",
    "read_records",
    "read_text",
]

INPUT_FORMATS = ("csv", "tsv", "json", "jsonl")
_SUFFIX_FORMATS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_SNIFFED_DELIMITERS = ",\t;|"
_QUOTED = re.compile(r'"(?:[^"]|"")*"')
_JSON_SPACE = " \t\n\r"
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class TableRecord:
    """One row or record: where it starts, its fields, and why it is unusable (if it is)."""

    line: int
    fields: Mapping[str, Any] = field(default_factory=dict)
    problem: str | None = None


def read_records(
    text: str, src: Path, fmt: str, *, delimiter: str | None = None
) -> tuple[list[str], list[TableRecord]]:
    """The column names (a table's header, or every key seen) and the records of ``text``,
    the contents of ``src`` in format ``fmt`` (one of :data:`INPUT_FORMATS`)."""
    if fmt in ("csv", "tsv"):
        return _read_table(text, src, _delimiter(fmt, delimiter, text))
    if fmt == "json":
        return _read_json(text, src)
    return _read_jsonl(text, src)


def detect_format(src: Path, input_format: str | None = None) -> str:
    """``input_format`` checked and normalised, or the format that ``src``'s extension implies."""
    if input_format is not None:
        fmt = input_format.strip().lower().lstrip(".")
        fmt = "jsonl" if fmt == "ndjson" else fmt
        if fmt not in INPUT_FORMATS:
            raise InputError(
                f"unknown input_format {input_format!r}; use one of: {', '.join(INPUT_FORMATS)}"
            )
        return fmt
    found = _SUFFIX_FORMATS.get(src.suffix.lower())
    if found is None:
        raise InputError(
            f"cannot tell the format of {src} from its extension {src.suffix or '(none)'!r}; "
            "pass input_format='csv' (or 'tsv', 'json', 'jsonl') (CLI: --input-format csv)"
        )
    return found


def read_text(src: Path, encoding: str | None = None) -> str:
    """The file's text, decoded (UTF-8 or UTF-16 by BOM unless ``encoding`` is given)."""
    try:
        data = src.read_bytes()
    except FileNotFoundError as exc:
        raise DocumentError(f"file not found: {src}", path=src) from exc
    except OSError as exc:
        raise DocumentError(f"cannot read {src}: {exc.strerror or exc}", path=src) from exc
    codec = encoding or ("utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig")
    try:
        codecs.lookup(codec)
    except LookupError as exc:
        raise InputError(
            f"unknown encoding {encoding!r}; use a Python codec name such as "
            "'utf-8', 'cp932' or 'shift_jis'"
        ) from exc
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        raise DocumentError(_decode_message(src, data, exc, encoding), path=src) from exc
    return text[1:] if text.startswith("\ufeff") else text


def _decode_message(src: Path, data: bytes, exc: UnicodeDecodeError, encoding: str | None) -> str:
    line = data.count(b"\n", 0, exc.start) + 1
    where = f"byte {exc.start}, line {line}: {data[exc.start : exc.start + 4]!r}"
    if encoding is None:
        return (
            f"{src} is not valid UTF-8 ({where}). Files saved by Excel on Japanese Windows "
            "are Shift_JIS: pass encoding='cp932' (CLI: --encoding cp932), "
            "or the file's actual encoding"
        )
    return (
        f"{src} is not valid {encoding} ({where}); pass the file's actual encoding "
        "(CLI: --encoding NAME), or leave it out for UTF-8 files"
    )


def _delimiter(fmt: str, delimiter: str | None, text: str) -> str:
    if delimiter is not None:
        sep = {"\\t": "\t", "tab": "\t"}.get(delimiter.lower(), delimiter)
        if len(sep) != 1 or sep in '"\r\n':
            raise InputError(
                f"delimiter must be one character other than a quote or line break, got "
                f"{delimiter!r}; for tabs pass delimiter='\\t' (CLI: --delimiter tab)"
            )
        return sep
    if fmt == "tsv":
        return "\t"
    first = next((line for line in io.StringIO(text, newline="") if line.strip()), "")
    unquoted = _QUOTED.sub("", first)
    counts = {sep: unquoted.count(sep) for sep in _SNIFFED_DELIMITERS}
    best = max(_SNIFFED_DELIMITERS, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def _read_table(text: str, src: Path, sep: str) -> tuple[list[str], list[TableRecord]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    header: list[str] | None = None
    records: list[TableRecord] = []
    consumed = 0
    try:
        for row in reader:
            line, consumed = consumed + 1, reader.line_num
            if header is None:
                if any(cell.strip() for cell in row):
                    header = [cell.strip() for cell in row]
                    header[0] = header[0].lstrip("\ufeff").strip()
                    _refuse_repeated_columns(header, src, line)
                continue
            records.append(_table_record(line, header, row, sep))
    except csv.Error as exc:
        raise InputError(
            f"{src}, line {reader.line_num}: cannot read the table ({exc}); look for a cell "
            'with an unmatched double quote (") at or before this line'
        ) from exc
    if records:  # a quote left open in the last row runs to the end of the file
        _check_last_quote_closed(text, records[-1].line, sep, src, consumed)
    return header or [], records


def _refuse_repeated_columns(header: Sequence[str], src: Path, line: int) -> None:
    """Two columns of one name: which one a record takes would be a guess."""
    seen: set[str] = set()
    for name in header:
        if name and name in seen:
            raise InputError(
                f"{src}, line {line}: the header names column {name!r} twice; rename one of them"
            )
        seen.add(name)


def _table_record(line: int, header: Sequence[str], row: Sequence[str], sep: str) -> TableRecord:
    cells = [_clean_cell(cell) for cell in row]
    fields: dict[str, str] = {}
    for index, name in enumerate(header):
        fields.setdefault(name, cells[index] if index < len(cells) else "")
    extra = [cell for cell in cells[len(header) :] if cell]
    problem = None
    if extra:
        shown = "tab" if sep == "\t" else repr(sep)
        problem = (
            f"{len(cells)} cells but the header has {len(header)}; quote cells that contain {shown}"
        )
    return TableRecord(line, fields, problem)


def _clean_cell(cell: str) -> str:
    return cell.replace("\r\n", "\n").replace("\r", "\n").strip()


def _check_last_quote_closed(text: str, start: int, sep: str, src: Path, end: int) -> None:
    """A quote left open swallows the rest of the file into one cell (the rest of the
    row when it is the last line, which then looks like a row with empty cells); catch
    that. ``start`` and ``end``: the first and last line of the last row."""
    tail = io.StringIO(text, newline="").readlines()[start - 1 :]
    try:
        for _ in csv.reader(tail, delimiter=sep, strict=True):
            pass
    except csv.Error as exc:
        if "end of data" in str(exc):
            swallowed = "the rest of the file" if end > start else "the rest of the line"
            raise InputError(
                f"{src}, line {start}: a quoted cell opened on this line is never closed, so "
                f'{swallowed} would be read as one cell; add the closing quote (") '
                'and double any quote inside a quoted cell ("")'
            ) from exc


def _read_json(text: str, src: Path) -> tuple[list[str], list[TableRecord]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{src}, line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg})"
        ) from exc
    start = _skip_space(text, 0)
    if isinstance(data, dict):
        lists = [pos for pos, _key, value in _json_items(text, start) if isinstance(value, list)]
        if len(lists) != 1:
            raise InputError(
                f"{src}: expected a JSON list of records, or an object holding one list "
                f'(like {{"data": [...]}}); found an object with keys: {", ".join(data) or "none"}'
            )
        start = lists[0]
    elif not isinstance(data, list):
        raise InputError(f"{src}: expected a JSON list of records, found {type(data).__name__}")
    records: list[TableRecord] = []
    line, counted = 1, 0
    for pos, _key, value in _json_items(text, start):
        line, counted = line + text.count("\n", counted, pos), pos
        records.append(_json_record(line, value))
    return _keys_seen(records), records


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _JSON_SPACE:
        pos += 1
    return pos


def _json_items(text: str, pos: int) -> Iterator[tuple[int, str | None, Any]]:
    """(offset, key, value) for each member of the (already validated) array or object
    starting at ``text[pos]``; ``key`` is ``None`` for array items."""
    is_object = text[pos] == "{"
    closer = "}" if is_object else "]"
    pos = _skip_space(text, pos + 1)
    while text[pos] != closer:
        key = None
        if is_object:
            key, pos = _DECODER.raw_decode(text, pos)
            pos = _skip_space(text, _skip_space(text, pos) + 1)  # past the ':'
        value, end = _DECODER.raw_decode(text, pos)
        yield pos, key, value
        pos = _skip_space(text, end)
        if text[pos] == ",":
            pos = _skip_space(text, pos + 1)


def _read_jsonl(text: str, src: Path) -> tuple[list[str], list[TableRecord]]:
    records: list[TableRecord] = []
    lines = text.split("\n")
    if lines and not lines[-1].strip():
        lines.pop()  # the newline that ends the last record
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            records.append(TableRecord(number, {}))
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{src}, line {number} column {exc.colno}: not valid JSON ({exc.msg}); "
                "JSONL needs one complete JSON object per line"
            ) from exc
        records.append(_json_record(number, value))
    return _keys_seen(records), records


def _json_record(line: int, value: Any) -> TableRecord:
    if isinstance(value, dict):
        return TableRecord(line, value)
    return TableRecord(line, {}, f"record is not an object (got {json_type(value)})")


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages."""
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _keys_seen(records: Sequence[TableRecord]) -> list[str]:
    seen: dict[str, None] = {}
    for record in records:
        seen.update(dict.fromkeys(record.fields))
    return list(seen)


def cell_text(value: Any) -> str | None:
    """A field as stripped text; ``None`` when it is not text (an object or a list)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return _clean_cell(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def is_blank(record: TableRecord) -> bool:
    """Whether every field of ``record`` is empty (a blank row, ``{}``)."""
    return all(cell_text(value) == "" for value in record.fields.values())

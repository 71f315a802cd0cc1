"""Turning a hand-made Q&A table into chat fine-tuning JSONL.

:func:`csv_to_jsonl` reads what spreadsheets and scripts produce and writes one
``{"messages": [system?, user, assistant]}`` line per usable row, atomically and
with non-ASCII text kept readable.

Input formats: CSV and TSV as spreadsheets export them (BOM, CRLF, quoted cells
with commas and line breaks, Shift_JIS via ``encoding="cp932"``), a JSON list of
objects, or JSONL; see :mod:`qasynth._tables` for the details. The format is
``input_format`` or follows the extension: ``.csv`` and ``.txt`` (delimiter
sniffed), ``.tsv``, ``.json``, ``.jsonl`` / ``.ndjson``.

Columns: ``user_column``, ``assistant_column`` and ``system_column`` name a
table's columns or a JSON record's keys. For JSON and JSONL only, when
``user_column`` is ``"user"`` and no record has that key, ``"question"`` is used
instead; likewise ``"answer"`` for ``assistant_column="assistant"``. JSON numbers
become text; ``null`` counts as empty.

Line numbers in reports and errors are the physical line (1-based; a table's
header is line 1) where the row or record starts in the file. Blank rows are
skipped and counted. A row with an empty user or assistant cell is skipped and
reported, or with ``strict=True`` raises :class:`~qasynth._errors.InputError`.
A ``system_column`` cell, when not empty, replaces ``system_prompt`` for its row.
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import REPORTED, ColumnError, InputError
from ._tables import (
    TableRecord,
    cell_text,
    detect_format,
    is_blank,
    json_type,
    read_records,
    read_text,
)
from ._writers import chat_example, write_jsonl

__all__ = ["ConvertReport", "SkippedRow", "csv_to_jsonl"]

logger = logging.getLogger("qasynth")

_FALLBACK_KEYS = {"user_column": ("user", "question"), "assistant_column": ("assistant", "answer")}
_SYNONYMS = {
    "user_column": ("question", "q", "prompt", "input", "instruction", "query", "質問"),
    "assistant_column": ("answer", "a", "response", "output", "completion", "reply", "回答"),
    "system_column": ("system", "system_prompt", "instructions"),
}
_SHOWN_SKIPS = 3


@dataclass(frozen=True)
class SkippedRow:
    """A row left out of the output: where it starts in the file, and why."""

    line: int
    reason: str


@dataclass(frozen=True)
class ConvertReport:
    """What :func:`csv_to_jsonl` read and wrote."""

    source: Path
    output: Path
    rows_read: int
    """Data rows or records read (after a table's header), blank ones included."""
    written: int
    blank_rows: int
    skipped: tuple[SkippedRow, ...]

    def summary(self) -> str:
        """One human line: ``wrote 3 examples to out.jsonl from qa.csv: 5 rows read, 2 blank``."""
        parts = [f"{self.rows_read} {'row' if self.rows_read == 1 else 'rows'} read"]
        if self.blank_rows:
            parts.append(f"{self.blank_rows} blank")
        if self.skipped:
            shown = "; ".join(f"line {s.line}: {s.reason}" for s in self.skipped[:_SHOWN_SKIPS])
            more = len(self.skipped) - _SHOWN_SKIPS
            tail = f"; and {more} more" if more > 0 else ""
            parts.append(f"{len(self.skipped)} skipped ({shown}{tail})")
        noun = "example" if self.written == 1 else "examples"
        head = f"wrote {self.written} {noun} to {self.output} from {self.source}"
        return f"{head}: {', '.join(parts)}"


@dataclass(frozen=True)
class _Keys:
    user: str
    assistant: str
    system: str | None


def csv_to_jsonl(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    system_prompt: str | None = None,
    user_column: str = "user",
    assistant_column: str = "assistant",
    system_column: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    strict: bool = False,
    input_format: str | None = None,
) -> ConvertReport:
    """Convert a Q&A table (CSV, TSV, JSON or JSONL) into chat fine-tuning JSONL.

    Raises :class:`~qasynth._errors.DocumentError` when the file cannot be read or
    decoded, :class:`~qasynth._errors.ColumnError` when a named column is missing,
    and :class:`~qasynth._errors.InputError` for malformed input, a file without
    usable rows, or (with ``strict=True``) the first row that would be skipped.
    """
    src, out = Path(source), Path(output)
    fmt = detect_format(src, input_format)
    if out.exists() and src.exists() and out.resolve() == src.resolve():
        raise InputError(f"output {out} is the input file; choose another output path")
    columns, records = read_records(read_text(src, encoding), src, fmt, delimiter=delimiter)
    if not any(r.problem or not is_blank(r) for r in records):
        only_header = " (only a header line)" if columns and fmt in ("csv", "tsv") else ""
        raise InputError(f"no rows found in {src}{only_header}")
    keys = _resolve_keys(
        columns, src, fmt, user=user_column, assistant=assistant_column, system=system_column
    )
    examples, blank, skipped = _build_examples(records, keys, system_prompt, src, strict)
    if not examples:
        shown = "; ".join(f"line {s.line}: {s.reason}" for s in skipped[:_SHOWN_SKIPS])
        raise InputError(f"no usable rows in {src}: all {len(skipped)} skipped — {shown}")
    written = write_jsonl(out, examples)
    if skipped:
        logger.warning(
            "skipped %d rows of %s (first: line %d)",
            len(skipped),
            src,
            skipped[0].line,
            extra=REPORTED,
        )
    return ConvertReport(src, out, len(records), written, blank, tuple(skipped))


# -- columns ---------------------------------------------------------------------------------


def _resolve_keys(
    columns: Sequence[str],
    src: Path,
    fmt: str,
    *,
    user: str,
    assistant: str,
    system: str | None,
) -> _Keys:
    is_table = fmt in ("csv", "tsv")
    wanted = {
        "user_column": user.strip(),
        "assistant_column": assistant.strip(),
        "system_column": None if system is None else system.strip(),
    }
    found: dict[str, str] = {}
    for option, name in wanted.items():
        if name is None:
            continue
        default, fallback = _FALLBACK_KEYS.get(option, (None, None))
        if is_table or name != default:
            fallback = None
        if name in columns:
            found[option] = name
        elif fallback is not None and fallback in columns:
            logger.info("%s has no %r key; using %r", src, name, fallback)
            found[option] = fallback
        else:
            taken = {v for k, v in wanted.items() if k != option and v is not None}
            raise _missing_column(name, option, columns, taken, src, is_table, fallback)
    by_column: dict[str, str] = {}
    for option, column in found.items():
        if column in by_column:
            first, second = (
                f"{name} (CLI: --{name.replace('_', '-')})" for name in (by_column[column], option)
            )
            raise InputError(
                f"{first} and {second} both name {column!r} in {src}: each example would "
                "repeat it; name a different column for each"
            )
        by_column[column] = option
    return _Keys(found["user_column"], found["assistant_column"], found.get("system_column"))


def _missing_column(
    name: str,
    option: str,
    columns: Sequence[str],
    taken: set[str],
    src: Path,
    is_table: bool,
    fallback: str | None,
) -> ColumnError:
    what = "column" if is_table else "key"
    also = f" (or {fallback!r})" if fallback else ""
    listing = ", ".join(c for c in columns if c) or "(none)"
    flag = "--" + option.replace("_", "-")
    suggestion = _suggest(name, option, columns, taken)
    if suggestion is None:
        fix = f"pass {option}=<one of them> (CLI: {flag} NAME)"
    else:
        fix = f"pass {option}={suggestion!r} (CLI: {flag} {shlex.quote(suggestion)})"
    message = f"{what} {name!r}{also} not found in {src.name}; {what}s are: {listing} — {fix}"
    return ColumnError(message, columns=list(columns))


def _suggest(name: str, option: str, columns: Sequence[str], taken: set[str]) -> str | None:
    free = [c for c in columns if c and c not in taken]
    lowered = {c.lower(): c for c in free}
    for candidate in (name.lower(), *_SYNONYMS[option]):
        if candidate in lowered:
            return lowered[candidate]
    return free[0] if len(free) == 1 else None


# -- rows ------------------------------------------------------------------------------------


def _row_problem(record: TableRecord, keys: _Keys) -> str | None:
    if record.problem:
        return record.problem
    for key in (keys.user, keys.assistant, keys.system):
        if key is None:
            continue
        value = cell_text(record.fields.get(key))
        if value is None:
            return f"{key!r} is not text (got {json_type(record.fields[key])})"
        if value == "" and key != keys.system:
            return f"empty {key!r} cell" if key in record.fields else f"no {key!r} value"
    return None


def _build_examples(
    records: Sequence[TableRecord],
    keys: _Keys,
    system_prompt: str | None,
    src: Path,
    strict: bool,
) -> tuple[list[dict[str, Any]], int, list[SkippedRow]]:
    examples: list[dict[str, Any]] = []
    skipped: list[SkippedRow] = []
    blank = 0
    default_system = (system_prompt or "").strip() or None
    for record in records:
        if not record.problem and is_blank(record):
            blank += 1
            continue
        problem = _row_problem(record, keys)
        if problem is not None:
            if strict:
                raise InputError(
                    f"{src}, line {record.line}: {problem}; fix or remove the row "
                    "(without strict, such rows are skipped and reported)"
                )
            skipped.append(SkippedRow(record.line, problem))
            continue
        row_system = cell_text(record.fields.get(keys.system)) if keys.system else None
        user, assistant = (
            cell_text(record.fields[keys.user]),
            cell_text(record.fields[keys.assistant]),
        )
        examples.append(chat_example(str(user), str(assistant), row_system or default_system))
    return examples, blank, skipped

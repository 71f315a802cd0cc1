"""Training-data formats: OpenAI chat, Alpaca and ShareGPT lines, Parquet, provenance.

One record becomes one example in the chosen format:

- ``openai``: ``{"messages": [{"role": "system"|"user"|"assistant", "content": ...}]}``
- ``alpaca``: ``{"instruction": Q, "input": "", "output": A}`` plus ``"system"`` when a
  system prompt is given
- ``sharegpt``: ``{"conversations": [{"from": "system"|"human"|"gpt", "value": ...}]}``

A path ending in ``.parquet`` is written as Parquet (needs ``pyarrow``: install
``qasynth[parquet]``): one row per example with the format's columns plus the
provenance columns, so a table holds both what is trained on and where it came from.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ._constants import FORMATS, Format
from ._errors import ConfigurationError, InputError
from ._finalize import SPLIT_FILE_NAMES, split_paths
from ._schema import QARecord
from ._writers import atomic_path, atomic_writer, chat_example, dumps_line

__all__ = [
    "FORMATS",
    "PROVENANCE_FIELDS",
    "Format",
    "checked_format",
    "example",
    "example_writer",
    "is_parquet",
    "provenance",
    "require_pyarrow",
    "write_examples",
    "write_split_stream",
    "write_splits",
]

PROVENANCE_FIELDS = (
    "source",
    "theme",
    "page",
    "chunk_id",
    "chunk_index",
    "origin",
    "derived_from",
)
"""The provenance columns of Parquet output and of a ``--provenance`` file, in order."""

PARQUET_INSTALL = 'pip install "qasynth[parquet]"'


def checked_format(format: str) -> Format:
    """``format`` if it is one qasynth writes, else an ``InputError`` naming the choices."""
    if format not in FORMATS:
        raise InputError(f"unknown output format {format!r}; choose one of: {', '.join(FORMATS)}")
    return format  # type: ignore[return-value]


def example(
    record: QARecord, *, system_prompt: str | None = None, format: str = "openai"
) -> dict[str, Any]:
    """The training example for one record in ``format``."""
    chosen = checked_format(format)
    if chosen == "alpaca":
        row: dict[str, Any] = {"instruction": record.question, "input": "", "output": record.answer}
        if system_prompt:
            row["system"] = system_prompt
        return row
    if chosen == "sharegpt":
        turns = [{"from": "system", "value": system_prompt}] if system_prompt else []
        turns += [
            {"from": "human", "value": record.question},
            {"from": "gpt", "value": record.answer},
        ]
        return {"conversations": turns}
    return chat_example(record.question, record.answer, system_prompt)


def provenance(record: QARecord) -> dict[str, Any]:
    """Where a record came from: source, theme, page, chunk id and index, origin, parent."""
    return {name: getattr(record, name) for name in PROVENANCE_FIELDS}


def is_parquet(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".parquet"


def require_pyarrow() -> Any:
    """The ``pyarrow`` module, or a ``ConfigurationError`` saying how to install it."""
    try:
        import pyarrow  # optional: qasynth[parquet]
    except ImportError as exc:
        raise ConfigurationError(
            f"writing Parquet needs pyarrow, which is not installed; run: {PARQUET_INSTALL} "
            "(or write a .jsonl file instead)"
        ) from exc
    return pyarrow


def write_examples(
    path: str | Path,
    records: Iterable[QARecord],
    *,
    system_prompt: str | None = None,
    format: str = "openai",
) -> int:
    """Write records as ``format`` examples to JSONL, or to Parquet (with provenance
    columns) when ``path`` ends in ``.parquet``. Atomic; streams (Parquet a row group
    of :data:`PARQUET_ROWS` at a time). Returns the number of examples.
    """
    count = 0
    with example_writer(path, system_prompt=system_prompt, format=format) as write:
        for record in records:
            write(record)
            count += 1
    return count


PARQUET_ROWS = 50_000
"""Rows of Parquet held before they are written (a row group each)."""


@contextlib.contextmanager
def example_writer(
    path: str | Path, *, system_prompt: str | None = None, format: str = "openai"
) -> Iterator[Callable[[QARecord], None]]:
    """A function that writes one record as an example, to a file that appears at
    ``path`` (JSONL, or Parquet for a ``.parquet`` path) when the block ends."""
    checked_format(format)
    if system_prompt is not None and not isinstance(system_prompt, str):
        raise ConfigurationError(
            f"system_prompt must be a text or None, got {type(system_prompt).__name__}"
        )
    if not is_parquet(path):
        with atomic_writer(path) as handle:

            def write_line(record: QARecord) -> None:
                line = dumps_line(example(record, system_prompt=system_prompt, format=format))
                handle.write(line)
                handle.write("\n")

            yield write_line
        return
    pa = require_pyarrow()
    import pyarrow.parquet as pq  # optional: qasynth[parquet]

    schema = _schema(pa, format, system_prompt)
    rows: list[dict[str, Any]] = []
    groups = 0
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema) as parquet:

        def write_row(record: QARecord) -> None:
            nonlocal groups
            rows.append({**example(record, system_prompt=system_prompt, format=format),
                         **provenance(record)})  # fmt: skip
            if len(rows) >= PARQUET_ROWS:
                parquet.write_table(pa.Table.from_pylist(rows, schema=schema))
                rows.clear()
                groups += 1

        yield write_row
        if rows or not groups:  # an empty table still gets its (empty) row group
            parquet.write_table(pa.Table.from_pylist(rows, schema=schema))


def _schema(pa: Any, format: str, system_prompt: str | None) -> Any:
    """An explicit schema, so an empty table and a table with no page still have types."""
    if format == "alpaca":
        fields = [("instruction", pa.string()), ("input", pa.string()), ("output", pa.string())]
        if system_prompt:
            fields.append(("system", pa.string()))
    elif format == "sharegpt":
        turn = pa.struct([("from", pa.string()), ("value", pa.string())])
        fields = [("conversations", pa.list_(turn))]
    else:
        message = pa.struct([("role", pa.string()), ("content", pa.string())])
        fields = [("messages", pa.list_(message))]
    fields += [
        ("source", pa.string()),
        ("theme", pa.string()),
        ("page", pa.int64()),
        ("chunk_id", pa.string()),
        ("chunk_index", pa.int64()),
        ("origin", pa.string()),
        ("derived_from", pa.string()),
    ]
    return pa.schema(fields)


def write_splits(
    path: str | Path,
    parts: Mapping[str, Sequence[QARecord]],
    *,
    system_prompt: str | None = None,
    format: str = "openai",
) -> dict[str, Path]:
    """Write each non-empty split to its place (see ``split_paths``); remove a file
    an earlier run left for a split that is now empty, or in another file type
    (so the folder never mixes JSONL and Parquet). Returns the written paths."""
    items = ((name, record) for name, records in parts.items() for record in records)
    sizes = {name: len(records) for name, records in parts.items()}
    return write_split_stream(path, items, sizes, system_prompt=system_prompt, format=format)


def write_split_stream(
    path: str | Path,
    items: Iterable[tuple[str, QARecord]],
    sizes: Mapping[str, int],
    *,
    system_prompt: str | None = None,
    format: str = "openai",
) -> dict[str, Path]:
    """:func:`write_splits` for records that come one at a time with the name of
    their split, in one pass (every split file open at once): ``sizes`` says in
    advance how many each split gets, so an empty one is not written."""
    targets = split_paths(path)
    for name, target in targets.items():
        for suffix in {".jsonl", ".parquet", target.suffix}:
            stale = target.with_name(SPLIT_FILE_NAMES[name] + suffix)
            if stale != target or not sizes.get(name):
                stale.unlink(missing_ok=True)
    with contextlib.ExitStack() as stack:
        writers = {
            name: stack.enter_context(
                example_writer(target, system_prompt=system_prompt, format=format)
            )
            for name, target in targets.items()
            if sizes.get(name)
        }
        for name, record in items:
            writers[name](record)
    return {name: targets[name] for name in writers}

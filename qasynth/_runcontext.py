"""The run context of a file run: records read from the state, decisions written to it.

:class:`StoredRunContext` is a :class:`~qasynth.checks.RunContext` whose records
stay in the run's SQLite state. Iterating it reads them a page at a time;
each record it gives out carries its run number (``rid``), and ``reject``,
``annotate`` and ``link`` write rows keyed by that number (``run_rejections``,
``run_annotations``, ``run_links``), so a run check over ten million records
needs no more memory than one over ten thousand, unless it keeps things itself.
A loop sees the records kept when it started (rejections are numbered, and
the loop leaves out only those made before it), as with the in-memory context.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from ._runview import RunView, number_of, numbered
from ._schema import QARecord, Rejection
from .checks._contract import RunContext

__all__ = ["StoredRunContext"]


class StoredRunContext(RunContext):
    """Every kept record of a file run, read from its state (see the module doc)."""

    def __init__(self, view: RunView) -> None:  # no super().__init__: nothing in memory
        self.calls: Counter[str] = Counter()
        self._view = view
        self._db = view.db

    @property
    def records(self) -> list[QARecord]:
        """Every kept record in a list: memory in proportion to the run."""
        return list(self)

    @property
    def rejections(self) -> list[Rejection]:
        """The run checks' rejections so far, in a list."""
        rows = self._db.execute(
            "SELECT chunk_id, reason, question, answer, detail FROM run_rejections ORDER BY op"
        )
        return [Rejection(reason, q, a, chunk, detail) for chunk, reason, q, a, detail in rows]

    @property
    def links(self) -> list[tuple[QARecord, QARecord]]:
        """The linked pairs so far (records the context gave out), in a list."""
        rows = self._db.execute(
            "SELECT a_rid, b_rid FROM run_links WHERE a_rid IS NOT NULL AND b_rid IS NOT NULL "
            "ORDER BY op"
        ).fetchall()
        view = self._view
        return [(view.record(a, kept=False), view.record(b, kept=False)) for a, b in rows]

    def __iter__(self) -> Iterator[QARecord]:
        for _, record in self._numbered():
            yield record

    def __len__(self) -> int:
        return self._view.kept_count()

    def _numbered(self) -> Iterator[tuple[int, QARecord]]:
        for rid, _, record in self._view.kept(as_of=self._view.last_op()):
            yield rid, record

    def _record(self, number: int) -> QARecord:
        return self._view.record(number)

    def _number(self, record: QARecord) -> int:
        number = number_of(record)
        if number is None or self._view.is_rejected(number):
            raise ValueError(f"not a kept record of this context: {record.question!r}")
        return number

    def reject(self, record: QARecord, reason: str, evidence: str = "") -> None:
        number = self._number(record)
        notes = "; ".join(f"{k}: {v}" for k, v in record.annotations.items())
        self._db.execute(
            "INSERT INTO run_rejections (rid, chunk_id, reason, question, answer, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (number, record.chunk_id, reason, record.question, record.answer,
             "; ".join(filter(None, [evidence, notes]))),
        )  # fmt: skip

    def annotate(self, record: QARecord, **values: Any) -> QARecord:
        number = self._number(record)
        updated = replace(record, annotations={**record.annotations, **values})
        data = json.dumps(updated.annotations, ensure_ascii=False, default=str)
        self._db.execute("INSERT OR REPLACE INTO run_annotations VALUES (?, ?)", (number, data))
        return numbered(updated, number)

    def link(self, a: QARecord, b: QARecord) -> None:
        self._db.execute(
            "INSERT INTO run_links (a, b, a_rid, b_rid) VALUES (?, ?, ?, ?)",
            (a.chunk_id, b.chunk_id, number_of(a), number_of(b)),
        )

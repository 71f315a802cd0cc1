"""A file run's outcome, read from its state as a stream.

After :meth:`RunState.prepare_finish <qasynth._runs.RunState.prepare_finish>`
the state numbers the run's chunks in run order (``run_chunks.n``) and their
records in chunk order (``run_records.rid``); the run checks' rejections,
links and annotations are rows keyed by those numbers. :class:`RunView` reads
all of it in pages, in order, so nothing here holds more than a page of
records, and the ``Stored*`` sequences give a :class:`~qasynth.RunReport` the
same lists, read again from the state file whenever they are iterated.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar, overload

from ._errors import StateError
from ._schema import ChunkFailure, QARecord, Rejection

__all__ = ["RunView", "StoredLinks", "StoredRecords", "StoredRejections", "number_of", "numbered"]

T = TypeVar("T")

PAGE = 2000
_NUMBER = "_qasynth_number"
_EVERY = 2**62
"""An operation number above any: "whatever is rejected now"."""

_RECORDS = (
    "SELECT rr.rid, rr.n, r.data, a.data FROM run_records rr JOIN records r ON r.rowid = rr.rec "
    "LEFT JOIN run_annotations a ON a.rid = rr.rid WHERE rr.rid > ? AND NOT EXISTS "
    "(SELECT 1 FROM run_rejections j WHERE j.rid = rr.rid AND j.op <= ?) ORDER BY rr.rid LIMIT ?"
)
_CHUNK_REJECTIONS = (
    "SELECT j.chunk_id, j.reason, j.question, j.answer, j.detail FROM run_chunks rc "
    "JOIN rejections j ON j.chunk_id = rc.chunk_id ORDER BY rc.n, j.position"
)
_RUN_REJECTIONS = (
    "SELECT chunk_id, reason, question, answer, detail FROM run_rejections ORDER BY op"
)


def numbered(record: QARecord, number: int) -> QARecord:
    """``record`` marked as the run's record ``number`` (a stored run context's key)."""
    object.__setattr__(record, _NUMBER, number)
    return record


def number_of(record: QARecord) -> int | None:
    """The run's number of a record a stored run gave out, else ``None``."""
    number = vars(record).get(_NUMBER)
    return number if isinstance(number, int) else None


def _record(data: str, annotations: str | None) -> QARecord:
    values = json.loads(data)
    if annotations is not None:
        values["annotations"] = json.loads(annotations)
    return QARecord.from_dict(values)


class RunView:
    """Reads a finished (or finishing) run from its state's connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def finish_id(self) -> str:
        """Which finish made the ``run_*`` tables (a new one at every finish)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'finish'").fetchone()
        return "" if row is None else str(row[0])

    def last_op(self) -> int:
        """The number of the last rejection so far (0 before any)."""
        row = self.db.execute("SELECT max(op) FROM run_rejections").fetchone()
        return int(row[0] or 0)

    def kept(self, *, as_of: int = _EVERY) -> Iterator[tuple[int, int, QARecord]]:
        """``(rid, n, record)`` of every record not rejected by operation ``as_of``,
        in chunk order; each record knows its number (:func:`number_of`)."""
        after = -1
        while True:
            rows = self.db.execute(_RECORDS, (after, as_of, PAGE)).fetchall()
            for rid, n, data, notes in rows:
                yield rid, n, numbered(_record(data, notes), rid)
            if len(rows) < PAGE:
                return
            after = rows[-1][0]

    def record(self, rid: int, *, kept: bool = True) -> QARecord:
        """Record ``rid`` as it is now; a ``ValueError`` if ``kept`` and it is rejected."""
        row = self.db.execute(
            "SELECT r.data, a.data, EXISTS (SELECT 1 FROM run_rejections j WHERE j.rid = rr.rid) "
            "FROM run_records rr JOIN records r ON r.rowid = rr.rec "
            "LEFT JOIN run_annotations a ON a.rid = rr.rid WHERE rr.rid = ?",
            (rid,),
        ).fetchone()
        if row is None:
            raise ValueError(f"no record {rid} in this run")
        if kept and row[2]:
            raise ValueError(f"record {rid} is not kept any more")
        return numbered(_record(row[0], row[1]), rid)

    def is_rejected(self, rid: int, *, as_of: int = _EVERY) -> bool:
        sql = "SELECT 1 FROM run_rejections WHERE rid = ? AND op <= ?"
        return self.db.execute(sql, (rid, as_of)).fetchone() is not None

    def kept_count(self) -> int:
        (records,) = self.db.execute("SELECT count(*) FROM run_records").fetchone()
        (rejected,) = self.db.execute("SELECT count(*) FROM run_rejections").fetchone()
        return int(records) - int(rejected)

    def rejections(self) -> Iterator[Rejection]:
        """The chunks' own rejections in chunk order, then the run checks', in order."""
        for sql in (_CHUNK_REJECTIONS, _RUN_REJECTIONS):
            for chunk, reason, question, answer, detail in self.db.execute(sql):
                yield Rejection(reason, question, answer, chunk, detail)

    def rejection_count(self) -> int:
        (chunks,) = self.db.execute(
            "SELECT count(*) FROM run_chunks rc JOIN rejections j ON j.chunk_id = rc.chunk_id"
        ).fetchone()
        (run,) = self.db.execute("SELECT count(*) FROM run_rejections").fetchone()
        return int(chunks) + int(run)

    def rejection_reasons(self) -> Counter[str]:
        """Rejections by reason, counted in the order of :meth:`rejections`."""
        counts: Counter[str] = Counter()
        for sql in (_CHUNK_REJECTIONS, _RUN_REJECTIONS):
            counts.update(row[1] for row in self.db.execute(sql))
        return counts

    def failures(self) -> list[ChunkFailure]:
        """The run's failed chunks, in run order (one row a chunk)."""
        rows = self.db.execute(
            "SELECT c.chunk_id, c.source, c.theme, c.chunk_index, c.error, c.raw_output, "
            "c.attempts, c.status FROM run_chunks rc JOIN chunks c ON c.chunk_id = rc.chunk_id "
            "WHERE c.status IN ('failed', 'retry') ORDER BY rc.n"
        )
        return [
            ChunkFailure(
                chunk, source, theme, index, error or "", raw or "", attempts, status == "retry"
            )
            for chunk, source, theme, index, error, raw, attempts, status in rows
        ]

    def chunk_links(self) -> Iterator[tuple[str, str]]:
        """Pairs of chunks whose records the run checks linked, in order."""
        yield from self.db.execute("SELECT a, b FROM run_links WHERE a != b ORDER BY op")

    def link_count(self) -> int:
        (count,) = self.db.execute("SELECT count(*) FROM run_links WHERE a != b").fetchone()
        return int(count)


class _Stored(Sequence[T]):
    """A sequence read from a finished run's state file each time it is used; a
    ``StateError`` once another run into the same output has finished since."""

    def __init__(self, state_path: Path, length: int, finish_id: str) -> None:
        self.state_path = Path(state_path)
        self._length = length
        self._finish_id = finish_id

    def _rows(self, view: RunView) -> Iterator[T]:
        raise NotImplementedError

    @contextlib.contextmanager
    def view(self) -> Iterator[RunView]:
        """The run's state, as one snapshot (writers elsewhere go on), for this finish."""
        db = sqlite3.connect(self.state_path, isolation_level=None)
        try:
            db.execute("BEGIN")
            view = RunView(db)
            if view.finish_id() != self._finish_id:
                raise StateError(
                    f"{self.state_path} holds a later run into the same output now; this "
                    "run's records are in its output file (read a report's records before "
                    "running into its output again, or make a list of them)"
                )
            yield view
        finally:
            db.close()

    def __iter__(self) -> Iterator[T]:
        with self.view() as view:
            yield from self._rows(view)

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        """By position (reads up to it: fine for a few, slow for many)."""
        if isinstance(index, slice):
            start, stop, step = index.indices(self._length)
            wanted = range(start, stop, step)
            if step < 0:
                return [self[i] for i in wanted]
            chosen = set(wanted) if step != 1 else None
            found: list[T] = []
            for position, item in enumerate(self):
                if position >= stop:
                    break
                if position >= start and (chosen is None or position in chosen):
                    found.append(item)
            return found
        position = index + self._length if index < 0 else index
        if not 0 <= position < self._length:
            raise IndexError(f"index {index} out of range for {self._length} items")
        for number, item in enumerate(self):
            if number == position:
                return item
        raise IndexError(f"index {index} out of range: the state changed since the run")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=False))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self._length:,} items in {self.state_path}>"


class StoredRecords(_Stored[QARecord]):
    """The kept records of a file run, in chunk order, read from its state file
    whenever they are iterated (valid until the next run into the same output)."""

    def _rows(self, view: RunView) -> Iterator[QARecord]:
        for _, _, record in view.kept():
            yield record


class StoredRejections(_Stored[Rejection]):
    """Every rejection of a file run (the chunks', then the run checks'), read from
    its state file whenever they are iterated."""

    def _rows(self, view: RunView) -> Iterator[Rejection]:
        return view.rejections()


class StoredLinks(_Stored[tuple[str, str]]):
    """The chunk pairs a file run's checks linked, read from its state file."""

    def _rows(self, view: RunView) -> Iterator[tuple[str, str]]:
        return view.chunk_links()

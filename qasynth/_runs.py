"""Resumable, exactly-once runs that write a JSONL file.

A run keeps its state in SQLite beside the output (``OUT.jsonl.qasynth.sqlite``):
the run's fingerprint (prompt, model, chunking), and for each chunk its status
(done or failed), attempts, error, raw output and records — one transaction per
chunk. Running the same command again continues with the unfinished chunks
only; the final JSONL is assembled from the state in chunk order, so it holds
every record exactly once and matches an uninterrupted run line for line.
API keys never reach the state file.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._dataset import Dataset, Stats
from ._errors import StateError
from ._finalize import finish_records
from ._schema import Chunk, ChunkFailure, QARecord, Rejection
from ._writers import write_chat_jsonl, write_jsonl

if TYPE_CHECKING:
    from ._pipeline import ChunkResult, Inputs, Synthesizer

__all__ = [
    "RunReport",
    "RunState",
    "SplitOptions",
    "arun_to_file",
    "failures_path_for",
    "state_path_for",
]

logger = logging.getLogger("qasynth")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, source TEXT NOT NULL, theme TEXT NOT NULL,
    chunk_index INTEGER NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL,
    error TEXT, raw_output TEXT, usage TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    chunk_id TEXT NOT NULL, position INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (chunk_id, position));
CREATE TABLE IF NOT EXISTS rejections (
    chunk_id TEXT NOT NULL, position INTEGER NOT NULL, reason TEXT NOT NULL,
    question TEXT NOT NULL, answer TEXT NOT NULL, PRIMARY KEY (chunk_id, position));
"""


def state_path_for(output: str | Path) -> Path:
    return Path(f"{output}.qasynth.sqlite")


def failures_path_for(output: str | Path) -> Path:
    out = Path(output)
    return out.with_name(f"{out.stem}.failures.jsonl")


class RunState:
    """The SQLite state of one output file's run."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def check_fingerprint(self, fingerprint: dict[str, Any], *, restart: bool) -> None:
        """Refuse to mix results made with another prompt, model or chunking."""
        row = self._db.execute("SELECT value FROM meta WHERE key='fingerprint'").fetchone()
        if row is not None and not restart:
            saved = json.loads(row[0])
            changed = sorted(
                k for k in set(saved) | set(fingerprint) if saved.get(k) != fingerprint.get(k)
            )
            if changed:
                raise StateError(
                    f"{self.path} holds results made with a different "
                    f"{', '.join(changed)}; pass --restart (restart=True) to discard them, "
                    "or write to another output file"
                )
        if row is not None and restart:
            with self._db:
                for table in ("meta", "chunks", "records", "rejections"):
                    self._db.execute(f"DELETE FROM {table}")
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)",
                (json.dumps(fingerprint, sort_keys=True),),
            )

    def statuses(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT chunk_id, status FROM chunks").fetchall())

    def save(self, result: ChunkResult) -> None:
        """Store one chunk's outcome and records in a single transaction."""
        chunk, failure = result.chunk, result.failure
        usage = {
            "calls": result.usage.calls,
            "fix_calls": result.fix_calls,
            "pairs_returned": result.pairs_returned,
            "repairs": result.repairs,
        }
        with self._db:
            self._db.execute("DELETE FROM records WHERE chunk_id=?", (chunk.id,))
            self._db.execute("DELETE FROM rejections WHERE chunk_id=?", (chunk.id,))
            self._db.execute(
                "INSERT OR REPLACE INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    chunk.id, result.seq, chunk.source, chunk.theme, chunk.index,
                    "failed" if failure else "done", failure.attempts if failure else 1,
                    failure.reason if failure else None,
                    failure.raw_output if failure else result.raw_output, json.dumps(usage),
                ),
            )  # fmt: skip
            self._db.executemany(
                "INSERT INTO records VALUES (?,?,?)",
                [
                    (chunk.id, i, json.dumps(r.to_dict(), ensure_ascii=False))
                    for i, r in enumerate(result.records)
                ],
            )
            self._db.executemany(
                "INSERT INTO rejections VALUES (?,?,?,?,?)",
                [
                    (chunk.id, i, r.reason, r.question, r.answer)
                    for i, r in enumerate(result.rejections)
                ],
            )

    def _in_run(self, sql: str, seen: set[str]) -> Iterator[tuple[Any, ...]]:
        for row in self._db.execute(sql):
            if row[0] in seen:
                yield row

    def iter_records(self, seen: set[str]) -> Iterator[QARecord]:
        """Records of the chunks in this run, in chunk order."""
        sql = (
            "SELECT r.chunk_id, r.data FROM records r JOIN chunks c USING (chunk_id) "
            "WHERE c.status='done' ORDER BY c.seq, r.position"
        )
        for _, data in self._in_run(sql, seen):
            yield QARecord.from_dict(json.loads(data))

    def iter_failures(self, seen: set[str]) -> Iterator[ChunkFailure]:
        sql = (
            "SELECT chunk_id, source, theme, chunk_index, error, raw_output, attempts "
            "FROM chunks WHERE status='failed' ORDER BY seq"
        )
        for chunk_id, source, theme, index, error, raw, attempts in self._in_run(sql, seen):
            yield ChunkFailure(chunk_id, source, theme, index, error or "", raw or "", attempts)

    def iter_rejections(self, seen: set[str]) -> Iterator[Rejection]:
        sql = (
            "SELECT j.chunk_id, j.reason, j.question, j.answer FROM rejections j "
            "JOIN chunks c USING (chunk_id) ORDER BY c.seq, j.position"
        )
        for chunk, reason, question, answer in self._in_run(sql, seen):
            yield Rejection(reason, question, answer, chunk)


@dataclass
class RunReport:
    """What a file run produced and where."""

    output: Path
    failures_path: Path | None
    state_path: Path
    records_written: int
    stats: Stats
    failures: list[ChunkFailure] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    split_paths: dict[str, Path] = field(default_factory=dict)
    records: list[QARecord] = field(default_factory=list)
    """The kept records (in chunk order), with their provenance."""
    chunk_links: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class SplitOptions:
    """Train/val/test fractions for a file run (split by chunk; see ``Dataset.split``)."""

    val_fraction: float = 0.0
    test_fraction: float = 0.0
    seed: int = 0


def _skip_for(statuses: dict[str, str], seen: set[str], retry_failed: bool) -> Any:
    def skip(chunk: Chunk) -> bool:
        seen.add(chunk.id)
        status = statuses.get(chunk.id)
        return status == "done" or (status == "failed" and not retry_failed)

    return skip


async def arun_to_file(
    synthesizer: Synthesizer,
    docs: Inputs,
    output: str | Path,
    *,
    system_prompt: str | None = None,
    restart: bool = False,
    retry_failed: bool = False,
    splits: SplitOptions | None = None,
) -> RunReport:
    """Run resumably into ``output`` (see the module docstring); with ``splits``,
    write ``OUT.train.jsonl``, ``OUT.val.jsonl`` and ``OUT.test.jsonl`` instead."""
    output = Path(output)
    state = RunState(state_path_for(output))
    try:
        state.check_fingerprint(synthesizer.fingerprint(), restart=restart)
        stats = Stats()
        seen: set[str] = set()
        skip = _skip_for(state.statuses(), seen, retry_failed)
        async for result in synthesizer.astream(docs, stats=stats, skip=skip):
            state.save(result)
            result.add_to(stats)
        return _finish(synthesizer, state, seen, stats, output, system_prompt, splits)
    finally:
        state.close()


def _finish(
    synthesizer: Synthesizer,
    state: RunState,
    seen: set[str],
    stats: Stats,
    output: Path,
    system_prompt: str | None,
    splits: SplitOptions | None,
) -> RunReport:
    finished = finish_records(list(state.iter_records(seen)), synthesizer.run_filters)
    written: dict[str, Path] = {}
    if splits is None:
        write_chat_jsonl(output, finished.records, system_prompt=system_prompt)
    else:
        dataset = Dataset(finished.records, chunk_links=finished.chunk_links)
        written = dataset.to_jsonl_splits(
            output, val_fraction=splits.val_fraction, test_fraction=splits.test_fraction,
            seed=splits.seed, system_prompt=system_prompt,
        )  # fmt: skip
    rejections = list(state.iter_rejections(seen)) + finished.rejections
    stats.rejections.clear()
    stats.rejections.update(r.reason for r in rejections)
    stats.pairs_kept = len(finished.records)
    failures = list(state.iter_failures(seen))
    failures_path = failures_path_for(output)
    if failures:
        write_jsonl(failures_path, (f.to_dict() for f in failures))
    elif failures_path.exists():
        failures_path.unlink()
    return RunReport(
        output=output,
        failures_path=failures_path if failures else None,
        state_path=state.path,
        records_written=len(finished.records),
        stats=stats,
        failures=failures,
        rejections=rejections,
        split_paths=written,
        records=finished.records,
        chunk_links=finished.chunk_links,
    )

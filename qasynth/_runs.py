"""The SQLite store of a resumable run.

A run keeps its state beside the output (``OUT.jsonl.qasynth.sqlite``): the
run's fingerprint (prompt, model, chunking, chunk checks), and for each chunk
its status (done or failed), attempts, error, raw output, records and
rejections — one transaction per chunk. API keys never reach it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ._chunk import ChunkResult
from ._errors import OutputError, StateError
from ._schema import ChunkFailure, QARecord, Rejection
from ._secrets import redact

__all__ = ["RunState", "failures_path_for", "state_path_for"]

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
    question TEXT NOT NULL, answer TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (chunk_id, position));
"""


def state_path_for(output: str | Path) -> Path:
    return Path(f"{output}.qasynth.sqlite")


def failures_path_for(output: str | Path) -> Path:
    out = Path(output)
    return out.with_name(f"{out.stem}.failures.jsonl")


_OUR_TABLES = {"meta", "chunks", "records", "rejections"}
_BATCH_TABLES = {"batches", "batch_chunks"}  # kept by qasynth._batch_store


class RunState:
    """The SQLite state of one output file's run.

    A damaged file, or an SQLite file that is not a qasynth state, raises
    :class:`~qasynth.StateError` (``restart=True`` replaces it); a folder that
    cannot be written, or a full disk, raises :class:`~qasynth.OutputError`.
    ``secrets`` are removed from every error and raw output stored."""

    def __init__(
        self, path: str | Path, *, restart: bool = False, secrets: Sequence[str] = ()
    ) -> None:
        self.path = Path(path)
        self.secrets = tuple(secrets)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._open(restart)
        except sqlite3.OperationalError as exc:
            raise _output_error(self.path, exc) from None
        except OSError as exc:
            raise OutputError(
                f"cannot create {self.path}: {exc.strerror or exc}; choose another -o",
                path=self.path,
            ) from None

    def _open(self, restart: bool) -> sqlite3.Connection:
        self.path.touch()  # SQLite would make it 0644 whatever the umask; this is 0666 - umask
        try:
            db = sqlite3.connect(self.path)
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and not tables <= _OUR_TABLES | _BATCH_TABLES | {"sqlite_sequence"}:
                db.close()
                raise sqlite3.DatabaseError("it holds tables qasynth did not make")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(rejections)")}
            if "detail" not in columns:  # a state file written by qasynth 0.1
                db.execute("ALTER TABLE rejections ADD COLUMN detail TEXT NOT NULL DEFAULT ''")
            return db
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as exc:
            if restart:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{self.path}{suffix}").unlink(missing_ok=True)
                return self._open(restart=False)
            raise StateError(
                f"{self.path} is not a usable qasynth state file ({exc}); pass --restart "
                "(restart=True) to replace it, or write to another output file"
            ) from None

    def close(self) -> None:
        self._db.close()

    def _clean(self, text: str | None) -> str | None:
        return None if text is None else redact(text, self.secrets)

    def check_fingerprint(self, fingerprint: dict[str, Any], *, restart: bool) -> None:
        """Refuse to mix results made with another prompt, model or chunk checks."""
        row = self._db.execute("SELECT value FROM meta WHERE key='fingerprint'").fetchone()
        if row is not None and not restart:
            try:
                saved = json.loads(row[0])
            except json.JSONDecodeError:
                saved = {"damaged": True}
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
                tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
                for table in sorted((_OUR_TABLES | _BATCH_TABLES) & tables):
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
        try:
            self._save(result)
        except sqlite3.OperationalError as exc:
            raise _output_error(self.path, exc) from None

    def _save(self, result: ChunkResult) -> None:
        chunk, failure = result.chunk, result.failure
        usage = {
            "calls": sum(n for step, n in result.usage.calls.items() if step != "fix"),
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
                    _status(failure), failure.attempts if failure else 1,
                    self._clean(failure.reason if failure else None),
                    self._clean(failure.raw_output if failure else result.raw_output),
                    json.dumps(usage),
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
                "INSERT INTO rejections VALUES (?,?,?,?,?,?)",
                [
                    (chunk.id, i, r.reason, r.question, r.answer, r.detail)
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
            "SELECT chunk_id, source, theme, chunk_index, error, raw_output, attempts, status "
            "FROM chunks WHERE status IN ('failed', 'retry') ORDER BY seq"
        )
        for chunk_id, source, theme, index, error, raw, attempts, status in self._in_run(sql, seen):
            yield ChunkFailure(
                chunk_id, source, theme, index, error or "", raw or "", attempts, status == "retry"
            )

    def iter_rejections(self, seen: set[str]) -> Iterator[Rejection]:
        sql = (
            "SELECT j.chunk_id, j.reason, j.question, j.answer, j.detail FROM rejections j "
            "JOIN chunks c USING (chunk_id) ORDER BY c.seq, j.position"
        )
        for chunk, reason, question, answer, detail in self._in_run(sql, seen):
            yield Rejection(reason, question, answer, chunk, detail)


def _status(failure: ChunkFailure | None) -> str:
    """``done``; ``failed`` (tried again on request); ``retry`` (tried again by a rerun)."""
    if failure is None:
        return "done"
    return "retry" if failure.transient else "failed"


def _output_error(path: Path, exc: sqlite3.OperationalError) -> OutputError:
    reason = str(exc)
    if "full" in reason:
        advice = "free some disk space and run the same command again"
    else:
        advice = "check that the folder exists and can be written, or choose another -o"
    return OutputError(f"cannot write the run state {path}: {reason}; {advice}", path=path)

"""The SQLite store of a resumable run.

A run keeps its state beside the output (``OUT.jsonl.qasynth.sqlite``): the
run's fingerprint (prompt, model, chunking, chunk checks), and for each chunk
its status (done or failed), attempts, error, raw output, records and
rejections — one transaction per chunk. API keys never reach it. The chunks a
run has are noted in a temporary table as they go by, and the finish numbers
them and their records in ``run_*`` tables (see :mod:`qasynth._runview`), so
nothing about the run is held in memory per chunk or per pair.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage

from ._chunk import ChunkResult
from ._errors import OutputError, StateError
from ._schema import ChunkFailure
from ._secrets import redact

__all__ = ["RunState", "failures_path_for", "output_error", "state_path_for"]

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
CREATE TABLE IF NOT EXISTS run_chunks (n INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS run_records (
    rid INTEGER PRIMARY KEY, rec INTEGER NOT NULL, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS run_rejections (
    op INTEGER PRIMARY KEY, rid INTEGER NOT NULL UNIQUE, chunk_id TEXT NOT NULL,
    reason TEXT NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS run_links (
    op INTEGER PRIMARY KEY, a TEXT NOT NULL, b TEXT NOT NULL, a_rid INTEGER, b_rid INTEGER);
CREATE TABLE IF NOT EXISTS run_annotations (rid INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS replies (
    chunk_id TEXT NOT NULL, digest TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (chunk_id, digest));
"""
_SEEN_BATCH = 5000
_RUN_TABLES = ("run_chunks", "run_records", "run_rejections", "run_links", "run_annotations")
"""What the last finish made of the state (see :mod:`qasynth._runview`): the run's
chunks in order (``n``), its records in order (``rid``, pointing at ``records``
rows), and what the run checks rejected, linked and annotated. Rebuilt by every
finish; a run's lazy results read them after it."""


_SETTING_NAMES = {"prompt": "the prompt", "model": "the model", "theme": "the theme",
                  "checks": "the chunk checks"}  # fmt: skip


def _change(key: str, saved: Any, now: Any) -> str:
    """What differs in one part of a run's fingerprint, in words ("the model:
    temperature 0.2, now 0.7"); a prompt or the checks are only named."""
    name = _SETTING_NAMES.get(key, key)
    if isinstance(saved, dict) and isinstance(now, dict):
        params = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
        return f"{name}: " + ", ".join(
            f"{param} {saved.get(param)!r}, now {now.get(param)!r}" for param in params
        )
    if key == "theme":
        return f"{name}: {saved!r}, now {now!r}"
    return f"{name} changed"


def state_path_for(output: str | Path) -> Path:
    return Path(f"{output}.qasynth.sqlite")


def failures_path_for(output: str | Path) -> Path:
    out = Path(output)
    return out.with_name(f"{out.stem}.failures.jsonl")


_OUR_TABLES = {"meta", "chunks", "records", "rejections", "replies", *_RUN_TABLES}
"""``replies``: the replies of a chunk's calls (generation, fixes, top-ups, checks'
calls) as they arrive, until the chunk is saved, so a run killed in between (its
replies waiting to be checked, or the chunk between two calls) does not pay for them
again: the next run takes them from here."""
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
        self._seen: list[tuple[str]] = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._open(restart)
        except sqlite3.OperationalError as exc:
            raise output_error(self.path, exc) from None
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
                what = "; ".join(_change(k, saved.get(k), fingerprint.get(k)) for k in changed)
                raise StateError(
                    f"{self.path} holds results made with other settings ({what}); pass "
                    "--restart (restart=True) to discard them, or write to another output file"
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

    @property
    def db(self) -> sqlite3.Connection:
        return self._db

    def status(self, chunk_id: str) -> str | None:
        """``done``, ``failed`` or ``retry`` for a stored chunk, else ``None``."""
        row = self._db.execute("SELECT status FROM chunks WHERE chunk_id=?", (chunk_id,)).fetchone()
        return None if row is None else str(row[0])

    def mark_seen(self, chunk_id: str) -> None:
        """Note that this run has ``chunk_id`` (in a temporary table, a batch at a time)."""
        self._seen.append((chunk_id,))
        if len(self._seen) >= _SEEN_BATCH:
            self._flush_seen()

    def _flush_seen(self) -> None:
        with self._db:  # a transaction of its own: no read snapshot is left open
            self._db.execute("CREATE TEMP TABLE IF NOT EXISTS seen (chunk_id TEXT PRIMARY KEY)")
            self._db.executemany("INSERT OR IGNORE INTO temp.seen VALUES (?)", self._seen)
        self._seen.clear()

    def prepare_finish(self) -> None:
        """Number the chunks this run has seen (in run order) and their records, for
        the finish; forget what an earlier finish decided."""
        try:
            self._prepare_finish()
        except sqlite3.OperationalError as exc:
            raise output_error(self.path, exc) from None

    def _prepare_finish(self) -> None:
        self._flush_seen()
        with self._db:
            for table in _RUN_TABLES:
                self._db.execute(f"DELETE FROM {table}")
            self._db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('finish', ?)", (secrets.token_hex(8),)
            )
            self._db.execute(
                "INSERT INTO run_chunks (chunk_id) SELECT c.chunk_id FROM temp.seen s "
                "JOIN chunks c ON c.chunk_id = s.chunk_id ORDER BY c.seq, c.chunk_id"
            )
            self._db.execute(
                "INSERT INTO run_records (rec, n) SELECT r.rowid, rc.n FROM run_chunks rc "
                "JOIN chunks c ON c.chunk_id = rc.chunk_id "
                "JOIN records r ON r.chunk_id = rc.chunk_id "
                "WHERE c.status = 'done' ORDER BY rc.n, r.position"
            )

    def saved_reply(self, chunk_id: str, digest: str) -> AIMessage | None:
        """The reply an earlier run got for this request of this chunk, if the chunk
        was never saved (the run was killed before)."""
        row = self._db.execute(
            "SELECT data FROM replies WHERE chunk_id=? AND digest=?", (chunk_id, digest)
        ).fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        return AIMessage(
            content=data["content"],
            usage_metadata=data.get("usage_metadata"),
            response_metadata=data.get("response_metadata") or {},
        )

    def save_reply(self, chunk_id: str, digest: str, reply: AIMessage) -> None:
        """Keep a reply until its chunk is saved."""
        data = {
            "content": reply.content,
            "usage_metadata": reply.usage_metadata,
            "response_metadata": reply.response_metadata,
        }
        try:
            with self._db:
                self._db.execute(
                    "INSERT OR REPLACE INTO replies VALUES (?,?,?)",
                    (chunk_id, digest, json.dumps(data, default=str)),
                )
        except sqlite3.OperationalError as exc:
            raise output_error(self.path, exc) from None

    def save(self, result: ChunkResult) -> None:
        """Store one chunk's outcome and records in a single transaction."""
        try:
            self._save(result)
        except sqlite3.OperationalError as exc:
            raise output_error(self.path, exc) from None

    def _save(self, result: ChunkResult) -> None:
        chunk, failure = result.chunk, result.failure
        usage = {
            "calls": sum(n for step, n in result.usage.calls.items() if step != "fix"),
            "fix_calls": result.fix_calls,
            "pairs_returned": result.pairs_returned,
            "repairs": result.repairs,
        }
        with self._db:
            self._db.execute("DELETE FROM replies WHERE chunk_id=?", (chunk.id,))
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


def _status(failure: ChunkFailure | None) -> str:
    """``done``; ``failed`` (tried again on request); ``retry`` (tried again by a rerun)."""
    if failure is None:
        return "done"
    return "retry" if failure.transient else "failed"


def output_error(path: Path, exc: sqlite3.OperationalError) -> OutputError:
    """The ``OutputError`` for an SQLite error writing the state at ``path``."""
    reason = str(exc)
    if "full" in reason:
        advice = "free some disk space and run the same command again"
    else:
        advice = "check that the folder exists and can be written, or choose another -o"
    return OutputError(f"cannot write the run state {path}: {reason}; {advice}", path=path)

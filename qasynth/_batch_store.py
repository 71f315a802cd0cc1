"""Which batches carry which chunks, kept in the run's SQLite state.

A batch *part* is one request file and the batch made from it, keyed by a hash of
the file's content. Its row is written before the file is uploaded, and the file
id and the batch id as soon as they exist, so a run stopped anywhere finds its
parts again. Each chunk row says which part holds the chunk's request and the
hash of that request, so a chunk is attached again only to a request that is
exactly what this run would send. Two tables, beside the run's own
(:mod:`qasynth._runs`, which clears them on ``restart``)::

    batches(key, file_id, batch_id)          one row per part, in creation order
    batch_chunks(chunk_id, key, request)     the part and request hash of a chunk
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ._errors import OutputError

__all__ = ["BatchStore", "Part"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (key TEXT PRIMARY KEY, file_id TEXT, batch_id TEXT);
CREATE TABLE IF NOT EXISTS batch_chunks (
    chunk_id TEXT PRIMARY KEY, key TEXT NOT NULL, request TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Part:
    """One request file and its batch (ids are ``None`` until they exist)."""

    key: str
    file_id: str | None
    batch_id: str | None


class BatchStore:
    """The batch tables of the run state at ``path`` (its own connection)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path)
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise OutputError(
                f"cannot keep the batch ids in the run state {path}: {exc}; check that the "
                "folder can be written, then run the same command again",
                path=path,
            ) from None

    def close(self) -> None:
        self._db.close()

    def parts(self) -> dict[str, Part]:
        """Every part, in creation order."""
        rows = self._db.execute("SELECT key, file_id, batch_id FROM batches ORDER BY rowid")
        return {key: Part(key, file_id, batch_id) for key, file_id, batch_id in rows}

    def assignments(self) -> dict[str, tuple[str, str]]:
        """Chunk id → (part key, request hash)."""
        rows = self._db.execute("SELECT chunk_id, key, request FROM batch_chunks")
        return {chunk_id: (key, request) for chunk_id, key, request in rows}

    def failed_chunks(self) -> set[str]:
        """Chunks whose reply stayed unusable in an earlier pass (the run's own table)."""
        try:
            rows = self._db.execute("SELECT chunk_id FROM chunks WHERE status='failed'")
            return {chunk_id for (chunk_id,) in rows}
        except sqlite3.OperationalError:  # no chunks table: nothing finished yet
            return set()

    def add_part(self, key: str, requests: Iterable[tuple[str, str]]) -> None:
        """Record a part (before its upload) and the (chunk id, request hash) it holds."""
        with self._db:
            self._db.execute("INSERT OR IGNORE INTO batches VALUES (?, NULL, NULL)", (key,))
            self._db.executemany(
                "INSERT OR REPLACE INTO batch_chunks VALUES (?, ?, ?)",
                [(chunk_id, key, request) for chunk_id, request in requests],
            )

    def forget_unsent(self, keep: set[str]) -> None:
        """Drop parts that never became a batch, except ``keep`` (planned again now)."""
        unsent = [p.key for p in self.parts().values() if p.batch_id is None and p.key not in keep]
        with self._db:
            for key in unsent:
                self._db.execute("DELETE FROM batches WHERE key=?", (key,))
                self._db.execute("DELETE FROM batch_chunks WHERE key=?", (key,))

    def forget_chunks(self, chunk_ids: Iterable[str]) -> None:
        """Drop the chunks' places in their parts: the next pass plans them afresh
        (those of a cancelled batch, which will never answer them)."""
        with self._db:
            self._db.executemany(
                "DELETE FROM batch_chunks WHERE chunk_id=?", [(c,) for c in chunk_ids]
            )

    def set_file(self, key: str, file_id: str) -> None:
        with self._db:
            self._db.execute("UPDATE batches SET file_id=? WHERE key=?", (file_id, key))

    def set_batch(self, key: str, batch_id: str) -> None:
        with self._db:
            self._db.execute("UPDATE batches SET batch_id=? WHERE key=?", (batch_id, key))

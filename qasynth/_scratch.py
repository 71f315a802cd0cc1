"""Working space for whole-run work whose memory must not grow with the run.

- :func:`scratch_database`: a private temporary SQLite database on disk (gone
  when closed), for tables of keys that SQLite sorts and groups on disk.
- :func:`key64`: a text as a 64-bit integer key (BLAKE2b), the kind of key those
  tables hold instead of the text. Equal keys are compared by their texts
  before anything is decided on them, so a collision costs a lookup, never a
  wrong answer.
- :class:`CompactUnionFind`: disjoint sets over 0..n-1 in one typed array
  (4 or 8 bytes an item), growing as items are added.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from array import array
from collections.abc import Iterable, Iterator

__all__ = ["BATCH", "CompactUnionFind", "insert_batches", "key64", "scratch_database"]

BATCH = 10_000
"""Rows written to a scratch table at a time."""

_CACHE_KIB = 32 * 1024


@contextlib.contextmanager
def scratch_database() -> Iterator[sqlite3.Connection]:
    """A temporary on-disk SQLite database for this block only (nothing is kept)."""
    db = sqlite3.connect("", isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
        yield db
    finally:
        db.close()


def key64(text: str) -> int:
    """A signed 64-bit key for ``text`` (stable across processes)."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def insert_batches(db: sqlite3.Connection, sql: str, rows: Iterable[tuple[object, ...]]) -> None:
    """Insert ``rows`` with ``sql`` in batches, in one transaction."""
    batch: list[tuple[object, ...]] = []
    db.execute("BEGIN")
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            db.executemany(sql, batch)
            batch.clear()
    db.executemany(sql, batch)
    db.execute("COMMIT")


class CompactUnionFind:
    """Disjoint sets with path halving whose root is always the smallest member, so
    a set is named by its first item. Items are added by :meth:`grow`."""

    def __init__(self) -> None:
        self._parent = array("i")

    def __len__(self) -> int:
        return len(self._parent)

    def grow(self, size: int) -> None:
        """Make 0..size-1 items (each alone at first)."""
        parent = self._parent
        if size > len(parent):
            if size >= 2**31 and parent.typecode == "i":
                parent = self._parent = array("q", parent)
            parent.extend(range(len(parent), size))

    def find(self, item: int) -> int:
        parent = self._parent
        while (up := parent[item]) != item:
            parent[item] = parent[up]
            item = up
        return item

    def union(self, a: int, b: int) -> int:
        """Join the sets of ``a`` and ``b``; returns the root (the smaller root)."""
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return root_a
        low, high = (root_a, root_b) if root_a < root_b else (root_b, root_a)
        self._parent[high] = low
        return low

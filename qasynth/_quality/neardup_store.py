"""Near-duplicate grouping whose memory does not grow with the number of texts.

:class:`NearDuplicateStore` finds the same groups as
:class:`~qasynth._quality.neardup.NearDuplicateIndex` (same signatures, bands,
verification and connected components; see that module), but keeps the
per-text data in an SQLite database instead of Python objects:

- each signature (``num_perm`` 32-bit values, 256 bytes by default) in a table
  under the text's number;
- each band of each signature as one row ``(bucket, number)``, where the bucket
  is a 64-bit hash of the band's values and its position.

SQLite sorts the bucket rows on disk (an index), and only the buckets with more
than one member come back to Python, one at a time, to be verified exactly as
``NearDuplicateIndex`` verifies them (equal signatures linked without
comparing, distinct ones compared pairwise unless already linked). Two
different bands that hash alike only add candidates, and candidates are
verified, so the groups are the same. The union-find over the text numbers is
one typed array (4 bytes a text), and the groups are sorted by SQLite too.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable, Iterator
from operator import itemgetter

from .._scratch import CompactUnionFind, insert_batches
from .neardup import NearDuplicateIndex

__all__ = ["NearDuplicateStore"]


class NearDuplicateStore:
    """Groups near-duplicate texts given under increasing integer numbers.

    ``db`` is a scratch database the store may fill with its own tables
    (``near_dup_*``); the options are those of ``NearDuplicateIndex``.
    """

    def __init__(
        self,
        db: sqlite3.Connection,
        *,
        threshold: float = 0.85,
        num_perm: int = 64,
        ngram: int = 3,
        seed: int = 1,
        char_ngram: int = 5,
    ) -> None:
        self._db = db
        self._index = NearDuplicateIndex(threshold, num_perm, ngram, seed, char_ngram=char_ngram)
        self._size = 0
        db.execute(
            "CREATE TABLE near_dup_signatures (number INTEGER PRIMARY KEY, signature BLOB NOT NULL)"
        )
        db.execute(
            "CREATE TABLE near_dup_buckets (bucket INTEGER NOT NULL, number INTEGER NOT NULL)"
        )

    def add_all(self, texts: Iterable[tuple[int, str]]) -> None:
        """Index each ``(number, text)``; numbers must grow. A text with no words is
        never a duplicate."""
        index = self._index
        width = index.rows * 4
        salts = [band.to_bytes(2, "little") for band in range(index.bands)]
        signatures: list[tuple[int, bytes]] = []

        def buckets() -> Iterator[tuple[int, int]]:
            for number, text in texts:
                if number < self._size:
                    raise ValueError(f"numbers must grow: {number} after {self._size - 1}")
                self._size = number + 1
                signature = index.signature(text)
                if signature is None:
                    continue
                raw = signature.to_bytes(index.num_perm * 4, "little")
                signatures.append((number, raw))
                if len(signatures) >= 1000:
                    self._save_signatures(signatures)
                for band, salt in enumerate(salts):
                    yield hash(salt + raw[band * width : (band + 1) * width]), number
            self._save_signatures(signatures)

        insert_batches(self._db, "INSERT INTO near_dup_buckets VALUES (?, ?)", buckets())

    def _save_signatures(self, signatures: list[tuple[int, bytes]]) -> None:
        self._db.executemany("INSERT INTO near_dup_signatures VALUES (?, ?)", signatures)
        signatures.clear()

    def groups(self) -> Iterator[list[int]]:
        """Numbers of near-duplicate texts: each group sorted, groups in order of their
        first number; texts alone are left out. Call once, after :meth:`add_all`."""
        db, links = self._db, CompactUnionFind()
        links.grow(self._size)
        db.execute("CREATE INDEX near_dup_by_bucket ON near_dup_buckets (bucket, number)")
        shared = db.execute(
            "SELECT b.bucket, b.number, s.signature FROM near_dup_buckets b "
            "JOIN near_dup_signatures s ON s.number = b.number WHERE b.bucket IN "
            "(SELECT bucket FROM near_dup_buckets GROUP BY bucket HAVING count(*) > 1) "
            "ORDER BY b.bucket, b.number"
        )
        for _, bucket in itertools.groupby(shared, key=itemgetter(0)):
            self._link_bucket([(number, raw) for _, number, raw in bucket], links)
        db.execute("CREATE TABLE near_dup_groups (root INTEGER NOT NULL, number INTEGER NOT NULL)")
        find = links.find
        insert_batches(
            db, "INSERT INTO near_dup_groups VALUES (?, ?)",
            ((root, number) for number in range(len(links)) if (root := find(number)) != number),
        )  # fmt: skip
        rows = db.execute("SELECT root, number FROM near_dup_groups ORDER BY root, number")
        for root, members in itertools.groupby(rows, key=itemgetter(0)):
            yield [root, *(number for _, number in members)]

    def _link_bucket(self, members: list[tuple[int, bytes]], links: CompactUnionFind) -> None:
        """Verify the pairs of one bucket that are not yet in one group (as
        ``NearDuplicateIndex`` does)."""
        self._index.link_similar(
            [(item, int.from_bytes(raw, "little")) for item, raw in members], links
        )

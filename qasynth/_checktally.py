"""Measuring the valid examples of a chat JSONL file as it is read, in bounded memory.

:class:`Tally` takes one example at a time and keeps only what the check reports:
how many examples have each token count (a few hundred distinct values, not a
list of millions), the lines over the per-example limit, and a SHA-256 digest
of each example in a scratch SQLite table, grouped on disk at the end to find
the repeated ones. A file of ten million examples is checked in the memory of
one of ten thousand.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import statistics
from collections import Counter
from typing import Any

from ._errors import QasynthError
from ._pricing import ModelPrice, count_example_tokens
from ._scratch import BATCH
from ._tokens import EncodingLike, resolve_encoding

__all__ = ["Tally", "value_at"]


class Tally:
    """Token counts, over-limit lines and repeats of the examples given to :meth:`add`."""

    def __init__(
        self,
        db: sqlite3.Connection,
        *,
        encoding: EncodingLike | None,
        model: str,
        price: ModelPrice | None,
        limit: int | None,
    ) -> None:
        self._db = db
        self._chosen = encoding if encoding is not None else (price.encoding if price else None)
        self._model = model
        self._limit = limit
        self._encoding: Any = None
        self._digests: list[tuple[bytes, int]] = []
        self.encoding_name: str | None = None
        self.counts: Counter[int] = Counter()
        """Examples by their number of tokens."""
        self.over_limit_lines: list[int] = []
        self.error: QasynthError | None = None
        """Why tokens cannot be counted (no encoding): the check raises it."""
        db.execute("CREATE TABLE digests (digest BLOB NOT NULL, line INTEGER NOT NULL)")

    @property
    def examples(self) -> int:
        return self.counts.total()

    def add(self, line: int, messages: list[Any]) -> None:
        """Measure the valid example on ``line``."""
        if self.error is not None:
            return
        if self._encoding is None:  # resolved at the first example (none: no encoding)
            try:
                self._encoding = resolve_encoding(self._chosen, model=self._model)
            except QasynthError as exc:  # raised once the file is read to the end
                self.error = exc
                return
            self.encoding_name = self._encoding.name
        tokens = count_example_tokens(messages, self._encoding)
        self.counts[tokens] += 1
        if self._limit and tokens > self._limit:
            self.over_limit_lines.append(line)
        canonical = json.dumps(messages, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        self._digests.append((hashlib.sha256(canonical.encode("utf-8")).digest(), line))
        if len(self._digests) >= BATCH:
            self._flush()

    def forget(self) -> None:
        """Drop everything measured (a file that stops being readable counts nothing)."""
        self.counts.clear()
        self.over_limit_lines.clear()
        self._digests.clear()
        self._db.execute("DELETE FROM digests")
        self.encoding_name = None
        self.error = None

    def _flush(self) -> None:
        self._db.execute("BEGIN")  # one transaction a batch (the connection autocommits)
        self._db.executemany("INSERT INTO digests VALUES (?, ?)", self._digests)
        self._db.execute("COMMIT")
        self._digests.clear()

    def total_tokens(self) -> int:
        return sum(tokens * count for tokens, count in self.counts.items())

    def billed_tokens(self, epochs: int) -> int:
        """As :func:`~qasynth._pricing.billed_tokens` over every example's count."""
        limit = self._limit
        return epochs * sum(
            (min(tokens, limit) if limit else tokens) * count
            for tokens, count in self.counts.items()
        )

    def duplicates(self) -> tuple[tuple[int, int], ...]:
        """``(line, first_line)`` for every example that repeats an earlier one, by line."""
        self._flush()
        rows = self._db.execute(
            "SELECT d.line, f.first FROM digests d JOIN (SELECT digest, min(line) AS first "
            "FROM digests GROUP BY digest HAVING count(*) > 1) f ON f.digest = d.digest "
            "WHERE d.line != f.first ORDER BY d.line"
        )
        return tuple((int(line), int(first)) for line, first in rows)

    def median(self) -> float:
        """``statistics.median`` of every example's count (an int for an odd number)."""
        ordered, size = sorted(self.counts), self.examples
        middle = [value_at(self.counts, ordered, size // 2)]
        if size % 2 == 0:
            middle.insert(0, value_at(self.counts, ordered, size // 2 - 1))
        return statistics.median(middle)


def value_at(counts: Counter[int], ordered: list[int], position: int) -> int:
    """The value at ``position`` (from 0) of the sorted multiset ``counts``
    (``ordered`` are its distinct values, sorted)."""
    for value in ordered:
        if position < counts[value]:
            return value
        position -= counts[value]
    raise IndexError(position)

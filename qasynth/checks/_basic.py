"""Checks every run uses: non-empty pairs, no echoes, length limits, exact duplicates."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator

from .._errors import ConfigurationError
from .._quality.text import normalize
from .._schema import Chunk, QARecord
from .._scratch import insert_batches, key64, scratch_database
from ._contract import Check, PairCheck, RunContext, reject_variants

__all__ = [
    "DEFAULT_MAX_ANSWER_CHARS",
    "DEFAULT_MAX_QUESTION_CHARS",
    "ExactDuplicates",
    "MaxLength",
    "NonEmpty",
    "NotEcho",
]

DEFAULT_MAX_QUESTION_CHARS = 1000
DEFAULT_MAX_ANSWER_CHARS = 4000


class NonEmpty(PairCheck):
    """Reject pairs with an empty question or answer."""

    name = "non_empty"

    def check_pair(self, record: QARecord, chunk: Chunk) -> str | None:
        if not record.question:
            return "empty_question"
        if not record.answer:
            return "empty_answer"
        return None


class NotEcho(PairCheck):
    """Reject pairs whose answer just repeats the question."""

    name = "not_echo"

    def check_pair(self, record: QARecord, chunk: Chunk) -> str | None:
        same = normalize(record.question) == normalize(record.answer)
        return "question_equals_answer" if same else None


class MaxLength(PairCheck):
    """Reject questions or answers longer than a number of characters."""

    name = "max_length"

    def __init__(
        self,
        *,
        max_question_chars: int = DEFAULT_MAX_QUESTION_CHARS,
        max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS,
    ) -> None:
        if max_question_chars < 1 or max_answer_chars < 1:
            raise ConfigurationError("max_question_chars and max_answer_chars must be at least 1")
        self.max_question_chars = max_question_chars
        self.max_answer_chars = max_answer_chars

    def check_pair(self, record: QARecord, chunk: Chunk) -> tuple[str, str] | None:
        if len(record.question) > self.max_question_chars:
            return "question_too_long", f"{len(record.question)} > {self.max_question_chars}"
        if len(record.answer) > self.max_answer_chars:
            return "answer_too_long", f"{len(record.answer)} > {self.max_answer_chars}"
        return None


class ExactDuplicates(Check):
    """Drop a pair whose question was already asked in this run.

    Questions are compared after NFKC, case and whitespace normalisation, so
    overlapping chunks that produce the same question keep only the first.
    Answer paraphrases repeat their question on purpose: they are compared by
    question and answer.

    The paraphrases and translations made from a dropped question are dropped with
    it: they ask what the kept one asks, and would carry it to another split.

    Memory does not grow with the run: each record leaves a 64-bit key in a
    scratch table on disk, SQLite groups equal keys, and only the records of a
    group are read again (and compared by their text).
    """

    name = "exact_duplicates"
    scope = "run"

    def check_run(self, ctx: RunContext) -> None:
        with scratch_database() as db:
            db.execute("CREATE TABLE keys (key INTEGER NOT NULL, number INTEGER NOT NULL)")
            db.execute("CREATE TABLE dupes (number INTEGER PRIMARY KEY, first INTEGER NOT NULL)")
            insert_batches(
                db, "INSERT INTO keys VALUES (?, ?)",
                ((key64(_key(record)), number) for number, record in ctx._numbered()),
            )  # fmt: skip
            db.execute("CREATE INDEX keys_by_key ON keys (key, number)")
            insert_batches(db, "INSERT INTO dupes VALUES (?, ?)", _repeats(db, ctx))
            dropped: dict[tuple[str, str], str] = {}
            for number, first in db.execute("SELECT number, first FROM dupes ORDER BY number"):
                evidence = f"same as: {ctx._record(first).question}"
                duplicate = ctx._record(number)
                ctx.reject(duplicate, "duplicate_question", evidence)
                if duplicate.origin == "generated":
                    dropped[(duplicate.chunk_id, duplicate.question)] = (
                        f"a variant of a duplicate of: {ctx._record(first).question}"
                    )
        reject_variants(ctx, dropped, "duplicate_question")


def _key(record: QARecord) -> str:
    key = normalize(record.question)
    if record.origin == "answer_paraphrase":
        key += "\x00" + normalize(record.answer)
    return key


def _repeats(db: sqlite3.Connection, ctx: RunContext) -> Iterator[tuple[int, int]]:
    """(number, number of the first record with the same key) for every repeat."""
    rows = db.execute(
        "SELECT key, number FROM keys WHERE key IN "
        "(SELECT key FROM keys GROUP BY key HAVING count(*) > 1) ORDER BY key, number"
    )
    for _, group in itertools.groupby(rows, key=lambda row: row[0]):
        first: dict[str, int] = {}  # by the key's text: equal 64-bit keys may differ
        for _, number in group:
            text = _key(ctx._record(number))
            earlier = first.setdefault(text, number)
            if earlier != number:
                yield number, earlier

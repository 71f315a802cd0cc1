"""The counts of a run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["Stats"]


@dataclass
class Stats:
    """Counts for a run.

    ``model_calls`` counts answered model calls of every kind (broken down in
    ``calls_by_kind``: generate, topup, judge, paraphrase, translate);
    ``fix_calls`` the extra calls the output fixer made. Together they are the
    paid calls. ``retries`` counts requests that were retried (429, 5xx,
    timeouts) and ``waited`` the seconds spent waiting before retries;
    ``step_errors`` checks that failed on a chunk (its records were kept).
    ``pairs_returned`` are the pairs the model returned and ``pairs_added`` those the
    checks made from them (paraphrases, translations): together they are
    ``pairs_kept + pairs_rejected`` in one run (a resumed file run keeps and rejects
    the pairs of earlier invocations too).
    ``cached_input_tokens`` are input tokens the provider served from its prompt
    cache (part of ``input_tokens``, billed at a lower rate); the ``batch_*`` tokens
    are those of replies that came from the Batch API (part of the totals, billed at
    the batch rate).
    """

    documents: int = 0
    empty_documents: int = 0
    chunks: int = 0
    chunks_done: int = 0
    chunks_failed: int = 0
    chunks_resumed: int = 0
    model_calls: int = 0
    fix_calls: int = 0
    retries: int = 0
    waited: float = 0.0
    local_repairs: int = 0
    pairs_returned: int = 0
    pairs_added: int = 0
    pairs_kept: int = 0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    batch_input_tokens: int = 0
    batch_cached_input_tokens: int = 0
    batch_output_tokens: int = 0
    rejections: Counter[str] = field(default_factory=Counter)
    repairs: Counter[str] = field(default_factory=Counter)
    calls_by_kind: Counter[str] = field(default_factory=Counter)
    step_errors: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            data[f.name] = dict(sorted(value.items())) if isinstance(value, Counter) else value
        return data

    def __add__(self, other: Stats) -> Stats:
        """The counts of two runs (or two parts of one) together."""
        if not isinstance(other, Stats):
            return NotImplemented
        total = Stats()
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            setattr(total, f.name, Counter(mine) + Counter(theirs)
                    if isinstance(mine, Counter) else mine + theirs)  # fmt: skip
        return total

    @property
    def pairs_rejected(self) -> int:
        return sum(self.rejections.values())

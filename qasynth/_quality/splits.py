"""Leak-free train/validation/test splits.

Items that share a group key (the same chunk, or chunks linked as
near-duplicates or paraphrases) always land in the same split, so a fact seen
in training is never used to validate or test.

Neighbouring chunks of a document that landed apart share the text of their
overlap: a record stating a fact the other chunk's records state goes to the side
nearer to training (:func:`settle_shared_facts`).

Each group is placed by a hash of ``"{seed}:{key}"`` mapped to [0, 1): below
``test_fraction`` it is "test", below ``test_fraction + val_fraction`` it is
"val", otherwise "train". A group's split depends on nothing but its own key,
the seed and the fractions, so adding groups never moves existing ones, and
raising ``val_fraction`` only moves groups from train to val. Fractions are met
in expectation: with few groups the actual shares vary.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .._errors import ConfigurationError
from ._unionfind import UnionFind

if TYPE_CHECKING:
    from .._schema import QARecord

__all__ = [
    "Placed",
    "check_fractions",
    "merge_group_keys",
    "settle_shared_facts",
    "split_groups",
    "split_of",
]

_SCALE = float(1 << 64)


def split_groups(
    group_keys: Sequence[str],
    *,
    val_fraction: float = 0.0,
    test_fraction: float = 0.0,
    seed: int = 0,
) -> list[str]:
    """ "train", "val" or "test" for each item; items with equal keys share a split."""
    check_fractions(val_fraction, test_fraction)
    placed: dict[str, str] = {}
    splits = []
    for key in group_keys:
        split = placed.get(key)
        if split is None:
            split = placed[key] = _place(key, val_fraction, test_fraction, seed)
        splits.append(split)
    return splits


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    """A ``ValueError`` saying what to change unless both are shares that leave
    something for training."""
    _check_fraction("val_fraction", val_fraction)
    _check_fraction("test_fraction", test_fraction)
    if val_fraction + test_fraction >= 1.0:
        raise ConfigurationError(
            f"val_fraction + test_fraction must be below 1 so something is left for training; "
            f"got {val_fraction} + {test_fraction} = {val_fraction + test_fraction}. "
            "Lower one of them (0.1 each is common)."
        )


def split_of(key: str, *, val_fraction: float, test_fraction: float, seed: int = 0) -> str:
    """The split of the group ``key`` (fractions as checked by :func:`check_fractions`)."""
    return _place(key, val_fraction, test_fraction, seed)


def _check_fraction(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ConfigurationError(f"{name} must be a number in [0, 1), got {value!r}")
    if not 0.0 <= value < 1.0:
        raise ConfigurationError(
            f"{name} must be in [0, 1), got {value!r}; pass a share such as 0.1 (not a percentage)"
        )


def _place(key: str, val_fraction: float, test_fraction: float, seed: int) -> str:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / _SCALE
    if position < test_fraction:
        return "test"
    if position < test_fraction + val_fraction:
        return "val"
    return "train"


def merge_group_keys(
    n_items: int, links: Iterable[tuple[int, int]], base_keys: Sequence[str]
) -> list[str]:
    """Group keys after joining linked items (e.g. near-duplicate pairs) and, through
    them, their whole base groups. Each merged group takes the smallest base key it
    contains, so items without links keep their own key (and their split)."""
    if len(base_keys) != n_items:
        raise ConfigurationError(
            f"base_keys has {len(base_keys)} keys for {n_items} items; give one key per item"
        )
    sets = UnionFind(n_items)
    first_with_key: dict[str, int] = {}
    for item, key in enumerate(base_keys):
        sets.union(first_with_key.setdefault(key, item), item)
    for a, b in links:
        if not (0 <= a < n_items and 0 <= b < n_items):
            raise ValueError(
                f"link ({a}, {b}) points outside the {n_items} items; indices are 0..{n_items - 1}"
            )
        sets.union(a, b)
    smallest: dict[int, str] = {}
    for item, key in enumerate(base_keys):
        root = sets.find(item)
        if root not in smallest or key < smallest[root]:
            smallest[root] = key
    return [smallest[sets.find(item)] for item in range(n_items)]


class Placed:
    """A record and the split it goes to (which :func:`settle_shared_facts` may move)."""

    __slots__ = ("facts", "key", "record", "split")

    def __init__(self, key: Any, record: QARecord, split: str) -> None:
        self.key, self.record, self.split = key, record, split
        self.facts: Any = None
        """What the exact grader compares of its answer, once needed."""


_RANK = {"train": 0, "val": 1, "test": 2}


def settle_shared_facts(
    chunks: Iterable[tuple[str, int, list[Placed]]],
) -> Iterator[tuple[Any, str, str]]:
    """Move a record to the side of its neighbour chunk when both state the same fact.

    Overlapping chunks of one document share text, so a fact told in the overlap is
    asked about in both; when the two chunks land in different splits, that fact is
    trained on and tested (worded another way, which near-duplicate links miss). So
    for two neighbouring chunks of a document (``chunks`` in document order: source,
    chunk index, their kept records) that went to different splits, a record whose
    answer states what an answer of the other chunk states (the exact grader's test,
    either way) goes to the split nearer to training of the two, with the records made
    from it (paraphrases, translations). Nothing moves away from training, so no
    split gains a fact another holds. Yields ``(key, old split, new split)`` for every
    move."""
    from .._grading import facts_of, states  # the grader imports the model layer

    def same(a: Placed, b: Placed) -> bool:
        for placed in (a, b):
            if placed.facts is None:
                placed.facts = facts_of(placed.record.answer)
        return bool(states(a.facts, b.facts) or states(b.facts, a.facts))

    previous: tuple[str, int, list[Placed]] | None = None
    for source, index, members in chunks:
        if previous is not None and previous[:2] == (source, index - 1):
            mixed = {p.split for p in previous[2]} | {p.split for p in members}
            if len(mixed) > 1:
                yield from _settle(previous[2], members, same)
        previous = (source, index, members)


def _settle(
    first: list[Placed], second: list[Placed], same: Callable[[Placed, Placed], bool]
) -> Iterator[tuple[Any, str, str]]:
    made_from = {id(group): _made_from(group) for group in (first, second)}
    for a in first:
        for b in second:
            if a.split == b.split:
                continue
            low, high, group = (a, b, second) if _RANK[a.split] < _RANK[b.split] else (b, a, first)
            if not same(low, high):
                continue
            for member in (high, *made_from[id(group)].get(high.record.question, ())):
                if _RANK[member.split] > _RANK[low.split]:
                    was, member.split = member.split, low.split
                    yield member.key, was, low.split


def _made_from(group: list[Placed]) -> dict[str, list[Placed]]:
    """The records of a chunk made from another of its records, by that one's question."""
    made: dict[str, list[Placed]] = {}
    for placed in group:
        if placed.record.derived_from is not None:
            made.setdefault(placed.record.derived_from, []).append(placed)
    return made

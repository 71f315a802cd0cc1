"""Leak-free train/validation/test splits.

Items that share a group key (the same chunk, or chunks linked as
near-duplicates or paraphrases) always land in the same split, so a fact seen
in training is never used to validate or test.

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
from collections.abc import Iterable, Sequence

from .._errors import ConfigurationError
from ._unionfind import UnionFind

__all__ = ["check_fractions", "merge_group_keys", "split_groups", "split_of"]

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

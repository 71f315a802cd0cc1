"""Leak-free train/val/test splits by chunk, and where split files go."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ._quality import merge_group_keys, split_groups
from ._schema import QARecord

__all__ = ["SPLIT_NAMES", "assign_splits", "split_paths"]


SPLIT_NAMES = ("train", "val", "test")


def assign_splits(
    records: Sequence[QARecord],
    chunk_links: Sequence[tuple[str, str]] = (),
    *,
    val_fraction: float = 0.0,
    test_fraction: float = 0.0,
    seed: int = 0,
) -> list[str]:
    """ "train", "val" or "test" for each record, by chunk.

    A chunk's records (its paraphrases and translations included) share a split,
    and chunks linked by near-duplicates are joined, so nothing leaks across.
    Deterministic for a given ``seed``.
    """
    keys = [record.chunk_id for record in records]
    first: dict[str, int] = {}
    for position, key in enumerate(keys):
        first.setdefault(key, position)
    links = [(first[a], first[b]) for a, b in chunk_links if a in first and b in first]
    merged = merge_group_keys(len(keys), links, keys)
    return split_groups(merged, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)


def split_paths(output: str | Path) -> dict[str, Path]:
    """Where the splits of ``OUT.jsonl`` go: ``OUT.train.jsonl``, ``OUT.val.jsonl``, ..."""
    out = Path(output)
    return {
        name: out.with_name(f"{out.stem}.{name}{out.suffix or '.jsonl'}") for name in SPLIT_NAMES
    }

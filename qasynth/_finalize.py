"""Leak-free train/val/test splits by chunk, and where split files go."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ._quality import merge_group_keys, split_groups
from ._quality.splits import Placed, settle_shared_facts
from ._schema import QARecord

__all__ = ["SPLIT_FILE_NAMES", "SPLIT_NAMES", "assign_splits", "split_paths"]


SPLIT_NAMES = ("train", "val", "test")
SPLIT_FILE_NAMES = {"train": "train", "val": "validation", "test": "test"}
"""The file name of each split, as Hugging Face ``datasets`` names the splits."""


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
    and chunks linked by near-duplicates are joined, so nothing leaks across; a
    record stating what a record of its neighbour chunk on another side states goes
    to the side nearer to training (:func:`settle_shared_facts`). Deterministic for a
    given ``seed``.
    """
    keys = [record.chunk_id for record in records]
    first: dict[str, int] = {}
    for position, key in enumerate(keys):
        first.setdefault(key, position)
    links = [(first[a], first[b]) for a, b in chunk_links if a in first and b in first]
    merged = merge_group_keys(len(keys), links, keys)
    names = split_groups(merged, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    by_chunk: dict[str, list[Placed]] = {}
    for position, record in enumerate(records):
        by_chunk.setdefault(record.chunk_id, []).append(Placed(position, record, names[position]))
    chunks = sorted(
        (
            (group[0].record.source, group[0].record.chunk_index, group)
            for group in by_chunk.values()
        ),
        key=lambda chunk: chunk[:2],  # document order (never comparing the records)
    )
    for position, _, split in settle_shared_facts(chunks):
        names[position] = split
    return names


def split_paths(output: str | Path) -> dict[str, Path]:
    """Where the splits of ``OUT.jsonl`` go: a folder ``OUT/`` beside it holding
    ``train.jsonl``, ``validation.jsonl`` and ``test.jsonl`` (keys: ``SPLIT_NAMES``;
    ``.parquet`` files for a ``.parquet`` output, ``.jsonl`` whatever else it ends in).

    The folder holds nothing else, so ``datasets.load_dataset("OUT")`` finds exactly
    the three splits whatever ``OUT`` is called (``train``, ``test``, ``eval``, ...);
    the run's other files (state, failures, provenance) stay beside the folder.
    """
    out = Path(output)
    folder = out.with_name(out.stem)
    suffix = ".parquet" if out.suffix.lower() == ".parquet" else ".jsonl"  # what datasets reads
    return {name: folder / f"{SPLIT_FILE_NAMES[name]}{suffix}" for name in SPLIT_NAMES}

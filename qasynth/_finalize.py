"""The end of a run: whole-run filters in chunk order, then leak-free splits.

Both the in-memory ``Dataset`` path and the resumable file path finish here,
so a run gives the same records whichever way it was made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._quality import merge_group_keys, split_groups
from ._schema import QARecord, Rejection
from ._validation import GroupFilter, RunFilter

__all__ = [
    "SPLIT_FILE_NAMES",
    "SPLIT_NAMES",
    "Finished",
    "assign_splits",
    "finish_records",
    "split_paths",
]


@dataclass
class Finished:
    """Kept records, what the whole-run filters rejected, and the chunk links
    (pairs of chunk ids whose records are related, e.g. near-duplicates)."""

    records: list[QARecord]
    rejections: list[Rejection] = field(default_factory=list)
    chunk_links: list[tuple[str, str]] = field(default_factory=list)


def finish_records(
    records: Sequence[QARecord], filters: Sequence[RunFilter | GroupFilter]
) -> Finished:
    """Apply whole-run filters, in the order given, to records in chunk order."""
    current = list(records)
    done = Finished(records=current)
    for run_filter in filters:
        if isinstance(run_filter, GroupFilter):
            current = _apply_group(run_filter, current, done)
        else:
            current = _apply_streaming(run_filter, current, done)
    done.records = current
    return done


def _reject(done: Finished, record: QARecord, reason: str, detail: str = "") -> None:
    done.rejections.append(
        Rejection(reason, record.question, record.answer, record.chunk_id, detail)
    )


def _apply_streaming(
    run_filter: RunFilter, records: list[QARecord], done: Finished
) -> list[QARecord]:
    run_filter.reset()
    kept: list[QARecord] = []
    for record in records:
        reason = run_filter.check(record)
        if reason:
            _reject(done, record, reason)
        else:
            kept.append(record)
    return kept


def _apply_group(
    group_filter: GroupFilter, records: list[QARecord], done: Finished
) -> list[QARecord]:
    outcome = group_filter.select(records)
    for group in outcome.groups:
        first = records[group[0]].chunk_id
        done.chunk_links.extend(
            (first, records[i].chunk_id) for i in group[1:] if records[i].chunk_id != first
        )
    kept: list[QARecord] = []
    for index, record in enumerate(records):
        if index in outcome.dropped:
            reason, detail = outcome.dropped[index]
            _reject(done, record, reason, detail)
        else:
            kept.append(record)
    return kept


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
    """Where the splits of ``OUT.jsonl`` go: a folder ``OUT/`` beside it holding
    ``train.jsonl``, ``validation.jsonl`` and ``test.jsonl`` (keys: ``SPLIT_NAMES``).

    The folder holds nothing else, so ``datasets.load_dataset("OUT")`` finds exactly
    the three splits whatever ``OUT`` is called (``train``, ``test``, ``eval``, ...);
    the run's other files (state, failures, provenance) stay beside the folder.
    """
    out = Path(output)
    folder = out.with_name(out.stem)
    suffix = out.suffix or ".jsonl"
    return {name: folder / f"{SPLIT_FILE_NAMES[name]}{suffix}" for name in SPLIT_NAMES}

"""Writing a file run's kept records straight from its state, in one pass.

The records are read in chunk order a page at a time (:class:`RunView`) and
written as they come: to one file, or each to its train/val/test file. Splits
are decided per chunk exactly as :func:`qasynth._finalize.assign_splits`
decides them for a list of records (a chunk's records share a split; chunks
linked by the run checks are joined when both kept something; a joined group
is placed by its smallest chunk id), but with one byte a chunk instead of a key
a record, so memory grows with neither.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._finalize import SPLIT_NAMES, assign_splits
from ._formats import write_examples, write_split_stream
from ._quality.splits import Placed, check_fractions, settle_shared_facts, split_of
from ._runview import RunView, StoredRecords
from ._schema import QARecord
from ._scratch import CompactUnionFind

__all__ = ["ChunkSplits", "RecordSplits", "write_kept", "write_kept_splits"]


@dataclass
class ChunkSplits:
    """The split of every chunk of a run, and how many kept records each split has."""

    codes: bytearray
    """Per chunk number ``n``: an index into ``SPLIT_NAMES``."""
    sizes: dict[str, int]
    moved: dict[int, int] = field(default_factory=dict)
    """Records (by ``rid``) that went to another split than their chunk's, to stay on
    the side of a neighbour chunk that states the same fact (an index into ``SPLIT_NAMES``)."""

    @classmethod
    def of(
        cls, view: RunView, *, val_fraction: float, test_fraction: float, seed: int
    ) -> ChunkSplits:
        check_fractions(val_fraction, test_fraction)
        db = view.db
        size = int(db.execute("SELECT coalesce(max(n), 0) + 1 FROM run_chunks").fetchone()[0])
        kept = _kept_per_chunk(view, size)
        groups, linked = CompactUnionFind(), bytearray(size)
        groups.grow(size)
        links = db.execute(
            "SELECT ca.n, cb.n FROM run_links l JOIN run_chunks ca ON ca.chunk_id = l.a "
            "JOIN run_chunks cb ON cb.chunk_id = l.b WHERE l.a != l.b"
        )
        for a, b in links:
            if kept[a] and kept[b]:
                groups.union(a, b)
                linked[a] = linked[b] = 1
        smallest: dict[int, str] = {}  # the smallest chunk id of each joined group
        for n, chunk_id in db.execute("SELECT n, chunk_id FROM run_chunks ORDER BY n"):
            if linked[n]:
                root = groups.find(n)
                if root not in smallest or chunk_id < smallest[root]:
                    smallest[root] = chunk_id
        codes, sizes = bytearray(size), Counter({name: 0 for name in SPLIT_NAMES})
        for n, chunk_id in db.execute("SELECT n, chunk_id FROM run_chunks ORDER BY n"):
            if kept[n]:
                key = smallest[groups.find(n)] if linked[n] else chunk_id
                name = split_of(
                    key, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed
                )
                codes[n] = SPLIT_NAMES.index(name)
                sizes[name] += kept[n]
        moved: dict[int, int] = {}
        if len({code for n, code in enumerate(codes) if kept[n]}) > 1:
            for rid, was, name in settle_shared_facts(_chunks_of(view, codes)):
                sizes[was] -= 1
                sizes[name] += 1
                moved[rid] = SPLIT_NAMES.index(name)
        return cls(codes, dict(sizes), moved)

    def records(self, view: RunView) -> Iterator[tuple[str, QARecord]]:
        """Every kept record with the name of its split, in chunk order."""
        codes, moved = self.codes, self.moved
        for rid, n, record in view.kept():
            yield SPLIT_NAMES[moved.get(rid, codes[n])], record


def _chunks_of(view: RunView, codes: bytearray) -> Iterator[tuple[str, int, list[Placed]]]:
    """Each chunk's kept records placed in its split, in chunk order (one chunk's
    records held at a time)."""
    members: list[Placed] = []
    current = -1
    for rid, n, record in view.kept():
        if n != current and members:
            yield members[0].record.source, members[0].record.chunk_index, members
            members = []
        current = n
        members.append(Placed(rid, record, SPLIT_NAMES[codes[n]]))
    if members:
        yield members[0].record.source, members[0].record.chunk_index, members


def _kept_per_chunk(view: RunView, size: int) -> array[int]:
    kept = array("L", bytes(array("L").itemsize * size))
    rows = view.db.execute(
        "SELECT rr.n FROM run_records rr WHERE NOT EXISTS "
        "(SELECT 1 FROM run_rejections j WHERE j.rid = rr.rid)"
    )
    for (n,) in rows:
        kept[n] += 1
    return kept


def write_kept(
    view: RunView, path: Path, *, system_prompt: str | None, format: str = "openai"
) -> int:
    """Write the kept records to ``path``; how many were written."""
    records = (record for _, _, record in view.kept())
    return write_examples(path, records, system_prompt=system_prompt, format=format)


def write_kept_splits(
    view: RunView,
    path: Path,
    splits: ChunkSplits,
    *,
    system_prompt: str | None,
    format: str = "openai",
) -> dict[str, Path]:
    """Write the kept records into their split files (see ``write_split_stream``)."""
    return write_split_stream(
        path, splits.records(view), splits.sizes, system_prompt=system_prompt, format=format
    )


class RecordSplits:
    """Kept records with the name of their split, to read as often as needed: from a
    file run's state (``StoredRecords``) a page at a time, or from a list."""

    def __init__(
        self, sizes: dict[str, int], items: Callable[[], Iterator[tuple[str, QARecord]]]
    ) -> None:
        self.sizes = sizes
        """Records per split (every name of ``SPLIT_NAMES``)."""
        self._items = items

    def __iter__(self) -> Iterator[tuple[str, QARecord]]:
        return self._items()

    def part(self, name: str) -> Iterator[QARecord]:
        """The records of split ``name``, in order (a pass over all of them)."""
        return (record for split, record in self if split == name)

    @classmethod
    def of(
        cls,
        records: Sequence[QARecord],
        chunk_links: Sequence[tuple[str, str]],
        *,
        val_fraction: float,
        test_fraction: float,
        seed: int,
    ) -> RecordSplits:
        if isinstance(records, StoredRecords):
            stored = records
            with stored.view() as view:
                chunks = ChunkSplits.of(
                    view, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed
                )

            def read() -> Iterator[tuple[str, QARecord]]:
                with stored.view() as view:
                    yield from chunks.records(view)

            return cls(chunks.sizes, read)
        listed = list(records)
        names = assign_splits(
            listed, list(chunk_links), val_fraction=val_fraction, test_fraction=test_fraction,
            seed=seed,
        )  # fmt: skip
        sizes = {name: names.count(name) for name in SPLIT_NAMES}
        return cls(sizes, lambda: zip(names, listed, strict=True))

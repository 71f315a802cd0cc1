"""What the HTML quality report shows, gathered in memory that does not grow with the run.

The page shows at most :data:`SHOWN_DOCUMENTS` documents chunk by chunk and
:data:`SHOWN_REJECTIONS` rejected pairs; everything else is a count. So
:func:`gather_documents` keeps the chunks of the documents shown (and of the
rejections listed) and counts the rest as the records, rejections and chunks go
by: a file run's records and rejections are read from its state as they are
needed, and a run of ten million pairs needs a page as small as one of ten
thousand. Tokens per example are kept as a count of each value.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ._schema import Chunk, ChunkFailure, QARecord, Rejection
from ._stats import Stats

__all__ = [
    "SHOWN_DOCUMENTS",
    "SHOWN_REJECTIONS",
    "ChunkRef",
    "Documents",
    "ReportData",
    "gather_documents",
]

SHOWN_DOCUMENTS = 100
SHOWN_REJECTIONS = 5000


@dataclass(frozen=True)
class ChunkRef:
    """Where a chunk sits: its id, document, position, page and heading path."""

    id: str
    source: str
    index: int
    page: int | None = None
    headings: tuple[str, ...] = ()

    @classmethod
    def of(cls, chunk: Chunk) -> ChunkRef:
        return cls(chunk.id, chunk.source, chunk.index, chunk.page, chunk.headings)


@dataclass
class Documents:
    """The documents the page draws chunk by chunk, and counts of everything."""

    shown: list[tuple[str, list[ChunkRef]]]
    """The first :data:`SHOWN_DOCUMENTS` documents, each with its chunks in order."""
    count: int
    chunks: int
    kept: Counter[str]
    """Kept pairs per chunk of the documents shown."""
    rejected: Counter[str]
    failed: set[str]
    refs: dict[str, ChunkRef]
    """The chunks the page names: those shown, and those of the rejections listed."""


@dataclass
class ReportData:
    """Everything the page shows."""

    records: Sequence[QARecord]
    rejections: Sequence[Rejection] = ()
    failures: Sequence[ChunkFailure] = ()
    stats: Stats = field(default_factory=Stats)
    chunks: Iterable[ChunkRef] = ()
    """Every chunk of the run in order, when known (else the chunks that kept or
    failed something stand for them)."""
    token_counts: Mapping[int, int] = field(default_factory=dict)
    """How many examples have each number of tokens."""
    token_limit: int | None = None
    token_note: str = ""
    title: str = "Quality report"
    _documents: Documents | None = field(default=None, repr=False)

    @property
    def documents(self) -> Documents:
        """The documents and counts (gathered once, on first use)."""
        if self._documents is None:
            self._documents = gather_documents(
                self.chunks, self.records, self.rejections, self.failures
            )
        return self._documents


def gather_documents(
    chunks: Iterable[ChunkRef],
    records: Iterable[QARecord],
    rejections: Sequence[Rejection],
    failures: Sequence[ChunkFailure],
) -> Documents:
    """The documents shown and the counts, in one pass over each input (two over the
    records when ``chunks`` is empty: the documents are then those that kept or
    failed something, in name order)."""
    listed = {r.chunk_id for r in itertools.islice(rejections, SHOWN_REJECTIONS)}
    shown: dict[str, list[ChunkRef]] = {}
    refs: dict[str, ChunkRef] = {}
    sources: set[str] = set()
    count = 0
    for chunk in chunks:
        count += 1
        sources.add(chunk.source)
        if chunk.source in shown:
            shown[chunk.source].append(chunk)
        elif len(shown) < SHOWN_DOCUMENTS:
            shown[chunk.source] = [chunk]
        if chunk.id in listed:
            refs[chunk.id] = chunk
    if not count:
        shown, count, sources = _seen(records, failures)
        for ref in _refs_seen(records, failures):
            if ref.id in listed:
                refs.setdefault(ref.id, ref)
    for members in shown.values():
        members.sort(key=lambda c: c.index)
        refs.update((c.id, c) for c in members)
    wanted = {c.id for members in shown.values() for c in members}
    return Documents(
        shown=list(shown.items()),
        count=len(sources),
        chunks=count,
        kept=Counter(r.chunk_id for r in records if r.chunk_id in wanted),
        rejected=Counter(r.chunk_id for r in rejections if r.chunk_id in wanted),
        failed={f.chunk_id for f in failures},
        refs=refs,
    )


def _refs_seen(records: Iterable[QARecord], failures: Iterable[ChunkFailure]) -> Iterable[ChunkRef]:
    """A ref for each chunk a record or failure names (repeated as often as it is named)."""
    for r in records:
        yield ChunkRef(r.chunk_id, r.source, r.chunk_index, r.page)
    for f in failures:
        yield ChunkRef(f.chunk_id, f.source, f.chunk_index)


def _seen(
    records: Iterable[QARecord], failures: Sequence[ChunkFailure]
) -> tuple[dict[str, list[ChunkRef]], int, set[str]]:
    """Without the run's chunks: the first documents by name, the chunks that kept or
    failed something (the first ref of each), and how many of them there are."""
    sources: set[str] = set()
    ids: set[str] = set()
    for ref in _refs_seen(records, failures):
        sources.add(ref.source)
        ids.add(ref.id)
    chosen = set(sorted(sources)[:SHOWN_DOCUMENTS])
    first: dict[str, ChunkRef] = {}
    for ref in _refs_seen(records, failures):
        if ref.source in chosen:
            first.setdefault(ref.id, ref)
    shown: dict[str, list[ChunkRef]] = defaultdict(list)
    for ref in sorted(first.values(), key=lambda c: (c.source, c.index)):
        shown[ref.source].append(ref)
    return dict(shown), len(ids), sources

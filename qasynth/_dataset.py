"""The result of a run: kept records, failures, rejections and statistics."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

from ._errors import ConfigurationError
from ._finalize import SPLIT_FILE_NAMES, SPLIT_NAMES, assign_splits
from ._formats import example, is_parquet, provenance, write_examples, write_splits
from ._llm import DEFAULT_MODEL
from ._schema import Chunk, ChunkFailure, QARecord, Rejection
from ._stats import Stats
from ._tokens import EncodingLike
from ._writers import atomic_writer, write_jsonl

__all__ = ["Dataset", "add_into"]

T = TypeVar("T")


_Lists = tuple[list[QARecord], list[ChunkFailure], list[Rejection], list[tuple[str, str]]]


class _Sum:
    """Two datasets added, not yet read: each side a copy of a dataset's lists, or an
    earlier :class:`_Sum`. Never changed once made."""

    __slots__ = ("left", "right")

    def __init__(self, left: _Lists | _Sum, right: _Lists | _Sum) -> None:
        self.left, self.right = left, right

    def lists(self) -> _Lists:
        """Every side's items, left to right (without recursion: a stream's sum is a
        chain as long as the stream)."""
        out: _Lists = ([], [], [], [])
        stack: list[_Lists | _Sum] = [self]
        while stack:
            part = stack.pop()
            if isinstance(part, _Sum):
                stack += (part.right, part.left)
                continue
            for mine, theirs in zip(out, part, strict=True):
                mine.extend(theirs)  # type: ignore[attr-defined]
        return out


class _Listed(Generic[T]):
    """One of a Dataset's lists; reading it first works out a pending sum."""

    def __init__(self, index: int) -> None:
        self.index = index

    @overload
    def __get__(self, dataset: None, owner: type[Dataset]) -> _Listed[T]: ...
    @overload
    def __get__(self, dataset: Dataset, owner: type[Dataset]) -> list[T]: ...
    def __get__(self, dataset: Dataset | None, owner: type[Dataset]) -> list[T] | _Listed[T]:
        if dataset is None:
            return self
        return dataset._read()[self.index]  # type: ignore[return-value]

    def __set__(self, dataset: Dataset, value: list[T]) -> None:
        lists = list(dataset._read())
        lists[self.index] = value
        dataset._lists = tuple(lists)  # type: ignore[assignment]


class Dataset:
    """Kept records (in chunk order) plus everything that did not make it."""

    records: _Listed[QARecord] = _Listed(0)
    failures: _Listed[ChunkFailure] = _Listed(1)
    rejections: _Listed[Rejection] = _Listed(2)
    chunk_links: _Listed[tuple[str, str]] = _Listed(3)

    def __init__(
        self,
        records: list[QARecord],
        *,
        failures: list[ChunkFailure] | None = None,
        rejections: list[Rejection] | None = None,
        stats: Stats | None = None,
        chunk_links: list[tuple[str, str]] | None = None,
    ) -> None:
        self._lists: _Lists = (records, failures or [], rejections or [], chunk_links or [])
        self._sum: _Sum | None = None
        self.stats = stats or Stats(pairs_kept=len(records))

    def _read(self) -> _Lists:
        if self._sum is not None:
            self._lists, self._sum = self._sum.lists(), None
        return self._lists

    def _part(self) -> _Lists | _Sum:
        """This dataset as one side of a sum: its pending sum, else a copy of its lists
        (so that changing them later does not change the sum)."""
        if self._sum is not None:
            return self._sum
        return tuple(list(items) for items in self._lists)  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[QARecord]:
        return iter(self.records)

    @overload
    def __getitem__(self, index: int) -> QARecord: ...
    @overload
    def __getitem__(self, index: slice) -> list[QARecord]: ...
    def __getitem__(self, index: int | slice) -> QARecord | list[QARecord]:
        return self.records[index]

    def __add__(self, other: Dataset) -> Dataset:
        """Both datasets in one, ``self``'s items first: records, failures, rejections,
        links and summed stats. This is how the pieces :meth:`Synthesizer.stream`
        yields (one per chunk) add up to the run, as LangChain does when a streaming
        step feeds one that takes a whole input (``synth | next_step``).

        The lists are put together when first read, so adding a stream's pieces one
        at a time (``total = total + piece``) costs as much as the pieces, not the
        square of their number."""
        if not isinstance(other, Dataset):
            return NotImplemented
        total = Dataset([], stats=self.stats + other.stats)
        total._sum = _Sum(self._part(), other._part())
        return total

    def __repr__(self) -> str:
        return (
            f"Dataset({len(self.records)} records, {len(self.failures)} failed chunks, "
            f"{len(self.rejections)} rejected pairs)"
        )

    def to_jsonl(
        self, path: str | Path, *, system_prompt: str | None = None, format: str = "openai"
    ) -> Path:
        """Write the records as JSONL, atomically: ``format`` is ``"openai"`` (chat
        messages, the default), ``"alpaca"`` or ``"sharegpt"`` (see the Output formats page)."""
        write_examples(path, self.records, system_prompt=system_prompt, format=format)
        return Path(path)

    def to_parquet(
        self, path: str | Path, *, system_prompt: str | None = None, format: str = "openai"
    ) -> Path:
        """Write the records as Parquet: the ``format``'s columns (``messages`` for
        ``"openai"``) plus the provenance columns ``source``, ``theme``, ``page``,
        ``chunk_id``, ``chunk_index``, ``origin`` and ``derived_from``.

        Needs ``pyarrow`` (``pip install "qasynth[parquet]"``). A ``path`` without
        the ``.parquet`` suffix gets it; the path written is returned.
        """
        target = Path(path)
        if not is_parquet(target):
            target = target.with_name(target.name + ".parquet")
        write_examples(target, self.records, system_prompt=system_prompt, format=format)
        return target

    def provenance_to_jsonl(self, path: str | Path) -> Path:
        """Write each record's provenance, one line per record in the order of the
        data file (source, theme, page, chunk id and index, origin, derived_from)."""
        write_jsonl(path, (provenance(r) for r in self.records))
        return Path(path)

    def to_hf_dataset(
        self,
        *,
        system_prompt: str | None = None,
        format: str = "openai",
        val_fraction: float = 0.0,
        test_fraction: float = 0.0,
        seed: int = 0,
    ) -> Any:
        """The records as a Hugging Face ``datasets.Dataset`` (the ``format``'s columns
        plus provenance columns), or a ``DatasetDict`` of the non-empty ``train``,
        ``validation`` and ``test`` splits when a fraction is given.

        Needs ``datasets`` (``pip install "qasynth[hf]"``).
        """
        try:
            import datasets  # optional: qasynth[hf]
        except ImportError as exc:
            raise ConfigurationError(
                'to_hf_dataset needs the datasets package; run: pip install "qasynth[hf]" '
                "(or write JSONL with to_jsonl and load that)"
            ) from exc

        def table(records: list[QARecord]) -> Any:
            rows = [
                {**example(r, system_prompt=system_prompt, format=format), **provenance(r)}
                for r in records
            ]
            return datasets.Dataset.from_list(rows)

        if not val_fraction and not test_fraction:
            return table(self.records)
        parts = self.split(val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
        return datasets.DatasetDict(
            {SPLIT_FILE_NAMES[name]: table(part) for name, part in parts.items() if part}
        )

    def split(
        self, *, val_fraction: float = 0.0, test_fraction: float = 0.0, seed: int = 0
    ) -> dict[str, list[QARecord]]:
        """Records split into train/val/test by chunk, deterministically for ``seed``.

        A chunk's records, its paraphrases and translations, and chunks linked by
        near-duplicates always land on the same side.
        """
        names = assign_splits(
            self.records, self.chunk_links, val_fraction=val_fraction,
            test_fraction=test_fraction, seed=seed,
        )  # fmt: skip
        parts: dict[str, list[QARecord]] = {name: [] for name in SPLIT_NAMES}
        for record, name in zip(self.records, names, strict=True):
            parts[name].append(record)
        return parts

    def to_jsonl_splits(
        self,
        path: str | Path,
        *,
        val_fraction: float = 0.0,
        test_fraction: float = 0.0,
        seed: int = 0,
        system_prompt: str | None = None,
        format: str = "openai",
    ) -> dict[str, Path]:
        """Write the splits into a folder named after ``path``: for ``OUT.jsonl``,
        ``OUT/train.jsonl``, ``OUT/validation.jsonl`` and ``OUT/test.jsonl``
        (``.parquet`` files when ``path`` ends in ``.parquet``).

        ``datasets.load_dataset("OUT")`` loads exactly these splits. A split with
        no records is not written (and an earlier run's file for it is removed);
        the result maps the written splits (``"train"``, ``"val"``, ``"test"``) to
        their paths.
        """
        parts = self.split(val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
        return write_splits(path, parts, system_prompt=system_prompt, format=format)

    def write_report(
        self,
        path: str | Path,
        *,
        chunks: Iterable[Chunk] | None = None,
        system_prompt: str | None = None,
        encoding: EncodingLike | None = None,
        model: str | None = None,
    ) -> Path:
        """Write the quality report: a self-contained HTML page when ``path`` ends in
        ``.html`` (charts of kept and rejected pairs, tokens per example against
        ``model``'s limit, pairs along each document, a filterable table of rejected
        pairs), else JSON (counts by reason with examples).

        Pass the run's ``chunks`` (``Synthesizer.iter_chunks(docs)``) to show the
        chunks that gave no pairs at all; without them the page knows only the
        chunks that kept or failed something.
        """
        from ._html_report import write_html_report  # imports Dataset's module
        from ._report import QualityReport

        if Path(path).suffix.lower() in (".html", ".htm"):
            return write_html_report(
                path, records=self.records, rejections=self.rejections,
                failures=self.failures, stats=self.stats, chunks=chunks,
                system_prompt=system_prompt, encoding=encoding, model=model or DEFAULT_MODEL,
            )  # fmt: skip
        with atomic_writer(path) as handle:
            json.dump(QualityReport.of(self).to_dict(), handle, ensure_ascii=False, indent=2)
            handle.write("\n")
        return Path(path)

    def failures_to_jsonl(self, path: str | Path) -> Path:
        """Write failed chunks (id, source, reason, raw model output) as JSONL."""
        write_jsonl(path, (f.to_dict() for f in self.failures))
        return Path(path)

    def records_to_jsonl(self, path: str | Path) -> Path:
        """Write the records with their provenance (one object per line)."""
        write_jsonl(path, (r.to_dict() for r in self.records))
        return Path(path)


def add_into(total: Dataset, piece: Dataset) -> None:
    """Add ``piece`` into ``total`` in place: ``total`` becomes ``total + piece``
    without its lists being copied, so adding up a run's pieces one at a time costs
    as much as the pieces (``+`` copies both sides each time). ``piece`` is unchanged."""
    total.records.extend(piece.records)
    total.failures.extend(piece.failures)
    total.rejections.extend(piece.rejections)
    total.stats = total.stats + piece.stats
    total.chunk_links.extend(piece.chunk_links)

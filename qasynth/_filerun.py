"""Resumable, exactly-once runs that write a JSONL file.

Results stream into the run's SQLite store (:mod:`qasynth._runs`) as chunks
finish, so memory stays bounded and a crash loses only the chunks in flight.
Running the same call again continues with the unfinished chunks only. At the
end the records are read back in chunk order and finished exactly as an
in-memory run is (:func:`qasynth._finish.finish`), so the file holds every
record exactly once and matches an uninterrupted run line for line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._chunk import ChunkResult
from ._dataset import Dataset
from ._errors import OutputError
from ._finish import finish
from ._lock import RunLock
from ._runs import RunState, failures_path_for, state_path_for
from ._schema import Chunk, ChunkFailure, QARecord, Rejection
from ._stats import Stats
from ._writers import write_jsonl
from .checks._contract import Check

__all__ = ["RunReport", "SplitOptions", "run_to_file"]

Results = Callable[[Callable[[Chunk], bool], Stats], AsyncIterator[ChunkResult]]
"""Runs the chunks that ``skip`` does not leave out, yielding each result."""


@dataclass
class RunReport:
    """What a file run produced and where."""

    output: Path
    failures_path: Path | None
    state_path: Path
    records_written: int
    stats: Stats
    failures: list[ChunkFailure] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    split_paths: dict[str, Path] = field(default_factory=dict)
    records: list[QARecord] = field(default_factory=list)
    """The kept records (in chunk order), with their provenance."""
    chunk_links: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class SplitOptions:
    """Train/val/test fractions for a file run (split by chunk; see ``Dataset.split``)."""

    val_fraction: float = 0.0
    test_fraction: float = 0.0
    seed: int = 0


async def run_to_file(
    results: Results,
    output: Path,
    *,
    fingerprint: dict[str, Any],
    checks: Sequence[Check],
    system_prompt: str | None = None,
    restart: bool = False,
    retry_failed: bool = False,
    splits: SplitOptions | None = None,
    secrets: Sequence[str] = (),
) -> RunReport:
    """Run resumably into ``output``; with ``splits``, write the split files instead.

    One run per output at a time (a lock beside it). Chunks that failed for good
    are tried again with ``retry_failed``; chunks whose transient errors (429,
    5xx, timeouts) outlasted their retries are tried again by any rerun."""
    with RunLock(output):
        dataset, stats = await _run(
            results, output, fingerprint=fingerprint, checks=checks, restart=restart,
            retry_failed=retry_failed, secrets=secrets,
        )  # fmt: skip
        return _write(dataset, stats, output, system_prompt=system_prompt, splits=splits)


async def _run(
    results: Results,
    output: Path,
    *,
    fingerprint: dict[str, Any],
    checks: Sequence[Check],
    restart: bool,
    retry_failed: bool,
    secrets: Sequence[str],
) -> tuple[Dataset, Stats]:
    state = RunState(state_path_for(output), restart=restart, secrets=secrets)
    try:
        state.check_fingerprint(fingerprint, restart=restart)
        statuses = state.statuses()
        seen: set[str] = set()

        def skip(chunk: Chunk) -> bool:
            seen.add(chunk.id)
            status = statuses.get(chunk.id)
            return status == "done" or (status == "failed" and not retry_failed)

        stats = Stats()
        async for result in results(skip, stats):
            state.save(result)
            result.add_to(stats)
        failures = list(state.iter_failures(seen))
        dataset = finish(
            state.iter_records(seen),
            checks,
            rejections=state.iter_rejections(seen),
            failures=failures,
            stats=stats,
        )
    finally:
        state.close()
    return dataset, stats


def _write(
    dataset: Dataset,
    stats: Stats,
    output: Path,
    *,
    system_prompt: str | None,
    splits: SplitOptions | None,
) -> RunReport:
    written: dict[str, Path] = {}
    failures, failures_path = dataset.failures, failures_path_for(output)
    try:
        if splits is None:
            dataset.to_jsonl(output, system_prompt=system_prompt)
        else:
            written = dataset.to_jsonl_splits(
                output, val_fraction=splits.val_fraction, test_fraction=splits.test_fraction,
                seed=splits.seed, system_prompt=system_prompt,
            )  # fmt: skip
        if failures:
            write_jsonl(failures_path, (f.to_dict() for f in failures))
        elif failures_path.exists():
            failures_path.unlink()
    except OSError as exc:
        where = exc.filename or output
        raise OutputError(
            f"cannot write {where}: {exc.strerror or exc}; every finished chunk is kept in "
            f"{state_path_for(output)}: free some space or fix the folder's permissions, then "
            "run the same command again",
            path=where,
        ) from None
    return RunReport(
        output=output,
        failures_path=failures_path if failures else None,
        state_path=state_path_for(output),
        records_written=len(dataset),
        stats=stats,
        failures=list(failures),
        rejections=dataset.rejections,
        split_paths=written,
        records=dataset.records,
        chunk_links=dataset.chunk_links,
    )

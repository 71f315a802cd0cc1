"""Resumable, exactly-once runs that write a JSONL file.

Results stream into the run's SQLite store (:mod:`qasynth._runs`) as chunks
finish, so memory stays bounded and a crash loses only the chunks in flight.
Running the same call again continues with the unfinished chunks only. At the
end the run checks go through the stored records in chunk order
(:mod:`qasynth._runcontext`) and decide what an in-memory run decides
(:func:`qasynth._finish.finish`), and the kept records are written from the
state in one pass (:mod:`qasynth._runwrite`): the file holds every record
exactly once and matches an uninterrupted run line for line, and memory does
not grow with the number of pairs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._chunk import ChunkResult
from ._errors import OutputError
from ._lock import RunLock
from ._runcontext import StoredRunContext
from ._runs import RunState, failures_path_for, output_error, state_path_for
from ._runview import RunView, StoredLinks, StoredRecords, StoredRejections
from ._runwrite import ChunkSplits, write_kept, write_kept_splits
from ._schema import Chunk, ChunkFailure, QARecord, Rejection
from ._stats import Stats
from ._writers import write_jsonl
from .checks._contract import Check

__all__ = ["RunReport", "SplitOptions", "run_to_file"]

Results = Callable[[Callable[[Chunk], bool], Stats, RunState], AsyncIterator[ChunkResult]]
"""Runs the chunks that ``skip`` does not leave out, yielding each result; counts in the
given stats, and keeps its chunks' replies in the given state until each chunk is saved."""


@dataclass
class RunReport:
    """What a file run produced and where.

    ``records``, ``rejections`` and ``chunk_links`` are sequences read from the
    run's state file whenever they are used (``len`` is free; iterating streams;
    ``list(report.records)`` makes a list), so a run of millions of pairs hands
    back no more than a run of ten; they stay valid until the next run into the
    same output changes the state."""

    output: Path
    failures_path: Path | None
    state_path: Path
    records_written: int
    stats: Stats
    failures: list[ChunkFailure] = field(default_factory=list)
    rejections: Sequence[Rejection] = field(default_factory=list)
    split_paths: dict[str, Path] = field(default_factory=dict)
    records: Sequence[QARecord] = field(default_factory=list)
    """The kept records (in chunk order), with their provenance."""
    chunk_links: Sequence[tuple[str, str]] = field(default_factory=list)


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
        state = RunState(state_path_for(output), restart=restart, secrets=secrets)
        try:
            state.check_fingerprint(fingerprint, restart=restart)

            def skip(chunk: Chunk) -> bool:
                state.mark_seen(chunk.id)
                status = state.status(chunk.id)
                return status == "done" or (status == "failed" and not retry_failed)

            stats = Stats()
            async for result in results(skip, stats, state):
                state.save(result)
                result.add_to(stats)
            return _finish(state, checks, stats, output, system_prompt=system_prompt, splits=splits)
        finally:
            state.close()


def _finish(
    state: RunState,
    checks: Sequence[Check],
    stats: Stats,
    output: Path,
    *,
    system_prompt: str | None,
    splits: SplitOptions | None,
) -> RunReport:
    """The run checks over the stored records, then the files, streamed from the state
    (what :func:`qasynth._finish.finish` does for an in-memory run)."""
    state.prepare_finish()
    view = RunView(state.db)
    try:
        ctx = StoredRunContext(view)
        for check in checks:
            if check.scope == "run":
                check.check_run(ctx)
        state.db.commit()
    except sqlite3.OperationalError as exc:
        raise output_error(state.path, exc) from None
    stats.calls_by_kind.update(ctx.calls)
    stats.model_calls += sum(ctx.calls.values())
    stats.rejections = view.rejection_reasons()
    stats.pairs_kept = kept = view.kept_count()
    failures = view.failures()
    written = _write(view, output, failures, system_prompt=system_prompt, splits=splits)
    finish_id = view.finish_id()  # the report's sequences read this finish, no later one
    return RunReport(
        output=output,
        failures_path=failures_path_for(output) if failures else None,
        state_path=state.path,
        records_written=kept,
        stats=stats,
        failures=failures,
        rejections=StoredRejections(state.path, view.rejection_count(), finish_id),
        split_paths=written,
        records=StoredRecords(state.path, kept, finish_id),
        chunk_links=StoredLinks(state.path, view.link_count(), finish_id),
    )


def _write(
    view: RunView,
    output: Path,
    failures: list[ChunkFailure],
    *,
    system_prompt: str | None,
    splits: SplitOptions | None,
) -> dict[str, Path]:
    written: dict[str, Path] = {}
    failures_path = failures_path_for(output)
    try:
        if splits is None:
            write_kept(view, output, system_prompt=system_prompt)
        else:
            parts = ChunkSplits.of(
                view, val_fraction=splits.val_fraction, test_fraction=splits.test_fraction,
                seed=splits.seed,
            )  # fmt: skip
            written = write_kept_splits(view, output, parts, system_prompt=system_prompt)
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
    return written

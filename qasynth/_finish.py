"""The end of a run: run-scope checks over every record in chunk order.

Both the in-memory path and the resumable file path finish here, so a run
gives the same records whichever way it was made.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from ._dataset import Dataset
from ._errors import CheckError, QasynthError
from ._schema import ChunkFailure, QARecord, Rejection
from ._stats import Stats
from .checks._contract import Check, RunContext

__all__ = ["finish"]


def finish(
    records: Iterable[QARecord],
    checks: Sequence[Check],
    *,
    rejections: Iterable[Rejection] = (),
    failures: Iterable[ChunkFailure] = (),
    stats: Stats | None = None,
) -> Dataset:
    """Apply the run-scope checks, in order, to records in chunk order, and build the
    :class:`Dataset` (``rejections`` and ``failures`` are the chunks' own)."""
    ctx = RunContext(list(records))
    error: CheckError | None = None
    for check in checks:
        if check.scope != "run":
            continue
        try:
            check.check_run(ctx)
        except QasynthError:
            raise
        except Exception as exc:  # a bug in the check: the records so far are the partial
            error = CheckError(
                f"run check {check.name!r} ({type(check).__name__}) failed: "
                f"{type(exc).__name__}: {exc}"
            )
            error.__cause__ = exc
            break
    kept = ctx.records
    stats = stats if stats is not None else Stats()
    stats.calls_by_kind.update(ctx.calls)
    stats.model_calls += sum(ctx.calls.values())
    all_rejections = [*rejections, *ctx.rejections]
    stats.rejections = Counter(r.reason for r in all_rejections)
    stats.pairs_kept = len(kept)
    dataset = Dataset(
        kept,
        failures=list(failures),
        rejections=all_rejections,
        stats=stats,
        chunk_links=[(a.chunk_id, b.chunk_id) for a, b in ctx.links if a.chunk_id != b.chunk_id],
    )
    if error is not None:
        error.partial = dataset
        raise error
    return dataset

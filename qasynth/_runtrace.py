"""The one trace of a run: a parent run that every model call of a synthesis nests under.

:func:`traced` starts it from the run's ``RunnableConfig`` (with a short description
of the inputs, never whole documents) and ends it with the output the run sets, or
with the error that ended the run.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig, ensure_config, patch_config
from langchain_core.runnables.config import get_async_callback_manager_for_config

__all__ = ["RunTrace", "traced"]


@dataclass
class RunTrace:
    """The one parent run of a synthesis, as the code inside it sees it."""

    config: RunnableConfig
    """The config of everything the run does (their runs nest under this one)."""
    listened: bool
    """Whether a callback handler sees the run (else its output goes nowhere)."""
    output: Any = None
    """What the run's end reports: the run sets it before it ends."""


@contextlib.asynccontextmanager
async def traced(
    runnable: Runnable[Any, Any], config: RunnableConfig | None, inputs: Any
) -> AsyncIterator[RunTrace]:
    """One parent run for everything a synthesis does; its end reports the
    ``output`` the block sets on the :class:`RunTrace` it yields."""
    config = ensure_config(config)
    manager = get_async_callback_manager_for_config(config)
    run = await manager.on_chain_start(
        None,
        {"inputs": _describe_inputs(inputs)},
        name=config.get("run_name") or runnable.get_name(),
        run_id=config.pop("run_id", None),
    )
    trace = RunTrace(patch_config(config, callbacks=run.get_child()), bool(run.handlers))
    try:
        yield trace
    except BaseException as exc:
        await run.on_chain_error(exc)
        raise
    else:
        await run.on_chain_end(trace.output)


def _describe_inputs(inputs: Any) -> Any:
    """A short, trace-friendly description of the inputs (never whole documents)."""
    items = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    out = []
    for item in items[:20]:
        text = str(getattr(item, "metadata", {}).get("source", "") or item)
        out.append(text if len(text) <= 200 else text[:199] + "…")
    return out

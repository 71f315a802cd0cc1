"""Running qasynth's coroutines from synchronous code.

Sync entry points (``synthesize``, ``Synthesizer.run``) run their coroutine on
one private event loop in a daemon thread, started on first use (never at
import). A fresh loop per call (``asyncio.run``) would break clients that cache
connections bound to the loop they were made in — langchain-openai keeps one
process-wide async HTTP client, so a second ``synthesize`` call would fail with
"Event loop is closed". The private loop also works when the caller is already
inside a running loop (Jupyter).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="qasynth-loop", daemon=True)
            thread.start()
            _loop = loop
        return _loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on the private loop and return its result.

    On KeyboardInterrupt the coroutine is cancelled, and given up to 10 s to close
    its files, state and progress bar, before the interrupt is raised again (so
    nothing is printed after the command's last message).
    """
    started, finished = threading.Event(), threading.Event()

    async def watched() -> T:
        started.set()
        try:
            return await coro
        finally:
            finished.set()

    future = asyncio.run_coroutine_threadsafe(watched(), _background_loop())
    try:
        return future.result()
    except KeyboardInterrupt:
        future.cancel()
        if started.is_set():  # else it never runs: nothing to wait for
            finished.wait(timeout=10)
        raise
    except concurrent.futures.CancelledError:
        raise KeyboardInterrupt from None

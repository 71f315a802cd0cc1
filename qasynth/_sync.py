"""Running qasynth's coroutines from synchronous code.

Sync entry points (``synthesize``, ``Synthesizer.run``) run their coroutine on
one private event loop in a daemon thread, started on first use (never at
import). A fresh loop per call (``asyncio.run``) would break clients that cache
connections bound to the loop they were made in — langchain-openai keeps one
process-wide async HTTP client, so a second ``synthesize`` call would fail with
"Event loop is closed". The private loop also works when the caller is already
inside a running loop (Jupyter).

A sync stream (``Synthesizer.stream``) pulls each piece through the same loop. One
left open when the program ends (neither finished nor closed) is closed before the
interpreter shuts down, which stops its run; closing it later, as the interpreter
clears its objects, would wait forever on the loop's thread, which no longer runs.

Ctrl-C during a run that saves its results (a file run) stops it gently: the run
starts nothing more and finishes the chunks it started, whose requests are already
paid for (see :class:`StopRequest`); a second Ctrl-C stops it at once. Any other
run stops at once.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import contextvars
import sys
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterator
from typing import Any, TypeVar

__all__ = ["StopRequest", "iterate_sync", "run_sync", "stop_request"]

T = TypeVar("T")


class StopRequest:
    """A gentle stop of one sync run, asked for by its first Ctrl-C.

    A run that can stop gently (it starts nothing more, finishes what it started and
    then ends as an interruption) listens while it runs; without a listener, Ctrl-C
    cancels the run at once. Used on the run's event loop only."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []
        self.requested = False

    @property
    def listening(self) -> bool:
        """Whether a run is listening (read from the thread that caught the Ctrl-C)."""
        return bool(self._listeners)

    def listen(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` when a stop is asked for; returns what stops listening."""
        self._listeners.append(callback)
        if self.requested:
            callback()

        def forget() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return forget

    def fire(self) -> None:
        if not self.requested:
            self.requested = True
            for callback in list(self._listeners):
                callback()


_stop_request: contextvars.ContextVar[StopRequest | None] = contextvars.ContextVar(
    "qasynth_stop_request", default=None
)


def stop_request() -> StopRequest | None:
    """The stop request of the sync run this code runs in (``None`` in async use)."""
    return _stop_request.get()


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
            atexit.register(_shut_down, loop)
        return _loop


def _shut_down(loop: asyncio.AbstractEventLoop) -> None:
    """At exit (while the loop's thread still runs): finalize the loop's async
    generators, as ``asyncio.run`` does at its end. This closes the HTTP clients its
    runs shared (see ``_llm._close_with_loop``) and any stream left open."""
    if loop.is_closed() or not loop.is_running():
        return
    with contextlib.suppress(Exception):
        asyncio.run_coroutine_threadsafe(loop.shutdown_asyncgens(), loop).result(timeout=5)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on the private loop and return its result.

    On KeyboardInterrupt a run that listens to its :class:`StopRequest` is asked to
    stop gently and waited for; a second KeyboardInterrupt, or the first for any
    other run, cancels the coroutine, which is given up to 10 s to close its files,
    state and progress bar, before the interrupt is raised again (so nothing is
    printed after the command's last message).
    """
    started, finished = threading.Event(), threading.Event()
    request = StopRequest()

    async def watched() -> T:
        started.set()
        _stop_request.set(request)  # this task's context: the run and the tasks it starts
        try:
            return await coro
        finally:
            finished.set()

    loop = _background_loop()
    future = asyncio.run_coroutine_threadsafe(watched(), loop)
    try:
        return future.result()
    except KeyboardInterrupt:
        if request.listening:
            loop.call_soon_threadsafe(request.fire)
            try:
                return future.result()  # the run ends itself, as an interruption
            except KeyboardInterrupt:
                pass  # a second Ctrl-C: stop now
            except concurrent.futures.CancelledError:
                raise KeyboardInterrupt from None
        future.cancel()
        if started.is_set():  # else it never runs: nothing to wait for
            finished.wait(timeout=10)
        raise
    except concurrent.futures.CancelledError:
        raise KeyboardInterrupt from None


_open_streams: weakref.WeakSet[Generator[Any, None, None]] = weakref.WeakSet()
_closes_at_exit = False


def iterate_sync(agen: AsyncIterator[T]) -> Iterator[T]:
    """Iterate an async iterator from sync code, each step on the private loop. The
    iterator is closed (``aclose``) when the sync one is closed, finished or dropped,
    or at the latest when the program ends."""
    global _closes_at_exit
    pieces = _pieces(agen)
    with _lock:
        _open_streams.add(pieces)
        if not _closes_at_exit:
            atexit.register(_close_open_streams)
            _closes_at_exit = True
    return pieces


def _pieces(agen: AsyncIterator[T]) -> Generator[T, None, None]:
    done = object()

    async def next_piece() -> Any:
        try:
            return await agen.__anext__()
        except StopAsyncIteration:
            return done

    async def close() -> None:
        aclose = getattr(agen, "aclose", None)
        if aclose is not None:
            await aclose()

    try:
        while (piece := run_sync(next_piece())) is not done:
            yield piece
    finally:
        if not sys.is_finalizing():  # else the loop's thread is stopped: it would hang
            with contextlib.suppress(Exception):
                run_sync(close())


def _close_open_streams() -> None:
    """At exit (while the loop's thread still runs): close the streams left open."""
    for stream in list(_open_streams):
        with contextlib.suppress(Exception):
            stream.close()

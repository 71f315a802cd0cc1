"""The run loop: every chunk of a run through the chunk runner, a few at a time.

:func:`chunk_results` reads the inputs, splits them while the first chunks are
already in progress, keeps up to ``concurrency`` chunks in progress, and yields
each chunk's result as soon as it is finished. It also decides what a run that
must stop keeps: after an error that holds for every request, after an
interruption, and after a gentle stop.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from ._chunk import ChunkResult, ChunkRunner
from ._errors import CheckError, ModelError
from ._progress import Progress
from ._splitchild import Splitter
from ._sync import stop_request

if TYPE_CHECKING:
    from langchain_core.documents import Document
    from langchain_core.runnables import RunnableConfig

    from ._batch import BatchRun
    from ._calls import ModelCaller, ReplyStore
    from ._pipeline import Inputs, Synthesizer
    from ._schema import Chunk
    from ._splitchild import SplitSettings
    from ._stats import Stats

__all__ = ["DRAIN_SECONDS", "INTERRUPT_GRACE", "chunk_results"]

logger = logging.getLogger("qasynth")

DRAIN_SECONDS = 15.0
"""How long a run that must stop waits for the chunks in flight, to keep what they made."""
INTERRUPT_GRACE = 5.0
"""Seconds an interrupted file run gives the chunks whose replies came back to be
checked and saved (the command waits up to 10 s for a run to close)."""


async def chunk_results(
    synth: Synthesizer,
    docs: Inputs,
    config: RunnableConfig,
    stats: Stats,
    skip: Callable[[Chunk], bool] | None = None,
    batch: BatchRun | None = None,
    keep_paid: bool = False,
    replies: ReplyStore | None = None,
) -> AsyncIterator[ChunkResult]:
    """Each chunk's result as soon as it is finished (not in order).

    Every input is read before the first model call, so a bad file costs nothing;
    the first chunks start while the rest is split (see :class:`_Feed`; a batch
    run splits everything first). At most ``concurrency``
    chunks are in progress at once; ``skip`` leaves out chunks (a resumed
    run's finished ones), counted in ``stats.chunks_resumed``. With ``batch``, the
    chunks' generation replies come from the Batch API first (see ``qasynth._batch``).
    With ``keep_paid`` (a run that saves each result), an interrupted run (its
    task cancelled, as Ctrl-C does) still yields what finished and, given up to
    :data:`INTERRUPT_GRACE` seconds, the chunks whose replies came back. Such a
    run also stops gently when its sync caller asks (a first Ctrl-C, see
    :class:`~qasynth._sync.StopRequest`): it starts no more chunks, finishes the
    ones in progress (their requests are paid for), then ends as if cancelled.
    """
    run = await _Run.start(synth, docs, config, stats, skip, batch, replies)
    request = stop_request() if keep_paid else None
    forget = request.listen(run.stop) if request is not None else _nothing
    try:
        try:
            while True:
                # what finished first (an error that stops the run starts nothing more)
                for result in _results_of(run.take_finished()):
                    run.progress.advance()
                    yield result  # saved before an error of the same batch is raised
                if run.finished:  # more finished meanwhile: look at them before starting any
                    continue
                if not await run.next_round():  # and nothing more to start
                    break
            run.feed.raise_error()  # a split that failed, once what it started is saved
            if run.stopping:  # every chunk in progress finished and was saved
                raise asyncio.CancelledError
        except Exception as exc:  # a model or check error, or a bug: keep what is paid for
            logger.error("the run stops: %s", exc if isinstance(exc, _EXPECTED) else repr(exc))
            for result in await run.drain(synth.limits.timeout):
                run.progress.advance()
                yield result
            raise
        except asyncio.CancelledError:
            if not keep_paid:
                raise
            for result in await run.interrupted():
                run.progress.advance()
                yield result
            raise
    finally:
        forget()
        await run.aclose()


class _Run:
    """The chunks of one run: those still to start, those in progress, those finished."""

    def __init__(
        self,
        runner: ChunkRunner,
        caller: ModelCaller,
        progress: Progress,
        feed: _Feed,
        config: RunnableConfig,
        concurrency: int,
    ) -> None:
        self.runner, self.caller, self.progress, self.feed = runner, caller, progress, feed
        self.config = config
        # The chunks in progress, each with the result it fills in (its usage so far).
        # Finished tasks queue up in ``finished`` (a done callback), so each chunk costs
        # the same at any concurrency: no wait over every task in flight per result.
        self.pending: dict[asyncio.Task[ChunkResult], ChunkResult] = {}
        self.finished: collections.deque[asyncio.Task[ChunkResult]] = collections.deque()
        self.wake = asyncio.Event()
        caller.on_waiting_change = runner.offload.on_change = self.wake.set
        self.concurrency = concurrency
        feed.wake = self.wake.set
        self.more = True
        self.stopping = False

    @classmethod
    async def start(
        cls,
        synth: Synthesizer,
        docs: Inputs,
        config: RunnableConfig,
        stats: Stats,
        skip: Callable[[Chunk], bool] | None,
        batch: BatchRun | None,
        replies: ReplyStore | None,
    ) -> _Run:
        """A run with every chunk of ``docs`` but the skipped ones still to start: its
        first chunks start while the rest of the inputs is still being split (a batch
        run's once they all are)."""
        runner, caller, documents = await _read(synth, docs, stats, early=batch is None)
        feed = _Feed(skip, stats)
        try:
            feed.start(synth.iter_chunks_of, documents, synth.split_settings())
            del documents  # the feed holds each one until it is split
            if batch is not None:  # a wait of hours, maybe ended by Ctrl-C
                await feed.finished()
                batched = await batch.caller(caller, list(feed.todo))
                await runner.aclose()  # its workers never started: the batch's runner checks
                runner, caller = synth.runner(batched), batched
        except BaseException:
            await feed.aclose()
            await runner.aclose()
            await caller.aclose()
            raise
        caller.reply_store = replies  # a file run keeps each chunk's replies until it is saved
        progress = Progress(None, enabled=synth.progress)
        caller.on_wait = progress.waiting

        def split_so_far(documents: int, total: int, chunks: int) -> None:
            progress.splitting(documents, total, chunks)
            runner.offload.planned_so_far(feed.planned)

        feed.on_split = split_so_far

        def planned() -> None:  # every input is split: the run's size is known
            runner.offload.plan(feed.planned)
            progress.set_total(feed.planned, resumed=feed.resumed)

        feed.when_done(planned)
        return cls(runner, caller, progress, feed, config, synth.limits.concurrency)

    def _on_done(self, task: asyncio.Task[ChunkResult]) -> None:
        self.pending.pop(task, None)
        self.finished.append(task)
        self.wake.set()

    def stop(self) -> None:
        """Start nothing more; finish the chunks in progress."""
        self.more, self.stopping = False, True
        self.caller.stopping = True  # and send no request that nothing paid for needs
        self.progress.stopping(len(self.pending))
        self.wake.set()

    def take_finished(self) -> list[asyncio.Task[ChunkResult]]:
        """The tasks finished so far (the queue is emptied)."""
        done = list(self.finished)
        self.finished.clear()
        return done

    async def next_round(self) -> bool:
        """Start chunks while there is room, then wait until something changes;
        ``False`` (at once) when nothing is in progress and nothing more is to start."""
        self._start_more()
        if not self.pending and not self.more:
            return False
        self.wake.clear()  # (nothing in progress: the next chunks are being split)
        await self.wake.wait()
        return True

    def _start_more(self) -> None:
        # a chunk waiting out a Retry-After, replied and waiting for its turn
        # (see Turns), or checked in a worker process holds no request slot:
        # start another
        idle = min(self.concurrency, self.caller.waiting + self.runner.offload.in_workers)
        while self.more and len(self.pending) < self.concurrency + idle:
            item = self.feed.take()
            if item is None:  # none split yet, or none left
                if self.feed.exhausted:
                    self.more = False
                    self.runner.offload.draining = True  # the last round
                break
            result = ChunkResult(seq=item[0], chunk=item[1])
            task = asyncio.create_task(self.runner.process(item[1], item[0], self.config, result))
            self.pending[task] = result
            task.add_done_callback(self._on_done)

    async def drain(self, timeout: float) -> list[ChunkResult]:
        """What a run that must stop keeps: replies already on their way are paid for,
        so the chunks in flight get a moment (at most ``timeout`` seconds and
        :data:`DRAIN_SECONDS`) to finish; the results of those that did."""
        if self.pending:
            grace = min(timeout, DRAIN_SECONDS)
            await asyncio.wait(set(self.pending), timeout=grace)
        return _kept(self.finished)

    async def interrupted(self) -> list[ChunkResult]:
        """What an interrupted run keeps: what finished, and the chunks whose replies
        came back (paid for), given :data:`INTERRUPT_GRACE` seconds to be checked; the
        rest stop now."""
        paid = {task for task, result in self.pending.items() if result.usage.calls}
        await _cancel(set(self.pending) - paid)
        if paid:
            await asyncio.wait(paid, timeout=INTERRUPT_GRACE)
        return _kept(self.finished)

    async def aclose(self) -> None:
        """Cancel the chunks still in progress, then close the runner, the caller and
        the progress display."""
        await _cancel(set(self.pending))
        await self.feed.aclose()
        await self.runner.aclose()
        await self.caller.aclose()
        self.progress.close()


async def _read(
    synth: Synthesizer, docs: Inputs, stats: Stats, *, early: bool
) -> tuple[ChunkRunner, ModelCaller, list[Document]]:
    """The run's runner and caller, and every document of ``docs`` that holds text, all
    read before the first model call, so a file that cannot be read costs nothing (the
    runner and the caller are closed when reading fails). ``early``: workers asked for
    by number load meanwhile."""
    runner = synth.runner(caller := synth.make_caller())  # no key: fails before any work
    for check in synth.checks:
        check.prepare()  # a check's own key or package: fails before any work too
    try:
        if early:
            await runner.offload.start_early()
        documents = await asyncio.to_thread(lambda: list(synth.iter_texts(docs, stats=stats)))
    except BaseException:
        await runner.aclose()
        await caller.aclose()
        raise
    return runner, caller, documents


_EXPECTED = (ModelError, CheckError)
"""Errors whose message says it all (anything else is logged with its type)."""


class _Feed:
    """A run's chunks, split in a thread one document after another, each document's
    chunks handed to the run loop as soon as they are ready, a long document's a few
    at a time (requests go out while the rest is split: 400 chunks take about half a
    second to split, a single 40 MB document about seven).

    ``todo`` holds the chunks to start, numbered in input order, without the skipped
    ones (counted in ``stats.chunks_resumed``); ``planned`` and ``resumed`` count
    them as they come, and are final once the split is done (:meth:`when_done`)."""

    def __init__(self, skip: Callable[[Chunk], bool] | None, stats: Stats) -> None:
        self.todo: collections.deque[tuple[int, Chunk]] = collections.deque()
        self.planned = self.resumed = 0
        self.done = False
        self.wake: Callable[[], None] = _nothing
        self.on_split: Callable[[int, int, int], None] = _nothing_split
        """Called with the documents split so far, all of them and the chunks so far,
        at each handover."""
        self._documents = self._split_so_far = 0
        self._skip, self._stats, self._seq = skip, stats, 0
        self._error: BaseException | None = None
        self._on_done: Callable[[], None] = _nothing
        self._splitter: Splitter | None = None
        self._task: asyncio.Future[None] | None = None

    def _stop(self) -> None:
        if self._splitter is not None:
            self._splitter.stop()

    def start(
        self,
        chunks_of: Callable[[Document], Iterable[Chunk]],
        documents: list[Document],
        settings: SplitSettings | None = None,
    ) -> None:
        """Split ``documents`` in a thread (each is let go once split: its chunks hold
        its text then), a large input mostly in a child process (see
        :mod:`qasynth._splitchild`; ``settings`` say how, ``None`` keeps it in the
        thread). A long document's chunks are handed over
        :data:`~qasynth._splitchild.HANDOVER` at a time as they are cut, and a stop
        takes effect within a chunk, not at the end of the document."""
        loop = asyncio.get_running_loop()
        self._documents = len(documents)
        self._splitter = Splitter(chunks_of, documents, settings, lambda: len(self.todo))
        splitter = self._splitter

        def split() -> None:
            for chunks, document_done in splitter:
                loop.call_soon_threadsafe(self._put, chunks, document_done)

        self._task = asyncio.ensure_future(asyncio.to_thread(split))
        self._task.add_done_callback(self._end)  # after every _put (the loop's order)

    def _put(self, chunks: list[Chunk], document_done: bool) -> None:
        try:
            self._stats.chunks += len(chunks)
            for chunk in chunks:
                seq, self._seq = self._seq, self._seq + 1
                if self._skip is not None and self._skip(chunk):
                    self.resumed += 1
                    self._stats.chunks_resumed += 1
                else:
                    self.todo.append((seq, chunk))
                    self.planned += 1
        except Exception as exc:  # the run's state: raised once what started is saved
            self._error = self._error or exc
            self._stop()
        if document_done:
            self._split_so_far += 1
        self.on_split(self._split_so_far, self._documents, self._stats.chunks)
        self.wake()

    def _end(self, task: asyncio.Future[None]) -> None:
        self.done = True
        if not task.cancelled() and task.exception() is not None:
            self._error = self._error or task.exception()
        if self._complete:
            self._on_done()
        self.wake()

    @property
    def _complete(self) -> bool:
        """Whether every document was split (not stopped part way, nor failed)."""
        return self.done and self._error is None and self._split_so_far == self._documents

    def when_done(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once every document is split (now if it is; never if the
        split stops part way)."""
        if self._complete:
            callback()
        else:
            self._on_done = callback

    def take(self) -> tuple[int, Chunk] | None:
        """The next chunk to start, ``None`` if none is ready (see :attr:`exhausted`)."""
        if self._error is not None:
            return None
        return self.todo.popleft() if self.todo else None

    @property
    def exhausted(self) -> bool:
        """Whether no more chunks will come: every chunk is split and taken, or the
        split failed (see :meth:`raise_error`)."""
        return self._error is not None or (self.done and not self.todo)

    def raise_error(self) -> None:
        """Raise what stopped the split, if anything did (after the chunks already
        started have finished: their requests are paid for)."""
        if self._error is not None:
            raise self._error

    async def finished(self) -> None:
        """Wait until every document is split."""
        if self._task is not None:
            await asyncio.shield(self._task)
        self.raise_error()

    async def aclose(self) -> None:
        """Stop splitting (after the chunk being cut)."""
        self._stop()
        if self._task is not None:
            await asyncio.gather(asyncio.shield(self._task), return_exceptions=True)


def _nothing() -> None:
    """Nothing to undo."""


def _nothing_split(done: int, total: int, chunks: int) -> None:
    """No one to tell how far the split is."""


def _kept(finished: collections.deque[asyncio.Task[ChunkResult]]) -> list[ChunkResult]:
    """The results of the ``finished`` tasks that neither failed nor were cancelled
    (what a stopping run still saves); empties ``finished``."""
    tasks = list(finished)
    finished.clear()
    return [t.result() for t in tasks if not t.cancelled() and t.exception() is None]


def _results_of(done: list[asyncio.Task[ChunkResult]]) -> Iterator[ChunkResult]:
    """The results of finished tasks, then the first error among them: every task's
    outcome is looked at (so none prints "exception was never retrieved"), and the
    chunks that finished alongside a failing one are still yielded (and saved). A
    chunk stopped by a gentle stop (cancelled) has no result: the next run does it."""
    done = [task for task in done if not task.cancelled()]  # stopped by a gentle stop
    errors = [e for task in done if (e := task.exception()) is not None]
    yield from (task.result() for task in done if task.exception() is None)
    if errors:
        raise errors[0]


async def _cancel(tasks: set[asyncio.Task[ChunkResult]]) -> None:
    """Cancel and await ``tasks``, so none is left with an exception never retrieved."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)

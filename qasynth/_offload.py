"""Model-free chunk checks in worker processes, so the event loop keeps sending requests.

The built-in model-free checks (non-empty, echo, length, stand-alone, language,
grounding) are pure CPU. On the event loop they hold up every other chunk's
request once many are in flight, so a fast server waits for the client. A
:class:`CheckOffload` runs the leading run of those checks in worker processes
(a ``python`` child running :func:`serve`, pickled frames over its stdin and stdout) and
gives exactly what running them inline gives.

Workers are plain child processes (see :mod:`qasynth._children`): a worker ends
when its stdin closes, so it never outlives the run, even if the parent is killed.

``workers``: ``None`` (auto, the default of :class:`~qasynth.Limits`) checks inline
until the checks take a fifth of the run's wall time, then starts up to
``min(CPUs - 1, 4)`` workers (never on one CPU, never for runs of fewer than 200
chunks); ``N`` starts N workers as the run starts; ``0`` checks inline.

A chunk goes to the worker it would wait least behind. A chunk in a worker holds no
request slot: the run starts another chunk meanwhile (see
:attr:`CheckOffload.in_workers`), so the main process keeps sending requests and
reading replies while workers check. Replies come back in waves (a whole round of
requests at once), and the workers take a wave as long as they are not behind: the
main process checks a chunk itself when the workers already hold as many chunks as
the run has request slots, or when the chunk would wait more than :data:`MAX_WAIT`
there (from the worker's recent time per chunk), so a slow or saturated worker never
holds the run up. In the run's last round, when no requests are left to send, the
main process is idle and takes any chunk that would wait longer than one chunk's
time in a worker. A worker still loading the checks (about a second) takes chunks
too while requests are being sent: they wait for it there, holding no request slot,
instead of taking the main process's time. A worker that fails costs nothing: its
chunks are checked inline, and so is the rest of the run (logged).
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from ._children import (
    HEADER,
    can_start_python,
    child_command,
    cpus,
    encode_frame,
    frame_streams,
    read_frame,
)
from ._errors import ConfigurationError
from ._schema import Chunk, QARecord, Rejection
from .checks._basic import MaxLength, NonEmpty, NotEcho
from .checks._contract import Check, ChunkContext
from .checks._heuristic import GroundingCheck, LanguageCheck, StandaloneCheck

__all__ = ["CheckOffload", "offloadable_prefix", "run_checks", "serve"]

logger = logging.getLogger("qasynth")

_SAFE: tuple[type[Check], ...] = (
    NonEmpty, NotEcho, MaxLength, StandaloneCheck, LanguageCheck, GroundingCheck,
)  # fmt: skip
"""Checks a worker may run: model-free and defined here (a subclass may live in
the user's ``__main__``, which a worker cannot import)."""

_READY = -1
MAX_WAIT = 0.5
"""Seconds a chunk may be expected to wait behind a worker's other chunks (from the
worker's recent time per chunk); past that the main process checks it."""
STALL_SECONDS = 60.0
"""A worker that holds chunks and answers none for this long is stuck (a check caught
in a loop, a stopped process): it is killed, and its chunks are checked inline."""
_SMOOTHING = 0.2
AUTO_MIN_CHUNKS = 200
AUTO_WARMUP_CHUNKS = 8
AUTO_BUSY_SHARE = 0.2
MAX_AUTO_WORKERS = 4

Checked = tuple[list[QARecord], list[Rejection]]


def offloadable_prefix(checks: Sequence[Check]) -> list[Check]:
    """The leading checks a worker process may run for the parent."""
    prefix: list[Check] = []
    for check in checks:
        if type(check) not in _SAFE:
            break
        prefix.append(check)
    return prefix


def run_checks(checks: Sequence[Check], chunk: Chunk, records: Sequence[QARecord]) -> Checked:
    """Run model-free chunk checks without an event loop: what is kept, what is not."""
    ctx = ChunkContext(chunk, records, ask=_no_model, ask_pairs=_no_model)
    for check in checks:
        _drive(check.acheck_chunk(ctx))
    return ctx.records, ctx.rejections


async def _no_model(*_: Any) -> Any:
    raise RuntimeError("a check running in a worker process cannot call the model")


def _drive(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine that never waits (a model-free check) to its end."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise RuntimeError("a model-free check waited on something; it cannot run in a worker")


class WorkerGone(Exception):
    """A worker process ended or answered with an error."""


class _Worker:
    """One child process and the jobs sent to it."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.jobs: dict[int, asyncio.Future[Checked]] = {}
        self.seconds_per_chunk = 0.0
        """The worker's recent time per chunk (a moving average; 0 until it replies)."""
        self.ready = asyncio.Event()
        """Set once the worker has imported everything and loaded the checks."""
        self.progress = time.monotonic()
        """When the worker last answered, or was given work while it had none."""
        self.reader = asyncio.ensure_future(self._read())
        self.errors = asyncio.ensure_future(self._log_errors())
        self.watchdog = asyncio.ensure_future(self._watch())

    @classmethod
    async def start(cls, checks: Sequence[Check]) -> _Worker:
        argv, env, cwd = child_command("qasynth._offload:serve")
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=cwd,
        )
        worker = cls(process)
        worker._send(list(checks))
        return worker

    def _send(self, value: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(encode_frame(value))

    async def check(self, job: int, chunk: Chunk, records: Sequence[QARecord]) -> Checked:
        future: asyncio.Future[Checked] = asyncio.get_running_loop().create_future()
        if not self.jobs:
            self.progress = time.monotonic()
        self.jobs[job] = future
        try:
            self._send((job, chunk, list(records)))
            assert self.process.stdin is not None
            await self.process.stdin.drain()
        except (ConnectionError, RuntimeError) as exc:
            self.jobs.pop(job, None)
            raise WorkerGone(f"worker stopped taking work: {exc}") from None
        return await future

    async def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        error: BaseException = WorkerGone("worker ended")
        try:
            while True:
                size = HEADER.unpack(await stdout.readexactly(HEADER.size))[0]
                job, value, problem, seconds = pickle.loads(await stdout.readexactly(size))
                if job == _READY:
                    self.ready.set()
                    continue
                self.progress = time.monotonic()
                last = self.seconds_per_chunk
                self.seconds_per_chunk = last + _SMOOTHING * (seconds - last) if last else seconds
                future = self.jobs.pop(job, None)
                if future is None or future.done():
                    continue
                if problem is None:
                    future.set_result(value)
                else:
                    future.set_exception(WorkerGone(problem))
        except (asyncio.IncompleteReadError, ConnectionError, pickle.UnpicklingError) as exc:
            error = WorkerGone(f"worker ended: {exc}")
        finally:
            for future in self.jobs.values():
                if not future.done():
                    future.set_exception(error)
            self.jobs.clear()

    async def _watch(self) -> None:
        """Kill the worker when it holds chunks and has answered none for
        :data:`STALL_SECONDS` (its reader then hands them back, to be checked inline)."""
        while self.process.returncode is None:
            await asyncio.sleep(min(STALL_SECONDS / 4, 5.0))
            if self.jobs and time.monotonic() - self.progress > STALL_SECONDS:
                logger.warning(
                    "check worker answered nothing for %.0f s; stopping it and checking "
                    "inline from now on", STALL_SECONDS,
                )  # fmt: skip
                self.process.kill()
                return

    def expected_wait(self) -> float:
        """Seconds a chunk sent now would wait for the worker's other chunks."""
        return len(self.jobs) * self.seconds_per_chunk

    async def _log_errors(self) -> None:
        stderr = self.process.stderr
        assert stderr is not None
        while line := await stderr.readline():
            logger.debug("check worker: %s", line.decode(errors="replace").rstrip())

    async def aclose(self) -> None:
        stdin = self.process.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), timeout=10)
        except asyncio.TimeoutError:
            self.process.kill()
            await self.process.wait()
        self.watchdog.cancel()
        await asyncio.gather(self.reader, self.errors, self.watchdog, return_exceptions=True)


class CheckOffload:
    """Runs a run's leading model-free checks inline or in worker processes."""

    def __init__(
        self, checks: Sequence[Check], *, workers: int | None = None, slots: int = 16
    ) -> None:
        """``slots``: the run's request slots (its concurrency), the most chunks the
        workers may hold at once."""
        if workers is not None and workers < 0:
            raise ConfigurationError(f"check workers must be 0 or more, got {workers}")
        self.slots = slots
        self.checks = offloadable_prefix(checks)
        self.workers_wanted = workers
        self.chunks_planned = 0
        self._workers: list[_Worker] = []
        self._starting: asyncio.Task[None] | None = None
        self._broken = False
        self._jobs = 0
        self._inline_cpu = 0.0
        self._inline_chunks = 0
        self._began: float | None = None
        self.in_workers = 0
        """Chunks being checked in a worker now: they hold no request slot."""
        self.on_change: Callable[[], None] | None = None
        """Called whenever :attr:`in_workers` changes (the run then starts another chunk)."""
        self.draining = False
        """Set by the run once it has no more chunks to start: the main process has no
        requests left to send, so it checks what would wait behind a busy worker."""

    async def start_early(self) -> None:
        """Start the workers asked for by number now, before the run knows its chunks
        (as it reads and splits its inputs), so they have loaded the checks by the time
        the first replies come back. Returns once their processes run (they load the
        checks meanwhile)."""
        if self.workers_wanted and self.checks:
            self._maybe_start()
            if self._starting is not None:
                await asyncio.shield(self._starting)

    def plan(self, chunks: int) -> None:
        """Say how many chunks the run has to check, as the run starts (from its event
        loop). Workers asked for by number start now unless :meth:`start_early` started
        them; auto mode starts workers later, and only for runs long enough to pay for
        them."""
        self.chunks_planned = chunks
        if self.workers_wanted and self.checks and chunks:
            self._maybe_start()

    def planned_so_far(self, chunks: int) -> None:
        """Say how many chunks the split has made so far, the run's size being unknown
        until it ends: auto mode need not wait for the end of a long split to know that
        the run is long enough for workers."""
        self.chunks_planned = max(self.chunks_planned, chunks)

    @property
    def worker_count(self) -> int:
        return len(self._workers)

    async def wait_ready(self) -> None:
        """Wait until the workers started so far have loaded the checks (for tests)."""
        if self._starting is not None:
            await asyncio.shield(self._starting)
        await asyncio.gather(*(w.ready.wait() for w in self._workers))

    async def check(self, chunk: Chunk, records: Sequence[QARecord]) -> Checked:
        """The records the checks keep and the rejections, as inline checks give them."""
        if not self.checks:
            return list(records), []
        self._maybe_start()
        worker = self._pick()
        if worker is not None:
            self._jobs += 1
            self._count(1)
            try:
                return await worker.check(self._jobs, chunk, records)
            except WorkerGone as exc:
                logger.warning("check worker failed (%s); checking inline from now on", exc)
                self._broken = True
            finally:
                self._count(-1)
        return self._inline(chunk, records)

    def _pick(self) -> _Worker | None:
        """The worker to take a chunk, or None to check it here.

        A ready worker takes it unless the workers are behind (they hold a whole
        round of requests, or the chunk would wait more than MAX_WAIT). A worker still
        loading the checks takes it too while the run sends requests: the chunk holds
        no request slot there, so it costs the run nothing, where checking it here
        would take the main process from sending requests. In the last round the main
        process is idle and checks it itself."""
        if self._broken or self.in_workers >= self.slots:
            return None
        ready = [w for w in self._workers if w.ready.is_set()]
        worker = min(ready, key=_Worker.expected_wait, default=None)
        if worker is not None and worker.expected_wait() <= self._max_wait(worker):
            return worker
        starting = [w for w in self._workers if not w.ready.is_set()]
        if starting and not self.draining:
            return min(starting, key=lambda w: len(w.jobs))
        return None

    def _max_wait(self, worker: _Worker) -> float:
        """How long a chunk may wait behind ``worker``'s others: MAX_WAIT while the
        run sends requests; once it sends no more (its last round), one chunk's time,
        so the main process, idle by then, takes its share of the last replies."""
        return min(MAX_WAIT, worker.seconds_per_chunk) if self.draining else MAX_WAIT

    def _count(self, delta: int) -> None:
        self.in_workers += delta
        if self.on_change is not None:
            self.on_change()

    def _inline(self, chunk: Chunk, records: Sequence[QARecord]) -> Checked:
        began = time.process_time()
        try:
            return run_checks(self.checks, chunk, records)
        finally:
            self._inline_cpu += time.process_time() - began
            self._inline_chunks += 1

    def _maybe_start(self) -> None:
        if self._starting is not None or self._broken:
            return
        now = time.monotonic()
        if self._began is None:
            self._began = now
        count = self._wanted(now - self._began)
        if count and not can_start_python():
            if self.workers_wanted:
                logger.warning(
                    "check workers cannot start from a frozen application; checking inline"
                )
            self._broken = True
        elif count:
            self._starting = asyncio.ensure_future(self._start(count))

    def _wanted(self, elapsed: float) -> int:
        if self.workers_wanted is not None:
            return self.workers_wanted
        if self.chunks_planned < AUTO_MIN_CHUNKS or self._inline_chunks < AUTO_WARMUP_CHUNKS:
            return 0
        if self._inline_cpu < AUTO_BUSY_SHARE * max(elapsed, 1e-9):
            return 0
        return min(cpus() - 1, MAX_AUTO_WORKERS)

    async def _start(self, count: int) -> None:
        try:
            for _ in range(count):
                self._workers.append(await _Worker.start(self.checks))
        except (OSError, NotImplementedError) as exc:  # an event loop without subprocesses
            logger.warning("cannot start a check worker (%r); checking inline", exc)
            self._broken = True
        else:
            logger.debug("checking chunks in %d worker process(es)", count)

    async def aclose(self) -> None:
        """Stop the workers (they finish nothing more: every job was awaited)."""
        if self._starting is not None:
            await asyncio.gather(self._starting, return_exceptions=True)
        workers, self._workers = self._workers, []
        await asyncio.gather(*(w.aclose() for w in workers), return_exceptions=True)


def serve() -> None:
    """The worker: the checks, then (job, chunk, records) frames until stdin closes."""
    source, frames = frame_streams()
    first = read_frame(source)
    if first is None:
        return
    checks: list[Check] = pickle.loads(first)
    _warm_up(checks)
    frames.write(encode_frame((_READY, None, None, 0.0)))
    frames.flush()
    while (frame := read_frame(source)) is not None:
        job, chunk, records = pickle.loads(frame)
        began = time.perf_counter()
        try:
            checked = run_checks(checks, chunk, records)
            reply: tuple[Any, ...] = (job, checked, None, time.perf_counter() - began)
        except Exception as exc:  # the parent checks this chunk inline
            reply = (job, None, f"{type(exc).__name__}: {exc}", time.perf_counter() - began)
        frames.write(encode_frame(reply))
        frames.flush()


def _warm_up(checks: Sequence[Check]) -> None:
    """Check one small chunk, so that what the checks load on first use (the language
    model, the rules) is loaded before the worker says it is ready: its first chunk
    then takes as long as the others."""
    chunk = Chunk(text=_SAMPLE, theme="warm-up", source="warm-up", index=0)
    record = QARecord.of(chunk, "Who led the survey near Lake Orin in 1990?", "Dr. Amara Ito.")
    try:
        run_checks(checks, chunk, [record])
    except Exception as exc:  # a real chunk will say what is wrong (the parent logs stderr)
        logger.warning("check worker warm-up failed: %s: %s", type(exc).__name__, exc)


_SAMPLE = (
    "In 1990, Dr. Amara Ito led the survey near Lake Orin, where the team recorded 120 "
    "samples over 12 days. The survey ended in 1991."
)

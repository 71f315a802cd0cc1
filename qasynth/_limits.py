"""Limits on how hard a run pushes the provider: the options (:class:`Limits`), requests
in flight, tokens per minute; and the order in which replies get the event loop
(:class:`Turns`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ._errors import ConfigurationError

__all__ = ["AdaptiveLimiter", "Limits", "TokenBudget", "Turns"]

logger = logging.getLogger("qasynth")


@dataclass(frozen=True)
class Limits:
    """How hard a run may push the provider.

    ``concurrency`` requests in flight at most; ``rpm`` requests and ``tpm``
    tokens per minute; ``timeout`` seconds per request; ``attempts`` tries per
    request for timeouts and server errors, ``backoff`` the first wait between
    them (doubling, with jitter); ``max_wait`` the longest Retry-After honoured.
    ``check_workers`` processes run the built-in model-free chunk checks off the
    event loop (``None``, the default: started by themselves once the checks slow a
    run of 200 chunks or more down, on a machine with a core to spare; ``0``: none).
    """

    concurrency: int = 8
    rpm: float | None = None
    tpm: int | None = None
    timeout: float = 120.0
    attempts: int = 5
    backoff: float = 1.0
    max_wait: float = 60.0
    check_workers: int | None = None

    def __post_init__(self) -> None:
        for name in ("concurrency", "tpm", "attempts", "check_workers"):  # whole numbers
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigurationError(f"Limits: {name} must be a whole number, got {value!r}")
        for name in ("rpm", "timeout", "backoff", "max_wait"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float))
            ):
                raise ConfigurationError(f"Limits: {name} must be a number, got {value!r}")
        checks = [
            (self.concurrency >= 1, "concurrency must be at least 1"),
            (self.rpm is None or self.rpm > 0, "rpm must be above 0"),
            (self.tpm is None or self.tpm >= 1, "tpm must be at least 1"),
            (self.timeout > 0, "timeout must be above 0 seconds"),
            (self.attempts >= 1, "attempts must be at least 1"),
            (self.backoff >= 0, "backoff must not be negative"),
            (self.max_wait >= 0, "max_wait must not be negative"),
            (
                self.check_workers is None or self.check_workers >= 0,
                "check_workers must be 0 or more",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigurationError(f"Limits: {message}, got {self}")


MIN_REPLIES = 8
"""Replies a window needs (when that many are possible) before its share of 429s counts."""

HALVE, CUT, GROW, GROW_MORE = 3, 2, 1, 0
"""What a share of 429s calls for, most severe first (see :class:`AdaptiveLimiter`)."""


def _verdict(refused: int, total: int) -> int:
    share = refused / total if total else 0.0
    if share >= 0.5:
        return HALVE
    if share >= 0.35:
        return CUT
    return GROW if share > 0 else GROW_MORE


class AdaptiveLimiter:
    """Bounds requests in flight; cuts the limit when the provider refuses many
    requests (429s) and lets it grow back with time.

    Replies are counted in windows (one Retry-After long, ``grow_every`` seconds
    when the provider names no wait). At the end of a window the share of 429s
    decides: half or more refused halves the limit and pauses new requests for
    the Retry-After (the provider is refusing most of them); over a third cuts
    it by a quarter; fewer 429s (scattered refusals, which a smaller limit would
    not stop) let it grow by a quarter; none grows it by half. The share is taken
    in the window alone and in it and the window before together, and the milder
    verdict holds: one unlucky window among scattered 429s (when one request in
    five is refused, 6 or more of 16 are in about one window in twelve) cuts
    nothing, refusals that go on cut a window later, and a window refusing all
    after a quiet one still halves at once. A window is judged on
    ``MIN_REPLIES`` replies at least (fewer only if the run never had that many in
    flight at once: not on the last few while the rest wait out a Retry-After, a
    share too noisy to cut on). Never below ``floor``
    (a quarter of ``maximum`` by default), never above ``maximum``. A request
    answered 429 waits its own Retry-After before trying again (the caller's
    retry), so scattered 429s cost their requests a wait, not the whole run.
    """

    def __init__(
        self,
        maximum: int,
        *,
        floor: int | None = None,
        grow_every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if maximum < 1:
            raise ValueError(f"concurrency must be at least 1, got {maximum}")
        self.maximum = maximum
        self.floor = max(1, min(maximum, floor if floor is not None else maximum // 4))
        self.limit = maximum
        self.in_flight = 0
        self.peak_in_flight = 0
        self.grow_every = grow_every
        self._clock = clock
        self._window_end: float | None = None  # the first request opens the first window
        self._answered = 0
        self._refused = 0
        self._before = (0, 0)  # (429s, replies) of the window judged last
        self._retry_after: float | None = None
        self._paused_until = 0.0
        self._cond: asyncio.Condition | None = None

    @property
    def _condition(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()
        return self._cond

    @property
    def paused_for(self) -> float:
        """Seconds until requests may start again after a Retry-After (0 if not paused)."""
        return max(0.0, self._paused_until - self._clock())

    def _close_window(self, now: float) -> None:
        """Adjust the limit by the share of 429s once the current window is over."""
        if self._window_end is None:
            self._window_end = now + self.grow_every
        total = self._answered + self._refused
        if now < self._window_end:
            return
        if self.in_flight and (total < MIN_REPLIES or self.in_flight > total // 2):
            return  # refusals come back faster than answers: judge on enough of them
        if total < min(MIN_REPLIES, self.peak_in_flight):
            return  # nothing in flight, but the rest wait out a Retry-After: too few to judge
        before_refused, before_total = self._before
        verdict = min(_verdict(self._refused, total),
                      _verdict(self._refused + before_refused, total + before_total))  # fmt: skip
        if verdict == HALVE:
            self.limit = max(self.floor, self.limit // 2)
            if self._retry_after:
                self._paused_until = max(self._paused_until, now + self._retry_after)
        elif verdict == CUT:
            self.limit = max(self.floor, self.limit - max(1, self.limit // 4))
        elif verdict == GROW:
            self.limit = min(self.maximum, self.limit + max(1, self.limit // 4))
        else:
            self.limit = min(self.maximum, self.limit + max(1, self.limit // 2))
        logger.debug(
            "limiter: %d of %d replies were 429s (%d of %d with the window before); "
            "%d requests in flight at most now",
            self._refused, total, self._refused + before_refused, total + before_total,
            self.limit,
        )  # fmt: skip
        window = self._retry_after if self._refused and self._retry_after else self.grow_every
        self._window_end = now + window
        self._before = (self._refused, total)
        self._answered = self._refused = 0
        self._retry_after = None

    async def acquire(self) -> None:
        """Wait for a free slot (and for any Retry-After pause to end)."""
        async with self._condition:
            while True:
                now = self._clock()
                self._close_window(now)
                delay = self._paused_until - now
                if delay > 0:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._condition.wait(), delay)
                elif self.in_flight < self.limit:
                    self.in_flight += 1
                    self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                    return
                else:
                    await asyncio.wait_for(self._condition.wait(), None)

    async def release(
        self, *, rate_limited: bool = False, retry_after: float | None = None
    ) -> None:
        async with self._condition:
            self.in_flight -= 1
            if rate_limited:
                self._refused += 1
                if retry_after:
                    self._retry_after = max(self._retry_after or 0.0, retry_after)
            else:
                self._answered += 1
            self._close_window(self._clock())
            self._condition.notify_all()


class TokenBudget:
    """At most ``tokens_per_minute`` tokens, refilled continuously (a token bucket).

    LangChain's rate limiter counts requests only, hence this small bucket."""

    def __init__(self, tokens_per_minute: int, *, clock: Callable[[], float] = time.monotonic):
        if tokens_per_minute < 1:
            raise ValueError(f"tpm must be at least 1, got {tokens_per_minute}")
        self.capacity = float(tokens_per_minute)
        self.rate = tokens_per_minute / 60.0
        self._available = self.capacity
        self._clock = clock
        self._last = clock()
        self._lock: asyncio.Lock | None = None

    async def acquire(self, tokens: int) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        need = min(float(tokens), self.capacity)  # one huge request may still pass alone
        async with self._lock:
            while True:
                now = self._clock()
                self._available = min(
                    self.capacity, self._available + (now - self._last) * self.rate
                )
                self._last = now
                if self._available >= need:
                    self._available -= need
                    return
                await asyncio.sleep((need - self._available) / self.rate)


PASSES = 8
"""Passes of the event loop between two replies' turns: enough for a request started
meanwhile to reach the network (its path through LangChain and the HTTP client takes
a few), each costing microseconds when nothing else is ready."""


class Turns:
    """Replies take turns at the local work that follows them (parsing, checks): one
    reply every :data:`PASSES` passes of the event loop, after whatever else is ready.

    Replies come back in waves (a whole round of requests at once). Without turns
    each reply's task would parse and check its chunk before the next one is even
    read, and the requests that replace them would go out only after the whole wave
    had been checked, so the model would sit idle meanwhile. With turns, the tasks
    that send requests (and read replies) run between one chunk's checks and the
    next, so a request waits for one chunk's work at most per step, not a wave's."""

    def __init__(self) -> None:
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._granting = False
        self._passes = 0

    async def wait(self) -> None:
        """Return on this reply's turn."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (a sync call): nothing carries over
            self._loop, self._waiting, self._granting = loop, deque(), False
        turn = loop.create_future()
        self._waiting.append(turn)
        if not self._granting:
            self._granting = True
            loop.call_soon(self._grant)
        await turn

    def _grant(self) -> None:
        self._passes += 1
        if self._passes < PASSES and self._loop is not None:
            self._loop.call_soon(self._grant)
            return
        self._passes = 0
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():  # not cancelled
                turn.set_result(None)
                break
        if self._waiting and self._loop is not None:
            self._loop.call_soon(self._grant)  # the next reply, on the next pass
        else:
            self._granting = False

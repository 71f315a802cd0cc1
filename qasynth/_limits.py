"""Limits on how hard a run pushes the provider: requests in flight, tokens per minute."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

__all__ = ["AdaptiveLimiter", "TokenBudget"]


class AdaptiveLimiter:
    """Bounds requests in flight; cuts the limit on 429s and lets it grow back with time.

    A 429 halves the limit at most once per Retry-After window (default one
    second), never below ``floor``; every ``grow_every`` seconds without a 429
    the limit grows by half again, up to ``maximum``.
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
        self._cut_until = 0.0
        self._last_change = clock()
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

    def _grow(self, now: float) -> None:
        if self.limit < self.maximum and now - self._last_change >= self.grow_every:
            self.limit = min(self.maximum, self.limit + max(1, self.limit // 2))
            self._last_change = now

    async def acquire(self) -> None:
        """Wait for a free slot (and for any Retry-After pause to end)."""
        async with self._condition:
            while True:
                now = self._clock()
                self._grow(now)
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
            now = self._clock()
            if rate_limited:
                window = retry_after if retry_after else 1.0
                if now >= self._cut_until:
                    self.limit = max(self.floor, self.limit // 2)
                    self._cut_until = now + window
                self._last_change = now
                if retry_after:
                    self._paused_until = max(self._paused_until, now + retry_after)
            else:
                self._grow(now)
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

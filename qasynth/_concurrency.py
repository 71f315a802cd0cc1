"""Adaptive limits on requests in flight, and model calls with retries.

:class:`AdaptiveLimiter` starts at the configured maximum; a 429 halves the
limit (once per burst of 429s) and pauses new requests for the server's
``Retry-After``; after a run of successes the limit grows back by one.
:class:`ModelCaller` wraps every model call in that limiter, an optional
LangChain rate limiter (requests per minute), an optional token budget per
minute, a hard timeout, and retries with backoff. Errors that retrying cannot
fix (HTTP 400/401/403/404) raise :class:`~qasynth._errors.AuthenticationError`
at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.rate_limiters import InMemoryRateLimiter

from ._errors import AuthenticationError
from ._llm import CallError, classify_error

__all__ = ["AdaptiveLimiter", "CallFailed", "CallUsage", "ModelCaller", "TokenBudget"]


class AdaptiveLimiter:
    """Bounds requests in flight; shrinks on rate limits and grows back on success."""

    def __init__(
        self, maximum: int, *, grow_after: int = 10, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if maximum < 1:
            raise ValueError(f"concurrency must be at least 1, got {maximum}")
        self.maximum = maximum
        self.limit = maximum
        self.in_flight = 0
        self.peak_in_flight = 0
        self.grow_after = grow_after
        self._clock = clock
        self._successes = 0
        self._generation = 0
        self._paused_until = 0.0
        self._cond: asyncio.Condition | None = None

    @property
    def _condition(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()
        return self._cond

    async def acquire(self) -> int:
        """Wait for a free slot; returns a token to hand back to :meth:`release`."""
        async with self._condition:
            while True:
                delay = self._paused_until - self._clock()
                if delay > 0:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._condition.wait(), delay)
                elif self.in_flight < self.limit:
                    self.in_flight += 1
                    self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                    return self._generation
                else:
                    await self._condition.wait()

    async def release(
        self, token: int, *, ok: bool, rate_limited: bool = False, retry_after: float | None = None
    ) -> None:
        async with self._condition:
            self.in_flight -= 1
            if rate_limited:
                self._successes = 0
                if token == self._generation:  # the first 429 since the last cut
                    self.limit = max(1, self.limit // 2)
                    self._generation += 1
                if retry_after:
                    self._paused_until = max(self._paused_until, self._clock() + retry_after)
            elif ok:
                self._successes += 1
                if self._successes >= self.grow_after and self.limit < self.maximum:
                    self.limit += 1
                    self._successes = 0
            self._condition.notify_all()


class TokenBudget:
    """At most ``tokens_per_minute`` tokens, refilled continuously (a token bucket)."""

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


class CallFailed(Exception):
    """A model call gave up after its retries (not a fatal error)."""

    def __init__(self, error: CallError, attempts: int) -> None:
        super().__init__(error.message)
        self.error = error
        self.attempts = attempts


@dataclass
class CallUsage:
    """What the calls for one chunk cost."""

    calls: int = 0
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


class ModelCaller:
    """Calls a chat model under the run's limits, with timeouts and retries."""

    def __init__(
        self,
        llm: BaseChatModel,
        *,
        concurrency: int = 8,
        request_timeout: float = 120.0,
        max_attempts: int = 5,
        retry_base_delay: float = 1.0,
        rpm: float | None = None,
        tpm: int | None = None,
        estimate_tokens: Callable[[Sequence[BaseMessage]], int] | None = None,
        secrets: Iterable[str | None] = (),
    ) -> None:
        self.llm = llm
        self.limiter = AdaptiveLimiter(concurrency)
        self.request_timeout = request_timeout
        self.max_attempts = max(1, max_attempts)
        self.retry_base_delay = retry_base_delay
        self.rate_limiter = (
            InMemoryRateLimiter(
                requests_per_second=rpm / 60.0, check_every_n_seconds=0.05, max_bucket_size=1
            )
            if rpm
            else None
        )
        self.token_budget = TokenBudget(tpm) if tpm else None
        self.estimate_tokens = estimate_tokens
        self._secrets = tuple(secrets)

    def _backoff(self, attempt: int) -> float:
        return float(min(60.0, self.retry_base_delay * 2 ** (attempt - 1)) * random.uniform(0.5, 1))

    async def _wait_for_budget(self, messages: Sequence[BaseMessage]) -> None:
        if self.rate_limiter is not None:
            await self.rate_limiter.aacquire()
        if self.token_budget is not None and self.estimate_tokens is not None:
            await self.token_budget.acquire(self.estimate_tokens(messages))

    async def _attempt(self, messages: Sequence[BaseMessage]) -> AIMessage:
        reply = await asyncio.wait_for(self.llm.ainvoke(list(messages)), self.request_timeout)
        if not isinstance(reply, AIMessage):
            raise TypeError(f"the chat model returned {type(reply).__name__}, not AIMessage")
        return reply

    async def call(self, messages: Sequence[BaseMessage], usage: CallUsage) -> AIMessage:
        """One logical call: retried on timeouts, rate limits and server errors."""
        for attempt in range(1, self.max_attempts + 1):
            await self._wait_for_budget(messages)
            token = await self.limiter.acquire()
            try:
                reply = await self._attempt(messages)
            except asyncio.TimeoutError:
                error = CallError(
                    "transient", None, None, f"no reply within {self.request_timeout:g} s"
                )
            except Exception as exc:  # classified below; unknown errors are retried
                error = classify_error(exc, self._secrets)
            else:
                await self.limiter.release(token, ok=True)
                usage.calls += 1
                meta: dict[str, Any] = dict(reply.usage_metadata or {})
                usage.input_tokens += int(meta.get("input_tokens", 0))
                usage.output_tokens += int(meta.get("output_tokens", 0))
                return reply
            if error.kind == "fatal":  # raised outside the except block: the original
                await self.limiter.release(token, ok=False)  # error (which may quote the
                raise AuthenticationError(  # key) is not kept as __context__
                    f"the model provider refused the request ({error.message}); check the "
                    "API key, --base-url and --model",
                    status_code=error.status,
                )
            limited = error.kind == "rate_limit"
            await self.limiter.release(
                token, ok=False, rate_limited=limited, retry_after=error.retry_after
            )
            if attempt == self.max_attempts:
                raise CallFailed(error, attempt)
            usage.retries += 1
            await asyncio.sleep(
                error.retry_after if error.retry_after is not None else self._backoff(attempt)
            )
        raise AssertionError("unreachable")  # pragma: no cover

"""The one caller for the model: limits, timeouts, retries, usage.

Every model call of a run — generation, fixes, top-ups, judge, paraphrases,
translations — goes through :class:`ModelCaller`:

- an adaptive limit on requests in flight (:mod:`qasynth._limits`), LangChain's
  ``InMemoryRateLimiter`` for requests per minute, and a token bucket for
  tokens per minute;
- a hard timeout per request, and retries with tenacity: 429s honour
  Retry-After up to ``Limits.max_wait`` (with no backoff on top) and use up
  no attempts while the run as a whole makes progress, not even those a
  request has for timeouts and server errors;
- usage (calls by step, tokens, cached tokens, retries, waits) counted here and
  nowhere else, into the :class:`Usage` of the chunk being worked on.

Errors are classified by status code and exception type
(:func:`~qasynth._callerrors.classify_error`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.prompt_values import PromptValue
from langchain_core.rate_limiters import InMemoryRateLimiter
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from ._callerrors import (
    CallError,
    CallFailed,
    RateLimitWait,
    RequestRefused,
    classify_error,
    unreachable,
)
from ._errors import AuthenticationError, ModelError, UnreachableError
from ._limits import AdaptiveLimiter, Limits, TokenBudget, Turns
from ._llm import Release, check_key, where_of, with_own_http_client
from ._replies import clean_reply, cut_off_reply
from ._secrets import credentials

__all__ = [
    "USAGE_KEY",
    "AdaptiveLimiter",
    "ModelCaller",
    "ReplyStore",
    "TokenBudget",
    "Usage",
]

logger = logging.getLogger("qasynth")

USAGE_KEY = "__qasynth_usage"
"""``config["configurable"]`` key of the :class:`Usage` that a call is counted in."""


@dataclass
class Usage:
    """What model calls cost: answered calls by step, tokens, retries and waits."""

    calls: Counter[str] = field(default_factory=Counter)
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    retries: int = 0
    waited: float = 0.0
    batch_tokens: tuple[int, int, int] = (0, 0, 0)
    """Input, cached input and output tokens of the replies that came from the Batch
    API (part of the totals above, billed at the batch rate)."""
    asked: Counter[str] = field(default_factory=Counter, repr=False, compare=False)
    """How often each request (by digest) was made so far for this chunk: the n-th
    identical request of a chunk is kept as its own reply (see ``ReplyStore``)."""

    def add_reply(self, step: str, reply: AIMessage) -> None:
        self.calls[step] += 1
        meta: dict[str, Any] = dict(reply.usage_metadata or {})
        details = meta.get("input_token_details") or {}
        tokens = (
            int(meta.get("input_tokens", 0)),
            int(details.get("cache_read", 0) or 0),
            int(meta.get("output_tokens", 0)),
        )
        self.input_tokens += tokens[0]
        self.cached_input_tokens += tokens[1]
        self.output_tokens += tokens[2]
        if step == "batch":
            self.batch_tokens = _sum(self.batch_tokens, tokens)

    def merge(self, other: Usage) -> None:
        self.calls.update(other.calls)
        self.input_tokens += other.input_tokens
        self.cached_input_tokens += other.cached_input_tokens
        self.output_tokens += other.output_tokens
        self.batch_tokens = _sum(self.batch_tokens, other.batch_tokens)
        self.retries += other.retries
        self.waited += other.waited


def _sum(a: tuple[int, int, int], b: tuple[int, int, int]) -> tuple[int, int, int]:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


class _Retry(Exception):
    def __init__(self, error: CallError) -> None:
        super().__init__(error.message)
        self.error = error


# -- the caller -----------------------------------------------------------------------


def usage_of(config: RunnableConfig | None) -> Usage:
    """The :class:`Usage` a call made under ``config`` is counted in."""
    found = ((config or {}).get("configurable") or {}).get(USAGE_KEY)
    return found if isinstance(found, Usage) else Usage()


def as_messages(value: PromptValue | Sequence[BaseMessage]) -> list[BaseMessage]:
    """The messages of what a prompt gives: a prompt value or messages."""
    return value.to_messages() if isinstance(value, PromptValue) else list(value)


def step_of(config: RunnableConfig | None) -> str:
    value = ((config or {}).get("metadata") or {}).get("qasynth_step")
    return value if isinstance(value, str) else "generate"


class ReplyStore(Protocol):
    """Keeps a chunk's replies (generation, fixes, top-ups, checks' calls) by chunk and
    request until the chunk is saved."""

    def saved_reply(self, chunk_id: str, digest: str) -> AIMessage | None: ...

    def save_reply(self, chunk_id: str, digest: str, reply: AIMessage) -> None: ...


class ModelCaller:
    """Calls a chat model under a run's :class:`Limits`; see the module docstring."""

    def __init__(
        self,
        llm: BaseChatModel,
        limits: Limits | None = None,
        *,
        estimate_tokens: Callable[[Sequence[BaseMessage]], int] | None = None,
        secrets: Iterable[str | None] = (),
        on_wait: Callable[[float], None] | None = None,
        own_http_client: bool = True,
    ) -> None:
        """``own_http_client``: give an OpenAI chat model the running event loop's own
        HTTP client and no client-side retries (see
        :func:`~qasynth._llm.with_own_http_client`); :meth:`aclose` lets go of it (the
        last run on the loop closes it)."""
        if own_http_client:  # a run's own caller (not one wrapping it): its key is sent
            check_key(llm)
        own: tuple[BaseChatModel, Release | None] = (
            with_own_http_client(llm) if own_http_client else (llm, None)
        )
        self.llm, self._release = own
        self.limits = limits or Limits()
        self.limiter = AdaptiveLimiter(self.limits.concurrency)
        self.rate_limiter = (
            InMemoryRateLimiter(
                requests_per_second=self.limits.rpm / 60.0,
                check_every_n_seconds=0.05,
                max_bucket_size=1,
            )
            if self.limits.rpm
            else None
        )
        self.token_budget = TokenBudget(self.limits.tpm) if self.limits.tpm else None
        self.estimate_tokens = estimate_tokens if self.limits.tpm else None
        self.secrets = tuple(s for s in secrets if s)
        self.credentials = credentials(self.secrets)
        """The secrets taken out of every reply, should a server quote one back."""
        self.on_wait = on_wait
        self._last_success = time.monotonic()
        self._unreachable = 0  # unreachable errors in a row, across the run
        self._answered = False  # whether any call of the run got a reply
        self._server_failures = 0  # 5xx and timeouts in a row, while none was answered
        self._same_unexpected: tuple[str, int] = ("", 0)  # an unexpected error, times in a row
        self.where = where_of(llm)
        self.waiting = 0
        """Calls sleeping before a retry, or replied and waiting for their turn (they
        hold no request slot)."""
        self.turns = Turns()
        """The order in which replies get the event loop (requests to send go first)."""
        self.reply_store: ReplyStore | None = None
        """Where a file run keeps the replies of each chunk's calls until the chunk is
        saved (its state): a rerun after a kill takes a kept reply instead of paying
        again for the same request."""
        self.stopping = False
        """Set when the run stops gently (a first Ctrl-C): a chunk none of whose calls
        has been answered sends no request more (no retry either); the others finish."""
        self.on_waiting_change: Callable[[], None] | None = None
        """Called whenever :attr:`waiting` changes (the run then starts another chunk)."""

    async def aclose(self) -> None:
        """Let go of the HTTP client: the one made for this run alone (when the caller
        was made outside an event loop), or the event loop's, which the last run that
        uses it closes (see :func:`~qasynth._llm.with_own_http_client`)."""
        release, self._release = self._release, None
        if release is not None:
            await release()

    def _set_waiting(self, delta: int) -> None:
        self.waiting += delta
        if self.on_waiting_change is not None:
            self.on_waiting_change()

    def as_runnable(self, **bound: Any) -> Runnable[Any, AIMessage]:
        """This caller as the ``model`` link of a chain (prompt value or messages in);
        ``bound`` keyword arguments go to every call of the model (for example
        ``response_format=``), as ``llm.bind(...)`` would."""

        async def model(value: Any, config: RunnableConfig) -> AIMessage:
            return await self.call(as_messages(value), config, **bound)

        return RunnableLambda(model, name="model")

    def _wait_for(self, state: RetryCallState, refused: int) -> float:
        """Retry-After when the provider names it, else a backoff that doubles with each
        failure of the same sort (429s, or the others); ``refused`` earlier attempts were 429s."""
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, _Retry) and error.error.retry_after is not None:
            return error.error.retry_after
        limited = isinstance(error, _Retry) and error.error.kind == "rate_limit"
        nth = refused + 1 if limited else state.attempt_number - refused
        delay = min(60.0, self.limits.backoff * 2 ** (nth - 1))
        return float(delay * random.uniform(0.5, 1.0))

    def _stop(self, state: RetryCallState, refused: int) -> bool:
        """Whether a call gives up; ``refused`` of its attempts so far were 429s."""
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, _Retry) and error.error.kind == "rate_limit":
            # 429s use up attempts only when the whole run has stopped making progress
            stalled = time.monotonic() - self._last_success > 4 * max(self.limits.max_wait, 15)
            return stalled and state.attempt_number >= self.limits.attempts
        # timeouts and server errors have their own attempts: earlier 429s leave them whole
        return state.attempt_number - refused >= self.limits.attempts

    async def call(
        self, messages: Sequence[BaseMessage], config: RunnableConfig | None, **bound: Any
    ) -> AIMessage:
        """One logical call; retried on timeouts, rate limits and server errors.
        ``bound`` keyword arguments go to the model's ``ainvoke``.

        Raises :class:`RequestRefused` when the provider refuses this request,
        :class:`CallFailed` when retries ran out, and a :class:`ModelError`
        subclass for what holds for every request (the run must stop).
        """
        usage = usage_of(config)
        kept = self._kept_request(messages, config, bound, usage)
        if kept is not None and (saved := kept[0].saved_reply(kept[1], kept[2])) is not None:
            return saved  # paid for by an earlier run that was stopped before saving its chunk
        sleeping = False
        refused = 0  # attempts answered 429

        def before_sleep(state: RetryCallState) -> None:
            nonlocal sleeping, refused
            self._before_sleep(state, usage)
            error = state.outcome.exception() if state.outcome is not None else None
            if isinstance(error, _Retry) and error.error.kind == "rate_limit":
                refused += 1
                sleeping = True  # only a Retry-After wait frees the chunk's slot
                self._set_waiting(1)

        retrying = AsyncRetrying(
            stop=lambda state: self._stop(state, refused),
            wait=lambda state: self._wait_for(state, refused),
            retry=retry_if_exception_type(_Retry),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                if sleeping:
                    sleeping = False
                    self._set_waiting(-1)
                with attempt:
                    reply = await self._attempt(messages, config, bound, usage)
        except _Retry as exc:
            raise CallFailed(exc.error, retrying.statistics.get("attempt_number", 1)) from None
        finally:
            if sleeping:
                self._set_waiting(-1)
        usage.add_reply(step_of(config), reply)
        if kept is not None:
            kept[0].save_reply(kept[1], kept[2], reply)
        # the local work on this reply waits for its turn (see Turns): meanwhile it holds
        # no request slot, and the run sends the next requests first
        self._set_waiting(1)
        try:
            await self.turns.wait()
        finally:
            self._set_waiting(-1)
        return reply

    def _kept_request(
        self,
        messages: Sequence[BaseMessage],
        config: RunnableConfig | None,
        bound: dict[str, Any],
        usage: Usage,
    ) -> tuple[ReplyStore, str, str] | None:
        """(the store, the chunk id, the request's key) for a chunk's call in a run that
        keeps its replies (see :attr:`reply_store`), else ``None``.

        The key is a digest of the request (its messages and bound arguments) and,
        from the second time on, how often the chunk made the same request before: a
        check that asks the same thing twice gets two replies, and a rerun, which makes
        the chunk's requests again in the same order, finds each of them."""
        chunk_id = ((config or {}).get("metadata") or {}).get("qasynth_chunk_id")
        store = self.reply_store
        counted = ((config or {}).get("configurable") or {}).get(USAGE_KEY) is usage
        if store is None or not isinstance(chunk_id, str) or not counted:
            return None  # a call outside a chunk's config has no order to key it by
        request = [[m.type, m.content] for m in messages], sorted(bound.items())
        digest = hashlib.sha256(json.dumps(request, default=str).encode()).hexdigest()
        earlier = usage.asked[digest]
        usage.asked[digest] += 1
        return store, chunk_id, f"{digest}#{earlier}" if earlier else digest

    def _before_sleep(self, state: RetryCallState, usage: Usage) -> None:
        usage.retries += 1
        sleep = state.next_action.sleep if state.next_action is not None else 0.0
        usage.waited += sleep
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        limited = isinstance(error, _Retry) and error.error.kind == "rate_limit"
        logger.info(
            "retrying a model call in %.1f s (attempt %d failed: %s)",
            sleep, state.attempt_number,
            error.error.message if isinstance(error, _Retry) else type(error).__name__,
        )  # fmt: skip
        if self.on_wait is not None and sleep >= 1.0 and limited:  # "the provider asked..."
            self.on_wait(sleep)

    async def _attempt(
        self,
        messages: Sequence[BaseMessage],
        config: RunnableConfig | None,
        bound: dict[str, Any],
        usage: Usage,
    ) -> AIMessage:
        if self.rate_limiter is not None:
            await self.rate_limiter.aacquire()
        if self.token_budget is not None and self.estimate_tokens is not None:
            await self.token_budget.acquire(self.estimate_tokens(messages))
        await self.limiter.acquire()
        if self.stopping and not usage.calls:
            # the run stops, and nothing of this chunk is paid for yet (its first request,
            # or a retry of it): the chunk stops too, and the next run asks it
            await self.limiter.release(rate_limited=False, retry_after=None)
            raise asyncio.CancelledError
        error: CallError | None = None
        reply: Any = None
        try:
            reply = await asyncio.wait_for(
                self.llm.ainvoke(list(messages), config, **bound), self.limits.timeout
            )
        except asyncio.TimeoutError:
            error = CallError("transient", None, None, f"no reply within {self.limits.timeout:g} s")
        except Exception as exc:  # classified below
            reply = cut_off_reply(exc)  # structured mode: a reply cut off at max tokens
            error = classify_error(exc, self.secrets) if reply is None else None
        limited = error is not None and error.kind == "rate_limit"
        await self.limiter.release(
            rate_limited=limited, retry_after=error.retry_after if error else None
        )
        if error is None:
            if not isinstance(reply, AIMessage):
                raise TypeError(f"the chat model returned {type(reply).__name__}, not AIMessage")
            self._last_success = time.monotonic()
            self._unreachable = 0
            self._answered = True
            return clean_reply(reply, self.credentials)
        self._unreachable = self._unreachable + 1 if error.kind == "unreachable" else 0
        server_side = error.kind == "transient" and (error.status or 500) >= 500
        self._server_failures = self._server_failures + 1 if server_side else 0
        last, times = self._same_unexpected
        self._same_unexpected = (
            (error.message, times + 1 if error.message == last else 1)
            if error.unexpected
            else ("", 0)
        )
        raise self._exception_for(error)  # outside the except: the provider's error, which
        # may quote the key, is not kept as __context__

    def _exception_for(self, error: CallError) -> Exception:
        if error.kind == "fatal":
            return AuthenticationError(_fatal_text(error, self.where), status_code=error.status)
        if error.kind == "unreachable" and self._unreachable >= UNREACHABLE_LIMIT:
            return unreachable(self.where, error.message)
        if error.kind == "request":
            return RequestRefused(error, 1)
        if not self._answered and self._server_failures >= SERVER_FAILURE_LIMIT:
            return UnreachableError(
                f"the server at {self.where} failed every call so far "
                f"({self._server_failures} in a row, none answered; the last: {error.message}); "
                "it may be down, still starting, or not passing requests on to the model. "
                "Check --base-url and the server, then run the same command again to resume"
            )
        if not self._answered and self._same_unexpected[1] >= UNEXPECTED_LIMIT:
            return ModelError(
                f"every call so far failed with the same error ({self._same_unexpected[1]} "
                f"in a row, none answered): {error.message}. This is not an HTTP error from "
                f"the provider at {self.where}, so retrying is unlikely to help; check the "
                "chat model object (or the server's replies), then run the same command again "
                "to resume"
            )
        if error.kind == "rate_limit" and (error.retry_after or 0) > self.limits.max_wait:
            return RateLimitWait(
                f"the provider asks to wait {error.retry_after:.0f} s, more than the "
                f"{self.limits.max_wait:g} s allowed (--max-wait); run the same command later "
                "to resume"
            )
        return _Retry(error)


UNREACHABLE_LIMIT = 3
"""Unreachable errors in a row (across the run) after which the run stops."""
SERVER_FAILURE_LIMIT = 10
"""Calls in a row (across the run) that failed on the server's side (a 5xx, a timeout,
a dropped connection), none of the run's calls having been answered, after which the
run stops: a server whose model is down would otherwise get every chunk's five tries,
minutes or hours of them, and every chunk would end failed. Once a call is answered,
such errors are retried as passing faults."""
UNEXPECTED_LIMIT = 5
"""Calls in a row (across the run) that raised the same unexpected error (see
:attr:`~qasynth._callerrors.CallError.unexpected`), none of the run's calls having been
answered, after which the run stops: a broken model object fails every call the same way,
where retrying each chunk five times would take minutes and end with every chunk failed.
Once a call is answered, such errors are retried as passing faults (gateways have them)."""


_NOT_AN_API = (
    "the server there does not take chat requests, so it is not an OpenAI-compatible "
    "API; check --base-url (it usually ends in /v1)"
)


def _fatal_text(error: CallError, where: str) -> str:
    if error.code == "insufficient_quota":
        return (
            f"the account has no quota left at {where} ({error.message}); add credit or "
            "use another key, then run the same command again to resume"
        )
    advice = {
        401: "the API key was refused; check OPENAI_API_KEY (or the key of your model)",
        403: "the key may not use this model or endpoint; check the key's permissions",
        404: "the model or the URL was not found; check --model and --base-url",
        405: _NOT_AN_API,
        501: _NOT_AN_API,
        505: _NOT_AN_API,
    }.get(error.status or 0, "check the API key, --base-url and --model")
    return f"{where} refused the request ({error.message}): {advice}"

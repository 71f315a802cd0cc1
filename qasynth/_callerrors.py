"""What went wrong in a model call, and what to do about it.

:func:`classify_error` sorts an exception raised by a model call by its HTTP status
and type into a :class:`CallError`, whose ``kind`` says whether to wait and retry,
fail the chunk or stop the run. :class:`CallFailed` and :class:`RequestRefused` end a
chunk's call; :class:`RateLimitWait` ends the run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ._errors import ModelError, UnreachableError
from ._secrets import redact

__all__ = [
    "BatchCancelled",
    "CallError",
    "CallFailed",
    "ErrorKind",
    "RateLimitWait",
    "RequestRefused",
    "classify_error",
    "unreachable",
]

ErrorKind = Literal["rate_limit", "transient", "request", "fatal", "unreachable"]


@dataclass(frozen=True)
class CallError:
    """How to treat an exception raised by a model call.

    ``rate_limit``: 429, wait and retry. ``transient``: 5xx, timeouts, resets;
    retry. ``request``: the provider refused this request (context length,
    content filter, invalid request); fail the chunk, not the run. ``fatal``:
    true for every request (key, permission, model, quota); stop the run.
    ``unreachable``: no server answers at the URL (connection refused, DNS,
    a reply that is not the provider's JSON); retrying rarely helps.
    """

    kind: ErrorKind
    status: int | None
    retry_after: float | None
    message: str
    code: str | None = None
    unexpected: bool = False
    """A ``transient`` error that is no HTTP status, timeout or connection error: an
    exception of the model object's own (a gateway's error body or empty choices, which
    langchain-openai raises as ValueError, KeyError or TypeError; or a bug)."""


def _retry_after(exc: BaseException) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    value, scale = headers.get("retry-after-ms"), 1000.0
    if value is None:
        value, scale = headers.get("retry-after"), 1.0
    try:
        return max(0.0, float(value) / scale) if value is not None else None
    except (TypeError, ValueError):
        return None


def _error_code(exc: BaseException) -> str | None:
    code = getattr(exc, "code", None)
    if isinstance(code, str):
        return code
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("code"), str):
            return str(inner["code"])
    return None


def _causes(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _kind(exc: BaseException, status: int | None, code: str | None) -> ErrorKind:
    import openai  # a dependency of langchain-openai; imported on the error path only

    if status == 429:
        return "fatal" if code == "insufficient_quota" else "rate_limit"
    if status in (401, 403, 404):
        return "fatal"
    if status in (400, 413, 422):
        return "request"
    if status is not None and 400 <= status < 500 and status not in (408, 409, 425):
        return "fatal"  # 405, 410, 415, ...: not an API at this URL, or not this API
    if status in (501, 505):
        return "fatal"  # not implemented: a web server, not an API, at this URL
    if status is not None and status >= 500:
        return "transient"
    if isinstance(exc, (openai.APITimeoutError, TimeoutError, asyncio.TimeoutError)):
        return "unreachable" if _refused(exc) is not None else "transient"
    if isinstance(exc, openai.APIResponseValidationError) or _not_json(exc):
        return "unreachable"
    unreachable = (ConnectionRefusedError, OSError)
    if isinstance(exc, openai.APIConnectionError):
        for cause in _causes(exc):
            if isinstance(cause, ConnectionResetError):
                return "transient"
            if isinstance(cause, unreachable) and not isinstance(cause, TimeoutError):
                return "unreachable"
        return "transient"
    return "transient"


def _refused(exc: BaseException) -> BaseException | None:
    """What a "timeout" was when it was a connection refused, a host name unknown or a
    certificate rejected (the aiohttp transport reports those as connect timeouts)."""
    import socket
    import ssl

    refused = (ConnectionRefusedError, socket.gaierror, ssl.SSLCertVerificationError)
    return next((cause for cause in _causes(exc) if isinstance(cause, refused)), None)


def _not_json(exc: BaseException) -> bool:
    """Whether a reply that came back was not the API's JSON (an HTML page, a proxy's text)."""
    for cause in _causes(exc):
        if isinstance(cause, json.JSONDecodeError):
            return True
        if isinstance(cause, ValueError) and "Unexpected response type" in str(cause):
            return True  # langchain-openai: the body was parsed as text, not JSON
    return False


def classify_error(exc: BaseException, secrets: Iterable[str | None] = ()) -> CallError:
    """Sort a model-call exception by its HTTP status and type (see :class:`CallError`)."""
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    code = _error_code(exc)
    kind = _kind(exc, status, code)
    shown = _refused(exc) if kind == "unreachable" and status is None else None
    shown = exc if shown is None else shown  # not "Request timed out" for a refusal
    message = redact(f"{type(shown).__name__}: {shown}", secrets)[:500]
    return CallError(
        kind, status, _retry_after(exc), message, code,
        unexpected=kind == "transient" and status is None and not _is_transport_error(exc),
    )  # fmt: skip


def _is_transport_error(exc: BaseException) -> bool:
    """A timeout, or an error of the HTTP client or provider SDK (connection, protocol)."""
    import openai

    if isinstance(exc, (TimeoutError, asyncio.TimeoutError, OSError, openai.APIError)):
        return True
    # other providers' SDKs and HTTP clients (anthropic, httpx, aiohttp, ...)
    names = {klass.__name__ for klass in type(exc).__mro__}
    return bool(names & {"APIError", "APIConnectionError", "HTTPError", "ClientError"})


def unreachable(where: str, message: str, *, doing: str = "") -> UnreachableError:
    """The error for a server that cannot be reached at ``where`` (a URL, with the
    model when there is one; any password in it is removed) while ``doing``
    something ("fine-tuning"), if said."""
    return UnreachableError(
        f"{doing + ' failed: ' if doing else ''}cannot reach the model server at "
        f"{redact(where)} ({message}); check --base-url (OPENAI_BASE_URL) and that the "
        "server is running"
    )


class CallFailed(Exception):
    """A model call gave up after its retries (the chunk fails; the run goes on)."""

    def __init__(self, error: CallError, attempts: int) -> None:
        super().__init__(error.message)
        self.error = error
        self.attempts = attempts


class RequestRefused(CallFailed):
    """The provider refused this one request (context length, content filter, ...)."""


class BatchCancelled(ModelError):
    """A batch was cancelled before it answered every chunk: the rest is not sent live
    at twice the price unasked; the run stops and says how to go on."""


class RateLimitWait(ModelError):
    """The provider asked for a longer wait than ``Limits.max_wait`` allows."""

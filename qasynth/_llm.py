"""Creating the default chat model and classifying what a model call raised.

No model is constructed at import time. The default is
``ChatOpenAI(model="gpt-4o-mini", temperature=0)`` with a request timeout;
retries are done by qasynth itself (see ``pipeline``) so that a 429 can also
slow the whole run down instead of every request retrying on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import importlib
import os
import urllib.parse
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from langchain_core.language_models import BaseChatModel

from ._constants import DEFAULT_MODEL, DEFAULT_REQUEST_TIMEOUT
from ._errors import ConfigurationError
from ._secrets import redact

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_REQUEST_TIMEOUT",
    "base_url_of",
    "check_key",
    "check_key_text",
    "default_chat_model",
    "model_name_of",
    "model_params_of",
    "openai_connection",
    "secrets_of",
    "where_of",
]

_LOCAL_KEY = "not-needed"


PROVIDERS = frozenset(
    {
        "anthropic", "azure_ai", "azure_openai", "bedrock", "bedrock_converse", "cohere",
        "deepseek", "fireworks", "google_anthropic_vertex", "google_genai", "google_vertexai",
        "groq", "huggingface", "ibm", "mistralai", "nvidia", "ollama", "openai", "perplexity",
        "together", "upstage", "xai",
    }
)  # fmt: skip
"""Prefixes that route ``provider:model`` to LangChain's ``init_chat_model``."""


def _split_provider(model: str) -> tuple[str, str]:
    """``("openai", model)`` unless ``model`` starts with a known provider prefix.

    Most local model tags contain a colon (``qwen2:7b``, ``llama3:8b``): only the
    LangChain provider names in :data:`PROVIDERS` are routed, so those tags stay
    whole model names, with or without ``base_url``."""
    provider, sep, name = model.partition(":")
    if sep and name and provider.lower() in PROVIDERS:
        return provider.lower(), name
    return "openai", model


def default_chat_model(
    model: str = DEFAULT_MODEL,
    *,
    temperature: float = 0.0,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout: float = DEFAULT_REQUEST_TIMEOUT,
    max_retries: int = 0,
) -> BaseChatModel:
    """Create the chat model for a model name (``gpt-4o-mini`` or ``provider:model``).

    OpenAI models honour ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL``; a base URL
    without a key is allowed (local servers such as Ollama need none). Other
    providers go through ``langchain.chat_models.init_chat_model``.
    """
    provider, name = _split_provider(model)
    if provider != "openai":
        return _other_provider(model, temperature=temperature, timeout=timeout, base_url=base_url)
    from langchain_openai import ChatOpenAI

    base_url, key = openai_connection(base_url, api_key, own_model="your own chat model as llm=")
    return ChatOpenAI(
        model=name,
        temperature=temperature,
        base_url=base_url,
        api_key=key,
        timeout=timeout,
        max_retries=max_retries,
    )


def openai_connection(
    base_url: str | None, api_key: str | None, *, own_model: str
) -> tuple[str | None, str]:
    """The base URL and key for an OpenAI client: the given ones, else
    ``OPENAI_BASE_URL``/``OPENAI_API_KEY``; a base URL without a key sends a
    placeholder (local servers need none). ``own_model`` names the way out
    ("your own chat model as llm=") in the error for neither."""
    base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
    key = api_key or os.environ.get("OPENAI_API_KEY")
    if not key:
        if not base_url:
            raise ConfigurationError(
                "no OpenAI API key: set the OPENAI_API_KEY environment variable, or use an "
                "OpenAI-compatible server that needs none with base_url= (CLI: --base-url, "
                f"or OPENAI_BASE_URL), or pass {own_model}"
            )
        key = _LOCAL_KEY
    return base_url, key


def _other_provider(
    model: str, *, temperature: float, timeout: float, base_url: str | None
) -> BaseChatModel:
    try:
        module = importlib.import_module("langchain.chat_models")
    except ImportError as exc:
        raise ConfigurationError(
            f"model {model!r} names the LangChain provider {model.partition(':')[0]!r}; "
            "install it with: pip install 'qasynth[providers]' and the provider's package "
            "(e.g. langchain-anthropic), or pass the chat model as llm="
        ) from exc
    extra = {"base_url": base_url} if base_url else {}
    try:
        chat = module.init_chat_model(model, temperature=temperature, timeout=timeout, **extra)
    except Exception as exc:
        raise ConfigurationError(f"cannot create model {model!r}: {redact(str(exc))}") from exc
    if not isinstance(chat, BaseChatModel):
        raise ConfigurationError(f"model {model!r} did not give a LangChain chat model")
    return chat


def model_name_of(llm: BaseChatModel) -> str:
    """The model name a chat model reports, or its class name."""
    for attribute in ("model_name", "model", "model_id", "deployment_name"):
        value = getattr(llm, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(llm).__name__


def base_url_of(llm: BaseChatModel) -> str | None:
    """The URL a chat model sends its requests to, when it says (``None``: the
    provider's default, or a model that does not say)."""
    url = getattr(llm, "openai_api_base", None) or getattr(llm, "base_url", None)
    return url if isinstance(url, str) and url else None


def where_of(llm: BaseChatModel) -> str:
    """The model and URL a chat model talks to, for error messages."""
    url = redact(base_url_of(llm) or "the provider's default URL")  # a password in it
    return f"{url} (model {model_name_of(llm)})"


def model_params_of(llm: BaseChatModel) -> dict[str, Any]:
    """Parameters that change a model's output (for fingerprints and caches)."""
    params: dict[str, Any] = {"class": type(llm).__name__, "model": model_name_of(llm)}
    for attribute in ("temperature", "top_p", "max_tokens", "seed"):
        value = getattr(llm, attribute, None)
        if isinstance(value, (int, float, str)):
            params[attribute] = value
    return params


def secrets_of(llm: BaseChatModel | None, *extra: str | None) -> tuple[str, ...]:
    """The secrets a run must never write: ``extra`` ones (an ``api_key=`` option, the
    environment's keys) and any key held by the model object, whatever its shape."""
    found = [s for s in extra if s]
    for name in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        value = os.environ.get(name)
        if value:
            found.append(value)
    found.extend(key for key in _model_keys(llm) if key != _LOCAL_KEY)
    return tuple(dict.fromkeys(found))


def _model_keys(llm: BaseChatModel | None) -> list[str]:
    """The keys a model object holds (whichever provider's attribute has one)."""
    keys = []
    for attribute in ("openai_api_key", "api_key", "anthropic_api_key", "google_api_key"):
        value = getattr(llm, attribute, None)
        if value is not None and hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if isinstance(value, str) and value:
            keys.append(value)
    return keys


def check_key(llm: BaseChatModel) -> None:
    """Raise ``ConfigurationError`` when the key the model sends holds a character an
    HTTP header cannot carry (see :func:`check_key_text`)."""
    for value in _model_keys(llm):
        check_key_text(value)


def check_key_text(value: str | None) -> None:
    """Raise ``ConfigurationError`` when ``value``, a key, holds a character an HTTP
    header cannot carry (a line break, a space or tab at either end, a non-ASCII
    character): every request would fail before it left, one retry after another.
    The message says which character, never the key."""
    value = value or ""
    for position, char in enumerate(value, 1):
        if char in "\r\n":
            what = "a line break"
        elif char.isspace() and (position == 1 or position == len(value)):
            what = "a space at the start" if position == 1 else "a space at the end"
        elif not (char.isascii() and char.isprintable()):
            what = "a character that is not printable ASCII"
        else:
            continue
        raise ConfigurationError(
            f"the API key holds {what} (character {position} of {len(value)}), which "
            "an HTTP header cannot carry; set the key again without it (a key read "
            "from a file often ends with a line break)"
        )


@dataclasses.dataclass
class _Shared:
    """The client qasynth uses in place of a user's model's client on one event loop,
    and how many runs on that loop use it now."""

    root: Any
    """The user's model's client."""
    client: Any
    closer: AsyncGenerator[None, None] | None
    """Closes the HTTP client made for it (see :func:`_close_with_loop`), if one was."""
    users: int = 0


_OWN_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, _Shared]] = (
    weakref.WeakKeyDictionary()
)
"""Per event loop, per client of a user's model: the client qasynth uses."""

Release = Callable[[], Awaitable[None]]
"""Called once a run is done with the model :func:`with_own_http_client` gave it."""


def with_own_http_client(llm: BaseChatModel) -> tuple[BaseChatModel, Release | None]:
    """``llm`` for a run: for an OpenAI chat model (``ChatOpenAI``, ``AzureChatOpenAI``),
    a copy whose client retries nothing itself and, when the model is on
    langchain-openai's process-wide async HTTP client, has an HTTP client of the
    running event loop's own; else ``llm``. Also returns what to call when the run is
    done with it (``None`` when there is nothing to let go of).

    Retries are qasynth's alone, so each one is counted, honours Retry-After and slows
    the run down on 429s (the client's own, 2 by default, were invisible to it).

    The shared HTTP client keeps its connections open for the next call, bound to the
    event loop they were opened in. A run on another event loop (a second
    ``asyncio.run``, a notebook that mixes ``synthesize`` with ``await asynthesize``)
    then fails on them after the server has answered, and the request is sent, and
    paid for, again. So each event loop gets a client of its own, which the runs on
    that loop in progress at the same time share; the last of them closes it
    (:func:`_release`), and a loop that shuts down closes what a run left open
    (:func:`_close_with_loop`). A model given its own HTTP client
    (``http_async_client=``) or a proxy keeps it.

    The client sends through aiohttp where it can (see :func:`_aiohttp_client`), else
    httpx."""
    try:
        from langchain_openai.chat_models.base import BaseChatOpenAI
    except ImportError:  # pragma: no cover - langchain-openai is a dependency
        return llm, None
    root = getattr(llm, "root_async_client", None)
    if not isinstance(llm, BaseChatOpenAI) or root is None or not hasattr(root, "copy"):
        return llm, None
    shared = llm.http_async_client is None and not llm.openai_proxy
    if not shared and root.max_retries == 0:
        return llm, None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no loop yet: a client for this run alone
        client, http = _retryless_copy(root, shared)
        return _on_client(llm, client), (http.aclose if http is not None else None)
    clients = _OWN_CLIENTS.setdefault(loop, {})
    entry = clients.get(id(root))
    if entry is None or entry.root is not root:
        client, http = _retryless_copy(root, shared)
        closer = _close_with_loop(loop, http) if http is not None else None
        entry = clients[id(root)] = _Shared(root, client, closer)
    entry.users += 1
    return _on_client(llm, entry.client), functools.partial(_release, loop, entry)


def _retryless_copy(root: Any, own_http: bool) -> tuple[Any, Any]:
    """A copy of the OpenAI client ``root`` that retries nothing itself, and the HTTP
    client made for it (``own_http``), else ``None``."""
    http = _new_http_client(root.timeout, root.base_url) if own_http else None
    return root.copy(max_retries=0, **({"http_client": http} if own_http else {})), http


async def _release(loop: asyncio.AbstractEventLoop, entry: _Shared) -> None:
    """One run less uses ``entry``; the last one closes its HTTP client (a loop closed
    without finalizing its async generators, ``loop.close()`` after
    ``run_until_complete``, would otherwise leave it open, and aiohttp warns)."""
    entry.users -= 1
    if entry.users:
        return
    clients = _OWN_CLIENTS.get(loop, {})
    if clients.get(id(entry.root)) is entry:
        del clients[id(entry.root)]
    if entry.closer is not None:
        with contextlib.suppress(ValueError):
            _CLOSERS.get(loop, []).remove(entry.closer)
        await entry.closer.aclose()


_CLOSERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[AsyncGenerator[None, None]]] = (
    weakref.WeakKeyDictionary()
)


def _close_with_loop(loop: asyncio.AbstractEventLoop, http: Any) -> AsyncGenerator[None, None]:
    """Close ``http`` when ``loop`` finalizes its async generators (at the end of
    ``asyncio.run`` or an ``asyncio.Runner``, and at exit for qasynth's own loop, see
    ``_sync``), unless the returned generator is closed first (which closes ``http``
    then). Called from a task on ``loop``.

    The last run that uses a client closes it (:func:`_release`); this is for a run
    that never got to. An aiohttp session left open warns when it is collected, so
    the client is given to an async generator that closes it in its ``finally``: the
    loop keeps a (weak) record of each async generator started on it and closes them
    all when it shuts down."""

    async def closer() -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await http.aclose()

    generator = closer()
    step = generator.__anext__()  # the loop's hook records the generator here
    with contextlib.suppress(StopIteration):
        step.send(None)  # runs it up to its yield (it awaits nothing before)
    _CLOSERS.setdefault(loop, []).append(generator)  # the loop's record is weak
    return generator


def _on_client(llm: Any, client: Any) -> BaseChatModel:
    """A copy of the OpenAI chat model ``llm`` that calls through ``client``."""
    own = llm.model_copy()
    own.root_async_client = client
    own.async_client = client.chat.completions
    return own  # type: ignore[no-any-return]


HTTP_CLIENT_VARIABLE = "QASYNTH_HTTP_CLIENT"
"""Set to ``httpx`` to keep the OpenAI client's own HTTP transport (see
:func:`_aiohttp_client`)."""


def _new_http_client(timeout: Any, base_url: object) -> Any:
    """An async HTTP client for the OpenAI client: aiohttp's where it can carry the
    calls (see :func:`_aiohttp_client`), else httpx's, with the OpenAI client's defaults."""
    import openai

    return _aiohttp_client(timeout, str(base_url)) or openai.DefaultAsyncHttpxClient(
        timeout=timeout
    )


def _proxied(url: str) -> bool:
    """Whether the system sends requests to ``url`` through a proxy: the proxy
    environment variables (``HTTPS_PROXY``, ``ALL_PROXY``, ... less ``NO_PROXY``), and
    on macOS and Windows the system's proxy settings, as httpx reads them."""
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(url)
    try:
        proxies = urllib.request.getproxies()
    except Exception:  # an unreadable system setting: assume a proxy
        return True
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    host = parts.hostname or ""
    try:
        return not (host and urllib.request.proxy_bypass(host))
    except Exception:  # likewise
        return True


def _aiohttp_client(timeout: Any, base_url: str) -> Any:
    """An HTTP client that sends through aiohttp (the OpenAI client's
    ``DefaultAioHttpClient``), else ``None`` (then httpx, the OpenAI client's default).

    A call costs a fifth less CPU than with httpx at 32 requests in flight and
    nearly half less at 128: httpx's pool looks at every connection for every request
    (``benchmarks/bench_client.py``). It is kept off when requests to ``base_url``
    would go through a proxy (httpx honours the proxy settings; some proxies aiohttp
    cannot reach), when ``base_url`` holds a user name or password (aiohttp refuses
    those beside the key's Authorization header; httpx sends them), when
    ``QASYNTH_HTTP_CLIENT=httpx`` asks so, and when the OpenAI client lacks it."""
    if os.environ.get(HTTP_CLIENT_VARIABLE, "").strip().lower() == "httpx":
        return None
    if _proxied(base_url) or "@" in urllib.parse.urlsplit(base_url).netloc:
        return None
    try:
        import aiohttp  # noqa: F401  (the transport's own import fails late, at a call)
        from openai import DefaultAioHttpClient
    except ImportError:
        return None
    try:
        return DefaultAioHttpClient(timeout=timeout)
    except RuntimeError:  # the OpenAI client's stand-in when its aiohttp extra is missing
        return None

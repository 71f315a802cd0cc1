"""A loopback fake of the OpenAI chat-completions API, for offline tests and benchmarks.

``FakeOpenAIServer`` listens on ``127.0.0.1`` (an ephemeral port), answers
``POST /v1/chat/completions`` (non-streaming) and ``GET /v1/models``, and records
every request, without the API key::

    import qasynth
    from langchain_openai import ChatOpenAI
    from qasynth.testing import ErrorReply, FakeOpenAIServer, Hang

    with FakeOpenAIServer(latency=0.1) as server:
        llm = ChatOpenAI(model="gpt-4o-mini", base_url=server.base_url, api_key="test-key")
        dataset = qasynth.synthesize(["notes.txt"], llm=llm)
        print(len(server.requests), server.peak_in_flight)

By default it behaves like a cooperative model for qasynth's prompt: one
question-answer pair per sentence of the text after the ``Text:`` line, and a
valid reply to LangChain's output-fixing prompt. Change that with
``responder=`` (a function from :class:`ReplyContext` to a reply), inject
faults for given request numbers with ``faults={3: ErrorReply(429, retry_after=0.2),
5: Hang(30)}``, or simulate sloppy models with :func:`malformed_responder`.
Waits (latency, :class:`Delay`, :class:`Hang`) end as soon as ``stop()`` is called.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeAlias

__all__ = [
    "FIXER_REPLY",
    "UNREPAIRABLE_REPLY",
    "Content",
    "Delay",
    "ErrorReply",
    "FakeOpenAIServer",
    "Hang",
    "RecordedRequest",
    "Reply",
    "ReplyContext",
    "Responder",
    "default_responder",
    "is_fix_request",
    "malformed_responder",
    "qa_pairs",
]

logger = logging.getLogger("qasynth")


@dataclass(frozen=True)
class Content:
    """A 200 reply with this assistant text; token counts are estimated unless given."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class ErrorReply:
    """An OpenAI-style error reply, with a ``Retry-After`` header when ``retry_after`` is set."""

    status: int
    message: str = "The fake server was told to fail this request."
    retry_after: float | None = None
    error_type: str | None = None


@dataclass(frozen=True)
class Hang:
    """Wait ``seconds`` then reply with the default content; closes at once on ``stop()``."""

    seconds: float


@dataclass(frozen=True)
class Delay:
    """Wait ``seconds`` more, then give the ``then`` reply."""

    seconds: float
    then: Reply


Reply: TypeAlias = Content | ErrorReply | Hang | Delay


@dataclass(frozen=True)
class ReplyContext:
    """What a responder sees: the request number, model, messages and the whole body."""

    number: int
    model: str
    messages: list[dict[str, str]]
    temperature: float | None
    body: dict[str, Any] = field(repr=False)

    @property
    def last_user_message(self) -> str:
        """Content of the last ``user`` message ("" when there is none)."""
        users = [m["content"] for m in self.messages if m["role"] == "user"]
        return users[-1] if users else ""

    @property
    def document_message(self) -> str:
        """The last user message holding a ``Text:`` line (the document), else the last one.

        A follow-up such as qasynth's top-up request has no ``Text:`` line; the
        document is in an earlier message.
        """
        users = [m["content"] for m in self.messages if m["role"] == "user"]
        with_text = [u for u in users if "\nText:\n" in u or u.startswith("Text:\n")]
        return with_text[-1] if with_text else self.last_user_message


Responder: TypeAlias = Callable[[ReplyContext], Reply]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received. The Authorization header's value is never kept.

    ``status`` is ``None`` when the connection was closed without a reply (stopped).
    """

    number: int
    path: str
    body: dict[str, Any]
    has_authorization: bool
    status: int | None


# --- the default, cooperative model -------------------------------------------------

FIXER_REPLY = json.dumps(
    {
        "question_answer_pairs": [
            {"question": "What did the fixer repair?", "answer": "The malformed output."}
        ]
    }
)
UNREPAIRABLE_REPLY = "I cannot produce JSON for this."
_FIX_MARKERS = ("Completion:", "Above, the Completion did not satisfy the constraints")
_SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？]*")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff66-\uff9f]")
_WORD = re.compile(r"\w")
_TRAILING = " .!?,;:。！？、，"


def is_fix_request(ctx: ReplyContext) -> bool:
    """Whether the last message is LangChain's ``OutputFixingParser`` prompt."""
    last = ctx.messages[-1]["content"] if ctx.messages else ""
    return all(marker in last for marker in _FIX_MARKERS)


def _document_text(message: str) -> str:
    lines = message.split("\n")
    marks = [i for i, line in enumerate(lines) if line.rstrip("\r") == "Text:"]
    return "\n".join(lines[marks[-1] + 1 :]) if marks else message


def _theme(message: str) -> str:
    for line in message.splitlines():
        if line.startswith("Theme:"):
            theme = line[len("Theme:") :].strip()
            if theme and theme != "(not given)":
                return theme
    return "source"


def _question(sentence: str, theme: str) -> str:
    if _CJK.search(sentence):
        return f"{theme}について「{sentence[:12].rstrip(_TRAILING)}」とは何ですか？"
    head = " ".join(sentence.split()[:6]).rstrip(_TRAILING)
    return f"What does the {theme} text say about {head}?"


def qa_pairs(message: str, *, limit: int = 10) -> list[dict[str, str]]:
    """The default responder's pairs for a user message: one per sentence of its text."""
    theme = _theme(message)
    sentences = [s.strip() for s in _SENTENCE.findall(_document_text(message)) if _WORD.search(s)]
    return [{"question": _question(s, theme), "answer": s} for s in sentences[:limit]]


def _pairs_json(pairs: list[dict[str, str]]) -> str:
    return json.dumps({"question_answer_pairs": pairs}, ensure_ascii=False)


def default_responder(ctx: ReplyContext) -> Reply:
    """A cooperative model: pairs from the last user message, or the fixer's repair."""
    if is_fix_request(ctx):
        return Content(FIXER_REPLY)
    return Content(_pairs_json(qa_pairs(ctx.document_message)))


# --- malformed output ---------------------------------------------------------------


def _fenced(pairs: list[dict[str, str]]) -> str:
    return f"Sure! Here are the pairs:\n\n```json\n{_pairs_json(pairs)}\n```\n\nHope this helps."


def _trailing_commas(pairs: list[dict[str, str]]) -> str:
    items = [
        f'{{"question": {json.dumps(p["question"])}, "answer": {json.dumps(p["answer"])},}}'
        for p in pairs
    ]
    return '{"question_answer_pairs": [' + ", ".join(items) + ",],}"


def _python_literals(pairs: list[dict[str, str]]) -> str:
    items = [f"{{'question': {p['question']!r}, 'answer': {p['answer']!r}}}" for p in pairs]
    return "{'question_answer_pairs': [" + ", ".join(items) + "], 'complete': True}"


def _truncated(pairs: list[dict[str, str]]) -> str:
    if len(pairs) < 2:
        return _fenced(pairs)
    question = json.dumps(pairs[1]["question"], ensure_ascii=False)
    cut = question[: max(2, len(question) // 2)]
    first = json.dumps(pairs[0], ensure_ascii=False)
    return f'{{"question_answer_pairs": [{first}, {{"question": {cut}'


_MALFORMERS: tuple[Callable[[list[dict[str, str]]], str], ...] = (
    _fenced,
    _trailing_commas,
    _python_literals,
    _truncated,
)


def _draw(seed: int, message: str) -> tuple[float, int]:
    digest = hashlib.sha256(f"{seed}\x00{message}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64, digest[8]


def malformed_responder(
    fraction: float, *, seed: int = 0, unrepairable_fraction: float = 0.0
) -> Responder:
    """A responder that garbles some replies, chosen by a hash of ``seed`` and the last
    user message (so the same prompts are garbled whatever the arrival order).

    ``fraction`` of replies are malformed in ways local repair can fix (prose and code
    fences, trailing commas, Python literals, an array cut inside its second pair);
    ``unrepairable_fraction`` are prose with no JSON. Fix requests are always answered.
    """
    if fraction < 0 or unrepairable_fraction < 0 or fraction + unrepairable_fraction > 1:
        raise ValueError("fractions must be >= 0 and add up to at most 1")

    def respond(ctx: ReplyContext) -> Reply:
        if is_fix_request(ctx):
            return Content(FIXER_REPLY)
        draw, kind = _draw(seed, ctx.document_message)
        if draw < unrepairable_fraction:
            return Content(UNREPAIRABLE_REPLY)
        pairs = qa_pairs(ctx.document_message)
        if draw < unrepairable_fraction + fraction:
            return Content(_MALFORMERS[kind % len(_MALFORMERS)](pairs))
        return Content(_pairs_json(pairs))

    return respond


# --- the HTTP server ------------------------------------------------------------------


@dataclass(frozen=True)
class _Response:
    status: int
    payload: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _error(reply: ErrorReply) -> _Response:
    server_side = reply.status >= 500
    kind = reply.error_type or ("server_error" if server_side else "invalid_request_error")
    code = "rate_limit_exceeded" if reply.status == 429 else None
    payload = {"error": {"message": reply.message, "type": kind, "param": None, "code": code}}
    headers = {} if reply.retry_after is None else {"Retry-After": f"{reply.retry_after:g}"}
    return _Response(reply.status, payload, headers)


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _completion(ctx: ReplyContext, content: Content) -> _Response:
    prompt = content.prompt_tokens
    if prompt is None:
        prompt = _tokens("".join(m["content"] for m in ctx.messages))
    completion = content.completion_tokens
    if completion is None:
        completion = _tokens(content.text)
    message = {"role": "assistant", "content": content.text}
    choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    payload = {
        "id": f"chatcmpl-fake-{ctx.number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": ctx.model,
        "choices": [choice],
        "usage": usage,
    }
    return _Response(200, payload)


def _message(raw: dict[str, Any]) -> dict[str, str]:
    content = raw.get("content")
    if isinstance(content, list):  # content parts: keep the text ones
        content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    text = content if isinstance(content, str) else ""
    return {"role": str(raw.get("role", "")), "content": text}


def _context(number: int, body: dict[str, Any], default_model: str) -> ReplyContext:
    messages = [_message(m) for m in body["messages"] if isinstance(m, dict)]
    temp = body.get("temperature")
    temperature = float(temp) if isinstance(temp, (int, float)) and temp is not True else None
    model = body.get("model")
    model = model if isinstance(model, str) else default_model
    return ReplyContext(number, model, messages, temperature, body)


def _read_json(handler: BaseHTTPRequestHandler) -> dict[str, Any] | None:
    try:
        length = int(handler.headers.get("Content-Length") or 0)
    except ValueError:
        return None
    raw = handler.rfile.read(length) if length > 0 else b""
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _write(handler: BaseHTTPRequestHandler, response: _Response) -> None:
    data = json.dumps(response.payload, ensure_ascii=False).encode("utf-8")
    handler.send_response(response.status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for name, value in response.headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.owner._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._closed(self.connection)

    def do_GET(self) -> None:
        self.server.owner._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.owner._handle(self, "POST")

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake OpenAI server: " + format, *args)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256  # the default (5) drops bursts of connects for a second

    def __init__(self, owner: FakeOpenAIServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("fake OpenAI server: connection error", exc_info=True)


class FakeOpenAIServer:
    """A fake OpenAI chat-completions endpoint on 127.0.0.1; see the module docstring.

    Request numbers count every request (any path) from 1, in arrival order;
    ``faults[n]`` replaces the responder's reply for request ``n``.
    """

    def __init__(
        self,
        *,
        responder: Responder | None = None,
        latency: float = 0.0,
        faults: Mapping[int, Reply] | None = None,
        model: str = "fake-model",
    ) -> None:
        if latency < 0:
            raise ValueError("latency must be >= 0")
        self.responder: Responder = responder or default_responder
        self.latency = latency
        self.faults: dict[int, Reply] = dict(faults or {})
        self.model = model
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._records: list[RecordedRequest] = []
        self._count = self._in_flight = self._peak = 0

    # lifecycle
    def start(self) -> FakeOpenAIServer:
        """Bind an ephemeral port and serve on a background thread."""
        if self._httpd is not None:
            raise RuntimeError("FakeOpenAIServer is already running")
        self._stopping = threading.Event()
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="qasynth-fake-openai",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; waiting requests are cut short and their connections closed."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # what tests look at
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeOpenAIServer is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, for ``ChatOpenAI(base_url=...)``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Answered (or dropped) requests so far, by request number."""
        with self._lock:
            return sorted(self._records, key=lambda r: r.number)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @property
    def peak_in_flight(self) -> int:
        with self._lock:
            return self._peak

    def reset_stats(self) -> None:
        """Forget recorded requests, restart numbering at 1 and reset the peak."""
        with self._lock:
            self._records.clear()
            self._count = 0
            self._peak = self._in_flight

    # request handling (called on handler threads)
    def _opened(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)

    def _closed(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _wait(self, seconds: float) -> bool:
        """Wait unless stopping; False when ``stop()`` cut the wait short."""
        if seconds > 0:
            self._stopping.wait(seconds)
        return not self._stopping.is_set()

    def _handle(self, handler: _Handler, method: str) -> None:
        with self._lock:
            self._count += 1
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            number = self._count
        has_auth = any(k in handler.headers for k in ("Authorization", "api-key"))
        response: _Response | None = None
        body: dict[str, Any] | None = None
        try:
            body = _read_json(handler)
            response = self._respond(number, method, handler.path, body)
        finally:
            status = None if response is None else response.status
            record = RecordedRequest(number, handler.path, body or {}, has_auth, status)
            with self._lock:
                self._in_flight -= 1
                self._records.append(record)
        if response is None:
            handler.close_connection = True
        else:
            _write(handler, response)

    def _respond(
        self, number: int, method: str, path: str, body: dict[str, Any] | None
    ) -> _Response | None:
        if not self._wait(self.latency):
            return None
        route = (method, path.split("?")[0].rstrip("/"))
        if route == ("GET", "/v1/models"):
            model = {"id": self.model, "object": "model", "created": 0, "owned_by": "qasynth"}
            return _Response(200, {"object": "list", "data": [model]})
        if route != ("POST", "/v1/chat/completions"):
            return _error(ErrorReply(404, f"Unknown endpoint: {method} {path}"))
        if body is None or not isinstance(body.get("messages"), list):
            return _error(ErrorReply(400, "The body must be a JSON object with 'messages'."))
        if body.get("stream"):
            return _error(ErrorReply(400, "FakeOpenAIServer does not support stream=true."))
        ctx = _context(number, body, self.model)
        return self._resolve(self._choose(ctx), ctx)

    def _choose(self, ctx: ReplyContext) -> Reply:
        if ctx.number in self.faults:
            return self.faults[ctx.number]
        try:
            return self.responder(ctx)
        except Exception as exc:
            logger.exception("fake OpenAI server: responder failed on request %d", ctx.number)
            return ErrorReply(500, f"The responder raised {type(exc).__name__}: {exc}")

    def _resolve(self, reply: Reply, ctx: ReplyContext) -> _Response | None:
        if isinstance(reply, Delay):
            return self._resolve(reply.then, ctx) if self._wait(reply.seconds) else None
        if isinstance(reply, Hang):
            return self._resolve(default_responder(ctx), ctx) if self._wait(reply.seconds) else None
        if isinstance(reply, ErrorReply):
            return _error(reply)
        return _completion(ctx, reply)

"""The fake server itself: HTTP handling, routing, recording and fault injection.

Chat completions are answered by the responder (or a fault); files, fine-tuning
jobs and batches are kept by :class:`~qasynth.testing.resources.Resources`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import socket
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .replies import (
    Content,
    Delay,
    ErrorReply,
    Hang,
    RawReply,
    RecordedRequest,
    Reply,
    ReplyContext,
    Reset,
    Responder,
    default_responder,
)
from .resources import FileUpload, Resources, parse_multipart

__all__ = ["FakeOpenAIServer"]

logger = logging.getLogger("qasynth")


# --- the HTTP server ------------------------------------------------------------------


@dataclass(frozen=True)
class _Response:
    status: int
    payload: dict[str, Any] | bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None


def _error(reply: ErrorReply) -> _Response:
    server_side = reply.status >= 500
    kind = reply.error_type or ("server_error" if server_side else "invalid_request_error")
    code = reply.code or ("rate_limit_exceeded" if reply.status == 429 else None)
    payload = {"error": {"message": reply.message, "type": kind, "param": None, "code": code}}
    headers = {} if reply.retry_after is None else {"Retry-After": f"{reply.retry_after:g}"}
    return _Response(reply.status, payload, headers)


def _upload_summary(upload: FileUpload | None) -> dict[str, Any]:
    if upload is None:
        return {}
    return {"filename": upload.filename, "purpose": upload.purpose, "bytes": len(upload.content)}


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


_CACHE_MIN_CHARS = 4 * 1024  # 1,024 tokens at the server's 4 characters a token
_CACHE_STEP_CHARS = 4 * 128


class _PrefixCache:
    """Prompt prefixes seen so far, as OpenAI's prompt cache keeps them: from 1,024
    tokens on, in steps of 128 (tokens estimated at 4 characters each)."""

    def __init__(self) -> None:
        self._seen: set[bytes] = set()
        self._lock = threading.Lock()

    def cached_tokens(self, messages: list[dict[str, str]]) -> int:
        """Tokens of the longest earlier-seen prefix of ``messages``; remembers theirs."""
        text = "".join(f"\x00{m['role']}\x00{m['content']}" for m in messages).encode()
        digest = hashlib.sha256()
        hashes: list[tuple[int, bytes]] = []
        done = 0
        for end in range(_CACHE_MIN_CHARS, len(text) + 1, _CACHE_STEP_CHARS):
            digest.update(text[done:end])
            done = end
            hashes.append((end, digest.copy().digest()))
        with self._lock:
            hit = max((end for end, h in hashes if h in self._seen), default=0)
            self._seen.update(h for _, h in hashes)
        return hit // 4


def _completion(ctx: ReplyContext, content: Content, cached: int = 0) -> _Response:
    prompt = content.prompt_tokens
    if prompt is None:
        prompt = _tokens("".join(m["content"] for m in ctx.messages))
    completion = content.completion_tokens
    if completion is None:
        completion = _tokens(content.text)
    message = {"role": "assistant", "content": content.text}
    choice = {"index": 0, "message": message, "finish_reason": content.finish_reason,
              "logprobs": None}  # fmt: skip
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cached:
        usage["prompt_tokens_details"] = {"cached_tokens": min(cached, prompt)}
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


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    try:
        length = int(handler.headers.get("Content-Length") or 0)
    except ValueError:
        return b""
    return handler.rfile.read(length) if length > 0 else b""


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _write(handler: BaseHTTPRequestHandler, response: _Response) -> None:
    if isinstance(response.payload, bytes):
        data, kind = response.payload, response.content_type or "application/octet-stream"
    else:
        data = json.dumps(response.payload, ensure_ascii=False).encode("utf-8")
        kind = response.content_type or "application/json"
    handler.send_response(response.status)
    handler.send_header("Content-Type", kind)
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
        with contextlib.suppress(OSError):  # headers and body go out in separate writes
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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

    def do_DELETE(self) -> None:
        self.server.owner._handle(self, "DELETE")

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
    ``faults[n]`` replaces the responder's reply for request ``n`` (chat requests
    only). Files, fine-tuning jobs and batches are in :attr:`resources`; with
    ``fine_tune_error`` every fine-tuning job fails with that message.
    """

    def __init__(
        self,
        *,
        responder: Responder | None = None,
        latency: float = 0.0,
        faults: Mapping[int, Reply] | None = None,
        model: str = "fake-model",
        fine_tune_error: str | None = None,
    ) -> None:
        if latency < 0:
            raise ValueError("latency must be >= 0")
        self.responder: Responder = responder or default_responder
        self.latency = latency
        self.faults: dict[int, Reply] = dict(faults or {})
        self.model = model
        self.resources = Resources(fine_tune_error=fine_tune_error)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._records: list[RecordedRequest] = []
        self._count = self._in_flight = self._peak = 0
        self._batch_lines = 0
        self._prefixes = _PrefixCache()

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
            raw = _read_body(handler)
            upload = None
            content_type = handler.headers.get("Content-Type") or ""
            if content_type.startswith("multipart/form-data"):
                upload = parse_multipart(content_type, raw)
                body = _upload_summary(upload)
            else:
                body = _json_object(raw)
            response = self._respond(number, method, handler.path, body, upload)
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
        self,
        number: int,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        upload: FileUpload | None = None,
    ) -> _Response | None:
        if not self._wait(self.latency):
            return None
        route, _, query_text = path.partition("?")
        route = route.rstrip("/")
        query = dict(urllib.parse.parse_qsl(query_text))
        if (method, route) == ("GET", "/v1/models"):
            names = [self.model, *self.resources.model_ids()]
            models = [{"id": n, "object": "model", "created": 0, "owned_by": "qasynth"}
                      for n in names]  # fmt: skip
            return _Response(200, {"object": "list", "data": models})
        if (method, route) == ("POST", "/v1/chat/completions"):
            return self._chat(number, body)
        if (method, route) == ("POST", "/v1/embeddings"):
            return _embeddings(body or {})
        result = self._resource(method, route.split("/")[2:], query, body or {}, upload)
        if result is None:
            return _error(ErrorReply(404, f"Unknown endpoint: {method} {path}"))
        return _Response(*result)

    def _resource(
        self,
        method: str,
        parts: list[str],
        query: dict[str, str],
        body: dict[str, Any],
        upload: FileUpload | None,
    ) -> tuple[int, dict[str, Any] | bytes] | None:
        """Files, fine-tuning jobs and batches; None for an unknown route."""
        res = self.resources
        match method, parts:
            case "POST", ["files"]:
                return res.upload(upload)
            case "GET", ["files"]:
                return res.list_files(query)
            case "GET", ["files", file_id]:
                return res.retrieve_file(file_id)
            case "GET", ["files", file_id, "content"]:
                return res.file_content(file_id)
            case "POST", ["fine_tuning", "jobs"]:
                return res.create_job(body)
            case "GET", ["fine_tuning", "jobs"]:
                return res.list_jobs(query)
            case "GET", ["fine_tuning", "jobs", job_id]:
                return res.retrieve_job(job_id)
            case "GET", ["fine_tuning", "jobs", job_id, "events"]:
                return res.job_events(job_id)
            case "POST", ["fine_tuning", "jobs", job_id, "cancel"]:
                return res.cancel_job(job_id)
            case "POST", ["batches"]:
                return res.create_batch(body)
            case "GET", ["batches"]:
                return res.list_batches()
            case "GET", ["batches", batch_id]:
                return res.retrieve_batch(batch_id, self._batch_answer)
            case "POST", ["batches", batch_id, "cancel"]:
                return res.cancel_batch(batch_id)
        return None

    def _chat(
        self, number: int, body: dict[str, Any] | None, *, faults: bool = True
    ) -> _Response | None:
        if body is None or not isinstance(body.get("messages"), list):
            return _error(ErrorReply(400, "The body must be a JSON object with 'messages'."))
        if body.get("stream"):
            return _error(ErrorReply(400, "FakeOpenAIServer does not support stream=true."))
        ctx = _context(number, body, self.model)
        if faults and number in self.faults:
            return self._resolve(self.faults[number], ctx)
        memorised = self.resources.memorised_answer(ctx.model, ctx.last_user_message)
        if memorised is not None:
            return _completion(ctx, Content(memorised))
        return self._resolve(self._choose(ctx), ctx)

    def _batch_answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """One batch line answered as a live request would be (faults do not apply)."""
        with self._lock:
            self._batch_lines += 1
            number = self._batch_lines
        response = self._chat(number, body, faults=False)
        if response is None:
            return 500, {"error": {"message": "The server stopped.", "type": "server_error"}}
        payload = response.payload
        return response.status, payload if isinstance(payload, dict) else {}

    def _choose(self, ctx: ReplyContext) -> Reply:
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
        if isinstance(reply, Reset):
            return None
        if isinstance(reply, RawReply):
            raw = reply.body.encode("utf-8")
            return _Response(reply.status, raw, content_type=reply.content_type)
        return _completion(ctx, reply, self._prefixes.cached_tokens(ctx.messages))


def _embeddings(body: dict[str, Any]) -> _Response:
    """``POST /v1/embeddings``: bag-of-words vectors (see ``BagOfWordsEmbeddings``)."""
    from ._embeddings import BagOfWordsEmbeddings

    texts = body.get("input")
    texts = [texts] if isinstance(texts, str) else texts
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        return _error(ErrorReply(400, "'input' must be a string or a list of strings."))
    vectors = BagOfWordsEmbeddings().embed_documents(texts)
    data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    tokens = sum(len(t.split()) for t in texts)
    return _Response(200, {"object": "list", "data": data, "model": body.get("model", ""),
                           "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})  # fmt: skip

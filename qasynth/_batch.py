"""The generation step through the provider's Batch API: half the price, replies within a day.

:class:`BatchRun` takes the chunks a file run still has to do, writes one request
line per chunk — the very body the live path would send (the run's prompt
rendered for the chunk, through the chat model's own request builder), with the
chunk id as ``custom_id`` — uploads them as one file per provider limit
(:data:`MAX_REQUESTS` requests or :data:`MAX_BYTES` bytes), creates one batch per
file, waits for them (status and request counts on the ``qasynth.progress``
logger) and reads the replies back. :class:`BatchedCaller` then answers each
chunk's ``generate`` call from its batch reply, so parsing, repair, the chunk
checks and writing are those of a live run, and so is the output. Everything
else is live: fix calls, top-ups, the judge, paraphrases, translations, and the
chunks whose line failed, expired or came back unusable.

Nothing is sent twice. Parts and their chunks are kept in the run's SQLite state
(:mod:`qasynth._batch_store`) before anything is uploaded; a part's upload is
named after a hash of its content and its batch carries that hash in its
metadata, so a run stopped anywhere — even with its state file lost — finds the
same file and the same batch again, and keeps waiting for it.

Only OpenAI chat models (``ChatOpenAI``, which includes OpenAI-compatible servers
given by ``base_url``) can batch; :func:`check_batchable` refuses the others.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig

from ._batch_store import BatchStore, Part
from ._callerrors import BatchCancelled
from ._calls import ModelCaller, step_of, usage_of
from ._constants import DEFAULT_BATCH_POLL_INTERVAL as DEFAULT_POLL_INTERVAL
from ._errors import ConfigurationError
from ._finetune import _api_error, _client
from ._llm import model_name_of
from ._prompts import PromptLike, render_messages
from ._schema import Chunk

if TYPE_CHECKING:
    from langchain_openai import ChatOpenAI

__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "MAX_BYTES",
    "MAX_REQUESTS",
    "BatchRun",
    "BatchedCaller",
    "check_batchable",
]

logger = logging.getLogger("qasynth")
_progress = logging.getLogger("qasynth.progress")

MAX_REQUESTS = 50_000
"""Most requests in one batch (the provider's limit)."""
MAX_BYTES = 200 * 1024 * 1024
"""Largest request file of one batch (the provider's limit: 200 MB)."""
COMPLETION_WINDOW: Literal["24h"] = "24h"
ENDPOINT: Literal["/v1/chat/completions"] = "/v1/chat/completions"
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
_METADATA_KEY = "qasynth_key"
_SCAN_LIMIT = 1000
"""Most uploads or batches looked through to find a part's own again."""


def check_batchable(llm: BaseChatModel) -> None:
    """Raise :class:`ConfigurationError` unless ``llm`` can send chat completions in a batch."""
    from langchain_openai import AzureChatOpenAI, ChatOpenAI

    if not isinstance(llm, ChatOpenAI) or isinstance(llm, AzureChatOpenAI):
        raise ConfigurationError(
            f"the Batch API (--batch, batch=True) works with OpenAI chat models only, and the "
            f"model is {type(llm).__name__} ({model_name_of(llm)}); give an OpenAI model "
            "(--model gpt-4o-mini, or a ChatOpenAI object) or drop --batch to call it live"
        )
    if llm._use_responses_api(llm._get_request_payload([HumanMessage("-")])):
        raise ConfigurationError(
            f"{model_name_of(llm)} is called through the Responses API, and --batch sends chat "
            "completions only; create the model with use_responses_api=False, or drop --batch"
        )


def request_body(llm: ChatOpenAI, messages: Sequence[BaseMessage], **bound: Any) -> dict[str, Any]:
    """The chat-completions body the live path sends for ``messages`` (``bound``: what
    the generation call binds, such as a structured-output ``response_format``)."""
    body = dict(llm._get_request_payload(list(messages), **bound))
    if body.get("stream"):
        body["stream"] = False  # a batch line is answered whole
        body.pop("stream_options", None)
    return body


def body_digest(body: dict[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class _Request:
    __slots__ = ("chunk_id", "digest", "line")

    def __init__(self, chunk_id: str, body: dict[str, Any]) -> None:
        self.chunk_id = chunk_id
        self.digest = body_digest(body)
        line = {"custom_id": chunk_id, "method": "POST", "url": ENDPOINT, "body": body}
        text = json.dumps(line, ensure_ascii=False, separators=(",", ":"), default=str)
        self.line = (text + "\n").encode("utf-8")


def split_parts(requests: Sequence[_Request]) -> list[list[_Request]]:
    """``requests`` in order, cut into parts within the provider's limits."""
    parts: list[list[_Request]] = []
    current: list[_Request] = []
    size = 0
    for request in requests:
        if current and (len(current) >= MAX_REQUESTS or size + len(request.line) > MAX_BYTES):
            parts.append(current)
            current, size = [], 0
        current.append(request)
        size += len(request.line)
    if current:
        parts.append(current)
    return parts


def _content(part: Sequence[_Request]) -> bytes:
    return b"".join(r.line for r in part)


def _key(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:32]


def _secret(llm: ChatOpenAI) -> str | None:
    key = getattr(llm, "openai_api_key", None)
    if key is not None and hasattr(key, "get_secret_value"):
        key = key.get_secret_value()
    return key if isinstance(key, str) and key else None


class BatchRun:
    """The batch side of one file run; see the module docstring."""

    def __init__(
        self,
        llm: BaseChatModel,
        prompt: PromptLike,
        state_path: Path,
        *,
        poll_interval: float | None = None,
        progress: bool = True,
        bound: dict[str, Any] | None = None,
    ) -> None:
        check_batchable(llm)
        self.bound = dict(bound or {})
        poll_interval = DEFAULT_POLL_INTERVAL if poll_interval is None else poll_interval
        if poll_interval < 0:
            raise ConfigurationError(
                f"the batch poll interval must be 0 or more seconds, got {poll_interval}"
            )
        self.llm = cast("ChatOpenAI", llm)  # checked above
        self.prompt = prompt
        self.state_path = state_path
        self.poll_interval = poll_interval
        self.progress = progress
        self.base_url: str | None = self.llm.openai_api_base
        self.api_key = _secret(self.llm)

    def report(self, message: str) -> None:
        (_progress if self.progress else logger).info("qasynth: %s", message)

    async def caller(self, base: ModelCaller, todo: Sequence[tuple[int, Chunk]]) -> ModelCaller:
        """A caller that answers the ``generate`` call of ``todo``'s chunks from their batch."""
        if not todo:
            return base
        requests: dict[str, _Request] = {}
        for _, chunk in todo:
            if chunk.id not in requests:
                body = request_body(self.llm, render_messages(self.prompt, chunk), **self.bound)
                requests[chunk.id] = _Request(chunk.id, body)
        store = BatchStore(self.state_path)
        try:
            keys, contents, wanted = self._plan(store, requests)
            client = _client(self.base_url, self.api_key)
            try:
                replies, cancelled = await self._run(client, store, keys, contents, wanted)
            except openai.APIError as exc:
                where = self.base_url or "the provider's default URL"
                raise _api_error(exc, f"the Batch API at {where}", client) from exc
            finally:
                await client.close()
            held = _held_by(store, cancelled, wanted - set(replies))
            store.forget_chunks(held)  # the next run sends them in a new batch
        finally:
            store.close()
        live = len(requests) - len(replies) - len(held)
        answered = f"{len(replies):,} chunk{'' if len(replies) == 1 else 's'}"
        self.report(
            f"batch: {answered} answered by the batch"
            + (f", {live:,} sent live (failed, expired or unusable lines)" if live else "")
        )
        digests = {chunk_id: r.digest for chunk_id, r in requests.items()}
        stop = None
        if held:
            stop = BatchCancelled(
                f"batch {', '.join(sorted(cancelled))} was cancelled before it answered "
                f"{len(held):,} chunk{'' if len(held) == 1 else 's'}; what it answered is "
                "kept. Run the same command again to send the rest in a new batch (at the "
                "batch price), or without --batch to send them live"
            )
        return BatchedCaller(base, replies, digests, self.llm, held=held, stop=stop)

    def _plan(
        self, store: BatchStore, requests: dict[str, _Request]
    ) -> tuple[list[str], dict[str, bytes], set[str]]:
        """The parts to wait for (keys, in order), the content of those not sent yet,
        and the chunks whose reply to take from them."""
        parts, assigned, failed = store.parts(), store.assignments(), store.failed_chunks()
        keys: dict[str, None] = {}
        wanted: set[str] = set()
        fresh: list[_Request] = []
        for chunk_id, request in requests.items():
            key, digest = assigned.get(chunk_id, ("", ""))
            part = parts.get(key)
            if part is None or part.batch_id is None or digest != request.digest:
                fresh.append(request)
            elif chunk_id not in failed:  # a reply that stayed unusable is asked live
                keys[key] = None
                wanted.add(chunk_id)
        new: dict[str, tuple[bytes, list[_Request]]] = {}
        for held in split_parts(fresh):
            content = _content(held)
            key = _key(content)
            while key in parts and parts[key].batch_id is not None:
                # the same requests sent before, in a batch that was cancelled (its
                # chunks were let go of): another key, so another upload and batch
                key = _key(content + key.encode())
            new[key] = (content, held)
        contents = {key: content for key, (content, _) in new.items()}
        store.forget_unsent(keep=set(new))
        for key, (_, held) in new.items():
            store.add_part(key, [(r.chunk_id, r.digest) for r in held])
            wanted.update(r.chunk_id for r in held)
        return [*keys, *contents], contents, wanted

    async def _run(
        self,
        client: openai.AsyncOpenAI,
        store: BatchStore,
        keys: list[str],
        contents: dict[str, bytes],
        wanted: set[str],
    ) -> tuple[dict[str, AIMessage], set[str]]:
        """The replies to ``wanted`` chunks, and the ids of the batches that were cancelled."""
        parts = store.parts()
        batch_ids = [
            parts[key].batch_id or await self._send(client, store, parts[key], contents[key])
            for key in keys
        ]
        replies: dict[str, AIMessage] = {}
        cancelled: set[str] = set()
        for batch in await self._wait(client, batch_ids):
            replies.update(await self._download(client, batch, wanted))
            if batch.status == "cancelled":
                cancelled.add(batch.id)
        return replies, cancelled

    async def _send(
        self, client: openai.AsyncOpenAI, store: BatchStore, part: Part, content: bytes
    ) -> str:
        """Upload ``part`` (unless it was) and create its batch (unless it exists)."""
        name = f"qasynth-batch-{part.key}.jsonl"
        lines = content.count(b"\n")
        file_id = part.file_id or await self._find_file(client, name, len(content))
        batch = None
        if file_id is None:  # a new upload: no batch can have been made from it yet
            uploaded = await client.files.create(file=(name, content), purpose="batch")
            file_id = uploaded.id
            self.report(f"batch: uploaded {lines:,} requests as {file_id}")
        else:
            batch = await self._find_batch(client, part.key)
        store.set_file(part.key, file_id)
        if batch is None:
            batch = await client.batches.create(
                input_file_id=file_id,
                endpoint=ENDPOINT,
                completion_window=COMPLETION_WINDOW,
                metadata={_METADATA_KEY: part.key},
            )
            self.report(f"batch: created {batch.id} ({lines:,} chunks)")
        else:
            self.report(f"batch: found {batch.id} again ({lines:,} chunks)")
        store.set_batch(part.key, batch.id)
        return batch.id

    async def _find_file(self, client: openai.AsyncOpenAI, name: str, size: int) -> str | None:
        seen = 0
        async for file in client.files.list(purpose="batch"):
            if file.filename == name and file.bytes == size:
                return file.id
            seen += 1
            if seen >= _SCAN_LIMIT:
                break
        return None

    async def _find_batch(self, client: openai.AsyncOpenAI, key: str) -> Any | None:
        seen = 0
        async for batch in client.batches.list():
            if (batch.metadata or {}).get(_METADATA_KEY) == key and batch.status != "cancelled":
                return batch
            seen += 1
            if seen >= _SCAN_LIMIT:
                break
        return None

    async def _wait(self, client: openai.AsyncOpenAI, batch_ids: Sequence[str]) -> list[Any]:
        """Every batch once it has ended, reporting each change of status or counts."""
        done: dict[str, Any] = {}
        shown: dict[str, str] = {}
        pending = list(dict.fromkeys(batch_ids))
        while True:
            for batch_id in pending:
                batch = await client.batches.retrieve(batch_id)
                text = _status_text(batch)
                if shown.get(batch_id) != text:
                    shown[batch_id] = text
                    self.report(text)
                if batch.status in TERMINAL:
                    done[batch_id] = batch
            pending = [b for b in pending if b not in done]
            if not pending:
                return [done[b] for b in dict.fromkeys(batch_ids)]
            await asyncio.sleep(self.poll_interval)

    async def _download(
        self, client: openai.AsyncOpenAI, batch: Any, wanted: set[str]
    ) -> dict[str, AIMessage]:
        """The usable replies in ``batch``'s output for the ``wanted`` chunks."""
        if batch.status not in ("completed", "cancelled"):  # cancelled: the run stops
            errors = getattr(getattr(batch, "errors", None), "data", None) or []
            why = "; ".join(str(e.message) for e in errors if getattr(e, "message", None))
            logger.warning(
                "batch %s ended %s%s: its chunks without a reply are sent live",
                batch.id, batch.status, f" ({why})" if why else "",
            )  # fmt: skip
        if not batch.output_file_id:
            return {}
        content = await client.files.content(batch.output_file_id)
        replies: dict[str, AIMessage] = {}
        unusable: list[str] = []
        for line in content.text.splitlines():
            chunk_id, reply = self._reply_of(line, unusable)
            if chunk_id in wanted and reply is not None:
                replies[chunk_id] = reply
        if unusable:  # one line for them all: a batch may hold tens of thousands
            count = len(unusable)
            logger.warning(
                "batch %s: %s unusable (the first: %s); %s sent live", batch.id,
                "1 output line is" if count == 1 else f"{count:,} output lines are",
                unusable[0], "its chunk is" if count == 1 else "their chunks are",
            )  # fmt: skip
        return replies

    def _reply_of(self, line: str, unusable: list[str]) -> tuple[str | None, AIMessage | None]:
        """The chunk id of an output line and its reply, read as the live path reads one
        (what makes a line unusable is added to ``unusable``)."""
        try:
            item = json.loads(line)
            chunk_id = item.get("custom_id")
            response = item.get("response") or {}
            if response.get("status_code") != 200:
                return chunk_id, None
            result = self.llm._create_chat_result(response["body"])
            message = result.generations[0].message
        except Exception as exc:  # an unusable line: that chunk is asked live
            unusable.append(str(exc)[:200])
            return None, None
        return chunk_id, message if isinstance(message, AIMessage) else None


def _held_by(store: BatchStore, cancelled: set[str], unanswered: set[str]) -> set[str]:
    """The ``unanswered`` chunks that were in a cancelled batch."""
    if not cancelled or not unanswered:
        return set()
    parts, assigned = store.parts(), store.assignments()
    return {
        chunk_id
        for chunk_id in unanswered
        if chunk_id in assigned and parts[assigned[chunk_id][0]].batch_id in cancelled
    }


def _status_text(batch: Any) -> str:
    counts = batch.request_counts
    text = f"batch {batch.id}: {batch.status}"
    if counts is not None:
        text += f", {counts.completed:,}/{counts.total:,} done, {counts.failed:,} failed"
    return text


class BatchedCaller(ModelCaller):
    """A :class:`ModelCaller` that answers a chunk's ``generate`` call from its batch reply
    (when the messages are exactly those of the batch request) and makes every other
    call live. Batch replies are counted as calls of kind ``batch``."""

    def __init__(
        self,
        base: ModelCaller,
        replies: dict[str, AIMessage],
        digests: dict[str, str],
        llm: ChatOpenAI,
        *,
        held: set[str] | None = None,
        stop: Exception | None = None,
    ) -> None:
        """``held``: chunks a cancelled batch left unanswered, whose ``generate`` call
        raises ``stop`` (which ends the run) instead of going live."""
        super().__init__(
            base.llm, base.limits, estimate_tokens=base.estimate_tokens, secrets=base.secrets,
            on_wait=base.on_wait, own_http_client=False,
        )  # fmt: skip
        self.base = base
        self.replies = replies
        self.digests = digests
        self._chat = llm
        self.held = held or set()
        self.stop = stop

    async def aclose(self) -> None:
        await self.base.aclose()  # the live calls' HTTP client is the base caller's

    async def call(
        self, messages: Sequence[BaseMessage], config: RunnableConfig | None, **bound: Any
    ) -> AIMessage:
        if step_of(config) == "generate":
            chunk_id = ((config or {}).get("metadata") or {}).get("qasynth_chunk_id")
            reply = self.replies.get(chunk_id) if isinstance(chunk_id, str) else None
            if reply is not None and self._same_request(chunk_id, messages, bound):
                usage_of(config).add_reply("batch", reply)
                return reply
            if chunk_id in self.held and self.stop is not None:
                raise self.stop
        return await super().call(messages, config, **bound)

    def _same_request(
        self, chunk_id: Any, messages: Iterable[BaseMessage], bound: dict[str, Any]
    ) -> bool:
        """True when ``messages`` are what the batch sent (not, say, half of the chunk)."""
        body = request_body(self._chat, list(messages), **bound)
        return body_digest(body) == self.digests.get(chunk_id)

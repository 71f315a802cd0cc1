"""A loopback fake of the OpenAI chat-completions API, for offline tests and benchmarks.

``FakeOpenAIServer`` listens on ``127.0.0.1`` (an ephemeral port), answers
``POST /v1/chat/completions`` (non-streaming), ``POST /v1/embeddings`` (bag-of-words
vectors) and ``GET /v1/models``, and records
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
Misbehaving servers: :class:`ErrorReply` with a ``code`` (``context_length_exceeded``,
``insufficient_quota``), a huge ``retry_after``, :class:`RawReply` (a proxy's HTML
page) and :class:`Reset` (a dropped connection).
Waits (latency, :class:`Delay`, :class:`Hang`) end as soon as ``stop()`` is called.
A request's ``response_format`` (structured outputs) is accepted and recorded; the
reply is the same JSON either way. Like OpenAI's prompt cache, a request whose
prompt starts with at least 1,024 tokens (counted as 4 characters each) seen in an
earlier request reports them as ``usage.prompt_tokens_details.cached_tokens``.

In-process, :class:`ScriptedChatModel` answers each call by the qasynth step that
makes it (``generate``, ``fix``, ``judge``, ...), read from the call's metadata;
:class:`BagOfWordsEmbeddings` is a deterministic embedding model (paraphrases
that share their content words land close).

It also keeps files (``/v1/files``: upload, list, retrieve, content), fine-tuning
jobs (``/v1/fine_tuning/jobs``: create, list by metadata, retrieve, events,
cancel) and batches (``/v1/batches``: create, retrieve, cancel), all reachable
through the ``openai`` client and kept in ``server.resources``. Jobs and batches
advance one status per retrieve, so tests wait only as long as they poll; a job
that succeeds makes an ``ft:`` model that only memorises its training file
(training questions get their answer verbatim, anything else ``I don't know.``),
and ``FakeOpenAIServer(fine_tune_error="...")`` makes every job fail with that
error. A batch's output file answers each request as the live endpoint would.
"""

from __future__ import annotations

from ._embeddings import BagOfWordsEmbeddings
from ._scripted import ScriptedChatModel, StepReply
from .replies import (
    FIXER_REPLY,
    UNREPAIRABLE_REPLY,
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
    is_fix_request,
    malformed_responder,
    qa_pairs,
)
from .resources import DONT_KNOW, Resources
from .server import FakeOpenAIServer

__all__ = [
    "DONT_KNOW",
    "FIXER_REPLY",
    "UNREPAIRABLE_REPLY",
    "BagOfWordsEmbeddings",
    "Content",
    "Delay",
    "ErrorReply",
    "FakeOpenAIServer",
    "Hang",
    "RawReply",
    "RecordedRequest",
    "Reply",
    "ReplyContext",
    "Reset",
    "Resources",
    "Responder",
    "ScriptedChatModel",
    "StepReply",
    "default_responder",
    "is_fix_request",
    "malformed_responder",
    "qa_pairs",
]

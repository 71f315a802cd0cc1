"""Specs for synthesize(): inputs, provenance, failures, validation, statistics, retries."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import tiktoken
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from qasynth import (
    AuthenticationError,
    ConfigurationError,
    Dataset,
    asynthesize,
    synthesize,
)
from qasynth._schema import Chunk, QARecord, chunk_id
from qasynth.checks import (
    Check,
    CheckError,
    ExactDuplicates,
    MaxLength,
    NonEmpty,
    NotEcho,
    PairCheck,
    RunContext,
)

# -- a small scripted chat model ------------------------------------------------------

Reply = str | AIMessage | BaseException


class ScriptedChat(BaseChatModel):
    """Answers every call with ``respond(messages)`` (a reply, an exception to raise, or
    an awaitable of a reply) and records the messages and the time of every call."""

    respond: Callable[[list[BaseMessage]], Any]
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    call_times: list[float] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted-test-chat"

    def _result(self, out: Reply) -> ChatResult:
        if isinstance(out, BaseException):
            raise out
        message = out if isinstance(out, AIMessage) else AIMessage(content=out)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.calls.append(messages)
        self.call_times.append(time.monotonic())
        return self._result(self.respond(messages))

    async def _agenerate(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> ChatResult:
        self.calls.append(messages)
        self.call_times.append(time.monotonic())
        out = self.respond(messages)
        if inspect.isawaitable(out):
            out = await out
        return self._result(out)


class ProviderError(Exception):
    """Shaped like an SDK error: an HTTP status and, optionally, response headers."""

    def __init__(
        self, message: str, *, status_code: int, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.response = SimpleNamespace(headers=headers or {})


def qa_json(*pairs: tuple[str, str]) -> str:
    return json.dumps(
        {"question_answer_pairs": [{"question": q, "answer": a} for q, a in pairs]},
        ensure_ascii=False,
    )


def chunk_text(messages: list[BaseMessage]) -> str:
    """The chunk text the default prompt put last in the final message."""
    return str(messages[-1].content).split("Text:\n", 1)[1]


def is_fix_call(messages: list[BaseMessage]) -> bool:
    return "did not satisfy the constraints" in str(messages[-1].content)


def echo(messages: list[BaseMessage]) -> str:
    """One pair per chunk whose question quotes the chunk."""
    text = chunk_text(messages)
    return qa_json((f"What does the note {text!r} say?", f"It says: {text}"))


def core_checks(**limits: int) -> dict[str, Any]:
    """Only the core pair checks and exact duplicates: the model-free quality heuristics
    (stand-alone questions, grounding, ...) have their own specs."""
    return {"checks": [NonEmpty(), NotEcho(), MaxLength(**limits), ExactDuplicates()]}


def run(docs: Any, llm: BaseChatModel, enc: tiktoken.Encoding, **options: Any) -> Dataset:
    options = {**core_checks(), **options}
    return synthesize(docs, llm=llm, progress=False, encoding=enc, **options)


# -- inputs and provenance ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["strings", "paths", "documents", "mix"])
def test_synthesize_makes_one_record_per_note_from_any_kind_of_input(
    kind: str, tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    notes = ["Mars has two moons.", "Venus spins backwards.", "Pluto is a dwarf planet."]
    paths = []
    for n, note in enumerate(notes):
        paths.append(tmp_path / f"note{n}.txt")
        paths[-1].write_text(note, encoding="utf-8")
    documents = [
        Document(page_content=note, metadata={"source": f"db:{n}"}) for n, note in enumerate(notes)
    ]
    by_kind: dict[str, list[Any]] = {
        "strings": notes,
        "paths": paths,
        "documents": documents,
        "mix": [notes[0], paths[1], documents[2]],
    }

    ds = run(by_kind[kind], ScriptedChat(respond=echo), offline_encoding)

    assert [r.answer for r in ds] == [f"It says: {note}" for note in notes]
    sources = {
        "strings": ["<text 1>", "<text 2>", "<text 3>"],
        "paths": [str(p) for p in paths],
        "documents": ["db:0", "db:1", "db:2"],
        "mix": ["<text 1>", str(paths[1]), "db:2"],
    }[kind]
    assert [r.source for r in ds] == sources
    assert ds.stats.documents == 3


def test_lone_surrogates_in_a_text_are_replaced_with_a_warning_not_a_crash(
    tmp_path: Path, offline_encoding: tiktoken.Encoding, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken PDF text layer, or bytes decoded with ``surrogateescape``, leave code
    points that are not text: nothing could hash or write them as UTF-8."""
    broken = "The rover drilled 12 holes near crater \udc9f Orin in 2031."
    ds = run([broken, "Der Rover bohrte 3 Löcher."], ScriptedChat(respond=echo), offline_encoding)
    assert ds.stats.chunks_done == 2 and not ds.failures
    assert "\ufffd Orin" in ds.records[0].answer
    assert "<text 1> holds 1 lone surrogate" in caplog.text
    ds.to_jsonl(tmp_path / "out.jsonl")  # writable


def test_theme_comes_from_metadata_then_file_stem_then_the_theme_argument(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    cup = tmp_path / "world_cup_2023.txt"
    cup.write_text("Spain won the final 1-0.", encoding="utf-8")
    docs: list[Any] = [
        Document(
            page_content="The Acme X200 went on sale in 2021.",
            metadata={"theme": "Acme X200 grinder", "source": str(tmp_path / "manual.txt")},
        ),
        cup,
        Document(page_content="Error E42 means a blocked burr.", metadata={"source": "/x/faq.md"}),
        "Tokyo is the capital of Japan.",
    ]
    model = ScriptedChat(respond=echo)

    ds = run(docs, model, offline_encoding, theme="Fallback theme")

    themes = ["Acme X200 grinder", "world_cup_2023", "faq", "Fallback theme"]
    assert [r.theme for r in ds] == themes
    prompts = sorted(str(call[-1].content) for call in model.calls)
    assert sorted(f"Theme: {t}" for t in themes) == sorted(p.split("\n")[0] for p in prompts)


def test_records_carry_a_stable_chunk_id_and_their_index_in_the_document(
    offline_encoding: tiktoken.Encoding,
) -> None:
    text = " ".join(f"Sentence number {n} is about topic {n}." for n in range(12))
    doc = Document(page_content=text, metadata={"source": "notes/topics.txt"})
    options = {"chunk_size": 40, "chunk_overlap": 0}

    first = run([doc], ScriptedChat(respond=echo), offline_encoding, **options)
    second = run([doc], ScriptedChat(respond=echo), offline_encoding, **options)

    assert len(first) >= 3
    assert [r.chunk_index for r in first] == list(range(len(first)))
    for record in first:
        seen_text = record.answer.removeprefix("It says: ")
        assert record.chunk_id == chunk_id("notes/topics.txt", seen_text)
        assert record.source == "notes/topics.txt"
        assert record.theme == "topics"
    assert [r.chunk_id for r in second] == [r.chunk_id for r in first]
    assert len({r.chunk_id for r in first}) == len(first)


# -- failures, validation and statistics ------------------------------------------------


def test_unusable_output_is_recorded_as_a_failure_and_the_run_goes_on(
    offline_encoding: tiktoken.Encoding,
) -> None:
    def respond(messages: list[BaseMessage]) -> str:
        if is_fix_call(messages):
            return "Still no JSON here."
        if "broken" in chunk_text(messages):
            return "I would rather write an essay about this text."
        return echo(messages)

    docs = ["First good note.", "The broken note.", "Last good note."]

    ds = run(docs, ScriptedChat(respond=respond), offline_encoding, max_fix_attempts=1)

    assert [r.source for r in ds] == ["<text 1>", "<text 3>"]
    [failure] = ds.failures
    assert failure.source == "<text 2>"
    assert failure.chunk_id == chunk_id("<text 2>", "The broken note.")
    assert failure.chunk_index == 0
    assert "unusable model output" in failure.reason
    assert "I would rather write an essay about this text." in failure.raw_output
    assert "Still no JSON here." in failure.raw_output
    assert failure.attempts == 2
    assert (ds.stats.chunks_done, ds.stats.chunks_failed) == (2, 1)


def test_rejected_pairs_are_counted_by_reason(offline_encoding: tiktoken.Encoding) -> None:
    replies = {
        "First note.": qa_json(
            ("Ｗｈｏ  won the 2023 final?", "Spain."),
            ("", "An answer without a question."),
            ("A question without an answer?", "  "),
            ("Is this an echo?", "is  THIS an echo?"),
            ("Q" * 51, "Too long a question."),
            ("What is too long?", "A" * 81),
            ("Which team won the 2023 final?", "Spain."),
            ("WHICH team won the 2023 final?", "Spain, again."),
        ),
        "Second note.": qa_json(
            ("who won the 2023 final?", "Spain, 1-0."),
            ("When was the final played?", "On 20 August 2023."),
        ),
    }
    model = ScriptedChat(respond=lambda messages: replies[chunk_text(messages)])

    limits = core_checks(max_question_chars=50, max_answer_chars=80)
    ds = run(list(replies), model, offline_encoding, **limits)

    assert ds.stats.rejections == Counter(
        {
            "empty_question": 1,
            "empty_answer": 1,
            "question_equals_answer": 1,
            "question_too_long": 1,
            "answer_too_long": 1,
            "duplicate_question": 2,
        }
    )
    assert [r.question for r in ds] == [
        "Ｗｈｏ  won the 2023 final?",
        "Which team won the 2023 final?",
        "When was the final played?",
    ]
    duplicates = [r.question for r in ds.rejections if r.reason == "duplicate_question"]
    assert sorted(duplicates) == ["WHICH team won the 2023 final?", "who won the 2023 final?"]
    assert ds.stats.pairs_returned == 10
    assert ds.stats.pairs_kept == 3 == len(ds)
    assert ds.stats.pairs_returned == ds.stats.pairs_kept + ds.stats.pairs_rejected


def test_max_question_and_answer_chars_options_limit_the_default_checks(
    offline_encoding: tiktoken.Encoding,
) -> None:
    reply = qa_json(("Q" * 31, "A short answer."), ("A short question?", "A" * 41))
    model = ScriptedChat(respond=lambda messages: reply)

    ds = synthesize("Some text.", llm=model, progress=False, encoding=offline_encoding,
                    max_question_chars=30, max_answer_chars=40)  # fmt: skip

    assert ds.stats.rejections["question_too_long"] == 1
    assert ds.stats.rejections["answer_too_long"] == 1
    assert len(ds) == 0


def test_statistics_count_documents_chunks_calls_repairs_pairs_and_tokens(
    offline_encoding: tiktoken.Encoding,
) -> None:
    def respond(messages: list[BaseMessage]) -> AIMessage:
        if is_fix_call(messages):
            content, usage = qa_json(("What did the fixer return?", "JSON")), (7, 3)
        elif chunk_text(messages) == "Alpha note.":
            content = "```json\n" + qa_json(("Q1?", "A1"), ("Q2?", "A2")) + "\n```"
            usage = (100, 10)
        else:
            content, usage = "Sorry, no JSON today.", (100, 10)
        return AIMessage(
            content=content,
            usage_metadata={
                "input_tokens": usage[0],
                "output_tokens": usage[1],
                "total_tokens": sum(usage),
            },
        )

    docs: list[Any] = ["Alpha note.", "  \n\t ", Document(page_content=""), "Beta note."]

    ds = run(docs, ScriptedChat(respond=respond), offline_encoding, max_fix_attempts=2)

    st = ds.stats
    assert (st.documents, st.empty_documents, st.chunks) == (4, 2, 2)
    assert (st.chunks_done, st.chunks_failed) == (2, 0)
    assert (st.model_calls, st.fix_calls, st.retries) == (2, 1, 0)
    assert st.local_repairs == 1
    assert st.repairs["code_fence"] == 1 and st.repairs["llm_fix"] == 1
    assert (st.pairs_returned, st.pairs_kept) == (3, 3)
    assert (st.input_tokens, st.output_tokens) == (100 + 100 + 7, 10 + 10 + 3)


# -- concurrency and ordering -------------------------------------------------------------


def test_records_come_out_in_chunk_order_when_the_model_answers_in_reverse(
    offline_encoding: tiktoken.Encoding,
) -> None:
    n = 4
    answered: dict[int, asyncio.Event] = {i: asyncio.Event() for i in range(n)}
    order: list[int] = []

    async def respond(messages: list[BaseMessage]) -> str:
        index = int(chunk_text(messages).split()[1])
        if index + 1 < n:  # wait until the next chunk has been answered
            await answered[index + 1].wait()
        order.append(index)
        answered[index].set()
        return echo(messages)

    docs = [f"Fact {i} is about the number {i}." for i in range(n)]

    ds = run(
        docs, ScriptedChat(respond=respond), offline_encoding,
        concurrency=n, request_timeout=5, max_attempts=1,
    )  # fmt: skip

    assert order == [3, 2, 1, 0]
    assert not ds.failures
    assert [r.source for r in ds] == [f"<text {i + 1}>" for i in range(n)]


# -- errors, retries and timeouts ---------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "options"),
    [
        pytest.param("sk-test-SECRET123", {}, id="key-shaped-like-an-openai-key"),
        pytest.param("azure-SECRET123-key", {"api_key": "azure-SECRET123-key"}, id="given-key"),
    ],
)
def test_refused_credentials_stop_the_run_without_leaking_the_key(
    key: str, options: dict[str, Any], offline_encoding: tiktoken.Encoding
) -> None:
    def respond(messages: list[BaseMessage]) -> Reply:
        if "second" in chunk_text(messages):
            return ProviderError(
                f"Error code: 401 - Incorrect API key provided: {key}.", status_code=401
            )
        return echo(messages)

    model = ScriptedChat(respond=respond)
    docs = ["The first note.", "The second note.", "The third note."]

    with pytest.raises(AuthenticationError) as caught:
        run(docs, model, offline_encoding, concurrency=1, retry_base_delay=0.001, **options)

    error = caught.value
    assert error.status_code == 401
    assert "Incorrect API key provided" in str(error)
    assert "SECRET123" not in str(error)
    assert "SECRET123" not in "".join(traceback.format_exception(error))
    assert error.__context__ is None and error.__cause__ is None  # the raw error is not kept
    assert len(model.calls) == 2  # no retry after a 401, and no third chunk
    partial = error.partial
    assert isinstance(partial, Dataset)
    assert [r.source for r in partial] == ["<text 1>"]


class BuggyCheck(PairCheck):
    """A custom check with a bug that shows on the third note only."""

    name = "mine"

    def check_pair(self, record: QARecord, chunk: Chunk) -> str | None:
        if "third" in chunk.text:
            raise RuntimeError("bug in my check")
        return None


class BuggyRunCheck(Check):
    name = "my_run_check"
    scope = "run"

    def check_run(self, ctx: RunContext) -> None:
        raise KeyError("missing")


def test_a_check_with_a_bug_names_itself_and_the_chunk_and_keeps_what_was_made(
    offline_encoding: tiktoken.Encoding,
) -> None:
    docs = ["The first note.", "The second note.", "The third note."]
    checks = {"checks": [*core_checks()["checks"], BuggyCheck()]}
    with pytest.raises(CheckError) as caught:
        run(docs, ScriptedChat(respond=echo), offline_encoding, concurrency=1, **checks)
    assert str(caught.value) == (
        "check 'mine' (BuggyCheck) failed on chunk 0 of <text 3>: RuntimeError: bug in my check"
    )
    assert [r.source for r in caught.value.partial] == ["<text 1>", "<text 2>"]

    checks = {"checks": [*core_checks()["checks"], BuggyRunCheck()]}
    with pytest.raises(CheckError, match=r"run check 'my_run_check' .* KeyError") as caught:
        run(docs, ScriptedChat(respond=echo), offline_encoding, **checks)
    assert len(caught.value.partial) == 3  # every pair made, before the run check


def test_a_server_error_is_retried_and_counted(offline_encoding: tiktoken.Encoding) -> None:
    outcomes: list[Reply] = [ProviderError("Internal server error", status_code=500)]

    def respond(messages: list[BaseMessage]) -> Reply:
        return outcomes.pop(0) if outcomes else echo(messages)

    model = ScriptedChat(respond=respond)

    ds = run("Mars has two moons.", model, offline_encoding, retry_base_delay=0.001)

    assert len(model.calls) == 2
    assert ds.stats.retries == 1
    assert ds.stats.model_calls == 1
    assert [r.answer for r in ds] == ["It says: Mars has two moons."]
    assert not ds.failures


def test_a_rate_limit_is_retried_after_the_servers_retry_after(
    offline_encoding: tiktoken.Encoding,
) -> None:
    retry_after = 0.05
    outcomes: list[Reply] = [
        ProviderError("Rate limit reached", status_code=429, headers={"retry-after": "0.05"})
    ]

    def respond(messages: list[BaseMessage]) -> Reply:
        return outcomes.pop(0) if outcomes else echo(messages)

    model = ScriptedChat(respond=respond)

    ds = run("Mars has two moons.", model, offline_encoding, retry_base_delay=0.001)

    assert ds.stats.retries == 1
    assert len(ds) == 1 and not ds.failures
    first, second = model.call_times
    assert second - first >= retry_after  # the backoff alone would wait about 1 ms


async def never() -> str:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def test_a_hung_request_is_timed_out_and_retried(offline_encoding: tiktoken.Encoding) -> None:
    hangs = [True]

    def respond(messages: list[BaseMessage]) -> Any:
        return never() if hangs and hangs.pop() else echo(messages)

    model = ScriptedChat(respond=respond)

    ds = run(
        "Mars has two moons.", model, offline_encoding,
        request_timeout=0.05, retry_base_delay=0.001,
    )  # fmt: skip

    assert len(model.calls) == 2
    assert ds.stats.retries == 1
    assert len(ds) == 1 and not ds.failures


def test_a_chunk_whose_requests_always_hang_fails_after_max_attempts(
    offline_encoding: tiktoken.Encoding,
) -> None:
    model = ScriptedChat(respond=lambda messages: never())

    ds = run(
        "Mars has two moons.", model, offline_encoding,
        request_timeout=0.05, retry_base_delay=0.001, max_attempts=3,
    )  # fmt: skip

    assert len(model.calls) == 3
    assert len(ds) == 0
    [failure] = ds.failures
    assert failure.attempts == 3
    assert "no reply within 0.05 s" in failure.reason
    assert ds.stats.retries == 2
    assert ds.stats.chunks_failed == 1


def test_without_an_api_key_or_a_model_the_error_is_about_the_key_before_any_reading(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    missing = tmp_path / "does-not-exist.txt"

    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        synthesize([missing], progress=False, encoding=offline_encoding)


# -- sync and async entry points ------------------------------------------------------------


async def test_synthesize_works_inside_a_running_event_loop(
    offline_encoding: tiktoken.Encoding,
) -> None:
    asyncio.get_running_loop()  # we are inside one

    ds = run("Mars has two moons.", ScriptedChat(respond=echo), offline_encoding)

    assert [r.answer for r in ds] == ["It says: Mars has two moons."]


async def test_asynthesize_returns_the_same_dataset_as_synthesize(
    offline_encoding: tiktoken.Encoding,
) -> None:
    docs = ["Mars has two moons.", "Venus spins backwards."]

    ds = await asynthesize(
        docs, llm=ScriptedChat(respond=echo), progress=False, encoding=offline_encoding,
        **core_checks(),
    )  # fmt: skip

    assert [r.answer for r in ds] == [f"It says: {d}" for d in docs]
    assert ds.stats.model_calls == 2
    same = run(docs, ScriptedChat(respond=echo), offline_encoding)
    assert ds.records == same.records


def test_chunks_in_flight_when_the_run_must_stop_keep_what_they_made(
    offline_encoding: tiktoken.Encoding,
) -> None:
    async def respond(messages: list[BaseMessage]) -> Reply:
        if "second" in chunk_text(messages):
            await asyncio.sleep(0.05)  # the third chunk is on its way too
            return ProviderError("Error code: 401 - Incorrect API key provided.", status_code=401)
        await asyncio.sleep(0.2)  # replies already on their way when the 401 arrives
        return echo(messages)

    model = ScriptedChat(respond=respond)
    docs = ["The first note.", "The second note.", "The third note."]

    with pytest.raises(AuthenticationError) as caught:
        run(docs, model, offline_encoding, concurrency=3)

    partial = caught.value.partial
    assert sorted(r.source for r in partial) == ["<text 1>", "<text 3>"]  # paid, so kept


def echo_noting_calls() -> tuple[threading.Event, ScriptedChat]:
    """A model that echoes, and an event set once it has been called."""
    called = threading.Event()

    async def respond(messages: list[BaseMessage]) -> Reply:
        called.set()
        return echo(messages)

    return called, ScriptedChat(respond=respond)


def test_the_first_requests_go_out_while_the_rest_of_the_inputs_is_split(
    offline_encoding: tiktoken.Encoding, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Splitting 400 chunks takes about half a second: the run does not wait for all of
    it before its first call (the last document is split only after a call was made)."""
    from qasynth import Synthesizer

    called, model = echo_noting_calls()
    waited: list[bool] = []
    real = Synthesizer.iter_chunks_of

    def iter_chunks_of(self: Synthesizer, document: Document) -> Iterator[Chunk]:
        if "last" in document.page_content:
            waited.append(called.wait(timeout=10))
        return real(self, document)

    monkeypatch.setattr(Synthesizer, "iter_chunks_of", iter_chunks_of)
    docs = ["The first note.", "The second note.", "The last note."]
    ds = run(docs, model, offline_encoding, concurrency=2)

    assert waited == [True]  # on the old code: False, after waiting 10 s
    assert [r.source for r in ds.records] == ["<text 1>", "<text 2>", "<text 3>"]  # in order
    assert (ds.stats.documents, ds.stats.chunks, ds.stats.chunks_done) == (3, 3, 3)


def test_the_first_chunks_of_a_long_document_start_before_its_end_is_split(
    offline_encoding: tiktoken.Encoding, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A single long document (a 400 MB export takes about a minute to split) starts
    its first chunks while the rest of it is being split, in order."""
    from qasynth._chunking import Chunker

    called, model = echo_noting_calls()
    waited: list[bool] = []
    real = Chunker.count_tokens

    def count_tokens(self: Chunker, text: str) -> int:
        if "Paragraph 45 " in text and not waited:
            waited.append(called.wait(timeout=10))
        return real(self, text)

    monkeypatch.setattr(Chunker, "count_tokens", count_tokens)
    document = "\n\n".join(f"Paragraph {i} says the rover reached crater {i}." for i in range(50))
    ds = run([document], model, offline_encoding, concurrency=4, chunk_size=80, chunk_overlap=0)

    assert waited == [True]  # on the old code: False, after waiting 10 s
    assert ds.stats.chunks == ds.stats.chunks_done == 50
    assert [r.chunk_index for r in ds.records] == sorted(r.chunk_index for r in ds.records)


def test_a_large_input_split_in_a_child_process_makes_the_dataset_the_thread_makes(
    offline_encoding: tiktoken.Encoding, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qasynth._splitchild as splitchild

    texts = [
        "\n\n".join(f"Paragraph {i}.{j} says the rover reached crater {j}." for j in range(30))
        for i in range(6)
    ]
    options: dict[str, Any] = {"concurrency": 4, "chunk_size": 40, "chunk_overlap": 0}
    alone = run(texts, ScriptedChat(respond=echo), offline_encoding, **options)

    started: list[Any] = []
    real = splitchild._Child.start

    def start(settings: Any) -> Any:
        started.append(real(settings))
        return started[-1]

    monkeypatch.setattr(splitchild._Child, "start", start)
    monkeypatch.setattr(splitchild, "CHILD_MIN_CHARS", 0)  # "large"
    monkeypatch.setattr(splitchild, "AHEAD", 0)  # all of it in the child
    child = run(texts, ScriptedChat(respond=echo), offline_encoding, **options)

    assert len(started) == 1 and not started[0].failed
    assert child.stats.chunks == alone.stats.chunks == child.stats.chunks_done > 6
    key = [(r.question, r.answer, r.chunk_id, r.chunk_index, r.source) for r in alone.records]
    assert [
        (r.question, r.answer, r.chunk_id, r.chunk_index, r.source) for r in child.records
    ] == key


def test_a_stop_during_the_split_of_a_long_document_does_not_wait_for_its_end(
    tmp_path: Path, offline_encoding: tiktoken.Encoding, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C stops the split within a chunk: the rest of a long document is not split
    first (here it would take 8 s), and the bar is given no total (the chunks split so
    far are not the run's size)."""
    import os
    import signal

    from qasynth import Synthesizer
    from qasynth._chunking import Chunker
    from qasynth._progress import Progress

    real = Chunker.count_tokens
    pressed = threading.Event()

    def count_tokens(self: Chunker, text: str) -> int:
        number = re.search(r"Paragraph (\d+) ", text)
        if number and int(number.group(1)) >= 40:
            if not pressed.is_set():
                pressed.set()
                os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)  # 80 paragraphs left: 8 s
        return real(self, text)

    totals: list[int] = []
    monkeypatch.setattr(Chunker, "count_tokens", count_tokens)
    monkeypatch.setattr(Progress, "set_total", lambda self, total, **_: totals.append(total))
    document = "\n\n".join(f"Paragraph {i} says the rover reached crater {i}." for i in range(120))
    synth = Synthesizer.from_options(
        llm=ScriptedChat(respond=echo), encoding=offline_encoding, progress=False,
        concurrency=4, chunk_size=80, chunk_overlap=0, check_workers=0,
    )  # fmt: skip
    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        synth.run_to_file([document], tmp_path / "out.jsonl")

    assert pressed.is_set()
    assert time.monotonic() - began < 4  # the old code split all 120 paragraphs first
    assert totals == []


def test_a_split_that_fails_part_way_keeps_the_chunks_it_already_started(
    tmp_path: Path, offline_encoding: tiktoken.Encoding, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chunks started before the split failed are paid for: they finish and are
    saved before the error is raised (a rerun asks for none of them again)."""
    import sqlite3

    from qasynth import Synthesizer
    from qasynth._chunking import Chunker

    real = Chunker.count_tokens
    asked: list[str] = []
    in_flight = threading.Event()

    def count_tokens(self: Chunker, text: str) -> int:
        if "Paragraph 45 " in text:
            in_flight.wait(timeout=10)  # the split breaks while four requests are out
            raise RuntimeError("the splitter broke")
        return real(self, text)

    async def respond(messages: list[BaseMessage]) -> Reply:
        asked.append(messages[-1].text)
        if len(asked) == 4:
            in_flight.set()
        await asyncio.sleep(0.2)
        return echo(messages)

    monkeypatch.setattr(Chunker, "count_tokens", count_tokens)
    document = "\n\n".join(f"Paragraph {i} says the rover reached crater {i}." for i in range(60))
    synth = Synthesizer.from_options(
        llm=ScriptedChat(respond=respond), encoding=offline_encoding, progress=False,
        concurrency=4, chunk_size=80, chunk_overlap=0, check_workers=0,
    )  # fmt: skip
    out = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError, match="the splitter broke"):
        synth.run_to_file([document], out)

    with sqlite3.connect(tmp_path / "out.jsonl.qasynth.sqlite") as db:
        saved = db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    assert len(asked) == 4 and saved == 4  # on the old code: 0 saved of the 4 asked


def test_an_unexpected_error_in_one_chunk_keeps_the_chunks_in_flight(
    tmp_path: Path, offline_encoding: tiktoken.Encoding, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug that breaks one chunk stops the run, but the requests already sent are
    paid for: their chunks finish and are saved before the error is raised."""
    import sqlite3

    from qasynth import Synthesizer
    from qasynth._parsing import ReplyParser

    real = ReplyParser.aparse
    asked: list[str] = []

    async def aparse(self: ReplyParser, text: str) -> Any:
        if "crater 0." in text:
            raise RuntimeError("a bug in the parser")
        return await real(self, text)

    async def respond(messages: list[BaseMessage]) -> Reply:
        asked.append(messages[-1].text)
        if "crater 0." in messages[-1].text:
            while len(asked) < 4:  # the first chunk breaks once four are in flight
                await asyncio.sleep(0.01)
        else:
            await asyncio.sleep(0.2)
        return echo(messages)

    monkeypatch.setattr(ReplyParser, "aparse", aparse)
    synth = Synthesizer.from_options(
        llm=ScriptedChat(respond=respond), encoding=offline_encoding, progress=False,
        concurrency=4, check_workers=0,
    )  # fmt: skip
    docs = [f"Report {i}: the rover reached crater {i}." for i in range(12)]
    with pytest.raises(RuntimeError, match="a bug in the parser"):
        synth.run_to_file(docs, tmp_path / "out.jsonl")

    with sqlite3.connect(tmp_path / "out.jsonl.qasynth.sqlite") as db:
        saved = db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    assert len(asked) >= 4 and saved == len(asked) - 1  # on the old code: 0 saved

    asked.clear()  # in memory, the error carries what was made
    with pytest.raises(RuntimeError, match="a bug in the parser") as caught:
        synth.invoke(docs)
    partial = caught.value.partial  # type: ignore[attr-defined]
    assert len(asked) >= 4 and partial.stats.chunks_done == len(asked) - 1
    assert partial.records and all("crater 0." not in r.answer for r in partial.records)


def test_streamed_pieces_count_the_chunks_split_after_the_first_piece(
    offline_encoding: tiktoken.Encoding, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last document is split only once the first piece has been taken: the pieces
    still add up to every chunk of the run."""
    from qasynth import Synthesizer

    first_taken = threading.Event()
    real = Synthesizer.iter_chunks_of

    def iter_chunks_of(self: Synthesizer, document: Document) -> Iterator[Chunk]:
        if "last" in document.page_content:
            first_taken.wait(timeout=10)
        return real(self, document)

    monkeypatch.setattr(Synthesizer, "iter_chunks_of", iter_chunks_of)
    synth = Synthesizer.from_options(
        llm=ScriptedChat(respond=echo), encoding=offline_encoding, progress=False,
        concurrency=1, **core_checks(),
    )  # fmt: skip
    pieces = []
    for piece in synth.stream(["The first note.", "The second note.", "The last note."]):
        pieces.append(piece)
        first_taken.set()
    total = pieces[0] + pieces[1] + pieces[2]

    assert first_taken.is_set() and len(pieces) == 3
    assert (total.stats.documents, total.stats.chunks, total.stats.chunks_done) == (3, 3, 3)

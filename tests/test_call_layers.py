"""Specs for a chunk's calls with and without callbacks.

Without a callback handler (none given, no tracing on), a chunk's steps skip the
chain's runnable layers; the requests, records, rejections, failures and counts must
be those of a traced run, and every handler a user gives still sees every run.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import UUID

import pytest
import tiktoken
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tracers.context import collect_runs
from langchain_core.tracers.schemas import Run
from langchain_openai import ChatOpenAI

import qasynth
from qasynth import Dataset, Synthesizer
from qasynth.testing import (
    ErrorReply,
    FakeOpenAIServer,
    Reply,
    ReplyContext,
    ScriptedChatModel,
    default_responder,
    is_fix_request,
    malformed_responder,
)

TEXT = "\n\n".join(
    f"In {1990 + i}, Captain Ruiz led the Tidewater survey near Port Ashby. "
    f"The team recorded {7 * i + 3} samples over {i + 2} days. "
    f"Survey {i} ended when the storm season began."
    for i in range(6)
)


def responder() -> Any:
    """Pairs replies garbled by a hash of the prompt (some repaired locally, some only by
    the fixer), the chunk about 1994 refused by the content filter; the judge and the
    fixer answered as a cooperative model would."""
    garbled = malformed_responder(0.4, unrepairable_fraction=0.3)

    def respond(ctx: ReplyContext) -> Reply:
        system = next((m["content"] for m in ctx.messages if m["role"] == "system"), "")
        if system.startswith(qasynth.QAPrompt.role) and not is_fix_request(ctx):
            if "In 1994" in ctx.document_message:
                return ErrorReply(400, "The response was filtered.", code="content_filter")
            return garbled(ctx)  # a generation or top-up request
        return default_responder(ctx)

    return respond


def canonical(body: Any) -> str:
    return json.dumps(body, sort_keys=True)


class Recorder(BaseCallbackHandler):
    """Every chat model run a handler sees: its step and chunk."""

    def __init__(self) -> None:
        self.llm_runs: list[dict[str, Any]] = []

    def on_chat_model_start(self, serialized: Any, messages: list[list[BaseMessage]], *,
                            run_id: UUID, **kw: Any) -> None:  # fmt: skip
        metadata = kw.get("metadata") or {}
        self.llm_runs.append({"step": metadata.get("qasynth_step"),
                              "chunk_id": metadata.get("qasynth_chunk_id")})  # fmt: skip


def run(
    structured: str, prompt: Any, enc: tiktoken.Encoding, config: Any
) -> tuple[Dataset, list[Any]]:
    """A run on a fresh fake server (its prompt cache starts empty); its dataset and
    the chat requests the server received."""
    with FakeOpenAIServer(responder=responder()) as server:
        llm = ChatOpenAI(model="gpt-4o-mini", base_url=server.base_url, api_key="test-key",
                         max_retries=0)  # fmt: skip
        ds = qasynth.synthesize(
            TEXT, llm=llm, structured=structured, encoding=enc, chunk_size=40,
            chunk_overlap=0, concurrency=1, progress=False, judge=True,
            min_pairs_per_chunk=12, prompt=prompt, config=config,
        )  # fmt: skip
        bodies = [r.body for r in server.requests if r.path.endswith("/chat/completions")]
    return ds, bodies


@pytest.mark.parametrize(
    ("structured", "prompt"),
    [("off", None), ("on", None), ("off", qasynth.QAPrompt().template())],
    ids=["parser", "structured", "template"],
)
def test_a_run_without_callbacks_sends_the_same_requests_and_makes_the_same_dataset(
    structured: str, prompt: Any, offline_encoding: tiktoken.Encoding
) -> None:
    recorder = Recorder()
    traced, traced_bodies = run(structured, prompt, offline_encoding, {"callbacks": [recorder]})
    plain, plain_bodies = run(structured, prompt, offline_encoding, None)

    # the same requests; their order may differ (a chunk's later calls and the next
    # chunk's first one interleave, as the event loop's timing has it)
    assert sorted(map(canonical, plain_bodies)) == sorted(map(canonical, traced_bodies))
    assert len(recorder.llm_runs) == len(traced_bodies)  # the traced run was traced
    steps = {r["step"] for r in recorder.llm_runs}
    assert {"generate", "fix", "topup", "judge"} <= steps  # every kind of call was made
    assert list(plain) == list(traced)
    assert [r.annotations for r in plain] == [r.annotations for r in traced]
    assert plain.rejections == traced.rejections
    assert plain.failures == traced.failures
    assert plain.stats == traced.stats
    assert plain.stats.fix_calls > 0 and plain.stats.local_repairs > 0
    assert len(plain.failures) == 1 and "content filter" in plain.failures[0].reason


def test_the_models_own_callbacks_see_each_call_with_its_step_and_chunk(
    offline_encoding: tiktoken.Encoding,
) -> None:
    recorder = Recorder()
    llm = ScriptedChatModel(
        replies={"generate": "no JSON here", "fix": json.dumps(
            {"question_answer_pairs": [{"question": "Who led the survey?", "answer": "Ruiz."}]}
        )},
        callbacks=[recorder],
    )  # fmt: skip
    synth = Synthesizer(llm, checks=[], progress=False,
                        chunker=qasynth.Chunker(encoding=offline_encoding))  # fmt: skip
    ds = synth.invoke("Captain Ruiz led the Tidewater survey.")  # no callbacks in the config
    assert [r.question for r in ds] == ["Who led the survey?"]
    assert [r["step"] for r in recorder.llm_runs] == ["generate", "fix"]
    assert {r["chunk_id"] for r in recorder.llm_runs} == {ds[0].chunk_id}
    assert ds.stats.fix_calls == 1 and ds.stats.model_calls == 1


def one_pair_synthesizer(encoding: tiktoken.Encoding) -> Synthesizer:
    """A synthesizer whose model answers every generation with one pair."""
    llm = ScriptedChatModel(replies={"generate": json.dumps(
        {"question_answer_pairs": [{"question": "Who led the survey?", "answer": "Ruiz."}]}
    )})  # fmt: skip
    return Synthesizer(llm, checks=[], progress=False,
                       chunker=qasynth.Chunker(encoding=encoding))  # fmt: skip


def failing_chain(value: Any) -> Any:
    raise AssertionError("the chain's runnables were run")


def test_a_chunk_goes_through_the_chain_only_when_a_handler_would_see_it(
    offline_encoding: tiktoken.Encoding,
) -> None:
    synth = one_pair_synthesizer(offline_encoding)
    runner = synth.runner()
    runner.chain = RunnableLambda(failing_chain)
    [chunk] = list(synth.iter_chunks("Captain Ruiz led the Tidewater survey."))

    result = asyncio.run(runner.process(chunk))
    assert [r.question for r in result.records] == ["Who led the survey?"]
    with pytest.raises(AssertionError, match="chain's runnables"):
        asyncio.run(runner.process(chunk, config={"callbacks": [Recorder()]}))


def names(run: Run) -> list[str]:
    return [child.name for child in run.child_runs]


def find(run: Run, name: str) -> list[Run]:
    found = [run] if run.name == name else []
    return found + [r for child in run.child_runs for r in find(child, name)]


def test_langchain_tracing_still_shows_the_chain_and_the_model_call(
    offline_encoding: tiktoken.Encoding,
) -> None:
    synth = one_pair_synthesizer(offline_encoding)
    with collect_runs() as collector:  # a tracer turned on for a block, as LangSmith's is
        assert len(synth.invoke("Captain Ruiz led the Tidewater survey.")) == 1

    [root] = collector.traced_runs
    [generate] = find(root, "generate")
    assert names(generate) == ["QAPrompt", "model", "parse"]
    [model] = [r for r in generate.child_runs if r.name == "model"]
    assert [r.run_type for r in model.child_runs] == ["llm"]

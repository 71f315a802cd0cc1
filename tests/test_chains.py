"""Specs for the LangChain shape: chains, the Synthesizer Runnable, tracing, checks, options."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import tiktoken
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import ValidationError

import qasynth
from qasynth import ConfigurationError, Dataset, QAPrompt, Synthesizer
from qasynth.checks import (
    Check,
    ChunkContext,
    ExactDuplicates,
    LLMJudge,
    PairCheck,
    RunContext,
    TopUp,
    default_checks,
)


def pairs_reply(*pairs: tuple[str, str]) -> str:
    return json.dumps({"question_answer_pairs": [{"question": q, "answer": a} for q, a in pairs]})


WWC = "Spain won the 2023 FIFA Women's World Cup final against England in Sydney."
GOOD = ("Which country won the 2023 FIFA Women's World Cup final?", "Spain won it.")


def fake(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=r) for r in replies]))


def synth(llm: Any, enc: tiktoken.Encoding, **objects: Any) -> Synthesizer:
    return Synthesizer(llm, chunker=qasynth.Chunker(encoding=enc), progress=False, **objects)


class Recorder(BaseCallbackHandler):
    """Every run LangChain reports: name, parent, tags and metadata."""

    def __init__(self) -> None:
        self.runs: dict[UUID, dict[str, Any]] = {}

    def _add(self, run_id: UUID, parent: UUID | None, name: str, kind: str, **kw: Any) -> None:
        self.runs[run_id] = {"name": name, "parent": parent, "kind": kind, **kw}

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID,
                       parent_run_id: UUID | None = None, **kw: Any) -> None:  # fmt: skip
        self._add(run_id, parent_run_id, kw.get("name") or "?", "chain",
                  metadata=kw.get("metadata") or {}, tags=kw.get("tags") or [])  # fmt: skip

    def on_chat_model_start(self, serialized: Any, messages: list[list[BaseMessage]], *,
                            run_id: UUID, parent_run_id: UUID | None = None,
                            **kw: Any) -> None:  # fmt: skip
        self._add(run_id, parent_run_id, kw.get("name") or "chat", "llm",
                  metadata=kw.get("metadata") or {}, tags=kw.get("tags") or [])  # fmt: skip

    def root(self, run_id: UUID) -> UUID:
        while self.runs[run_id]["parent"] is not None:
            run_id = self.runs[run_id]["parent"]
        return run_id


# -- the chain and the Runnable ------------------------------------------------------------


def test_the_generation_chain_is_prompt_model_parser_built_with_pipes(
    offline_encoding: tiktoken.Encoding,
) -> None:
    runner = synth(fake(pairs_reply(GOOD)), offline_encoding).runner()
    assert isinstance(runner.chain, Runnable)
    names = [step.get_name() for step in runner.chain.steps]  # type: ignore[attr-defined]
    assert names == ["QAPrompt", "model", "parse"]


def test_a_qaprompt_renders_a_chat_prompt_template_with_theme_and_text() -> None:
    template = QAPrompt().template()
    assert set(template.input_variables) == {"theme", "text"}
    messages = template.format_messages(theme="Acme X200", text="The X200 grinds coffee.")
    assert messages == QAPrompt().preview("The X200 grinds coffee.", theme="Acme X200")


def test_a_users_chat_prompt_template_works_as_the_prompt(
    offline_encoding: tiktoken.Encoding,
) -> None:
    template = ChatPromptTemplate.from_messages(
        [("system", "Write JSON pairs."), ("human", "About {theme}:\n{text}")]
    )
    llm = fake(pairs_reply(GOOD))
    ds = synth(llm, offline_encoding, prompt=template, checks=[]).invoke(
        [qasynth.Chunk(text=WWC, theme="WWC", source="s", index=0).text]
    )
    assert [r.question for r in ds] == [GOOD[0]]


def test_a_template_without_the_text_variable_is_refused_clearly() -> None:
    template = ChatPromptTemplate.from_messages([("human", "About {theme}")])
    with pytest.raises(ConfigurationError, match=r"\{text\}"):
        Synthesizer(prompt=template)  # type: ignore[arg-type]


def test_the_synthesizer_is_a_runnable_with_invoke_batch_and_stream(
    offline_encoding: tiktoken.Encoding,
) -> None:
    s = synth(fake(*[pairs_reply(GOOD)] * 4), offline_encoding, checks=[])
    assert isinstance(s, Runnable)
    assert len(s.invoke(WWC)) == 1
    assert [len(d) for d in s.batch([WWC, WWC])] == [1, 1]
    pieces = list(s.stream([WWC]))
    assert all(isinstance(p, Dataset) for p in pieces)
    assert [r.question for p in pieces for r in p] == [GOOD[0]]


def test_streamed_pieces_add_up_to_the_run_also_through_a_following_step(
    offline_encoding: tiktoken.Encoding,
) -> None:
    """LangChain adds up (+) the pieces a streaming step yields for a step that takes a
    whole input: without Dataset + it kept the last chunk's records only."""
    docs = [WWC, "England lost the final 1-0 to Spain in Sydney in 2023."]
    second = ("Which team did Spain beat in the 2023 final in Sydney?", "England.")
    replies = [pairs_reply(GOOD), pairs_reply(second)] * 3
    whole = synth(fake(*replies), offline_encoding, checks=[]).invoke(docs)
    counted = synth(fake(*replies), offline_encoding, checks=[]) | RunnableLambda(len)
    pieces = list(synth(fake(*replies), offline_encoding, checks=[]).stream(docs))

    assert list(counted.stream(docs)) == [len(whole)] == [2]
    total = pieces[0] + pieces[1]
    assert sorted(r.question for r in total) == sorted(r.question for r in whole)
    for name in ("documents", "chunks", "chunks_done", "model_calls", "pairs_kept"):
        assert getattr(total.stats, name) == getattr(whole.stats, name), name


def _piece(i: int) -> Dataset:
    from qasynth._schema import QARecord, Rejection
    from qasynth._stats import Stats

    record = QARecord(f"Q{i}?", f"A{i}.", "theme", "doc.txt", f"c{i}", i)
    return Dataset([record], rejections=[Rejection("too_short", f"R{i}?", "A.", f"c{i}")],
                   stats=Stats(chunks=1, pairs_kept=1), chunk_links=[(f"c{i}", "x")])  # fmt: skip


def test_adding_datasets_keeps_each_side_as_it_was_when_added() -> None:
    """A sum is put together when first read (a stream of pieces adds up in linear
    time); it must read as if copied at the moment of +, whatever happens after."""
    a, b, c = _piece(0), _piece(1), _piece(2)
    ab = a + b
    a.records.append(_piece(9).records[0])  # changed after it was added: not in ab
    abc = ab + c
    b.rejections.clear()
    assert [r.question for r in abc] == ["Q0?", "Q1?", "Q2?"]
    assert [r.question for r in abc.rejections] == ["R0?", "R1?", "R2?"]
    assert abc.chunk_links == [("c0", "x"), ("c1", "x"), ("c2", "x")]
    assert (abc.stats.chunks, abc.stats.pairs_kept, len(abc), abc[1].question) == (3, 3, 3, "Q1?")
    assert [r.question for r in ab] == ["Q0?", "Q1?"]  # read after abc was made
    ab.records.clear()  # a read sum is a dataset like any other
    assert [r.question for r in ab + c] == ["Q2?"] and len(abc) == 3
    assert [r.question for r in a] == ["Q0?", "Q9?"] and c.failures == []


def test_a_long_stream_of_pieces_adds_up_without_recursion() -> None:
    total = _piece(0)
    for i in range(1, 20_000):  # deeper than any recursion limit
        total = total + _piece(i)
    assert len(total.records) == 20_000 and total.records[-1].question == "Q19999?"
    assert total.stats.chunks == 20_000 and len(total.rejections) == 20_000


TWO_DOCS = [WWC, "England lost the final 1-0 to Spain in Sydney in 2023."]
SECOND = ("Which team did Spain beat in the 2023 final in Sydney?", "England lost to Spain.")
UNGROUNDED = ("What is the capital of Peru?", "Lima is the capital of Peru.")


def one_at_a_time(enc: tiktoken.Encoding) -> Synthesizer:
    """Two documents, one chunk each, done in order (the default checks, which reject
    the ungrounded pair)."""
    llm = fake(pairs_reply(GOOD), pairs_reply(SECOND, UNGROUNDED))
    return synth(llm, enc, limits=qasynth.Limits(concurrency=1))


def contents(ds: Dataset) -> tuple[Any, ...]:
    return ds.records, ds.rejections, ds.failures, ds.stats, ds.chunk_links


class Ends(BaseCallbackHandler):
    """What each top-level run reported at its end."""

    def __init__(self) -> None:
        self.outputs: list[Any] = []

    def on_chain_end(self, outputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
                     **kw: Any) -> None:  # fmt: skip
        if parent_run_id is None:
            self.outputs.append(outputs)


async def test_the_end_event_of_a_streamed_run_carries_the_dataset_invoke_returns(
    offline_encoding: tiktoken.Encoding,
) -> None:
    whole = one_at_a_time(offline_encoding).invoke(TWO_DOCS)
    streamed, ends = [], []
    async for event in one_at_a_time(offline_encoding).astream_events(TWO_DOCS, version="v2"):
        if event["name"] == "Synthesizer" and event["event"] == "on_chain_stream":
            streamed.append(event["data"]["chunk"])
        if event["name"] == "Synthesizer" and event["event"] == "on_chain_end":
            ends.append(event["data"]["output"])

    assert (len(whole), len(whole.rejections), len(streamed)) == (2, 1, 2)
    [end] = ends
    assert isinstance(end, Dataset)
    assert contents(end) == contents(whole)
    assert contents(end) == contents(streamed[0] + streamed[1])  # as LangChain adds them up


def test_callback_handlers_see_the_dataset_at_the_end_of_invoke_and_of_stream(
    offline_encoding: tiktoken.Encoding,
) -> None:
    ends = Ends()
    whole = one_at_a_time(offline_encoding).invoke(TWO_DOCS, {"callbacks": [ends]})
    pieces = list(one_at_a_time(offline_encoding).stream(TWO_DOCS, {"callbacks": [ends]}))

    invoked, streamed = ends.outputs
    assert invoked is whole
    assert contents(streamed) == contents(whole) == contents(pieces[0] + pieces[1])


def test_a_stream_no_handler_sees_keeps_no_record_it_has_yielded(
    offline_encoding: tiktoken.Encoding,
) -> None:
    first: weakref.ref[qasynth.QARecord] | None = None
    kept_while_streaming = []
    for piece in one_at_a_time(offline_encoding).stream(TWO_DOCS):  # run to its end
        if first is None:
            first = weakref.ref(piece.records[0])
        else:
            gc.collect()
            kept_while_streaming.append(first() is not None)
    assert kept_while_streaming == [False]  # nothing adds the pieces up for an end unseen


# -- schemas ---------------------------------------------------------------------------------


ABANDONED_STREAM = """
import atexit, sys
sys.path.insert(0, {tests!r})
from conftest import build_offline_encoding
from qasynth import Synthesizer
from qasynth.testing import ScriptedChatModel

pair = '{{"question": "Who led the survey of crater 7?", "answer": "Dr. Ito led it."}}'
llm = ScriptedChatModel(replies={{"generate": '{{"question_answer_pairs": [' + pair + ']}}'}})
atexit.register(lambda: print("calls", len(llm.calls)))  # runs after qasynth's own
synth = Synthesizer.from_options(llm=llm, encoding=build_offline_encoding(), progress=False,
                                 concurrency=1)
stream = synth.stream([f"Report {{i}}: Dr. Ito led the survey of crater 7." for i in range(9)])
print("pieces", len(next(stream)))
"""


def test_a_sync_stream_left_open_at_the_end_of_a_program_stops_its_run_and_lets_it_exit() -> None:
    """A stream neither finished nor closed used to hang the interpreter at exit (its
    close waited on the loop's thread, which shutdown had stopped)."""
    script = ABANDONED_STREAM.format(tests=str(Path(__file__).parent))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("pieces ")  # the first chunk came
    calls = int(lines[-1].split()[1])
    assert calls < 9  # the run stopped with the program, not run to its end


def test_the_input_schema_is_a_text_path_or_document_or_a_list_of_them(
    offline_encoding: tiktoken.Encoding,
) -> None:
    s = synth(fake(), offline_encoding)
    schema = s.get_input_jsonschema()
    single = [{"type": "string"}, {"type": "string", "format": "path"},
              {"$ref": "#/$defs/Document"}]  # fmt: skip
    assert schema["anyOf"] == [*single, {"type": "array", "items": {"anyOf": single}}]
    assert schema["$defs"]["Document"]["required"] == ["page_content"]
    assert s.input_schema is s.get_input_schema()
    assert (s | RunnableLambda(len)).get_input_jsonschema() == schema
    assert s.with_config(run_name="x").get_input_jsonschema() == schema

    document = Document(page_content=WWC, metadata={"source": "a"})
    read: Any = s.get_input_schema().model_validate([WWC, Path("manual.pdf"), document])
    assert read.model_dump() == [WWC, Path("manual.pdf"), document.model_dump()]  # as given
    with pytest.raises(ValidationError):
        s.get_input_schema().model_validate(42)  # invoke refuses it too


def test_the_output_schema_describes_the_dataset_invoke_returns(
    offline_encoding: tiktoken.Encoding,
) -> None:
    s = synth(fake(pairs_reply(GOOD)), offline_encoding)
    schema = s.get_output_jsonschema()
    assert s.output_schema is s.get_output_schema()
    assert set(schema["required"]) == {"records", "rejections", "failures", "stats",
                                       "chunk_links"}  # fmt: skip
    assert schema["properties"]["records"]["items"] == {"$ref": "#/$defs/QARecord"}
    record = schema["$defs"]["QARecord"]
    assert {"question", "answer", "source", "chunk_id"} <= set(record["required"])
    stats = schema["$defs"]["Stats"]["properties"]
    assert stats["pairs_kept"]["type"] == "integer"
    assert stats["rejections"]["additionalProperties"] == {"type": "integer"}

    ds = s.invoke(WWC)
    read = s.get_output_schema().model_validate(ds, from_attributes=True).model_dump()
    assert read["records"] == [r.to_dict() for r in ds.records]  # as records_to_jsonl
    assert read["stats"] == ds.stats.to_dict() and read["stats"]["pairs_kept"] == 1
    assert (read["rejections"], read["failures"], read["chunk_links"]) == ([], [], [])


# -- tracing -------------------------------------------------------------------------------


def test_every_model_call_nests_under_one_run_named_by_its_step(
    offline_encoding: tiktoken.Encoding,
) -> None:
    judged = json.dumps({"ratings": [{"index": 0, "standalone": 5, "correct": 5, "useful": 5}]})
    recorder = Recorder()
    config = {"callbacks": [recorder], "tags": ["mine"], "metadata": {"team": "docs"},
              "run_name": "wwc-data"}  # fmt: skip
    checks = [LLMJudge()]
    ds = synth(fake(pairs_reply(GOOD), judged), offline_encoding, checks=checks).invoke(
        [WWC],
        config,  # type: ignore[arg-type]
    )
    assert len(ds) == 1
    llm_runs = [r for r in recorder.runs.values() if r["kind"] == "llm"]
    assert len(llm_runs) == 2
    roots = {recorder.root(run_id) for run_id in recorder.runs}
    assert len(roots) == 1
    assert recorder.runs[roots.pop()]["name"] == "wwc-data"
    steps = sorted(r["metadata"]["qasynth_step"] for r in llm_runs)
    assert steps == ["generate", "judge"]
    for run in llm_runs:
        assert run["metadata"]["team"] == "docs" and "mine" in run["tags"]
        assert run["metadata"]["qasynth_source"] == "<text 1>"
        assert len(run["metadata"]["qasynth_chunk_id"]) == 16
    named = {r["name"] for r in recorder.runs.values() if r["kind"] == "chain"}
    assert {"generate", "judge"} <= named


def test_synthesize_passes_config_on(offline_encoding: tiktoken.Encoding) -> None:
    recorder = Recorder()
    qasynth.synthesize(
        WWC, llm=fake(pairs_reply(GOOD)), encoding=offline_encoding, progress=False,
        config={"callbacks": [recorder]},
    )  # fmt: skip
    assert any(r["kind"] == "llm" for r in recorder.runs.values())


def test_with_config_binds_callbacks_for_the_whole_run(
    offline_encoding: tiktoken.Encoding,
) -> None:
    recorder = Recorder()
    bound = synth(fake(pairs_reply(GOOD)), offline_encoding).with_config(callbacks=[recorder])
    assert len(bound.invoke(WWC)) == 1
    assert any(r["kind"] == "llm" for r in recorder.runs.values())


# -- the checks contract ---------------------------------------------------------------------


class NoShortAnswers(PairCheck):
    name = "no_short_answers"

    def check_pair(self, record: qasynth.QARecord, chunk: qasynth.Chunk) -> tuple[str, str] | None:
        if len(record.answer) < 10:
            return "answer_too_short", f"{len(record.answer)} characters"
        return None


def test_adding_a_check_keeps_the_defaults(offline_encoding: tiktoken.Encoding) -> None:
    reply = pairs_reply(GOOD, ("Who lost the 2023 FIFA Women's World Cup final?", "England"))
    checks = [*default_checks(), NoShortAnswers()]
    ds = synth(fake(reply), offline_encoding, checks=checks).invoke([WWC])
    assert [r.question for r in ds] == [GOOD[0]]
    rejected = {r.reason: r.detail for r in ds.rejections}
    assert rejected["answer_too_short"].startswith("7 characters")
    names = [type(c).__name__ for c in checks]
    assert "GroundingCheck" in names and "NearDuplicates" in names


class TagAndLink(Check):
    """A run check: annotates every record and links all records of one theme."""

    name = "tag_and_link"
    scope = "run"

    def check_run(self, ctx: RunContext) -> None:
        records = ctx.records
        for record in records:
            ctx.annotate(record, seen_by="tag_and_link")
        for a, b in zip(ctx.records, ctx.records[1:], strict=False):
            ctx.link(a, b)


def test_a_run_check_annotates_and_links_records(offline_encoding: tiktoken.Encoding) -> None:
    other = ("Where was the 2023 FIFA Women's World Cup final played?", "In Sydney.")
    ds = synth(
        fake(pairs_reply(GOOD), pairs_reply(other)), offline_encoding, checks=[TagAndLink()]
    ).invoke([WWC, WWC + " It was in August."])
    assert [r.annotations["seen_by"] for r in ds] == ["tag_and_link"] * 2
    assert len(ds.chunk_links) == 1
    parts = ds.split(val_fraction=0.5, seed=3)
    assert sorted(len(p) for p in parts.values()) == [0, 0, 2]  # linked: one side only


class AddEcho(Check):
    """A chunk check that adds a pair; the earlier model-free checks must see it."""

    name = "add_echo"

    async def acheck_chunk(self, ctx: ChunkContext) -> None:
        for record in ctx.records:
            ctx.add(qasynth.QARecord.of(ctx.chunk, record.question, "short"))


def test_pairs_a_check_adds_go_through_the_earlier_model_free_checks(
    offline_encoding: tiktoken.Encoding,
) -> None:
    ds = synth(
        fake(pairs_reply(GOOD)), offline_encoding, checks=[NoShortAnswers(), AddEcho()]
    ).invoke([WWC])
    assert [r.answer for r in ds] == [GOOD[1]]
    assert [r.reason for r in ds.rejections] == ["answer_too_short"]


def test_checks_that_call_the_model_declare_their_cost_for_plan() -> None:
    assert not ExactDuplicates().calls_model
    assert LLMJudge().estimate(chunk_tokens=100, pair_tokens=60).calls == 1
    assert TopUp(5, max_calls=2).estimate(chunk_tokens=100, pair_tokens=60).at_most == 2


# -- options ---------------------------------------------------------------------------------


def test_flat_options_become_objects_in_one_place(offline_encoding: tiktoken.Encoding) -> None:
    s = Synthesizer.from_options(
        llm=fake(), encoding=offline_encoding, chunk_size=300, chunk_overlap=30,
        concurrency=3, request_timeout=9, judge=True, paraphrases=2,
    )  # fmt: skip
    assert (s.chunker.chunk_size, s.chunker.chunk_overlap) == (300, 30)
    assert (s.limits.concurrency, s.limits.timeout) == (3, 9)
    names = [c.name for c in s.checks]
    assert names.index("grounding") < names.index("judge") < names.index("paraphrase")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"checks": [], "judge": True}, "checks= is given, so judge would be ignored"),
        ({"limits": qasynth.Limits(), "concurrency": 4}, "limits= is given"),
        ({"chunk_sise": 100}, "did you mean 'chunk_size'"),
        ({"concurrency": 0}, "concurrency must be at least 1"),
    ],
)
def test_options_that_would_be_ignored_or_are_unknown_are_refused(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Synthesizer.from_options(**options)

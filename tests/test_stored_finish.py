"""A file run finishes from its state: the run checks read the stored records and the
files are streamed, and what comes out is what an in-memory run of the same chunks
makes (same records, same order, same rejections, same splits)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
import tiktoken
from langchain_core.messages import BaseMessage

import qasynth._formats
import qasynth._runview
import qasynth.checks._basic
from qasynth import QARecord, QualityReport, SplitOptions, StateError, Synthesizer
from qasynth._quality import NearDuplicateIndex, NearDuplicateStore
from qasynth._scratch import scratch_database
from qasynth.checks import Check, ChunkContext, ExactDuplicates, NearDuplicates, RunContext
from qasynth.testing import ScriptedChatModel

CUPS = ["World Cup", "Copa America", "Asian Cup", "Gold Cup", "FA Cup", "League Cup"]


def pairs(*items: tuple[str, str]) -> str:
    rows = [{"question": q, "answer": a} for q, a in items]
    return json.dumps({"question_answer_pairs": rows}, ensure_ascii=False)


def reply(messages: list[BaseMessage]) -> str:
    """Per report: its own question, one every report asks (an exact duplicate), and a
    question shared with the report before it in trivially different wording."""
    number = int(re.findall(r"Report (\d+)", messages[-1].text)[-1])
    cup, year = CUPS[number // 2 % len(CUPS)], 1990 + number // 2
    shared = f"Who won the {year} {cup} final?"
    worded = [shared, shared.replace("?", " ??"), shared.replace(" final", ", final"), shared[:-1]]
    return pairs(
        (f"What did report {number} say about the {cup}?", f"It covered the {cup}."),
        ("Which agency runs the archive?", "The football archive agency."),
        (worded[number % len(worded)], f"Team {number % 5} won it" + "!" * (number % 3)),
    )


class Score(Check):
    """A chunk check: a grounding score that differs from pair to pair, and a question
    paraphrase of each chunk's first pair (a variant, never a duplicate)."""

    name = "score"

    async def acheck_chunk(self, ctx: ChunkContext) -> None:
        for record in ctx.records:
            ctx.annotate(record, grounding=round((len(record.answer) * 7 % 10) / 10, 1))
        first = ctx.records[0]
        ctx.add(QARecord(**{**first.to_dict(), "question": "In short: " + first.question,
                            "origin": "paraphrase", "derived_from": first.question}))  # fmt: skip


class OnePerAnswer(Check):
    """A user's run check written against the public contract: streams the context,
    rejects the second pair with an answer already seen, annotates and links."""

    name = "one_per_answer"
    scope = "run"

    def check_run(self, ctx: RunContext) -> None:
        first: dict[str, QARecord] = {}
        for record in ctx:
            if record.answer in first:
                ctx.link(first[record.answer], record)
                ctx.reject(record, "answer_already_given", record.answer)
            else:
                first[record.answer] = ctx.annotate(record, answer_rank=len(first))
        assert len(ctx) == len(ctx.records) == len(first)


def synthesizer(encoding: tiktoken.Encoding, *extra: Check) -> Synthesizer:
    checks = [Score(), ExactDuplicates(), NearDuplicates(), *extra]
    llm = ScriptedChatModel(replies={"generate": reply})
    return Synthesizer.from_options(
        llm=llm, checks=checks, progress=False, encoding=encoding, concurrency=3
    )


DOCS = [f"Report {i}: the archive holds notes on cup finals." for i in range(24)]


@pytest.mark.parametrize("extra", [(), (OnePerAnswer(),)], ids=["built-in", "user check"])
def test_a_file_run_keeps_writes_and_rejects_exactly_what_an_in_memory_run_does(
    tmp_path: Path, offline_encoding: tiktoken.Encoding, extra: tuple[Check, ...]
) -> None:
    ds = synthesizer(offline_encoding, *extra).run(DOCS)
    report = synthesizer(offline_encoding, *extra).run_to_file(DOCS, tmp_path / "out.jsonl")

    reasons = ds.stats.rejections
    assert reasons["duplicate_question"] == 23 and reasons["near_duplicate"] == 12
    assert list(report.records) == ds.records
    assert [r.annotations for r in report.records] == [r.annotations for r in ds]
    assert list(report.rejections) == ds.rejections
    assert list(report.chunk_links) == ds.chunk_links and ds.chunk_links
    assert report.stats.rejections == reasons
    assert list(report.stats.rejections) == list(reasons)  # same order of first appearance
    assert report.records_written == len(report.records) == len(ds)
    assert QualityReport.of(report).to_dict() == QualityReport.of(ds).to_dict()
    ds.to_jsonl(tmp_path / "memory.jsonl")
    assert (tmp_path / "out.jsonl").read_bytes() == (tmp_path / "memory.jsonl").read_bytes()


def test_split_files_are_the_in_memory_splits_with_linked_chunks_together(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    options = {"val_fraction": 0.3, "test_fraction": 0.2, "seed": 5}
    ds = synthesizer(offline_encoding).run(DOCS)
    report = synthesizer(offline_encoding).run_to_file(
        DOCS, tmp_path / "run.jsonl", splits=SplitOptions(**options)
    )
    expected = ds.to_jsonl_splits(tmp_path / "memory.jsonl", **options)
    assert set(report.split_paths) == set(expected) == {"train", "val", "test"}
    for name, path in report.split_paths.items():
        assert path.read_bytes() == expected[name].read_bytes(), name


def test_a_rerun_resumes_from_the_state_and_writes_the_same_file(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    out = tmp_path / "out.jsonl"
    first = synthesizer(offline_encoding).run_to_file(DOCS, out)
    written, rejected = out.read_bytes(), list(first.rejections)
    out.unlink()
    again = synthesizer(offline_encoding)
    second = again.run_to_file(DOCS, out)
    assert again.chat_model().calls == []  # type: ignore[attr-defined]
    assert second.stats.chunks_resumed == len(DOCS)
    assert out.read_bytes() == written
    assert list(second.rejections) == rejected

    all_chunks = {r.chunk_id for r in second.records}
    fewer = synthesizer(offline_encoding).run_to_file(DOCS[:12], out)  # inputs left out
    assert {r.chunk_id for r in fewer.records} < all_chunks
    assert list(fewer.records) == synthesizer(offline_encoding).run(DOCS[:12]).records
    with pytest.raises(StateError, match="a later run into the same output"):
        list(second.records)  # the state holds the later run now: said, not mixed up


def test_a_reports_records_are_a_sequence_read_from_the_state(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    report = synthesizer(offline_encoding).run_to_file(DOCS, tmp_path / "out.jsonl")
    records = list(report.records)
    assert len(records) == len(report.records) > 20
    assert report.records[0] == records[0] and report.records[-1] == records[-1]
    assert report.records[3:9:2] == records[3:9:2] and report.records[::-1] == records[::-1]
    assert report.records == records and list(report.records) == records  # read again
    with pytest.raises(IndexError):
        report.records[len(records)]
    assert len(report.rejections) == len(list(report.rejections))


def test_a_stored_run_context_refuses_what_the_in_memory_one_refuses(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    seen: list[str] = []

    class RejectTwice(Check):
        name = "reject_twice"
        scope = "run"

        def check_run(self, ctx: RunContext) -> None:
            first = next(iter(ctx))
            ctx.reject(first, "first", "")
            for doomed in (first, QARecord(**first.to_dict())):  # rejected; never given out
                try:
                    ctx.reject(doomed, "again", "")
                except ValueError as exc:
                    seen.append(str(exc).split(":")[0])
            assert first.question not in {r.question for r in ctx if r.chunk_id == first.chunk_id}

    synthesizer(offline_encoding, RejectTwice()).run(DOCS[:3])
    in_memory, seen[:] = list(seen), []
    synthesizer(offline_encoding, RejectTwice()).run_to_file(DOCS[:3], tmp_path / "o.jsonl")
    assert seen == in_memory == ["not a kept record of this context"] * 2


def test_exact_duplicates_decide_by_text_when_64_bit_keys_collide(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def make(question: str, chunk: str) -> QARecord:
        return QARecord(question, "An answer.", "t", "s", chunk, 0)

    records = [make(q, f"c{i}") for i, q in enumerate(["A?", "B?", "a?", "C?", "b ?", "A?"])]
    monkeypatch.setattr(qasynth.checks._basic, "key64", lambda text: 7)  # every key collides
    ctx = RunContext(records)
    ExactDuplicates().check_run(ctx)
    assert [r.question for r in ctx] == ["A?", "B?", "C?", "b ?"]
    assert [(r.chunk_id, r.detail) for r in ctx.rejections] == [
        ("c2", "same as: A?"), ("c5", "same as: A?"),
    ]  # fmt: skip


def test_the_stored_near_duplicate_groups_are_the_in_memory_ones() -> None:
    rng = random.Random(4)
    templates = ["Who won the {} {} final?", "Where was the {} {} final played?"]
    texts = []
    for _ in range(3000):
        text = rng.choice(templates).format(rng.randint(1990, 1999), rng.choice(CUPS))
        variant = rng.choice([str.upper, str.lower, lambda t: t + " ?", lambda t: " " + t])
        texts.append(variant(text) if rng.random() < 0.5 else text)
    for threshold in (0.85, 0.6):
        index = NearDuplicateIndex(threshold=threshold)
        with scratch_database() as db:
            store = NearDuplicateStore(db, threshold=threshold)
            store.add_all((3 * i, text) for i, text in enumerate(texts))
            for i, text in enumerate(texts):
                index.add(3 * i, text)
            groups = list(store.groups())
        assert groups == index.groups() and len(groups) > 50


def test_parquet_is_written_a_row_group_at_a_time_with_the_same_rows(
    tmp_path: Path, offline_encoding: tiktoken.Encoding, monkeypatch: pytest.MonkeyPatch
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    ds = synthesizer(offline_encoding).run(DOCS)
    whole = ds.to_parquet(tmp_path / "whole.parquet")
    monkeypatch.setattr(qasynth._formats, "PARQUET_ROWS", 7)
    pieces = ds.to_parquet(tmp_path / "pieces.parquet")
    assert pq.ParquetFile(pieces).num_row_groups == -(-len(ds) // 7) > 1
    assert pq.read_table(pieces).to_pylist() == pq.read_table(whole).to_pylist()


def test_a_stored_context_reads_the_records_a_page_at_a_time(
    tmp_path: Path, offline_encoding: tiktoken.Encoding, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted: list[int] = []

    class Count(Check):
        name = "count"
        scope = "run"

        def check_run(self, ctx: RunContext) -> None:
            counted.append(sum(1 for _ in ctx))

    monkeypatch.setattr(qasynth._runview, "PAGE", 5)  # 12 records: three pages
    llm = ScriptedChatModel(replies={"generate": reply})
    synth = Synthesizer.from_options(
        llm=llm, checks=[Count()], progress=False, encoding=offline_encoding
    )
    report = synth.run_to_file(DOCS[:4], tmp_path / "out.jsonl")
    assert counted == [report.records_written] == [12]
    assert len(list(report.records)) == 12


def test_the_commands_other_formats_and_provenance_come_from_the_state_as_from_memory(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    from qasynth._cli._outputs import provenance_path_for, write_outputs
    from qasynth._finalize import SPLIT_FILE_NAMES
    from qasynth._formats import provenance

    splits = SplitOptions(val_fraction=0.3, test_fraction=0.2, seed=5)
    out = tmp_path / "run" / "out.jsonl"
    report = synthesizer(offline_encoding).run_to_file(DOCS, out, splits=splits)
    options = {"output_format": "alpaca", "provenance": True, "report_path": None,
               "encoding": offline_encoding}  # fmt: skip
    lines = write_outputs(report, options, system_prompt="Be brief.", splits=splits,
                          chunks=lambda: ())  # fmt: skip

    ds = synthesizer(offline_encoding).run(DOCS)
    fractions = {"val_fraction": 0.3, "test_fraction": 0.2, "seed": 5}
    memory = tmp_path / "memory" / "out.jsonl"
    expected = ds.to_jsonl_splits(memory, system_prompt="Be brief.", format="alpaca", **fractions)
    for name, path in report.split_paths.items():
        assert path.read_bytes() == expected[name].read_bytes(), name
    parts = ds.split(**fractions)
    rows = [json.loads(line) for line in provenance_path_for(out).read_text().splitlines()]
    assert rows == [
        {"split": SPLIT_FILE_NAMES[name], "line": i, **provenance(record)}
        for name, records in parts.items()
        for i, record in enumerate(records, start=1)
    ]
    sizes = ", ".join(f"{ {'val': 'validation'}.get(n, n) } {len(r):,}" for n, r in parts.items())
    assert lines[0].startswith(f"Splits: {sizes} in ")

"""Quality checks, top-ups, the judge, augmenters, splits and the report, end to end."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tiktoken
from click.testing import CliRunner
from langchain_core.messages import BaseMessage

import qasynth._tokens
from qasynth import QualityReport, SplitOptions, Synthesizer
from qasynth._cli import main
from qasynth._plan import plan
from qasynth.testing import ScriptedChatModel

WWC = (
    "Spain won the 2023 FIFA Women's World Cup, beating England 1-0 in the final in Sydney. "
    "Olga Carmona scored the only goal of the final in the 29th minute."
)
WWC_JA = "2023年のFIFA女子ワールドカップでスペインが優勝した。決勝ではイングランドを1対0で破った。"
GOOD_Q = "Which country won the 2023 FIFA Women's World Cup?"
GOOD_A = "Spain won the 2023 FIFA Women's World Cup."


def pairs(*items: tuple[str, str]) -> str:
    return json.dumps(
        {"question_answer_pairs": [{"question": q, "answer": a} for q, a in items]},
        ensure_ascii=False,
    )


def scripted(**replies: str | Callable[[list[BaseMessage]], str]) -> ScriptedChatModel:
    """A model answering by the step that calls it (read from the call's metadata)."""
    return ScriptedChatModel(replies=replies)


@pytest.fixture
def synth_options(offline_encoding: tiktoken.Encoding) -> dict[str, Any]:
    return {"progress": False, "encoding": offline_encoding, "concurrency": 1}


def test_context_dependent_questions_are_rejected_with_their_rule(
    synth_options: dict[str, Any],
) -> None:
    llm = scripted(
        generate=pairs(
            (GOOD_Q, GOOD_A),
            ("Who scored in the final?", "Olga Carmona scored the only goal."),
            ("According to the text, who lost the final?", "England lost the final."),
        )
    )
    ds = Synthesizer.from_options(llm=llm, **synth_options).run([WWC])
    assert [r.question for r in ds] == [GOOD_Q]
    assert ds.stats.rejections["not_standalone"] == 2
    details = [r.detail for r in ds.rejections if r.reason == "not_standalone"]
    assert all(details)  # the rule that fired is kept with the rejection


def test_answers_must_be_grounded_in_their_chunk(synth_options: dict[str, Any]) -> None:
    llm = scripted(
        generate=pairs(
            (GOOD_Q, GOOD_A),
            ("In which minute did Olga Carmona score in the 2023 final?", "In the 31st minute."),
            ("Who coached Spain at the 2023 Women's World Cup?", "Jorge Vilda coached Spain."),
        )
    )
    ds = Synthesizer.from_options(llm=llm, **synth_options).run([WWC])
    assert [r.question for r in ds] == [GOOD_Q]
    assert ds[0].annotations["grounding"] >= 0.5
    assert ds.stats.rejections["answer_number_not_in_text"] == 1
    assert ds.stats.rejections["answer_name_not_in_text"] == 1


def test_pairs_in_another_language_than_the_chunk_are_rejected(
    synth_options: dict[str, Any],
) -> None:
    llm = scripted(
        generate=pairs(
            ("2023年のFIFA女子ワールドカップで優勝した国はどこですか？", "スペインが優勝した。"),
            ("Which country won the 2023 FIFA Women's World Cup?", "スペインが優勝した。"),
        )
    )
    ds = Synthesizer.from_options(llm=llm, grounding_threshold=None, **synth_options).run([WWC_JA])
    assert len(ds) == 1 and ds[0].question.startswith("2023年")
    assert ds.stats.rejections["wrong_language"] == 1


def test_near_duplicate_questions_across_chunks_keep_the_better_grounded_pair(
    synth_options: dict[str, Any],
) -> None:
    def reply(messages: list[BaseMessage]) -> str:
        if (
            "scored as Spain" in messages[-1].text
        ):  # second chunk: same question, worded trivially apart
            return pairs(("Which country won the 2023 FIFA Women's World Cup ??", GOOD_A))
        return pairs((GOOD_Q, "Spain."))

    second = "Olga Carmona scored as Spain won the 2023 FIFA Women's World Cup in Sydney."
    llm = scripted(generate=reply)
    ds = Synthesizer.from_options(llm=llm, **synth_options).run(["Spain won it. " + WWC, second])
    assert len(ds) == 1
    assert ds.stats.rejections["near_duplicate"] == 1
    kept = ds[0]
    dropped = next(r for r in ds.rejections if r.reason == "near_duplicate")
    assert kept.annotations["grounding"] >= 0.5 and dropped.detail.startswith("near-duplicate of")
    assert ds.chunk_links  # the two chunks are linked for leak-free splits


def test_a_chunk_with_too_few_pairs_is_asked_again_naming_the_questions_it_has(
    synth_options: dict[str, Any],
) -> None:
    second_q = "Who scored the only goal of the 2023 FIFA Women's World Cup final?"
    llm = scripted(
        generate=pairs((GOOD_Q, GOOD_A)),
        topup=pairs((GOOD_Q, GOOD_A), (second_q, "Olga Carmona scored the only goal.")),
    )
    ds = Synthesizer.from_options(
        llm=llm, min_pairs_per_chunk=3, max_topups=2, **synth_options
    ).run([WWC])
    assert [r.question for r in ds] == [GOOD_Q, second_q]
    topups = [m for kind, m in llm.calls if kind == "topup"]
    assert len(topups) == 2  # bounded: the second top-up added nothing, so it stopped
    assert GOOD_Q in topups[0][-1].text and second_q in topups[1][-1].text
    assert ds.stats.calls_by_kind == {"generate": 1, "topup": 2}


def test_the_judge_rates_every_pair_in_one_call_and_drops_low_scores(
    synth_options: dict[str, Any],
) -> None:
    second_q = "Who scored the only goal of the 2023 FIFA Women's World Cup final?"
    ratings = {
        "ratings": [
            {"index": 0, "standalone": 5, "correct": 5, "useful": 4, "reason": "fine"},
            {"index": 1, "standalone": 5, "correct": 2, "useful": 4, "reason": "wrong minute"},
        ]
    }
    llm = scripted(
        generate=pairs((GOOD_Q, GOOD_A), (second_q, "Olga Carmona scored the only goal.")),
        judge=json.dumps(ratings),
    )
    ds = Synthesizer.from_options(llm=llm, judge=True, **synth_options).run([WWC])
    assert [r.question for r in ds] == [GOOD_Q]
    assert ds[0].annotations["judge"]["useful"] == 4
    assert ds.stats.rejections["judge_low_correct"] == 1
    assert ds.stats.calls_by_kind["judge"] == 1


def test_paraphrases_and_translations_are_added_and_record_their_source(
    synth_options: dict[str, Any],
) -> None:
    paraphrase = "Who won the FIFA Women's World Cup in 2023?"
    translated_q = "2023年のFIFA女子ワールドカップで優勝した国はどこですか？"
    llm = scripted(
        generate=pairs((GOOD_Q, GOOD_A)),
        paraphrase=json.dumps(
            {"paraphrases": [{"index": 0, "questions": [paraphrase, GOOD_Q.upper()]}]}
        ),
        translate=json.dumps(
            {"translations": [{"index": 0, "question": translated_q, "answer": "スペイン。"}]}
        ),
    )
    synth = Synthesizer.from_options(llm=llm, paraphrases=2, also_languages=["ja"], **synth_options)
    ds = synth.run([WWC])
    by_origin = {r.origin: r for r in ds}
    assert set(by_origin) == {"generated", "paraphrase", "translation:ja"}
    assert by_origin["paraphrase"].question == paraphrase
    assert by_origin["paraphrase"].answer == GOOD_A
    assert by_origin["paraphrase"].derived_from == GOOD_Q
    assert by_origin["translation:ja"].derived_from == GOOD_Q
    assert ds.stats.calls_by_kind == {"generate": 1, "paraphrase": 1, "translate": 1}


def test_a_failing_step_keeps_the_pairs_already_paid_for(synth_options: dict[str, Any]) -> None:
    llm = scripted(generate=pairs((GOOD_Q, GOOD_A)), judge="I would rather not.")
    ds = Synthesizer.from_options(llm=llm, judge=True, max_fix_attempts=0, **synth_options).run(
        [WWC]
    )
    assert [r.question for r in ds] == [GOOD_Q]
    assert ds.stats.step_errors["judge"] == 1


def test_splits_are_by_chunk_deterministic_and_keep_variants_together(
    synth_options: dict[str, Any],
) -> None:
    def reply(messages: list[BaseMessage]) -> str:
        text = messages[-1].text.split("Text:\n", 1)[1]
        return pairs((f"What happened in {text[:40]}?", text))

    docs = [f"Rover Zephyr {i} reached crater {i * 7} on day {i + 100}." for i in range(40)]
    paraphrased = scripted(
        generate=reply,
        paraphrase=lambda m: json.dumps({"paraphrases": [{"index": 0, "questions": ["x?"]}]}),
    )
    ds = Synthesizer.from_options(
        llm=paraphrased, paraphrases=1, standalone=False, **synth_options
    ).run(docs)
    first = ds.split(val_fraction=0.2, test_fraction=0.2, seed=7)
    again = ds.split(val_fraction=0.2, test_fraction=0.2, seed=7)
    assert first == again
    assert sum(len(v) for v in first.values()) == len(ds)
    assert all(first[name] for name in ("train", "val", "test"))
    side = {}
    for name, records in first.items():
        for record in records:
            assert side.setdefault(record.chunk_id, name) == name  # a chunk never straddles


def test_a_file_run_with_splits_writes_three_files_and_a_report(
    tmp_path: Path, synth_options: dict[str, Any]
) -> None:
    def reply(messages: list[BaseMessage]) -> str:
        text = messages[-1].text.split("Text:\n", 1)[1]
        return pairs((f"What happened when {text[:40]}?", text), ("Who won?", "Nobody."))

    docs = [f"Rover Zephyr {i} reached crater {i * 7} on day {i + 100}." for i in range(30)]
    synth = Synthesizer.from_options(llm=scripted(generate=reply), **synth_options)
    report = synth.run_to_file(
        docs, tmp_path / "out.jsonl", splits=SplitOptions(val_fraction=0.2, test_fraction=0.1)
    )
    assert set(report.split_paths) == {"train", "val", "test"}
    lines = [
        line for p in report.split_paths.values() for line in p.read_text().splitlines() if line
    ]
    assert len(lines) == report.records_written == 30
    assert not (tmp_path / "out.jsonl").exists()
    quality = QualityReport.of(report).to_dict()
    assert quality["rejections"]["not_standalone"]["count"] == 30
    assert quality["rejections"]["not_standalone"]["examples"][0]["question"] == "Who won?"


def test_the_cli_writes_the_quality_report_and_shows_reasons_in_the_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_encoding: tiktoken.Encoding
) -> None:
    from qasynth.testing import FakeOpenAIServer

    monkeypatch.setattr(qasynth._tokens, "_load", lambda name: offline_encoding)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-dummy")
    (tmp_path / "wwc.txt").write_text(WWC + " Who knows what happened next.", encoding="utf-8")
    with FakeOpenAIServer() as server:
        result = CliRunner().invoke(
            main,
            ["generate", str(tmp_path / "wwc.txt"), "-o", str(tmp_path / "out.jsonl"),
             "--base-url", server.base_url, "--quiet", "--report", str(tmp_path / "q.json")],
        )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads((tmp_path / "q.json").read_text(encoding="utf-8"))
    assert report["kept"] >= 1
    for reason in report["rejections"]:
        assert reason in result.stderr


def test_plan_counts_the_calls_of_the_steps_asked_for(synth_options: dict[str, Any]) -> None:
    options = {k: v for k, v in synth_options.items() if k != "concurrency"}
    result = plan(
        [WWC, WWC_JA], judge=True, paraphrases=2, also_languages=["ja", "en"],
        min_pairs_per_chunk=5, **options,
    )  # fmt: skip
    assert result.chunks == 2
    assert result.step_calls == {"judge": 2, "paraphrase": 2, "translate": 4}
    assert result.model_calls == 2 + 8
    assert result.max_topup_calls == 4
    assert result.step_input_tokens > 0 and result.step_output_tokens > 0


def test_questions_that_differ_in_a_year_are_not_near_duplicates(
    synth_options: dict[str, Any],
) -> None:
    # Worded alike enough for MinHash to group them; the years make them different facts.
    texts = [
        "ショウタ・コバヤシ選手は1973年にポルトガルを退団し、FCポルトへ移籍した。",
        "ショウタ・コバヤシ選手は2009年にポルトガルを退団し、ベンフィカへ移籍した。",
    ]

    def reply(messages: list[BaseMessage]) -> str:
        text = messages[-1].text.split("Text:\n", 1)[1]
        year = "1973" if "1973" in text else "2009"
        question = f"ショウタ・コバヤシ選手が{year}年にポルトガルを退団した後に" + (
            "移籍したクラブはどこですか？"
        )
        return pairs((question, text))

    ds = Synthesizer.from_options(llm=scripted(generate=reply), **synth_options).run(texts)
    assert len(ds) == 2
    assert "near_duplicate" not in ds.stats.rejections


def test_the_cli_judges_and_paraphrases_against_the_fake_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_encoding: tiktoken.Encoding
) -> None:
    from qasynth.testing import FakeOpenAIServer

    monkeypatch.setattr(qasynth._tokens, "_load", lambda name: offline_encoding)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-dummy")
    (tmp_path / "wwc.txt").write_text(WWC, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer() as server:
        result = CliRunner().invoke(
            main,
            ["generate", str(tmp_path / "wwc.txt"), "-o", str(out), "--base-url",
             server.base_url, "--quiet", "--judge", "--paraphrases", "1"],
        )  # fmt: skip
        kinds = [r.body["messages"][0]["content"][:30] for r in server.requests]
    assert result.exit_code == 0, result.stderr
    assert len(kinds) == 3  # generate, judge, paraphrase: one call each for the one chunk
    lines = [json.loads(line)["messages"] for line in out.read_text().splitlines()]
    questions = [messages[1]["content"] for messages in lines]
    assert len(questions) == 4  # two sentences, each with one paraphrase
    assert sum(q.startswith("Tell me:") for q in questions) == 2
    assert "judge 1" in result.stderr and "paraphrase 1" in result.stderr

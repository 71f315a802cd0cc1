"""Semantic duplicates, repairing dangling questions, an uncertain-only judge and
answer paraphrases (the opt-in checks of issue 10), end to end in-process."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import tiktoken
from click.testing import CliRunner
from langchain_core.messages import BaseMessage

import qasynth
import qasynth._tokens
from qasynth import QualityReport, Synthesizer
from qasynth._cli import main
from qasynth._plan import plan
from qasynth._schema import QARecord
from qasynth.checks import LLMJudge, RunContext, SemanticDuplicates, default_checks
from qasynth.checks._semantic import same_fact, similar_pairs
from qasynth.testing import BagOfWordsEmbeddings, ScriptedChatModel

WWC = (
    "Spain won the 2023 FIFA Women's World Cup, beating England 1-0 in the final in Sydney. "
    "Olga Carmona scored the only goal of the final in the 29th minute."
)
WWC_2019 = "The United States won the 2019 FIFA Women's World Cup, beating the Netherlands 2-0."
Q23 = "Which country won the 2023 FIFA Women's World Cup?"
A23 = "Spain won the 2023 FIFA Women's World Cup."
Q23_AGAIN = "Who won the FIFA Women's World Cup in 2023, which country?"
Q19 = "Which country won the 2019 FIFA Women's World Cup?"
A19 = "The United States won the 2019 FIFA Women's World Cup."
NATION_Q = "Which nation won the 2023 FIFA Women's World Cup?"
SCORER_Q = "Who scored the only goal of the 2023 FIFA Women's World Cup final?"
SCORER_A = "Olga Carmona scored the only goal of the final."


def pairs(*items: tuple[str, str]) -> str:
    return json.dumps(
        {"question_answer_pairs": [{"question": q, "answer": a} for q, a in items]},
        ensure_ascii=False,
    )


def by_text(**replies: str) -> Any:
    """A generate reply chosen by a word of the chunk's text."""

    def reply(messages: list[BaseMessage]) -> str:
        text = messages[-1].text
        return next(answer for word, answer in replies.items() if word in text)

    return reply


@pytest.fixture
def options(offline_encoding: tiktoken.Encoding) -> dict[str, Any]:
    return {"progress": False, "encoding": offline_encoding, "concurrency": 1}


# -- semantic duplicates --------------------------------------------------------------


def test_semantic_duplicates_merge_paraphrases_across_documents_but_not_other_numbers(
    options: dict[str, Any],
) -> None:
    llm = ScriptedChatModel(
        replies={
            "generate": by_text(
                Madrid=pairs((Q23_AGAIN, A23)),
                Spain=pairs((Q23, A23)),
                Netherlands=pairs((Q19, A19)),
            ),
            "paraphrase": json.dumps({"paraphrases": [{"index": 0, "questions": [NATION_Q]}]}),
        }
    )
    embeddings = BagOfWordsEmbeddings()
    ds = Synthesizer.from_options(
        llm=llm, semantic_duplicates=embeddings, paraphrases=1, **options
    ).run([WWC, WWC_2019, "As the Madrid press reported: " + WWC])
    generated = [r.question for r in ds if r.origin == "generated"]
    assert generated == [Q23, Q19]  # the 2019 question is as close, but names another year
    assert ds.stats.rejections["semantic_duplicate"] == 1
    (rejected,) = [r for r in ds.rejections if r.reason == "semantic_duplicate"]
    assert rejected.question == Q23_AGAIN and Q23 in rejected.detail
    # paraphrases made on purpose are never compared, and the two chunks share a split
    assert next(r.question for r in ds if r.origin == "paraphrase") == NATION_Q
    assert sorted(embeddings.calls[0]) == sorted([Q23, Q19, Q23_AGAIN])
    assert len(ds.chunk_links) == 1
    assert ds.stats.calls_by_kind["semantic_duplicates"] == 1


def test_semantic_duplicates_keep_the_better_grounded_question() -> None:
    check = SemanticDuplicates(BagOfWordsEmbeddings(), threshold=0.8)
    weak = QARecord(Q23_AGAIN, A23, "", "a", "c1", 0, annotations={"grounding": 0.6})
    strong = QARecord(Q23, A23, "", "b", "c2", 0, annotations={"grounding": 0.9})
    ctx = RunContext([weak, strong])
    check.check_run(ctx)
    assert [r.question for r in ctx.records] == [Q23]
    assert ctx.calls == {"semantic_duplicates": 1}


def test_same_fact_refuses_different_numbers_and_different_names_but_not_translations() -> None:
    def record(question: str) -> QARecord:
        return QARecord(question, "x", "", "s", "c", 0)

    assert same_fact(record(Q23), record(Q23_AGAIN))
    assert not same_fact(record(Q23), record(Q19))
    assert not same_fact(
        record("Who beat Japan in the 2011 final?"), record("Who beat Brazil in the 2011 final?")
    )
    assert same_fact(record(Q23), record("2023年のFIFA女子ワールドカップの優勝国は？"))
    assert not same_fact(record(Q23), record("2019年のFIFA女子ワールドカップの優勝国は？"))


def test_hashed_candidates_find_the_same_pairs_as_comparing_every_pair() -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    base = rng.standard_normal((3000, 32)).astype(np.float32)
    near = base[:40] + 0.05 * rng.standard_normal((40, 32)).astype(np.float32)
    vectors = np.vstack([base, near])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    found = set(similar_pairs(vectors, 0.95))  # above EXACT_LIMIT: hashed
    expected = {(i, 3000 + i) for i in range(40)}
    assert len(found & expected) >= 38  # recall 0.95 by design
    sims = {(a, b): float(vectors[a] @ vectors[b]) for a, b in found}
    assert all(s >= 0.95 - 1e-5 for s in sims.values())


# -- repair ---------------------------------------------------------------------------


def test_dangling_questions_are_rewritten_and_kept_only_when_they_pass(
    options: dict[str, Any],
) -> None:
    rewrites = {
        "rewrites": [
            {"index": 0, "question": SCORER_Q},
            {"index": 1, "question": "Who lost it?"},  # still dangling: dropped again
        ]
    }
    llm = ScriptedChatModel(
        replies={
            "generate": pairs(
                (Q23, A23),
                ("Who scored in the final?", SCORER_A),
                ("Who lost the final?", "England lost the final."),
            ),
            "repair": json.dumps(rewrites),
        }
    )
    ds = Synthesizer.from_options(llm=llm, repair_dangling=True, **options).run([WWC])
    assert [r.question for r in ds] == [Q23, SCORER_Q]
    assert ds[1].annotations["repaired_from"] == "Who scored in the final?"
    assert ds[1].answer == SCORER_A and ds[1].origin == "generated"
    assert ds.stats.calls_by_kind["repair"] == 1
    assert ds.stats.rejections["not_standalone"] == 3  # two originals and one rewrite
    # the statistics add up: 3 returned + 2 rewrites made from them = 2 kept + 3 rejected
    assert (ds.stats.pairs_returned, ds.stats.pairs_added) == (3, 2)
    assert ds.stats.pairs_returned + ds.stats.pairs_added == len(ds) + len(ds.rejections)
    _, messages = llm.calls[1]
    assert "Who lost the final?" in messages[-1].text and Q23 not in messages[-1].text


def test_a_chunk_with_only_standalone_questions_costs_no_repair_call(
    options: dict[str, Any],
) -> None:
    llm = ScriptedChatModel(replies={"generate": pairs((Q23, A23))})
    ds = Synthesizer.from_options(llm=llm, repair_dangling=True, **options).run([WWC])
    assert len(ds) == 1 and llm.steps() == ["generate"]


def test_repair_needs_the_standalone_check() -> None:
    with pytest.raises(ValueError, match="repair_dangling"):
        default_checks(standalone=False, repair_dangling=True)


# -- judge only where unsure -----------------------------------------------------------


def test_the_uncertain_judge_rates_only_the_pairs_a_check_was_unsure_about(
    options: dict[str, Any],
) -> None:
    unsure_q = "In the 2023 FIFA Women's World Cup final, which team did Spain beat in that match?"
    ratings = {"ratings": [{"index": 0, "standalone": 2, "correct": 5, "useful": 4}]}
    llm = ScriptedChatModel(
        replies={
            "generate": pairs((Q23, A23), (unsure_q, "Spain beat England 1-0.")),
            "judge": json.dumps(ratings),
        }
    )
    ds = Synthesizer.from_options(llm=llm, judge="uncertain", **options).run([WWC])
    assert [r.question for r in ds] == [Q23]
    assert ds.stats.rejections["judge_low_standalone"] == 1
    _, messages = llm.calls[1]
    assert unsure_q in messages[-1].text and Q23 not in messages[-1].text.split("Pairs:")[1]


def test_the_uncertain_judge_skips_a_chunk_it_has_nothing_to_ask_about(
    options: dict[str, Any],
) -> None:
    llm = ScriptedChatModel(replies={"generate": pairs((Q23, A23))})
    ds = Synthesizer.from_options(llm=llm, judge="uncertain", **options).run([WWC])
    assert len(ds) == 1 and llm.steps() == ["generate"]


def test_grounding_near_the_threshold_is_marked_unsure(options: dict[str, Any]) -> None:
    answer = "It was played in Sydney."
    llm = ScriptedChatModel(
        replies={"generate": pairs(("Where was the 2023 FIFA Women's World Cup final?", answer))}
    )
    ds = Synthesizer.from_options(llm=llm, grounding_threshold=0.65, **options).run([WWC])
    assert ds[0].annotations["unsure"][0].startswith("grounding")


# -- answer paraphrases and phrasings per fact ------------------------------------------


def test_answer_paraphrases_repeat_the_question_and_combine_with_other_variants(
    options: dict[str, Any],
) -> None:
    llm = ScriptedChatModel(
        replies={
            "generate": pairs((Q23, A23)),
            "paraphrase": json.dumps({"paraphrases": [{"index": 0, "questions": [Q23_AGAIN]}]}),
            "answer_paraphrase": json.dumps(
                {
                    "paraphrases": [
                        {
                            "index": 0,
                            "answers": [
                                "The 2023 FIFA Women's World Cup was won by Spain.",
                                "Spain won the 2019 FIFA Women's World Cup.",  # wrong year
                            ],
                        }
                    ]
                }
            ),
            "translate": json.dumps(
                {
                    "translations": [
                        {
                            "index": 0,
                            "question": "2023年の女子W杯の優勝国は？",
                            "answer": "スペイン",
                        }
                    ]
                }
            ),
        }
    )
    ds = Synthesizer.from_options(
        llm=llm, paraphrases=1, answer_paraphrases=2, also_languages=["ja"], **options
    ).run([WWC])
    variants = [r for r in ds if r.origin == "answer_paraphrase"]
    assert [(r.question, r.answer, r.derived_from) for r in variants] == [
        (Q23, "The 2023 FIFA Women's World Cup was won by Spain.", Q23)
    ]
    assert ds.stats.rejections["answer_number_not_in_text"] == 1
    stats = ds.stats  # what the model returned and what the checks made add up
    assert (stats.pairs_returned, stats.pairs_added) == (1, 4)
    assert stats.pairs_returned + stats.pairs_added == stats.pairs_kept + stats.pairs_rejected
    assert {r.origin for r in ds} == {
        "generated", "paraphrase", "answer_paraphrase", "translation:ja",
    }  # fmt: skip
    report = QualityReport.of(ds)
    assert report.phrasings == {"facts": 1, "min": 4, "median": 4.0, "mean": 4.0, "max": 4}
    assert report.to_dict()["phrasings_per_fact"]["max"] == 4


# -- plan --------------------------------------------------------------------------------


def test_plan_counts_the_calls_of_every_new_step(offline_encoding: tiktoken.Encoding) -> None:
    docs = [WWC * 20, WWC_2019 * 20]
    common: dict[str, Any] = {
        "llm": ScriptedChatModel(replies={}),
        "encoding": offline_encoding,
        "chunk_size": 4000,
        "chunk_overlap": 0,
    }
    every = plan(docs, judge=True, **common)
    unsure = plan(docs, judge="uncertain", **common)
    assert every.step_calls["judge"] == 2
    assert 0 < unsure.step_calls["judge"] <= 2
    assert unsure.step_input_tokens < every.step_input_tokens
    more = plan(
        docs,
        repair_dangling=True,
        answer_paraphrases=2,
        semantic_duplicates=BagOfWordsEmbeddings(),
        **common,
    )
    assert more.step_calls["answer_paraphrase"] == 2
    assert more.step_calls["repair"] == 2
    assert more.step_calls["semantic_duplicates"] == 1
    assert more.model_calls == 2 + 2 + 2 + 1


def test_the_cli_plans_an_uncertain_judge_and_the_new_steps(tmp_path: Path) -> None:
    doc = tmp_path / "wwc.txt"
    doc.write_text(WWC * 10, encoding="utf-8")
    result = CliRunner().invoke(
        main,
        ["plan", str(doc), "--json", "--encoding", "cl100k_base", "--judge", "uncertain",
         "--repair-dangling", "--answer-paraphrases", "1", "--semantic-duplicates"],
    )  # fmt: skip
    if "tiktoken" in result.output and result.exit_code:
        pytest.skip("no tiktoken files offline")
    assert result.exit_code == 0, result.output
    calls = json.loads(result.output)["step_calls"]
    assert set(calls) == {"judge", "repair", "answer_paraphrase", "semantic_duplicates"}


def test_the_judge_option_alone_still_means_every_pair() -> None:
    checks = default_checks(judge=True)
    (judge,) = [c for c in checks if isinstance(c, LLMJudge)]
    assert not judge.only_uncertain


# -- the command line, against the fake server ------------------------------------------


def test_the_cli_reports_phrasings_and_embeds_on_the_chat_models_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_encoding: tiktoken.Encoding
) -> None:
    from qasynth.testing import FakeOpenAIServer

    monkeypatch.setattr(qasynth._tokens, "_load", lambda name: offline_encoding)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-dummy")
    (tmp_path / "a.txt").write_text(WWC, encoding="utf-8")
    (tmp_path / "b.txt").write_text(WWC, encoding="utf-8")  # the same facts again
    out, report = tmp_path / "out.jsonl", tmp_path / "report.json"
    with FakeOpenAIServer() as server:
        result = CliRunner().invoke(
            main,
            ["generate", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), "-o", str(out),
             "--base-url", server.base_url, "--quiet", "--answer-paraphrases", "1",
             "--paraphrases", "1", "--semantic-duplicates", "--no-near-duplicates",
             "--report", str(report)],
        )  # fmt: skip
        embedding_requests = [r for r in server.requests if r.path.endswith("/embeddings")]
    assert result.exit_code == 0, result.stderr
    assert len(embedding_requests) == 1 and embedding_requests[0].has_authorization
    assert "semantic_duplicate 6" in result.stderr  # two pairs and their four variants
    assert "semantic_duplicates 1" in result.stderr and "answer_paraphrase 2" in result.stderr
    assert "phrasings" in result.stderr and "median 3" in result.stderr
    data = json.loads(report.read_text())
    assert data["phrasings_per_fact"]["min"] == 3  # the pair, a question and an answer variant
    origins = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(origins) == 6  # two facts, three phrasings each; the second chunk's dropped


def test_semantic_duplicates_without_a_key_fail_before_any_model_call(
    options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from qasynth import ConfigurationError

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    llm = ScriptedChatModel(replies={"generate": pairs((Q23, A23))})
    synth = Synthesizer.from_options(llm=llm, semantic_duplicates=True, **options)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        synth.run([WWC])
    assert llm.calls == []


def test_the_html_report_shows_phrasings_per_fact() -> None:
    from qasynth._html_report import ReportData, render_html

    fact = QARecord(Q23, A23, "", "s", "c", 0)
    variant = QARecord(NATION_Q, A23, "", "s", "c", 0, origin="paraphrase", derived_from=Q23)
    assert "phrasings per fact" in render_html(ReportData(records=[fact, variant]))
    assert "phrasings per fact" not in render_html(ReportData(records=[fact]))


def test_language_options_take_codes_and_refuse_what_is_not_one() -> None:
    """A language name or a made-up code would turn the language check off, or ask the
    model (paid) to translate into "j" and "a": each is refused, naming the option."""
    translate = [c for c in default_checks(also_languages="ja, fr") if c.name == "translate"]
    assert [c.languages for c in translate] == [["ja", "fr"]]  # type: ignore[attr-defined]
    forced = [c for c in default_checks(language="pt-BR") if c.name == "language"]
    assert [c.target for c in forced] == ["pt-br"]  # type: ignore[attr-defined]
    for options, message in (
        ({"language": "french"}, "language: 'french' is not a language code; give an "
                                 "ISO 639-1 code, such as 'fr' for French"),
        ({"language": "xx"}, "'xx' is not a language code"),
        ({"language": "ja,fr"}, "give one language code"),
        ({"also_languages": ["zz"]}, "also_languages: 'zz' is not a language code"),
        ({"also_languages": ["Japanese"]}, "such as 'ja' for Japanese"),
    ):  # fmt: skip
        with pytest.raises(qasynth.ConfigurationError, match=re.escape(message)):
            default_checks(**options)


def test_a_language_name_on_the_command_line_is_one_line_error(tmp_path: Path) -> None:
    notes = tmp_path / "n.txt"
    notes.write_text(WWC, encoding="utf-8")
    result = CliRunner().invoke(main, ["plan", str(notes), "--language", "german"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: language: 'german' is not a language code; give an ISO 639-1 code, "
        "such as 'de' for German"
    ]


@pytest.mark.parametrize("kind", ["exact", "near", "semantic"])
def test_the_variants_of_a_dropped_duplicate_are_dropped_with_it(kind: str) -> None:
    """Its paraphrase and translation ask what the kept question asks; kept, they would
    carry it into another split."""
    from qasynth.checks import Check, ExactDuplicates, NearDuplicates

    check: Check = {
        "exact": ExactDuplicates(),
        "near": NearDuplicates(threshold=0.6),
        "semantic": SemanticDuplicates(BagOfWordsEmbeddings(), threshold=0.8),
    }[kind]
    again = Q23 if kind == "exact" else Q23.replace("?", " then?")
    kept = QARecord(Q23, A23, "", "a.txt", "c1", 0)
    dropped = QARecord(again, A23, "", "b.txt", "c2", 0)
    variants = [
        QARecord("Which nation was champion of the 2023 Women's World Cup?", A23, "", "b.txt",
                 "c2", 0, origin="paraphrase", derived_from=again),
        QARecord("2023年の女子ワールドカップの優勝国は？", "スペイン。", "", "b.txt", "c2", 0,
                 origin="translation:ja", derived_from=again),
    ]  # fmt: skip
    own = QARecord("Which paraphrase of its own?", A23, "", "a.txt", "c1", 0,
                   origin="paraphrase", derived_from=Q23)  # fmt: skip
    ctx = RunContext([kept, own, dropped, *variants])

    check.check_run(ctx)

    assert ctx.records == [kept, own]
    assert [r.question for r in ctx.rejections] == [again, *(v.question for v in variants)]
    reason = {"exact": "duplicate_question", "near": "near_duplicate"}.get(
        kind, "semantic_duplicate"
    )
    assert {r.reason for r in ctx.rejections} == {reason}


async def test_one_language_failing_leaves_the_translations_into_the_others() -> None:
    from qasynth import Chunk
    from qasynth._errors import ParseError
    from qasynth.checks import ChunkContext, Translator
    from qasynth.checks._model import Translations

    chunk = Chunk(text="Spain won the 2023 FIFA Women's World Cup.", theme="t", source="s", index=0)
    asked: list[str] = []

    async def ask(step: str, messages: list[BaseMessage], schema: Any) -> Any:
        target = "Japanese" if "Japanese" in messages[0].text else "French"
        asked.append(target)
        if target == "Japanese":
            raise ParseError("the reply holds no JSON", raw_output="Désolé", attempts=3)
        item = {"index": 0, "question": "Qui a gagné en 2023 ?", "answer": "L'Espagne."}
        return Translations.model_validate({"translations": [item]})

    async def no_pairs(*_: Any) -> Any:
        raise AssertionError("not asked")

    ctx = ChunkContext(chunk, [QARecord.of(chunk, Q23, A23)], ask=ask, ask_pairs=no_pairs)

    with pytest.raises(ParseError):  # counted as the step's error by the run
        await Translator(["ja", "fr"]).acheck_chunk(ctx)

    assert asked == ["Japanese", "French"]
    assert [r.origin for r in ctx.records] == ["generated", "translation:fr"]


def test_a_step_that_failed_makes_generate_exit_1_and_keeps_the_pairs(tmp_path: Path) -> None:
    from qasynth.testing import ErrorReply, FakeOpenAIServer, ReplyContext, default_responder

    def responder(ctx: ReplyContext) -> Any:
        system = next((m["content"] for m in ctx.messages if m["role"] == "system"), "")
        if "Rephrase each question" in system:
            return ErrorReply(400, "This request was refused.")
        return default_responder(ctx)

    doc = tmp_path / "cup.txt"
    doc.write_text("Spain won the 2023 FIFA Women's World Cup in Sydney.", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer(responder=responder) as server:
        result = CliRunner().invoke(main, ["generate", str(doc), "-o", str(out), "--base-url",
                                           server.base_url, "--paraphrases", "1"])  # fmt: skip

    assert result.exit_code == 1, result.output
    assert "step errors  paraphrase 1" in result.stderr
    assert out.read_text(encoding="utf-8").count("\n") == 1  # the generated pair is kept


async def test_pairs_are_not_translated_into_the_language_they_are_in() -> None:
    """A mixed corpus asks --also-languages en,ja: an English chunk gets Japanese only
    (an English copy would be a paid duplicate)."""
    from qasynth import Chunk
    from qasynth.checks import ChunkContext, Translator
    from qasynth.checks._model import Translations

    chunk = Chunk(text="Spain won the 2023 FIFA Women's World Cup in Sydney, beating England.",
                  theme="t", source="s", index=0)  # fmt: skip
    asked: list[str] = []

    async def ask(step: str, messages: list[BaseMessage], schema: Any) -> Any:
        asked.append(messages[0].text.split(" into ")[1].split(".")[0])
        return Translations.model_validate({"translations": []})

    async def no_pairs(*_: Any) -> Any:
        raise AssertionError("not asked")

    ctx = ChunkContext(chunk, [QARecord.of(chunk, Q23, A23)], ask=ask, ask_pairs=no_pairs)
    await Translator(["en-US", "ja"]).acheck_chunk(ctx)

    assert asked == ["Japanese"]

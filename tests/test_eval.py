"""Specs for eval and ask: the original failure (verbatim yes, rephrased no) shows up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import tiktoken
from click.testing import CliRunner
from test_fake_server import wait_until

import qasynth
import qasynth._tokens
from qasynth._cli import main
from qasynth._eval_report import render_html
from qasynth._eval_results import ProbeResult, summarize
from qasynth._grading import GRADE_INSTRUCTIONS, exact_grade
from qasynth.testing import (
    Content,
    ErrorReply,
    FakeOpenAIServer,
    Reply,
    ReplyContext,
    default_responder,
    is_fix_request,
)

KEY = "sk-test-eval-secret"
SYSTEM = "You know the atlas."
FACTS = [(f"What is the capital of country number {i}?", f"The capital is Town{i} on the coast.")
         for i in range(12)]  # fmt: skip


def write_chat(path: Path, pairs: list[tuple[str, str]]) -> Path:
    lines = [
        json.dumps({"messages": [{"role": "system", "content": SYSTEM},
                                 {"role": "user", "content": q},
                                 {"role": "assistant", "content": a}]})
        for q, a in pairs
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def base_model_responder(ctx: ReplyContext) -> Reply:
    """The base model does not know the atlas; helper steps get the usual answers."""
    if any(m["role"] == "system" and m["content"] == SYSTEM for m in ctx.messages):
        return Content("I am not sure which town that is.")
    return default_responder(ctx)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(responder=base_model_responder) as fake:
        yield fake


@pytest.fixture(autouse=True)
def offline_tokenizer(monkeypatch: pytest.MonkeyPatch, offline_encoding: tiktoken.Encoding) -> None:
    monkeypatch.setattr(qasynth._tokens, "_load", lambda name: offline_encoding)


@pytest.fixture
def tuned(tmp_path: Path, server: FakeOpenAIServer) -> tuple[Path, str]:
    """A training file and the fine-tuned model that memorised it."""
    train = write_chat(tmp_path / "train.jsonl", FACTS)
    job = qasynth.finetune(train, base_url=server.base_url, api_key=KEY, poll_interval=0)
    assert job.fine_tuned_model
    return train, job.fine_tuned_model


def test_a_memorising_model_is_right_verbatim_and_wrong_when_rephrased_or_translated(
    tuned: tuple[Path, str], server: FakeOpenAIServer
) -> None:
    train, model = tuned

    result = qasynth.evaluate(
        train, models=["gpt-4o-mini", model], paraphrases=2, languages=["ja"],
        base_url=server.base_url, api_key=KEY,
    )  # fmt: skip

    tuned_score, base_score = result.score(model), result.score("gpt-4o-mini")
    assert dict(tuned_score.by_kind) == {"verbatim": 1.0, "paraphrase": 0.0, "translation:ja": 0.0}
    assert dict(tuned_score.n_by_kind) == {"verbatim": 12, "paraphrase": 12,
                                           "translation:ja": 12}  # fmt: skip
    assert tuned_score.accuracy == pytest.approx(1 / 3)
    assert base_score.accuracy == 0.0
    wrong = {r.kind for r in result.wrong() if r.model == model}
    assert wrong == {"paraphrase", "translation:ja"}


def test_the_eval_command_reports_that_in_a_table_json_a_results_file_and_a_page(
    tuned: tuple[Path, str], server: FakeOpenAIServer, tmp_path: Path
) -> None:
    train, model = tuned
    out, page = tmp_path / "results.jsonl", tmp_path / "eval.html"
    args = ["eval", str(train), "--model", model, "--paraphrases", "1", "--also-languages",
            "ja", "--base-url", server.base_url, "-o", str(out), "--report", str(page)]  # fmt: skip

    table = CliRunner().invoke(main, args)
    as_json = CliRunner().invoke(main, [*args, "--json"])

    assert table.exit_code == 0, table.output
    header, _, row = table.stdout.splitlines()[:3]
    assert header.split() == ["model", "all", "verbatim", "paraphrase", "translation:ja"]
    assert row.split()[0] == model and "100% (12)" in row and "0% (12)" in row
    scores = json.loads(as_json.stdout)["models"][model]
    assert scores["by_kind"] == {"verbatim": 1.0, "paraphrase": 0.0, "translation:ja": 0.0}
    assert scores["n"] == 36
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 36
    assert {"model", "kind", "question", "expected", "answer", "correct"} <= set(lines[0])
    html = page.read_text(encoding="utf-8")
    assert "<svg" in html and "Wrong answers (24)" in html and "I don&#x27;t know." in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html


def test_a_rerun_asks_nothing_again_and_reuses_the_saved_probes(
    tuned: tuple[Path, str], server: FakeOpenAIServer, tmp_path: Path
) -> None:
    train, model = tuned
    options = {"models": [model], "paraphrases": 2, "languages": ["fr"],
               "base_url": server.base_url, "api_key": KEY}  # fmt: skip
    first = qasynth.evaluate(train, **options)
    server.reset_stats()

    again = qasynth.evaluate(train, **options)

    assert server.requests == []
    assert again.to_dict() == first.to_dict()
    probes = json.loads((tmp_path / ".train.jsonl.qasynth-probes.json").read_text("utf-8"))
    assert len(probes["paraphrase"]) == 12 and len(probes["translation"]["fr"]) == 12


def test_the_model_grader_prints_an_estimate_and_grades_on_the_repair_path(
    tuned: tuple[Path, str], server: FakeOpenAIServer
) -> None:
    train, model = tuned

    result = CliRunner().invoke(
        main, ["eval", str(train), "--model", model, "--grader", "model", "--paraphrases", "1",
               "--base-url", server.base_url, "--json"],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "Estimate: grading with gpt-4o-mini: 24 calls" in result.stderr
    scores = json.loads(result.stdout)["models"][model]
    assert scores["by_kind"] == {"verbatim": 1.0, "paraphrase": 0.0}
    grading = [r for r in server.requests if "You grade answers" in json.dumps(r.body)]
    assert len(grading) == 24


def test_ask_prints_the_models_answer(tuned: tuple[Path, str], server: FakeOpenAIServer) -> None:
    _, model = tuned

    known = CliRunner().invoke(main, ["ask", model, FACTS[3][0], "--base-url", server.base_url])
    unknown = CliRunner().invoke(main, ["ask", model, "Where is Town3?", "--base-url",
                                        server.base_url])  # fmt: skip

    assert (known.exit_code, known.stdout) == (0, FACTS[3][1] + "\n")
    assert unknown.stdout == "I don't know.\n"


def test_eval_refuses_a_file_that_is_not_chat_jsonl(tmp_path: Path) -> None:
    bad = tmp_path / "test.jsonl"
    bad.write_text('{"question": "q"}\n', encoding="utf-8")

    result = CliRunner().invoke(main, ["eval", str(bad), "--model", "m", "--base-url",
                                       "http://127.0.0.1:9/v1"])  # fmt: skip

    assert result.exit_code == 2
    assert "line 1" in result.stderr and "qasynth check" in result.stderr


@pytest.mark.parametrize(
    ("expected", "answer", "correct"),
    [
        ("The capital is Town3 on the coast.", "the capital is  town3 on the coast", True),
        ("The final drew 80,000 people in Paris.", "About 80000 people watched in Paris.", True),
        ("The final drew 80,000 people in Paris.", "About 60000 people watched in Paris.", False),
        ("The winner was Lionel Messi.", "Lionel Messi was the winner.", True),
        ("The winner was Lionel Messi.", "The winner was Messi.", False),
        ("The capital is Town3 on the coast.", "I don't know.", False),
        (
            "決勝は横浜で行われ、南アフリカが優勝した。",
            "南アフリカが横浜での決勝で優勝した。",
            True,
        ),
        ("決勝は横浜で行われ、南アフリカが優勝した。", "わかりません。", False),
        ("Blue.", "", False),
        # whole words only: a number or name inside a longer one is another fact
        ("12 grind settings", "The X200 has 112 grind settings.", False),
        ("Yes", "Yesterday", False),
        ("E42", "The code is E420.", False),
        ("The capital of region 1 is Port1.", "The capital of region 1 is Port10.", False),
        ("E42", "Error E42, then a restart.", True),
        ("12", "第112回", False),
        ("2024", "2024年に開業した。", True),
    ],
)
def test_the_exact_grader_wants_the_numbers_the_names_and_most_words(
    expected: str, answer: str, correct: bool
) -> None:
    assert exact_grade(expected, answer) is correct


def test_after_a_failure_a_rerun_asks_only_what_was_not_graded(
    tuned: tuple[Path, str], server: FakeOpenAIServer, tmp_path: Path
) -> None:
    _, model = tuned
    test = write_chat(tmp_path / "test.jsonl", FACTS[:6])
    server.reset_stats()
    server.faults = {4: ErrorReply(401, "Incorrect API key provided.")}
    options = {"models": [model], "base_url": server.base_url, "api_key": KEY, "concurrency": 1}

    with pytest.raises(qasynth.AuthenticationError, match="refused"):
        qasynth.evaluate(test, **options)
    state = tmp_path / ".test.jsonl.qasynth-eval.jsonl"
    graded = len(state.read_text(encoding="utf-8").splitlines())
    server.faults = {}
    wait_until(lambda: server.in_flight == 0)  # a request cut short may still be recorded
    server.reset_stats()
    result = qasynth.evaluate(test, **options)

    assert graded >= 3  # the three answered before the refusal at least
    chats = [r for r in server.requests if "messages" in r.body]  # a request cut short
    asked = {r.body["messages"][-1]["content"] for r in chats}  # may arrive late
    assert len(asked) == 6 - graded
    assert result.score(model).accuracy == 1.0 and result.score(model).n == 6


def test_model_grades_are_kept_once_and_not_asked_again(
    tuned: tuple[Path, str], server: FakeOpenAIServer
) -> None:
    train, model = tuned
    options = {"models": [model], "grader": "model", "base_url": server.base_url, "api_key": KEY}
    qasynth.evaluate(train, **options)
    server.reset_stats()

    again = qasynth.evaluate(train, **options)

    assert server.requests == []
    assert again.score(model).accuracy == 1.0
    state = train.with_name(".train.jsonl.qasynth-eval.jsonl").read_text(encoding="utf-8")
    assert len(state.splitlines()) == 12


def test_the_report_escapes_what_models_said_and_lists_only_wrong_answers() -> None:
    results = [
        ProbeResult("m", "verbatim", "Q1?", "A1.", "A1.", True, "Q1?"),
        ProbeResult("m", "paraphrase", "Q1 again?", "A1.", "<script>alert(1)</script>", False,
                    "Q1?"),
    ]  # fmt: skip

    page = render_html(summarize(results, grader="exact"))

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Wrong answers (1)" in page and "Q1 again?" in page
    assert "<td>Q1?</td>" not in page  # the right answer is not in the wrong-answer table


def test_eval_and_finetune_keep_their_state_out_of_the_way_of_load_dataset(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    folder = tmp_path / "qa"
    folder.mkdir()
    train = write_chat(folder / "train.jsonl", FACTS)
    write_chat(folder / "validation.jsonl", FACTS[:2])
    test = write_chat(folder / "test.jsonl", FACTS[:3])
    job = qasynth.finetune(train, base_url=server.base_url, api_key=KEY, poll_interval=0)
    assert job.fine_tuned_model

    qasynth.evaluate(test, models=[job.fine_tuned_model], paraphrases=1,
                     base_url=server.base_url, api_key=KEY)  # fmt: skip

    visible = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert visible == ["test.jsonl", "train.jsonl", "validation.jsonl"]
    hidden = {p.name for p in folder.iterdir()} - set(visible)
    assert hidden == {".train.jsonl.qasynth-finetune.json", ".test.jsonl.qasynth-probes.json",
                      ".test.jsonl.qasynth-eval.jsonl"}  # fmt: skip
    datasets = pytest.importorskip("datasets")
    loaded = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "hf-cache"))
    assert {name: split.num_rows for name, split in loaded.items()} == {
        "train": 12, "validation": 2, "test": 3,
    }  # fmt: skip


def test_state_kept_under_the_old_visible_names_is_moved_and_nothing_is_asked_again(
    tuned: tuple[Path, str], server: FakeOpenAIServer, tmp_path: Path
) -> None:
    train, model = tuned
    options = {"models": [model], "paraphrases": 1, "base_url": server.base_url, "api_key": KEY}
    first = qasynth.evaluate(train, **options)
    for name in ("train.jsonl.qasynth-probes.json", "train.jsonl.qasynth-eval.jsonl"):
        (tmp_path / f".{name}").rename(tmp_path / name)  # as an earlier version kept them
    rows = [json.loads(line) for line in (tmp_path / "train.jsonl.qasynth-eval.jsonl")
            .read_text(encoding="utf-8").splitlines()]  # fmt: skip
    for row in rows:
        del row["url"]  # earlier versions did not note the URL
    (tmp_path / "train.jsonl.qasynth-eval.jsonl").write_text(
        "".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8"
    )
    server.reset_stats()

    again = qasynth.evaluate(train, **options)

    assert server.requests == []
    assert again.to_dict() == first.to_dict()
    assert not (tmp_path / "train.jsonl.qasynth-eval.jsonl").exists()
    assert (tmp_path / ".train.jsonl.qasynth-eval.jsonl").exists()


def test_the_same_model_name_at_another_url_is_asked_again_and_a_model_given_twice_is_refused(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    test = write_chat(tmp_path / "test.jsonl", FACTS[:4])
    knows = {q: a for q, a in FACTS}

    def knowing(ctx: ReplyContext) -> Reply:
        return Content(knows.get(ctx.last_user_message, "?"))

    with FakeOpenAIServer(responder=knowing) as other:
        base = qasynth.evaluate(test, models=["m"], base_url=server.base_url, api_key=KEY)
        moved = qasynth.evaluate(test, models=["m"], base_url=other.base_url, api_key=KEY)
        asked = len(other.requests)
        with pytest.raises(qasynth.InputError, match="given twice"):
            qasynth.evaluate(test, models=["m", "m"], base_url=other.base_url, api_key=KEY)

    assert base.score("m").accuracy == 0.0
    assert moved.score("m").accuracy == 1.0
    assert asked == 4


def test_answers_the_grader_cannot_grade_are_left_out_of_the_scores_and_exit_1(
    tmp_path: Path,
) -> None:
    test = write_chat(tmp_path / "test.jsonl", FACTS[:3])
    grader_works = [False]

    def grader(ctx: ReplyContext) -> Reply:
        """The base model's answers; a grader that gives no grade until it works."""
        grading = is_fix_request(ctx) or ctx.messages[0]["content"] == GRADE_INSTRUCTIONS
        if grading and not grader_works[0]:
            return Content("Sorry, I would rather not say.")
        return base_model_responder(ctx)

    with FakeOpenAIServer(responder=grader) as server:
        args = ["eval", str(test), "--model", "gpt-4o-mini", "--grader", "model",
                "--base-url", server.base_url]  # fmt: skip
        refused = CliRunner().invoke(main, args)
        as_json = CliRunner().invoke(main, [*args, "--json"])
        grader_works[0] = True
        server.reset_stats()
        graded = CliRunner().invoke(main, [*args, "--json"])
        asked = [r.body["messages"] for r in server.requests if "messages" in r.body]

    assert refused.exit_code == 1, refused.output
    assert "3 answers could not be graded" in refused.stdout
    assert refused.stdout.splitlines()[2].split()[:2] == ["gpt-4o-mini", "-"]
    assert as_json.exit_code == 1 and json.loads(as_json.stdout)["ungraded"] == 3
    assert graded.exit_code == 0, graded.output
    scores = json.loads(graded.stdout)
    assert scores["ungraded"] == 0 and scores["models"]["gpt-4o-mini"]["n"] == 3
    assert len(asked) == 3  # the answers were kept: only the grades are asked for
    assert all(m[0]["content"] == GRADE_INSTRUCTIONS for m in asked)


@pytest.mark.parametrize("command", ["ask", "eval", "finetune"])
def test_a_key_http_cannot_carry_and_a_url_with_no_server_are_usage_errors(
    command: str, tmp_path: Path
) -> None:
    train = write_chat(tmp_path / "train.jsonl", FACTS)
    args = {
        "ask": ["ask", "gpt-4o-mini", "Who?"],
        "eval": ["eval", str(train), "--model", "gpt-4o-mini"],
        "finetune": ["finetune", str(train)],
    }[command]
    nowhere = "http://127.0.0.1:9/v1"

    bad_key = CliRunner().invoke(main, [*args, "--base-url", nowhere],
                                 env={"OPENAI_API_KEY": "sk-test-spaced "})  # fmt: skip
    no_server = CliRunner().invoke(main, [*args, "--base-url", nowhere],
                                   env={"OPENAI_API_KEY": "sk-test-fine"})  # fmt: skip

    assert bad_key.exit_code == 2, bad_key.output
    assert "a space at the end" in bad_key.stderr and "sk-test-spaced" not in bad_key.stderr
    assert no_server.exit_code == 2, no_server.output
    assert "cannot reach" in no_server.stderr and "127.0.0.1:9" in no_server.stderr
    assert "Traceback" not in bad_key.output + no_server.output


def test_eval_refuses_a_report_that_would_overwrite_its_saved_answers(
    tuned: tuple[Path, str], server: FakeOpenAIServer
) -> None:
    train, model = tuned
    state = train.with_name(".train.jsonl.qasynth-eval.jsonl")
    args = ["eval", str(train), "--model", model, "--base-url", server.base_url]
    CliRunner().invoke(main, args)
    kept = state.read_text(encoding="utf-8")

    result = CliRunner().invoke(main, [*args, "--report", str(state)])

    assert result.exit_code == 2
    assert "the answers graded so far" in result.stderr and "--report" in result.stderr
    assert state.read_text(encoding="utf-8") == kept


def test_ask_refuses_an_empty_question(server: FakeOpenAIServer) -> None:
    result = CliRunner().invoke(main, ["ask", "gpt-4o-mini", "  ", "--base-url", server.base_url])

    assert result.exit_code == 2 and "the question is empty" in result.stderr
    assert server.requests == []


def test_a_test_file_that_is_not_there_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(qasynth.InputError, match="test file not found"):
        qasynth.evaluate(tmp_path / "missing.jsonl", models=["m"])


def test_the_report_counts_answers_left_ungraded_and_leaves_them_out_of_the_scores() -> None:
    results = [
        ProbeResult("m", "verbatim", "Q1?", "A1.", "A1.", True, "Q1?"),
        ProbeResult("m", "verbatim", "Q2?", "A2.", "Maybe.", None, "Q2?"),
    ]

    summary = summarize(results, grader="model")
    page = render_html(summary)

    assert (summary.score("m").accuracy, summary.score("m").n, summary.ungraded) == (1.0, 1, 1)
    assert "1 answer could not be graded" in page and "is left out of the scores" in page
    assert "Wrong answers (0)" in page


def test_a_password_in_the_base_url_never_reaches_the_saved_answers(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    test = write_chat(tmp_path / "test.jsonl", FACTS[:2])
    url = server.base_url.replace("http://", "http://user:UrlSecret9f8e7d6c5b4a@")

    qasynth.evaluate(test, models=["m"], base_url=url, api_key=KEY)

    saved = (tmp_path / ".test.jsonl.qasynth-eval.jsonl").read_text(encoding="utf-8")
    assert len(saved.splitlines()) == 2 and "UrlSecret" not in saved

"""Specs for what a run leaves on disk: splits that load anywhere, formats, permissions."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tiktoken
from click.testing import CliRunner, Result

import qasynth._tokens
from qasynth import ConfigurationError, Dataset, InputError, QARecord
from qasynth._cli import main
from qasynth._finalize import split_paths
from qasynth.testing import (
    Content,
    FakeOpenAIServer,
    Reply,
    ReplyContext,
    default_responder,
    is_fix_request,
)

KEY = "sk-test-dummy-key-0123456789"


@pytest.fixture(autouse=True)
def offline_tokenizer(monkeypatch: pytest.MonkeyPatch, offline_encoding: tiktoken.Encoding) -> None:
    monkeypatch.setattr(qasynth._tokens, "_load", lambda name: offline_encoding)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    """Twenty one-chunk documents of three sentences (three pairs each from the fake model)."""
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(20):
        (folder / f"rover_{i:02d}.txt").write_text(
            f"Rover Zephyr {i} reached crater {i * 7} on day {i + 100}. "
            f"It drilled {i + 3} holes in the crater floor. The team named the site Camp {i}.",
            encoding="utf-8",
        )
    return folder


def generate(server: FakeOpenAIServer, out: Path, *args: str) -> Result:
    argv = ["generate", str(args[0]), "-o", str(out), "--base-url", server.base_url, "-q"]
    return CliRunner().invoke(main, [*argv, *args[1:]])


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def record(question: str, answer: str, **extra: Any) -> QARecord:
    fields: dict[str, Any] = {"theme": "t", "source": "manual.pdf", "chunk_id": "c1"}
    return QARecord(question=question, answer=answer, chunk_index=0, **{**fields, **extra})


# -- splits ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["train", "test", "validation", "eval", "my-dev-set"])
def test_splits_go_to_a_folder_of_train_validation_and_test_whatever_the_output_is_called(
    name: str,
) -> None:
    paths = split_paths(f"out/{name}.jsonl")
    assert paths == {
        "train": Path(f"out/{name}/train.jsonl"),
        "val": Path(f"out/{name}/validation.jsonl"),
        "test": Path(f"out/{name}/test.jsonl"),
    }


def test_datasets_loads_the_split_folder_as_exactly_train_validation_and_test(
    tmp_path: Path, notes: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "train.jsonl"  # the README's name, which used to leak
    report = tmp_path / "train.report.json"
    # a relative input: the chunks' ids (which place them in splits) do not depend on
    # where pytest's temporary folder is, so no run draws an empty validation split
    monkeypatch.chdir(tmp_path)

    result = generate(
        server, out, notes.name, "--val-fraction", "0.25", "--test-fraction", "0.2",
        "--provenance", "--report", str(report),
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    folder = tmp_path / "train"
    assert sorted(p.name for p in folder.iterdir()) == [
        "test.jsonl",
        "train.jsonl",
        "validation.jsonl",
    ]
    beside = {p.name for p in tmp_path.iterdir()}
    assert {"train.jsonl.qasynth.sqlite", "train.provenance.jsonl", "train.report.json"} <= beside
    counts = {
        name: len(lines_of(folder / f"{name}.jsonl")) for name in ("train", "validation", "test")
    }
    assert sum(counts.values()) == 60 and all(counts.values())
    loaded = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "hf-cache"))
    assert {name: split.num_rows for name, split in loaded.items()} == counts
    assert list(loaded["train"].features) == ["messages"]


def test_an_empty_split_is_not_written_and_the_summary_says_so(
    tmp_path: Path, notes: Path, server: FakeOpenAIServer
) -> None:
    out = tmp_path / "qa.jsonl"
    stale = tmp_path / "qa" / "validation.jsonl"
    stale.parent.mkdir()
    stale.write_text('{"left": "by an earlier run"}\n', encoding="utf-8")

    # chunk ids hash the (temporary) path: a fraction this small leaves validation empty
    # whatever the path (60 chunks at 0.001 gave one a validation chunk 6% of the time)
    result = generate(server, out, str(notes), "--val-fraction", "0.0000001", "--seed", "3")

    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "qa").iterdir()) == ["train.jsonl"]
    assert "validation empty, not written" in result.stderr
    assert "Splits: train 60" in result.stderr


def test_the_check_after_a_split_run_prices_only_the_training_file(
    tmp_path: Path, notes: Path, server: FakeOpenAIServer
) -> None:
    result = generate(server, tmp_path / "qa.jsonl", str(notes), "--val-fraction", "0.3")

    assert result.exit_code == 0, result.stderr
    checks = [line for line in result.stderr.splitlines() if line.startswith("Check: ")]
    assert len(checks) == 2
    train, validation = checks
    assert "qa/train.jsonl" in train and "training tokens" in train and "to fine-tune" in train
    assert "qa/validation.jsonl" in validation
    assert "training tokens" not in validation and "$" not in validation


# -- formats ---------------------------------------------------------------------------------


def test_alpaca_lines_have_instruction_input_output_and_the_system_prompt(tmp_path: Path) -> None:
    path = Dataset([record("Where is Tokyo?", "In Japan.")]).to_jsonl(
        tmp_path / "a.jsonl", system_prompt="Be brief.", format="alpaca"
    )
    assert lines_of(path) == [
        {
            "instruction": "Where is Tokyo?",
            "input": "",
            "output": "In Japan.",
            "system": "Be brief.",
        }
    ]
    Dataset([record("Q?", "A.")]).to_jsonl(path, format="alpaca")
    assert lines_of(path) == [{"instruction": "Q?", "input": "", "output": "A."}]


def test_sharegpt_lines_are_conversations_of_system_human_and_gpt(tmp_path: Path) -> None:
    path = Dataset([record("東京はどこ？", "日本です。")]).to_jsonl(
        tmp_path / "s.jsonl", system_prompt="Be brief.", format="sharegpt"
    )
    assert lines_of(path) == [
        {
            "conversations": [
                {"from": "system", "value": "Be brief."},
                {"from": "human", "value": "東京はどこ？"},
                {"from": "gpt", "value": "日本です。"},
            ]
        }
    ]
    assert "東京" in path.read_text(encoding="utf-8")


def test_an_unknown_format_is_an_input_error_naming_the_choices(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"'chatml'.*openai, alpaca, sharegpt"):
        Dataset([record("Q?", "A.")]).to_jsonl(tmp_path / "x.jsonl", format="chatml")


def test_parquet_has_a_messages_column_and_provenance_columns(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    records = [
        record("Q1?", "A1.", page=3),
        record("Q1 again?", "A1.", origin="paraphrase", derived_from="Q1?"),
    ]
    path = Dataset(records).to_parquet(tmp_path / "train.parquet", system_prompt="Be brief.")

    rows = pq.read_table(path).to_pylist()
    assert rows[0]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Q1?"},
        {"role": "assistant", "content": "A1."},
    ]
    assert rows[0]["source"] == "manual.pdf" and rows[0]["chunk_id"] == "c1"
    assert (rows[0]["page"], rows[1]["page"]) == (3, None)
    assert (rows[1]["origin"], rows[1]["derived_from"]) == ("paraphrase", "Q1?")


def test_without_pyarrow_parquet_fails_before_any_work_naming_the_install(
    tmp_path: Path, notes: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "pyarrow", None)
    with pytest.raises(ConfigurationError, match=r'pip install "qasynth\[parquet\]"'):
        Dataset([record("Q?", "A.")]).to_parquet(tmp_path / "x.parquet")

    result = generate(server, tmp_path / "qa.parquet", str(notes))
    assert result.exit_code == 2
    assert 'pip install "qasynth[parquet]"' in result.stderr
    assert not list(tmp_path.glob("qa*"))


def test_cli_format_and_parquet_output_with_splits_load_in_datasets(
    tmp_path: Path, notes: Path, server: FakeOpenAIServer
) -> None:
    datasets = pytest.importorskip("datasets")
    pytest.importorskip("pyarrow")

    result = generate(
        server, tmp_path / "qa.parquet", str(notes), "--format", "sharegpt",
        "--val-fraction", "0.3", "--no-system-prompt",
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    assert "Check: not run" in result.stderr
    loaded = datasets.load_dataset(str(tmp_path / "qa"), cache_dir=str(tmp_path / "hf-cache"))
    assert set(loaded) == {"train", "validation"}
    assert sum(split.num_rows for split in loaded.values()) == 60
    first = loaded["train"][0]
    assert [turn["from"] for turn in first["conversations"]] == ["human", "gpt"]
    assert first["source"].endswith(".txt") and first["origin"] == "generated"


def test_cli_alpaca_with_provenance_lines_up_line_for_line(
    tmp_path: Path, notes: Path, server: FakeOpenAIServer
) -> None:
    out = tmp_path / "qa.jsonl"

    result = generate(server, out, str(notes), "--format", "alpaca", "--provenance")

    assert result.exit_code == 0, result.stderr
    examples = lines_of(out)
    origins = lines_of(tmp_path / "qa.provenance.jsonl")
    assert len(examples) == len(origins) == 60
    assert set(examples[0]) == {"instruction", "input", "output", "system"}
    assert origins[0]["line"] == 1 and origins[0]["source"].endswith("rover_00.txt")
    assert {"source", "page", "chunk_id", "chunk_index", "origin", "derived_from"} <= set(
        origins[0]
    )


def test_to_hf_dataset_gives_the_splits_with_provenance() -> None:
    pytest.importorskip("datasets")
    records = [record(f"Q{i}?", f"A{i}.", chunk_id=f"c{i}") for i in range(40)]

    whole = Dataset(records).to_hf_dataset()
    parts = Dataset(records).to_hf_dataset(val_fraction=0.3, seed=1)

    assert whole.num_rows == 40 and {"messages", "source", "chunk_id"} <= set(whole.features)
    assert set(parts) == {"train", "validation"}
    assert parts["train"].num_rows + parts["validation"].num_rows == 40


# -- permissions -----------------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_new_files_get_the_permissions_the_umask_allows(
    tmp_path: Path, umask: int, mode: int
) -> None:
    old = os.umask(umask)
    try:
        path = Dataset([record("Q?", "A.")]).to_jsonl(tmp_path / "train.jsonl")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_replaced_file_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text("old\n", encoding="utf-8")
    path.chmod(0o600)

    Dataset([record("Q?", "A.")]).to_jsonl(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert lines_of(path)[0]["messages"][0]["content"] == "Q?"


def test_splits_are_jsonl_files_datasets_reads_whatever_the_output_ends_in(
    server: FakeOpenAIServer, notes: Path, tmp_path: Path
) -> None:
    result = generate(server, tmp_path / "a.txt", str(notes), "--val-fraction", "0.2")

    assert result.exit_code == 0, result.stderr
    folder = tmp_path / "a"
    assert sorted(p.name for p in folder.iterdir()) == ["train.jsonl", "validation.jsonl"]
    datasets = pytest.importorskip("datasets")
    loaded = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "hf-cache"))
    assert list(loaded["train"].features) == ["messages"]


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("out.jsonl.gz", "qasynth writes plain JSONL (or Parquet), not compressed files"),
        ("", "names no file"),
    ],
)
def test_an_output_it_cannot_write_as_asked_is_refused_before_any_call(
    server: FakeOpenAIServer,
    notes: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    output: str,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    calls = len(server.requests)
    result = CliRunner().invoke(main, ["generate", str(notes), "-o", output, "--base-url",
                                       server.base_url])  # fmt: skip

    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert len(server.requests) == calls
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes"]


def test_a_system_prompt_of_only_spaces_is_left_out_as_an_empty_one_is(
    server: FakeOpenAIServer, notes: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    result = generate(server, out, str(notes), "--system-prompt", "   ")

    assert result.exit_code == 0, result.stderr
    assert {line["messages"][0]["role"] for line in lines_of(out)} == {"user"}


def test_an_output_without_examples_or_without_a_train_split_exits_1_saying_why(
    server: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a chunk's split follows its source: the same on any machine
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "blank.txt").write_text("  \n", encoding="utf-8")
    (empty / "zero.txt").write_text("", encoding="utf-8")
    Path("one.txt").write_text("Rover Zephyr reached crater 7 on day 100.", encoding="utf-8")

    nothing = generate(server, tmp_path / "nothing.jsonl", str(empty))
    no_train = generate(server, tmp_path / "split.jsonl", "one.txt", "--val-fraction", "0.9")
    fine = generate(server, tmp_path / "fine.jsonl", "one.txt")

    assert nothing.exit_code == 1, nothing.stderr
    assert "No pairs were kept" in nothing.stderr
    assert no_train.exit_code == 1, no_train.stderr
    assert "The train split is empty" in no_train.stderr
    assert (tmp_path / "split" / "validation.jsonl").exists()
    assert fine.exit_code == 0, fine.stderr


MILL = "The {name} mill number {i} was built in {year} and grinds {tonnes} tonnes of grain."
WORDINGS = (
    "In what year was the {name} mill number {i} built, and how much grain does it grind?",
    "How many tonnes of grain does the {name} mill number {i} grind, and when was it built?",
    "What are the build year and daily grain output of the {name} mill number {i}?",
)


def overlap_responder(ctx: ReplyContext) -> Reply:
    """One pair per mill sentence, its question worded by the chunk (as a model words the
    same fact differently in two chunks): near-duplicate questions do not link them."""
    if is_fix_request(ctx):
        return default_responder(ctx)
    text = ctx.document_message
    wording = int(hashlib.sha256(text.encode()).hexdigest(), 16)
    pairs = [
        {"question": WORDINGS[(wording + int(m["i"])) % 3].format(name=m["name"], i=m["i"]),
         "answer": m[0]}
        for m in re.finditer(r"The (?P<name>\w+) mill number (?P<i>\d+) was built in \d+ and "
                             r"grinds \d+ tonnes of grain\.", text)
    ]  # fmt: skip
    return Content(json.dumps({"question_answer_pairs": pairs}))


def test_a_fact_in_the_overlap_of_two_chunks_that_land_apart_stays_on_one_side(
    tmp_path: Path,
) -> None:
    """Overlapping chunks share text, so the same fact is asked in both, worded
    differently; when the chunks land in different splits, the fact stays on the side
    nearer to training."""
    names = ["Aldor", "Brenn", "Calder", "Dunmore", "Elston"]
    text = " ".join(
        MILL.format(name=names[i % 5], i=i, year=1700 + i, tonnes=20 + i % 50) for i in range(400)
    )
    (tmp_path / "mills.txt").write_text(text, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer(responder=overlap_responder) as server:
        result = generate(
            server, out, str(tmp_path / "mills.txt"), "--chunk-size", "200", "--chunk-overlap",
            "100", "--val-fraction", "0.3", "--test-fraction", "0.3", "--no-grounding-check",
        )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    answers = {
        name: {
            line["messages"][-1]["content"] for line in lines_of(tmp_path / "out" / f"{name}.jsonl")
        }
        for name in ("train", "validation", "test")
    }
    assert all(answers.values())
    assert not answers["train"] & answers["test"]
    assert not answers["train"] & answers["validation"]
    assert not answers["validation"] & answers["test"]


def test_an_output_that_is_a_symlink_is_written_where_it_points_and_stays_a_link(
    server: FakeOpenAIServer, notes: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "out.jsonl").write_text("old\n", encoding="utf-8")
    latest = tmp_path / "latest.jsonl"
    latest.symlink_to(runs / "out.jsonl")

    result = generate(server, latest, str(notes))

    assert result.exit_code == 0, result.stderr
    assert latest.is_symlink()
    assert len(lines_of(runs / "out.jsonl")) == 60


def test_switching_between_one_file_and_splits_warns_of_what_the_earlier_run_left(
    server: FakeOpenAIServer, notes: Path, tmp_path: Path
) -> None:
    out = tmp_path / "r.jsonl"

    whole = generate(server, out, str(notes))
    split = generate(server, out, str(notes), "--val-fraction", "0.2")
    whole_again = generate(server, out, str(notes))

    assert "Warning" not in whole.stderr
    assert f"Warning: {out} is from an earlier run without splits" in split.stderr
    assert f"Warning: {tmp_path / 'r'}/ holds split files from an earlier run" in (
        whole_again.stderr
    )

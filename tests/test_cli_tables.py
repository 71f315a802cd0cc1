"""`qasynth convert` and `qasynth check` through the command line: messages and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import tiktoken
from click.testing import CliRunner, Result

import qasynth._tokens
from qasynth._cli import main

TABLE = "user,assistant\n富士山の高さは？,3776メートルです。\nWho makes the X200?,Acme.\n"


@pytest.fixture(autouse=True)
def offline_tokenizer(monkeypatch: pytest.MonkeyPatch, offline_encoding: tiktoken.Encoding) -> None:
    monkeypatch.setattr(qasynth._tokens, "_load", lambda name: offline_encoding)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def messages(path: Path) -> list[list[dict[str, str]]]:
    return [json.loads(line)["messages"] for line in path.read_text(encoding="utf-8").splitlines()]


def example(question: str, answer: str) -> str:
    return json.dumps(
        {
            "messages": [
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer},
            ]
        }
    )


# -- convert ---------------------------------------------------------------------------------


def test_convert_writes_readable_jsonl_with_the_default_system_prompt(tmp_path: Path) -> None:
    source = write(tmp_path / "qa.csv", TABLE)
    out = tmp_path / "train.jsonl"

    result = run("convert", str(source), "-o", str(out))

    assert result.exit_code == 0, result.stderr
    assert "富士山" in out.read_text(encoding="utf-8")  # no \\u escapes
    assert messages(out)[0] == [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "富士山の高さは？"},
        {"role": "assistant", "content": "3776メートルです。"},
    ]
    assert "wrote 2 examples" in result.stderr
    assert "Check: " in result.stderr


def test_convert_persona_system_prompt_and_no_system_prompt(tmp_path: Path) -> None:
    source = write(tmp_path / "qa.csv", TABLE)
    persona = run(
        "convert", str(source), "-o", str(tmp_path / "a.jsonl"), "--system-prompt", "Aiko"
    )
    bare = run("convert", str(source), "-o", str(tmp_path / "b.jsonl"), "--no-system-prompt")

    assert (persona.exit_code, bare.exit_code) == (0, 0)
    assert messages(tmp_path / "a.jsonl")[1][0] == {"role": "system", "content": "Aiko"}
    assert [m["role"] for m in messages(tmp_path / "b.jsonl")[1]] == ["user", "assistant"]


def test_cp932_without_encoding_exits_2_and_suggests_encoding_cp932(tmp_path: Path) -> None:
    source = write(tmp_path / "qa.csv", TABLE.encode("cp932"))
    out = tmp_path / "train.jsonl"

    result = run("convert", str(source), "-o", str(out))

    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "--encoding cp932" in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()

    fixed = run("convert", str(source), "-o", str(out), "--encoding", "cp932")
    assert fixed.exit_code == 0, fixed.stderr
    assert messages(out)[0][1]["content"] == "富士山の高さは？"


def test_missing_column_exits_2_listing_the_columns(tmp_path: Path) -> None:
    source = write(tmp_path / "faq.csv", "question,answer\nQ1,A1\n")

    result = run("convert", str(source), "-o", str(tmp_path / "o.jsonl"))

    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "question, answer" in result.stderr
    assert "--user-column question" in result.stderr

    fixed = run(
        "convert", str(source), "-o", str(tmp_path / "o.jsonl"),
        "--user-column", "question", "--assistant-column", "answer",
    )  # fmt: skip
    assert fixed.exit_code == 0, fixed.stderr


def test_skipped_rows_are_listed_with_line_numbers_and_exit_1(tmp_path: Path) -> None:
    rows = "user,assistant\nQ1,A1\nQ2,\n\n,A4\nQ5,A5\n"
    source = write(tmp_path / "qa.csv", rows)
    out = tmp_path / "o.jsonl"

    result = run("convert", str(source), "-o", str(out))

    assert result.exit_code == 1
    assert "line 3: empty 'assistant' cell" in result.stderr
    assert "line 5: empty 'user' cell" in result.stderr
    assert len(messages(out)) == 2

    strict = run("convert", str(source), "-o", str(tmp_path / "s.jsonl"), "--strict")
    assert strict.exit_code == 2
    assert "line 3" in strict.stderr


@pytest.mark.parametrize("flag", ["--format", "--input-format"])
def test_format_option_overrides_the_extension(tmp_path: Path, flag: str) -> None:
    source = write(tmp_path / "qa.txt", "user\tassistant\nQ, with comma\tA\n")
    result = run("convert", str(source), "-o", str(tmp_path / "o.jsonl"), flag, "tsv")
    assert result.exit_code == 0, result.stderr
    assert messages(tmp_path / "o.jsonl")[0][1]["content"] == "Q, with comma"


def test_convert_of_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = run("convert", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "o.jsonl"))
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: file not found")


# -- check -----------------------------------------------------------------------------------


def test_check_of_a_good_file_prints_a_table_and_exits_0(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", "".join(example(f"Q{n}", f"A{n}") + "\n" for n in range(12)))

    result = run("check", str(path))

    assert result.exit_code == 0, result.output
    assert "no problems found" in result.stdout
    assert "Examples" in result.stdout
    assert "Estimated cost" in result.stdout


def test_check_reports_problems_by_line_and_exits_1(tmp_path: Path) -> None:
    lines = [example(f"Q{n}", f"A{n}") for n in range(12)]
    lines[3] = '{"messages": [{"role": "user", "content": "no answer"}]}'
    lines[7] = "not json"
    path = write(tmp_path / "t.jsonl", "\n".join(lines) + "\n")

    result = run("check", str(path))
    as_json = run("check", str(path), "--json", "--epochs", "2", "--price-per-mtok", "10")

    assert result.exit_code == 1
    assert "line 4" in result.stdout
    assert "line 8" in result.stdout
    assert as_json.exit_code == 1
    data: dict[str, Any] = json.loads(as_json.stdout)
    assert data["ok"] is False
    assert [p["line"] for p in data["problems"]] == [4, 8]
    assert data["epochs"] == 2
    assert data["price_per_mtok"] == 10


@pytest.mark.parametrize(
    ("line", "where"),
    [
        (r'{"role": "user", "content": "Q \ud800"}', "messages[0].content"),
        (r'{"role": "user", "content": "Q", "name": "\udfff"}', "messages[0].name"),
        (r'{"role": "user", "content": "Q", "\ud800": 1}', "a key of messages[0]"),
    ],
)
def test_check_reports_a_lone_surrogate_on_its_line_and_exits_1(
    tmp_path: Path, line: str, where: str
) -> None:
    lines = [example(f"Q{n}", f"A{n}") for n in range(12)]
    lines[4] = f'{{"messages": [{line}, {{"role": "assistant", "content": "A"}}]}}'
    lines[5] = example("Emoji \U0001f600", "A pair of surrogate escapes is one valid character.")
    path = write(tmp_path / "t.jsonl", "\n".join(lines) + "\n")

    result = run("check", str(path))

    assert result.exit_code == 1, result.output
    assert f"line 5: {where}: not valid Unicode (a lone surrogate" in result.stdout
    assert "line 6" not in result.stdout
    assert "Examples            11" in result.stdout


def test_check_of_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = run("check", str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "nope.jsonl" in result.stderr

"""`qasynth plan` and `qasynth._plan.plan`: exact chunk and prompt tokens, no network, no key."""

from __future__ import annotations

import json
import socket
import statistics
import sys
from pathlib import Path
from typing import Any

import pytest
import tiktoken
from click.testing import CliRunner, Result
from conftest import real_encoding_names

import qasynth._tokens
from qasynth import Chunker, QAPrompt
from qasynth._cli import main
from qasynth._plan import plan
from qasynth._pricing import model_price

SENTENCES = [
    f"In {1990 + n}, the Acme plant in town number {n} made {n * 7} grinders and shipped them."
    for n in range(40)
]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("plan must not open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(params=["offline", *real_encoding_names()])
def encoding(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    offline_encoding: tiktoken.Encoding,
) -> tiktoken.Encoding:
    """The encoding the CLI will use: offline (every name resolves to it) or a real one."""
    if request.param == "offline":
        monkeypatch.setattr(qasynth._tokens, "_load", lambda name: offline_encoding)
        return offline_encoding
    return tiktoken.get_encoding(request.param)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "acme_history.txt").write_text(" ".join(SENTENCES), encoding="utf-8")
    (folder / "short.md").write_text("The Acme X200 is red.", encoding="utf-8")
    (folder / "empty.txt").write_text("  \n", encoding="utf-8")
    return folder


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def plan_json(*args: str) -> dict[str, Any]:
    result = run("plan", *args, "--json")
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def cli_name(encoding: tiktoken.Encoding) -> str:
    """The --encoding to pass: any real name resolves to the offline encoding when patched."""
    return "o200k_base" if encoding.name == "qasynth_offline_test" else encoding.name


def expected_chunks(docs: Path, chunker: Chunker) -> list[tuple[str, str]]:
    """(theme, text) of every chunk, in the order a run reads the files."""
    files = sorted(p for p in docs.rglob("*") if p.suffix in (".txt", ".md"))
    return [(f.stem, c) for f in files for c in chunker.split_text(f.read_text(encoding="utf-8"))]


def chat_tokens(encoding: tiktoken.Encoding, system: str, user: str) -> int:
    """OpenAI's count for two messages: 3 per message + role + content, + 3 for the reply."""
    n = len(encoding.encode(system)) + len(encoding.encode(user))
    return 3 + (3 + len(encoding.encode("system"))) + (3 + len(encoding.encode("user"))) + n


def test_plan_counts_match_the_chunker_exactly(docs: Path, encoding: tiktoken.Encoding) -> None:
    data = plan_json(
        str(docs), "--chunk-size", "60", "--chunk-overlap", "10", "--encoding", cli_name(encoding)
    )

    chunks = expected_chunks(docs, Chunker(chunk_size=60, chunk_overlap=10, encoding=encoding))
    tokens = [len(encoding.encode(text)) for _, text in chunks]
    assert len(chunks) > 3
    assert data["documents"] == 3
    assert data["empty_documents"] == 1
    assert data["chunks"] == len(chunks)
    assert data["model_calls"] == len(chunks)
    assert data["chunk_tokens"] == {
        "min": min(tokens),
        "median": statistics.median(tokens),
        "max": max(tokens),
    }
    assert max(tokens) <= 60
    system = QAPrompt().configured(structured=True).render_instructions()  # gpt-4o-mini: auto
    user_messages = [f"Theme: {theme}\n\nText:\n{text}" for theme, text in chunks]
    assert data["input_tokens"] == sum(chat_tokens(encoding, system, u) for u in user_messages)
    assert data["output_tokens"] == round(0.6 * sum(tokens))


def test_cost_uses_the_model_input_and_output_prices(
    docs: Path, encoding: tiktoken.Encoding
) -> None:
    data = plan_json(
        str(docs), "--model", "gpt-4o-mini", "--output-ratio", "1", "--encoding", cli_name(encoding)
    )

    price = model_price("gpt-4o-mini")
    assert price is not None and price.input_per_mtok and price.output_per_mtok
    chunks = expected_chunks(docs, Chunker(encoding=encoding))
    assert data["output_tokens"] == sum(len(encoding.encode(text)) for _, text in chunks)
    assert price.cached_input_per_mtok is not None
    cached = data["cached_input_tokens"]
    expected = ((data["input_tokens"] - cached) * price.input_per_mtok
                + cached * price.cached_input_per_mtok
                + data["output_tokens"] * price.output_per_mtok) / 1e6  # fmt: skip
    assert data["estimated_cost"] == pytest.approx(expected)
    assert data["prices_as_of"]
    assert "first_messages" not in data


def test_table_output_names_the_numbers_and_an_unknown_model_has_unknown_cost(
    docs: Path, encoding: tiktoken.Encoding
) -> None:
    known = run("plan", str(docs))
    assert known.exit_code == 0, known.stderr
    assert "no model was called" in known.stdout
    assert "prices as of" in known.stdout
    assert "$" in known.stdout

    unknown = run("plan", str(docs), "--model", "llama3.1:8b", "--encoding", "cl100k_base")
    assert unknown.exit_code == 0, unknown.stderr
    assert "cost unknown" in unknown.stdout
    assert "llama3.1:8b" in unknown.stdout


def test_show_prompt_prints_the_messages_for_the_first_chunk(
    docs: Path, encoding: tiktoken.Encoding
) -> None:
    result = run("plan", str(docs / "short.md"), "--show-prompt")

    assert result.exit_code == 0, result.stderr
    system_at = result.stdout.index("--- system ---")
    user_at = result.stdout.index("--- user ---")
    assert system_at < user_at
    sent = QAPrompt().configured(structured=True)  # gpt-4o-mini: structured by default
    assert sent.render_instructions() in result.stdout[system_at:user_at]
    assert result.stdout[user_at:].strip().endswith("Theme: short\n\nText:\nThe Acme X200 is red.")

    data = plan_json(str(docs / "short.md"), "--show-prompt", "--theme", "ignored for files")
    assert [m["role"] for m in data["first_messages"]] == ["system", "user"]


def test_plan_reads_stdin_and_needs_no_api_key(encoding: tiktoken.Encoding) -> None:
    result = CliRunner().invoke(main, ["plan", "-", "--json"], input="Tokyo Tower is 333 m tall.")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["chunks"] == 1


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("myprompts_plan", "expected MODULE:CLASS"),
        ("no_such_module_xyz:Prompt", "no module named 'no_such_module_xyz'"),
        ("myprompts_plan:Missing", "myprompts_plan.Missing is nothing by that name"),
        ("myprompts_plan:helper", "is a function, not a subclass of qasynth.QAPrompt"),
        ("broken_prompts_plan:Prompt", "importing 'broken_prompts_plan' failed: ZeroDivisionError"),
    ],
)
def test_bad_prompt_option_is_a_clear_one_line_error(
    spec: str,
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    encoding: tiktoken.Encoding,
) -> None:
    (tmp_path / "myprompts_plan.py").write_text("def helper():\n    pass\n", encoding="utf-8")
    (tmp_path / "broken_prompts_plan.py").write_text("1 / 0\n", encoding="utf-8")
    (tmp_path / "doc.txt").write_text("Some text.", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in ("myprompts_plan", "broken_prompts_plan"):
        monkeypatch.delitem(sys.modules, name, raising=False)

    result = run("plan", "doc.txt", "--prompt", spec)

    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert says in result.stderr


def test_plan_function_is_usable_from_python(offline_encoding: tiktoken.Encoding) -> None:
    text = " ".join(SENTENCES)
    result = plan([text, ""], encoding=offline_encoding, chunk_size=80, chunk_overlap=0)

    assert result.documents == 2
    assert result.empty_documents == 1
    assert result.chunks == len(
        Chunker(chunk_size=80, chunk_overlap=0, encoding=offline_encoding).split_text(text)
    )
    assert result.first_chunk is not None
    assert result.first_messages[-1].text.endswith(result.first_chunk.text)
    json.dumps(result.to_dict())  # JSON-ready


def test_plan_of_nothing_but_empty_documents_has_no_chunks(
    offline_encoding: tiktoken.Encoding,
) -> None:
    result = plan(["   "], encoding=offline_encoding)
    assert (result.chunks, result.chunk_tokens, result.input_tokens, result.first_chunk) == (
        0,
        None,
        0,
        None,
    )
    assert result.estimated_cost == 0


def test_plan_takes_the_base_url_generate_would_use_and_prices_its_prompt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_encoding: tiktoken.Encoding
) -> None:
    """Another server than OpenAI's gets the prompt with its JSON example (no native
    structured output): more input tokens. Nothing is sent to it."""
    monkeypatch.setattr(qasynth._tokens, "_load", lambda name: offline_encoding)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    doc = tmp_path / "notes.txt"
    doc.write_text(" ".join(SENTENCES[:5]), encoding="utf-8")

    def planned(*extra: str) -> dict[str, Any]:
        result = CliRunner().invoke(main, ["plan", str(doc), "--json", *extra])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    openai, local = planned(), planned("--base-url", "http://127.0.0.1:8000/v1")

    assert (openai["structured"], local["structured"]) == (True, False)
    assert local["input_tokens"] > openai["input_tokens"]

"""`qasynth generate` and `plan` on every kind of input: options, and bad files refused first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tiktoken
from click.testing import CliRunner, Result
from documents import make_docx, make_encrypted_pdf, make_pdf

import qasynth._tokens
from qasynth._cli import main
from qasynth.testing import FakeOpenAIServer

KEY = "sk-test-dummy-key-0123456789"


@pytest.fixture(autouse=True)
def offline_tokenizer(monkeypatch: pytest.MonkeyPatch, offline_encoding: tiktoken.Encoding) -> None:
    monkeypatch.setattr(qasynth._tokens, "_load", lambda name: offline_encoding)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    make_pdf(
        folder / "manual.pdf",
        [["The Acme X200 grinds coffee."], ["Error E42 means jammed burrs."]],
        title="Acme X200 Manual",
    )
    make_docx(folder / "guide.docx", [("h1", "Cleaning"), ("p", "Brush the burrs monthly.")])
    (folder / "page.html").write_text(
        "<title>Support page</title><nav>MENU</nav><p>Call support on Mondays.</p>",
        encoding="utf-8",
    )
    return folder


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def generate(server: FakeOpenAIServer, out: Path, *args: str) -> Result:
    return run("generate", *args, "-o", str(out), "--base-url", server.base_url, "--quiet")


def prompts(server: FakeOpenAIServer) -> list[str]:
    return [
        r.body["messages"][-1]["content"]
        for r in server.requests
        if r.path.endswith("/chat/completions")
    ]


def plan_json(*args: str) -> dict[str, Any]:
    result = run("plan", *args, "--json")
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_generate_reads_a_folder_of_pdf_docx_and_html(
    tmp_path: Path, docs: Path, server: FakeOpenAIServer
) -> None:
    result = generate(server, tmp_path / "train.jsonl", str(docs))

    assert result.exit_code == 0, result.stderr
    sent = prompts(server)
    assert len(sent) == 3
    joined = "\n".join(sent)
    for text in ("grinds coffee", "E42 means jammed burrs", "Brush the burrs", "Mondays"):
        assert text in joined
    assert "MENU" not in joined and "<" not in joined
    assert "Theme: Acme X200 Manual" in joined and "Theme: Support page" in joined
    assert "Theme: guide" in joined  # no title: the file name


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("broken.pdf", lambda p: p.write_bytes(b"%PDF-1.4 cut off"), "not a readable PDF"),
        ("scan.pdf", lambda p: make_pdf(p, [[]]), "no text layer (scanned?); run OCR first"),
        ("locked.pdf", lambda p: make_encrypted_pdf(p, [["x"]], password="pw"), "encrypted"),
        ("report.docx", lambda p: p.write_bytes(b"not a zip"), "not a readable DOCX"),
        ("table.xlsx", lambda p: p.write_bytes(b"PK"), "unsupported file type .xlsx"),
        (
            "deep.jsonl",
            lambda p: p.write_text(
                '{"text": "ok"}\n{"text": "a", "x": ' + "[" * 5000 + "]" * 5000 + "}\n"
            ),
            "line 2: JSON nested too deeply to read",
        ),
    ],
)
def test_a_bad_file_stops_generate_with_one_line_before_any_model_call(
    tmp_path: Path, docs: Path, server: FakeOpenAIServer, name: str, make: Any, reason: str
) -> None:
    bad = docs / name
    make(bad)

    result = generate(server, tmp_path / "train.jsonl", str(docs), str(bad))

    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("Error: ") and str(bad) in result.stderr
    assert reason in result.stderr
    assert server.requests == []
    assert not (tmp_path / "train.jsonl").exists()


def test_generate_shows_what_the_library_warns_of_once_and_leaves_its_logging_as_it_was(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    """A PDF whose second page has no text layer loses that page: the command says so
    (the library logs it as a warning), above the bar; what the summary reports (failed
    chunks) is not printed twice."""
    import logging

    pdf = make_pdf(tmp_path / "in" / "half.pdf", [["The Acme X200 grinds coffee."], []])
    out = tmp_path / "out.jsonl"

    result = generate(server, out, str(pdf))

    assert result.exit_code == 0, result.stderr
    assert result.stderr.count(f"Warning: {pdf}: 1 of 2 pages have no text (scanned?)") == 1
    handlers = logging.getLogger("qasynth").handlers
    assert all(isinstance(h, logging.NullHandler) for h in handlers)  # the command's are gone


def test_plan_include_and_exclude_choose_files(docs: Path) -> None:
    assert plan_json(str(docs))["documents"] == 3
    assert plan_json(str(docs), "--include", "*.pdf")["documents"] == 1
    assert plan_json(str(docs), "--exclude", "*.pdf", "--exclude", "page.*")["documents"] == 1

    result = run("plan", str(docs), "--include", "*.txt")
    assert result.exit_code == 2
    assert "matching --include/--exclude" in result.stderr


def test_plan_reads_a_table_of_documents_with_named_fields_and_warns_of_empty_rows(
    tmp_path: Path,
) -> None:
    table = tmp_path / "articles.csv"
    table.write_text(
        "headline,body\nX200,The Acme X200 is red.\nEmpty,\nE42,Jammed burrs.\n", "utf-8"
    )

    result = run("plan", str(table), "--text-field", "body", "--title-field", "headline")

    assert result.exit_code == 0, result.stderr
    assert f"Warning: {table} line 3: no text in field 'body'; the row is skipped" in (
        result.stderr
    )
    assert result.stderr.count("no text in field") == 1  # listed before the run, not again
    assert "3 (1 empty, skipped)" in result.stdout

    wrong = run("plan", str(table))
    assert wrong.exit_code == 2
    assert "no 'text' field in the first row; its fields are: headline, body" in wrong.stderr
    assert "--text-field" in wrong.stderr

"""Specs for the HTML quality report: one self-contained page that a browser shows right."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import tiktoken
from click.testing import CliRunner

import qasynth._tokens
from qasynth import Chunk, ChunkFailure, Dataset, QARecord, Rejection, Stats
from qasynth._cli import main
from qasynth._html_report import write_html_report
from qasynth.testing import FakeOpenAIServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine")


def chunks_of(source: str, count: int) -> list[Chunk]:
    return [
        Chunk(text=f"{source} part {i}", theme="t", source=source, index=i, page=i + 1)
        for i in range(count)
    ]


@pytest.fixture
def report(tmp_path: Path, offline_encoding: tiktoken.Encoding) -> Path:
    """A report for two documents: chunk 1 of the manual gave nothing, chunk 2 failed."""
    manual, notes = chunks_of("docs/manual.pdf", 4), chunks_of("notes/world_cup.md", 2)
    records = [
        QARecord(
            f"What does part {c.index} say?",
            "It says a lot.",
            "t",
            c.source,
            c.id,
            c.index,
            page=c.page,
        )
        for c in (manual[0], manual[3], notes[0], notes[1])
    ]
    rejections = [
        Rejection(
            "not_standalone",
            "Who won <b>this</b> match?",
            "Spain.",
            notes[0].id,
            "leans on: 'this match'",
        ),
        Rejection(
            "ungrounded",
            "When did it open?",
            "In 1987.",
            manual[1].id,
            "missing from the chunk: 1987",
        ),
        Rejection("ungrounded", "Where is it?", "Osaka.", manual[1].id, "missing: Osaka"),
    ]
    failures = [ChunkFailure(manual[2].id, manual[2].source, "t", 2, "reply was not JSON", "{", 3)]
    return write_html_report(
        tmp_path / "report.html", records=records, rejections=rejections, failures=failures,
        stats=Stats(documents=2, chunks=6, model_calls=7), chunks=[*manual, *notes],
        encoding=offline_encoding,
    )  # fmt: skip


def test_the_page_is_self_contained(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    for outside in ("http://", "https://", "src=", "<link", "url(", "@import", "//cdn"):
        assert outside not in page, f"the page refers to something outside it: {outside}"
    assert page.count("<svg") >= 3 and "<style>" in page and "<script>" in page


def test_the_page_shows_reasons_evidence_and_the_sections_that_gave_nothing(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert "rejected: ungrounded" in page and "rejected: not_standalone" in page
    assert "missing from the chunk: 1987" in page
    assert "Who won &lt;b&gt;this&lt;/b&gt; match?" in page  # text is escaped, never markup
    assert "2 of 4 chunks gave no pairs: #1 (p. 2), #2 (p. 3)" in page
    assert "every chunk gave pairs" in page  # world_cup.md
    assert "reply was not JSON" in page
    assert re.search(r"Limit per example: 65,536; 0 over it", page)


def test_dataset_write_report_picks_html_or_json_by_the_name(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    record = QARecord("Q?", "A.", "t", "a.txt", "c1", 0)
    dataset = Dataset([record], rejections=[Rejection("empty", "", "A.", "c1")])

    html = dataset.write_report(tmp_path / "r.html", encoding=offline_encoding)
    data = json.loads(dataset.write_report(tmp_path / "r.json").read_text(encoding="utf-8"))

    assert "<svg" in html.read_text(encoding="utf-8")
    assert data["kept"] == 1 and data["rejections"]["empty"]["count"] == 1


def test_generate_writes_an_html_report_when_the_name_ends_in_html(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_encoding: tiktoken.Encoding
) -> None:
    monkeypatch.setattr(qasynth._tokens, "_load", lambda name: offline_encoding)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-dummy")
    doc = tmp_path / "acme.txt"
    doc.write_text("The Acme X200 went on sale in 2021. It has twelve settings.", encoding="utf-8")
    with FakeOpenAIServer() as server:
        result = CliRunner().invoke(
            main,
            ["generate", str(doc), "-o", str(tmp_path / "qa.jsonl"), "--base-url",
             server.base_url, "-q", "--report", str(tmp_path / "quality.html")],
        )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    page = (tmp_path / "quality.html").read_text(encoding="utf-8")
    assert "Quality report: qa.jsonl" in page and "acme.txt" in page
    assert "every chunk gave pairs" in page
    assert f"Quality report written to {tmp_path / 'quality.html'}" in result.stderr


# -- in a real browser -----------------------------------------------------------------------


def chromium(tmp_path: Path, *args: str, url: str, width: int = 1280) -> str:
    assert CHROMIUM is not None
    done = subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
            f"--window-size={width},900", *args, url,
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@needs_chromium
def test_the_filter_shows_only_the_rows_of_the_reason_in_the_link(
    report: Path, tmp_path: Path
) -> None:
    dom = chromium(tmp_path, "--dump-dom", url=report.as_uri() + "#reason=ungrounded")

    rows = re.findall(r'<tr data-reason="([^"]+)"( hidden="")?>', dom)
    assert sorted(rows) == [
        ("not_standalone", ' hidden=""'),
        ("ungrounded", ""),
        ("ungrounded", ""),
    ]
    assert '<span id="shown">2</span> of 3 shown' in dom


@needs_chromium
@pytest.mark.parametrize("width", [1280, 500])  # 500: headless Chromium's narrowest window
def test_the_page_fits_the_screen_from_desktop_to_phone(
    report: Path, tmp_path: Path, width: int
) -> None:
    probe = tmp_path / "probe.html"
    measure = (
        "<script>addEventListener('load', function () {"
        "var root = document.documentElement;"
        "document.body.setAttribute('data-width', root.scrollWidth + ' ' + root.clientWidth);});"
        "</script></body>"
    )
    probe.write_text(report.read_text(encoding="utf-8").replace("</body>", measure), "utf-8")

    dom = chromium(tmp_path, "--dump-dom", url=probe.as_uri(), width=width)

    found = re.search(r'data-width="(\d+) (\d+)"', dom)
    assert found is not None
    content, window = map(int, found.groups())
    assert window <= width and content <= window, "the page scrolls sideways"
    assert "<svg" in dom and 'class="bar"' in dom


def test_without_the_chunks_documents_that_kept_nothing_are_counted_not_dropped(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    kept, lost = chunks_of("a.txt", 1)[0], chunks_of("b.txt", 1)[0]
    records = [QARecord("What does part 0 say?", "A lot.", "t", kept.source, kept.id, 0)]
    rejections = [Rejection("ungrounded", "Where?", "Osaka.", lost.id, "missing: Osaka")]

    page = write_html_report(
        tmp_path / "r.html", records=records, rejections=rejections,
        stats=Stats(documents=2, chunks=2), encoding=offline_encoding,
    ).read_text(encoding="utf-8")  # fmt: skip

    assert page.count("1 document kept no pair and is not drawn") == 2  # both per-document parts

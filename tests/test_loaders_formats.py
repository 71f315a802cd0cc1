"""Specs for reading PDF, DOCX, HTML, Markdown and tables of documents.

The files are built in the test run (tests/documents.py); the model is the
loopback fake server, so what reaches the prompt is what the server received.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import tiktoken
from documents import make_docx, make_encrypted_pdf, make_pdf
from langchain_core.documents import Document
from langchain_openai import ChatOpenAI

from qasynth import Dataset, DocumentError, synthesize
from qasynth._loaders import LoadOptions, check_inputs, iter_documents
from qasynth.testing import FakeOpenAIServer

MANUAL_PAGES = [
    ["The Acme X200 grinds coffee with 38 mm steel burrs.", "It went on sale in 2021."],
    ["Error E42 means that the burrs are jammed.", "Unplug the grinder to clear it."],
    ["東京のショールームでは毎日デモがあります。"],
]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def run(server: FakeOpenAIServer, inputs: object, encoding: tiktoken.Encoding) -> Dataset:
    llm = ChatOpenAI(model="gpt-4o-mini", base_url=server.base_url, api_key="test-key")
    return synthesize(
        inputs, llm=llm, encoding=encoding, chunk_size=100, chunk_overlap=0, progress=False
    )


def prompts(server: FakeOpenAIServer) -> list[str]:
    return [
        r.body["messages"][-1]["content"]
        for r in server.requests
        if r.path.endswith("/chat/completions")
    ]


# -- PDF -------------------------------------------------------------------------------------


def test_pdf_pages_reach_the_prompt_under_its_title_and_become_provenance(
    tmp_path: Path, server: FakeOpenAIServer, offline_encoding: tiktoken.Encoding
) -> None:
    pdf = make_pdf(tmp_path / "x200.pdf", MANUAL_PAGES, title="Acme X200 Manual")

    dataset = run(server, pdf, offline_encoding)

    sent = "\n".join(prompts(server))
    for page in MANUAL_PAGES:
        for line in page:
            assert line in sent
    assert all(p.startswith("Theme: Acme X200 Manual\n") for p in prompts(server))
    page_of = {r.answer: r.page for r in dataset.records}
    assert page_of["Error E42 means that the burrs are jammed."] == 2
    assert page_of["東京のショールームでは毎日デモがあります。"] == 3
    assert {r.theme for r in dataset.records} == {"Acme X200 Manual"}
    assert {r.source for r in dataset.records} == {str(pdf)}


def test_a_pdf_without_a_usable_title_is_named_after_its_file(tmp_path: Path) -> None:
    untitled = make_pdf(tmp_path / "field_guide.pdf", MANUAL_PAGES[:1])
    placeholder = make_pdf(
        tmp_path / "notes.pdf", MANUAL_PAGES[:1], title="Microsoft Word - a.docx"
    )

    [first, second] = iter_documents([untitled, placeholder])

    assert "title" not in first.metadata and "title" not in second.metadata
    assert first.metadata["page_starts"] == [0]


def test_pages_without_text_are_skipped_and_keep_the_page_numbers_right(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pdf = make_pdf(tmp_path / "mixed.pdf", [[], MANUAL_PAGES[0], [], MANUAL_PAGES[1]])

    with caplog.at_level(logging.WARNING, logger="qasynth"):
        [document] = iter_documents(pdf)

    text, starts = document.page_content, document.metadata["page_starts"]
    assert text.startswith(MANUAL_PAGES[0][0])
    assert starts[1] == 0  # page 2 holds the first text
    assert text[starts[3] :].startswith(MANUAL_PAGES[1][0])
    assert "2 of 4 pages have no text" in caplog.text


def test_a_pdf_without_a_text_layer_says_to_run_ocr(tmp_path: Path) -> None:
    scanned = make_pdf(tmp_path / "scan.pdf", [[], [], []])

    for action in (check_inputs, lambda p: list(iter_documents(p))):
        with pytest.raises(DocumentError, match=r"no text layer \(scanned\?\); run OCR first"):
            action(scanned)


def test_an_encrypted_pdf_is_refused_by_name_but_one_without_a_password_is_read(
    tmp_path: Path,
) -> None:
    locked = make_encrypted_pdf(tmp_path / "locked.pdf", MANUAL_PAGES[:1], password="s3cret")
    restricted = make_encrypted_pdf(tmp_path / "restricted.pdf", MANUAL_PAGES[:1], password="")

    with pytest.raises(DocumentError, match=r"locked\.pdf.*encrypted") as caught:
        check_inputs(locked)
    assert caught.value.path == locked
    [document] = iter_documents(restricted)
    assert MANUAL_PAGES[0][0] in document.page_content


@pytest.mark.parametrize(
    "data", [b"", b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog", b"PK\x03\x04 a zip, not a PDF"]
)
def test_a_damaged_pdf_is_one_error_naming_the_file(tmp_path: Path, data: bytes) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(data)

    with pytest.raises(DocumentError, match=r"broken\.pdf: not a readable PDF"):
        check_inputs(broken)


# -- DOCX ------------------------------------------------------------------------------------

DOCX_BLOCKS: list[tuple[str, object]] = [
    ("title", "X200 Service Guide"),
    ("h1", "Cleaning"),
    ("p", "Brush the burrs every month."),
    ("li", "Unplug the grinder first."),
    ("h2", "Parts"),
    ("table", [["Part", "Interval"], ["Burrs", "Every 2 years"]]),
]


def test_docx_paragraphs_tables_and_headings_are_read_in_order(tmp_path: Path) -> None:
    path = make_docx(tmp_path / "service.docx", DOCX_BLOCKS, title="Acme X200 Service")

    [document] = iter_documents(path)

    assert document.page_content == (
        "# X200 Service Guide\n\n# Cleaning\n\nBrush the burrs every month.\n\n"
        "- Unplug the grinder first.\n\n## Parts\n\nPart | Interval\nBurrs | Every 2 years"
    )
    assert document.metadata["title"] == "Acme X200 Service"


def test_docx_tables_nested_in_cells_are_read_after_their_row_and_merged_cells_once(
    tmp_path: Path,
) -> None:
    import docx

    word = docx.Document()
    outer = word.add_table(rows=3, cols=3)
    outer.cell(0, 0).merge(outer.cell(0, 2)).text = "Acme grinders"
    model = outer.cell(1, 0).merge(outer.cell(2, 0))
    model.text = "X200"
    inner = model.add_table(rows=2, cols=2)
    inner.cell(0, 0).text, inner.cell(0, 1).text = "Steel burrs", "38 mm"
    inner.cell(1, 0).text, inner.cell(1, 1).text = "Ceramic burrs", "40 mm"
    inner.cell(1, 1).add_table(rows=1, cols=1).cell(0, 0).text = "sold in 2023 only"
    outer.cell(1, 1).text, outer.cell(1, 2).text = "Burrs", "Every 2 years"
    outer.cell(2, 1).text, outer.cell(2, 2).text = "Motor", "Every 5 years"
    word.add_paragraph("Ask the Acme service desk.")
    path = tmp_path / "nested.docx"
    word.save(str(path))

    [document] = iter_documents(path)

    assert document.page_content == (
        "Acme grinders\nX200 | Burrs | Every 2 years\nSteel burrs | 38 mm\n"
        "Ceramic burrs | 40 mm\nsold in 2023 only\nX200 | Motor | Every 5 years\n\n"
        "Ask the Acme service desk."
    )


def test_a_docx_without_a_title_property_takes_its_title_paragraph(tmp_path: Path) -> None:
    [document] = iter_documents(make_docx(tmp_path / "guide.docx", DOCX_BLOCKS))

    assert document.metadata["title"] == "X200 Service Guide"


def test_docx_chunks_get_their_heading_path(
    tmp_path: Path, server: FakeOpenAIServer, offline_encoding: tiktoken.Encoding
) -> None:
    from qasynth import Chunker

    [document] = iter_documents(make_docx(tmp_path / "guide.docx", DOCX_BLOCKS))
    chunks = Chunker(chunk_size=12, chunk_overlap=0, encoding=offline_encoding).split_document(
        document
    )

    table_chunk = next(c for c in chunks if c.text.startswith("Burrs"))
    assert table_chunk.headings == ("Cleaning", "Parts")
    assert chunks[0].theme == "X200 Service Guide"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504, "encrypted"),
        (b"PK\x03\x04 truncated", "not a readable DOCX"),
        (b"plain text, not a document", "not a readable DOCX"),
    ],
)
def test_an_encrypted_or_damaged_docx_is_one_error_naming_the_file(
    tmp_path: Path, data: bytes, reason: str
) -> None:
    path = tmp_path / "report.docx"
    path.write_bytes(data)

    with pytest.raises(DocumentError, match=rf"report\.docx: .*{reason}"):
        check_inputs(path)


# -- HTML ------------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Acme X200 &amp; Friends</title>
<style>.nav { color: red }</style><script>var tracking = "SCRIPT-TEXT";</script></head>
<body>
<header><nav><a href="/">Home</a> <a href="/shop">Shop</a></nav><p>SITE-BANNER</p></header>
<aside>ASIDE-TEXT related links</aside>
<main><article>
<h1>The X200 grinder</h1>
<p>The <b>Acme X200</b> grinds beans with 38&nbsp;mm burrs.<br>It has a 60-second timer.</p>
<h2>Errors</h2>
<ul><li>E42 means the burrs are jammed.<li>E7 means the hopper is empty.</ul>
<table><tr><th>Setting</th><th>Use</th></tr><tr><td>1</td><td>Espresso</td></tr></table>
<div hidden>HIDDEN-TEXT</div><p style="display: none">INVISIBLE-TEXT</p>
<svg><title>SVG-TITLE</title></svg>
</article></main>
<footer>FOOTER-TEXT Copyright 2025</footer>
<script>console.log("SCRIPT-TEXT")</script>
</body></html>"""
MARKUP = ("SCRIPT", "SITE-BANNER", "ASIDE", "HIDDEN", "INVISIBLE", "SVG", "FOOTER", "<", "&amp;")


def test_html_main_content_reaches_the_prompt_without_markup_under_its_title(
    tmp_path: Path, server: FakeOpenAIServer, offline_encoding: tiktoken.Encoding
) -> None:
    page = tmp_path / "x200.html"
    page.write_text(PAGE, encoding="utf-8")

    dataset = run(server, page, offline_encoding)

    sent = "\n".join(prompts(server))
    for text in ("grinds beans with 38", "E42 means the burrs are jammed.", "1 | Espresso"):
        assert text in sent
    for text in MARKUP:
        assert text not in sent.replace("Theme: Acme X200 & Friends", "")
    assert {r.theme for r in dataset.records} == {"Acme X200 & Friends"}


def test_html_keeps_headings_lists_and_line_breaks(tmp_path: Path) -> None:
    page = tmp_path / "x200.htm"
    page.write_text(PAGE, encoding="utf-8")

    [document] = iter_documents(page)

    assert document.page_content.startswith(
        "# The X200 grinder\n\nThe Acme X200 grinds beans with 38 mm burrs.\n"
        "It has a 60-second timer.\n\n## Errors\n\n"
        "- E42 means the burrs are jammed.\n- E7 means the hopper is empty.\n\n"
    )


def test_html_without_main_reads_the_body_and_a_declared_charset(tmp_path: Path) -> None:
    page = tmp_path / "old.html"
    html = '<html><head><meta charset="shift_jis"><title>古いページ</title></head><body>'
    html += "<nav>メニュー</nav><form><p>富士山は日本で一番高い山です。</p><button>送信</button>"
    html += "</form></body></html>"  # pages built as one big form still give their text
    page.write_bytes(html.encode("shift_jis"))

    [document] = iter_documents(page)

    assert document.page_content == "富士山は日本で一番高い山です。"
    assert document.metadata["title"] == "古いページ"


# -- Markdown and text -----------------------------------------------------------------------


def test_a_markdown_files_first_heading_is_its_theme(tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("Intro line.\n\n# Season 2025 results\n\n## Final\n\nSpain won.", "utf-8")
    plain = tmp_path / "plain.md"
    plain.write_text("```\n# a comment in code\n```\nNo heading here.", "utf-8")

    [first, second] = iter_documents([notes, plain])

    assert first.metadata["title"] == "Season 2025 results"
    assert "title" not in second.metadata


# -- JSONL and CSV ---------------------------------------------------------------------------


def test_each_jsonl_row_is_a_document_with_its_title_as_theme(
    tmp_path: Path, server: FakeOpenAIServer, offline_encoding: tiktoken.Encoding
) -> None:
    rows = [
        {"title": "Acme X200", "text": "The Acme X200 has twelve grind settings."},
        {"text": "Spain won the 2023 final against England."},
    ]
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    dataset = run(server, path, offline_encoding)

    sent = prompts(server)
    assert len(sent) == 2
    assert "{" not in "".join(sent)  # the text, not the JSON around it
    themes = {r.answer: (r.theme, r.source) for r in dataset.records}
    assert themes[rows[0]["text"]] == ("Acme X200", f"{path}:1")
    assert themes[rows[1]["text"]] == ("corpus", f"{path}:2")


def test_csv_rows_with_other_field_names(tmp_path: Path) -> None:
    path = tmp_path / "articles.csv"
    path.write_text('headline,body\nX200,"Line one.\nLine two."\nE42,Jammed burrs.\n', "utf-8")
    options = LoadOptions(text_field="body", title_field="headline")

    documents = list(iter_documents(path, options))

    assert [(d.page_content, d.metadata["title"], d.metadata["line"]) for d in documents] == [
        ("Line one.\nLine two.", "X200", 2),
        ("Jammed burrs.", "E42", 4),
    ]


def test_rows_without_text_are_reported_by_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"text": "Kept."}\n\n{"text": ""}\n{"title": "no text"}\n', "utf-8")

    notes = check_inputs(path)
    with caplog.at_level(logging.WARNING, logger="qasynth"):
        documents = list(iter_documents(path))

    assert notes == [
        f"{path} line 3: no text in field 'text'; the row is skipped",
        f"{path} line 4: no text in field 'text'; the row is skipped",
    ]
    assert notes[0] in caplog.text and notes[1] in caplog.text
    assert [d.page_content for d in documents] == ["Kept.", "", ""]  # counted as empty


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"body": "x"}\n', r"no 'text' field in the first row; its fields are: body; pass "),
        ('{"text": "ok"}\n{"text": "cut\n', r"line 2: not valid JSON"),
        ('["a list"]\n', r"line 1: a JSON list, not an object"),
        ('{"text": 42}\n', r"line 1: field 'text' holds a number, not text"),
    ],
)
def test_a_bad_table_of_documents_is_one_error_naming_file_and_line(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(DocumentError, match=message):
        check_inputs(path)


# -- folders and kinds -----------------------------------------------------------------------


def test_a_folder_gives_every_kind_it_reads_and_skips_hidden_files_and_chat_data(
    tmp_path: Path,
) -> None:
    root = tmp_path / "docs"
    make_pdf(root / "manual.pdf", MANUAL_PAGES[:1])
    make_docx(root / "sub" / "guide.docx", DOCX_BLOCKS)
    (root / "page.html").write_text(PAGE, encoding="utf-8")
    (root / "notes.md").write_text("# Notes\n\nText.", encoding="utf-8")
    (root / "rows.csv").write_text("text\nRow text.\n", encoding="utf-8")
    (root / "train.jsonl").write_text('{"messages": []}\n', encoding="utf-8")  # chat data
    (root / ".hidden.md").write_text("secret", encoding="utf-8")
    (root / ".git").mkdir()
    (root / ".git" / "notes.txt").write_text("internal", encoding="utf-8")
    (root / "sub" / "~$guide.docx").write_bytes(b"lock file")
    (root / "photo.png").write_bytes(b"\x89PNG")

    notes = check_inputs(root)
    sources = [d.metadata["source"] for d in iter_documents(root)]

    names = ["manual.pdf", "notes.md", "page.html", "rows.csv:2", "sub/guide.docx"]
    assert sources == [str(root / name) for name in names]
    assert len(notes) == 2 and "skipping" in notes[0] and "train.jsonl" in notes[0]
    assert notes[1] == f"skipping 1 file in {root} of kinds qasynth does not read: .png"


def test_include_and_exclude_choose_the_files_of_a_folder(tmp_path: Path) -> None:
    for name in ("a.md", "b.txt", "drafts/c.md", "drafts/old/d.md", "e.MD"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"text of {name}", encoding="utf-8")

    def read(**options: tuple[str, ...]) -> list[str]:
        documents = iter_documents(tmp_path, LoadOptions(**options))  # type: ignore[arg-type]
        return [Path(d.metadata["source"]).relative_to(tmp_path).as_posix() for d in documents]

    assert read(include=("*.md",)) == ["a.md", "drafts/c.md", "drafts/old/d.md", "e.MD"]
    assert read(include=("*.md",), exclude=("drafts/*",)) == ["a.md", "e.MD"]
    assert read(exclude=("**/old/*", "*.txt")) == ["a.md", "drafts/c.md", "e.MD"]
    with pytest.raises(DocumentError, match="matching --include/--exclude"):
        read(include=("*.pdf",))


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("old.doc", b"\xd0\xcf\x11\xe0", r"old\.doc: unsupported file type \.doc .*save it as"),
        ("sheet.xlsx", b"PK", r"unsupported file type \.xlsx"),
        ("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff", r"photo\.png is not a text"),
    ],
)
def test_an_unsupported_file_is_one_error_naming_it(
    tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)

    with pytest.raises(DocumentError, match=message) as caught:
        check_inputs(path)
    assert caught.value.path == path


def test_a_text_file_with_another_suffix_is_still_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "README.rst"
    path.write_text("Plain words.", encoding="utf-8")

    assert [d.page_content for d in iter_documents(path)] == ["Plain words."]


# -- Documents from any LangChain loader -----------------------------------------------------


def test_loader_metadata_gives_theme_and_page(
    server: FakeOpenAIServer, offline_encoding: tiktoken.Encoding
) -> None:
    # what a LangChain PDF loader yields: one Document per page, 0-based "page"
    pages = [
        Document(
            page_content=" ".join(lines),
            metadata={
                "source": "scans/x200.pdf",
                "title": "X200 Manual",
                "page": i,
                "page_label": str(i + 1),
            },
        )
        for i, lines in enumerate(MANUAL_PAGES[:2])
    ]

    dataset = run(server, pages, offline_encoding)

    assert {r.theme for r in dataset.records} == {"X200 Manual"}
    page_of = {r.answer: r.page for r in dataset.records}
    assert page_of[MANUAL_PAGES[0][0]] == 1
    assert page_of[MANUAL_PAGES[1][0]] == 2

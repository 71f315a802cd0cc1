"""Specs for reading inputs into Documents: encodings, line ends, paths and folders."""

from __future__ import annotations

import codecs
import logging
import re
from pathlib import Path
from typing import Any

import pytest
import tiktoken
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from qasynth import DocumentError, synthesize
from qasynth._loaders import check_inputs, iter_documents, read_text_file

JAPANESE = "東京は日本の首都です。\n富士山は高い。"


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_utf8_bom_is_dropped(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.txt", b"\xef\xbb\xbf" + JAPANESE.encode())

    assert read_text_file(path) == JAPANESE
    [doc] = iter_documents(path)
    assert doc.page_content == JAPANESE


def test_windows_and_old_mac_line_ends_become_newlines(tmp_path: Path) -> None:
    path = write(tmp_path / "crlf.txt", b"line one\r\nline two\rline three\n\r\n")

    assert read_text_file(path) == "line one\nline two\nline three\n\n"


def test_a_file_that_is_not_utf8_is_a_document_error_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "shift_jis.txt", b"ok line\n" + JAPANESE.encode("cp932"))

    with pytest.raises(DocumentError) as caught:
        list(iter_documents(path))

    error = caught.value
    assert error.path == path
    assert "shift_jis.txt" in str(error)
    assert "UTF-8" in str(error)
    assert "line 2" in str(error)
    assert isinstance(error.__cause__, UnicodeDecodeError)


@pytest.mark.parametrize(
    ("bom", "codec"),
    [
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
    ],
)
def test_utf16_and_utf32_text_with_a_byte_order_mark_is_read_as_text(
    tmp_path: Path, bom: bytes, codec: str
) -> None:
    text = f"{JAPANESE}\r\nMars has two moons."
    write(tmp_path / "notes.txt", bom + text.encode(codec))
    write(tmp_path / "notes.md", bom + text.encode(codec))
    write(tmp_path / "page.html", bom + f"<p>{JAPANESE}</p><p>Mars</p>".encode(codec))

    documents = list(iter_documents(tmp_path))

    assert [d.page_content for d in documents] == [
        f"{JAPANESE}\nMars has two moons.",
        f"{JAPANESE}\nMars has two moons.",
        f"{' '.join(JAPANESE.split())}\n\nMars",
    ]


def test_the_not_utf8_hint_names_the_path_as_given_and_no_single_encoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "txt" / "latin1.txt", "Café crème.".encode("latin-1"))

    with pytest.raises(DocumentError) as caught:
        read_text_file("txt/latin1.txt")

    message = str(caught.value)
    assert "iconv -f ENCODING -t utf-8 txt/latin1.txt > txt/latin1.utf8.txt" in message
    assert "cp932" in message and "latin-1" in message


@pytest.mark.parametrize(
    ("name", "data", "fragment"),
    [
        (
            "corpus.csv",
            b'text\nok\n"two\nlines"\nCaf\xe9\n',
            "corpus.csv line 5 is not valid UTF-8 (byte 3 of the line",
        ),
        ("corpus.jsonl", b'{"text": "ok"}\n{"text": "Caf\xe9"}\n', "corpus.jsonl line 2"),
        (
            "corpus.csv",
            "text\nok\n".encode("utf-16"),
            "corpus.csv is UTF-16 text (it starts with a UTF-16 byte-order mark), but a table",
        ),
    ],
)
def test_a_table_of_documents_that_is_not_utf8_is_an_error_naming_its_line(
    tmp_path: Path, name: str, data: bytes, fragment: str
) -> None:
    path = write(tmp_path / name, data)

    for inputs in (path, tmp_path):  # named, and in a folder
        with pytest.raises(DocumentError, match=re.escape(fragment)):
            list(iter_documents(inputs))


def test_synthesize_reports_a_non_utf8_file_as_a_document_error(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    good = write(tmp_path / "a_good.txt", b"Mars has two moons.")
    bad = write(tmp_path / "b_cp932.txt", JAPANESE.encode("cp932"))
    model = FakeListChatModel(responses=['{"question_answer_pairs": []}'])

    with pytest.raises(DocumentError, match=r"b_cp932\.txt") as caught:
        synthesize([good, bad], llm=model, progress=False, encoding=offline_encoding)

    assert caught.value.path == bad


def test_a_folder_is_read_recursively_for_txt_and_md_files_in_sorted_order(
    tmp_path: Path,
) -> None:
    root = tmp_path / "notes"
    for name in ("b.txt", "a.md", "sub/c.txt", "sub/deeper/d.MD", "z.txt"):
        write(root / name, f"content of {name}".encode())
    for name in ("data.csv", "image.png", "sub/readme.rst"):
        write(root / name, b"not a document")

    docs = list(iter_documents(root))

    names = ["a.md", "b.txt", "sub/c.txt", "sub/deeper/d.MD", "z.txt"]
    assert [d.metadata["source"] for d in docs] == [str(root / n) for n in names]
    assert [d.page_content for d in docs] == [f"content of {n}" for n in names]


def test_symlinks_are_followed_each_file_is_read_once_and_a_broken_one_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "notes"
    write(root / "a.txt", b"Mars has two moons.")
    write(tmp_path / "elsewhere" / "g.txt", b"Venus has none.")
    (root / "sub").mkdir()
    (root / "sub" / "link_a.txt").symlink_to("../a.txt")  # a second path to a.txt
    (root / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (root / "sub" / "up").symlink_to("..", target_is_directory=True)  # a loop
    (root / "gone.txt").symlink_to("nowhere.txt")

    with caplog.at_level(logging.WARNING, logger="qasynth"):
        docs = list(iter_documents([root, root / "linked" / "g.txt"]))
    notes = check_inputs([root, root / "linked" / "g.txt"])

    assert [d.metadata["source"] for d in docs] == [str(root / "a.txt"), str(root / "linked/g.txt")]
    assert notes == [
        f"skipping {root / 'gone.txt'}: a broken symlink (to nowhere.txt)",
        f"skipping {root / 'sub/link_a.txt'}: the same file as {root / 'a.txt'}, read once",
        f"skipping {root / 'linked/g.txt'}: given twice, read once",
    ]
    assert [r.getMessage() for r in caplog.records] == notes


def test_a_folder_without_text_files_is_a_document_error(tmp_path: Path) -> None:
    write(tmp_path / "data.csv", b"user,assistant\n")

    with pytest.raises(DocumentError, match=r"holds no files qasynth reads"):
        list(iter_documents(tmp_path))


def test_a_string_naming_an_existing_file_is_read_as_that_file(tmp_path: Path) -> None:
    path = write(tmp_path / "world_cup_2023.txt", b"Spain won the final.")

    [doc] = iter_documents(str(path))

    assert doc.page_content == "Spain won the final."
    assert doc.metadata["source"] == str(path)


def test_other_strings_are_text_with_a_numbered_source(tmp_path: Path) -> None:
    docs = list(iter_documents(["Spain won the final.", "first line\nsecond.txt"]))

    assert [(d.page_content, d.metadata["source"]) for d in docs] == [
        ("Spain won the final.", "<text 1>"),
        ("first line\nsecond.txt", "<text 2>"),
    ]


@pytest.mark.parametrize("name", ["missing.txt", "notes/missing.md"])
def test_a_single_line_string_ending_in_txt_or_md_that_does_not_exist_is_an_error(
    name: str, tmp_path: Path
) -> None:
    missing = str(tmp_path / name)

    with pytest.raises(DocumentError, match="file not found") as caught:
        list(iter_documents(missing))

    assert caught.value.path == Path(missing)


def test_a_missing_path_object_is_a_document_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="file not found"):
        list(iter_documents(tmp_path / "gone.txt"))


@pytest.mark.parametrize("item", [42, b"bytes are not text", {"text": "a dict"}, None])
def test_an_unsupported_input_type_is_a_document_error_naming_the_type(item: Any) -> None:
    with pytest.raises(DocumentError, match=type(item).__name__) as caught:
        list(iter_documents(["fine text", item]))

    assert "#2" in str(caught.value)


def test_documents_pass_through_unchanged_and_files_are_read_lazily(tmp_path: Path) -> None:
    doc = Document(page_content="Kept as is.", metadata={"theme": "T", "source": "db:1"})
    late = tmp_path / "late.txt"

    documents = iter_documents([doc, late])
    assert next(documents) is doc
    late.write_text("written after iteration began", encoding="utf-8")  # read only now
    assert next(documents).page_content == "written after iteration began"


@pytest.mark.parametrize("suffix", [".txt", ".md", ".html"])
def test_utf16_without_a_byte_order_mark_is_refused_not_read_as_text_with_nul_bytes(
    tmp_path: Path, suffix: str
) -> None:
    """ASCII letters in UTF-16 are valid UTF-8 with a NUL after each: the model would be
    paid to read "T\\x00h\\x00e\\x00"."""
    path = write(tmp_path / f"notes{suffix}", "The Oslo tram opened in 1875.".encode("utf-16-le"))

    with pytest.raises(DocumentError, match=r"NUL bytes.*UTF-16"):
        list(iter_documents(path))


def test_files_a_folder_holds_but_qasynth_does_not_read_are_named_not_dropped_silently(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "docs"
    write(folder / "a.txt", b"Mars has two moons.")
    for name in ("contract.doc", "old.doc", "data.json", "notes.rst", "x.png", "y.png"):
        write(folder / name, b"\x00")

    notes = check_inputs([folder])

    assert notes == [
        f"skipping 2 files in {folder} of type .doc (the old Word format; save it as .docx): "
        f"{folder / 'contract.doc'}, {folder / 'old.doc'}",
        f"skipping 1 file in {folder} of type .json (a JSON file; write one document per line "
        f"as JSONL (.jsonl) with a 'text' field): {folder / 'data.json'}",
        f"skipping 3 files in {folder} of kinds qasynth does not read: .png ×2, .rst",
    ]


def test_a_table_whose_header_names_a_column_twice_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "corpus.csv", b"text,title,text\nFirst.,T,Second.\n")

    with pytest.raises(DocumentError, match="names column 'text' twice"):
        list(iter_documents(path))

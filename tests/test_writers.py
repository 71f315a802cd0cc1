"""Specs for writing chat JSONL: exact round trips, readable UTF-8, atomic files."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qasynth import Dataset, OutputError, QARecord
from qasynth._writers import write_chat_jsonl, write_jsonl

TRICKY = [
    'He said "hi"',
    "back\\slash \\n not a newline",
    "line one\nline two\r\nline three\rend",
    "tab\there",
    "emoji 🍣👩‍👩‍👧 and a flag 🇯🇵",
    "東京は日本の首都です。「引用」",
    "control \x00 \x01 \x1f \x7f chars",
    "separators \u2028 \u2029 \x85 and a BOM \ufeff inside",
    '{"question_answer_pairs": []}, \'}',
    "",
]
text = st.one_of(
    st.text(),  # any code point except lone surrogates (which UTF-8 cannot hold)
    st.lists(st.sampled_from(TRICKY) | st.text(max_size=3)).map("".join),
)


def record(question: str, answer: str) -> QARecord:
    return QARecord(
        question=question, answer=answer, theme="t", source="s", chunk_id="c", chunk_index=0
    )


def read_lines(path: Path) -> list[dict[str, Any]]:
    """JSONL as its definition says: one JSON value per '\\n'-terminated line."""
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n")
    return [json.loads(line) for line in data.split(b"\n")[:-1]]


@settings(max_examples=150, deadline=None)
@given(pairs=st.lists(st.tuples(text, text), max_size=5), system=st.one_of(st.none(), text))
def test_any_text_survives_a_round_trip_through_chat_jsonl(
    pairs: list[tuple[str, str]], system: str | None
) -> None:
    records = [record(q, a) for q, a in pairs]
    with tempfile.TemporaryDirectory() as tmp:
        via_dataset = Path(tmp, "dataset.jsonl")
        via_writer = Path(tmp, "writer.jsonl")

        Dataset(records).to_jsonl(via_dataset, system_prompt=system)
        count = write_chat_jsonl(via_writer, records, system_prompt=system)

        lines = read_lines(via_dataset)
        assert via_writer.read_bytes() == via_dataset.read_bytes()
    assert count == len(records) == len(lines)
    for line, (question, answer) in zip(lines, pairs, strict=True):
        messages = line["messages"]
        if system:
            assert messages[0] == {"role": "system", "content": system}
            messages = messages[1:]
        assert messages == [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]


def test_output_is_utf8_without_bom_with_newline_line_ends_and_readable_japanese(
    tmp_path: Path,
) -> None:
    path = tmp_path / "train.jsonl"
    records = [record("東京はどこの首都ですか？", "日本です。"), record("Two\r\nlines?", "Yes.")]

    Dataset(records).to_jsonl(path, system_prompt="あなたは親切なアシスタントです。")

    data = path.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\n") == 2 and data.endswith(b"\n")
    assert b"\r" not in data  # a CR in the text is escaped inside the JSON string
    assert "東京はどこの首都ですか？".encode() in data
    assert "あなたは親切なアシスタントです。".encode() in data
    assert b"\\u" not in data


@pytest.mark.parametrize("system_prompt", [None, ""])
def test_without_a_system_prompt_each_line_has_only_user_and_assistant(
    system_prompt: str | None, tmp_path: Path
) -> None:
    path = tmp_path / "train.jsonl"

    write_chat_jsonl(path, [record("Q?", "A.")], system_prompt=system_prompt)

    assert read_lines(path) == [
        {"messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}]}
    ]


def test_a_successful_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "out" / "train.jsonl"

    write_chat_jsonl(path, [record("Q?", "A.")])

    assert sorted(p.name for p in path.parent.iterdir()) == ["train.jsonl"]


def test_a_write_that_fails_midway_keeps_the_old_file_and_leaves_no_temporary_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text('{"old": true}\n', encoding="utf-8")

    def records() -> Iterator[QARecord]:
        yield record("First?", "Written to the temporary file.")
        raise RuntimeError("the source broke half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        write_chat_jsonl(path, records())

    assert path.read_text(encoding="utf-8") == '{"old": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["train.jsonl"]


def test_an_object_that_is_not_json_fails_without_touching_the_target(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"

    with pytest.raises(TypeError):
        write_jsonl(path, [{"ok": 1}, {"bad": object()}])

    assert list(tmp_path.iterdir()) == []


def test_writing_to_a_folder_says_it_is_a_folder(tmp_path: Path) -> None:
    """Not an IsADirectoryError that names a temporary file."""
    with pytest.raises(OutputError, match=re.escape(f"{tmp_path} is a folder; give the")):
        Dataset([]).to_jsonl(tmp_path)
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind

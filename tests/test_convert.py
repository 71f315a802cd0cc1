"""csv_to_jsonl: hand-made Q&A tables (as spreadsheets export them) become chat JSONL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qasynth._convert import ConvertReport, SkippedRow, csv_to_jsonl
from qasynth._errors import ColumnError, DocumentError, InputError


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def read_examples(path: Path) -> list[list[dict[str, str]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["messages"] for line in lines]


def pairs(path: Path) -> list[tuple[str, str]]:
    return [(m[-2]["content"], m[-1]["content"]) for m in read_examples(path)]


def convert(source: Path, tmp_path: Path, **options: Any) -> ConvertReport:
    return csv_to_jsonl(source, tmp_path / "out.jsonl", **options)


# -- what spreadsheets export ----------------------------------------------------------------


def test_excel_utf8_bom_and_crlf_are_dropped_from_header_and_cells(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.csv", "\ufeffuser,assistant\r\nQ1,A1\r\nQ2,A2\r\n")

    report = convert(source, tmp_path)

    assert report.written == 2
    assert pairs(tmp_path / "out.jsonl") == [("Q1", "A1"), ("Q2", "A2")]
    assert b"\r" not in (tmp_path / "out.jsonl").read_bytes()


def test_bom_is_dropped_from_header_even_when_utf8_is_named(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.csv", "\ufeffuser,assistant\nQ,A\n")

    convert(source, tmp_path, encoding="utf-8")

    assert pairs(tmp_path / "out.jsonl") == [("Q", "A")]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_quoted_cells_keep_commas_quotes_and_line_breaks(tmp_path: Path, newline: str) -> None:
    table = ["user,assistant", '"Where, exactly?","Line one\nLine two, with ""quotes"""']
    source = write(tmp_path, "qa.csv", newline.join(table) + newline)

    convert(source, tmp_path)

    assert pairs(tmp_path / "out.jsonl") == [
        ("Where, exactly?", 'Line one\nLine two, with "quotes"')
    ]


def test_line_breaks_inside_cells_become_newlines(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.csv", 'user,assistant\r\nQ,"one\r\ntwo"\r\n')

    convert(source, tmp_path)

    assert pairs(tmp_path / "out.jsonl") == [("Q", "one\ntwo")]


def test_whitespace_is_stripped_from_cells_and_header_names(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.csv", " user , assistant \n  Q  ,\t A \n")

    convert(source, tmp_path)

    assert pairs(tmp_path / "out.jsonl") == [("Q", "A")]


def test_tsv_extension_means_tab_so_commas_stay_in_cells(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.tsv", "user\tassistant\nWho, what?\tThis, that.\n")

    convert(source, tmp_path)

    assert pairs(tmp_path / "out.jsonl") == [("Who, what?", "This, that.")]


@pytest.mark.parametrize("name", ["qa.csv", "qa.txt"])
def test_tab_delimiter_is_sniffed_from_the_header_line(tmp_path: Path, name: str) -> None:
    source = write(tmp_path, name, "user\tassistant\nWho, what?\tThis, that.\n")

    convert(source, tmp_path)

    assert pairs(tmp_path / "out.jsonl") == [("Who, what?", "This, that.")]


def test_semicolon_delimiter_is_sniffed_ignoring_quoted_commas(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.csv", '"user, the asker";assistant\nQ, really;A, yes\n')

    convert(source, tmp_path, user_column="user, the asker")

    assert pairs(tmp_path / "out.jsonl") == [("Q, really", "A, yes")]


@pytest.mark.parametrize("delimiter", ["\t", "\\t", "tab"])
def test_explicit_tab_delimiter_overrides_the_extension(tmp_path: Path, delimiter: str) -> None:
    source = write(tmp_path, "qa.csv", "user\tassistant\nQ, 1\tA, 1\n")

    convert(source, tmp_path, delimiter=delimiter)

    assert pairs(tmp_path / "out.jsonl") == [("Q, 1", "A, 1")]


def test_input_format_tsv_overrides_the_extension(tmp_path: Path) -> None:
    source = write(tmp_path, "export.dat", "user\tassistant\nQ, 1\tA, 1\n")

    convert(source, tmp_path, input_format="tsv")

    assert pairs(tmp_path / "out.jsonl") == [("Q, 1", "A, 1")]


def test_unknown_extension_asks_for_input_format(tmp_path: Path) -> None:
    source = write(tmp_path, "export.dat", "user,assistant\nQ,A\n")

    with pytest.raises(InputError, match=r"input_format='csv'.*--input-format csv"):
        convert(source, tmp_path)


def test_excel_unicode_text_utf16_is_read_without_an_encoding(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.txt", "user\tassistant\r\n質問\t回答\r\n".encode("utf-16"))

    convert(source, tmp_path)

    assert pairs(tmp_path / "out.jsonl") == [("質問", "回答")]


# -- encodings -------------------------------------------------------------------------------


SHIFT_JIS_TABLE = "user,assistant\n富士山の高さは？,3776メートルです。\n"


def test_cp932_file_is_read_when_the_encoding_is_given(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.csv", SHIFT_JIS_TABLE.encode("cp932"))

    convert(source, tmp_path, encoding="cp932")

    assert pairs(tmp_path / "out.jsonl") == [("富士山の高さは？", "3776メートルです。")]


def test_cp932_file_without_encoding_says_where_and_suggests_cp932(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.csv", SHIFT_JIS_TABLE.encode("cp932"))

    with pytest.raises(DocumentError) as caught:
        convert(source, tmp_path)

    message = str(caught.value)
    assert "not valid UTF-8" in message
    assert "line 2" in message
    assert "encoding='cp932'" in message
    assert "--encoding cp932" in message
    assert caught.value.path == source
    assert not (tmp_path / "out.jsonl").exists()


def test_unknown_encoding_name_is_an_input_error(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.csv", "user,assistant\nQ,A\n")

    with pytest.raises(InputError, match="unknown encoding 'klingon'"):
        convert(source, tmp_path, encoding="klingon")


def test_missing_file_is_a_document_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="file not found"):
        convert(tmp_path / "nope.csv", tmp_path)


# -- rows that cannot be used ----------------------------------------------------------------


def test_blank_rows_are_skipped_and_counted(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.csv", "user,assistant\nQ1,A1\n\n , \nQ2,A2\n")

    report = convert(source, tmp_path)

    assert (report.rows_read, report.written, report.blank_rows) == (4, 2, 2)
    assert report.skipped == ()


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_empty_cell_is_reported_at_the_physical_line_where_its_row_starts(
    tmp_path: Path, newline: str
) -> None:
    rows = [
        "user,assistant",  # line 1
        '"A question that',  # line 2: this record spans two lines
        'spans two lines",A1',  # line 3
        "Q2,",  # line 4: empty answer
        '"Q3 also spans',  # line 5: empty answer, on a record that spans two lines
        'two lines",',  # line 6
        ",A4",  # line 7: empty question
        "Q5,A5",  # line 8
    ]
    source = write(tmp_path, "qa.csv", newline.join(rows) + newline)

    report = convert(source, tmp_path)

    assert report.skipped == (
        SkippedRow(4, "empty 'assistant' cell"),
        SkippedRow(5, "empty 'assistant' cell"),
        SkippedRow(7, "empty 'user' cell"),
    )
    assert report.written == 2


def test_strict_mode_raises_naming_line_and_column_and_writes_nothing(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    output.write_text("previous run\n", encoding="utf-8")
    source = write(tmp_path, "qa.csv", 'user,assistant\n"two\nlines",A1\nQ2,\n')

    with pytest.raises(InputError, match=r"qa\.csv, line 4: empty 'assistant' cell"):
        csv_to_jsonl(source, output, strict=True)

    assert output.read_text(encoding="utf-8") == "previous run\n"


def test_unquoted_delimiter_in_a_cell_skips_the_row_instead_of_losing_text(
    tmp_path: Path,
) -> None:
    source = write(tmp_path, "qa.csv", "user,assistant\nQ1,A1\nQ2,Yes, it does.\n")

    report = convert(source, tmp_path)

    assert report.written == 1
    assert report.skipped[0].line == 3
    assert "3 cells but the header has 2" in report.skipped[0].reason


def test_a_quote_that_is_never_closed_is_an_error_not_a_swallowed_file(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.csv", 'user,assistant\nQ1,"A1\nQ2,A2\nQ3,A3\n')

    with pytest.raises(InputError, match=r"line 2: a quoted cell .* never closed"):
        convert(source, tmp_path)


def test_a_quote_left_open_on_the_last_line_is_named_not_called_an_empty_cell(
    tmp_path: Path,
) -> None:
    """The open quote takes the rest of the line, so the row looked like one with an
    empty answer and was skipped as such."""
    source = write(tmp_path, "qa.csv", 'user,assistant\nQ1,A1\n"Q2 never closed,A2\n')

    with pytest.raises(
        InputError, match=r"line 3: a quoted cell .* never closed, so the rest of the line"
    ):
        convert(source, tmp_path)


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.csv", "user,assistant\n\n")

    with pytest.raises(InputError, match=r"no rows found in .*qa\.csv"):
        convert(source, tmp_path)


def test_file_whose_every_row_is_skipped_is_an_error(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.csv", "user,assistant\nQ1,\n")

    with pytest.raises(InputError, match=r"no usable rows .* line 2: empty 'assistant' cell"):
        convert(source, tmp_path)


def test_output_may_not_overwrite_the_input(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.jsonl", '{"user": "Q", "assistant": "A"}\n')

    with pytest.raises(InputError, match="is the input file"):
        csv_to_jsonl(source, source)


# -- columns ---------------------------------------------------------------------------------


def test_missing_column_lists_the_columns_and_the_option_to_pass(tmp_path: Path) -> None:
    source = write(tmp_path, "data.csv", "user,answer\nQ,A\n")

    with pytest.raises(ColumnError) as caught:
        convert(source, tmp_path)

    assert str(caught.value) == (
        "column 'assistant' not found in data.csv; columns are: user, answer — "
        "pass assistant_column='answer' (CLI: --assistant-column answer)"
    )
    assert caught.value.columns == ["user", "answer"]


def test_missing_column_suggestion_is_shell_quoted(tmp_path: Path) -> None:
    source = write(tmp_path, "data.csv", "Frage,Antwort des Experten\nQ,A\n")

    with pytest.raises(ColumnError, match="--user-column Frage") as caught:
        convert(source, tmp_path, assistant_column="Antwort des Experten")

    assert "columns are: Frage, Antwort des Experten" in str(caught.value)


def test_renamed_columns_are_used(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.csv", "id,Question,Answer\n1,Q,A\n")

    convert(source, tmp_path, user_column="Question", assistant_column="Answer")

    assert pairs(tmp_path / "out.jsonl") == [("Q", "A")]


def test_system_prompt_comes_first_and_a_system_cell_overrides_it(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.csv", "user,assistant,persona\nQ1,A1,You are a pirate.\nQ2,A2,\n")

    convert(source, tmp_path, system_prompt="You are helpful.", system_column="persona")

    systems = [m[0] for m in read_examples(tmp_path / "out.jsonl")]
    assert systems == [
        {"role": "system", "content": "You are a pirate."},
        {"role": "system", "content": "You are helpful."},
    ]


def test_without_any_system_prompt_there_is_no_system_message(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.csv", "user,assistant\nQ,A\n")

    convert(source, tmp_path)

    assert read_examples(tmp_path / "out.jsonl") == [
        [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]
    ]


def test_missing_system_column_is_a_column_error(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.csv", "user,assistant\nQ,A\n")

    with pytest.raises(ColumnError, match="column 'persona' not found"):
        convert(source, tmp_path, system_column="persona")


# -- JSON and JSONL --------------------------------------------------------------------------


def test_json_list_with_question_answer_keys_falls_back_automatically(tmp_path: Path) -> None:
    records = [{"question": "Q1", "answer": "A1"}, {"question": "Q2", "answer": 42}]
    source = write(tmp_path, "qa.json", json.dumps(records))

    report = convert(source, tmp_path)

    assert report.written == 2
    assert pairs(tmp_path / "out.jsonl") == [("Q1", "A1"), ("Q2", "42")]


def test_json_object_holding_one_list_is_read(tmp_path: Path) -> None:
    data = {"meta": {"v": 1}, "items": [{"user": "Q", "assistant": "A"}]}
    source = write(tmp_path, "qa.json", json.dumps(data))

    convert(source, tmp_path)

    assert pairs(tmp_path / "out.jsonl") == [("Q", "A")]


def test_json_records_are_reported_at_the_line_where_they_start(tmp_path: Path) -> None:
    records = [{"question": "Q1", "answer": "A1"}, {"question": "Q2", "answer": ""}]
    source = write(tmp_path, "qa.json", json.dumps(records, indent=2))
    # [ / { / "question" / "answer" / }, / {  <- the second record starts on line 6

    report = convert(source, tmp_path)

    assert report.skipped == (SkippedRow(6, "empty 'answer' cell"),)


def test_invalid_json_is_an_input_error_with_the_line(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.json", '[\n{"user": "Q", "assistant": "A"},\n{"user": }\n]')

    with pytest.raises(InputError, match=r"qa\.json, line 3 column \d+: not valid JSON"):
        convert(source, tmp_path)


def test_jsonl_records_with_question_answer_keys_and_blank_lines(tmp_path: Path) -> None:
    lines = [
        '{"question": "Q1", "answer": "A1"}',
        "",
        '{"question": "Q2", "answer": null}',
        '{"question": "Q3", "answer": "A3", "source": "faq"}',
    ]
    source = write(tmp_path, "qa.jsonl", "\n".join(lines) + "\n")

    report = convert(source, tmp_path)

    assert (report.rows_read, report.written, report.blank_rows) == (4, 2, 1)
    assert report.skipped == (SkippedRow(3, "empty 'answer' cell"),)
    assert pairs(tmp_path / "out.jsonl") == [("Q1", "A1"), ("Q3", "A3")]


def test_ndjson_extension_and_named_keys_are_used(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.ndjson", '{"prompt": "Q", "completion": "A", "sys": "S"}\n')

    convert(
        source, tmp_path, user_column="prompt", assistant_column="completion", system_column="sys"
    )

    assert read_examples(tmp_path / "out.jsonl")[0][0] == {"role": "system", "content": "S"}


def test_invalid_jsonl_line_is_an_input_error_with_the_line(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.jsonl", '{"user": "Q", "assistant": "A"}\n\n{"user": "Q2",\n')

    with pytest.raises(InputError, match=r"qa\.jsonl, line 3 column \d+: not valid JSON"):
        convert(source, tmp_path)


def test_jsonl_line_that_is_not_an_object_is_skipped(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.jsonl", '["Q", "A"]\n{"user": "Q", "assistant": "A"}\n')

    report = convert(source, tmp_path)

    assert report.skipped == (SkippedRow(1, "record is not an object (got list)"),)


def test_missing_json_key_names_both_the_key_and_its_fallback(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.jsonl", '{"prompt": "Q", "assistant": "A"}\n')

    with pytest.raises(ColumnError) as caught:
        convert(source, tmp_path)

    assert "key 'user' (or 'question') not found in qa.jsonl; keys are: prompt, assistant" in str(
        caught.value
    )
    assert "user_column='prompt'" in str(caught.value)


# -- output ----------------------------------------------------------------------------------


JAPANESE = ("日本の首都はどこですか？", "東京です。\n「とうきょう」と読みます 🗼")


def test_japanese_text_is_readable_in_the_output_and_round_trips_exactly(tmp_path: Path) -> None:
    table = f'user,assistant\n{JAPANESE[0]},"{JAPANESE[1]}"\n'
    source = write(tmp_path, "qa.csv", table)

    convert(source, tmp_path, system_prompt="丁寧に答えてください。")

    raw = (tmp_path / "out.jsonl").read_text(encoding="utf-8")
    assert "\\u" not in raw
    assert JAPANESE[0] in raw
    assert pairs(tmp_path / "out.jsonl") == [JAPANESE]
    assert read_examples(tmp_path / "out.jsonl")[0][0]["content"] == "丁寧に答えてください。"


def test_report_summary_is_one_line_with_the_counts(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.csv", "user,assistant\nQ1,A1\n\nQ2,\nQ3,A3\n")

    report = convert(source, tmp_path)

    assert report.output == tmp_path / "out.jsonl"
    assert report.source == source
    summary = report.summary()
    assert "\n" not in summary
    assert summary.startswith("wrote 2 examples to ")
    assert "4 rows read, 1 blank, 1 skipped (line 4: empty 'assistant' cell)" in summary


def test_one_column_for_both_the_question_and_the_answer_is_refused(tmp_path: Path) -> None:
    source = write(tmp_path, "data.csv", "Question,Answer\nWho makes the X200?,Acme.\n")

    with pytest.raises(InputError, match="both name 'Question'"):
        csv_to_jsonl(source, tmp_path / "out.jsonl", user_column="Question",
                     assistant_column="Question")  # fmt: skip
    assert not (tmp_path / "out.jsonl").exists()


def test_a_header_that_names_a_column_twice_is_refused(tmp_path: Path) -> None:
    source = write(tmp_path, "qa.csv", "Question,Question,Answer\nQ?,Q2?,A.\n")

    with pytest.raises(InputError, match="names column 'Question' twice"):
        csv_to_jsonl(source, tmp_path / "out.jsonl", user_column="Question",
                     assistant_column="Answer")  # fmt: skip

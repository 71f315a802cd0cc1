"""check_jsonl: every problem a provider would reject, with its line, plus cost statistics."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import tiktoken

from qasynth import _pricing as pricing
from qasynth._errors import DocumentError, InputError
from qasynth._filecheck import MIN_EXAMPLES, CheckReport, Problem, check_jsonl
from qasynth._pricing import count_example_tokens, default_epochs


def example(question: str = "Q", answer: str = "A", system: str | None = "Be brief.") -> str:
    messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return json.dumps({"messages": messages}, ensure_ascii=False)


def write_lines(tmp_path: Path, lines: Sequence[str], name: str = "train.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def check(path: Path, encoding: tiktoken.Encoding, **options: Any) -> CheckReport:
    options.setdefault("min_examples", 0)
    return check_jsonl(path, encoding=encoding, **options)


def expected_tokens(messages: Sequence[dict[str, str]], encoding: tiktoken.Encoding) -> int:
    """OpenAI cookbook formula, written out independently of the code under test."""
    total = 3
    for message in messages:
        total += (
            3 + len(encoding.encode(message["role"])) + len(encoding.encode(message["content"]))
        )
        if "name" in message:
            total += len(encoding.encode(message["name"])) + 1
    return total


# -- problems --------------------------------------------------------------------------------


MESSAGES_OK = '[{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]'


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("not json at all", "not valid JSON"),
        ('{"messages": [}', "not valid JSON"),
        ('{"messages": NaN}', "not valid JSON: NaN"),
        ("[1, 2]", "not a JSON object (got list)"),
        ('"just text"', "not a JSON object (got string)"),
        (f'{{"messages": {MESSAGES_OK}, "extra": 1}}', "unknown key 'extra'"),
        ('{"prompt": "Q", "completion": "A"}', "no 'messages' key"),
        ('{"messages": "Q"}', "'messages' is not a list (got string)"),
        ('{"messages": []}', "'messages' is empty"),
        ('{"messages": ["Q", {"role": "assistant", "content": "A"}]}', "messages[0] is not"),
        (
            '{"messages": [{"role": "user", "content": "Q", "text": "Q"}, '
            '{"role": "assistant", "content": "A"}]}',
            "messages[0]: unknown key 'text'",
        ),
        (
            '{"messages": [{"role": "user", "content": "Q"}, '
            '{"role": "tool", "content": "42", "tool_call_id": "x"}, '
            '{"role": "assistant", "content": "A"}]}',
            "messages[1]: role 'tool' is not supported by this checker",
        ),
        (
            '{"messages": [{"role": "function", "content": "42"}, '
            '{"role": "assistant", "content": "A"}]}',
            "role 'function' is not supported by this checker",
        ),
        (
            '{"messages": [{"role": "bot", "content": "Q"}, '
            '{"role": "assistant", "content": "A"}]}',
            "unknown role 'bot'",
        ),
        ('{"messages": [{"content": "Q"}, {"role": "assistant", "content": "A"}]}', "no 'role'"),
        (
            '{"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "A"}]}',
            "messages[0]: content must be a string, got number",
        ),
        (
            '{"messages": [{"role": "user", "content": "Q"}, '
            '{"role": "assistant", "content": "  \\n"}]}',
            "messages[1]: content is empty (only whitespace)",
        ),
        (
            '{"messages": [{"role": "user", "content": "Q"}, {"role": "assistant"}]}',
            "messages[1]: no 'content'",
        ),
        ('{"messages": [{"role": "user", "content": "Q"}]}', "no assistant message"),
        (
            '{"messages": [{"role": "user", "content": "Q"}, '
            '{"role": "assistant", "content": "A", "weight": 2}]}',
            "weight must be 0 or 1",
        ),
        (
            '{"messages": [{"role": "user", "content": "Q", "weight": 1}, '
            '{"role": "assistant", "content": "A"}]}',
            "weight is only allowed on assistant messages",
        ),
        ("", "blank line"),
        ("   ", "blank line"),
    ],
)
def test_each_problem_is_reported_on_its_line(
    tmp_path: Path, offline_encoding: tiktoken.Encoding, line: str, fragment: str
) -> None:
    path = write_lines(tmp_path, [example("Q1"), example("Q2"), line, example("Q4")])

    report = check(path, offline_encoding)

    assert not report.ok
    assert {p.line for p in report.problems} == {3}
    assert any(fragment in p.message for p in report.problems), report.problems
    assert report.examples == 3


def test_allowed_optional_keys_are_not_problems(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    line = json.dumps(
        {
            "messages": [
                {"role": "user", "content": "Weather?", "name": "alice"},
                {"role": "assistant", "content": None, "tool_calls": [], "weight": 0},
                {"role": "assistant", "content": "Sunny.", "weight": 1},
            ],
            "tools": [],
            "parallel_tool_calls": False,
        }
    )
    path = write_lines(tmp_path, [line])

    report = check(path, offline_encoding)

    assert report.problems == ()
    assert report.ok


def test_all_problems_are_reported_in_one_pass(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    lines = [
        example("Q1"),
        "oops",  # 2
        example("Q3"),
        '{"messages": []}',  # 4
        "",  # 5
        '{"messages": [{"role": "user", "content": "Q"}]}',  # 6
        example("Q7"),
        '{"messages": [{"role": "user", "content": ""}, {"role": "bot", "content": "A"}]}',  # 8
    ]
    path = write_lines(tmp_path, lines)

    report = check(path, offline_encoding)

    assert [p.line for p in report.problems] == [2, 4, 5, 6, 8, 8, 8]
    assert report.examples == 3


def test_a_file_that_is_not_utf8_gives_one_problem_and_stops(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    path = tmp_path / "train.jsonl"
    body = example("Q1") + "\n" + example("富士山") + "\n" + "not json\n"
    path.write_bytes(body.encode("cp932"))

    report = check(path, offline_encoding)

    assert len(report.problems) == 1
    assert report.problems[0].line == 2
    assert "not valid UTF-8" in report.problems[0].message
    assert report.examples == 0
    assert report.tokens is None


def test_a_byte_order_mark_is_a_problem_on_line_1(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(("\ufeff" + example() + "\n").encode("utf-8"))

    report = check(path, offline_encoding)

    assert [p.line for p in report.problems] == [1]
    assert "byte order mark" in report.problems[0].message


def test_missing_file_is_a_document_error(offline_encoding: tiktoken.Encoding) -> None:
    with pytest.raises(DocumentError, match="file not found"):
        check_jsonl("/nonexistent/train.jsonl", encoding=offline_encoding)


def test_too_few_examples_is_a_whole_file_problem(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    path = write_lines(tmp_path, [example(f"Q{i}") for i in range(3)])

    report = check_jsonl(path, encoding=offline_encoding)

    assert report.problems == (
        Problem(0, f"3 valid examples; fine-tuning needs at least {MIN_EXAMPLES}"),
    )
    assert str(report.problems[0]).startswith("file: ")


def test_enough_valid_examples_are_ok(tmp_path: Path, offline_encoding: tiktoken.Encoding) -> None:
    path = write_lines(tmp_path, [example(f"Q{i}") for i in range(MIN_EXAMPLES)])

    report = check_jsonl(path, encoding=offline_encoding)

    assert report.ok
    assert "no problems found" in report.format_table()


# -- statistics ------------------------------------------------------------------------------


def test_token_statistics_follow_the_cookbook_formula(
    tmp_path: Path, any_encoding: tiktoken.Encoding
) -> None:
    examples = [
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
        [
            {"role": "system", "content": "You answer in Japanese."},
            {"role": "user", "content": "What is the capital of Japan?"},
            {"role": "assistant", "content": "日本の首都は東京です。"},
        ],
        [
            {"role": "user", "content": "Who are you?", "name": "bob"},
            {"role": "assistant", "content": "A model. " * 20},
        ],
    ]
    path = write_lines(tmp_path, [json.dumps({"messages": m}) for m in examples])
    counts = [expected_tokens(m, any_encoding) for m in examples]

    report = check(path, any_encoding, model="gpt-4o-mini")

    assert report.tokens is not None
    assert (report.tokens.min, report.tokens.max) == (min(counts), max(counts))
    assert report.tokens.median == statistics.median(counts)
    assert report.tokens.p90 == max(counts)
    assert report.total_tokens == sum(counts)
    assert report.epochs == 25 and report.epochs_automatic
    assert report.billed_tokens == 25 * sum(counts)
    assert report.estimated_cost == pytest.approx(25 * sum(counts) / 1e6 * 3.00)
    assert report.price_as_of == "2026-11-01"
    assert report.encoding_name == any_encoding.name


def test_p90_is_the_nearest_rank_over_the_examples(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    lines = [example("Q", "x" * n) for n in range(1, 21)]
    path = write_lines(tmp_path, lines)
    counts = sorted(
        expected_tokens(json.loads(line)["messages"], offline_encoding) for line in lines
    )

    report = check(path, offline_encoding)

    assert report.tokens is not None
    assert report.tokens.p90 == counts[17]  # the 18th of 20: ceil(0.9 * 20)
    assert report.tokens.median == (counts[9] + counts[10]) / 2


def test_count_example_tokens_treats_special_token_text_as_plain_text(
    any_encoding: tiktoken.Encoding,
) -> None:
    messages = [{"role": "user", "content": "<|endoftext|>"}, {"role": "assistant", "content": "A"}]

    assert count_example_tokens(messages, any_encoding) > 6 + 3


@pytest.mark.parametrize(
    ("n", "epochs"),
    [(1, 25), (3, 25), (4, 25), (7, 14), (10, 10), (20, 5), (33, 3), (34, 3), (1000, 3)],
)
def test_automatic_epochs_for_small_files_aim_at_100_examples_seen(n: int, epochs: int) -> None:
    assert default_epochs(n) == epochs


@pytest.mark.parametrize(("n", "epochs"), [(8333, 3), (8334, 2), (10_000, 2), (30_000, 1)])
def test_automatic_epochs_for_large_files_aim_at_25000_examples_seen(n: int, epochs: int) -> None:
    assert default_epochs(n) == epochs


def test_automatic_epochs_are_used_for_the_file_and_given_epochs_win(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    path = write_lines(tmp_path, [example(f"Q{i}") for i in range(20)])

    automatic = check(path, offline_encoding)
    given = check(path, offline_encoding, epochs=2)

    assert (automatic.epochs, automatic.epochs_automatic) == (5, True)
    assert automatic.billed_tokens == 5 * automatic.total_tokens
    assert (given.epochs, given.epochs_automatic) == (2, False)
    assert given.billed_tokens == 2 * given.total_tokens


def test_examples_over_the_limit_are_counted_and_billed_up_to_the_limit(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    path = write_lines(tmp_path, [example("Q"), example("Q", "word " * 100), example("Q2")])
    short = count_example_tokens(json.loads(example("Q"))["messages"], offline_encoding)

    report = check(path, offline_encoding, max_tokens_per_example=short + 1, epochs=1)

    assert report.over_limit == 1
    assert report.over_limit_lines == (2,)
    assert report.billed_tokens == short + (short + 1) + (short + 1)
    assert report.total_tokens > report.billed_tokens
    assert "truncated" in report.format_table()


def test_per_example_limit_comes_from_the_price_table(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    path = write_lines(tmp_path, [example()])

    assert check(path, offline_encoding, model="gpt-4o-mini").max_tokens_per_example == 65536
    assert check(path, offline_encoding, model="gpt-3.5-turbo").max_tokens_per_example == 16385


def test_duplicates_are_found_after_canonicalising_the_messages(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    reordered = (
        '{"messages": [{"content": "Q1", "role": "user"},  {"content": "A", "role": "assistant"}]}'
    )
    lines = [
        example("Q0"),
        example("Q1", system=None),
        example("Q2"),
        example("Q3"),
        example("Q2"),
        example("Q4"),
        reordered,
    ]
    path = write_lines(tmp_path, lines)

    report = check(path, offline_encoding)

    assert report.duplicates == ((5, 3), (7, 2))
    assert "line 7 duplicates line 2" in report.format_table()


def test_cost_uses_the_dated_price_table(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    path = write_lines(tmp_path, [example(f"Q{i}") for i in range(50)])

    report = check(path, offline_encoding, model="openai:gpt-4.1-nano")

    assert report.price_per_mtok == 1.50
    assert report.estimated_cost == pytest.approx(report.billed_tokens / 1e6 * 1.50)
    assert "prices as of 2026-11-01" in report.format_table()


def test_a_given_price_overrides_the_table(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    path = write_lines(tmp_path, [example(f"Q{i}") for i in range(50)])

    report = check(path, offline_encoding, model="gpt-4o-mini", price_per_mtok=10.0)

    assert report.estimated_cost == pytest.approx(report.billed_tokens / 1e6 * 10.0)
    assert report.price_as_of is None


def test_unknown_model_gives_unknown_cost_not_an_error(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    path = write_lines(tmp_path, [example()])

    report = check(path, offline_encoding, model="my-local-llama")

    assert report.ok
    assert report.estimated_cost is None
    assert report.max_tokens_per_example is None
    assert "unknown" in report.format_table()


@pytest.mark.parametrize(
    "options",
    [{"epochs": 0}, {"price_per_mtok": -1.0}, {"max_tokens_per_example": 0}],
)
def test_impossible_options_are_input_errors(
    tmp_path: Path, offline_encoding: tiktoken.Encoding, options: dict[str, Any]
) -> None:
    path = write_lines(tmp_path, [example()])

    with pytest.raises(InputError, match=next(iter(options))):
        check(path, offline_encoding, **options)


# -- reporting -------------------------------------------------------------------------------


def test_table_lists_problems_first_and_caps_them(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    path = write_lines(tmp_path, [example(), *["oops"] * 30])

    table = check(path, offline_encoding).format_table(max_problems=20)

    lines = table.splitlines()
    assert lines[0].endswith("30 problems")
    assert lines[1].startswith("  line 2: not valid JSON")
    assert lines[21] == "  ... and 10 more"
    assert lines[22].startswith("Examples")


def test_report_to_dict_is_json_ready(tmp_path: Path, offline_encoding: tiktoken.Encoding) -> None:
    path = write_lines(tmp_path, [example(), example(), "oops"])

    data = json.loads(json.dumps(check(path, offline_encoding).to_dict()))

    assert data["ok"] is False
    assert data["path"] == str(path)
    assert data["problems"] == [{"line": 3, "message": data["problems"][0]["message"]}]
    assert data["duplicates"] == [{"line": 2, "first_line": 1}]
    assert data["examples"] == 2
    assert set(data["tokens"]) == {"min", "median", "p90", "max"}


# -- price table -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "found"),
    [
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("openai:gpt-4.1-mini", "gpt-4.1-mini"),
        ("ft:gpt-4.1-nano-2025-04-14:acme::abc123", "gpt-4.1-nano"),
        ("GPT-3.5-Turbo-0125", "gpt-3.5-turbo"),
        ("gpt-4.10", None),
        ("claude-sonnet", None),
    ],
)
def test_model_price_matches_the_longest_prefix(model: str, found: str | None) -> None:
    price = pricing.model_price(model)

    assert (price.model if price else None) == found


def test_price_table_is_dated_and_complete() -> None:
    assert pricing.PRICES_AS_OF == "2026-11-01"
    assert "check your provider" in pricing.price_source_note().lower()
    for model in ("gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano"):
        price = pricing.model_price(model)
        assert price is not None
        assert price.training_per_mtok and price.input_per_mtok and price.output_per_mtok
        assert price.max_tokens_per_example and price.encoding
    mini = pricing.model_price("gpt-4o-mini")
    assert mini is not None
    assert (mini.training_per_mtok, mini.input_per_mtok, mini.output_per_mtok) == (3.0, 0.15, 0.6)


def test_unknown_module_attribute_is_still_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        getattr(pricing, "PRICES_AS_OFF")  # noqa: B009


def test_an_empty_file_is_a_problem_even_without_a_minimum(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(b"")

    report = check(path, offline_encoding, min_examples=0)

    assert report.problems == (Problem(0, "the file has no examples"),)
    assert report.tokens is None and report.estimated_cost == 0.0

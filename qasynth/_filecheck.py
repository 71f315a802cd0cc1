"""Checking a chat fine-tuning JSONL file the way a provider does before it accepts a job.

:func:`check_jsonl` reads every line and reports every problem with its line
number (it does not stop at the first), then measures the valid examples:
tokens per example, examples over the model's per-example limit, training
tokens, epochs, billed tokens, an estimated cost and duplicate examples.

Problems: a blank line; not valid JSON or not an object; a key outside
:data:`ALLOWED_KEYS`; ``messages`` missing, not a list or empty; a message that
is not an object, has a key outside :data:`ALLOWED_MESSAGE_KEYS`, or a role
other than system, user, assistant (``tool`` and ``function`` are reported as
unsupported by this checker); content not a string or empty (an assistant
message with ``tool_calls`` or ``function_call`` may omit it); ``weight`` not 0
or 1, or on a non-assistant message; no assistant message; a BOM; fewer than
``min_examples`` valid examples (line 0: the whole file); JSON nested too deeply
to read; a string that is not valid Unicode (a lone surrogate escape such as
``"\\ud800"``: valid JSON, but the provider rejects it). A file that is not
UTF-8 gives one problem, and checking stops there.

Tokens, epochs and billed tokens are worked out as OpenAI's cookbook does (see
:func:`~qasynth._pricing.count_example_tokens`, :func:`~qasynth._pricing.default_epochs`
and :func:`~qasynth._pricing.billed_tokens`); prices and per-example limits come
from the dated table in :mod:`qasynth._pricing` and are estimates.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ._checktally import Tally, value_at
from ._errors import DocumentError, InputError
from ._pricing import default_epochs, model_price, prices_as_of
from ._scratch import scratch_database
from ._tables import json_type
from ._tokens import EncodingLike

__all__ = [
    "ALLOWED_KEYS",
    "ALLOWED_MESSAGE_KEYS",
    "MIN_EXAMPLES",
    "CheckReport",
    "Problem",
    "TokenStats",
    "check_jsonl",
]

ALLOWED_KEYS = frozenset({"messages", "tools", "parallel_tool_calls"})
ALLOWED_MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call"}
)
MIN_EXAMPLES = 10
_ROLES = ("system", "user", "assistant")
_SHOWN_PROBLEMS = 20
_BOM = "starts with a byte order mark (BOM); save the file as UTF-8 without BOM"
_ROLE_LIST = "system, user, assistant"
_SHOWN_DUPLICATES = 5
_TOO_DEEP = "not valid JSON: nested too deeply to read (arrays or objects inside one another)"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Problem:
    """One problem: the 1-based line it is on (0 for the file as a whole) and what is wrong."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else f"file: {self.message}"


@dataclass(frozen=True)
class TokenStats:
    """Tokens per valid example. ``p90`` is the nearest-rank 90th percentile."""

    min: int
    median: float
    p90: int
    max: int

    @classmethod
    def of(cls, counts: Sequence[int]) -> TokenStats | None:
        if not counts:
            return None
        ordered = sorted(counts)
        p90 = ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]
        return cls(ordered[0], statistics.median(ordered), p90, ordered[-1])

    @classmethod
    def of_tally(cls, tally: Tally) -> TokenStats | None:
        """:meth:`of` from the counts of a :class:`~qasynth._checktally.Tally`."""
        if not tally.examples:
            return None
        ordered = sorted(tally.counts)
        p90 = value_at(tally.counts, ordered, max(0, math.ceil(0.9 * tally.examples) - 1))
        return cls(ordered[0], tally.median(), p90, ordered[-1])


@dataclass(frozen=True)
class CheckReport:
    """Everything :func:`check_jsonl` found. ``ok`` is true when there are no problems."""

    path: Path
    model: str
    problems: tuple[Problem, ...]
    examples: int
    """Valid examples (lines without problems); the statistics cover only these."""
    tokens: TokenStats | None
    encoding_name: str | None
    max_tokens_per_example: int | None
    over_limit_lines: tuple[int, ...]
    total_tokens: int
    epochs: int
    epochs_automatic: bool
    billed_tokens: int
    price_per_mtok: float | None
    estimated_cost: float | None
    """US dollars; ``None`` when the model has no known training price."""
    price_as_of: str | None
    """Date of the price table the price came from; ``None`` for a price passed in."""
    duplicates: tuple[tuple[int, int], ...]
    """``(line, first_line)``: the example on ``line`` repeats the one on ``first_line``."""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def over_limit(self) -> int:
        return len(self.over_limit_lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (paths as strings, problems as objects)."""
        data = asdict(self)
        data["path"] = str(self.path)
        data["ok"] = self.ok
        data["over_limit"] = self.over_limit
        data["over_limit_lines"] = list(self.over_limit_lines)
        data["duplicates"] = [{"line": a, "first_line": b} for a, b in self.duplicates]
        return data

    def format_table(self, *, max_problems: int = _SHOWN_PROBLEMS) -> str:
        """A readable multi-line report: problems first, then the statistics."""
        lines = [_problem_heading(self)]
        lines += [f"  {problem}" for problem in self.problems[:max_problems]]
        if len(self.problems) > max_problems:
            lines.append(f"  ... and {len(self.problems) - max_problems} more")
        rows = _stat_rows(self)
        width = max(len(label) for label, _ in rows)
        lines += [f"{label.ljust(width)}  {value}" for label, value in rows]
        return "\n".join(lines)


def check_jsonl(
    path: str | os.PathLike[str],
    *,
    model: str = "gpt-4o-mini",
    encoding: EncodingLike | None = None,
    epochs: int | None = None,
    price_per_mtok: float | None = None,
    max_tokens_per_example: int | None = None,
    min_examples: int = MIN_EXAMPLES,
) -> CheckReport:
    """Check a chat fine-tuning JSONL file and measure what training on it would cost.

    ``encoding`` is a :class:`tiktoken.Encoding` or an encoding name; by default
    the model's. ``epochs``, ``price_per_mtok`` (US dollars per million training
    tokens) and ``max_tokens_per_example`` override the automatic rule and the
    price table. An unknown model is not an error: the cost is then ``None``.
    Raises :class:`~qasynth._errors.DocumentError` when the file cannot be read.
    """
    _check_options(epochs, price_per_mtok, max_tokens_per_example)
    file = Path(path)
    price = model_price(model)
    limit = max_tokens_per_example or (price.max_tokens_per_example if price else None)
    with scratch_database() as db:
        tally = Tally(db, encoding=encoding, model=model, price=price, limit=limit)
        problems, finished = _scan(file, tally)
        if finished and tally.error is not None:
            raise tally.error
        if finished and not tally.examples and not problems:
            problems.append(Problem(0, "the file has no examples"))
        elif finished and tally.examples < min_examples:
            problems.append(Problem(0, _too_few(tally.examples, min_examples)))
        rounds = epochs or default_epochs(tally.examples)
        billed = tally.billed_tokens(rounds)
        rate = price.training_per_mtok if price else None
        rate = rate if price_per_mtok is None else price_per_mtok
        return CheckReport(
            path=file,
            model=model,
            problems=tuple(problems),
            examples=tally.examples,
            tokens=TokenStats.of_tally(tally),
            encoding_name=tally.encoding_name,
            max_tokens_per_example=limit,
            over_limit_lines=tuple(tally.over_limit_lines),
            total_tokens=tally.total_tokens(),
            epochs=rounds,
            epochs_automatic=epochs is None,
            billed_tokens=billed,
            price_per_mtok=rate,
            estimated_cost=None if rate is None else billed / 1_000_000 * rate,
            price_as_of=prices_as_of() if price_per_mtok is None and rate is not None else None,
            duplicates=tally.duplicates(),
        )


# -- reading and validating ------------------------------------------------------------------


def _check_options(
    epochs: int | None, price_per_mtok: float | None, max_tokens_per_example: int | None
) -> None:
    if epochs is not None and (isinstance(epochs, bool) or epochs < 1):
        raise InputError(f"epochs must be a whole number of at least 1, got {epochs!r}")
    if price_per_mtok is not None and price_per_mtok < 0:
        raise InputError(f"price_per_mtok must not be negative, got {price_per_mtok!r}")
    if max_tokens_per_example is not None and max_tokens_per_example < 1:
        raise InputError(
            f"max_tokens_per_example must be at least 1, got {max_tokens_per_example!r}"
        )


def _scan(file: Path, tally: Tally) -> tuple[list[Problem], bool]:
    """Problems, and whether the scan finished; each valid example goes to ``tally``
    (which forgets them all when the scan cannot finish)."""
    problems: list[Problem] = []
    try:
        handle = file.open("rb")
    except FileNotFoundError as exc:
        raise DocumentError(f"file not found: {file}", path=file) from exc
    except OSError as exc:
        raise DocumentError(f"cannot read {file}: {exc.strerror or exc}", path=file) from exc
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                problems.append(Problem(number, _not_utf8(raw, exc)))
                tally.forget()
                return problems, False
            if number == 1 and text.startswith("\ufeff"):
                problems.append(Problem(1, _BOM))
                text = text[1:]
            found, messages = _line_problems(text)
            problems.extend(Problem(number, message) for message in found)
            if messages is not None and not found:
                tally.add(number, messages)
    return problems, True


def _not_utf8(raw: bytes, exc: UnicodeDecodeError) -> str:
    return (
        f"not valid UTF-8 (byte {exc.start} of the line: {raw[exc.start : exc.start + 4]!r}); "
        "save the file as UTF-8 — checking stopped here"
    )


def _too_few(found: int, needed: int) -> str:
    return f"{found} valid example{'' if found == 1 else 's'}; fine-tuning needs at least {needed}"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _line_problems(text: str) -> tuple[list[str], list[Any] | None]:
    if not text.strip():
        return ["blank line; remove it"], None
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        return [_TOO_DEEP], None
    except ValueError as exc:
        detail = f"{exc.msg} (column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else exc
        return [f"not valid JSON: {detail}"], None
    if not isinstance(obj, dict):
        return [f'not a JSON object (got {json_type(obj)}); write {{"messages": [...]}}'], None
    if _SURROGATE_ESCAPE.search(text):  # a pair of escapes decodes to one valid character
        surrogate = _lone_surrogate(obj)
        if surrogate is not None:
            return [surrogate], None
    allowed = ", ".join(sorted(ALLOWED_KEYS))
    found = [f"unknown key {key!r} (allowed: {allowed})" for key in obj if key not in ALLOWED_KEYS]
    messages = obj.get("messages")
    if "messages" not in obj:
        return [*found, "no 'messages' key"], None
    if not isinstance(messages, list):
        return [*found, f"'messages' is not a list (got {json_type(messages)})"], None
    if not messages:
        return [*found, "'messages' is empty"], None
    for index, message in enumerate(messages):
        found += _message_problems(f"messages[{index}]", message)
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
        found.append("no assistant message; each example needs at least one")
    return found, messages


def _lone_surrogate(obj: Any) -> str | None:
    """Where the first string holding a lone surrogate is, and which, or ``None``.

    The walk keeps its own stack: the object may be nested nearly as deep as
    ``json`` reads."""
    stack: list[tuple[str, Any]] = [("", obj)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            items = [(f"{where}.{key}" if where else key, item) for key, item in value.items()]
            stack.extend(reversed(items))
            keys = [key for key in value if _SURROGATE.search(key)]
            if keys:
                value, where = keys[0], f"a key of {where or 'the object'}"
        elif isinstance(value, list):
            stack.extend(reversed([(f"{where}[{i}]", item) for i, item in enumerate(value)]))
        if isinstance(value, str) and (found := _SURROGATE.search(value)):
            return (
                f"{_printable(where)}: not valid Unicode (a lone surrogate "
                f"\\u{ord(found.group()):04x}, which the provider rejects); remove it, or "
                "fix the program that wrote it"
            )
    return None


def _printable(where: str) -> str:
    """``where`` with any surrogate in a key written as its escape."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", where)


def _message_problems(where: str, message: Any) -> list[str]:
    if not isinstance(message, dict):
        return [f"{where} is not an object (got {json_type(message)})"]
    allowed = ", ".join(sorted(ALLOWED_MESSAGE_KEYS))
    found = [
        f"{where}: unknown key {key!r} (allowed: {allowed})"
        for key in message
        if key not in ALLOWED_MESSAGE_KEYS
    ]
    role = message.get("role")
    if "role" not in message:
        found.append(f"{where}: no 'role'")
    elif role in ("tool", "function"):
        found.append(f"{where}: role {role!r} is not supported by this checker (only {_ROLE_LIST})")
    elif role not in _ROLES:
        found.append(f"{where}: unknown role {role!r}; use {_ROLE_LIST}")
    found += _content_problems(where, message)
    if "weight" in message:
        weight = message["weight"]
        if type(weight) is not int or weight not in (0, 1):
            found.append(f"{where}: weight must be 0 or 1, got {weight!r}")
        if role != "assistant":
            found.append(f"{where}: weight is only allowed on assistant messages")
    if "name" in message and not (isinstance(message["name"], str) and message["name"].strip()):
        found.append(f"{where}: name must be a non-empty string, got {message['name']!r}")
    return found


def _content_problems(where: str, message: Mapping[str, Any]) -> list[str]:
    content = message.get("content")
    calls = "tool_calls" in message or "function_call" in message
    if content is None and calls and message.get("role") == "assistant":
        return []
    if "content" not in message:
        return [f"{where}: no 'content'"]
    if not isinstance(content, str):
        return [f"{where}: content must be a string, got {json_type(content)}"]
    if not content.strip():
        return [f"{where}: content is empty" + (" (only whitespace)" if content else "")]
    return []


# -- formatting ------------------------------------------------------------------------------


def _problem_heading(report: CheckReport) -> str:
    count = len(report.problems)
    if not count:
        return f"{report.path}: no problems found"
    return f"{report.path}: {count} problem{'' if count == 1 else 's'}"


def _stat_rows(report: CheckReport) -> list[tuple[str, str]]:
    tokens = report.tokens
    spread = "-"
    if tokens is not None:
        median = f"{tokens.median:,.1f}".removesuffix(".0")
        spread = f"min {tokens.min:,}, median {median}, p90 {tokens.p90:,}, max {tokens.max:,}"
    limit = report.max_tokens_per_example
    limit_text = f"limit {limit:,} tokens per example" if limit else "limit unknown for this model"
    over = f"{report.over_limit} ({limit_text})"
    if report.over_limit_lines:
        shown = ", ".join(str(line) for line in report.over_limit_lines[:_SHOWN_DUPLICATES])
        lines = "line" if len(report.over_limit_lines) == 1 else "lines"
        over += f"; {lines} {shown}" + ("..." if report.over_limit > _SHOWN_DUPLICATES else "")
    mode = "automatic" if report.epochs_automatic else "given"
    return [
        ("Examples", f"{report.examples:,}"),
        ("Tokens per example", spread),
        ("Over the limit", over + ", truncated in training" if report.over_limit else over),
        ("Training tokens", f"{report.total_tokens:,}"),
        ("Epochs", f"{report.epochs} ({mode})"),
        ("Billed tokens", f"{report.billed_tokens:,}"),
        ("Estimated cost", _cost_text(report)),
        ("Duplicates", _duplicates_text(report)),
    ]


def _cost_text(report: CheckReport) -> str:
    if report.estimated_cost is None or report.price_per_mtok is None:
        return (
            f"unknown (no training price for {report.model!r}; pass price_per_mtok, "
            "US dollars per million training tokens)"
        )
    source = f"{report.model}, prices as of {report.price_as_of}" if report.price_as_of else "given"
    return (
        f"{_dollars(report.estimated_cost)} at ${report.price_per_mtok:,.2f} per 1M training "
        f"tokens ({source}; an estimate — check your provider's price page)"
    )


def _duplicates_text(report: CheckReport) -> str:
    if not report.duplicates:
        return "0"
    shown = "; ".join(
        f"line {line} duplicates line {first}"
        for line, first in report.duplicates[:_SHOWN_DUPLICATES]
    )
    more = len(report.duplicates) - _SHOWN_DUPLICATES
    return f"{len(report.duplicates)} ({shown}{f'; and {more} more' if more > 0 else ''})"


def _dollars(amount: float) -> str:
    return f"${amount:,.2f}" if amount >= 1 or amount == 0 else f"${amount:.4f}"

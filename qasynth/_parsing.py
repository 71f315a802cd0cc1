"""Turning a model's reply into question-answer pairs, repairing what we can.

Local repair first, at no cost: a reasoning block before the answer
(``<think>...</think>``, as reasoning models served by Ollama or vLLM write it), prose
or code fences around the JSON (braces in the prose do not hide the JSON after
them), trailing commas, single quotes and Python literals, a truncated array (the
complete pairs are kept), the list under a wrong top-level key. Each pair is validated
on its own, so one bad pair is dropped with a reason and the others are kept.
Only a reply that is still unusable goes to LangChain's ``OutputFixingParser``,
which asks the model to repair it.

This is the only module that imports ``langchain_classic``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import json_repair
from langchain_classic.output_parsers import OutputFixingParser
from langchain_classic.output_parsers.prompts import NAIVE_FIX_PROMPT
from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import PydanticOutputParser
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel, PrivateAttr, ValidationError

from ._constants import DEFAULT_MAX_FIX_ATTEMPTS
from ._errors import ConfigurationError, ParseError
from ._schema import QA, QACollection

__all__ = [
    "DEFAULT_MAX_FIX_ATTEMPTS",
    "ParsedReply",
    "ReplyParser",
    "StructuredParser",
    "message_text",
    "salvage",
]

_LIST_KEY = "question_answer_pairs"
_FENCE = re.compile(r"```[a-zA-Z]*[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)
_KEY_ALIASES = {"q": "question", "a": "answer", "query": "question", "response": "answer"}


@dataclass
class ParsedReply:
    """What one reply yielded: valid pairs, dropped pairs with reasons, repairs made."""

    pairs: list[QA] = field(default_factory=list)
    rejected: list[tuple[str, str, str]] = field(default_factory=list)  # reason, q, a
    repairs: list[str] = field(default_factory=list)
    raw_output: str = ""
    """The reply (and every fix attempt's reply) the pairs were read from."""


def message_text(message: BaseMessage) -> str:
    """The text of a chat message, whatever shape its content has."""
    return message.text if isinstance(message.text, str) else str(message.content)


def _unusable(message: str, text: str) -> OutputParserException:
    return OutputParserException(message, llm_output=text)


_REASONING_END = re.compile(r"</(?:think|thinking|reasoning)>", re.IGNORECASE)
_MAX_CANDIDATES = 20


def _after_reasoning(text: str, repairs: list[str]) -> str:
    """The reply after its reasoning block, if it has one that ends (some servers drop
    the opening tag and keep only the closing one)."""
    ends = list(_REASONING_END.finditer(text))
    if not ends:
        return text
    repairs.append("reasoning_block")
    return text[ends[-1].end() :].strip()


def _extract_candidate(text: str, repairs: list[str]) -> str:
    return next(_candidates(text, repairs))


def _candidates(text: str, repairs: list[str]) -> Iterator[str]:
    """The JSON values the reply may hold, first to last: a code fence's content,
    else each value that opens with ``{`` or ``[`` outside the ones before it (prose
    may hold braces: "pairs like {question, answer}"). Raises when there is none."""
    fence = _FENCE.search(text)
    if fence and fence.group(1).strip():
        repairs.append("code_fence")
        yield fence.group(1).strip()
        return
    position = 0
    for _ in range(_MAX_CANDIDATES):
        starts = [i for i in (text.find("{", position), text.find("[", position)) if i >= 0]
        if not starts:
            if position == 0:
                raise _unusable("the reply contains no JSON object", text)
            return
        start = min(starts)
        candidate = text[start:]
        end = _json_end(candidate)
        if end is not None:
            candidate = candidate[:end]  # drop prose after the JSON
        if start > 0 or text[start + len(candidate) :].strip():
            repairs.append("surrounding_text")
        yield candidate
        if end is None:
            return  # it runs to the end of the reply
        position = start + end


def _first_with_pairs(text: str, repairs: list[str]) -> tuple[Any, list[Any], bool]:
    """The first JSON value of ``text`` that holds a valid pair (else the first value
    that holds a list): the value, its items, and whether it was cut off inside a pair.
    Raises the first value's error when none holds a list."""
    first: tuple[Any, list[Any], bool, list[str]] | None = None
    error: OutputParserException | None = None
    noted: list[str] = []  # the repairs of the candidate just found (code fence, prose)
    for candidate in _candidates(text, noted):
        made = list(noted)
        noted.clear()
        value = _load_lenient(candidate, made)
        try:
            items = _find_items(value, text, made)
        except OutputParserException as exc:
            error = error or exc
            continue
        found = (value, items, _cut_inside_pair(candidate), made)
        if any(_as_pair(item) is not None for item in items):
            first = found
            break
        first = first or found
    if first is None:
        assert error is not None  # _candidates yields a value or raises
        raise error
    repairs.extend(first[3])
    return first[0], first[1], first[2]


def _json_end(candidate: str) -> int | None:
    """Where the JSON value that opens ``candidate`` ends; ``None`` if it is cut off."""
    stack: list[str] = []
    quote = ""
    escaped = False
    for index, char in enumerate(candidate):
        if escaped:
            escaped = False
        elif quote:
            escaped = char == "\\"
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "{[":
            stack.append("}" if char == "{" else "]")
        elif char in "}]":
            if not stack or stack.pop() != char:
                return None  # unbalanced: leave it to json_repair
            if not stack:
                return index + 1
    return None


def _cut_inside_pair(candidate: str) -> bool:
    """Whether the JSON was cut off inside a pair (so its last pair is incomplete)."""
    end = candidate.rstrip()
    if end.endswith(("}", "]")):
        return False
    return not end.rstrip(",").rstrip().endswith("}")


def _load_lenient(candidate: str, repairs: list[str]) -> Any:
    try:
        return json.loads(candidate)
    except json.JSONDecodeError:
        repairs.append("json_repair")  # trailing commas, quotes, Python literals, cut-offs
        return json_repair.loads(candidate)


def _find_items(value: Any, text: str, repairs: list[str]) -> list[Any]:
    if isinstance(value, list):
        repairs.append("bare_list")
        return value
    if not isinstance(value, dict):
        raise _unusable(f"expected a JSON object with {_LIST_KEY!r}", text)
    if isinstance(value.get(_LIST_KEY), list):
        return list(value[_LIST_KEY])
    lists = [
        v for v in value.values() if isinstance(v, list) and any(isinstance(i, dict) for i in v)
    ]
    if lists:
        repairs.append("wrong_key")
        return list(lists[0])
    if {"question", "answer"} <= {str(k).lower() for k in value}:
        repairs.append("single_pair")
        return [value]
    keys = ", ".join(map(str, value)) or "none"
    raise _unusable(f"the JSON object has no {_LIST_KEY!r} list (keys: {keys})", text)


def _as_pair(item: Any) -> QA | None:
    if not isinstance(item, dict):
        return None
    fields: dict[str, str] = {}
    for key, val in item.items():
        name = _KEY_ALIASES.get(str(key).lower(), str(key).lower())
        if isinstance(val, (int, float)) and not isinstance(val, bool):
            val = str(val)
        if name in ("question", "answer") and isinstance(val, str):
            fields[name] = val
    try:
        return QA.model_validate(fields)
    except ValidationError:
        return None


def _describe(item: Any) -> tuple[str, str]:
    if isinstance(item, dict):
        return str(item.get("question") or ""), str(item.get("answer") or "")
    return json.dumps(item, ensure_ascii=False, default=str)[:200], ""


def salvage(text: str) -> ParsedReply:
    """Repair a reply locally and validate each pair; raise when nothing is usable.

    Raises ``OutputParserException`` (with the reply as ``llm_output``) when the
    reply holds no list of pairs, or only pairs that are all malformed.
    """
    reply = ParsedReply()
    stripped = _after_reasoning(text.strip(), reply.repairs)
    truncated = False
    try:
        value: Any = json.loads(stripped)
    except json.JSONDecodeError:
        value, items, truncated = _first_with_pairs(stripped, reply.repairs)
    else:
        items = _find_items(value, text, reply.repairs)
    said_none = isinstance(value, dict) and isinstance(value.get(_LIST_KEY), list)
    if not items and not said_none and {"surrounding_text", "json_repair"} & set(reply.repairs):
        # prose with stray brackets ("I cannot comply {{{"): not a reply that has no pairs
        raise _unusable("the reply holds no pairs: only text and an empty or broken JSON", text)
    for position, item in enumerate(items):
        if truncated and position == len(items) - 1:
            reply.rejected.append(("truncated_pair", *_describe(item)))
            continue
        pair = _as_pair(item)
        if pair is None:
            reply.rejected.append(("malformed_pair", *_describe(item)))
        else:
            reply.pairs.append(pair)
    if items and not reply.pairs and any(r[0] == "malformed_pair" for r in reply.rejected):
        raise _unusable("no item has a string 'question' and a string 'answer'", text)
    return reply


class _LenientParser(PydanticOutputParser[QACollection]):
    """A ``PydanticOutputParser`` for ``QACollection`` that repairs locally first."""

    _outcomes: list[ParsedReply] = PrivateAttr(default_factory=list)

    def parse(self, text: str) -> QACollection:
        reply = salvage(text)
        self._outcomes.append(reply)
        return QACollection(question_answer_pairs=reply.pairs)


class _LenientModelParser(PydanticOutputParser[Any]):
    """A ``PydanticOutputParser`` for any schema, after the same local JSON repair."""

    _outcomes: list[Any] = PrivateAttr(default_factory=list)

    def parse(self, text: str) -> Any:
        repairs: list[str] = []
        stripped = _after_reasoning(text.strip(), repairs)
        try:
            value: Any = json.loads(stripped)
        except json.JSONDecodeError:
            value = _load_lenient(_extract_candidate(stripped, repairs), repairs)
        fields = list(self.pydantic_object.model_fields)
        if isinstance(value, list) and len(fields) == 1:
            value = {fields[0]: value}
        try:
            parsed = self.pydantic_object.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(map(str, first["loc"])) or "reply"
            raise _unusable(f"{where}: {first['msg']}", text) from exc
        self._outcomes.append(parsed)
        return parsed


R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)


class _FixingParser(Generic[R]):
    """Local repair first, then LangChain's ``OutputFixingParser`` asks ``llm``.

    After :meth:`aparse` (successful or not), ``fix_calls`` and ``transcript``
    (the reply and every fixer reply) say what the repair took; tokens are
    counted where every call is, in the model caller. ``llm`` is a chat model, or
    any runnable that takes a prompt and returns an ``AIMessage``; ``None`` means
    no fixer.

    A reply that local repair makes usable is parsed right here (most are); only
    one that is not goes to the ``OutputFixingParser``, built then, which parses it
    again (the same error) before it asks ``llm``.
    """

    def __init__(
        self,
        inner: PydanticOutputParser[Any],
        llm: BaseChatModel | Runnable[Any, Any] | None,
        max_fix_attempts: int,
    ) -> None:
        if max_fix_attempts < 0:
            raise ConfigurationError(f"max_fix_attempts must be 0 or more, got {max_fix_attempts}")
        self.max_fix_attempts = max_fix_attempts if llm is not None else 0
        self.fix_calls = 0
        self.transcript: list[str] = []
        self._local = inner
        self._llm = llm

    def _fixing_parser(self) -> OutputFixingParser[Any]:
        llm = self._llm
        chain = NAIVE_FIX_PROMPT | llm | RunnableLambda(self._record_fix) if llm else None
        return OutputFixingParser(
            parser=self._local, retry_chain=chain, max_retries=self.max_fix_attempts, legacy=False
        )

    def _record_fix(self, message: AIMessage) -> str:
        self.fix_calls += 1
        text = message_text(message)
        self.transcript.append(text)
        return text

    def _result(self) -> R:
        raise NotImplementedError

    def _failure(self, exc: OutputParserException) -> ParseError:
        attempts = 1 + self.fix_calls
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return ParseError(
            f"unusable model output after {attempts} attempt(s): {reason}",
            raw_output="\n\n----- fix attempt -----\n\n".join(self.transcript),
            attempts=attempts,
        )

    async def aparse(self, text: str) -> R:
        self.transcript.append(text)
        try:
            self._local.parse(text)
        except OutputParserException:
            try:
                await self._fixing_parser().aparse(text)
            except OutputParserException as exc:
                raise self._failure(exc) from exc
        return self._result()

    def parse(self, text: str) -> R:
        self.transcript.append(text)
        try:
            self._local.parse(text)
        except OutputParserException:
            try:
                self._fixing_parser().parse(text)
            except OutputParserException as exc:
                raise self._failure(exc) from exc
        return self._result()


class ReplyParser(_FixingParser[ParsedReply]):
    """Parses one chunk's question-answer reply; create one per chunk."""

    def __init__(
        self,
        llm: BaseChatModel | Runnable[Any, Any] | None,
        *,
        max_fix_attempts: int = DEFAULT_MAX_FIX_ATTEMPTS,
    ) -> None:
        self._inner = _LenientParser(pydantic_object=QACollection)
        super().__init__(self._inner, llm, max_fix_attempts)

    def _result(self) -> ParsedReply:
        final = self._inner._outcomes[-1]
        if self.fix_calls:
            final.repairs.append("llm_fix")
        return final


class StructuredParser(_FixingParser[M]):
    """Parses a reply into any Pydantic schema on the same repair path."""

    def __init__(
        self,
        schema: type[M],
        llm: BaseChatModel | Runnable[Any, Any] | None,
        *,
        max_fix_attempts: int = DEFAULT_MAX_FIX_ATTEMPTS,
    ) -> None:
        self._inner = _LenientModelParser(pydantic_object=schema)
        super().__init__(self._inner, llm, max_fix_attempts)

    def _result(self) -> M:
        result: M = self._inner._outcomes[-1]
        return result

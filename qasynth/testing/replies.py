"""What the fake server answers: reply types, the request context, and responders."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

__all__ = [
    "FIXER_REPLY",
    "UNREPAIRABLE_REPLY",
    "Content",
    "Delay",
    "ErrorReply",
    "Hang",
    "RawReply",
    "RecordedRequest",
    "Reply",
    "ReplyContext",
    "Reset",
    "Responder",
    "default_responder",
    "is_fix_request",
    "malformed_responder",
    "qa_pairs",
]


@dataclass(frozen=True)
class Content:
    """A 200 reply with this assistant text; token counts are estimated unless given."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = "stop"
    """``"length"`` for a reply cut off at the token limit."""


@dataclass(frozen=True)
class ErrorReply:
    """An OpenAI-style error reply, with a ``Retry-After`` header when ``retry_after`` is set."""

    status: int
    message: str = "The fake server was told to fail this request."
    retry_after: float | None = None
    error_type: str | None = None
    code: str | None = None
    """The error's ``code`` (``context_length_exceeded``, ``insufficient_quota``, ...)."""


@dataclass(frozen=True)
class RawReply:
    """A reply that is not the API's JSON, such as a proxy's HTML error page."""

    status: int = 200
    body: str = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    content_type: str = "text/html"


@dataclass(frozen=True)
class Reset:
    """Close the connection without replying (a reset, as a crashed proxy gives)."""


@dataclass(frozen=True)
class Hang:
    """Wait ``seconds`` then reply with the default content; closes at once on ``stop()``."""

    seconds: float


@dataclass(frozen=True)
class Delay:
    """Wait ``seconds`` more, then give the ``then`` reply."""

    seconds: float
    then: Reply


Reply: TypeAlias = Content | ErrorReply | RawReply | Reset | Hang | Delay


@dataclass(frozen=True)
class ReplyContext:
    """What a responder sees: the request number, model, messages and the whole body."""

    number: int
    model: str
    messages: list[dict[str, str]]
    temperature: float | None
    body: dict[str, Any] = field(repr=False)

    @property
    def last_user_message(self) -> str:
        """Content of the last ``user`` message ("" when there is none)."""
        users = [m["content"] for m in self.messages if m["role"] == "user"]
        return users[-1] if users else ""

    @property
    def document_message(self) -> str:
        """The last user message holding a ``Text:`` line (the document), else the last one.

        A follow-up such as qasynth's top-up request has no ``Text:`` line; the
        document is in an earlier message.
        """
        users = [m["content"] for m in self.messages if m["role"] == "user"]
        with_text = [u for u in users if "\nText:\n" in u or u.startswith("Text:\n")]
        return with_text[-1] if with_text else self.last_user_message


Responder: TypeAlias = Callable[[ReplyContext], Reply]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received. The Authorization header's value is never kept.

    ``status`` is ``None`` when the connection was closed without a reply (stopped).
    """

    number: int
    path: str
    body: dict[str, Any]
    has_authorization: bool
    status: int | None


# --- the default, cooperative model -------------------------------------------------

FIXER_REPLY = json.dumps(
    {
        "question_answer_pairs": [
            {"question": "What did the fixer repair?", "answer": "The malformed output."}
        ]
    }
)
UNREPAIRABLE_REPLY = "I cannot produce JSON for this."
_FIX_MARKERS = ("Completion:", "Above, the Completion did not satisfy the constraints")
_SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？]*")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff66-\uff9f]")
_WORD = re.compile(r"\w")
_TRAILING = " .!?,;:。！？、，"


def is_fix_request(ctx: ReplyContext) -> bool:
    """Whether the last message is LangChain's ``OutputFixingParser`` prompt."""
    last = ctx.messages[-1]["content"] if ctx.messages else ""
    return all(marker in last for marker in _FIX_MARKERS)


def _document_text(message: str) -> str:
    lines = message.split("\n")
    marks = [i for i, line in enumerate(lines) if line.rstrip("\r") == "Text:"]
    return "\n".join(lines[marks[-1] + 1 :]) if marks else message


def _theme(message: str) -> str:
    for line in message.splitlines():
        if line.startswith("Theme:"):
            theme = line[len("Theme:") :].strip()
            if theme and theme != "(not given)":
                return theme
    return "source"


def _question(sentence: str, theme: str) -> str:
    if _CJK.search(sentence):
        return f"{theme}について「{sentence[:12].rstrip(_TRAILING)}」とは何ですか？"
    head = " ".join(sentence.split()[:6]).rstrip(_TRAILING)
    return f"What does the {theme} text say about {head}?"


def qa_pairs(message: str, *, limit: int = 10) -> list[dict[str, str]]:
    """The default responder's pairs for a user message: one per sentence of its text."""
    theme = _theme(message)
    sentences = [s.strip() for s in _SENTENCE.findall(_document_text(message)) if _WORD.search(s)]
    return [{"question": _question(s, theme), "answer": s} for s in sentences[:limit]]


def _pairs_json(pairs: list[dict[str, str]]) -> str:
    return json.dumps({"question_answer_pairs": pairs}, ensure_ascii=False)


def _listed_items(message: str) -> list[dict[str, Any]]:
    """The JSON list of numbered pairs or questions a step request ends with."""
    start = message.find("[")
    try:
        items = json.loads(message[start:]) if start >= 0 else []
    except json.JSONDecodeError:
        return []
    return [item for item in items if isinstance(item, dict)]


_TRANSLATE = re.compile(r"Translate each question-answer pair into ([^.]+)\.")


def _grade_reply(message: str) -> Reply:
    """The grader's verdict: correct when the answer contains the expected answer
    (case and spacing aside)."""
    try:
        item = json.loads(message[message.find("{") :])
    except json.JSONDecodeError:
        return Content(UNREPAIRABLE_REPLY)
    expected = " ".join(str(item.get("expected_answer", "")).casefold().split())
    answer = " ".join(str(item.get("answer", "")).casefold().split())
    correct = bool(expected) and expected in answer
    reason = "States the expected facts." if correct else "Does not state the expected facts."
    return Content(json.dumps({"correct": correct, "reason": reason}))


def _step_reply(ctx: ReplyContext) -> Reply | None:
    """Answers for qasynth's steps: every pair rated 5 by the judge; each question
    rephrased as "Tell me: ..."; each answer reworded as "In short: ..."; each pair
    translated as "[Language] ..."; answers graded by containment. ``None`` for other requests."""
    system = next((m["content"] for m in ctx.messages if m["role"] == "system"), "")
    if "You grade answers" in system:
        return _grade_reply(ctx.last_user_message)
    items = _listed_items(ctx.last_user_message)
    translate = _TRANSLATE.search(system)
    if translate:
        tag = f"[{translate.group(1)}]"
        translated = [
            {"index": item.get("index", i), "question": f"{tag} {item.get('question', '')}",
             "answer": f"{tag} {item.get('answer', '')}"}
            for i, item in enumerate(items)
        ]  # fmt: skip
        return Content(json.dumps({"translations": translated}, ensure_ascii=False))
    if "You review question-answer pairs" in system:
        ratings = [
            {"index": item.get("index", i), "standalone": 5, "correct": 5, "useful": 5,
             "reason": "Names its subject and matches the text."}
            for i, item in enumerate(items)
        ]  # fmt: skip
        return Content(json.dumps({"ratings": ratings}))
    if "Rephrase each question" in system:
        rephrased = [
            {"index": item.get("index", i),
             "questions": [f"Tell me: {str(item.get('question', '')).rstrip('?')}?"]}
            for i, item in enumerate(items)
        ]  # fmt: skip
        return Content(json.dumps({"paraphrases": rephrased}, ensure_ascii=False))
    if "Reword each answer" in system:
        reworded = [
            {"index": item.get("index", i), "answers": [f"In short: {item.get('answer', '')}"]}
            for i, item in enumerate(items)
        ]
        return Content(json.dumps({"paraphrases": reworded}, ensure_ascii=False))
    return None


def default_responder(ctx: ReplyContext) -> Reply:
    """A cooperative model: pairs from the document, the fixer's repair, or the
    answers qasynth's judge, paraphrase, translation and grading steps ask for."""
    if is_fix_request(ctx):
        return Content(FIXER_REPLY)
    step = _step_reply(ctx)
    if step is not None:
        return step
    return Content(_pairs_json(qa_pairs(ctx.document_message)))


# --- malformed output ---------------------------------------------------------------


def _fenced(pairs: list[dict[str, str]]) -> str:
    return f"Sure! Here are the pairs:\n\n```json\n{_pairs_json(pairs)}\n```\n\nHope this helps."


def _trailing_commas(pairs: list[dict[str, str]]) -> str:
    items = [
        f'{{"question": {json.dumps(p["question"])}, "answer": {json.dumps(p["answer"])},}}'
        for p in pairs
    ]
    return '{"question_answer_pairs": [' + ", ".join(items) + ",],}"


def _python_literals(pairs: list[dict[str, str]]) -> str:
    items = [f"{{'question': {p['question']!r}, 'answer': {p['answer']!r}}}" for p in pairs]
    return "{'question_answer_pairs': [" + ", ".join(items) + "], 'complete': True}"


def _truncated(pairs: list[dict[str, str]]) -> str:
    if len(pairs) < 2:
        return _fenced(pairs)
    question = json.dumps(pairs[1]["question"], ensure_ascii=False)
    cut = question[: max(2, len(question) // 2)]
    first = json.dumps(pairs[0], ensure_ascii=False)
    return f'{{"question_answer_pairs": [{first}, {{"question": {cut}'


_MALFORMERS: tuple[Callable[[list[dict[str, str]]], str], ...] = (
    _fenced,
    _trailing_commas,
    _python_literals,
    _truncated,
)


def _draw(seed: int, message: str) -> tuple[float, int]:
    digest = hashlib.sha256(f"{seed}\x00{message}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64, digest[8]


def malformed_responder(
    fraction: float, *, seed: int = 0, unrepairable_fraction: float = 0.0
) -> Responder:
    """A responder that garbles some replies, chosen by a hash of ``seed`` and the last
    user message (so the same prompts are garbled whatever the arrival order).

    ``fraction`` of replies are malformed in ways local repair can fix (prose and code
    fences, trailing commas, Python literals, an array cut inside its second pair);
    ``unrepairable_fraction`` are prose with no JSON. Fix requests are always answered.
    """
    if fraction < 0 or unrepairable_fraction < 0 or fraction + unrepairable_fraction > 1:
        raise ValueError("fractions must be >= 0 and add up to at most 1")

    def respond(ctx: ReplyContext) -> Reply:
        if is_fix_request(ctx):
            return Content(FIXER_REPLY)
        draw, kind = _draw(seed, ctx.document_message)
        if draw < unrepairable_fraction:
            return Content(UNREPAIRABLE_REPLY)
        pairs = qa_pairs(ctx.document_message)
        if draw < unrepairable_fraction + fraction:
            return Content(_MALFORMERS[kind % len(_MALFORMERS)](pairs))
        return Content(_pairs_json(pairs))

    return respond

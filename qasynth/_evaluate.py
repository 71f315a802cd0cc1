"""Does the model know the facts? Ask it the test questions, rephrased and translated.

:func:`aevaluate` reads a chat JSONL test file (the held-out split ``generate``
makes by chunk), asks every model every question with the file's system
message, and grades each answer against the expected one. With
``paraphrases=N`` and ``languages=[...]`` it also asks N rephrasings of every
question and its translations, so a model that only learned the training
phrasing shows up: high on ``verbatim``, low on ``paraphrase`` and
``translation:xx``. The rephrasings and translations are made once by
``helper_model``, saved beside the test file (``.TEST.jsonl.qasynth-probes.json``)
and reused for every model and every rerun.

Resumable: every graded answer is appended to a state file
(``.RESULTS.jsonl.qasynth-eval.jsonl`` beside ``output``, else beside the test
file); a rerun asks again only what is missing. Both files are hidden, so that
``datasets.load_dataset`` on the folder of the splits skips them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from ._callerrors import classify_error, unreachable
from ._errors import AuthenticationError, InputError, ModelError, QasynthError
from ._eval_results import EvalResult, ProbeResult, summarize
from ._grading import estimate_grading, exact_grade, model_grade
from ._llm import (
    DEFAULT_MODEL,
    base_url_of,
    check_key,
    default_chat_model,
    model_name_of,
    secrets_of,
    where_of,
)
from ._parsing import StructuredParser, message_text
from ._quality.language import language_codes
from ._secrets import redact
from ._statefiles import state_file_beside
from ._sync import run_sync
from .checks._model import LANGUAGE_NAMES, Paraphraser, Paraphrases, Translations, Translator

__all__ = [
    "Probe",
    "aask",
    "aevaluate",
    "answers_path",
    "ask",
    "evaluate",
    "load_test_items",
    "probes_path",
]

logger = logging.getLogger("qasynth")

_BATCH = 20
ModelLike = str | BaseChatModel


@dataclass(frozen=True)
class Probe:
    """One question to ask: its kind (``verbatim``, ``paraphrase``, ``translation:xx``),
    the system message, the expected answer and the test question it comes from."""

    kind: str
    question: str
    expected: str
    system: str | None
    source: str


def load_test_items(path: Path) -> list[Probe]:
    """The verbatim probes of a chat JSONL file: last user message, last assistant one."""
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "not found"
        raise InputError(f"test file {what}: {path}; give a chat JSONL file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text; save it as UTF-8") from exc
    probes: list[Probe] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            messages = json.loads(line)["messages"]
            roles = {m["role"]: m["content"] for m in messages}  # the last of each role
            system = roles.get("system")
            question, expected = roles["user"], roles["assistant"]
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(
                f"{path} line {number}: not a chat example with a user and an assistant "
                f"message ({type(exc).__name__}: {exc}); check it with: qasynth check {path}"
            ) from exc
        probes.append(Probe("verbatim", str(question), str(expected), system, str(question)))
    if not probes:
        raise InputError(f"{path} has no examples; give the test split that generate wrote")
    return probes


def _qkey(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class _Variants:
    """Rephrasings and translations of the test questions, kept beside the test file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {"paraphrase": {}, "translation": {}}
        if path.exists():
            try:
                self.data.update(json.loads(path.read_text(encoding="utf-8")))
            except ValueError:
                logger.warning("eval: %s is unreadable; making the probes again", path)

    def save(self) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        text = json.dumps(self.data, ensure_ascii=False, indent=1)
        temporary.write_text(text + "\n", encoding="utf-8")
        temporary.replace(self.path)

    async def paraphrases(self, items: list[Probe], n: int, helper: BaseChatModel) -> None:
        store: dict[str, list[str]] = self.data["paraphrase"]
        asked: dict[str, int] = self.data.setdefault("paraphrases_asked", {})
        missing = [p for p in items if asked.get(_qkey(p.question), 0) < n]
        for start in range(0, len(missing), _BATCH):
            batch = missing[start : start + _BATCH]
            listed = [{"index": i, "question": p.question} for i, p in enumerate(batch)]
            messages = [
                SystemMessage(content=Paraphraser.instructions.format(n=n)),
                HumanMessage(content="Questions:\n" + json.dumps(listed, ensure_ascii=False)),
            ]
            reply = await _structured(helper, messages, Paraphrases)
            for item in reply.paraphrases:
                if 0 <= item.index < len(batch):
                    found = [q.strip() for q in item.questions if q.strip()]
                    store[_qkey(batch[item.index].question)] = found[:n]
            for probe in batch:
                asked[_qkey(probe.question)] = n
            self.save()

    async def translations(self, items: list[Probe], lang: str, helper: BaseChatModel) -> None:
        store: dict[str, dict[str, str]] = self.data["translation"].setdefault(lang, {})
        missing = [p for p in items if _qkey(p.question) not in store]
        name = LANGUAGE_NAMES.get(lang, lang)
        for start in range(0, len(missing), _BATCH):
            batch = missing[start : start + _BATCH]
            listed = [{"index": i, "question": p.question, "answer": p.expected}
                      for i, p in enumerate(batch)]  # fmt: skip
            messages = [
                SystemMessage(content=Translator.instructions.format(language=name)),
                HumanMessage(content="Pairs:\n" + json.dumps(listed, ensure_ascii=False)),
            ]
            reply = await _structured(helper, messages, Translations)
            for item in reply.translations:
                if 0 <= item.index < len(batch) and item.question.strip():
                    store[_qkey(batch[item.index].question)] = {
                        "question": item.question.strip(), "answer": item.answer.strip()
                    }  # fmt: skip
            self.save()

    def probes(self, items: list[Probe], n: int, languages: Sequence[str]) -> list[Probe]:
        probes = list(items)
        for item in items:
            for question in self.data["paraphrase"].get(_qkey(item.question), [])[:n]:
                probes.append(Probe("paraphrase", question, item.expected, item.system,
                                    item.question))  # fmt: skip
        for lang in languages:
            store = self.data["translation"].get(lang, {})
            for item in items:
                pair = store.get(_qkey(item.question))
                if pair:
                    probes.append(Probe(f"translation:{lang}", pair["question"],
                                        pair["answer"] or item.expected, item.system,
                                        item.question))  # fmt: skip
        return probes


async def _structured(llm: BaseChatModel, messages: list[BaseMessage], schema: Any) -> Any:
    reply = await _call(llm, messages)
    return await StructuredParser(schema, llm).aparse(reply)


async def _call(llm: BaseChatModel, messages: Sequence[BaseMessage]) -> str:
    """One chat call; provider errors become qasynth errors (keys removed)."""
    try:
        return message_text(await llm.ainvoke(list(messages)))
    except QasynthError:
        raise
    except Exception as exc:
        call = classify_error(exc, secrets_of(llm))
        name = model_name_of(llm)
        # from None: the provider's error may quote the key
        if call.kind == "fatal":
            raise AuthenticationError(
                f"model {name!r} refused the request: {call.message}; check the model name, "
                "the API key and --base-url",
                status_code=call.status,
            ) from None
        if call.kind == "unreachable":
            raise unreachable(where_of(llm), call.message) from None
        raise ModelError(f"asking {name!r} failed: {call.message}") from None


def _chat(model: ModelLike, base_url: str | None, api_key: str | None) -> BaseChatModel:
    """The chat model for ``model``, its key checked before anything is sent."""
    if isinstance(model, BaseChatModel):
        chat = model
    else:
        chat = default_chat_model(model, base_url=base_url, api_key=api_key, max_retries=2)
    check_key(chat)
    return chat


def _ask_messages(system: str | None, question: str) -> list[BaseMessage]:
    head: list[BaseMessage] = [SystemMessage(content=system)] if system else []
    return [*head, HumanMessage(content=question)]


async def aask(
    model: ModelLike,
    question: str,
    *,
    system: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
) -> str:
    """Ask ``model`` one question (with an optional system message); its answer."""
    return await _call(_chat(model, base_url, api_key), _ask_messages(system, question))


def ask(model: ModelLike, question: str, **options: Any) -> str:
    """Synchronous :func:`aask` (same options)."""
    return run_sync(aask(model, question, **options))


_ANY_URL = "*"
"""The URL of an answer kept by a version that did not note it: it stands for any."""


class _State:
    """Graded answers so far, appended one JSON line each. An answer is kept for a
    model name and the URL it was asked at: another server that serves a model of the
    same name (a retrained one, a local one) is asked again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.answers: dict[tuple[str, str, str | None, str], str] = {}
        self.grades: dict[tuple[str, str, str, str], bool] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    url = row.get("url", _ANY_URL) or ""
                    key = (row["model"], url, row["system"], row["question"])
                    self.answers[key] = row["answer"]
                    if row.get("grader_model") and row["correct"] is not None:
                        key = (row["grader_model"], row["question"], row["expected"],
                               row["answer"])  # fmt: skip
                        self.grades[key] = bool(row["correct"])
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue  # a line cut short by an interruption

    def answer(self, key: tuple[str, str, str | None, str]) -> str | None:
        found = self.answers.get(key)
        if found is None:
            found = self.answers.get((key[0], _ANY_URL, *key[2:]))
        return found

    def append(self, row: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _row(
    model: str, url: str, probe: Probe, answer: str, correct: bool | None, grader: str | None
) -> dict[str, Any]:
    return {
        "model": model, "url": url, "kind": probe.kind, "system": probe.system,
        "question": probe.question, "expected": probe.expected, "answer": answer,
        "correct": correct, "grader_model": grader,
    }  # fmt: skip


class _Grader:
    def __init__(self, kind: str, llm: BaseChatModel | None, state: _State) -> None:
        self.kind, self.llm, self.state = kind, llm, state
        self.name = None if llm is None else model_name_of(llm)

    def known(self, probe: Probe, answer: str) -> bool:
        """Whether this answer's grade is already kept (always, for the exact grader)."""
        if self.name is None:
            return True
        return (self.name, probe.question, probe.expected, answer) in self.state.grades

    async def grade(self, probe: Probe, answer: str) -> bool | None:
        if self.llm is None or self.name is None:
            return exact_grade(probe.expected, answer)
        key = (self.name, probe.question, probe.expected, answer)
        if key in self.state.grades:
            return self.state.grades[key]
        try:
            grade = await model_grade(self.llm, probe.question, probe.expected, answer)
        except QasynthError as exc:
            logger.warning("eval: could not grade %r: %s", probe.question[:60], exc)
            return None
        self.state.grades[key] = grade.correct
        return grade.correct


async def aevaluate(
    test: str | os.PathLike[str],
    *,
    models: Sequence[ModelLike],
    grader: str = "exact",
    grader_model: ModelLike | None = None,
    paraphrases: int = 0,
    languages: Sequence[str] = (),
    helper_model: ModelLike = DEFAULT_MODEL,
    base_url: str | None = None,
    api_key: str | None = None,
    output: str | os.PathLike[str] | None = None,
    concurrency: int = 8,
    on_estimate: Callable[[str], None] | None = None,
) -> EvalResult:
    """Ask every model every probe of ``test`` and grade the answers; see the module
    docstring. ``grader`` is ``"exact"`` (no model) or ``"model"`` (``grader_model``,
    default ``helper_model``). ``output`` gets one JSON line per model and probe.
    ``on_estimate`` receives the grading cost estimate before grading starts."""
    if grader not in ("exact", "model"):
        raise InputError(f"grader must be 'exact' or 'model', got {grader!r}")
    if not models:
        raise InputError("give at least one model to evaluate (CLI: --model)")
    if paraphrases < 0 or concurrency < 1:
        raise InputError("paraphrases must be 0 or more and concurrency at least 1")
    path = Path(test)
    items = load_test_items(path)
    codes = language_codes(languages, "languages")
    chats = [_chat(m, base_url, api_key) for m in models]
    labels = _labels(chats)
    variants = _Variants(probes_path(path))
    if paraphrases or codes:
        helper = _chat(helper_model, base_url, api_key)
        if paraphrases:
            await variants.paraphrases(items, paraphrases, helper)
        for code in codes:
            await variants.translations(items, code, helper)
    probes = variants.probes(items, paraphrases, codes)
    state = _State(answers_path(path, output))
    judge = None
    if grader == "model":
        judge = _chat(grader_model or helper_model, base_url, api_key)
        if on_estimate is not None:
            cases = [(p.question, p.expected) for p in probes] * len(chats)
            on_estimate(estimate_grading(model_name_of(judge), cases).describe(
                model_name_of(judge)))  # fmt: skip
    grading = _Grader(grader, judge, state)
    limit = asyncio.Semaphore(concurrency)

    async def one(chat: BaseChatModel, label: str, probe: Probe) -> ProbeResult:
        name = model_name_of(chat)
        key = (name, _url_key(chat), probe.system, probe.question)
        async with limit:
            answer = state.answer(key)
            new = answer is None
            if answer is None:
                answer = await _call(chat, _ask_messages(probe.system, probe.question))
            new = new or not grading.known(probe, answer)
            correct = await grading.grade(probe, answer)
            if new:
                state.answers[key] = answer
                grader_name = grading.name if correct is not None else None
                state.append(_row(name, key[1], probe, answer, correct, grader_name))
        return ProbeResult(label, probe.kind, probe.question, probe.expected, answer,
                           correct, probe.source)  # fmt: skip

    tasks = [
        asyncio.ensure_future(one(chat, label, p))
        for chat, label in zip(chats, labels, strict=True)
        for p in probes
    ]
    try:
        results = await asyncio.gather(*tasks)
    finally:  # on a failure or an interruption, stop asking (what is graded is kept)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    result = summarize(list(results), grader=grader)
    if output is not None:
        result.write_jsonl(Path(output))
    return result


def probes_path(test: str | os.PathLike[str]) -> Path:
    """Where the rephrasings and translations of ``test``'s questions are kept."""
    return state_file_beside(Path(test), ".qasynth-probes.json")


def answers_path(
    test: str | os.PathLike[str], output: str | os.PathLike[str] | None = None
) -> Path:
    """Where the graded answers are kept: beside ``output``, else beside ``test``."""
    return state_file_beside(Path(output if output is not None else test), ".qasynth-eval.jsonl")


def _url_key(chat: BaseChatModel) -> str:
    """The server a model is asked at, as kept in the state (never a password)."""
    return redact((base_url_of(chat) or "").rstrip("/"))


def _labels(chats: Sequence[BaseChatModel]) -> list[str]:
    """Each model's name in the results; with its URL when two models share a name.
    The same model at the same URL twice is refused (its answers would count twice)."""
    seen: set[tuple[str, str]] = set()
    for chat in chats:
        key = (model_name_of(chat), _url_key(chat))
        if key in seen:
            at = f" at {key[1]}" if key[1] else ""
            raise InputError(f"model {key[0]!r}{at} is given twice; give each model once")
        seen.add(key)
    names = [model_name_of(chat) for chat in chats]
    return [
        f"{name} ({_url_key(chat) or 'default URL'})" if names.count(name) > 1 else name
        for name, chat in zip(names, chats, strict=True)
    ]


def evaluate(test: str | os.PathLike[str], **options: Any) -> EvalResult:
    """Synchronous :func:`aevaluate` (same options)."""
    return run_sync(aevaluate(test, **options))

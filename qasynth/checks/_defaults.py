"""The checks a run uses, built from simple options."""

from __future__ import annotations

from collections.abc import Sequence

from ._basic import (
    DEFAULT_MAX_ANSWER_CHARS,
    DEFAULT_MAX_QUESTION_CHARS,
    ExactDuplicates,
    MaxLength,
    NonEmpty,
    NotEcho,
)
from ._contract import Check
from ._heuristic import (
    DEFAULT_GROUNDING_THRESHOLD,
    DEFAULT_NEAR_DUPLICATE_THRESHOLD,
    GroundingCheck,
    LanguageCheck,
    NearDuplicates,
    StandaloneCheck,
)
from ._model import LLMJudge, Paraphraser, TopUp, Translator

__all__ = ["default_checks"]


def default_checks(
    *,
    language: str | None = "auto",
    grounding: float | None = DEFAULT_GROUNDING_THRESHOLD,
    standalone: bool = True,
    near_duplicates: float | None = DEFAULT_NEAR_DUPLICATE_THRESHOLD,
    max_question_chars: int = DEFAULT_MAX_QUESTION_CHARS,
    max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS,
    min_pairs_per_chunk: int = 0,
    max_topups: int = 2,
    judge: bool = False,
    judge_threshold: int = 3,
    paraphrases: int = 0,
    also_languages: Sequence[str] = (),
) -> list[Check]:
    """The checks for these options, in the order they run.

    With no arguments: the model-free checks that are on by default (non-empty,
    not an echo, length limits, stand-alone questions, language — ``"auto"`` is the
    chunk's, a code such as ``"ja"`` forces one, ``None`` turns it off — grounding
    and, across the run, exact and near-duplicates). ``None``/``False`` turns a
    check off. The checks that call the model are off unless asked for: top-ups
    to ``min_pairs_per_chunk``, the LLM ``judge``, ``paraphrases`` and translations
    into ``also_languages``. To add a check of your own and keep these, pass
    ``checks=[*default_checks(), MyCheck()]``.
    """
    checks: list[Check] = [
        NonEmpty(),
        NotEcho(),
        MaxLength(max_question_chars=max_question_chars, max_answer_chars=max_answer_chars),
    ]
    if standalone:
        checks.append(StandaloneCheck())
    if language is not None and language.strip().lower() not in ("off", ""):
        code = language.strip().lower()
        checks.append(LanguageCheck(target=None if code == "auto" else code))
    if grounding is not None:
        checks.append(GroundingCheck(threshold=grounding))
    if min_pairs_per_chunk:
        checks.append(TopUp(min_pairs_per_chunk, max_calls=max_topups))
    if judge:
        checks.append(LLMJudge(threshold=judge_threshold))
    if paraphrases:
        checks.append(Paraphraser(paraphrases))
    if also_languages:
        checks.append(Translator(also_languages))
    checks.append(ExactDuplicates())
    if near_duplicates is not None:
        checks.append(NearDuplicates(threshold=near_duplicates))
    return checks

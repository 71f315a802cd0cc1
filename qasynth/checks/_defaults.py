"""The checks a run uses, built from simple options."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from langchain_core.embeddings import Embeddings

from .._errors import ConfigurationError
from .._quality.language import language_codes
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
from ._model import AnswerParaphraser, LLMJudge, Paraphraser, TopUp, Translator
from ._repair import RepairDangling
from ._semantic import (
    DEFAULT_EMBEDDING_MODEL,
    DEFAULT_SEMANTIC_THRESHOLD,
    OpenAIEmbeddingsOnDemand,
    SemanticDuplicates,
)

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
    judge: bool | Literal["all", "uncertain"] | None = False,
    judge_threshold: int = 3,
    paraphrases: int = 0,
    also_languages: str | Sequence[str] = (),
    repair_dangling: bool = False,
    answer_paraphrases: int = 0,
    semantic_duplicates: Embeddings | str | bool | None = None,
    semantic_duplicate_threshold: float = DEFAULT_SEMANTIC_THRESHOLD,
) -> list[Check]:
    """The checks for these options, in the order they run.

    With no arguments: the model-free checks that are on by default (non-empty,
    not an echo, length limits, stand-alone questions, language — ``"auto"`` is the
    chunk's, a code such as ``"ja"`` forces one, ``None`` turns it off — grounding
    and, across the run, exact and near-duplicates). ``None``/``False`` turns a
    check off. The checks that call the model are off unless asked for: top-ups
    to ``min_pairs_per_chunk``, the LLM ``judge`` (``True``/``"all"`` for every
    pair, ``"uncertain"`` for the pairs the model-free checks were unsure about),
    ``repair_dangling`` (questions that do not stand alone rewritten by the model),
    ``paraphrases`` (of questions), ``answer_paraphrases`` and translations into
    ``also_languages``. ``semantic_duplicates`` drops paraphrased questions across
    the run with an embedding model: any LangChain ``Embeddings``, an OpenAI
    embedding model name, or ``True`` for ``text-embedding-3-small``. To add a
    check of your own and keep these, pass ``checks=[*default_checks(), MyCheck()]``.
    """
    checks: list[Check] = [
        NonEmpty(),
        NotEcho(),
        MaxLength(max_question_chars=max_question_chars, max_answer_chars=max_answer_chars),
    ]
    if standalone:
        checks.append(StandaloneCheck())
    if repair_dangling:
        if not standalone:
            raise ConfigurationError("repair_dangling repairs what the stand-alone check rejects; "
                             "turn standalone on, or repair_dangling off")  # fmt: skip
        checks.append(RepairDangling())
    if language is not None and language.strip().lower() not in ("off", ""):
        code = language.strip().lower()
        if code != "auto":
            codes = language_codes(code, "language")
            if len(codes) != 1:
                raise ConfigurationError(
                    f"language: give one language code (or auto, or off), got {language!r}"
                )
            code = codes[0]
        checks.append(LanguageCheck(target=None if code == "auto" else code))
    if grounding is not None:
        checks.append(GroundingCheck(threshold=grounding))
    if min_pairs_per_chunk:
        checks.append(TopUp(min_pairs_per_chunk, max_calls=max_topups))
    if judge:
        mode = "all" if judge is True else judge
        if mode not in ("all", "uncertain"):
            raise ConfigurationError(f"judge must be True, 'all' or 'uncertain', got {judge!r}")
        checks.append(LLMJudge(threshold=judge_threshold, only_uncertain=mode == "uncertain"))
    if paraphrases:
        checks.append(Paraphraser(paraphrases))
    if answer_paraphrases:
        checks.append(AnswerParaphraser(answer_paraphrases))
    languages = language_codes(also_languages, "also_languages")
    if languages:
        checks.append(Translator(languages))
    checks.append(ExactDuplicates())
    embeddings = _embeddings(semantic_duplicates)
    if embeddings is not None:
        checks.append(SemanticDuplicates(embeddings, threshold=semantic_duplicate_threshold))
    if near_duplicates is not None:
        checks.append(NearDuplicates(threshold=near_duplicates))
    return checks


def _embeddings(value: Embeddings | str | bool | None) -> Embeddings | None:
    if value is None or value is False:
        return None
    if value is True:
        return OpenAIEmbeddingsOnDemand(DEFAULT_EMBEDDING_MODEL)
    if isinstance(value, str):
        return OpenAIEmbeddingsOnDemand(value)
    return value

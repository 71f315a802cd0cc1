"""Checks: which pairs are kept, and the contract to write your own.

Every check, built-in or yours, subclasses :class:`Check` (or :class:`PairCheck`
for a one-pair-at-a-time rule) and has a scope: ``"chunk"`` checks run as each
chunk finishes and may call the model; ``"run"`` checks see every kept record
once the run is complete. A check rejects with a reason and evidence, annotates
records and links records that state the same fact, through its context::

    from qasynth.checks import PairCheck, default_checks

    class NoYesNoQuestions(PairCheck):
        name = "no_yes_no"

        def check_pair(self, record, chunk):
            if record.answer.strip().lower() in ("yes", "no"):
                return "yes_no_answer", f"answer: {record.answer}"
            return None

    checks = [*default_checks(), NoYesNoQuestions()]  # Synthesizer(checks=checks)
"""

from __future__ import annotations

import typing

from .._lazy import lazy_exports as _lazy_exports

if typing.TYPE_CHECKING:
    from .._errors import CheckError
    from ._basic import ExactDuplicates, MaxLength, NonEmpty, NotEcho
    from ._contract import CallEstimate, Check, ChunkContext, PairCheck, RunContext
    from ._defaults import default_checks
    from ._heuristic import GroundingCheck, LanguageCheck, NearDuplicates, StandaloneCheck
    from ._model import AnswerParaphraser, LLMJudge, Paraphraser, TopUp, Translator
    from ._repair import RepairDangling
    from ._semantic import OpenAIEmbeddingsOnDemand, SemanticDuplicates

_EXPORTS = {
    "ExactDuplicates": "._basic",
    "MaxLength": "._basic",
    "NonEmpty": "._basic",
    "NotEcho": "._basic",
    "CheckError": ".._errors",
    "CallEstimate": "._contract",
    "Check": "._contract",
    "ChunkContext": "._contract",
    "PairCheck": "._contract",
    "RunContext": "._contract",
    "default_checks": "._defaults",
    "GroundingCheck": "._heuristic",
    "LanguageCheck": "._heuristic",
    "NearDuplicates": "._heuristic",
    "StandaloneCheck": "._heuristic",
    "AnswerParaphraser": "._model",
    "LLMJudge": "._model",
    "Paraphraser": "._model",
    "TopUp": "._model",
    "Translator": "._model",
    "RepairDangling": "._repair",
    "OpenAIEmbeddingsOnDemand": "._semantic",
    "SemanticDuplicates": "._semantic",
}
"""Where each check lives; a module loads when its first name is used."""

__all__ = [
    "AnswerParaphraser",
    "CallEstimate",
    "Check",
    "CheckError",
    "ChunkContext",
    "ExactDuplicates",
    "GroundingCheck",
    "LLMJudge",
    "LanguageCheck",
    "MaxLength",
    "NearDuplicates",
    "NonEmpty",
    "NotEcho",
    "OpenAIEmbeddingsOnDemand",
    "PairCheck",
    "Paraphraser",
    "RepairDangling",
    "RunContext",
    "SemanticDuplicates",
    "StandaloneCheck",
    "TopUp",
    "Translator",
    "default_checks",
]

__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS)

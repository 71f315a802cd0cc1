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

from ._basic import ExactDuplicates, MaxLength, NonEmpty, NotEcho
from ._contract import CallEstimate, Check, ChunkContext, PairCheck, RunContext
from ._defaults import default_checks
from ._heuristic import GroundingCheck, LanguageCheck, NearDuplicates, StandaloneCheck
from ._model import AnswerParaphraser, LLMJudge, Paraphraser, TopUp, Translator
from ._repair import RepairDangling
from ._semantic import OpenAIEmbeddingsOnDemand, SemanticDuplicates

__all__ = [
    "AnswerParaphraser",
    "CallEstimate",
    "Check",
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

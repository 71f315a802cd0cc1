"""Model-free quality heuristics for question-answer data.

- :mod:`.language`: offline language detection: writing systems (:mod:`._scripts`), then a
  bundled model (:mod:`._langmodel`).
- :mod:`.text`: normalisation, tokens (words, or character bigrams for CJK), numbers (read
  by :mod:`._numbers`), names.
- :mod:`.neardup`: MinHash + LSH near-duplicate groups that scale to 100k+ texts;
  :mod:`.neardup_store`: the same groups with the signatures and buckets in SQLite
  (memory flat in the number of texts).
- :mod:`.chunks`: one analysis per chunk (sentences, words, numbers, results), shared by its pairs.
- :mod:`.grounding`: is an answer made of what the part of its chunk the question is
  about says (numbers, names and who beat whom included)? Numbers: :mod:`.figures`;
  winners and losers: :mod:`.roles`.
- :mod:`.standalone`: does a question make sense without its source text? (rules are data)
- :mod:`.splits`: leak-free train/val/test splits by group, merged across near-duplicates.

Everything here is a plain function or class with no model, network or file access at
import time.
"""

from __future__ import annotations

from .chunks import ChunkAnalysis, analyze_chunk
from .grounding import Grounding, grounding_score
from .language import (
    detect_language,
    is_cjk,
    is_unspaced,
    language_scores,
    matches_language,
    same_language,
    script_language,
)
from .neardup import NearDuplicateIndex, find_near_duplicates
from .neardup_store import NearDuplicateStore
from .roles import Outcome, asked_role, outcomes
from .splits import (
    Placed,
    check_fractions,
    merge_group_keys,
    settle_shared_facts,
    split_groups,
    split_of,
)
from .standalone import (
    LanguageRules,
    StandaloneIssue,
    StandaloneRule,
    StandaloneRules,
    check_standalone,
    load_rules,
)
from .text import (
    char_ngrams,
    extract_names,
    extract_numbers,
    has_unspaced_letters,
    normalize,
    normalize_numbers,
    strip_punctuation,
    word_tokens,
)

__all__ = [
    "ChunkAnalysis",
    "Grounding",
    "LanguageRules",
    "NearDuplicateIndex",
    "NearDuplicateStore",
    "Outcome",
    "Placed",
    "StandaloneIssue",
    "StandaloneRule",
    "StandaloneRules",
    "analyze_chunk",
    "asked_role",
    "char_ngrams",
    "check_fractions",
    "check_standalone",
    "detect_language",
    "extract_names",
    "extract_numbers",
    "find_near_duplicates",
    "grounding_score",
    "has_unspaced_letters",
    "is_cjk",
    "is_unspaced",
    "language_scores",
    "load_rules",
    "matches_language",
    "merge_group_keys",
    "normalize",
    "normalize_numbers",
    "outcomes",
    "same_language",
    "script_language",
    "settle_shared_facts",
    "split_groups",
    "split_of",
    "strip_punctuation",
    "word_tokens",
]

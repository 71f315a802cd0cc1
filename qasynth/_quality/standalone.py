"""Flag questions that lean on context they do not contain.

"Who scored in the quarter-final?" or "この大会で優勝したのは？" only make sense next
to the source text; in a fine-tuning set they teach the model nothing it can use.

The rules are data: ``qasynth/data/standalone_rules.json`` holds, per language
code, regular expressions with a name and a human reason, plus the "subject
patterns" that tell when a question names its own subject (a proper noun that
is not the first word, a year, a quoted title; for Japanese a katakana or Latin
name, a 「quoted」 name, a year). A rule marked ``unless_named`` does not fire on
a question that names its subject ("Who won the final of the 2023 FIFA Women's
World Cup?" is fine; "Who won the final?" is not). Every language also has a
length rule: a question of fewer than 4 words (8 characters for Chinese,
Japanese, Korean and Thai) is too short to name what it is about. A language
without an entry gets only the length rule. Add one without code::

    rules = load_rules().merge(load_rules("my_rules.json"))
    rules = load_rules().with_language(
        "de", StandaloneRule("pronoun", "starts with a pronoun", r"(?i)^(er|sie|es)\\b")
    )
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from .._data import load_package_json
from .._errors import InputError
from .language import detect_language, is_cjk, is_unspaced, script_language

__all__ = [
    "LanguageRules",
    "StandaloneIssue",
    "StandaloneRule",
    "StandaloneRules",
    "check_standalone",
    "load_rules",
]

_DATA_FILE = "data/standalone_rules.json"
_WORD = re.compile(r"[^\W_]+")
_LETTER = re.compile(r"[^\W_]")
_UNLESS_NAMED = (None, "anywhere", "before")


@dataclass(frozen=True)
class StandaloneIssue:
    """Why a question is not stand-alone: the rule, its reason and the text it matched."""

    rule: str
    reason: str
    match: str


@dataclass(frozen=True)
class StandaloneRule:
    """One pattern. ``unless_named`` ("anywhere" or "before") skips the rule when the
    question names its subject (anywhere, or before the match); ``unless`` is a
    pattern that skips the rule when it matches."""

    name: str
    reason: str
    pattern: str
    unless_named: Literal["anywhere", "before"] | None = None
    unless: str | None = None
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _unless_regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.unless_named not in _UNLESS_NAMED:
            raise ValueError(
                f"rule {self.name!r}: unless_named must be 'anywhere', 'before' or null, "
                f"got {self.unless_named!r}"
            )
        object.__setattr__(self, "_regex", _compile(self.name, self.pattern))
        unless = None if self.unless is None else _compile(self.name, self.unless)
        object.__setattr__(self, "_unless_regex", unless)

    def find(self, question: str, names_subject: Callable[[str], bool]) -> StandaloneIssue | None:
        """The issue this rule finds in ``question``, if any."""
        match = self._regex.search(question)
        if match is None:
            return None
        return self._issue(question, match, names_subject)

    def _issue(
        self, question: str, match: re.Match[str], names_subject: Callable[[str], bool]
    ) -> StandaloneIssue | None:
        """The issue of ``match``, this rule's match in ``question``, unless let off."""
        if self._unless_regex is not None and self._unless_regex.search(question):
            return None
        if self.unless_named == "anywhere" and names_subject(question):
            return None
        if self.unless_named == "before" and names_subject(question[: match.start()]):
            return None
        return StandaloneIssue(self.name, self.reason, match.group(0))


def _compile(rule: str, pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"rule {rule!r}: invalid regular expression {pattern!r}: {exc}") from exc


@dataclass(frozen=True)
class LanguageRules:
    """The rules of one language. Length is counted in characters (letters and
    digits) when ``min_chars`` is set, else in words when ``min_words`` is set."""

    code: str
    rules: tuple[StandaloneRule, ...] = ()
    subject_patterns: tuple[str, ...] = ()
    min_words: int | None = None
    min_chars: int | None = None
    _subjects: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        name = f"{self.code} subject_patterns"
        subjects = tuple(_compile(name, pattern) for pattern in self.subject_patterns)
        object.__setattr__(self, "_subjects", subjects)

    def names_subject(self, text: str) -> bool:
        """Whether ``text`` names what it is about (see the subject patterns)."""
        return any(subject.search(text) for subject in self._subjects)

    def check(self, question: str) -> list[StandaloneIssue]:
        """Every issue found in an already NFKC-normalised question."""
        return self._check(question)[0]

    def _check(self, question: str) -> tuple[list[StandaloneIssue], str | None]:
        """(:meth:`check`, the first rule let off by a subject named before it,
        ``unless_named == "before"``, whose pattern matches ``question``): each pattern
        is searched once, and whether a text names its subject is asked once."""
        issue = self._length_issue(question)
        found = [] if issue is None else [issue]
        pointing = None
        named: dict[str, bool] = {}

        def names_subject(text: str) -> bool:
            known = named.get(text)
            if known is None:
                known = named[text] = self.names_subject(text)
            return known

        for rule in self.rules:
            match = rule._regex.search(question)
            if match is not None and pointing is None and rule.unless_named == "before":
                pointing = rule.name
            if type(rule).find is not StandaloneRule.find:  # a rule class's own find()
                issue = rule.find(question, names_subject)
            elif match is None:
                continue
            else:
                issue = rule._issue(question, match, names_subject)
            if issue is not None:
                found.append(issue)
        return found, pointing

    def _length_issue(self, question: str) -> StandaloneIssue | None:
        if self.min_chars is not None:
            if len(_LETTER.findall(question)) < self.min_chars:
                reason = f"too short to name its subject (fewer than {self.min_chars} characters)"
                return StandaloneIssue("too_short", reason, question)
        elif self.min_words is not None and len(_WORD.findall(question)) < self.min_words:
            reason = f"too short to name its subject (fewer than {self.min_words} words)"
            return StandaloneIssue("too_short", reason, question)
        return None


@dataclass(frozen=True)
class StandaloneRules:
    """Rules for every configured language, plus the length defaults for the rest."""

    languages: tuple[LanguageRules, ...] = ()
    default_min_words: int = 4
    default_min_chars: int = 8

    @property
    def codes(self) -> list[str]:
        """The configured language codes, sorted."""
        return sorted(entry.code for entry in self.languages)

    def for_language(self, code: str) -> LanguageRules:
        """The rules for ``code``; an unknown language gets only the length rule."""
        min_words, min_chars = self._length_defaults(code)
        for entry in self.languages:
            if entry.code == code:
                if entry.min_words is None and entry.min_chars is None:
                    return replace(entry, min_words=min_words, min_chars=min_chars)
                return entry
        return LanguageRules(code, min_words=min_words, min_chars=min_chars)

    def _length_defaults(self, code: str) -> tuple[int | None, int | None]:
        """(min_words, min_chars): characters for CJK and Thai, words otherwise."""
        if is_cjk(code) or is_unspaced(code):
            return None, self.default_min_chars
        return self.default_min_words, None

    def with_language(
        self,
        code: str,
        *rules: StandaloneRule,
        subject_patterns: Sequence[str] = (),
        min_words: int | None = None,
        min_chars: int | None = None,
    ) -> StandaloneRules:
        """A copy with rules added to ``code`` (a rule with an existing name replaces it)."""
        addition = LanguageRules(code, tuple(rules), tuple(subject_patterns), min_words, min_chars)
        return self.merge(StandaloneRules((addition,)))

    def merge(self, other: StandaloneRules) -> StandaloneRules:
        """A copy with ``other``'s languages merged in: its rules replace same-named
        rules, its subject patterns are added and its lengths win when set."""
        merged = {entry.code: entry for entry in self.languages}
        for entry in other.languages:
            merged[entry.code] = _merge_language(merged.get(entry.code), entry)
        return replace(self, languages=tuple(merged[code] for code in sorted(merged)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "rules") -> StandaloneRules:
        """Build rules from the JSON structure of ``qasynth/data/standalone_rules.json``."""
        try:
            default = data.get("default", {})
            languages = tuple(
                _language_from_dict(code, entry) for code, entry in data["languages"].items()
            )
            return cls(
                languages,
                default_min_words=int(default.get("min_words", 4)),
                default_min_chars=int(default.get("min_chars", 8)),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise InputError(
                f"{source}: not a valid standalone rules file ({type(exc).__name__}: {exc}); "
                f"follow the layout of qasynth/{_DATA_FILE}"
            ) from exc


def _merge_language(base: LanguageRules | None, extra: LanguageRules) -> LanguageRules:
    if base is None:
        return extra
    replaced = {rule.name for rule in extra.rules}
    rules = tuple(rule for rule in base.rules if rule.name not in replaced) + extra.rules
    patterns = base.subject_patterns + tuple(
        pattern for pattern in extra.subject_patterns if pattern not in base.subject_patterns
    )
    return LanguageRules(
        base.code,
        rules,
        patterns,
        extra.min_words if extra.min_words is not None else base.min_words,
        extra.min_chars if extra.min_chars is not None else base.min_chars,
    )


def _language_from_dict(code: str, entry: Mapping[str, Any]) -> LanguageRules:
    rules = tuple(
        StandaloneRule(
            name=str(rule["name"]),
            reason=str(rule["reason"]),
            pattern=str(rule["pattern"]),
            unless_named=rule.get("unless_named"),
            unless=rule.get("unless"),
        )
        for rule in entry.get("rules", [])
    )
    min_words, min_chars = entry.get("min_words"), entry.get("min_chars")
    return LanguageRules(
        code=str(code),
        rules=rules,
        subject_patterns=tuple(str(pattern) for pattern in entry.get("subject_patterns", [])),
        min_words=None if min_words is None else int(min_words),
        min_chars=None if min_chars is None else int(min_chars),
    )


def load_rules(path: str | Path | None = None) -> StandaloneRules:
    """Rules from a JSON file, or the built-in rules (read once, on first use)."""
    if path is None:
        return _default_rules()
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read standalone rules from {str(path)!r}: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{str(path)!r}: standalone rules must be a JSON object")
    return StandaloneRules.from_dict(data, source=str(path))


@functools.cache
def _default_rules() -> StandaloneRules:
    data = load_package_json(_DATA_FILE)
    return StandaloneRules.from_dict(data, source=f"qasynth/{_DATA_FILE}")


def check_standalone(
    question: str, *, lang: str | None = None, rules: StandaloneRules | None = None
) -> list[StandaloneIssue]:
    """Reasons ``question`` does not stand on its own (empty when it does).
    ``lang`` is detected when omitted; ``rules`` default to the built-in ones."""
    return _judge(question, lang, rules)[0]


def _judge(
    question: str, lang: str | None, rules: StandaloneRules | None
) -> tuple[list[StandaloneIssue], str | None]:
    """(:func:`check_standalone`, the first rule that a subject named before its match
    would let off whose pattern matches): see :meth:`LanguageRules._check`."""
    text = unicodedata.normalize("NFKC", question).strip()
    code = lang if lang is not None else detect_language(text)
    if code == "und":  # too short for the model to be sure: go by the writing system
        code = script_language(text)
    return (rules if rules is not None else load_rules()).for_language(code)._check(text)

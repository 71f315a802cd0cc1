"""Who beat whom: winner and loser roles read from a sentence, for grounding.

A lexical answer check passes "England beat Spain" when the text says "Spain beat
England": every word is there. This module reads the roles that asymmetric verbs
give the names around them ("A beat B", "B lost to A", "B was beaten by A",
"AがBを破った", "BがAに敗れた") and what role a question asks for ("Who won ...?",
"Who did Spain beat?", "優勝したのは？", "準優勝は？"), so that an answer naming the
loser of a match it was asked the winner of can be caught.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

__all__ = ["Outcome", "asked_role", "outcomes"]

Role = Literal["winner", "loser"]

_NAME = r"[A-Z][\w'’.&-]*(?:\s+(?:of|de|la|van|von|del|the)?\s*[A-Z][\w'’.&-]*)*"
_WIN_VERBS = (
    r"beat|beats|beating|beaten|defeated|defeats|defeating|overcame|overcomes|overcoming|edged|edges|"
    r"edging|thrashed|thrashing|routed|outscored|outplayed|eliminated|eliminating|knocked\s+out|"
    r"ousted|upset|downed|dethroned|swept|crushed|crushing|outlasted|outpointed|outpolled|"
    r"won\s+against|won\s+over|triumphed\s+over|prevailed\s+over|came\s+from\s+behind\s+to\s+beat"
)
_LOSE_VERBS = (
    r"lost\s+to|loses\s+to|losing\s+to|fell\s+to|falling\s+to|succumbed\s+to|bowed\s+to|"
    r"(?:was|were)\s+(?:beaten|defeated|eliminated|knocked\s+out|edged|thrashed|routed|upset|"
    r"ousted|overcome|crushed)\s+by"
)
# What may stand between a name and its verb: a few lower-case words or commas.
_BETWEEN = r"(?:[\s,]+(?![A-Z])[^\s,.;:!?]+){0,5}?[\s,]+"
_OBJECT = r"\s+(?:the\s+)?(?:[a-z][\w-]*\s+){0,2}?"  # "the incumbent", "holders"
_EN_WIN = re.compile(rf"(?P<a>{_NAME}){_BETWEEN}(?:{_WIN_VERBS})\b{_OBJECT}(?P<b>{_NAME})")
_EN_LOSE = re.compile(rf"(?P<a>{_NAME}){_BETWEEN}(?:{_LOSE_VERBS})\b{_OBJECT}(?P<b>{_NAME})")
# "LawConnect took line honours in 1 day and 3 minutes, beating Comanche by 50 minutes"
_EN_WIN_AFTER = re.compile(
    rf"(?P<a>{_NAME})(?:[\s,]+(?![A-Z])[^\s,.;:!?]+){{0,16}}?,\s+"
    rf"(?:beating|defeating|edging|overcoming|outlasting|ahead\s+of){_OBJECT}(?P<b>{_NAME})"
)
_EN_WON = re.compile(rf"(?P<a>{_NAME})\s+(?:won|clinched|claimed|took|captured)\b")

_JA_NOUN = r"[一-龥々]*[ァ-ヺー・]{2,}|[一-龥々]{2,}|[A-Za-z][A-Za-z0-9.&'-]*"
_HAS_JA = re.compile(r"[\u3040-\u30ff]")
# "(?=[...])" first, the verbs' first letters: the engine skips to them, where "\b" first
# would be tried at every character.
_HAS_EN_VERB = re.compile(
    r"(?=[abcdefkloprstuw])"
    r"\b(?:beat|beats|beating|beaten|defeat\w*|overc\w+|edg\w+|thrash\w+|routed|outs\w+|"
    r"outp\w+|elimin\w+|knocked|ousted|upset|downed|dethroned|swept|crush\w+|outlasted|won|"
    r"triumphed|prevailed|came|lost|loses|losing|fell|falling|succumbed|bowed|clinched|claimed|"
    r"took|captured|ahead)\b"
)
_JA_BEAT = "破|下し|下す|倒し|退け|降し|制し"
_JA_WIN_OVER = "勝っ|勝利|勝ち|競り勝|快勝|圧勝"
_JA_WIN_VERBS = f"{_JA_BEAT}|{_JA_WIN_OVER}"
_JA_LOSE_VERBS = "敗れ|負け|屈し|敗戦|惜敗|完敗"
_JA_WON_WORDS = "優勝|初優勝|制覇|連覇|日本一|頂点"
_JA_WIN = re.compile(
    rf"(?P<a>{_JA_NOUN})(?:が|は)、?[^。、]{{0,30}}?(?P<b>{_JA_NOUN})(?:を)[^。、]{{0,12}}?"
    rf"(?:{_JA_BEAT})"
    rf"|(?P<a2>{_JA_NOUN})(?:が|は)、?[^。、]{{0,30}}?(?P<b2>{_JA_NOUN})(?:に)[^。、]{{0,12}}?"
    rf"(?:{_JA_WIN_OVER})"
)
_JA_LOSE = re.compile(
    rf"(?P<a>{_JA_NOUN})(?:が|は)、?[^。、]{{0,30}}?(?P<b>{_JA_NOUN})(?:に)[^。、]{{0,12}}?"
    rf"(?:{_JA_LOSE_VERBS})"
)
_JA_WON = re.compile(rf"(?P<a>{_JA_NOUN})(?:が|は)[^。、]{{0,40}}?(?:{_JA_WON_WORDS})")

_ASK_LOSER = re.compile(
    r"(?i)\b(?:lost|lose|loser|losing|runners?-up|beaten|defeated|eliminated|knocked\s+out)\b"
    r"|\b(?:finished|came|placed)\s+second\b|\bsecond\s+place\b|(?<!\d)2位"
    r"|\b(?:did|does|do)\s+" + _NAME.replace("[A-Z]", "[A-Z]", 1) + r"\s+(?:beat|defeat|overcome|"
    r"eliminate|edge|knock\s+out|thrash|rout|upset)\b|\bagainst\s+(?:whom|which)\b"
    r"|準優勝|敗れた|負けた|敗退|破られ|敗戦|(?:を|に)(?:破っ|下し|倒し|退け|勝っ)た(?:相手|チーム|国|選手|のは)"
    r"|(?:破っ|下し|倒し|退け|勝っ|勝利し)た(?:相手|チーム|国|選手|大学|クラブ)"
)
_ASK_WINNER = re.compile(
    r"(?i)\b(?:won|win|wins|winner|winners|winning|victorious|champions?|beat|defeated|triumphed|"
    r"prevailed|clinched|title|honours|honors)\b|\bfirst\s+(?:across|to\s+finish)\b"
    r"|優勝|勝った|勝利|勝者|制した|破った|下した|日本一|世界一|頂点|制覇"
)


@dataclass(frozen=True)
class Outcome:
    """One result read from a sentence: ``winner`` beat ``loser`` (``loser`` is
    empty when the sentence names only the winner)."""

    winner: str
    loser: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "winner", self.winner.strip().rstrip(".,'’"))
        object.__setattr__(self, "loser", self.loser.strip().rstrip(".,'’"))


def outcomes(sentence: str) -> list[Outcome]:
    """The winner/loser results stated in ``sentence``."""
    found: list[Outcome] = []
    if _HAS_EN_VERB.search(sentence):
        for pattern in (_EN_WIN, _EN_WIN_AFTER):
            for match in _matches(pattern, sentence):
                found.append(Outcome(_last_name(match.group("a")), match.group("b")))
        for match in _matches(_EN_LOSE, sentence):
            found.append(Outcome(match.group("b"), _last_name(match.group("a"))))
        for match in _matches(_EN_WON, sentence):
            found.append(Outcome(_last_name(match.group("a")), ""))
    if not sentence.isascii() and _HAS_JA.search(sentence):
        for match in _matches(_JA_WIN, sentence):
            winner = match.group("a") or match.group("a2")
            found.append(Outcome(winner, match.group("b") or match.group("b2")))
        for match in _matches(_JA_LOSE, sentence):
            found.append(Outcome(match.group("b"), match.group("a")))
        for match in _matches(_JA_WON, sentence):
            found.append(Outcome(match.group("a"), ""))
    return found


def _matches(pattern: re.Pattern[str], sentence: str) -> Iterator[re.Match[str]]:
    """``pattern``'s matches, or none without scanning for them when ``sentence``
    lacks every verb the pattern needs (a quick search; the pattern backtracks)."""
    if _VERBS[pattern].search(sentence) is None:
        return iter(())
    return pattern.finditer(sentence)


_VERBS = {  # each pattern's verbs: one of them stands in every match
    _EN_WIN: re.compile(_WIN_VERBS),
    _EN_WIN_AFTER: re.compile(r"beating|defeating|edging|overcoming|outlasting|ahead"),
    _EN_LOSE: re.compile(_LOSE_VERBS),
    _EN_WON: re.compile(r"won|clinched|claimed|took|captured"),
    _JA_WIN: re.compile(_JA_WIN_VERBS),
    _JA_LOSE: re.compile(_JA_LOSE_VERBS),
    _JA_WON: re.compile(_JA_WON_WORDS),
}


def asked_role(question: str) -> Role | None:
    """Whether ``question`` asks for the winner or the loser of something."""
    if _ASK_LOSER.search(question):
        return "loser"
    if _ASK_WINNER.search(question):
        return "winner"
    return None


_LEADING = re.compile(r"^(?:(?:The|In|On|At|After|Before|When|Then|But|And|Both)\s+)+")


def _last_name(text: str) -> str:
    """The name without a capitalised opening word: "The Spain" → "Spain"."""
    return _LEADING.sub("", text)

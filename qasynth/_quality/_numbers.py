"""Numbers in text, each in one canonical form: digits with separators, full-width
digits, number words ("twelve", "2.5 million") and Japanese numerals ("1億2000万",
"三十人") all become plain digits, so "１２,０００人" and "12000" are the same number.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from decimal import Decimal
from itertools import accumulate

__all__ = [
    "extract_numbers",
    "normalize_numbers",
    "numbers_and_canonical_text",
    "numbers_and_canonical_texts",
]

_SMALL_WORDS = [
    "zero",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS_WORDS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_WORD_VALUES = {
    **{word: value + (value > 0) for value, word in enumerate(_SMALL_WORDS)},
    "one": 1,
    "dozen": 12,
    **{word: 20 + 10 * i for i, word in enumerate(_TENS_WORDS)},
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
_WORD_NUMBER = (
    rf"(?:{'|'.join(_TENS_WORDS)})(?:[- ](?:one|two|three|four|five|six|seven|eight|nine))?"
    rf"|(?:{'|'.join(reversed(_SMALL_WORDS))}|dozen)"
)
_SCALE = rf"(?:[ \t]+(?:{'|'.join(_SCALES)}))"
_KANJI_DIGITS = {c: i for i, c in enumerate("〇一二三四五六七八九")}
_KANJI_COUNTER = (
    "人回年個台点位枚本件社歳日月時秒度倍勝敗試戦名隻機冊曲駅区校店作局級段冠周頭匹羽杯部票つ"
)
# "\d\d*", not "\d+": the regular expression engine skips fast to the characters a
# pattern starts with only when it starts with a character class.
_DIGITS_PART = (
    r"(?P<digits>\d\d*(?:,\d{3}(?!\d))*(?:\.\d+)?)(?:[ \t]*(?P<ja>[万億兆]))?"
    rf"(?P<scale>{_SCALE}+)?"
)
_WORDS_PART = (
    rf"(?<![\w-])(?P<words>(?:{_WORD_NUMBER}|(?:one|a)(?={_SCALE})){_SCALE}*"
    rf"(?:[ \t]+(?:and[ \t]+)?(?:{_WORD_NUMBER}))?)(?![\w-])"
)
_KANJI_PART = (
    rf"(?P<kanji>[〇一二三四五六七八九十百千]+)(?=[万億兆{_KANJI_COUNTER}]|カ国|か国|ヶ国)"
)
# One pattern per mix of number kinds: most texts need only the (fast) digits.
_NUMBERS = {
    (words, kanji): re.compile(
        "|".join(
            part
            for part, used in ((_DIGITS_PART, True), (_WORDS_PART, words), (_KANJI_PART, kanji))
            if used
        ),
        re.IGNORECASE,
    )
    for words in (False, True)
    for kanji in (False, True)
}
# The same for ASCII text (which has no kanji). There the ASCII meanings of "\d" and
# "\w" find the same as the Unicode ones ("\s" would not: Unicode's takes in
# "\x1c"-"\x1f", and the patterns have none) and are tested faster: a character's
# class is looked up in a small table, not in the Unicode database.
_ASCII_NUMBERS = {
    words: re.compile(_NUMBERS[(words, False)].pattern, re.IGNORECASE | re.ASCII)
    for words in (False, True)
}


def _trie(words: list[str]) -> str:
    """A pattern matching any of ``words`` (none a prefix of another), as a tree of
    their letters: "t(?:en|wo)" fails on a text's letter at once, "ten|two" tries both."""
    first: dict[str, list[str]] = {}
    for word in sorted(words):
        first.setdefault(word[0], []).append(word[1:])
    return "|".join(
        letter + (rests[0] if len(rests) == 1 else f"(?:{_trie(rests)})")
        for letter, rests in first.items()
    )


# The number words a text must hold one of to hold any ("twelve", "thousand"). Words
# that hold another ("seventeen", "seven") are left out: the shorter one is found anyway.
_NUMBER_WORDS = (*_SMALL_WORDS, *_TENS_WORDS, "dozen", *_SCALES)
_NUMBER_WORD_KEYS = tuple(
    w for w in _NUMBER_WORDS if not any(o != w and o in w for o in _NUMBER_WORDS)
)
_NUMBER_WORD_PATTERN = re.compile(_trie(list(_NUMBER_WORD_KEYS)))
_KANJI_NUMERAL = re.compile("[〇一二三四五六七八九十百千]")
_DIGIT = re.compile(r"\d")
_JA_UNITS = {"万": 10**4, "億": 10**8, "兆": 10**12}


def normalize_numbers(text: str) -> str:
    """Write every number in one canonical form: "１２,０００" and "1万2000" become "12000"."""
    text = unicodedata.normalize("NFKC", text)
    return _rewritten(text, _number_spans(text))


def numbers_and_canonical_text(text: str) -> tuple[set[str], str]:
    """:func:`extract_numbers` and :func:`normalize_numbers` of ``text`` in one pass."""
    text = unicodedata.normalize("NFKC", text)
    spans = _number_spans(text)
    return {value for _, _, value in spans}, _rewritten(text, spans)


def numbers_and_canonical_texts(texts: Sequence[str]) -> list[tuple[set[str], str]]:
    """:func:`numbers_and_canonical_text` of each of ``texts`` (a chunk's sentences),
    read in a few passes: the texts that may hold the same kinds of numbers are read
    together, joined by line breaks (no number crosses one)."""
    texts = [unicodedata.normalize("NFKC", text) for text in texts]
    if any("\n" in text for text in texts):
        return [numbers_and_canonical_text(text) for text in texts]
    read: list[tuple[set[str], str]] = [(set(), text) for text in texts]
    for kinds, members in _by_kinds(texts).items():
        joined = "\n".join(texts[i] for i in members)
        spans = _spans(joined, *kinds)
        if not spans:
            continue
        numbers: list[set[str]] = [set() for _ in members]
        ends = list(accumulate(len(texts[i]) + 1 for i in members))  # past each "\n"
        member = 0
        for start, _, value in spans:
            while start >= ends[member]:
                member += 1
            numbers[member].add(value)
        for i, found, text in zip(
            members, numbers, _rewritten(joined, spans).split("\n"), strict=True
        ):
            read[i] = (found, text)
    return read


def _rewritten(text: str, spans: Iterable[tuple[int, int, str]]) -> str:
    """``text`` with each (start, end) span replaced by its canonical value."""
    pieces: list[str] = []
    position = 0
    for start, end, value in spans:
        pieces.append(text[position:start])
        pieces.append(value)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def _by_kinds(texts: Sequence[str]) -> dict[tuple[bool, bool], list[int]]:
    """The texts' positions by the kinds of numbers (words, kanji) each may hold."""
    if _kinds("\n".join(texts)) == (False, False):  # none of the texts has either
        return {(False, False): list(range(len(texts)))}
    groups: dict[tuple[bool, bool], list[int]] = {}
    for i, text in enumerate(texts):
        groups.setdefault(_kinds(text), []).append(i)
    return groups


def _kinds(text: str) -> tuple[bool, bool]:
    """Whether ``text`` may hold number words, and kanji numerals."""
    return (
        _has_number_word(text.lower()),
        not text.isascii() and _KANJI_NUMERAL.search(text) is not None,
    )


def _has_number_word(lower: str) -> bool:
    """Whether the lower-cased text holds a number word, anywhere. In ASCII text each
    word is looked for by ``str.__contains__``, which skips through a text several
    characters at a time, where a pattern of all the words tries a match at most of
    the letters. In other text the pattern is cheaper: it skips its characters at
    once, and ``str.__contains__`` would copy each word into the text's width first."""
    if lower.isascii():
        return any(word in lower for word in _NUMBER_WORD_KEYS)
    return _NUMBER_WORD_PATTERN.search(lower) is not None


def extract_numbers(text: str) -> set[str]:
    """The numbers in ``text`` in canonical form (full-width digits, separators and
    Japanese 万/億/兆 units normalised), so "１２,０００人" and "12000" give "12000"."""
    return {value for _, _, value in _number_spans(unicodedata.normalize("NFKC", text))}


@functools.lru_cache(maxsize=4096)  # questions and answers are read for numbers many times
def _number_spans(text: str) -> tuple[tuple[int, int, str], ...]:
    """(start, end, canonical value) of each number; "1億2000万" is one number, and
    so are "twelve", "2.5 million" and "三十人"."""
    return _spans(text, *_kinds(text))


def _spans(text: str, words: bool, kanji: bool) -> tuple[tuple[int, int, str], ...]:
    """:func:`_number_spans` of ``text``, which holds number words only if ``words``,
    kanji numerals only if ``kanji``."""
    if not (words or kanji or _DIGIT.search(text)):
        return ()
    spans: list[tuple[int, int, str]] = []
    last: Decimal | int = 0  # the last span's value (a number right after its 万 adds to it)
    pattern = _ASCII_NUMBERS[words] if text.isascii() else _NUMBERS[(words, kanji)]
    for match in pattern.finditer(text):
        start, end = match.span()
        digits = match.group("digits")
        if match.lastgroup == "digits" and "." not in digits:  # most numbers: a whole number
            value: Decimal | int = int(digits.replace(",", "") if "," in digits else digits)
        else:
            value = _match_value(match)
        if spans and spans[-1][1] == start and text[start - 1] in _JA_UNITS:
            start = spans.pop()[0]
            value = last + value
        last = value
        # each span in its canonical form at once (a whole number's is str())
        spans.append((start, end, str(value) if type(value) is int else _canonical(value)))
    return tuple(spans)


def _match_value(match: re.Match[str]) -> Decimal:
    if match.group("digits") is not None:
        value = Decimal(match.group("digits").replace(",", ""))
        value *= _JA_UNITS.get(match.group("ja") or "", 1)
        for scale in (match.group("scale") or "").split():
            value *= _SCALES[scale.lower()]
        return value
    groups = match.groupdict()
    if groups.get("words") is not None:
        return _words_value(groups["words"].lower())
    return _kanji_value(groups["kanji"])


def _words_value(words: str) -> Decimal:
    total = current = 0
    for word in re.split(r"[\s-]+", words):
        if word == "and":
            continue
        if word in _SCALES:
            current = max(current, 1) * _SCALES[word]
            if _SCALES[word] > 100:
                total, current = total + current, 0
        elif word == "a":
            current = 1
        else:
            current += _WORD_VALUES[word]
    return Decimal(total + current)


def _kanji_value(numeral: str) -> Decimal:
    """Kanji numerals: positional ("二〇二三") or with 十/百/千 ("三十五", "百二十")."""
    if not any(c in "十百千" for c in numeral):
        return Decimal("".join(str(_KANJI_DIGITS[c]) for c in numeral))
    total = digit = 0
    for char in numeral:
        if char in _KANJI_DIGITS:
            digit = _KANJI_DIGITS[char]
        else:
            total += max(digit, 1) * {"十": 10, "百": 100, "千": 1000}[char]
            digit = 0
    return Decimal(total + digit)


def _canonical(value: Decimal | int) -> str:
    if isinstance(value, int) or value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")

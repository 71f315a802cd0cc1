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
_SCALE = rf"(?:[ \t]+(?:{'|'.join(_SCALES)})(?![^\W\d_]))"  # a word: not "Millionen"
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
        if not any(kinds) and _only_digits(joined):
            lines = _digit_lines(joined)
        else:
            lines = _span_lines(joined, _spans(joined, *kinds))
        if not lines:  # no number in these texts
            continue
        for i, line in zip(members, lines, strict=True):
            read[i] = line
    return read


def _span_lines(joined: str, spans: Sequence[tuple[int, int, str]]) -> list[tuple[set[str], str]]:
    """(numbers, canonical text) of each line of ``joined``, from its ``spans``
    (none when it has no number)."""
    if not spans:
        return []
    numbers: list[set[str]] = [set() for _ in range(joined.count("\n") + 1)]
    ends = list(accumulate(map(len, joined.split("\n")), lambda end, size: end + 1 + size))
    member = 0
    for start, _, value in spans:
        while start > ends[member]:  # a line's "\n" stands at its end
            member += 1
        numbers[member].add(value)
    return list(zip(numbers, _rewritten(joined, spans).split("\n"), strict=True))


def _digit_lines(joined: str) -> list[tuple[set[str], str]]:
    """:func:`_span_lines` of text in which every number is digits alone (see
    :func:`_only_digits`), read from one ``re.split``, without a match object per
    number: its pieces are the text between the numbers and the numbers, in turn."""
    pieces = (_ASCII_DIGIT_SPLIT if joined.isascii() else _DIGIT_SPLIT).split(joined)
    if len(pieces) == 1:
        return []
    values = [
        str(int(digits)) if digits.isdigit() else _digits_value(digits) for digits in pieces[1::2]
    ]
    numbers: list[set[str]] = [set() for _ in range(joined.count("\n") + 1)]
    line = 0
    for before, value in zip(pieces[0:-1:2], values, strict=True):  # the text before each
        line += before.count("\n")
        numbers[line].add(value)
    pieces[1::2] = values
    return list(zip(numbers, "".join(pieces).split("\n"), strict=True))


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
    """The texts' positions by the kinds of numbers (words, kanji) each may hold
    (:func:`_kinds` of each), found in one pass over the texts joined by line breaks,
    which no number word or numeral crosses."""
    joined = "\n".join(texts)
    worded = _lines_with(_NUMBER_WORD_PATTERN, joined.lower())
    kanji = set() if joined.isascii() else _lines_with(_KANJI_NUMERAL, joined)
    if not (worded or kanji):  # none of the texts has either
        return {(False, False): list(range(len(texts)))}
    groups: dict[tuple[bool, bool], list[int]] = {}
    for i in range(len(texts)):
        groups.setdefault((i in worded, i in kanji), []).append(i)
    return groups


def _lines_with(pattern: re.Pattern[str], text: str) -> set[int]:
    """The numbers of the lines of ``text`` in which ``pattern`` (which matches no line
    break) has a match: one search per such line, from where the last one ended."""
    lines: set[int] = set()
    line = position = 0
    while (match := pattern.search(text, position)) is not None:
        line += text.count("\n", position, match.start())
        lines.add(line)
        position = text.find("\n", match.end())  # on to the next line
        if position < 0:
            break
    return lines


def _kinds(text: str) -> tuple[bool, bool]:
    """Whether ``text`` may hold number words, and kanji numerals."""
    return (
        _has_number_word(text.lower()),
        not text.isascii() and _KANJI_NUMERAL.search(text) is not None,
    )


def _has_number_word(lower: str) -> bool:
    """Whether the lower-cased text holds a number word, anywhere. One search of the
    pattern of all the words (a tree of their letters) costs less than looking for
    each word with ``str.__contains__``: half as much on a question, ASCII or not."""
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


def _only_digits(text: str) -> bool:
    """Whether every number :func:`_spans` finds in ``text`` (which holds no number
    words or kanji numerals) is digits alone: no 万/億/兆 after it, no scale word.

    The text holds no scale word in lower case, so the patterns (which ignore case)
    could match one only through a letter that matches an ASCII letter without case
    but is not one in lower case: "İ" and "ı" match "i", "ſ" matches "s" (and "K",
    the Kelvin sign, matches "k", which no scale word has)."""
    return text.isascii() or not any(char in text for char in _NOT_DIGITS_ALONE)


_NOT_DIGITS_ALONE = "万億兆İıſ"
# The digits of _DIGITS_PART alone, as the one group: re.split() returns the text
# between the numbers and the numbers, with no match object per number.
_DIGIT_SPLIT = re.compile(r"(\d\d*(?:,\d{3}(?!\d))*(?:\.\d+)?)")
_ASCII_DIGIT_SPLIT = re.compile(_DIGIT_SPLIT.pattern, re.ASCII)


def _digits_value(digits: str) -> str:
    """The canonical value of a number written in digits alone, as :func:`_spans` reads it."""
    if "." not in digits:
        return str(int(digits.replace(",", "")))
    return _canonical(_digits_decimal(digits, None, None))


def _digits_decimal(digits: str, ja: str | None, scale: str | None) -> Decimal:
    value = Decimal(digits.replace(",", ""))
    value *= _JA_UNITS.get(ja or "", 1)
    for word in (scale or "").split():
        value *= _SCALES[word.lower()]
    return value


def _match_value(match: re.Match[str]) -> Decimal:
    if match.group("digits") is not None:
        return _digits_decimal(match.group("digits"), match.group("ja"), match.group("scale"))
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

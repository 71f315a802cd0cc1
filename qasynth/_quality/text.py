"""Text helpers shared by the quality heuristics: normalisation, tokens, numbers, names.

Space-delimited languages are compared by words. Japanese, Chinese and Thai are
written without spaces, so runs of those scripts are compared by overlapping
character bigrams instead ("優勝した" → "優勝", "勝し", "した").
"""

from __future__ import annotations

import re
import unicodedata
from itertools import compress
from operator import itemgetter

from ._numbers import extract_numbers, normalize_numbers
from .language import detect_language, is_cjk, is_unspaced

__all__ = [
    "char_ngrams",
    "extract_names",
    "extract_numbers",
    "has_unspaced_letters",
    "normalize",
    "normalize_numbers",
    "strip_punctuation",
    "word_tokens",
]

# Combining marks that belong inside words (Python's \w does not match them).
_SPACED_MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7"
    "\u0610-\u061a\u064b-\u065f\u0670\u0900-\u0903\u093a-\u094f\u0951-\u0957\u0962\u0963"
)
_MARKS = _SPACED_MARKS + "\u0e31\u0e34-\u0e3a\u0e47-\u0e4e"  # Thai's are unspaced
_UNSPACED = (  # Han, kana and Thai
    "\u3005-\u3007\u3040-\u309f\u30a0-\u30fa\u30fc-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\U00020000-\U0002fa1f\u0e01-\u0e4e"
)
_UNSPACED_CHAR = re.compile(f"[{_UNSPACED}]")
# Runs of letters, digits and marks (runs of one class at a time match faster than
# one character at a time).
_WORD = f"(?:[^\\W_]+|[{_MARKS}]+)+"
_WORDS = re.compile(rf"\d+(?:\.\d+)+|{_WORD}")
_SPACED_OR_UNSPACED = re.compile(
    rf"([{_UNSPACED}]+)|(\d+(?:\.\d+)+|(?:[^\W_{_UNSPACED}]+|[{_SPACED_MARKS}]+)+)"
)
_NOT_WORD = re.compile(f"(?:(?![{_MARKS}])[\\W_])+")
_SPACE = re.compile(r"\s+")

_SENTENCE_END = r"[.!?](?=\s|$)|[。！？\n]"
_LATIN_TOKENS = re.compile(rf"{_SENTENCE_END}|[\w'’-]+|\S")
_SENTENCE_ENDS = frozenset(".!?。！？\n")  # the tokens that are a whole _SENTENCE_END
_NAME_JOINERS = frozenset({"of", "de", "la", "le", "du", "da", "del", "van", "von", "der"})
_KATAKANA_NAME = re.compile(r"[ァ-ヺー]+(?:・[ァ-ヺー]+)*")
_LATIN_IN_CJK = re.compile(
    r"(?<![0-9A-Za-z])[A-Za-z][A-Za-z0-9'&.-]*(?:[ \t]+[A-Za-z][A-Za-z0-9'&.-]*)*"
)
_POSSESSIVE = re.compile(r"['’]s?$")
_UNIT_NAMES = (
    "KB MB GB TB PB KiB MiB GiB TiB Kbps Mbps Gbps Hz kHz MHz GHz mAh kWh MWh GWh kW MW "
    "GW mm cm km kg mg ml mL mph kph km/h USD EUR GBP JPY CHF AUD CAD CPU GPU RAM CET UTC "
    "GMT AM PM BC AD BCE CE"
)
_UNITS = frozenset(_UNIT_NAMES.split())
_UNIT_WORDS = frozenset(unit.lower() for unit in _UNITS)
_TITLES = (
    "氏|さん|選手|監督|投手|捕手|騎手|教授|博士|社長|会長|首相|大統領|議員|"
    "容疑者|被告|外相|知事|市長|主将|代表|コーチ|棋士|名人|横綱|大関"
)
_KANJI_NAME = re.compile(rf"([一-龥々]{{2,6}})(?={_TITLES})")
# Quick tests that spare the slow patterns above a text they cannot match.
_TITLE = re.compile(_TITLES)
_LATIN_LETTER = re.compile("[A-Za-z]")


def has_unspaced_letters(text: str) -> bool:
    """Whether ``text`` has a Han, kana or Thai letter (scripts written without spaces)."""
    return not text.isascii() and _UNSPACED_CHAR.search(text) is not None


def normalize(text: str) -> str:
    """NFKC, case-folded, with runs of whitespace collapsed to one space."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def strip_punctuation(text: str) -> str:
    """Replace every run of punctuation and symbols with one space (marks are kept)."""
    return _SPACE.sub(" ", _NOT_WORD.sub(" ", text)).strip()


def word_tokens(text: str, lang: str | None = None, *, numbers_done: bool = False) -> list[str]:
    """Normalised tokens: words for space-delimited languages; for Japanese, Chinese
    and Thai text, overlapping character bigrams of each run of those scripts (Latin
    words and numbers inside such text stay whole). ``lang`` is detected when omitted.
    Numbers are canonical ("12,000" → "12000")."""
    text = normalize(text if numbers_done else normalize_numbers(text))
    return _tokens(text, detect_language(text) if lang is None else lang)


def _tokens(text: str, lang: str) -> list[str]:
    """:func:`word_tokens` of text already :func:`normalize`-d, numbers and all."""
    if not is_unspaced(lang):
        return _split_units(_spaced_words(text), text)
    tokens: list[str] = []
    # (a run of unspaced letters, "") or ("", another run): the pattern tells which
    for unspaced, other in _SPACED_OR_UNSPACED.findall(text):
        if len(unspaced) > 1:
            # its bigrams (slices: cheaper than adding characters by str.__add__)
            tokens.extend([unspaced[i : i + 2] for i in range(len(unspaced) - 1)])
        else:
            tokens.append(unspaced or other)
    # A number and a unit are one token only in a run of letters of other scripts.
    return _split_units(tokens, text, _DIGIT_SPACED_LETTER)


def _spaced_words(text: str) -> list[str]:
    """What :data:`_WORDS` finds in ``text``. In ASCII text without dotted numbers the
    words are the runs of letters and digits: every other character becomes a space,
    and ``str.split`` cuts there (a few times faster than a regular expression, which
    takes a step per character). Other ASCII text is read with a pattern that takes
    "\\d" and "\\w" as ASCII, which means the same there and is tested faster."""
    if not text.isascii():
        return _words_pattern(text).findall(text)
    if _has_dotted(text):
        return _ASCII_DOTTED_OR_PLAIN_WORDS.findall(text)
    return text.translate(_ASCII_NOT_WORD).split()


def _words_pattern(text: str) -> re.Pattern[str]:
    """:data:`_WORDS`, or a simpler pattern that finds the same words in ``text``, which
    is not ASCII (one without combining marks or dotted numbers)."""
    if _MARK.search(text) is not None:
        return _WORDS
    return _DOTTED_OR_PLAIN_WORDS if _has_dotted(text) else _PLAIN_WORDS


def _has_dotted(text: str) -> bool:
    """Whether ``text`` has a digit, a "." and a digit (what :data:`_DOTTED` finds),
    looked for at its full stops: a chunk has far fewer of them than characters, and
    the regular expression would try every character."""
    if text.count(".") > _MAX_STOPS:
        return _DOTTED.search(text) is not None
    stop = text.find(".", 1)
    while 0 < stop < len(text) - 1:
        if text[stop - 1].isdecimal() and text[stop + 1].isdecimal():  # "\d" is isdecimal()
            return True
        stop = text.find(".", stop + 1)
    return False


_MARK = re.compile(f"[{_MARKS}]")
_DOTTED = re.compile(r"\d\.\d")
_MAX_STOPS = 500
_DOTTED_OR_PLAIN_WORDS = re.compile(r"\d+(?:\.\d+)+|[^\W_]+")
_PLAIN_WORDS = re.compile(r"[^\W_]+")
_ASCII_DOTTED_OR_PLAIN_WORDS = re.compile(_DOTTED_OR_PLAIN_WORDS.pattern, re.ASCII)
_ASCII_NOT_WORD = str.maketrans({char: " " for char in map(chr, range(128)) if not char.isalnum()})


_DIGITS_THEN_LETTERS = re.compile(r"^(\d+(?:\.\d+)?)([^\W\d_]+)$")
_DIGIT_LETTER = re.compile(r"\d[^\W\d_]")
_DIGIT_SPACED_LETTER = re.compile(rf"\d[^\W\d_{_UNSPACED}]")
_ASCII_DIGIT_LETTER = re.compile(_DIGIT_LETTER.pattern, re.ASCII)


def _split_units(
    tokens: list[str], text: str, joined: re.Pattern[str] = _DIGIT_LETTER
) -> list[str]:
    """ "8gb" is the number 8 and the unit "gb" (``tokens`` are those of ``text``, in
    which ``joined`` finds each digit that a token joins to a letter; in ASCII text,
    which has no letters of unspaced scripts, :data:`_ASCII_DIGIT_LETTER` finds the
    same faster)."""
    if (_ASCII_DIGIT_LETTER if text.isascii() else joined).search(text) is None:
        # no token is a number and a unit
        return tokens
    out: list[str] = []
    done = 0  # the tokens before this one are in ``out``
    # only the tokens that start with a digit, found without a step of Python per token
    for i in compress(range(len(tokens)), map(str.isdigit, map(_FIRST_CHARACTER, tokens))):
        match = _DIGITS_THEN_LETTERS.match(tokens[i])
        if match:
            out += tokens[done:i]
            out += match.groups()
            done = i + 1
    out += tokens[done:]
    return out


_FIRST_CHARACTER = itemgetter(slice(1))
"""A token's first character ("" for ""), as ``token[:1]``, for ``map``."""


def char_ngrams(text: str, n: int) -> list[str]:
    """Overlapping character n-grams of ``text`` as given; a shorter non-empty text is
    its own single n-gram."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if len(text) <= n:
        return [text] if text else []
    return [text[i : i + n] for i in range(len(text) - n + 1)]


def extract_names(text: str) -> set[str]:
    """Likely proper names. Latin text: runs of capitalised words that do not start a
    sentence ("University of Tokyo"; a trailing "'s" is dropped). Chinese, Japanese and
    Korean text: katakana runs of three or more characters ("リオネル・メッシ") and Latin
    words ("FIFA", "Real Madrid")."""
    text = unicodedata.normalize("NFKC", text)
    if is_cjk(detect_language(text)):
        return _cjk_names(text)
    return _latin_names(text)


def _cjk_names(text: str) -> set[str]:
    names = {name for name in _KATAKANA_NAME.findall(text) if len(name.replace("・", "")) >= 3}
    if _TITLE.search(text) is not None:  # a kanji name stands before a title
        names.update(_KANJI_NAME.findall(text))
    if _LATIN_LETTER.search(text) is None:
        return names
    for match in _LATIN_IN_CJK.finditer(text):
        name = _POSSESSIVE.sub("", match.group(0).rstrip(".'-&"))
        if len(name) >= 2 and name not in _UNITS:
            names.add(name)
    return names


def _latin_names(text: str) -> set[str]:
    names: set[str] = set()
    current: list[str] = []
    pending: list[str] = []
    sentence_start = True
    previous = ""
    for token in _LATIN_TOKENS.findall(text):
        if (
            not sentence_start
            and not token.islower()  # most words: no capital, so no name
            and token[0].isalpha()  # nor do numbers and punctuation
            and _is_capitalised(token)
            and not (token in _UNITS or (previous[-1:].isdigit() and token.lower() in _UNIT_WORDS))
        ):
            current.extend(pending)
            current.append(token)
            pending = []
        elif current and token.lower() in _NAME_JOINERS:
            pending.append(token)
        elif current:
            _flush_name(current, names)
            current, pending = [], []
        previous = token
        sentence_start = token in _SENTENCE_ENDS or (sentence_start and not token[0].isalnum())
    _flush_name(current, names)
    return names


def _is_capitalised(token: str) -> bool:
    if not token[0].isalpha() or token == "I" or token.startswith("I'"):
        return False
    rest = token[1:]  # a lower-case rest has no capital: skip looking at each letter
    return token[0].isupper() or (not rest.islower() and any(char.isupper() for char in rest))


def _flush_name(words: list[str], names: set[str]) -> None:
    if words:
        name = " ".join(words)
        # what _POSSESSIVE.sub("", name) leaves (a name holds no line break)
        if name[-2:] in _POSSESSIVE_ENDS:
            name = name[:-2]
        elif name[-1:] in _APOSTROPHES:
            name = name[:-1]
        if name:
            names.add(name)


_POSSESSIVE_ENDS = ("'s", "’s")
_APOSTROPHES = ("'", "’")

"""Splitting documents into token-measured chunks.

A recursive splitter measured with tiktoken. The separators split paragraphs,
then lines, then sentences (after 。！？ for Chinese and Japanese, after . ! ?
for space-delimited text), then clauses (、，), then words, then characters;
punctuation stays at the end of its sentence, so a chunk only ends mid-sentence
when one sentence is longer than a whole chunk.

The algorithm is that of LangChain's ``RecursiveCharacterTextSplitter`` (with
``keep_separator="end"`` and stripped chunks), and gives the same chunks, but
it counts the tokens of each piece once, remembers where each chunk starts (for
its page and heading path), and makes sure that every finished chunk is within
the token budget, cutting what still overflows.

Token counts are not always additive (``"a" + "b"`` may tokenize differently
from ``"a"`` and ``"b"``), so a chunk's count is its own unless the sum of its
pieces is known to be exact. It is for ``cl100k_base`` and ``o200k_base`` when
every piece but the last ends with a line break and no piece after it starts
with another line break or a ``/`` (see :func:`_joins_at_line_ends`): their
pre-tokenizers never join a line break to what follows it then, so the pieces
tokenize alone exactly as they do together. Paragraph- and line-sized pieces,
the common case, are counted once that way.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import groupby

import tiktoken
from langchain_core.documents import Document

from ._constants import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE
from ._errors import ConfigurationError
from ._loaders import theme_of
from ._outline import Outline
from ._schema import Chunk
from ._tokens import EncodingLike, resolve_encoding

__all__ = ["DEFAULT_CHUNK_OVERLAP", "DEFAULT_CHUNK_SIZE", "SEPARATORS", "Chunker"]

logger = logging.getLogger("qasynth")


# Regular expressions, tried in order; none may contain a capturing group.
SEPARATORS: tuple[str, ...] = (
    r"\n{2,}",  # paragraphs
    r"\n",  # lines
    r"[。．｡！？]+[」』）〕】”’]*",  # CJK sentence ends, with closing brackets
    r"(?<=[.!?])\s+|(?<=[.!?][\"'”’)\]])\s+",  # Latin sentence ends
    r"[、，､；]",  # CJK clauses
    r"(?<=[,;:])\s+",  # Latin clauses
    r"\s+",  # words
    "",  # characters
)

_PATTERNS = tuple(re.compile(separator) for separator in SEPARATORS if separator)

# Pre-tokenizer patterns under which text cut after a line break is additive (see above).
_LINE_ADDITIVE_PATTERNS = frozenset(
    {
        # cl100k_base
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++"""
        r"""[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
        # o200k_base
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"""
        r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+"""
        r"""[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+"""
        r"""[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
    }
)

_ADDITIVE_START = re.compile(r"[^\S\r\n]+\S|[^\s/]")

Span = tuple[int, str]
"""A piece of text and the offset in the document where it starts."""
Piece = tuple[int, str, int]
"""A piece of text, the offset where it starts and its token count."""


class Chunker:
    """Split documents into :class:`~qasynth._schema.Chunk` objects of at most
    ``chunk_size`` tokens, consecutive chunks sharing up to ``chunk_overlap``."""

    def __init__(
        self,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        chunk_overlap: int = DEFAULT_CHUNK_OVERLAP,
        encoding: EncodingLike | None = None,
        model: str | None = None,
    ) -> None:
        for name, value in (("chunk_size", chunk_size), ("chunk_overlap", chunk_overlap)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigurationError(f"{name} must be a whole number of tokens, got {value!r}")
        if chunk_size < 1:
            raise ConfigurationError(f"chunk_size must be at least 1 token, got {chunk_size}")
        if not 0 <= chunk_overlap < chunk_size:
            raise ConfigurationError(
                f"chunk_overlap must be between 0 and chunk_size - 1 ({chunk_size - 1}), "
                f"got {chunk_overlap}"
            )
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.encoding: tiktoken.Encoding = resolve_encoding(encoding, model=model)
        self._encode = self.encoding.encode_ordinary
        self._line_additive = getattr(self.encoding, "_pat_str", None) in _LINE_ADDITIVE_PATTERNS

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text``; special-token markers count as ordinary text."""
        return len(self._encode(text))

    def split_text(self, text: str) -> list[str]:
        """Split text into pieces of at most ``chunk_size`` tokens."""
        return [piece for _, piece in self._spans(text)]

    def _spans(self, text: str) -> Iterator[Span]:
        """Like :meth:`split_text`, with the offset in ``text`` where each piece starts;
        each piece as soon as it is cut (a long text is not split in full first)."""
        for start, piece, tokens in self._split(text, 0, 0):
            if tokens < 0:
                tokens = self.count_tokens(piece)
            if tokens <= self.chunk_size:
                yield start, piece
            else:  # token counts are not always additive; cut what still overflows
                yield from self._hard_split(piece, start)

    def _split(self, text: str, offset: int, level: int) -> Iterator[Piece]:
        """Cut ``text`` at the first separator (from ``level`` on) that occurs in it,
        merge the runs of pieces under the budget and split the others further.

        Yields chunks in order with their exact token count, or -1 where it is not known."""
        cuts, level = _cuts(text, level)
        for fits, pieces in groupby(self._counted(text, offset, cuts), key=self._fits):
            if fits:
                yield from self._merge(pieces)
            elif level < len(_PATTERNS):
                for start, piece, _ in pieces:
                    yield from self._split(piece, start, level + 1)
            else:
                yield from pieces

    def _counted(self, text: str, offset: int, cuts: list[int]) -> Iterator[Piece]:
        """The pieces of ``text`` that end at ``cuts``, with their token counts."""
        start = 0
        for end in cuts:
            piece = text[start:end]
            yield offset + start, piece, self.count_tokens(piece)
            start = end

    def _fits(self, piece: Piece) -> bool:
        """Whether ``piece`` is under the budget (merged with its neighbours)."""
        return piece[2] < self.chunk_size

    def _merge(self, pieces: Iterable[Piece]) -> Iterator[Piece]:
        """Pack consecutive pieces into chunks of at most ``chunk_size`` tokens (by the sum
        of their counts), each repeating up to ``chunk_overlap`` tokens of the last."""
        current: deque[Piece] = deque()
        total = 0
        for piece in pieces:
            tokens = piece[2]
            if total + tokens > self.chunk_size and current:
                chunk = self._joined(current)
                if chunk is not None:
                    yield chunk
                while total > self.chunk_overlap or (
                    total + tokens > self.chunk_size and total > 0
                ):
                    total -= current.popleft()[2]
            current.append(piece)
            total += tokens
        chunk = self._joined(current)
        if chunk is not None:
            yield chunk

    def _joined(self, pieces: Iterable[Piece]) -> Piece | None:
        """The pieces as one chunk, whitespace stripped, with its start and its token
        count where the pieces' counts give it exactly (else -1); ``None`` if blank."""
        parts = list(pieces)
        text = "".join(part[1] for part in parts)
        stripped = text.lstrip()
        if not stripped:
            return None
        start = parts[0][0] + len(text) - len(stripped)
        chunk = stripped.rstrip()
        if len(parts) == 1:
            return start, chunk, parts[0][2] if chunk == text else -1
        first, last = parts[0][1], parts[-1][1]
        if not (self._line_additive and first.strip() and last.strip()):
            return start, chunk, -1
        if not _joins_at_line_ends(part[1] for part in parts):
            return start, chunk, -1
        tokens = sum(part[2] for part in parts[1:-1])
        tokens += parts[0][2] if first[0] == stripped[0] else self.count_tokens(first.lstrip())
        tokens += parts[-1][2] if last[-1] == chunk[-1] else self.count_tokens(last.rstrip())
        return start, chunk, tokens

    def _hard_split(self, text: str, offset: int) -> Iterator[Span]:
        logger.debug("hard-splitting a %d-character piece over the token budget", len(text))
        start = 0
        while start < len(text):
            low, high = start + 1, len(text)
            while low < high:  # longest prefix within budget
                mid = (low + high + 1) // 2
                if self.count_tokens(text[start:mid]) <= self.chunk_size:
                    low = mid
                else:
                    high = mid - 1
            yield offset + start, text[start:low]
            start = low

    def split_document(self, document: Document, *, theme: str | None = None) -> list[Chunk]:
        """The chunks of one document, with theme, source, index, page and heading path."""
        return list(self.iter_split_document(document, theme=theme))

    def iter_split_document(
        self, document: Document, *, theme: str | None = None
    ) -> Iterator[Chunk]:
        """Like :meth:`split_document`, each chunk as soon as it is cut: the first chunks
        of a long document are ready long before its end is split."""
        source = str(document.metadata.get("source") or "<text>")
        doc_theme = theme_of(document, theme)
        text = document.page_content
        outline = Outline(text, document.metadata)
        for index, (start, piece) in enumerate(self._spans(text)):
            yield Chunk(
                text=piece,
                theme=doc_theme,
                source=source,
                index=index,
                page=outline.page_at(start),
                headings=outline.headings_at(start),
            )

    def split_documents(
        self, documents: Iterable[Document], *, theme: str | None = None
    ) -> Iterator[Chunk]:
        for document in documents:
            yield from self.split_document(document, theme=theme)


def _cuts(text: str, level: int) -> tuple[list[int], int]:
    """Where to cut ``text`` (the end of every piece) and the separator level used:
    after each match of the first pattern that occurs, else after every character."""
    for index in range(level, len(_PATTERNS)):
        first = _PATTERNS[index].search(text)
        if first is None:
            continue
        cuts = [m.end() for m in _PATTERNS[index].finditer(text, first.start())]
        if cuts[-1] != len(text):
            cuts.append(len(text))
        return cuts, index
    return list(range(1, len(text) + 1)), len(_PATTERNS)


def _joins_at_line_ends(texts: Iterable[str]) -> bool:
    """Whether every text but the last ends with a line break and every text after one
    goes on with spaces or tabs and then any other character, or with a character that
    is neither whitespace nor ``/``.

    Under the ``cl100k_base`` and ``o200k_base`` pre-tokenizers, no pattern that
    matches a line break goes on into such a next text: the ones that can go past
    a line break take only whitespace that ends in a line break, or ``/`` right
    after punctuation; and the only look-ahead, ``\\s+(?!\\S)``, is never tried on
    whitespace that holds a line break. So the texts tokenize alone exactly as they
    do joined, and their token counts add up.
    """
    previous = ""
    for text in texts:
        if previous and not (previous[-1] == "\n" and _ADDITIVE_START.match(text)):
            return False
        previous = text
    return True

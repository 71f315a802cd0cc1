"""Splitting documents into token-measured chunks.

A ``RecursiveCharacterTextSplitter`` measured with tiktoken. The separators
split paragraphs, then lines, then sentences (after 。！？ for Chinese and
Japanese, after . ! ? for space-delimited text), then clauses (、，), then
words, then characters; punctuation stays at the end of its sentence, so a
chunk only ends mid-sentence when one sentence is longer than a whole chunk.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import tiktoken
from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter

from ._errors import ConfigurationError
from ._loaders import theme_of
from ._schema import Chunk
from ._tokens import EncodingLike, resolve_encoding

__all__ = ["DEFAULT_CHUNK_OVERLAP", "DEFAULT_CHUNK_SIZE", "SEPARATORS", "Chunker"]

logger = logging.getLogger("qasynth")

DEFAULT_CHUNK_SIZE = 2000
DEFAULT_CHUNK_OVERLAP = 500

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
        self._splitter = RecursiveCharacterTextSplitter(
            separators=list(SEPARATORS),
            is_separator_regex=True,
            keep_separator="end",
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            length_function=self.count_tokens,
            strip_whitespace=True,
        )

    def count_tokens(self, text: str) -> int:
        return len(self.encoding.encode(text, disallowed_special=()))

    def split_text(self, text: str) -> list[str]:
        """Split text into pieces of at most ``chunk_size`` tokens."""
        pieces: list[str] = []
        for piece in self._splitter.split_text(text):
            if self.count_tokens(piece) <= self.chunk_size:
                pieces.append(piece)
            else:  # token counts are not always additive; cut what still overflows
                pieces.extend(self._hard_split(piece))
        return pieces

    def _hard_split(self, text: str) -> Iterator[str]:
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
            yield text[start:low]
            start = low

    def split_document(self, document: Document, *, theme: str | None = None) -> list[Chunk]:
        """The chunks of one document, with theme, source and index."""
        source = str(document.metadata.get("source") or "<text>")
        doc_theme = theme_of(document, theme)
        return [
            Chunk(text=text, theme=doc_theme, source=source, index=index)
            for index, text in enumerate(self.split_text(document.page_content))
        ]

    def split_documents(
        self, documents: Iterable[Document], *, theme: str | None = None
    ) -> Iterator[Chunk]:
        for document in documents:
            yield from self.split_document(document, theme=theme)

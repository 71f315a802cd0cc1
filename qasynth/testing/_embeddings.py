"""A deterministic, offline stand-in for an embedding model, for tests and examples."""

from __future__ import annotations

import math
import re
import unicodedata
import zlib

from langchain_core.embeddings import Embeddings

__all__ = ["BagOfWordsEmbeddings"]

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_STOP = frozenset(
    re.findall(
        r"\w+",
        "a an the of in on at to for by and or is are was were be been did does do which "
        "who what when where how whom whose that this it its with from as",
    )
)


class BagOfWordsEmbeddings(Embeddings):
    """Embeds a text as its bag of normalised words (case, accents and stop words
    ignored, each word hashed into one of ``size`` dimensions), so paraphrases that
    reuse the same content words land close, as with a real model.

    Digits are left out on purpose: like a real embedding model, it puts "the 2019
    final" and "the 2023 final" close together. Records the texts of every call in
    ``calls``."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.calls: list[list[str]] = []

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self.size
        folded = unicodedata.normalize("NFKD", text.casefold())
        folded = "".join(c for c in folded if not unicodedata.combining(c))
        for word in _WORD.findall(folded):
            if word not in _STOP:
                vector[zlib.crc32(word.encode()) % self.size] += 1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return [self._vector(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)

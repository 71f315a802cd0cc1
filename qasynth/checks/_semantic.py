"""Semantic duplicates: paraphrased questions across a run, found with embeddings.

:class:`SemanticDuplicates` is a run check (opt-in) that takes any LangChain
``Embeddings``. It embeds the generated questions (``origin == "generated"``:
paraphrases and translations made on purpose are left alone) in batches,
finds pairs whose cosine similarity reaches ``threshold``, and of each pair
keeps the better-grounded one (the first in chunk order on a tie), linking the
two so that their chunks share a split. The variants made from the dropped
question (its paraphrases, answer paraphrases and translations) go with it, as
if the duplicate had been removed before augmentation: the kept question has
variants of its own. With a multilingual embedding model,
a question and its translation in another document are found too.

Never merged, however close their vectors: questions that name different
numbers ("the 2019 final" / "the 2023 final"), and questions in the same
language that each name something the other does not mention ("Who beat
Japan ...?" / "Who beat Brazil ...?").

How it scales. Vectors are normalised, so a dot product is the cosine. Up to
:data:`EXACT_LIMIT` questions, every pair is compared (one matrix product per
block of rows). Above, random-hyperplane hashing (SimHash) picks candidates:
each of ``tables`` hash tables keys a vector by the signs of ``bits`` random
projections, so two vectors at angle θ share a key with probability
``(1 − θ/π)^bits``; ``bits`` grows with the run (about 64 vectors per bucket
when they are spread out) and ``tables`` is the smallest number that finds a
pair at exactly the threshold with probability :data:`RECALL` (0.95). Only
vectors sharing a bucket are compared (a matrix product per bucket), so the
work grows about linearly with the number of questions when the questions are
spread out; many near-identical questions make big buckets, compared in full.
Needs numpy (``pip install 'qasynth[semantic]'``).

Memory. Unlike the exact and near-duplicate checks, this one holds the run's
generated questions and their vectors in memory (``ctx.records``, and the
embeddings as they arrive: tens of kilobytes a question at 1536 dimensions),
also in a file run: plan for it above a few hundred thousand pairs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings
from pydantic import SecretStr

from .._constants import DEFAULT_EMBEDDING_MODEL, DEFAULT_SEMANTIC_THRESHOLD
from .._errors import ConfigurationError, ModelError
from .._quality import extract_names, extract_numbers, same_language
from .._quality.text import normalize, word_tokens
from .._schema import QARecord
from ._contract import CallEstimate, Check, RunContext, reject_variants
from ._model import pairs_per_chunk

if TYPE_CHECKING:
    import numpy

__all__ = [
    "DEFAULT_EMBEDDING_MODEL",
    "DEFAULT_SEMANTIC_THRESHOLD",
    "OpenAIEmbeddingsOnDemand",
    "SemanticDuplicates",
]

EXACT_LIMIT = 2048
RECALL = 0.95
_BUCKET = 64
_BLOCK = 1024
_SMALL = 256


class OpenAIEmbeddingsOnDemand(Embeddings):
    """OpenAI embeddings created on first use, with the chat model's key handling:
    ``api_key``/``base_url`` if given, else ``OPENAI_API_KEY``/``OPENAI_BASE_URL``;
    a base URL without a key works for local servers."""

    def __init__(
        self,
        model: str = DEFAULT_EMBEDDING_MODEL,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.model = model
        self._base_url = base_url
        self._api_key = api_key
        self._timeout = timeout
        self._client: Embeddings | None = None

    def client(self) -> Embeddings:
        """The OpenAI embeddings client (created once; no key: ``ConfigurationError``)."""
        if self._client is None:
            from langchain_openai import OpenAIEmbeddings

            from .._llm import openai_connection

            base_url, key = openai_connection(
                self._base_url, self._api_key, own_model="your own embeddings to the check"
            )
            self._client = OpenAIEmbeddings(
                model=self.model,
                openai_api_base=base_url,
                openai_api_key=SecretStr(key),
                request_timeout=self._timeout,
                max_retries=3,
                check_embedding_ctx_length=False,
            )
        return self._client

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.client().embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.client().embed_query(text)

    def __repr__(self) -> str:
        return f"OpenAIEmbeddingsOnDemand(model={self.model!r})"


class SemanticDuplicates(Check):
    """Drop generated questions that paraphrase another one (see the module doc)."""

    name = "semantic_duplicates"
    scope = "run"

    def __init__(
        self,
        embeddings: Embeddings,
        *,
        threshold: float = DEFAULT_SEMANTIC_THRESHOLD,
        batch_size: int = 256,
        seed: int = 0,
    ) -> None:
        if not isinstance(embeddings, Embeddings):
            raise ConfigurationError(
                f"embeddings must be a LangChain Embeddings object, got {type(embeddings).__name__}"
            )
        if not 0.0 < threshold <= 1.0:
            raise ConfigurationError(
                f"semantic duplicate threshold must be in (0, 1], got {threshold}"
            )
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be at least 1, got {batch_size}")
        self.embeddings = embeddings
        self.threshold = threshold
        self.batch_size = batch_size
        self.seed = seed

    def prepare(self) -> None:
        _numpy()
        if isinstance(self.embeddings, OpenAIEmbeddingsOnDemand):
            self.embeddings.client()

    def estimate_run(
        self, *, chunk_tokens: Sequence[int], pair_tokens: Sequence[int]
    ) -> CallEstimate:
        """One embedding call per ``batch_size`` generated questions (a pair per
        ~60 tokens of generated pairs). Embedding tokens (the questions) are priced
        far below chat tokens and are not in the token totals."""
        questions = sum(pairs_per_chunk(tokens) for tokens in pair_tokens)
        return CallEstimate(calls=math.ceil(questions / self.batch_size))

    def check_run(self, ctx: RunContext) -> None:
        records = [r for r in ctx.records if r.origin == "generated"]
        if len(records) < 2:
            return
        vectors = self._embed([r.question for r in records], ctx)
        neighbours: dict[int, list[int]] = {}
        for a, b in similar_pairs(vectors, self.threshold, seed=self.seed):
            neighbours.setdefault(a, []).append(b)
            neighbours.setdefault(b, []).append(a)
        order = sorted(neighbours, key=lambda i: (-_grounding(records[i]), i))
        kept: set[int] = set()
        dropped: set[int] = set()
        variants_of: dict[tuple[str, str], str] = {}  # the dropped, for their variants
        for position in order:
            if position in dropped:
                continue
            kept.add(position)
            best = records[position]
            for other in sorted(neighbours[position]):
                if other in kept or other in dropped or not same_fact(best, records[other]):
                    continue
                dropped.add(other)
                duplicate = records[other]
                ctx.link(best, duplicate)
                ctx.reject(duplicate, "semantic_duplicate", f"paraphrase of: {best.question}")
                variants_of[(duplicate.chunk_id, duplicate.question)] = (
                    f"a variant of a paraphrase of: {best.question}"
                )
        reject_variants(ctx, variants_of, "semantic_duplicate")

    def _embed(self, texts: Sequence[str], ctx: RunContext) -> numpy.ndarray[Any, Any]:
        np = _numpy()
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            try:
                vectors = self.embeddings.embed_documents(batch)
            except ConfigurationError:
                raise
            except Exception as exc:
                raise ModelError(
                    f"the embeddings call for semantic duplicates failed ({type(exc).__name__}: "
                    f"{exc}); check the embedding model and its server, or drop "
                    "--semantic-duplicates (semantic_duplicates=); a file run keeps every "
                    "finished chunk, so the same command continues"
                ) from exc
            ctx.count_calls(self.name)
            if len(vectors) != len(batch):
                raise ModelError(
                    f"the embeddings returned {len(vectors)} vectors for {len(batch)} questions"
                )
            rows.extend(vectors)
        matrix = np.asarray(rows, dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.where(norms == 0, 1, norms)  # type: ignore[no-any-return]


def similar_pairs(
    vectors: numpy.ndarray[Any, Any], threshold: float, *, seed: int = 0
) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, of unit ``vectors`` with a dot product of at
    least ``threshold``: exact up to :data:`EXACT_LIMIT` rows, hashed above."""
    count = len(vectors)
    if count <= EXACT_LIMIT:
        return _pairs_within(vectors, list(range(count)), threshold)
    np = _numpy()
    bits = min(24, max(8, math.ceil(math.log2(count / _BUCKET))))
    collide = (1 - math.acos(min(1.0, threshold)) / math.pi) ** bits
    tables = math.ceil(math.log(1 - RECALL) / math.log(1 - collide)) if collide < 1 else 1
    rng = np.random.default_rng(seed)
    planes = rng.standard_normal((vectors.shape[1], bits * tables)).astype(np.float32)
    signs = (vectors @ planes) > 0
    weights = (1 << np.arange(bits, dtype=np.int64)).astype(np.int64)
    found: set[tuple[int, int]] = set()
    for table in range(tables):
        keys = signs[:, table * bits : (table + 1) * bits].astype(np.int64) @ weights
        order = np.argsort(keys, kind="stable")
        cuts = np.flatnonzero(np.diff(keys[order])) + 1
        for bucket in np.split(order, cuts):
            if len(bucket) > 1:
                found.update(_pairs_within(vectors, bucket.tolist(), threshold))
    return sorted(found)


def _pairs_within(
    vectors: numpy.ndarray[Any, Any], members: list[int], threshold: float
) -> list[tuple[int, int]]:
    """Pairs of ``members`` at least ``threshold`` alike (block by block of rows)."""
    np = _numpy()
    sub = vectors[members]
    pairs: list[tuple[int, int]] = []
    for start in range(0, len(members), _BLOCK):
        block = sub[start : start + _BLOCK]
        # small blocks: einsum's own loop; threaded BLAS costs more than it saves there
        sims = np.einsum("id,jd->ij", block, sub) if len(sub) <= _SMALL else block @ sub.T
        rows, cols = np.nonzero(sims >= threshold - 1e-6)
        for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
            a, b = members[start + row], members[col]
            if a < b:
                pairs.append((a, b))
    return pairs


def same_fact(a: QARecord, b: QARecord) -> bool:
    """Whether two similar questions may ask the same fact: they name the same numbers
    and, in the same language, neither names something the other never mentions."""
    if extract_numbers(a.question) != extract_numbers(b.question):
        return False
    if not same_language(a.question, b.question):
        return True  # names are spelled differently across languages; numbers decided
    return not (_names_missing(a.question, b.question) and _names_missing(b.question, a.question))


def _names_missing(text: str, other: str) -> bool:
    """Whether ``text`` names something of which ``other`` has not a single word."""
    other_words, other_text = set(word_tokens(other)), normalize(other)
    for name in extract_names(text):
        name_words = set(word_tokens(name))
        if name_words and not name_words & other_words and normalize(name) not in other_text:
            return True
    return False


def _grounding(record: QARecord) -> float:
    score = record.annotations.get("grounding")
    return float(score) if isinstance(score, (int, float)) else 0.0


def _numpy() -> Any:
    try:
        import numpy
    except ImportError as exc:
        raise ConfigurationError(
            "semantic duplicates need numpy: pip install 'qasynth[semantic]'"
        ) from exc
    return numpy

"""The one contract every check follows, built-in or yours.

A :class:`Check` has a scope:

- ``"chunk"``: :meth:`Check.acheck_chunk` runs as each chunk finishes, sees the
  chunk and its pairs through a :class:`ChunkContext`, and may call the model
  (``ctx.ask``). Checks run in the order given; pairs that a check adds
  (paraphrases, translations, top-ups) go through every earlier check that calls
  no model, so they meet the same bar as the pairs the model wrote first.
- ``"run"``: :meth:`Check.check_run` runs once the run is complete and sees every
  kept record in chunk order through a :class:`RunContext` (so its result does
  not depend on which request finished first). In a file run the records stay
  in the run's state on disk: iterating the context reads them from there, so
  a run check that keeps only small keys (or none) runs in bounded memory
  whatever the size of the run; ``ctx.records`` builds a list of all of them.

Both contexts have the same three verbs: ``reject(record, reason, evidence)``,
``annotate(record, **values)`` and ``link(a, b)`` (two records state the same
fact, so their chunks must land in the same train/val/test split).

A check that calls the model says how many calls and tokens it costs per chunk
in :meth:`Check.estimate`, so ``plan`` can price any check without knowing it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel

from .._schema import QA, Chunk, QARecord, Rejection

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = ["CallEstimate", "Check", "ChunkContext", "PairCheck", "RunContext"]

M = TypeVar("M", bound=BaseModel)

Scope = Literal["chunk", "run"]


@dataclass(frozen=True)
class CallEstimate:
    """What a check costs per chunk, for ``plan``.

    ``calls`` are expected model calls; ``at_most`` is a bound on extra calls that
    happen only sometimes (top-ups) and is not in the totals. Tokens are estimates.
    """

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    at_most: int = 0


class Check:
    """Base of every check. Subclass it (or :class:`PairCheck`), set ``name`` and
    ``scope``, and implement :meth:`acheck_chunk` or :meth:`check_run`."""

    name: ClassVar[str] = "check"
    scope: ClassVar[Scope] = "chunk"

    async def acheck_chunk(self, ctx: ChunkContext) -> None:
        """Look at one chunk's pairs; reject, annotate, link or add through ``ctx``."""
        raise NotImplementedError(f"{type(self).__name__} has scope 'chunk' but no acheck_chunk")

    def check_run(self, ctx: RunContext) -> None:
        """Look at every kept record of the run; reject, annotate or link through ``ctx``."""
        raise NotImplementedError(f"{type(self).__name__} has scope 'run' but no check_run")

    @property
    def calls_model(self) -> bool:
        """Whether this check may call the model (from :meth:`estimate`)."""
        estimate = self.estimate(chunk_tokens=1000, pair_tokens=500)
        return bool(estimate.calls or estimate.at_most)

    def estimate(self, *, chunk_tokens: int, pair_tokens: int) -> CallEstimate:
        """Model calls and tokens per chunk for a chunk of ``chunk_tokens`` whose
        generated pairs take about ``pair_tokens``. Model-free checks cost nothing."""
        return CallEstimate()

    def estimate_run(
        self, *, chunk_tokens: Sequence[int], pair_tokens: Sequence[int]
    ) -> CallEstimate:
        """Calls and tokens for a whole run whose chunks have ``chunk_tokens`` (and
        generated pairs of about ``pair_tokens``). By default the sum of
        :meth:`estimate` per chunk; a check whose calls span chunks (embedding
        batches, say) overrides it."""
        total = CallEstimate()
        for chunk, pairs in zip(chunk_tokens, pair_tokens, strict=True):
            one = self.estimate(chunk_tokens=chunk, pair_tokens=pairs)
            total = CallEstimate(
                total.calls + one.calls,
                total.input_tokens + one.input_tokens,
                total.output_tokens + one.output_tokens,
                total.at_most + one.at_most,
            )
        return total

    def prepare(self) -> None:
        """Called once before a run makes its first model call: a check that needs
        a key or an optional package raises :class:`~qasynth.QasynthError` here, so a
        missing one costs nothing. Does nothing by default."""

    def describe(self) -> str:
        """The check and its simple settings, for a run's fingerprint."""
        simple = (int, float, str, bool, type(None), list, tuple)
        settings = {k: v for k, v in sorted(vars(self).items()) if isinstance(v, simple)}
        return f"{type(self).__name__}{settings}"

    def __repr__(self) -> str:
        return self.describe()


class PairCheck(Check):
    """A chunk check that looks at one pair at a time and needs no model.

    Implement :meth:`check_pair`: return ``None`` to keep the pair, or the reason
    to reject it (optionally ``(reason, evidence)``).
    """

    scope: ClassVar[Scope] = "chunk"

    def check_pair(self, record: QARecord, chunk: Chunk) -> str | tuple[str, str] | None:
        raise NotImplementedError(f"{type(self).__name__} has no check_pair")

    async def acheck_chunk(self, ctx: ChunkContext) -> None:
        for record in ctx.records:
            verdict = self.check_pair(record, ctx.chunk)
            if verdict:
                reason, evidence = (verdict, "") if isinstance(verdict, str) else verdict
                ctx.reject(record, reason, evidence)


class _Context:
    """Kept records and the verbs shared by both scopes."""

    def __init__(self, records: Sequence[QARecord]) -> None:
        self._records: list[QARecord | None] = list(records)
        self._where = {id(r): i for i, r in enumerate(self._records)}
        self._rejections: list[Rejection] = []
        self._links: list[tuple[QARecord, QARecord]] = []

    @property
    def rejections(self) -> list[Rejection]:
        """The rejections made through this context, in order."""
        return self._rejections

    @property
    def links(self) -> list[tuple[QARecord, QARecord]]:
        """The pairs of records linked through this context, in order."""
        return self._links

    @property
    def records(self) -> list[QARecord]:
        """The records still kept (a copy: rejecting while iterating is safe)."""
        return [r for r in self._records if r is not None]

    def _position(self, record: QARecord) -> int:
        position = self._where.get(id(record))
        if position is None or self._records[position] is not record:
            raise ValueError(f"not a kept record of this context: {record.question!r}")
        return position

    def reject(self, record: QARecord, reason: str, evidence: str = "") -> None:
        """Drop ``record``; ``reason`` is a short code, ``evidence`` says why."""
        self._records[self._position(record)] = None
        notes = "; ".join(f"{k}: {v}" for k, v in record.annotations.items())
        self._rejections.append(
            Rejection(
                reason, record.question, record.answer, record.chunk_id,
                "; ".join(filter(None, [evidence, notes])),
            )
        )  # fmt: skip

    def annotate(self, record: QARecord, **values: Any) -> QARecord:
        """Attach values to ``record`` (kept with it, e.g. a score); returns the new record."""
        position = self._position(record)
        updated = _annotated(record, {**record.annotations, **values})
        self._records[position] = updated
        del self._where[id(record)]
        self._where[id(updated)] = position
        return updated

    def link(self, a: QARecord, b: QARecord) -> None:
        """Say that ``a`` and ``b`` state the same fact (their chunks share a split)."""
        self._links.append((a, b))


def _annotated(record: QARecord, annotations: dict[str, Any]) -> QARecord:
    """``replace(record, annotations=annotations)``. A plain record is copied field by
    field from its ``__dict__``: ``dataclasses.replace`` reads every field's settings and
    runs ``__init__``, five times the cost, and the checks annotate every pair."""
    if type(record) is not QARecord:
        return replace(record, annotations=annotations)
    updated: QARecord = object.__new__(QARecord)
    fields = updated.__dict__
    fields.update(record.__dict__)
    fields["annotations"] = annotations
    return updated


Ask = Callable[[str, Sequence["BaseMessage"], type[BaseModel]], Awaitable[BaseModel]]
AskPairs = Callable[[str, Sequence["BaseMessage"]], Awaitable[list[QA]]]


class ChunkContext(_Context):
    """One chunk's pairs, for a chunk check."""

    def __init__(
        self,
        chunk: Chunk,
        records: Sequence[QARecord],
        *,
        ask: Ask,
        ask_pairs: AskPairs,
        prompt: Any = None,
        settle: Callable[[ChunkContext], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(records)
        self.chunk = chunk
        self._settle = settle
        self.prompt = prompt
        """The run's prompt (a ``QAPrompt`` or a ``ChatPromptTemplate``)."""
        self._ask = ask
        self._ask_pairs = ask_pairs
        self._added: list[int] = []

    def add(self, record: QARecord) -> None:
        """Add a new pair (a paraphrase, translation or top-up) to this chunk."""
        self._where[id(record)] = len(self._records)
        self._added.append(len(self._records))
        self._records.append(record)

    def take_added(self) -> list[QARecord]:
        """The records added since the last call (the runner checks them again)."""
        added, self._added = self._added, []
        return [r for r in (self._records[p] for p in added) if r is not None]

    async def settle(self) -> None:
        """Put the pairs added so far through the earlier model-free checks now (the
        run does this after every check; call it to count what is kept mid-check)."""
        if self._settle is not None:
            await self._settle(self)

    def sub_context(self, records: Sequence[QARecord]) -> ChunkContext:
        """A context over some of this chunk's records (same chunk, model and prompt)."""
        return ChunkContext(
            self.chunk, records, ask=self._ask, ask_pairs=self._ask_pairs, prompt=self.prompt
        )

    def absorb(self, added: Sequence[QARecord], sub: ChunkContext) -> None:
        """Take over what checks decided on ``sub``, a context over ``added`` records."""
        for original, now in zip(added, sub._records, strict=False):
            position = self._position(original)
            del self._where[id(original)]
            self._records[position] = now
            if now is not None:
                self._where[id(now)] = position
        for extra in sub._records[len(added) :]:
            if extra is not None:
                self.add(extra)
        self.rejections.extend(sub.rejections)
        self.links.extend(sub.links)

    async def ask(self, step: str, messages: Sequence[BaseMessage], schema: type[M]) -> M:
        """Call the model (a call of kind ``step``) and parse the reply into ``schema``
        on the usual path: local repair, then the output fixer."""
        value = await self._ask(step, messages, schema)
        if not isinstance(value, schema):
            raise TypeError(f"expected {schema.__name__}, got {type(value).__name__}")
        return value

    async def ask_pairs(self, step: str, messages: Sequence[BaseMessage]) -> list[QA]:
        """Call the model for question-answer pairs, parsed like the first reply."""
        return await self._ask_pairs(step, messages)


class RunContext(_Context):
    """Every kept record of a run, in chunk order, for a run check.

    ``for record in ctx`` goes through the records kept when the loop starts
    (rejecting while iterating is safe), as often as a check needs. In a file run
    the records are read from the run's state on disk as the loop goes, so memory
    does not grow with the run; ``ctx.records`` (a list of them all) and
    ``ctx.rejections`` (a list of all rejections) cost memory in proportion to the
    run, which is fine for thousands of pairs and not for millions. Records are
    told apart by where they are, not by value: pass ``reject``, ``annotate`` and
    ``link`` the record objects the context gave (or ``annotate`` returned).
    """

    def __init__(self, records: Sequence[QARecord]) -> None:
        super().__init__(records)
        self.calls: Counter[str] = Counter()
        """Paid calls a run check made (embeddings, say), by step: the run's
        statistics count them (``Stats.calls_by_kind``)."""

    def count_calls(self, step: str, calls: int = 1) -> None:
        """Count ``calls`` paid calls of kind ``step`` in the run's statistics."""
        self.calls[step] += calls

    def __iter__(self) -> Iterator[QARecord]:
        return iter(self.records)

    def __len__(self) -> int:
        """How many records are kept."""
        return len(self._records) - self._records.count(None)

    def _numbered(self) -> Iterator[tuple[int, QARecord]]:
        """The kept records with their numbers: numbers grow in chunk order and name a
        record for the whole run (see :meth:`_record`), whatever is rejected."""
        return iter([(n, r) for n, r in enumerate(self._records) if r is not None])

    def _record(self, number: int) -> QARecord:
        """The kept record numbered ``number``, as it is now (annotations included)."""
        record = self._records[number]
        if record is None:
            raise ValueError(f"record {number} is not kept any more")
        return record


def reject_variants(ctx: RunContext, rejected: dict[tuple[str, str], str], reason: str) -> None:
    """Reject the records made from rejected ones (paraphrases, translations, answer
    paraphrases: same chunk, ``derived_from`` their question), as if the rejected
    record had been dropped before they were made. ``rejected``: (chunk id,
    question) of each rejected record → the evidence for its variants. One pass over
    the kept records."""
    if not rejected:
        return
    variants = [
        record
        for _, record in ctx._numbered()
        if record.derived_from is not None
        and (record.chunk_id, record.derived_from) in rejected
        and record.origin != "generated"
    ]
    for variant in variants:
        ctx.reject(variant, reason, rejected[(variant.chunk_id, str(variant.derived_from))])


@dataclass
class Outcome:
    """What a set of checks left: kept records, rejections and links."""

    records: list[QARecord]
    rejections: list[Rejection] = field(default_factory=list)
    links: list[tuple[QARecord, QARecord]] = field(default_factory=list)

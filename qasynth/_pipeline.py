"""The pipeline: documents → chunks → prompt → model → parsing → validation.

:class:`Synthesizer` composes the stages and owns concurrency, progress and
statistics. :func:`synthesize` and :func:`asynthesize` are the one-call forms.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.caches import BaseCache
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from tqdm.auto import tqdm

from ._cache import SQLiteResponseCache
from ._chunking import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE, Chunker
from ._concurrency import ModelCaller
from ._dataset import Dataset, Stats
from ._errors import ModelError
from ._filters import (
    DEFAULT_GROUNDING_THRESHOLD,
    DEFAULT_NEAR_DUPLICATE_THRESHOLD,
    GroundingCheck,
    LanguageCheck,
    NearDuplicates,
    StandaloneCheck,
)
from ._finalize import finish_records
from ._llm import (
    DEFAULT_MODEL,
    DEFAULT_REQUEST_TIMEOUT,
    default_chat_model,
    model_name_of,
    model_params_of,
)
from ._loaders import DocumentInput, iter_documents
from ._parsing import DEFAULT_MAX_FIX_ATTEMPTS, message_text
from ._prompts import DEFAULT_PROMPT, QAPrompt
from ._runs import RunReport, SplitOptions, arun_to_file
from ._schema import Chunk
from ._steps import ChunkStep, LLMJudge, Paraphraser, Translator
from ._sync import run_sync
from ._tokens import EncodingLike
from ._validation import (
    DEFAULT_MAX_ANSWER_CHARS,
    DEFAULT_MAX_QUESTION_CHARS,
    GroupFilter,
    PairValidator,
    RunFilter,
    default_run_filters,
    default_validators,
)
from ._worker import ChunkResult, ChunkWorker

__all__ = ["ChunkResult", "Synthesizer", "asynthesize", "synthesize"]

logger = logging.getLogger("qasynth")

Inputs = DocumentInput | Iterable[DocumentInput]


class Synthesizer:
    """Turns documents into validated question-answer records.

    Every option is keyword-only and has a default that suits most runs. Pass
    any LangChain chat model as ``llm``; without one, ``model`` names an OpenAI
    model created on first use (``OPENAI_API_KEY``/``OPENAI_BASE_URL`` apply).
    ``cache`` (a LangChain ``BaseCache`` or a path for a SQLite one) answers a
    repeated prompt to the same model without a second paid call.

    Quality checks that cost no model call are on by default: stand-alone
    questions, language (``"auto"``: the chunk's; a code such as ``"ja"``; or
    ``None`` to turn it off), grounding of answers in their chunk
    (``grounding_threshold``, ``None`` to turn off) and near-duplicate questions
    across the run (``near_duplicate_threshold``). ``validators`` and
    ``run_filters`` replace the defaults entirely. Checks that call the model
    again are off by default: ``judge``, ``paraphrases``, ``also_languages`` and
    top-ups to ``min_pairs_per_chunk``.
    """

    def __init__(
        self,
        *,
        llm: BaseChatModel | None = None,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.0,
        prompt: QAPrompt | None = None,
        theme: str | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        chunk_overlap: int = DEFAULT_CHUNK_OVERLAP,
        encoding: EncodingLike | None = None,
        max_fix_attempts: int = DEFAULT_MAX_FIX_ATTEMPTS,
        concurrency: int = 8,
        rpm: float | None = None,
        tpm: int | None = None,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        max_attempts: int = 5,
        retry_base_delay: float = 1.0,
        max_question_chars: int = DEFAULT_MAX_QUESTION_CHARS,
        max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS,
        min_pairs_per_chunk: int = 0,
        max_topups: int = 2,
        judge: bool = False,
        judge_threshold: int = 3,
        paraphrases: int = 0,
        also_languages: Sequence[str] = (),
        steps: Sequence[ChunkStep] | None = None,
        grounding_threshold: float | None = DEFAULT_GROUNDING_THRESHOLD,
        standalone: bool = True,
        language: str | None = "auto",
        near_duplicate_threshold: float | None = DEFAULT_NEAR_DUPLICATE_THRESHOLD,
        validators: Sequence[PairValidator] | None = None,
        run_filters: Sequence[RunFilter | GroupFilter] | None = None,
        progress: bool = True,
        cache: BaseCache | str | Path | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.llm = llm
        self.model = model
        self.base_url = base_url
        self.api_key = api_key
        self.temperature = temperature
        self.prompt = prompt or DEFAULT_PROMPT
        self.theme = theme
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.encoding = encoding
        self.max_fix_attempts = max_fix_attempts
        self.concurrency = concurrency
        self.rpm = rpm
        self.tpm = tpm
        self.request_timeout = request_timeout
        self.max_attempts = max_attempts
        self.retry_base_delay = retry_base_delay
        if validators is None:
            validators = default_validators(
                max_question_chars=max_question_chars, max_answer_chars=max_answer_chars
            )
            validators += _quality_checks(grounding_threshold, standalone, language)
        self.validators = list(validators)
        self.min_pairs_per_chunk = min_pairs_per_chunk
        self.max_topups = max_topups
        self.judge = judge
        self.judge_threshold = judge_threshold
        self.paraphrases = paraphrases
        self.also_languages = list(also_languages)
        self._steps = None if steps is None else list(steps)
        if run_filters is None:
            run_filters = [*default_run_filters()]
            if near_duplicate_threshold is not None:
                run_filters.append(NearDuplicates(threshold=near_duplicate_threshold))
        self.run_filters: list[RunFilter | GroupFilter] = list(run_filters)
        self.progress = progress
        self.cache = cache
        self._cache_applied = False

    # -- stages -----------------------------------------------------------------

    def chat_model(self) -> BaseChatModel:
        """The model in use, creating the default one on first call."""
        if self.llm is None:
            self.llm = default_chat_model(
                self.model,
                temperature=self.temperature,
                base_url=self.base_url,
                api_key=self.api_key,
                timeout=self.request_timeout,
            )
        if self.cache is not None and not self._cache_applied:
            cache = self.cache
            if isinstance(cache, (str, Path)):
                cache = SQLiteResponseCache(cache)
            self.llm = self.llm.model_copy(update={"cache": cache})
            self._cache_applied = True
        return self.llm

    @property
    def model_name(self) -> str:
        return model_name_of(self.llm) if self.llm is not None else self.model

    def chunker(self) -> Chunker:
        return Chunker(
            chunk_size=self.chunk_size,
            chunk_overlap=self.chunk_overlap,
            encoding=self.encoding,
            model=self.model_name,
        )

    def iter_chunks(
        self, docs: Inputs, *, chunker: Chunker | None = None, stats: Stats | None = None
    ) -> Iterator[Chunk]:
        """Every chunk of every document, in order (documents are read lazily)."""
        chunker = chunker or self.chunker()
        stats = stats if stats is not None else Stats()
        for document in iter_documents(docs):
            chunks = self._split(chunker, document, stats)
            yield from chunks

    def _split(self, chunker: Chunker, document: Document, stats: Stats) -> list[Chunk]:
        stats.documents += 1
        if not document.page_content.strip():
            stats.empty_documents += 1
            logger.info("skipping empty document %s", document.metadata.get("source"))
            return []
        chunks = chunker.split_document(document, theme=self.theme)
        stats.chunks += len(chunks)
        return chunks

    def make_caller(self) -> ModelCaller:
        """The model caller for one run (limits, timeouts, retries)."""
        estimate: Callable[[Sequence[BaseMessage]], int] | None = None
        if self.tpm:
            encoding = self.chunker().encoding

            def estimate(messages: Sequence[BaseMessage]) -> int:
                """Prompt tokens, doubled to leave room for the reply."""
                text = "".join(message_text(m) for m in messages)
                return 2 * len(encoding.encode(text, disallowed_special=()))

        return ModelCaller(
            self.chat_model(),
            concurrency=self.concurrency,
            request_timeout=self.request_timeout,
            max_attempts=self.max_attempts,
            retry_base_delay=self.retry_base_delay,
            rpm=self.rpm,
            tpm=self.tpm,
            estimate_tokens=estimate,
            secrets=(self.api_key,),
        )

    def steps(self) -> list[ChunkStep]:
        """The chunk steps of this run: the ones given, else those the options ask for."""
        if self._steps is not None:
            return list(self._steps)
        steps: list[ChunkStep] = []
        if self.judge:
            steps.append(LLMJudge(threshold=self.judge_threshold))
        if self.paraphrases:
            steps.append(Paraphraser(self.paraphrases))
        if self.also_languages:
            steps.append(Translator(self.also_languages))
        return steps

    def worker(self, caller: ModelCaller | None = None) -> ChunkWorker:
        return ChunkWorker(
            caller or self.make_caller(),
            prompt=self.prompt,
            validators=self.validators,
            steps=self.steps(),
            max_fix_attempts=self.max_fix_attempts,
            min_pairs_per_chunk=self.min_pairs_per_chunk,
            max_topups=self.max_topups,
        )

    async def aprocess_chunk(self, chunk: Chunk, *, seq: int = 0) -> ChunkResult:
        """Generate, parse and validate one chunk. Never raises for bad output."""
        return await self.worker().process(chunk, seq)

    # -- running ----------------------------------------------------------------

    async def astream(
        self,
        docs: Inputs,
        *,
        stats: Stats | None = None,
        skip: Callable[[Chunk], bool] | None = None,
    ) -> AsyncIterator[ChunkResult]:
        """Yield each chunk's result as soon as it is finished (not in order).

        At most ``concurrency`` chunks are in progress at once, so memory stays
        bounded however large the input. ``skip`` leaves out chunks (for
        example, ones a resumed run has already done); they are counted in
        ``stats.chunks_resumed``.
        """
        stats = stats if stats is not None else Stats()
        worker = self.worker()  # fails here, before any work, without a key
        chunker = self.chunker()
        bar = tqdm(total=0, unit="chunk", desc="qasynth", disable=not self.progress)
        pending: set[asyncio.Task[ChunkResult]] = set()
        try:
            async for seq, chunk in self._aiter_chunks(docs, chunker, stats, bar):
                if skip is not None and skip(chunk):
                    stats.chunks_resumed += 1
                    bar.update(1)
                    continue
                if len(pending) >= self.concurrency:
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        bar.update(1)
                        yield task.result()
                pending.add(asyncio.create_task(worker.process(chunk, seq)))
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    bar.update(1)
                    yield task.result()
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            bar.close()

    async def _aiter_chunks(
        self, docs: Inputs, chunker: Chunker, stats: Stats, bar: Any
    ) -> AsyncIterator[tuple[int, Chunk]]:
        documents = iter_documents(docs)
        seq = 0
        while True:  # read and split off the event loop, so requests keep flowing
            document = await asyncio.to_thread(next, documents, None)
            if document is None:
                return
            chunks = await asyncio.to_thread(self._split, chunker, document, stats)
            bar.total = stats.chunks
            bar.refresh()
            for chunk in chunks:
                yield seq, chunk
                seq += 1

    async def arun(self, docs: Inputs) -> Dataset:
        """Process every chunk and return the :class:`Dataset` (records in chunk order).

        If the provider refuses the request part-way, the error raised carries
        what was already made as ``error.partial`` (a ``Dataset``).
        """
        stats = Stats()
        results: list[ChunkResult] = []
        try:
            async for result in self.astream(docs, stats=stats):
                result.add_to(stats)
                results.append(result)
        except ModelError as exc:
            exc.partial = self.assemble(results, stats)
            raise
        return self.assemble(results, stats)

    def assemble(self, results: Iterable[ChunkResult], stats: Stats) -> Dataset:
        """Order results by chunk, apply the whole-run filters, build the Dataset."""
        ordered = sorted(results, key=lambda r: r.seq)
        finished = finish_records([rec for r in ordered for rec in r.records], self.run_filters)
        stats.rejections.update(r.reason for r in finished.rejections)
        stats.pairs_kept = len(finished.records)
        return Dataset(
            finished.records,
            failures=[r.failure for r in ordered if r.failure is not None],
            rejections=[rej for r in ordered for rej in r.rejections] + finished.rejections,
            stats=stats,
            chunk_links=finished.chunk_links,
        )

    def run(self, docs: Inputs) -> Dataset:
        """Synchronous :meth:`arun` (also works inside a running event loop)."""
        return run_sync(self.arun(docs))

    def fingerprint(self) -> dict[str, Any]:
        """What makes saved chunk results comparable: prompt, model, chunking and the
        per-chunk checks and steps (never keys)."""
        return {
            "prompt": self.prompt.fingerprint(),
            "model": model_params_of(self.chat_model()),
            "chunking": {
                "chunk_size": self.chunk_size,
                "chunk_overlap": self.chunk_overlap,
                "encoding": self.chunker().encoding.name,
                "theme": self.theme,
            },
            "checks": [_describe(step) for step in [*self.validators, *self.steps()]],
            "min_pairs_per_chunk": [self.min_pairs_per_chunk, self.max_topups],
        }

    async def arun_to_file(
        self,
        docs: Inputs,
        output: str | Path,
        *,
        system_prompt: str | None = None,
        restart: bool = False,
        retry_failed: bool = False,
        splits: SplitOptions | None = None,
    ) -> RunReport:
        """Run resumably into a chat JSONL file, keeping state beside it.

        Records stream into ``OUT.qasynth.sqlite`` as chunks finish (memory
        stays bounded); the JSONL is written at the end, in chunk order. Run the
        same call again after a crash to continue; ``retry_failed`` retries the
        failed chunks; ``restart`` discards state made with another prompt,
        model or chunking. Failed chunks go to ``OUT.failures.jsonl``.
        """
        return await arun_to_file(
            self, docs, output, system_prompt=system_prompt, restart=restart,
            retry_failed=retry_failed, splits=splits,
        )  # fmt: skip

    def run_to_file(
        self,
        docs: Inputs,
        output: str | Path,
        *,
        system_prompt: str | None = None,
        restart: bool = False,
        retry_failed: bool = False,
        splits: SplitOptions | None = None,
    ) -> RunReport:
        """Synchronous :meth:`arun_to_file`."""
        return run_sync(
            self.arun_to_file(
                docs, output, system_prompt=system_prompt, restart=restart,
                retry_failed=retry_failed, splits=splits,
            )
        )  # fmt: skip


def _describe(step: object) -> str:
    """A step's class and simple settings, for the run fingerprint."""
    simple = (int, float, str, bool, type(None), list, tuple)
    settings = {k: v for k, v in sorted(vars(step).items()) if isinstance(v, simple)}
    return f"{type(step).__name__}{settings}"


def _quality_checks(
    grounding_threshold: float | None, standalone: bool, language: str | None
) -> list[PairValidator]:
    checks: list[PairValidator] = []
    if standalone:
        checks.append(StandaloneCheck())
    if language is not None:
        checks.append(LanguageCheck(target=None if language == "auto" else language))
    if grounding_threshold is not None:
        checks.append(GroundingCheck(threshold=grounding_threshold))
    return checks


def synthesize(docs: Inputs, **options: Any) -> Dataset:
    """Make a :class:`Dataset` of question-answer records from documents.

    ``docs`` is text, a path, a ``Document`` or an iterable of them; options
    are those of :class:`Synthesizer` (``llm=``, ``chunk_size=``, ...).
    """
    return Synthesizer(**options).run(docs)


async def asynthesize(docs: Inputs, **options: Any) -> Dataset:
    """Asynchronous :func:`synthesize`."""
    return await Synthesizer(**options).arun(docs)

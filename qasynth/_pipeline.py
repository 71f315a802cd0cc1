"""The pipeline: documents → chunks → ``prompt | model | parser`` → checks → Dataset.

:class:`Synthesizer` is a LangChain ``Runnable`` from inputs to a
:class:`~qasynth.Dataset`; it owns concurrency, progress and statistics, and
every model call of a run nests under its one trace. :func:`synthesize` and
:func:`asynthesize` are the one-call forms; they take flat options, which
:meth:`Synthesizer.from_options` (the one place that maps them) turns into the
few objects a run is made of.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.caches import BaseCache
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel

from ._cache import SQLiteResponseCache
from ._calls import ModelCaller
from ._chunk import ChunkResult, ChunkRunner
from ._chunking import Chunker
from ._dataset import Dataset, add_into
from ._errors import CheckError, ConfigurationError, ModelError
from ._filerun import RunReport, SplitOptions, run_to_file
from ._finish import finish
from ._io_schema import SynthesizerInput, SynthesizerOutput
from ._limits import Limits
from ._llm import DEFAULT_MODEL, default_chat_model, model_name_of, model_params_of, secrets_of
from ._loaders import DocumentInput, iter_documents
from ._parsing import DEFAULT_MAX_FIX_ATTEMPTS, message_text
from ._prompts import (
    DEFAULT_PROMPT,
    PromptLike,
    check_prompt,
    configure_prompt,
    prompt_fingerprint,
)
from ._replies import replace_lone_surrogates
from ._runloop import chunk_results
from ._runs import RunState, state_path_for
from ._runtrace import traced
from ._schema import Chunk
from ._settings import build_synthesizer_options
from ._splitchild import SplitSettings
from ._stats import Stats
from ._structured import check_mode, response_format, use_structured
from ._sync import iterate_sync, run_sync
from .checks import Check, default_checks

__all__ = ["Inputs", "Synthesizer", "asynthesize", "synthesize"]

logger = logging.getLogger("qasynth")

Inputs = DocumentInput | Iterable[DocumentInput]


class Synthesizer(Runnable[Any, Dataset]):
    """Turns documents into checked question-answer records.

    ``llm`` is any LangChain chat model, or a model name for which an OpenAI
    chat model is created on first use (``base_url``, ``api_key`` and
    ``temperature`` apply to it; ``OPENAI_API_KEY``/``OPENAI_BASE_URL`` too).
    ``api_key`` given with a model object is a secret to keep out of every
    output, log and error (the model's own key is kept out anyway).
    ``prompt`` is a :class:`~qasynth.QAPrompt` or a ``ChatPromptTemplate`` with
    ``{theme}`` and ``{text}``; ``chunker`` a :class:`~qasynth.Chunker`;
    ``checks`` the checks in the order they run (default:
    :func:`qasynth.checks.default_checks`); ``limits`` a :class:`~qasynth.Limits`;
    ``cache`` a LangChain ``BaseCache`` or a path for a SQLite one, so a repeated
    prompt is never paid twice. ``theme`` names documents that have none.
    ``context`` is text about the documents shown above every chunk (with the
    chunk's title and heading path), so questions can name what they are about.
    ``structured`` (``"auto"``, ``"on"``, ``"off"``) asks the provider to enforce
    the reply's JSON schema; ``auto`` does for OpenAI models that support strict
    schemas (see :mod:`qasynth._structured`).

    As a Runnable: ``invoke``/``ainvoke``/``batch`` return a Dataset, ``stream``
    yields a small Dataset per chunk as it finishes (before the run-scope checks,
    which need every record), and ``with_config`` binds callbacks, tags and
    metadata for every model call of the run. The run's end (``on_chain_end`` of a
    callback handler, the ``on_chain_end`` event of ``astream_events``) reports the
    Dataset, for a stream its pieces added up; ``get_input_schema`` and
    ``get_output_schema`` describe the inputs and the Dataset as JSON schemas.
    """

    def __init__(
        self,
        llm: BaseChatModel | str | None = None,
        *,
        prompt: PromptLike | None = None,
        chunker: Chunker | None = None,
        checks: Sequence[Check] | None = None,
        limits: Limits | None = None,
        cache: BaseCache | str | Path | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.0,
        theme: str | None = None,
        max_fix_attempts: int = DEFAULT_MAX_FIX_ATTEMPTS,
        progress: bool = True,
        context: str | None = None,
        structured: str | bool = "auto",
    ) -> None:
        if isinstance(checks, Iterable) and not isinstance(checks, (str, bytes)):
            checks = list(checks)  # a generator is read once, here
        _check_types(llm=llm, chunker=chunker, checks=checks, limits=limits, cache=cache,
                     theme=theme, context=context, max_fix_attempts=max_fix_attempts)  # fmt: skip
        if isinstance(llm, BaseChatModel):
            self.llm: BaseChatModel | None = llm
            self.model = model_name_of(llm)
        else:
            self.llm = None
            self.model = llm or DEFAULT_MODEL
        self.prompt = check_prompt(prompt if prompt is not None else DEFAULT_PROMPT)
        self._chunker = chunker
        self.checks: list[Check] = list(default_checks() if checks is None else checks)
        self.limits = limits or Limits()
        self.cache = cache
        self.base_url = base_url
        self.api_key = api_key
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
            raise ConfigurationError(f"temperature must be a number, got {temperature!r}")
        if not 0.0 <= temperature <= 2.0:
            raise ConfigurationError(
                f"temperature must be between 0 and 2 (OpenAI's range), got {temperature!r}"
            )
        self.temperature = temperature
        self.theme = theme
        if max_fix_attempts < 0:
            raise ConfigurationError(f"max_fix_attempts must be 0 or more, got {max_fix_attempts}")
        self.max_fix_attempts = max_fix_attempts
        self.progress = progress
        self.context = context
        self.structured = check_mode(structured)
        configure_prompt(self.prompt, context=context)  # a context the template lacks: error
        self._cache_applied = False

    @classmethod
    def from_options(cls, **options: Any) -> Synthesizer:
        """A Synthesizer from flat options (``chunk_size=``, ``concurrency=``,
        ``judge=True``, ``paraphrases=2``, ...), as ``synthesize`` takes them.

        An option that an object given alongside would silently override (say,
        ``judge=True`` with ``checks=[...]``) is an error, as is an unknown name.
        """
        return cls(**build_synthesizer_options(options))

    # -- stages -----------------------------------------------------------------------

    def chat_model(self) -> BaseChatModel:
        """The model in use, creating the default one on first call."""
        if self.llm is None:
            self.llm = default_chat_model(
                self.model,
                temperature=self.temperature,
                base_url=self.base_url,
                api_key=self.api_key,
                timeout=self.limits.timeout,
            )
        if self.cache is not None and not self._cache_applied:
            cache = self.cache
            if isinstance(cache, (str, Path)):
                cache = SQLiteResponseCache(cache, secrets=secrets_of(self.llm, self.api_key))
            self.llm = self.llm.model_copy(update={"cache": cache})
            self._cache_applied = True
        return self.llm

    @property
    def model_name(self) -> str:
        return model_name_of(self.llm) if self.llm is not None else self.model

    @property
    def chunker(self) -> Chunker:
        """The chunker (by default 2000 tokens with 500 overlap, the model's encoding)."""
        if self._chunker is None:
            self._chunker = Chunker(model=self.model_name)
        return self._chunker

    def iter_chunks(self, docs: Inputs, *, stats: Stats | None = None) -> Iterator[Chunk]:
        """Every chunk of every document, in order (documents are read lazily)."""
        stats = stats if stats is not None else Stats()
        for document in self.iter_texts(docs, stats=stats):
            for chunk in self.iter_chunks_of(document):
                stats.chunks += 1
                yield chunk

    def iter_texts(self, docs: Inputs, *, stats: Stats | None = None) -> Iterator[Document]:
        """The documents of ``docs`` that hold text, read lazily (all of them, empty
        ones too, counted in ``stats``)."""
        stats = stats if stats is not None else Stats()
        for document in iter_documents(docs):
            stats.documents += 1
            if not document.page_content.strip():
                stats.empty_documents += 1
                logger.info("skipping empty document %s", document.metadata.get("source"))
                continue
            yield _valid_unicode(document)

    def chunks_of(self, document: Document) -> list[Chunk]:
        """The chunks of one document."""
        return list(self.iter_chunks_of(document))

    def iter_chunks_of(self, document: Document) -> Iterator[Chunk]:
        """The chunks of one document, each as soon as it is cut (a run starts the
        first chunks of a long document while the rest is split)."""
        return self.chunker.iter_split_document(document, theme=self.theme)

    def split_settings(self) -> SplitSettings | None:
        """How a child process splits as :meth:`iter_chunks_of` does, for a large input
        (``None`` when a subclass splits its own way: then only its thread can)."""
        if (
            type(self).iter_chunks_of is not Synthesizer.iter_chunks_of
            or type(self.chunker) is not Chunker
        ):
            return None
        size, overlap = self.chunker.chunk_size, self.chunker.chunk_overlap
        return SplitSettings(size, overlap, self.chunker.encoding, self.theme)

    def make_caller(self, *, on_wait: Callable[[float], None] | None = None) -> ModelCaller:
        """The model caller for one run (limits, timeouts, retries, usage)."""
        estimate: Callable[[Sequence[BaseMessage]], int] | None = None
        if self.limits.tpm:
            encoding = self.chunker.encoding

            def estimate(messages: Sequence[BaseMessage]) -> int:
                """Prompt tokens, doubled to leave room for the reply."""
                text = "".join(message_text(m) for m in messages)
                return 2 * len(encoding.encode(text, disallowed_special=()))

        llm = self.chat_model()
        return ModelCaller(
            llm,
            self.limits,
            estimate_tokens=estimate,
            secrets=secrets_of(llm, self.api_key),
            on_wait=on_wait,
        )

    def uses_structured_output(self) -> bool:
        """Whether this run asks the provider to enforce the reply's JSON schema."""
        return use_structured(
            self.structured, llm=self.llm, model=self.model, base_url=self.base_url
        )

    def run_prompt(self) -> PromptLike:
        """The prompt as sent: with the run's context, and without the format example
        in structured mode."""
        return configure_prompt(
            self.prompt, context=self.context, structured=self.uses_structured_output()
        )

    def runner(self, caller: ModelCaller | None = None) -> ChunkRunner:
        """The per-chunk runner: the generation chain and the chunk checks."""
        caller = caller or self.make_caller()
        return ChunkRunner(
            caller,
            prompt=self.run_prompt(),
            checks=self.checks,
            max_fix_attempts=self.max_fix_attempts,
            response_format=response_format() if self.uses_structured_output() else None,
            check_workers=self.limits.check_workers,
        )

    def fingerprint(self) -> dict[str, Any]:
        """What makes saved chunk results comparable: prompt, model, theme and the chunk
        checks (never keys). Chunking is not in it: a chunk's id is a hash of its text,
        so chunks cut another way are simply new chunks, and the old results stay."""
        return {
            "prompt": prompt_fingerprint(self.run_prompt()),
            "model": model_params_of(self.chat_model()),
            "theme": self.theme,
            "checks": [c.describe() for c in self.checks if c.scope == "chunk"],
        }

    # -- LangChain schemas --------------------------------------------------------------

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        """What ``invoke`` takes: a text, path or ``Document``, or a list of them."""
        return SynthesizerInput

    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        """What ``invoke`` returns, a :class:`Dataset`: its records, rejections,
        failures, counts and chunk links (``invoke`` still returns the Dataset itself;
        the model reads one with ``model_validate(dataset, from_attributes=True)``)."""
        return SynthesizerOutput

    # -- running ----------------------------------------------------------------------

    async def ainvoke(
        self, input: Inputs, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Dataset:
        """Process every chunk and return the :class:`Dataset` (records in chunk order).

        If the provider refuses every request part-way (a bad key, an unknown
        model), or a check fails with an error of its own (``CheckError``), the error
        raised carries what was already made as ``error.partial`` (a ``Dataset``),
        so nothing paid for is lost. Any other error that stops the run (a bug)
        carries it too where it can.
        """
        stats = Stats()
        results: list[ChunkResult] = []
        async with traced(self, config, input) as trace:
            try:
                async for result in chunk_results(self, input, trace.config, stats):
                    result.add_to(stats)
                    results.append(result)
            except (ModelError, CheckError) as exc:
                exc.partial = self._finish(results, stats)
                raise
            except Exception as exc:
                self._attach_partial(exc, results, stats)
                raise
            trace.output = dataset = self._finish(results, stats)
            return dataset

    def _attach_partial(self, error: Exception, results: list[ChunkResult], stats: Stats) -> None:
        """Give an unexpected ``error`` what the run made as ``error.partial``, unless
        finishing the partial results fails too (the error is raised as it is)."""
        try:
            error.partial = self._finish(results, stats)  # type: ignore[attr-defined]
        except Exception as exc:  # the first error is the one to raise
            logger.debug("could not keep the partial results: %r", exc)

    def invoke(self, input: Inputs, config: RunnableConfig | None = None, **kwargs: Any) -> Dataset:
        """Synchronous :meth:`ainvoke` (also works inside a running event loop)."""
        return run_sync(self.ainvoke(input, config))

    async def astream(
        self, input: Inputs, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Dataset]:
        """Yield a small :class:`Dataset` per chunk (its records, rejections, failure
        and counts) as soon as the chunk is finished; run-scope checks are not applied.
        The pieces add up (``+``) to the run, in the order the chunks finished.

        As LangChain does for a streaming step, the run's end (``on_chain_end``, the
        ``on_chain_end`` event of ``astream_events``) reports the pieces added up. They
        are added up only when a callback handler sees the run, so a plain stream
        keeps no record it has yielded."""
        async with traced(self, config, input) as trace:
            run = Stats()  # documents: counted before the first chunk is done
            total = Dataset([]) if trace.listened else None
            first, split = True, 0
            async for result in chunk_results(self, input, trace.config, run):
                stats = Stats()
                result.add_to(stats)
                if first:  # the run's own counts go with the first piece
                    stats.documents, stats.empty_documents = run.documents, run.empty_documents
                    first = False
                # chunks are counted as they are split (the first start before the last)
                stats.chunks, split = run.chunks - split, run.chunks
                piece = self._finish([result], stats, checks=())
                if total is not None:
                    add_into(total, piece)
                yield piece
            if total is not None and first:  # no piece: the run's own counts still
                total.stats = run
            trace.output = total

    def stream(
        self, input: Inputs, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Dataset]:
        """Synchronous :meth:`astream`."""
        return iterate_sync(self.astream(input, config))

    def _finish(
        self, results: Sequence[ChunkResult], stats: Stats, checks: Sequence[Check] | None = None
    ) -> Dataset:
        ordered = sorted(results, key=lambda r: r.seq)
        return finish(
            (record for r in ordered for record in r.records),
            self.checks if checks is None else checks,
            rejections=[rej for r in ordered for rej in r.rejections],
            failures=[r.failure for r in ordered if r.failure is not None],
            stats=stats,
        )

    # the names of qasynth 0.1
    async def arun(self, docs: Inputs) -> Dataset:
        """Same as :meth:`ainvoke`."""
        return await self.ainvoke(docs)

    def run(self, docs: Inputs) -> Dataset:
        """Same as :meth:`invoke`."""
        return self.invoke(docs)

    async def arun_to_file(
        self,
        docs: Inputs,
        output: str | Path,
        *,
        system_prompt: str | None = None,
        restart: bool = False,
        retry_failed: bool = False,
        splits: SplitOptions | None = None,
        config: RunnableConfig | None = None,
        batch: bool = False,
        batch_poll_interval: float | None = None,
    ) -> RunReport:
        """Run resumably into a chat JSONL file, keeping state beside it.

        Records stream into ``OUT.qasynth.sqlite`` as chunks finish (memory
        stays bounded); the JSONL is written at the end, in chunk order. Run the
        same call again after a crash to continue; ``retry_failed`` retries the
        failed chunks; ``restart`` discards state made with another prompt,
        model, chunking or chunk checks. Failed chunks go to ``OUT.failures.jsonl``.

        ``batch=True`` sends the chunks' generation requests through the provider's
        Batch API (OpenAI chat models only) and waits for them, looking every
        ``batch_poll_interval`` seconds (default 30); the same call again after a stop keeps
        waiting for the same batch. Fix calls and checks that call the model are live.
        """
        batcher = None
        if batch:
            from ._batch import BatchRun  # imports the OpenAI client (a second at start-up)

            structured = self.uses_structured_output()
            batcher = BatchRun(
                self.chat_model(), self.run_prompt(), state_path_for(output),
                poll_interval=batch_poll_interval, progress=self.progress,
                bound={"response_format": response_format()} if structured else None,
            )  # fmt: skip
        async with traced(self, config, docs) as trace:
            # the end reports no RunReport: a tracer would read every record from the
            # state file to serialise it
            trace.output = {"output": "done"}

            def results(
                skip: Callable[[Chunk], bool], stats: Stats, state: RunState
            ) -> AsyncIterator[ChunkResult]:
                return chunk_results(
                    self, docs, trace.config, stats, skip, batcher, keep_paid=True, replies=state
                )

            return await run_to_file(
                results, Path(output), fingerprint=self.fingerprint(), checks=self.checks,
                system_prompt=system_prompt, restart=restart, retry_failed=retry_failed,
                splits=splits, secrets=secrets_of(self.chat_model(), self.api_key),
            )  # fmt: skip

    def run_to_file(self, docs: Inputs, output: str | Path, **options: Any) -> RunReport:
        """Synchronous :meth:`arun_to_file` (same options)."""
        return run_sync(self.arun_to_file(docs, output, **options))


def _check_types(**given: Any) -> None:
    """Raise ``ConfigurationError`` for a ``Synthesizer`` argument of the wrong kind,
    saying what it must be (else it would fail later, as an ``AttributeError``)."""
    kinds: dict[str, tuple[tuple[type, ...], str]] = {
        "llm": ((BaseChatModel, str), "a LangChain chat model or a model name"),
        "chunker": ((Chunker,), "a qasynth.Chunker"),
        "limits": ((Limits,), "a qasynth.Limits"),
        "cache": ((BaseCache, str, Path), "a LangChain BaseCache or a path"),
        "theme": ((str,), "text"),
        "context": ((str,), "text"),
        "max_fix_attempts": ((int,), "a whole number"),
    }
    for name, (types, what) in kinds.items():
        value = given[name]
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            raise ConfigurationError(f"{name} must be {what}, got {value!r}")
    checks = given["checks"]
    if checks is not None:
        if isinstance(checks, (str, bytes)) or not isinstance(checks, Iterable):
            raise ConfigurationError(f"checks must be a list of checks, got {checks!r}")
        for check in checks:
            if not isinstance(check, Check):
                raise ConfigurationError(
                    f"checks must hold qasynth.checks.Check objects, got {check!r}; "
                    "write your own as a subclass of Check or PairCheck"
                )


def synthesize(docs: Inputs, *, config: RunnableConfig | None = None, **options: Any) -> Dataset:
    """Make a :class:`Dataset` of question-answer records from documents.

    ``docs`` is text, a path, a ``Document`` or an iterable of them; ``options``
    are :class:`Synthesizer` arguments or flat options (``chunk_size=``,
    ``concurrency=``, ``judge=True``, ...; see :meth:`Synthesizer.from_options`);
    ``config`` passes LangChain callbacks, tags, metadata and ``run_name`` to
    every model call of the run.
    """
    return Synthesizer.from_options(**options).invoke(docs, config)


async def asynthesize(
    docs: Inputs, *, config: RunnableConfig | None = None, **options: Any
) -> Dataset:
    """Asynchronous :func:`synthesize`."""
    return await Synthesizer.from_options(**options).ainvoke(docs, config)


def _valid_unicode(document: Document) -> Document:
    """``document``, or a copy whose lone surrogates (code points that are not
    characters: a broken PDF text layer, bytes decoded with ``surrogateescape``)
    are replaced by U+FFFD, with a warning. Nothing could write them as UTF-8."""
    text, count = replace_lone_surrogates(document.page_content)
    if not count:
        return document
    logger.warning(
        "%s holds %d lone surrogate code point(s), which are not text (a broken PDF "
        "text layer, or bytes decoded with errors='surrogateescape'); replaced with "
        "U+FFFD", document.metadata.get("source", "a document"), count,
    )  # fmt: skip
    return Document(page_content=text, metadata=document.metadata, id=document.id)

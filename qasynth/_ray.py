"""Running the chunk worker on Ray Data, beyond one machine (``pip install "qasynth[ray]"``).

The driver reads and splits every input (as a local run does), then sends the
chunks that have no result yet through ``map_batches`` to a pool of actors.
Each actor builds the same :class:`~qasynth.Synthesizer` from the run's flat
options and keeps one async model client (and one event loop) for its life.
Every finished chunk is written at once as its own result file,
``OUT.qasynth.ray/<chunk id>.json``, atomically: that folder is the store every
worker reaches (on a cluster, put the output on a shared file system). A killed
worker or node costs only its in-flight chunks; a rerun sends only the chunks
without a result file. The driver then reads the results in chunk order into the
run's state and finishes exactly as a local run does (same checks, same files),
so the output is the one a local run would write.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ._calls import Usage
from ._chunk import ChunkResult
from ._errors import ConfigurationError
from ._filerun import RunReport, SplitOptions, run_to_file
from ._schema import Chunk, ChunkFailure, QARecord, Rejection
from ._stats import Stats
from ._sync import run_sync

__all__ = ["result_from_dict", "result_to_dict", "run_to_file_on_ray", "store_path_for"]

logger = logging.getLogger("qasynth")


def store_path_for(output: str | Path) -> Path:
    """The folder of per-chunk result files of a Ray run writing ``output``."""
    return Path(f"{output}.qasynth.ray")


def result_to_dict(result: ChunkResult) -> dict[str, Any]:
    """A chunk's result as JSON-ready data (everything the run's state keeps)."""
    return {
        "seq": result.seq,
        "chunk": asdict(result.chunk),
        "records": [r.to_dict() for r in result.records],
        "rejections": [r.to_dict() for r in result.rejections],
        "failure": None if result.failure is None else result.failure.to_dict(),
        "usage": {**asdict(result.usage), "calls": dict(result.usage.calls)},
        "step_errors": dict(result.step_errors),
        "repairs": list(result.repairs),
        "pairs_returned": result.pairs_returned,
        "pairs_added": result.pairs_added,
        "raw_output": result.raw_output,
    }


def _chunk_from_dict(data: Mapping[str, Any]) -> Chunk:
    return Chunk(**{**data, "headings": tuple(data.get("headings") or ())})


def result_from_dict(data: Mapping[str, Any]) -> ChunkResult:
    """The inverse of :func:`result_to_dict`."""
    usage = dict(data["usage"])
    failure = data.get("failure")
    return ChunkResult(
        seq=int(data["seq"]),
        chunk=_chunk_from_dict(data["chunk"]),
        records=[QARecord.from_dict(r) for r in data["records"]],
        rejections=[Rejection(**r) for r in data["rejections"]],
        failure=None if failure is None else ChunkFailure(**failure),
        usage=Usage(calls=Counter(usage.pop("calls")), **usage),
        step_errors=Counter(data.get("step_errors") or {}),
        repairs=list(data.get("repairs") or []),
        pairs_returned=int(data.get("pairs_returned", 0)),
        pairs_added=int(data.get("pairs_added", 0)),
        raw_output=str(data.get("raw_output", "")),
    )


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    temporary.replace(path)


class ChunkActor:
    """A Ray actor: one Synthesizer, one event loop and one model client for its life
    (the loop is qasynth's private one of the worker process)."""

    def __init__(self, options: dict[str, Any], store: str) -> None:
        from ._pipeline import Synthesizer

        # Ray runs the actors in parallel already: no check workers of their own
        self.synthesizer = Synthesizer.from_options(
            **{**options, "progress": False, "check_workers": 0}
        )
        self.store = Path(store)
        self.runner = self.synthesizer.runner()

    def __call__(self, batch: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
        items = [json.loads(str(item)) for item in batch["item"]]
        done = run_sync(self._run(items))  # the process's one loop, so one HTTP client
        return {"chunk_id": [c for c, _ in done], "failed": [f for _, f in done]}

    async def _run(self, items: list[dict[str, Any]]) -> list[tuple[str, bool]]:
        async def one(item: dict[str, Any]) -> tuple[str, bool]:
            chunk = _chunk_from_dict(item["chunk"])
            result = await self.runner.process(chunk, int(item["seq"]))
            _write_atomically(self.store / f"{chunk.id}.json", result_to_dict(result))
            return chunk.id, result.failure is not None

        return list(await asyncio.gather(*(one(item) for item in items)))


def _ray_pass(
    chunks: Sequence[tuple[int, Chunk]],
    options: dict[str, Any],
    store: Path,
    *,
    address: str | None,
    actors: int,
    batch_size: int,
) -> None:
    """Run ``chunks`` through the actors; each writes its results to ``store``."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ConfigurationError('the Ray engine needs Ray: pip install "qasynth[ray]"') from exc
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"num_cpus": actors}
        if address:  # a cluster: its workers need the same endpoint and key
            names = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "TIKTOKEN_CACHE_DIR")
            env = {n: os.environ[n] for n in names if os.environ.get(n)}
            kwargs = {"address": address, "runtime_env": {"env_vars": env}}
        ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
    items = [{"item": json.dumps({"seq": seq, "chunk": asdict(c)})} for seq, c in chunks]
    dataset = ray.data.from_items(items).map_batches(
        ChunkActor,
        fn_constructor_kwargs={"options": options, "store": str(store)},
        concurrency=actors,
        batch_size=batch_size,
        num_cpus=1,
    )
    for _ in dataset.iter_rows():  # drive the pipeline; results are in the store
        pass


async def run_to_file_on_ray(
    docs: Any,
    output: str | Path,
    *,
    options: dict[str, Any],
    system_prompt: str | None = None,
    restart: bool = False,
    retry_failed: bool = False,
    splits: SplitOptions | None = None,
    address: str | None = None,
    actors: int = 2,
    batch_size: int = 16,
) -> RunReport:
    """A resumable file run whose chunks are worked on Ray actors (see the module
    docstring). ``options`` are flat :meth:`Synthesizer.from_options` options that
    every actor can rebuild the run from (no model object: name the model)."""
    from ._llm import secrets_of
    from ._pipeline import Synthesizer

    if "llm" in options:
        raise ConfigurationError(
            "the Ray engine rebuilds the run on every worker from options: name the model "
            "(model=, base_url=) instead of passing a model object"
        )
    synthesizer = Synthesizer.from_options(**options)
    output = Path(output)
    store = store_path_for(output)
    store.mkdir(parents=True, exist_ok=True)

    async def results(
        skip: Callable[[Chunk], bool], stats: Stats, _state: Any
    ) -> AsyncIterator[ChunkResult]:
        chunks = await asyncio.to_thread(lambda: list(synthesizer.iter_chunks(docs, stats=stats)))
        todo = [(seq, c) for seq, c in enumerate(chunks) if not skip(c)]
        stats.chunks_resumed += len(chunks) - len(todo)
        for _, chunk in todo:  # transient failures (and, if asked, all) are worked again
            _drop_failed(store / f"{chunk.id}.json", transient_only=not retry_failed)
        missing = [(s, c) for s, c in todo if not (store / f"{c.id}.json").exists()]
        if missing:
            await asyncio.to_thread(
                _ray_pass, missing, options, store, address=address, actors=actors,
                batch_size=batch_size,
            )  # fmt: skip
        for seq, chunk in todo:
            path = store / f"{chunk.id}.json"
            if not path.exists():  # its worker died: the chunk stays unfinished
                logger.warning("no result for chunk %s; a rerun will work it", chunk.id)
                continue
            data = json.loads(path.read_text(encoding="utf-8"))
            yield result_from_dict({**data, "seq": seq})

    return await run_to_file(
        results, output, fingerprint=synthesizer.fingerprint(), checks=synthesizer.checks,
        system_prompt=system_prompt, restart=restart, retry_failed=retry_failed,
        splits=splits, secrets=secrets_of(synthesizer.chat_model(), options.get("api_key")),
    )  # fmt: skip


def _drop_failed(path: Path, *, transient_only: bool) -> None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    failure = data.get("failure")
    if failure is not None and (failure.get("transient") or not transient_only):
        path.unlink(missing_ok=True)

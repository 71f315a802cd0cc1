"""Benchmark: wall time under 429s (Retry-After 1 s) against the same run without errors.

Not a test: prints figures. Run from the repository root:

    TIKTOKEN_CACHE_DIR=../shared/tiktoken python benchmarks/bench_ratelimit.py

A fake server in its own process (pinned to core 1, a fresh one for every run)
answers 20% of requests with 429 and ``Retry-After: 1``, the same requests for
every client (see ``_server_process``); 200 chunks at 0.5 s latency, concurrency
8 and 32. For each level, the median of ``--repeats`` runs of:

- qasynth (no checks with ``--no-checks``), without and with the 429s: wall time,
  their ratio (target: at most 1.6), failed chunks, retries, the lowest limit the
  limiter set;
- a bare loop with the same requests and the same ``ChatOpenAI`` client, no
  limiter: ``C`` requests in flight, chunks started in order, a 429 retried
  exactly after its Retry-After and ahead of any new chunk; without and with the
  429s, and their ratio;
- and, worked out from the server's refusals: ``ideal``, ``ceil(N / C) x latency``,
  the run without errors and without client time; ``best``, the bare loop's order
  without client time (no client that starts chunks in order and honours
  Retry-After does better); ``bound``, any order at all (the longer of the
  requests spread over ``C`` slots and the chunk refused most often, each 429
  costing a reply's latency plus the Retry-After); ``best`` and ``bound`` over
  ``ideal``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import heapq
import logging
import math
import statistics
import time
from collections.abc import Callable, Coroutine
from typing import Any

import openai
from _server_process import CLIENT_CORE, pin, refusals, server_process
from bench_client import chat_model, documents, requests_of, synthesizer
from langchain_core.messages import BaseMessage


class LimitLog(logging.Handler):
    """The limits the limiter set (from its debug log)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.limits: list[int] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("limiter:") and isinstance(record.args, tuple):
            self.limits.append(int(record.args[-1]))  # the limit is logged last


async def qasynth_run(url: str, docs: list[str], c: int, checks: bool) -> dict[str, float]:
    log = LimitLog()
    logger = logging.getLogger("qasynth")
    logger.addHandler(log)
    level, logger.level = logger.level, logging.DEBUG
    try:
        synth = synthesizer(url, c, **({} if checks else {"checks": []}))
        start = time.perf_counter()
        ds = await synth.ainvoke(docs)
        wall = time.perf_counter() - start
    finally:
        logger.removeHandler(log)
        logger.setLevel(level)
    return {"wall": wall, "failed": ds.stats.chunks_failed, "retries": ds.stats.retries,
            "lowest": min([c, *log.limits])}  # fmt: skip


async def bare_run(url: str, requests: list[list[BaseMessage]], c: int) -> dict[str, float]:
    """``c`` workers; a 429 goes back to the queue after its Retry-After, ahead of new chunks."""
    llm = chat_model(url)
    loop = asyncio.get_running_loop()
    queue: asyncio.PriorityQueue[tuple[int, int]] = asyncio.PriorityQueue()
    for i in range(len(requests)):
        queue.put_nowait((1, i))
    left, retries = len(requests), 0
    finished = asyncio.Event()

    async def worker() -> None:
        nonlocal left, retries
        while True:
            _, i = await queue.get()
            try:
                await llm.ainvoke(requests[i])
            except openai.RateLimitError as exc:
                retries += 1
                wait = float(exc.response.headers["retry-after"])
                loop.call_later(wait, queue.put_nowait, (0, i))
                continue
            left -= 1
            if not left:
                finished.set()

    start = time.perf_counter()
    workers = [asyncio.create_task(worker()) for _ in range(c)]
    await finished.wait()
    wall = time.perf_counter() - start
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    return {"wall": wall, "failed": 0, "retries": retries}


def simulate(refused: list[int], c: int, latency: float, retry_after: float) -> float:
    """Wall time of the bare loop's order with no client time at all: ``c`` slots, chunks
    started in order, a 429 back ``retry_after`` after its reply, ahead of new chunks."""
    ready = [(1, i) for i in range(len(refused))]  # (retries first, then in order)
    heapq.heapify(ready)
    running: list[tuple[float, int]] = []  # (reply time, chunk)
    waiting: list[tuple[float, int]] = []  # (Retry-After over, chunk)
    tries = [0] * len(refused)
    now, left = 0.0, len(refused)
    while left:
        while waiting and waiting[0][0] <= now:
            heapq.heappush(ready, (0, heapq.heappop(waiting)[1]))
        while ready and len(running) < c:
            heapq.heappush(running, (now + latency, heapq.heappop(ready)[1]))
        now = min(running[0][0] if running else math.inf, waiting[0][0] if waiting else math.inf)
        while running and running[0][0] <= now:
            i = heapq.heappop(running)[1]
            if tries[i] < refused[i]:
                tries[i] += 1
                heapq.heappush(waiting, (now + retry_after, i))
            else:
                left -= 1
    return now


def bounds(prompts: list[str], args: argparse.Namespace, c: int) -> dict[str, float]:
    """What no client can beat, for ``c`` requests in flight: ``ideal`` without errors;
    with the 429s, ``best`` in the bare loop's order and ``bound`` in any order (the
    longer of the requests spread over ``c`` slots and the chunk refused most often)."""
    refused = [refusals(p, args.rate, args.seed) for p in prompts]
    n, lat = len(prompts), args.latency
    work = math.ceil((n + sum(refused)) / c) * lat
    chain = max(k * (lat + args.retry_after) + lat for k in refused)
    return {"ideal": math.ceil(n / c) * lat, "best": simulate(refused, c, lat, args.retry_after),
            "bound": max(work, chain), "429s": sum(refused)}  # fmt: skip


async def median_of(
    repeats: int, rate: float, args: argparse.Namespace,
    run: Callable[[str], Coroutine[Any, Any, dict[str, float]]],
) -> dict[str, float]:  # fmt: skip
    """Median figures of ``repeats`` runs, each against a fresh server."""
    samples = []
    for _ in range(repeats):
        server = server_process(
            args.latency, error_rate=rate, retry_after=args.retry_after, seed=args.seed
        )
        with server as url:
            samples.append(await run(url))
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


async def amain(args: argparse.Namespace) -> None:
    docs = documents(args.chunks)
    requests = requests_of(docs)
    prompts = [[m for m in r if m.type == "human"][-1].text for r in requests]
    levels = [int(x) for x in args.levels.split(",")]
    checks = not args.no_checks
    with server_process(args.latency) as url:  # warm up: imports, encodings, checks
        await qasynth_run(url, docs[:16], 16, checks)
        await bare_run(url, requests[:16], 16)
    print(f"## {args.chunks} chunks, {args.latency:g} s latency, {args.rate:.0%} 429s "
          f"(Retry-After {args.retry_after:g} s, seed {args.seed}), "
          f"{'default' if checks else 'no'} checks, median of {args.repeats}")  # fmt: skip
    print(f"{'C':<4}{'clean s':>8}{'429 s':>7}{'ratio':>6}{'failed':>7}{'retries':>8}"
          f"{'lowest':>7}{'bare clean':>11}{'bare 429':>9}{'ratio':>6}"
          f"{'ideal':>6}{'best':>6}{'ratio':>6}{'bound':>6}{'ratio':>6}")  # fmt: skip
    for c in levels:
        b = bounds(prompts, args, c)
        ours = functools.partial(qasynth_run, docs=docs, c=c, checks=checks)
        theirs = functools.partial(bare_run, requests=requests, c=c)
        clean = await median_of(args.repeats, 0.0, args, ours)
        hit = await median_of(args.repeats, args.rate, args, ours)
        bare_clean = await median_of(args.repeats, 0.0, args, theirs)
        bare = await median_of(args.repeats, args.rate, args, theirs)
        assert bare["retries"] == b["429s"], (bare["retries"], b["429s"])
        print(f"{c:<4}{clean['wall']:>8.2f}{hit['wall']:>7.2f}{hit['wall'] / clean['wall']:>6.2f}"
              f"{hit['failed']:>7.0f}{hit['retries']:>8.0f}{hit['lowest']:>7.0f}"
              f"{bare_clean['wall']:>11.2f}{bare['wall']:>9.2f}"
              f"{bare['wall'] / bare_clean['wall']:>6.2f}{b['ideal']:>6.2f}{b['best']:>6.2f}"
              f"{b['best'] / b['ideal']:>6.2f}{b['bound']:>6.2f}{b['bound'] / b['ideal']:>6.2f}",
              flush=True)  # fmt: skip
    share = b["429s"] / (len(prompts) + b["429s"])
    print(f"429s the server gives (every client): {b['429s']:.0f} ({share:.1%} of requests)")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--retry-after", type=float, default=1.0)
    parser.add_argument("--levels", default="8,32")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="which requests get the 429s")
    parser.add_argument("--no-checks", action="store_true", help="the limiter alone")
    args = parser.parse_args()
    pin(CLIENT_CORE)
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()

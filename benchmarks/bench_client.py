"""Benchmark: client CPU per model call, and wall time against the ideal.

Not a test: prints figures. Run from the repository root:

    TIKTOKEN_CACHE_DIR=../shared/tiktoken python benchmarks/bench_client.py

The fake server runs in its own process pinned to core 1 and the client to core
0, so ``time.process_time()`` counts the client alone. Every run sends the same
requests (the default prompt over the same chunks):

1. CPU: N chunks at zero latency, concurrency 32: (a) qasynth with the default
   checks (and with none, to show the checks' share), (b) a bare
   ``ChatOpenAI.ainvoke`` loop (on langchain-openai's default transport, httpx,
   and on aiohttp, the transport qasynth picks), (c) a bare ``AsyncOpenAI`` loop.
   Chunks per CPU-second, CPU ms per call, and each against (b) on httpx.
2. Latency-bound: 0.5 s per call, qasynth at concurrency 1, 8, 32 and 128;
   wall time against the ideal ceil(N / C) x latency (a bare LangChain loop
   beside it).
3. A large input (``--large N``, 0 to skip): N chunks (1,200 by default, 8 MB,
   above the 4 MB from which qasynth splits in a child process) at 0.5 s a call:
   one check worker with the split in the run's thread, then in the child, then all
   the defaults (workers start when the checks slow the run), against the bare
   loops. CPU of the process, of its event loop's thread, and of its other threads
   (the split thread, or the one that reads the child's chunks).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import gc
import math
import os
import resource
import statistics
import time
from collections.abc import Callable, Coroutine
from typing import Any

from _server_process import CLIENT_CORE, SERVER_CORE, pin, server_process
from langchain_core.messages import BaseMessage
from langchain_openai import ChatOpenAI
from openai import AsyncOpenAI, DefaultAioHttpClient

import qasynth
import qasynth._splitchild as splitchild
from qasynth._prompts import DEFAULT_PROMPT

PEOPLE = ["Dr. Amara Ito", "Coach Lena Brandt", "Captain Ruiz", "Prof. Okafor", "Mayor Chen"]
PLACES = ["Northgate", "Lake Orin", "the Velan Basin", "Port Ashby", "Kestrel Ridge"]
THINGS = ["the Zephyr rover", "the Halcyon bridge", "the Orin Cup", "the Tidewater survey"]


def document(i: int, sentences: int = 60) -> str:
    """About 1,500 tokens of report-like text with names, places and figures."""
    out = []
    for s in range(sentences):
        k = i * 131 + s
        person, place, thing = PEOPLE[k % 5], PLACES[(k // 5) % 5], THINGS[k % 4]
        out.append(
            f"In {1990 + k % 33}, {person} led {thing} near {place}, where the team "
            f"recorded {k * 7 % 997} samples over {k % 40 + 2} days."
        )
        if s % 6 == 5:
            out.append("\n\n")
    return " ".join(out)


FREEZE = [True]


def freeze() -> None:
    """What the qasynth command does with the garbage collector: freeze what is loaded
    after start-up, and again once a command's own modules are loaded (qasynth loads
    them on first use; here, after each warm-up). Off with --no-gc-freeze."""
    if FREEZE[0]:
        gc.freeze()


def documents(n: int, start: int = 0) -> list[str]:
    return [document(i) for i in range(start, start + n)]


def chat_model(base_url: str, http: Any = None) -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-4o-mini", base_url=base_url, api_key="bench-key",
        temperature=0, timeout=60, max_retries=0, http_async_client=http,
    )  # fmt: skip


def synthesizer(base_url: str, concurrency: int, **options: Any) -> qasynth.Synthesizer:
    return qasynth.Synthesizer.from_options(
        llm=chat_model(base_url), concurrency=concurrency, progress=False,
        encoding="cl100k_base", **options,
    )  # fmt: skip


def requests_of(docs: list[str]) -> list[list[BaseMessage]]:
    """The generation requests qasynth sends for ``docs`` (one chunk each)."""
    synth = qasynth.Synthesizer.from_options(
        llm=chat_model("http://127.0.0.1:9/v1"), encoding="cl100k_base"
    )
    return [DEFAULT_PROMPT.build_messages(chunk) for chunk in synth.iter_chunks(docs)]


async def bounded(n: int, concurrency: int, one: Callable[[int], Coroutine[Any, Any, Any]]) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def run(i: int) -> None:
        async with gate:
            await one(i)

    await asyncio.gather(*(run(i) for i in range(n)))


async def bare_langchain(
    base_url: str, requests: list[list[BaseMessage]], c: int, *, aiohttp: bool = False
) -> None:
    """``aiohttp``: on the OpenAI client's aiohttp transport (qasynth's own choice),
    else on langchain-openai's default (httpx)."""
    http = DefaultAioHttpClient(timeout=60) if aiohttp else None
    llm = chat_model(base_url, http)

    async def one(i: int) -> None:
        await llm.ainvoke(requests[i])

    try:
        await bounded(len(requests), c, one)
    finally:
        if http is not None:
            await http.aclose()


async def bare_openai(base_url: str, requests: list[list[BaseMessage]], c: int) -> None:
    client = AsyncOpenAI(base_url=base_url, api_key="bench-key", max_retries=0, timeout=60)
    roles = {"system": "system", "human": "user", "ai": "assistant"}
    bodies = [[{"role": roles[m.type], "content": m.text} for m in r] for r in requests]

    async def one(i: int) -> None:
        await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=bodies[i],  # type: ignore[arg-type]
            temperature=0,
        )

    await bounded(len(bodies), c, one)
    await client.close()


def widen() -> None:
    """Let this process (and the check workers it starts) use the server's core too."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > SERVER_CORE:
        os.sched_setaffinity(0, {CLIENT_CORE, SERVER_CORE})


def children_cpu() -> float:
    """CPU of the child processes that ended (check workers end with their run; the
    server process runs on, so it is not in it)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def measure(
    run: Callable[[], Coroutine[Any, Any, Any]],
) -> tuple[float, float, Any, float]:
    """(wall s, client CPU s, result, check workers' CPU s) of one run (all runs share
    one event loop: LangChain keeps one HTTP client per URL)."""
    cpu, wall, workers = time.process_time(), time.perf_counter(), children_cpu()
    result = await run()
    return (
        time.perf_counter() - wall, time.process_time() - cpu, result, children_cpu() - workers
    )  # fmt: skip


async def cpu_table(n: int, repeats: int, concurrency: int) -> None:
    # Each repeat sends other documents (a run sees each chunk once: the checks'
    # caches must not flatter qasynth); every client sends the same ones.
    rounds = [documents(n, start=(r + 1) * n) for r in range(repeats)]
    warm = documents(n)
    requests = {id(docs): requests_of(docs) for docs in [warm, *rounds]}
    print(f"## Client CPU: {n} chunks ({n} generation calls) a run, zero latency, "
          f"concurrency {concurrency}, median of {repeats} runs on other documents")  # fmt: skip
    print("(CPU s: the client process; workers: its check workers' CPU, on the server's core)")
    print(f"{'client':<36}{'wall s':>8}{'CPU s':>8}{'workers':>9}{'chunks/CPU-s':>14}"
          f"{'CPU ms/call':>13}{'vs LangChain':>14}{'vs LC aiohttp':>14}")  # fmt: skip
    with server_process(0.0) as url:
        inline = {"check_workers": 0}
        runs: dict[str, Callable[[list[str]], Coroutine[Any, Any, Any]]] = {
            "qasynth (default checks)": lambda docs: synthesizer(
                url, concurrency, **inline
            ).ainvoke(docs),
            "qasynth (checks in 1 worker)": lambda docs: synthesizer(
                url, concurrency, check_workers=1
            ).ainvoke(docs),
            "qasynth (no checks)": lambda docs: synthesizer(url, concurrency, checks=[]).ainvoke(
                docs
            ),
            "bare ChatOpenAI.ainvoke": lambda docs: bare_langchain(
                url, requests[id(docs)], concurrency
            ),
            "bare ChatOpenAI.ainvoke (aiohttp)": lambda docs: bare_langchain(
                url, requests[id(docs)], concurrency, aiohttp=True
            ),
            "bare AsyncOpenAI": lambda docs: bare_openai(url, requests[id(docs)], concurrency),
        }
        figures: dict[str, tuple[float, float, float]] = {}
        for name, run in runs.items():
            await run(warm)  # warm up (imports, encodings, connections)
            freeze()
            if "worker" in name:
                widen()  # the worker may use the server's core
            samples = [await measure(functools.partial(run, docs)) for docs in rounds]
            pin(CLIENT_CORE)
            figures[name] = (
                statistics.median(s[0] for s in samples),
                statistics.median(s[1] for s in samples),
                statistics.median(s[3] for s in samples),
            )
        base = figures["bare ChatOpenAI.ainvoke"][1]
        aio = figures["bare ChatOpenAI.ainvoke (aiohttp)"][1]
        for name, (wall, cpu, workers) in figures.items():
            print(f"{name:<36}{wall:>8.2f}{cpu:>8.2f}{workers:>9.2f}{n / cpu:>14.1f}"
                  f"{1000 * cpu / n:>13.2f}{cpu / base:>13.2f}x{cpu / aio:>13.2f}x")  # fmt: skip


async def checked_run(url: str, concurrency: int, workers: int, docs: list[str]) -> Any:
    return await synthesizer(url, concurrency, check_workers=workers).ainvoke(docs)


async def latency_table(n: int, latency: float, levels: list[int], start: int = 0) -> None:
    """qasynth with its checks inline on the client's one core, then with one check
    worker and a second core allowed (the server, mostly sleeping, shares it). Each
    qasynth run sends documents no earlier run sent (a run sees each chunk once)."""
    print(f"\n## Latency-bound: {n} chunks, {latency:g} s per call")
    print(
        "(wall time, and in brackets the client process's CPU ms per call; with a worker,"
        " + the worker's)"
    )
    print(f"{'concurrency':<13}{'ideal s':>9}{'1 core s':>10}{'over':>8}{'2 cores s':>11}"
          f"{'over':>8}{'bare LC s':>11}{'over':>8}{'LC aio s':>11}{'over':>8}")  # fmt: skip
    with server_process(latency) as url:
        warm = documents(8, start=start)
        await bare_langchain(url, requests_of(warm), 8)  # warm up
        await synthesizer(url, 8, check_workers=0).ainvoke(warm)
        freeze()
        for k, c in enumerate(levels):
            inline_docs = documents(n, start=start + (2 * k + 1) * n)
            worker_docs = documents(n, start=start + (2 * k + 2) * n)
            requests = requests_of(inline_docs)
            ideal = math.ceil(n / c) * latency
            one, one_cpu, ds, _ = await measure(
                functools.partial(checked_run, url, c, 0, inline_docs)
            )
            assert ds.stats.chunks_failed == 0, ds.failures
            widen()
            two, two_cpu, ds, worker_cpu = await measure(
                functools.partial(checked_run, url, c, 1, worker_docs)
            )
            pin(CLIENT_CORE)
            assert ds.stats.chunks_failed == 0, ds.failures
            bare, bare_cpu, _, _ = await measure(
                functools.partial(bare_langchain, url, requests, c)
            )
            aio, aio_cpu, _, _ = await measure(
                functools.partial(bare_langchain, url, requests, c, aiohttp=True)
            )
            ms = 1000 / n
            print(f"{c:<13}{ideal:>9.2f}{one:>10.2f}{one / ideal - 1:>8.1%}{two:>11.2f}"
                  f"{two / ideal - 1:>8.1%}{bare:>11.2f}{bare / ideal - 1:>8.1%}"
                  f"{aio:>11.2f}{aio / ideal - 1:>8.1%}")  # fmt: skip
            print(f"{'':<13}{'':>9}{f'[{one_cpu * ms:.1f}]':>18}"
                  f"{f'[{two_cpu * ms:.1f} + {worker_cpu * ms:.1f}]':>19}"
                  f"{f'[{bare_cpu * ms:.1f}]':>19}{f'[{aio_cpu * ms:.1f}]':>19}")  # fmt: skip


async def large_input_table(n: int, latency: float, c: int, repeats: int) -> None:
    """Section 3: the split in the run's thread against the split in a child."""
    print(f"\n## A large input: {n} chunks, {latency:g} s per call, {c} in flight, one check"
          f" worker, median of {repeats}")  # fmt: skip
    print("(CPU ms per call: the process, its event loop's thread, its other threads;"
          " workers and the split child not counted)")  # fmt: skip
    print(f"{'client':<34}{'MB':>6}{'wall s':>8}{'process':>9}{'loop':>7}{'others':>8}"
          f"{'vs LangChain':>14}{'vs LC aiohttp':>15}")  # fmt: skip
    with server_process(latency) as url:
        warm = documents(8, start=7_000_000)
        await bare_langchain(url, requests_of(warm), 8)
        await synthesizer(url, 8, check_workers=1).ainvoke(warm)
        freeze()
        samples: dict[str, list[tuple[float, ...]]] = collections.defaultdict(list)
        threshold = splitchild.CHILD_MIN_CHARS
        for r in range(repeats):
            docs = [documents(n, start=8_000_000 + (3 * r + k) * n) for k in range(3)]
            requests = requests_of(docs[0])
            widen()
            splitchild.CHILD_MIN_CHARS = 10**15
            samples["qasynth, split in its thread"].append(
                await measure_threads(functools.partial(checked_run, url, c, 1, docs[0]))
            )
            splitchild.CHILD_MIN_CHARS = threshold
            samples["qasynth, split in a child"].append(
                await measure_threads(functools.partial(checked_run, url, c, 1, docs[1]))
            )
            samples["qasynth, all defaults"].append(
                await measure_threads(
                    functools.partial(lambda d: synthesizer(url, c).ainvoke(d), docs[2])
                )
            )
            pin(CLIENT_CORE)
            samples["bare ChatOpenAI.ainvoke"].append(
                await measure_threads(functools.partial(bare_langchain, url, requests, c))
            )
            samples["bare ChatOpenAI.ainvoke (aiohttp)"].append(
                await measure_threads(
                    functools.partial(bare_langchain, url, requests, c, aiohttp=True)
                )
            )
        mb = sum(map(len, docs[0])) / 1e6
        medians = {
            k: [statistics.median(x) for x in zip(*v, strict=True)] for k, v in samples.items()
        }
        base = medians["bare ChatOpenAI.ainvoke"][1]
        aio = medians["bare ChatOpenAI.ainvoke (aiohttp)"][1]
        for name, (wall, cpu, loop, others) in medians.items():
            print(f"{name:<34}{mb:>6.1f}{wall:>8.2f}{1000 * cpu / n:>9.2f}{1000 * loop / n:>7.2f}"
                  f"{1000 * others / n:>8.2f}{cpu / base:>13.2f}x{cpu / aio:>14.2f}x")  # fmt: skip


async def measure_threads(run: Callable[[], Coroutine[Any, Any, Any]]) -> tuple[float, ...]:
    """(wall s, process CPU s, the event loop thread's CPU s, the other threads' CPU s)."""
    cpu, wall, loop = time.process_time(), time.perf_counter(), time.thread_time()
    await run()
    wall, cpu, loop = (
        time.perf_counter() - wall, time.process_time() - cpu, time.thread_time() - loop
    )  # fmt: skip
    return wall, cpu, loop, cpu - loop


async def amain(args: argparse.Namespace) -> None:
    if not args.skip_cpu:
        await cpu_table(args.chunks, args.repeats, args.concurrency)
    if not args.skip_latency:
        for c in [int(x) for x in args.levels.split(",")]:
            chunks = args.latency_chunks or (200 if c > 1 else 20)
            await latency_table(chunks, args.latency, [c], start=(c + 1) * 100_000)
    if args.large:
        await large_input_table(args.large, args.latency, args.concurrency, args.repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--levels", default="1,8,32,128")
    parser.add_argument("--latency-chunks", type=int, default=0,
                        help="chunks per run (default 200; 20 at concurrency 1)")  # fmt: skip
    parser.add_argument("--skip-cpu", action="store_true")
    parser.add_argument("--no-gc-freeze", action="store_true",
                        help="leave the garbage collector as a script does")  # fmt: skip
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--large", type=int, default=1200,
                        help="chunks of the large-input section (0 skips it)")  # fmt: skip
    args = parser.parse_args()
    pin(CLIENT_CORE)
    FREEZE[0] = not args.no_gc_freeze
    freeze()
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()

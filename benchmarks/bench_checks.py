"""Benchmark: client CPU per chunk of the default chunk checks, per check.

Not a test: prints figures. Run from the repository root:

    TIKTOKEN_CACHE_DIR=../shared/tiktoken python benchmarks/bench_checks.py

The checks run in this process, without a model or server: each chunk gets the
pairs the fake server (``qasynth.testing``) would reply for it (one per sentence,
up to 10), and every default chunk check runs on them in order, as the pipeline
runs them. ``time.process_time()`` is taken around each check. Two workloads:

- English: the chunks of ``bench_client.py`` (about 1,500 tokens of report-like
  text with names, places and figures, one chunk per document);
- Japanese: report-like Japanese text of the same shape (katakana names, kanji
  places, years, counts and results).

Every repeat uses other documents, so no chunk or question is seen twice (the
pipeline sees each chunk once; the checks' caches would otherwise flatter them).

A full garbage collection (a tenth of a second here) lands on whichever check
happens to allocate when it is due, which makes the figures of two runs hard to
compare; ``--no-gc`` collects before each repeat and keeps the collector off while
the checks run (steadier figures, without the cost of collections).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from bench_client import document as english_document

import qasynth
from qasynth._prompts import DEFAULT_PROMPT
from qasynth._schema import Chunk, QARecord
from qasynth.checks import ChunkContext, default_checks
from qasynth.testing.replies import qa_pairs

JA_PEOPLE = [
    "アマラ・イトウ博士", "レナ・ブラント監督", "ルイス主将", "オカフォー教授", "チェン市長",
]  # fmt: skip
JA_PLACES = ["北門", "オリン湖", "ヴェラン盆地", "アシュビー港", "ケストレル山"]
JA_THINGS = ["ゼファー探査車", "ハルシオン橋", "オリン杯", "潮汐調査"]
JA_TEAMS = ["北門FC", "オリン湖ユナイテッド", "港町シティ", "山岳ローヴァーズ"]


def japanese_document(i: int, sentences: int = 40) -> str:
    """About 1,500 tokens of report-like Japanese with names, places and figures."""
    out = []
    for s in range(sentences):
        k = i * 131 + s
        person, place, thing = JA_PEOPLE[k % 5], JA_PLACES[(k // 5) % 5], JA_THINGS[k % 4]
        if s % 4 == 3:
            a, b = JA_TEAMS[k % 4], JA_TEAMS[(k + 1) % 4]
            out.append(f"{1990 + k % 33}年の決勝では{a}が{b}を{k % 4 + 1}対{k % 3}で破った。")
        else:
            out.append(
                f"{1990 + k % 33}年、{person}は{place}の近くで{thing}を率い、"
                f"{k % 40 + 2}日間で{k * 7 % 997}個の試料を記録した。"
            )
        if s % 6 == 5:
            out.append("\n\n")
    return "".join(out)


WORKLOADS: dict[str, Callable[[int], str]] = {
    "English": english_document,
    "Japanese": japanese_document,
}


def chunks_of(texts: list[str]) -> list[Chunk]:
    synth = qasynth.Synthesizer.from_options(
        llm=qasynth.testing.ScriptedChatModel(replies={}), encoding="cl100k_base"
    )
    return list(synth.iter_chunks(texts))


def records_of(chunk: Chunk) -> list[QARecord]:
    """The pairs the fake server replies for ``chunk``."""
    message = DEFAULT_PROMPT.build_messages(chunk)[-1].text
    return [QARecord.of(chunk, p["question"], p["answer"]) for p in qa_pairs(message)]


async def _refuse(*_: Any) -> Any:
    raise RuntimeError("the default checks call no model")


async def check_chunk(checks: list[Any], chunk: Chunk, times: dict[str, float]) -> int:
    """Run ``checks`` on one chunk, adding each one's CPU seconds to ``times``."""
    ctx = ChunkContext(chunk, records_of(chunk), ask=_refuse, ask_pairs=_refuse)
    for check in checks:
        start = time.process_time()
        await check.acheck_chunk(ctx)
        times[check.name] += time.process_time() - start
    return len(ctx.records)


async def measure(make: Callable[[int], str], n: int, repeats: int, *, no_gc: bool) -> None:
    checks = [c for c in default_checks() if c.scope == "chunk"]
    for chunk in chunks_of([make(10_000 + i) for i in range(2)]):  # warm up: models, rules
        await check_chunk(checks, chunk, defaultdict(float))
    samples: list[dict[str, float]] = []
    kept = pairs = count = 0
    for r in range(repeats):
        chunks = chunks_of([make(r * n + i) for i in range(n)])
        times: dict[str, float] = defaultdict(float)
        count += len(chunks)
        if no_gc:
            gc.collect()
            gc.disable()
        try:
            for chunk in chunks:
                kept += await check_chunk(checks, chunk, times)
                pairs += len(qa_pairs(DEFAULT_PROMPT.build_messages(chunk)[-1].text))
        finally:
            gc.enable()
        samples.append({name: 1000 * t / len(chunks) for name, t in times.items()})
    names = [check.name for check in checks]
    per_check = {name: statistics.median(s[name] for s in samples) for name in names}
    total = statistics.median(sum(s.values()) for s in samples)
    print(f"{'check':<14}{'CPU ms/chunk':>14}{'share':>8}")
    for name in names:
        print(f"{name:<14}{per_check[name]:>14.2f}{per_check[name] / total:>8.0%}")
    print(f"{'total':<14}{total:>14.2f}   ({pairs / count:.1f} pairs/chunk, "
          f"{kept / pairs:.0%} kept)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all")
    parser.add_argument(
        "--no-gc",
        action="store_true",
        help="collect garbage before each repeat, none while the checks run (steadier figures)",
    )
    args = parser.parse_args()
    for name, make in WORKLOADS.items():
        if args.workload in (name, "all"):
            print(f"\n## {name}: {args.chunks} chunks, median of {args.repeats}")
            asyncio.run(measure(make, args.chunks, args.repeats, no_gc=args.no_gc))


if __name__ == "__main__":
    main()

"""Benchmark: wall time under 429s (Retry-After 1 s) against the same run without errors.

Not a test: prints figures. Run from the repository root:

    TIKTOKEN_CACHE_DIR=../shared/tiktoken python benchmarks/bench_ratelimit.py

A fake server in its own process (pinned to core 1) answers a random 20% of
requests with 429 and ``Retry-After: 1``; 200 chunks at 0.5 s latency, qasynth
at concurrency 8 and 32. Reports wall time with and without the 429s, their
ratio (target: at most 1.6), failed chunks, retries and the limiter's peak.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from _server_process import CLIENT_CORE, pin, server_process
from bench_client import documents, synthesizer


async def one_run(
    url: str, docs: list[str], concurrency: int, checks: bool
) -> tuple[float, int, int]:
    synth = synthesizer(url, concurrency, **({} if checks else {"checks": []}))
    start = time.perf_counter()
    ds = await synth.ainvoke(docs)
    return time.perf_counter() - start, ds.stats.chunks_failed, ds.stats.retries


async def amain(args: argparse.Namespace) -> None:
    docs = documents(args.chunks)
    levels = [int(x) for x in args.levels.split(",")]
    print(f"## {args.chunks} chunks, {args.latency:g} s latency, {args.rate:.0%} 429s "
          f"(Retry-After {args.retry_after:g} s)"
          f"{', no checks' if args.no_checks else ', default checks'}")  # fmt: skip
    print(f"{'concurrency':<13}{'clean s':>9}{'429 s':>9}{'ratio':>8}{'failed':>8}{'retries':>9}")
    clean: dict[int, float] = {}
    with server_process(args.latency) as url:
        for c in levels:
            clean[c] = (await one_run(url, docs, c, not args.no_checks))[0]
    with server_process(args.latency, error_rate=args.rate, retry_after=args.retry_after) as url:
        for c in levels:
            wall, failed, retries = await one_run(url, docs, c, not args.no_checks)
            print(f"{c:<13}{clean[c]:>9.2f}{wall:>9.2f}{wall / clean[c]:>8.2f}"
                  f"{failed:>8}{retries:>9}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--retry-after", type=float, default=1.0)
    parser.add_argument("--levels", default="8,32")
    parser.add_argument("--no-checks", action="store_true", help="the limiter alone")
    args = parser.parse_args()
    pin(CLIENT_CORE)
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()

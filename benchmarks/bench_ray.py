"""Ray engine throughput on this machine, against a local run on the same requests.

    TIKTOKEN_CACHE_DIR=../shared/tiktoken python benchmarks/bench_ray.py --chunks 200 --latency 0.2

Needs ``pip install "qasynth[ray]"``. Starts a local Ray instance with
``--actors`` CPUs and the loopback fake server (``--latency`` seconds per
request), runs the same documents locally and on Ray, and prints wall times,
chunks per second and whether the two outputs are identical. The Ray start-up
time is printed apart: it is paid once per cluster, not per run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight per actor")
    args = parser.parse_args()

    import ray

    from qasynth import Synthesizer
    from qasynth._ray import run_to_file_on_ray
    from qasynth.testing import FakeOpenAIServer

    os.environ.setdefault("OPENAI_API_KEY", "bench-key")
    docs = [
        f"The Acme X{i} grinder went on sale in {1900 + i % 120}. It has {i % 50} settings."
        for i in range(args.chunks)
    ]
    folder = Path(tempfile.mkdtemp(prefix="qasynth-ray-"))
    try:
        with FakeOpenAIServer(latency=args.latency) as server:
            options = {"model": "gpt-4o-mini", "base_url": server.base_url, "progress": False,
                       "concurrency": args.concurrency}  # fmt: skip
            started = time.perf_counter()
            Synthesizer.from_options(**options).run_to_file(docs, folder / "local.jsonl")
            local = time.perf_counter() - started

            started = time.perf_counter()
            ray.init(num_cpus=args.actors, include_dashboard=False, log_to_driver=False)
            startup = time.perf_counter() - started
            server.reset_stats()
            started = time.perf_counter()
            asyncio.run(run_to_file_on_ray(docs, folder / "ray.jsonl", options=options,
                                           actors=args.actors))  # fmt: skip
            on_ray = time.perf_counter() - started
            requests = len(server.requests)
            ray.shutdown()
        same = (folder / "ray.jsonl").read_bytes() == (folder / "local.jsonl").read_bytes()
        ideal = args.chunks * args.latency / args.concurrency
        print(f"{args.chunks} chunks, {args.latency:g} s per request, {args.concurrency} in flight")
        print(f"local (one client, {args.concurrency} in flight): {local:.1f} s, "
              f"{args.chunks / local:.1f} chunks/s (ideal {ideal:.1f} s)")  # fmt: skip
        print(f"ray ({args.actors} actors x {args.concurrency} in flight): {on_ray:.1f} s, "
              f"{args.chunks / on_ray:.1f} chunks/s, {requests} requests; "
              f"Ray start-up {startup:.1f} s")  # fmt: skip
        print(f"identical output: {same}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

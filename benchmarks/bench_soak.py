"""Soak: a long run through a misbehaving server, killed with SIGKILL and resumed.

``python -m qasynth generate`` runs as a subprocess against the loopback fake
server, which answers 5% of requests with 429 (Retry-After 0.05 s), 5% with a
5xx, drops 5% of connections (``Reset``) and lets 1% hang for longer than
``--request-timeout``. The run is killed with SIGKILL ``--kills`` times at
random points (after a random number of requests) and started again each
time; the final file must equal that of an uninterrupted run against a
well-behaved server, line for line.

Reports wall time, model calls per chunk (every request the server saw, faults
included) and redone calls: replies the server completed for a chunk that had
already been answered once (work lost to the kills).

    TIKTOKEN_CACHE_DIR=../shared/tiktoken python benchmarks/bench_soak.py --chunks 2000

Needs the real ``cl100k_base`` files in ``TIKTOKEN_CACHE_DIR`` (the subprocess
counts tokens with them). A benchmark, not a test: ``--chunks 200`` is quick.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from qasynth.testing import (
    ErrorReply,
    FakeOpenAIServer,
    Hang,
    Reply,
    ReplyContext,
    Reset,
    default_responder,
)


class Faults:
    """The misbehaving responder: faults drawn at random, replies by content."""

    def __init__(self, seed: int, hang: float) -> None:
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.hang = hang
        self.kinds: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()  # completed replies per document

    def __call__(self, ctx: ReplyContext) -> Reply:
        with self.lock:
            draw = self.random.random()
            status = self.random.choice((500, 502, 503))
        kind, reply = "ok", default_responder(ctx)
        if draw < 0.05:
            kind, reply = "429", ErrorReply(429, "Rate limit reached.", retry_after=0.05)
        elif draw < 0.10:
            kind, reply = "5xx", ErrorReply(status, "The server had an error.")
        elif draw < 0.15:
            kind, reply = "reset", Reset()
        elif draw < 0.16:
            kind, reply = "hang", Hang(self.hang)
        with self.lock:
            self.kinds[kind] += 1
            if kind == "ok":
                self.answered[ctx.document_message] += 1
        return reply


def write_documents(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"report_{i:05d}.txt").write_text(
            f"Report {i}: the Zephyr {i} rover reached crater {i * 7} on day {i + 100}. "
            f"Dr. Ito {i} said the drill sampled {i * 3} grams of regolith.",
            encoding="utf-8",
        )


def command(folder: Path, out: Path, url: str, args: argparse.Namespace) -> list[str]:
    return [
        sys.executable, "-m", "qasynth", "generate", str(folder), "-o", str(out),
        "--base-url", url, "--encoding", "cl100k_base", "--concurrency", str(args.concurrency),
        "--request-timeout", str(args.request_timeout), "-q",
    ]  # fmt: skip


def env() -> dict[str, str]:
    return {**os.environ, "OPENAI_API_KEY": "sk-bench-soak-0000"}


def chat_count(server: FakeOpenAIServer) -> int:
    return sum(1 for r in server.requests if r.path.endswith("/chat/completions"))


def reference(folder: Path, work: Path, args: argparse.Namespace) -> tuple[list[str], float]:
    out = work / "reference.jsonl"
    with FakeOpenAIServer() as server:
        started = time.monotonic()
        done = subprocess.run(command(folder, out, server.base_url, args), env=env(),
                              capture_output=True, text=True)  # fmt: skip
        elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"the reference run failed:\n{done.stderr}")
    return out.read_text(encoding="utf-8").splitlines(), elapsed


def soak(folder: Path, work: Path, args: argparse.Namespace) -> dict[str, float | int | bool]:
    out = work / "soak.jsonl"
    faults = Faults(args.seed, hang=args.request_timeout * 3)
    rng = random.Random(args.seed + 1)
    runs = kills = 0
    with FakeOpenAIServer(responder=faults) as server:
        started = time.monotonic()
        returncode = None
        while returncode != 0 and runs < args.kills + 5:
            runs += 1
            process = subprocess.Popen(
                command(folder, out, server.base_url, args),
                env=env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            if kills < args.kills:
                target = chat_count(server) + rng.randint(args.chunks // 10, args.chunks // 3)
                while process.poll() is None and chat_count(server) < target:
                    time.sleep(0.02)
                if process.poll() is None:
                    process.send_signal(signal.SIGKILL)
                    kills += 1
            _, stderr = process.communicate()
            returncode = process.returncode
            if returncode not in (0, -signal.SIGKILL):
                print(f"run {runs} exited {returncode}: {stderr.decode()[-500:]}", file=sys.stderr)
        elapsed = time.monotonic() - started
        requests = chat_count(server)
    lines = out.read_text(encoding="utf-8").splitlines() if out.exists() else []
    redone = sum(n - 1 for n in faults.answered.values() if n > 1)
    return {
        "seconds": elapsed,
        "runs": runs,
        "kills": kills,
        "requests": requests,
        "redone": redone,
        "lines": len(lines),
        **{f"fault_{k}": n for k, n in sorted(faults.kinds.items())},
        "_lines": lines,  # type: ignore[dict-item]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--request-timeout", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folder = work / "reports"
        write_documents(folder, args.chunks)
        expected, reference_seconds = reference(folder, work, args)
        result = soak(folder, work, args)
    lines = result.pop("_lines")
    same = lines == expected
    print(f"chunks {args.chunks}, kills {result['kills']} (SIGKILL), runs {result['runs']}")
    print(f"uninterrupted run, clean server: {reference_seconds:.1f} s, {len(expected)} lines")
    print(
        f"soak: {result['seconds']:.1f} s wall, {result['requests']} requests = "
        f"{result['requests'] / args.chunks:.2f} per chunk, {result['redone']} redone "
        f"(answered again after a kill)"
    )
    print(
        "faults: " + ", ".join(f"{k[6:]} {v}" for k, v in result.items() if k.startswith("fault_"))
    )
    print(f"final file equals the uninterrupted run's, line for line: {same}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

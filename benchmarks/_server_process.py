"""A fake OpenAI server in its own process, pinned to another core than the client.

Used by ``bench_client.py`` and ``bench_ratelimit.py`` so that the client's CPU
time (``time.process_time()``) counts the client alone.

429s are decided by the request, not by the order of arrival: the n-th time the
server sees a prompt (its last user message) it refuses it when a hash of the
seed, n and the prompt falls below the error rate. Every client of a fresh server
process with the same seed therefore meets the same refusals for the same chunk,
and a benchmark can work out from the prompts alone how many 429s each chunk will
get (:func:`refusals`); another seed deals other chunks the 429s.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SERVER_CORE = 1
CLIENT_CORE = 0


def pin(core: int) -> None:
    """Run this process on ``core`` only (when the machine has more than one)."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > core:
        os.sched_setaffinity(0, {core})


def refused(prompt: str, attempt: int, error_rate: float, seed: int = 0) -> bool:
    """Whether the server refuses the ``attempt``-th request (from 0) of ``prompt``."""
    digest = hashlib.sha256(f"{seed}\x00{attempt}\x00{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < error_rate


def refusals(prompt: str, error_rate: float, seed: int = 0) -> int:
    """429s a fresh server gives ``prompt`` before it answers it."""
    attempt = 0
    while refused(prompt, attempt, error_rate, seed):
        attempt += 1
    return attempt


def serve(latency: float, error_rate: float, retry_after: float, seed: int) -> None:
    """The child: serve until stdin closes; print the port first."""
    from qasynth.testing import ErrorReply, FakeOpenAIServer, default_responder
    from qasynth.testing.replies import Reply, ReplyContext

    pin(SERVER_CORE)
    seen: dict[str, int] = {}
    lock = threading.Lock()

    def responder(ctx: ReplyContext) -> Reply:
        prompt = ctx.last_user_message
        with lock:
            attempt = seen.get(prompt, 0)
            seen[prompt] = attempt + 1
        if error_rate and refused(prompt, attempt, error_rate, seed):
            return ErrorReply(429, "Rate limit reached (fake).", retry_after=retry_after)
        return default_responder(ctx)

    with FakeOpenAIServer(latency=latency, responder=responder) as server:
        print(server.port, flush=True)
        sys.stdin.read()


@contextmanager
def server_process(
    latency: float = 0.0, *, error_rate: float = 0.0, retry_after: float = 1.0, seed: int = 0
) -> Iterator[str]:
    """Start a fake server process; yields its base URL."""
    here = os.path.dirname(os.path.abspath(__file__))
    code = (
        f"import sys; sys.path.insert(0, {here!r}); import _server_process as s; "
        f"s.serve({latency!r}, {error_rate!r}, {retry_after!r}, {seed!r})"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)

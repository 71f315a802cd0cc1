"""A fake OpenAI server in its own process, pinned to another core than the client.

Used by ``bench_client.py`` and ``bench_ratelimit.py`` so that the client's CPU
time (``time.process_time()``) counts the client alone.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

SERVER_CORE = 1
CLIENT_CORE = 0


def pin(core: int) -> None:
    """Run this process on ``core`` only (when the machine has more than one)."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > core:
        os.sched_setaffinity(0, {core})


def serve(latency: float, error_rate: float, retry_after: float) -> None:
    """The child: serve until stdin closes; print the port first."""
    from qasynth.testing import ErrorReply, FakeOpenAIServer, default_responder
    from qasynth.testing.replies import Reply, ReplyContext

    pin(SERVER_CORE)
    rng = random.Random(7)

    def responder(ctx: ReplyContext) -> Reply:
        if error_rate and rng.random() < error_rate:
            return ErrorReply(429, "Rate limit reached (fake).", retry_after=retry_after)
        return default_responder(ctx)

    with FakeOpenAIServer(latency=latency, responder=responder) as server:
        print(server.port, flush=True)
        sys.stdin.read()


@contextmanager
def server_process(
    latency: float = 0.0, *, error_rate: float = 0.0, retry_after: float = 1.0
) -> Iterator[str]:
    """Start a fake server process; yields its base URL."""
    here = os.path.dirname(os.path.abspath(__file__))
    code = (
        f"import sys; sys.path.insert(0, {here!r}); import _server_process as s; "
        f"s.serve({latency!r}, {error_rate!r}, {retry_after!r})"
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

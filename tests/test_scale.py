"""Concurrency, rate limits, faults and crash-safe resumption (against the fake server)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import tiktoken
from conftest import real_encoding_names
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

from qasynth import StateError, Synthesizer
from qasynth._limits import AdaptiveLimiter, TokenBudget, Turns
from qasynth.checks import Check, ChunkContext
from qasynth.testing import (
    FIXER_REPLY,
    Content,
    ErrorReply,
    FakeOpenAIServer,
    Hang,
    ReplyContext,
    ScriptedChatModel,
    default_responder,
    is_fix_request,
    malformed_responder,
)

KEY = "sk-test-scale-SECRET-0000"


def documents(n: int) -> list[str]:
    return [
        f"Report {i}: the Zephyr {i} rover reached crater {i * 7} on day {i + 100}. "
        f"Dr. Ito {i} said the drill sampled {i * 3} grams of regolith."
        for i in range(n)
    ]


def client(server: FakeOpenAIServer) -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-4o-mini", base_url=server.base_url, api_key=KEY, temperature=0,
        timeout=10, max_retries=0,
    )  # fmt: skip


def test_every_chunk_finishes_through_429s_500s_a_hang_and_malformed_output(
    offline_encoding: tiktoken.Encoding,
) -> None:
    faults = {
        2: ErrorReply(429, retry_after=0.05),
        3: ErrorReply(429, retry_after=0.05),
        5: ErrorReply(500),
        8: Hang(30),
        11: ErrorReply(503),
    }
    responder = malformed_responder(0.3, seed=3, unrepairable_fraction=0.1)
    with FakeOpenAIServer(latency=0.01, faults=faults, responder=responder) as server:
        synth = Synthesizer.from_options(
            llm=client(server), concurrency=4, request_timeout=1.0, retry_base_delay=0.01,
            progress=False, encoding=offline_encoding,
        )  # fmt: skip
        ds = synth.run(documents(24))
        peak = server.peak_in_flight
    st = ds.stats
    assert st.chunks == st.chunks_done == 24 and not ds.failures
    assert st.retries >= 5  # two 429s, a 500, a 503 and the hung request
    assert st.fix_calls >= 1  # the unrepairable replies went to the LLM fixer
    assert peak <= 4
    questions = [r.question for r in ds]
    assert len(questions) == len(set(questions))
    assert st.pairs_returned == st.pairs_kept + sum(st.rejections.values())


@pytest.mark.parametrize("workers", [0, 1])
def test_requests_in_flight_never_exceed_the_concurrency_limit(
    offline_encoding: tiktoken.Encoding, workers: int
) -> None:
    """Also with check workers, whose chunks hold no request slot while checked there."""
    with FakeOpenAIServer(latency=0.05) as server:
        synth = Synthesizer.from_options(
            llm=client(server), concurrency=3, progress=False, encoding=offline_encoding,
            check_workers=workers,
        )  # fmt: skip
        ds = synth.run(documents(15))
        assert server.peak_in_flight == 3
    assert len({r.chunk_id for r in ds}) == 15


class TimedModel(BaseChatModel):
    """Answers every call after ``latency`` seconds (a round of calls comes back at
    once), logging ``("request", n)`` for the chunk marked ``#n`` as its call starts
    and ``("reply", n)`` as it answers."""

    latency: float = 0.05
    log: list[tuple[str, int]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "timed"

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        raise NotImplementedError("async only")

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        number = marker(messages[-1].text)
        self.log.append(("request", number))
        await asyncio.sleep(self.latency)
        self.log.append(("reply", number))
        pair = {"question": f"What did report {number} find?", "answer": "A crater."}
        body = json.dumps({"question_answer_pairs": [pair]})
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=body))])


def marker(text: str) -> int:
    return int(re.search(r"#(\d+)", text).group(1))  # type: ignore[union-attr]


class BusyCheck(Check):
    """Holds the event loop for 20 ms per chunk, as CPU-heavy checks do."""

    name = "busy"

    def __init__(self, log: list[tuple[str, int]]) -> None:
        self.log = log

    async def acheck_chunk(self, ctx: ChunkContext) -> None:
        self.log.append(("check", marker(ctx.chunk.text)))
        time.sleep(0.02)


def test_the_next_round_of_requests_goes_out_before_the_last_round_is_checked(
    offline_encoding: tiktoken.Encoding,
) -> None:
    """Replies come back in waves. Checking a whole wave before sending the requests
    that replace it would leave the model idle meanwhile: requests to send go first."""
    model = TimedModel()
    synth = Synthesizer.from_options(
        llm=model, concurrency=4, progress=False, encoding=offline_encoding,
        checks=[BusyCheck(model.log)], check_workers=0,
    )  # fmt: skip
    ds = synth.run([f"Report #{i}: the rover reached crater {i}." for i in range(12)])
    assert len(ds.records) == 12
    log = model.log
    first_round_checked = [i for i, (kind, n) in enumerate(log) if kind == "check" and n < 4]
    second_round_sent = [i for i, (kind, n) in enumerate(log) if kind == "request" and 4 <= n < 8]
    assert len(second_round_sent) == 4
    assert max(second_round_sent) < max(first_round_checked), log


class InterruptingCheck(BusyCheck):
    """Interrupts the run (as Ctrl-C does: the run's task is cancelled) while the
    first chunk is checked, when the whole first round of replies is in."""

    def __init__(self, log: list[tuple[str, int]], run: list[asyncio.Task[Any]]) -> None:
        super().__init__(log)
        self.run = run
        self.fired = False

    async def acheck_chunk(self, ctx: ChunkContext) -> None:
        if not self.fired:  # once: a second cancel means "stop now"
            self.fired = True
            while sum(kind == "reply" for kind, _ in self.log) < 6:  # the whole round
                await asyncio.sleep(0.001)
            # and the client has read them (LangChain's callbacks may pass through a
            # thread: on a loaded machine that takes more than a few milliseconds)
            await asyncio.sleep(0.2)
            self.run[0].cancel()
        await super().acheck_chunk(ctx)


async def test_an_interrupted_run_keeps_every_chunk_whose_reply_came_back(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    """Replies wait their turn to be checked; an interruption then must not throw away
    the replies already paid for: their chunks are checked and saved, the rest stop."""
    model = TimedModel(latency=0.5)  # the next round is still out when the run is stopped
    run: list[asyncio.Task[Any]] = []
    synth = Synthesizer.from_options(
        llm=model, concurrency=6, progress=False, encoding=offline_encoding,
        checks=[InterruptingCheck(model.log, run)], check_workers=0,
    )  # fmt: skip
    out = tmp_path / "out.jsonl"
    docs = [f"Report #{i}: the rover reached crater {i}." for i in range(18)]
    run.append(asyncio.ensure_future(synth.arun_to_file(docs, out)))
    with pytest.raises(asyncio.CancelledError):
        await run[0]
    assert {n for kind, n in model.log if kind == "request"} < set(range(18))  # interrupted
    with sqlite3.connect(tmp_path / "out.jsonl.qasynth.sqlite") as db:
        saved = {seq for (seq,) in db.execute("SELECT seq FROM chunks")}
    assert set(range(6)) <= saved  # the whole first round (the next may have come back too)
    assert len(saved) < 18


def interrupt_when(log: list[tuple[str, int]], requests: int, times: int) -> threading.Thread:
    """Press Ctrl-C ``times`` times (a SIGINT to this process) once ``requests``
    requests are on their way."""

    def press() -> None:
        deadline = time.monotonic() + 30
        while sum(kind == "request" for kind, _ in log) < requests:
            if time.monotonic() > deadline:
                return
            time.sleep(0.002)
        for _ in range(times):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)

    thread = threading.Thread(target=press, daemon=True)
    thread.start()
    return thread


def saved_chunks(out: Path) -> set[int]:
    with sqlite3.connect(out.with_name(out.name + ".qasynth.sqlite")) as db:
        return {seq for (seq,) in db.execute("SELECT seq FROM chunks")}


def test_ctrl_c_finishes_the_requests_on_their_way_and_a_second_stops_at_once(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    """A first Ctrl-C starts nothing more but waits for the requests already sent (the
    provider bills them) and saves their chunks, so a rerun never asks for them again;
    a second Ctrl-C stops at once."""
    docs = [f"Report #{i}: the rover reached crater {i}." for i in range(18)]
    for times, out in ((1, tmp_path / "once.jsonl"), (2, tmp_path / "twice.jsonl")):
        model = TimedModel(latency=0.4)
        synth = Synthesizer.from_options(
            llm=model, concurrency=6, progress=False, encoding=offline_encoding, check_workers=0
        )
        pressing = interrupt_when(model.log, requests=6, times=times)
        with pytest.raises(KeyboardInterrupt):
            synth.run_to_file(docs, out)
        pressing.join()
        requested = {n for kind, n in model.log if kind == "request"}
        replied = {n for kind, n in model.log if kind == "reply"}
        assert requested == set(range(6))  # nothing more started
        if times == 1:
            assert saved_chunks(out) == replied == requested  # each paid for once, and kept
        else:
            assert saved_chunks(out) == replied == set()  # not waited for


class DroppingModel(TimedModel):
    """Takes ``latency`` seconds, then the connection drops (a retried error)."""

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        self.log.append(("request", marker(messages[-1].text)))
        await asyncio.sleep(self.latency)
        raise ConnectionResetError("the connection dropped")


def test_after_ctrl_c_a_chunk_nothing_was_paid_for_is_not_retried(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    """Retrying would send new requests after the user asked to stop (against a server
    that hangs, one each timeout): the stop waits only for what is already billed."""
    model = DroppingModel(latency=0.3)
    synth = Synthesizer.from_options(
        llm=model, concurrency=6, progress=False, encoding=offline_encoding, check_workers=0,
        retry_base_delay=0,
    )  # fmt: skip
    docs = [f"Report #{i}: the rover reached crater {i}." for i in range(18)]
    pressing = interrupt_when(model.log, requests=6, times=1)
    with pytest.raises(KeyboardInterrupt):
        synth.run_to_file(docs, tmp_path / "out.jsonl")
    pressing.join()

    assert sorted(n for kind, n in model.log if kind == "request") == list(range(6))  # once each
    assert saved_chunks(tmp_path / "out.jsonl") == set()


async def test_turns_start_afresh_on_a_new_event_loop_and_skip_cancelled_waits() -> None:
    turns = Turns()
    waiter = asyncio.ensure_future(turns.wait())
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.wait_for(turns.wait(), timeout=1)  # not stuck behind the cancelled one

    def elsewhere() -> None:  # a sync call runs its own event loop
        asyncio.run(asyncio.wait_for(turns.wait(), timeout=1))

    await asyncio.to_thread(elsewhere)
    await asyncio.wait_for(turns.wait(), timeout=1)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def replies(limiter: AdaptiveLimiter, answered: int, refused: int) -> None:
    """Requests answered one after another (refusals first)."""
    for i in range(answered + refused):
        limiter.in_flight += 1  # as acquire() does (the test's clock never ends a pause)
        await limiter.release(rate_limited=i < refused, retry_after=1.0 if i < refused else None)


async def test_the_limiter_cuts_once_per_window_by_the_share_of_429s() -> None:
    clock = Clock()
    limiter = AdaptiveLimiter(16, clock=clock)
    await replies(limiter, answered=2, refused=8)  # opens the first window
    assert limiter.limit == 16  # judged only at the end of the window
    clock.now = 1.0
    await replies(limiter, answered=0, refused=2)
    assert limiter.limit == 8  # most refused: halved, once
    assert limiter.paused_for == pytest.approx(1.0)  # and new requests wait the Retry-After
    clock.now = 1.5
    await replies(limiter, answered=6, refused=4)
    assert limiter.limit == 8  # inside the new window: no second cut
    clock.now = 3.0
    await replies(limiter, answered=1, refused=0)
    assert limiter.limit == 6  # over a third refused: cut by a quarter


async def test_scattered_429s_do_not_shrink_the_limit_and_quiet_windows_grow_it() -> None:
    clock = Clock()
    limiter = AdaptiveLimiter(16, clock=clock)
    for window in range(10):  # a fifth refused in every window
        clock.now = 1.0 * window
        await replies(limiter, answered=8, refused=2)
    assert limiter.limit == 16
    limiter.limit = 4
    clock.now = 20.0
    await replies(limiter, answered=8, refused=0)
    assert limiter.limit == 5  # the last window had a fifth refused: grows by a quarter
    clock.now = 22.0
    await replies(limiter, answered=1, refused=0)
    assert limiter.limit == 7  # a quiet window grows it by half
    assert limiter.paused_for == 0


async def test_the_limiter_never_cuts_below_its_floor() -> None:
    clock = Clock()
    limiter = AdaptiveLimiter(16, clock=clock)
    for step in range(10):  # every request refused, in every window
        clock.now = 2.0 * step
        await replies(limiter, answered=0, refused=8)
    assert limiter.limit == limiter.floor == 4


async def test_the_limiter_waits_for_enough_replies_before_judging_a_window() -> None:
    clock = Clock()
    limiter = AdaptiveLimiter(16, clock=clock)
    for _ in range(16):
        await limiter.acquire()
    for _ in range(4):  # refusals come back at once, answers later
        await limiter.release(rate_limited=True, retry_after=1.0)
    clock.now = 1.5
    await limiter.release(rate_limited=True, retry_after=1.0)
    assert limiter.limit == 16  # 5 replies with 11 still in flight: not judged yet
    for _ in range(5):
        await limiter.release()
    assert limiter.limit == 16  # 10 replies, 6 in flight: still waiting
    await limiter.release()
    assert limiter.limit == 12  # 5 of 11 replies refused: over a third, cut by a quarter


async def test_a_window_is_not_judged_on_the_few_replies_left_while_the_rest_wait() -> None:
    clock = Clock()
    limiter = AdaptiveLimiter(8, clock=clock)
    for _ in range(8):
        await limiter.acquire()
    for _ in range(8):
        await limiter.release()  # opens the first window
    clock.now = 1.0
    for _ in range(4):  # the first window ends: quiet, nothing to change
        await limiter.acquire()
    clock.now = 2.0
    for i in range(4):  # the run's last requests; other chunks wait out their Retry-After
        await limiter.release(rate_limited=i < 2, retry_after=1.0 if i < 2 else None)
    assert limiter.in_flight == 0
    assert (limiter.limit, limiter.paused_for) == (8, 0)  # 2 of 4 is too few to halve on
    for _ in range(4):  # the waiting chunks come back, and are refused again
        await limiter.acquire()
    for _ in range(4):
        await limiter.release(rate_limited=True, retry_after=1.0)
    assert limiter.limit == 6  # 6 of 8 refused (6 of 16 with the quiet window): cut


async def end_window(limiter: AdaptiveLimiter) -> None:
    """Judge the window at the clock's time, as a new request does (not while paused:
    the test's clock does not move)."""
    await limiter.acquire()
    limiter.in_flight -= 1


async def test_one_unlucky_window_cuts_nothing_but_refusals_that_go_on_do() -> None:
    clock = Clock()
    limiter = AdaptiveLimiter(16, clock=clock)
    await replies(limiter, answered=13, refused=3)  # one in five refused, scattered
    clock.now = 1.0
    await end_window(limiter)
    await replies(limiter, answered=10, refused=6)
    clock.now = 2.0
    await end_window(limiter)
    assert limiter.limit == 16  # 6 of 16, but 9 of 32 with the window before: noise
    await replies(limiter, answered=10, refused=6)
    clock.now = 3.0
    await end_window(limiter)
    assert limiter.limit == 12  # 12 of 32 over two windows: over a third, cut by a quarter
    await replies(limiter, answered=16, refused=0)
    clock.now = 4.0
    await end_window(limiter)
    assert limiter.limit == 16  # a quiet window grows it back
    await replies(limiter, answered=0, refused=16)
    clock.now = 5.0
    await replies(limiter, answered=0, refused=1)  # the next reply ends the window
    assert limiter.limit == 8  # all refused after a quiet window: halved at once
    assert limiter.paused_for == pytest.approx(1.0)


async def test_the_limiter_pauses_new_requests_when_most_are_refused() -> None:
    limiter = AdaptiveLimiter(2, grow_every=0.01)
    await limiter.acquire()
    await asyncio.sleep(0.02)  # the first window is over
    start = time.monotonic()
    await limiter.release(rate_limited=True, retry_after=0.3)
    await limiter.acquire()
    assert time.monotonic() - start >= 0.29


@pytest.mark.parametrize(
    ("faults", "chunks_failed", "attempts"),
    [
        pytest.param([429, 429, 500], 0, None, id="two 429s, one 500, then an answer"),
        pytest.param([429, 500, 503], 1, 3, id="one 429, then two server errors"),
    ],
)
def test_429s_do_not_use_up_the_attempts_a_request_has_for_server_errors(
    faults: list[int], chunks_failed: int, attempts: int | None,
    offline_encoding: tiktoken.Encoding,
) -> None:  # fmt: skip
    replies = {n: ErrorReply(code, retry_after=0.01 if code == 429 else None)
               for n, code in enumerate(faults, start=1)}  # fmt: skip
    with FakeOpenAIServer(faults=replies) as server:
        synth = Synthesizer.from_options(
            llm=client(server), concurrency=1, max_attempts=2, retry_base_delay=0.01,
            progress=False, encoding=offline_encoding,
        )  # fmt: skip
        ds = synth.run(documents(1))
        statuses = [r.status for r in server.requests]
    assert ds.stats.chunks_failed == chunks_failed
    if attempts is None:
        assert statuses == [*faults, 200] and len(ds) >= 1
        # the 500's backoff is the first one (0.01 s at most), not doubled by the 429s
        assert ds.stats.waited <= 0.01 + 0.01 + 0.01 + 1e-9
    else:
        assert statuses == faults  # two attempts for server errors, the 429 not counted
        [failure] = ds.failures
        assert failure.attempts == attempts


def test_an_api_key_never_reaches_the_state_file(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    with FakeOpenAIServer(faults={1: ErrorReply(500, message=f"bad key {KEY}")}) as server:
        synth = Synthesizer.from_options(
            llm=client(server), api_key=KEY, progress=False, encoding=offline_encoding,
            retry_base_delay=0.01, max_attempts=1,
        )  # fmt: skip
        report = synth.run_to_file(documents(3), tmp_path / "out.jsonl")
    assert report.stats.chunks_failed == 1
    for path in tmp_path.iterdir():
        assert KEY.encode() not in path.read_bytes(), path


def test_a_changed_prompt_refuses_to_mix_with_old_results_unless_restarted(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    from qasynth import QAPrompt

    class Other(QAPrompt):
        rules = ("Only one rule.",)

    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer() as server:
        Synthesizer.from_options(
            llm=client(server), progress=False, encoding=offline_encoding
        ).run_to_file(documents(2), out)
        changed = Synthesizer.from_options(
            llm=client(server), prompt=Other(), progress=False, encoding=offline_encoding
        )
        with pytest.raises(StateError, match="prompt"):
            changed.run_to_file(documents(2), out)
        before = len(server.requests)
        report = changed.run_to_file(documents(2), out, restart=True)
        assert len(server.requests) == before + 2
    assert report.stats.chunks_resumed == 0


def test_a_changed_model_setting_is_named_with_its_old_and_new_value(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer() as server:
        for temperature in (0.2, 0.7):
            synth = Synthesizer.from_options(
                base_url=server.base_url, api_key="sk-test", temperature=temperature,
                progress=False, encoding=offline_encoding,
            )  # fmt: skip
            if temperature == 0.2:
                synth.run_to_file(documents(1), out)
                continue
            with pytest.raises(StateError) as caught:
                synth.run_to_file(documents(1), out)

    assert "made with other settings (the model: temperature 0.2, now 0.7)" in str(caught.value)


def test_a_response_cache_answers_a_repeated_prompt_without_a_request(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    with FakeOpenAIServer() as server:
        options = {"progress": False, "encoding": offline_encoding, "cache": tmp_path / "c.db"}
        first = Synthesizer.from_options(llm=client(server), **options).run(documents(3))
        assert len(server.requests) == 3
        second = Synthesizer.from_options(llm=client(server), **options).run(documents(3))
        assert len(server.requests) == 3
    assert [r.question for r in first] == [r.question for r in second]
    assert KEY.encode() not in (tmp_path / "c.db").read_bytes()


# -- kill -9 -------------------------------------------------------------------


def done_chunks(state: Path) -> int:
    if not state.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT count(*) FROM chunks").fetchone()[0])
    except sqlite3.Error:
        return 0


def start_generate(folder: Path, out: Path, server: FakeOpenAIServer) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    command = [
        sys.executable, "-m", "qasynth", "generate", str(folder), "-o", str(out),
        "--base-url", server.base_url, "--encoding", real_encoding_names()[0],
        "--concurrency", "4", "--quiet",
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(condition: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.01)


@pytest.mark.skipif(
    not real_encoding_names(), reason="the CLI subprocess needs real tiktoken files"
)
def test_kill_9_at_any_point_then_resume_gives_exactly_the_uninterrupted_output(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for i, text in enumerate(documents(30)):
        (folder / f"report_{i:02d}.txt").write_text(text, encoding="utf-8")
    with FakeOpenAIServer(latency=0.15, responder=default_responder) as server:
        reference = tmp_path / "reference.jsonl"
        assert start_generate(folder, reference, server).wait(120) == 0
        out = tmp_path / "out.jsonl"
        state = Path(f"{out}.qasynth.sqlite")
        for kill_after in (0, 5, 13, 22):  # chunks saved before each kill -9
            process = start_generate(folder, out, server)
            wait_for(
                lambda n=kill_after, p=process: done_chunks(state) >= n or p.poll() is not None
            )
            process.send_signal(signal.SIGKILL)
            process.wait(30)
        wait_for(lambda: server.in_flight == 0)  # the killed runs' requests are over
        server.reset_stats()
        final = start_generate(folder, out, server)
        assert final.wait(120) == 0, final.stderr.read().decode() if final.stderr else ""
        requests = len(server.requests)
    assert requests <= 30 - 22  # only the unfinished chunks were asked again
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines == reference.read_text(encoding="utf-8").splitlines()
    assert max(Counter(lines).values()) == 1


async def test_the_token_budget_holds_requests_until_tokens_are_refilled() -> None:
    budget = TokenBudget(600)  # 10 tokens a second
    start = time.monotonic()
    await budget.acquire(600)  # the full bucket passes at once
    assert time.monotonic() - start < 0.2
    await budget.acquire(3)  # then 3 tokens take about 0.3 s to refill
    assert time.monotonic() - start >= 0.25


def test_requests_per_minute_spread_the_calls_out(offline_encoding: tiktoken.Encoding) -> None:
    with FakeOpenAIServer() as server:
        synth = Synthesizer.from_options(
            llm=client(server), rpm=600, concurrency=8, progress=False, encoding=offline_encoding
        )  # 10 requests a second
        start = time.monotonic()
        ds = synth.run(documents(6))
        elapsed = time.monotonic() - start
    assert ds.stats.model_calls == 6
    assert elapsed >= 0.45  # six calls at 10 a second need at least half a second


SLOW_CHILD = """
import asyncio, os, sys
sys.path.insert(0, {tests!r})
from conftest import build_offline_encoding
from langchain_openai import ChatOpenAI
from qasynth import Chunker, Limits, Synthesizer
from qasynth.checks import Check

class Slow(Check):
    name = "slow"
    async def acheck_chunk(self, ctx):
        if os.environ.get("SLOW"):
            await asyncio.sleep(5)  # replies are in, their chunks not yet saved

llm = ChatOpenAI(model="m", base_url={url!r}, api_key="k", max_retries=0)
Synthesizer(llm, chunker=Chunker(encoding=build_offline_encoding()), checks=[Slow()],
            limits=Limits(concurrency=4, check_workers=0), progress=False).run_to_file(
    {folder!r}, {out!r})
"""


def test_after_kill_9_the_replies_that_came_back_are_not_paid_for_again(tmp_path: Path) -> None:
    """Replies wait their turn to be checked: a run killed then had them in memory only,
    and the next run paid for them again. The state keeps each until its chunk is saved."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(12):
        (folder / f"r{i:02d}.txt").write_text(f"Report #{i}: the rover reached crater {i}.")
    out = tmp_path / "out.jsonl"

    def numbers(server: FakeOpenAIServer) -> list[int]:
        bodies = [r.body for r in server.requests if r.path.endswith("/chat/completions")]
        return [marker(json.dumps(body)) for body in bodies]

    with FakeOpenAIServer(latency=0.2) as server:
        script = SLOW_CHILD.format(tests=str(Path(__file__).parent), url=server.base_url,
                                   folder=str(folder), out=str(out))  # fmt: skip
        child = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "SLOW": "1"})
        wait_for(lambda: len(numbers(server)) >= 4 or child.poll() is not None)
        time.sleep(1.0)  # the first four replies are back, and their chunks being checked
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        first_round = sorted(numbers(server))[:4]
        assert done_chunks(Path(f"{out}.qasynth.sqlite")) == 0  # nothing was saved
        wait_for(lambda: server.in_flight == 0)
        rerun = subprocess.run([sys.executable, "-c", script], env=dict(os.environ), timeout=120)
        asked = Counter(numbers(server))

    assert rerun.returncode == 0
    assert all(asked[n] == 1 for n in first_round), asked  # their replies were kept
    assert len(out.read_text(encoding="utf-8").splitlines()) == 12


def test_after_kill_9_the_fix_calls_that_came_back_are_not_paid_for_again(
    tmp_path: Path,
) -> None:
    """A chunk can make several calls (the generation, then a fix of its reply, top-ups,
    checks' calls): each reply is kept until the chunk is saved, so a chunk killed
    after its fix call came back pays for neither call again."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(8):
        (folder / f"r{i:02d}.txt").write_text(f"Report #{i}: the rover reached crater {i}.")
    out = tmp_path / "out.jsonl"

    def respond(ctx: ReplyContext) -> Content:
        if is_fix_request(ctx):  # the fix request quotes the reply, and so its marker
            return Content(FIXER_REPLY)
        return Content(f"I cannot produce JSON for report #{marker(ctx.document_message)}.")

    def asked(server: FakeOpenAIServer, fixes: bool) -> list[int]:
        bodies = [json.dumps(r.body) for r in server.requests if r.path.endswith("/completions")]
        return [marker(b) for b in bodies if ("Completion:" in b) == fixes]

    with FakeOpenAIServer(latency=0.2, responder=respond) as server:
        script = SLOW_CHILD.format(tests=str(Path(__file__).parent), url=server.base_url,
                                   folder=str(folder), out=str(out))  # fmt: skip
        child = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "SLOW": "1"})
        wait_for(lambda: len(asked(server, fixes=True)) >= 4 or child.poll() is not None)
        time.sleep(1.0)  # the first four fixes are back, and their chunks being checked
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        fixed = sorted(asked(server, fixes=True))[:4]
        assert done_chunks(Path(f"{out}.qasynth.sqlite")) == 0  # nothing was saved
        wait_for(lambda: server.in_flight == 0)
        rerun = subprocess.run([sys.executable, "-c", script], env=dict(os.environ), timeout=120)
        generations = Counter(asked(server, fixes=False))
        fixes = Counter(asked(server, fixes=True))

    assert rerun.returncode == 0
    assert all(generations[n] == 1 and fixes[n] == 1 for n in fixed), (generations, fixes)
    assert sorted(fixes) == list(range(8))  # and every chunk got its fix


class AskTwice(Check):
    """Asks the model the same question twice per chunk (as a check wanting two samples
    would) and rejects nothing; keeps what it heard."""

    name = "twice"
    heard: list[str] = []  # noqa: RUF012 (the test reads it)

    async def acheck_chunk(self, ctx: ChunkContext) -> None:
        messages = [HumanMessage(content="Give me a word.")]
        for _ in range(2):
            word = await ctx.ask(self.name, messages, Word)
            self.heard.append(word.word)


class Word(BaseModel):
    word: str


def test_the_same_request_twice_in_a_chunk_gets_two_replies(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    """Replies are kept by request until their chunk is saved; a chunk that asks the
    same thing twice still makes two calls and hears two replies."""
    words = iter(["alpha", "beta", "gamma", "delta"])
    llm = ScriptedChatModel(
        replies={
            "generate": '{"question_answer_pairs": []}',
            "twice": lambda _: json.dumps({"word": next(words)}),
        }
    )
    AskTwice.heard = []
    synth = Synthesizer.from_options(
        llm=llm, encoding=offline_encoding, checks=[AskTwice()], progress=False
    )
    synth.run_to_file(["Report #1: the rover reached crater 7."], tmp_path / "out.jsonl")
    assert llm.steps() == ["generate", "twice", "twice"]
    assert AskTwice.heard == ["alpha", "beta"]

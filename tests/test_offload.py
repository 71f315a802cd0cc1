"""Model-free checks in worker processes: same results as inline, robust to a worker
that dies, never started for small runs, and never re-running the user's script."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tiktoken
from langchain_core.messages import BaseMessage, HumanMessage

import qasynth._offload
from qasynth import DocumentError, Limits, Synthesizer
from qasynth._children import cpus
from qasynth._offload import (
    MAX_AUTO_WORKERS,
    CheckOffload,
    _Worker,
    offloadable_prefix,
    run_checks,
)
from qasynth._schema import Chunk, QARecord
from qasynth.checks import GroundingCheck, LLMJudge, default_checks
from qasynth.testing import ScriptedChatModel

ROOT = Path(__file__).resolve().parents[1]

DOCS = [
    f"In {1990 + i}, Dr. Amara Ito led the Zephyr rover survey near Lake Orin, where the "
    f"team recorded {100 + 7 * i} samples over {i + 3} days. The survey cost {20 + i} "
    f"million dollars and ended in {1991 + i}."
    for i in range(6)
]


def reply(messages: list[BaseMessage]) -> str:
    """Pairs for the chunk: one grounded, one with a wrong number, one dangling, one echo."""
    text = messages[-1].text
    year = next(str(y) for y in range(1990, 1996) if f"In {y}," in text)
    items = [
        (f"Who led the Zephyr rover survey near Lake Orin in {year}?",
         f"Dr. Amara Ito led the Zephyr rover survey near Lake Orin in {year}."),
        (f"How many days did the {year} Zephyr rover survey last?",
         "The survey lasted 400 days."),
        ("What did he record there?", "He recorded samples."),
        ("Where was the survey?", "Where was the survey?"),
    ]  # fmt: skip
    return json.dumps({"question_answer_pairs": [{"question": q, "answer": a} for q, a in items]})


def run(encoding: tiktoken.Encoding, workers: int | None, **options: Any) -> Any:
    llm = ScriptedChatModel(replies={"generate": reply})
    synth = Synthesizer.from_options(
        llm=llm, encoding=encoding, progress=False, concurrency=3, check_workers=workers,
        **options,
    )  # fmt: skip
    return synth.run(DOCS)


def outcome(ds: Any) -> tuple[list[dict[str, Any]], list[str]]:
    rejections = sorted(json.dumps(r.to_dict(), sort_keys=True) for r in ds.rejections)
    return [r.to_dict() for r in ds.records], rejections


def test_checks_in_a_worker_give_exactly_what_inline_checks_give(
    offline_encoding: tiktoken.Encoding,
) -> None:
    inline = run(offline_encoding, 0)
    in_workers = run(offline_encoding, 1)
    assert outcome(in_workers) == outcome(inline)
    reasons = Counter(r.reason for r in inline.rejections)
    assert reasons == {
        "question_equals_answer": 6, "not_standalone": 6, "answer_number_not_in_text": 6,
    }  # fmt: skip
    assert len(inline) == len(DOCS)  # the grounded pair of each chunk is kept


def test_a_ready_worker_decides_each_chunk_as_the_main_process_does() -> None:
    chunks = [Chunk(text=doc, theme="survey", source="s", index=i) for i, doc in enumerate(DOCS)]
    batches = [
        [QARecord.of(c, p["question"], p["answer"]) for p in
         json.loads(reply([HumanMessage(content=c.text)]))["question_answer_pairs"]]
        for c in chunks
    ]  # fmt: skip

    async def scenario() -> tuple[list[Any], list[Any], int]:
        offload = CheckOffload(default_checks(), workers=1)
        inline = [run_checks(offload.checks, c, b) for c, b in zip(chunks, batches, strict=True)]
        await offload.check(chunks[0], batches[0])
        await offload.wait_ready()
        sent = offload._jobs
        remote = [await offload.check(c, b) for c, b in zip(chunks, batches, strict=True)]
        jobs = offload._jobs - sent
        await offload.aclose()
        return inline, remote, jobs

    inline, remote, jobs = asyncio.run(scenario())
    assert jobs == len(chunks)  # every chunk went to the worker
    assert remote == inline
    assert sum(len(rejected) for _, rejected in inline) == 3 * len(chunks)


def _batch(chunk: Chunk) -> list[QARecord]:
    pairs = json.loads(reply([HumanMessage(content=chunk.text)]))["question_answer_pairs"]
    return [QARecord.of(chunk, p["question"], p["answer"]) for p in pairs]


def burst(
    count: int, *, slots: int, before: Callable[[CheckOffload], None] = lambda _: None
) -> tuple[int, CheckOffload]:
    """Check ``count`` chunks at once (a wave of replies) with one ready worker, after
    ``before(offload)``: how many went to the worker. Asserts that each chunk's
    result is what checking it inline gives."""
    chunks = [Chunk(text=DOCS[i % 6], theme="t", source="s", index=i) for i in range(count)]

    async def scenario() -> tuple[list[Any], int, CheckOffload]:
        offload = CheckOffload(default_checks(), workers=1, slots=slots)
        offload.plan(count)  # starts the worker
        await offload.wait_ready()
        before(offload)
        results = await asyncio.gather(*(offload.check(c, _batch(c)) for c in chunks))
        jobs = offload._jobs
        await offload.aclose()
        return results, jobs, offload

    results, jobs, offload = asyncio.run(scenario())
    checks = offloadable_prefix(default_checks())
    assert results == [run_checks(checks, c, _batch(c)) for c in chunks]
    return jobs, offload


def test_a_burst_of_replies_goes_to_a_worker_that_keeps_up() -> None:
    """Replies come back in waves: a worker that checks fast takes the whole wave
    (the main process stays free to send requests), and a chunk in the worker is
    counted as holding no request slot while it is there."""
    seen: list[int] = []

    def watch(offload: CheckOffload) -> None:
        offload.on_change = lambda: seen.append(offload.in_workers)

    jobs, offload = burst(24, slots=24, before=watch)
    assert jobs == 24  # none checked in the main process
    assert max(seen) == 24 and offload.in_workers == 0


def test_a_chunk_that_would_wait_long_in_a_worker_is_checked_in_the_main_process() -> None:
    def slow(offload: CheckOffload) -> None:
        offload._workers[0].seconds_per_chunk = 0.3  # as if each chunk took 0.3 s there

    jobs, _ = burst(10, slots=10, before=slow)
    assert jobs == 2  # waits of 0 and 0.3 s; a third would wait 0.6 s, over MAX_WAIT


def test_workers_a_round_of_requests_behind_leave_the_rest_to_the_main_process() -> None:
    jobs, _ = burst(10, slots=3)
    assert jobs == 3  # as many as the run has request slots


def test_in_the_last_round_the_main_process_takes_what_would_wait_in_a_busy_worker() -> None:
    """Once the run has no requests left to send, the main process is idle: a chunk
    goes to a worker only when it would wait less than one chunk's time there."""

    def last_round(offload: CheckOffload) -> None:
        offload.draining = True
        offload._workers[0].seconds_per_chunk = 0.05

    jobs, _ = burst(10, slots=10, before=last_round)
    assert jobs == 2  # waits of 0 and 0.05 s; the rest would wait longer than a chunk takes


def test_a_worker_still_loading_takes_chunks_while_requests_go_out() -> None:
    """Checking a chunk in the main process takes it from sending requests; a worker
    still loading the checks takes the chunk instead (it holds no request slot there)
    and gives what inline checks give. In the last round the main process is idle and
    checks what comes back itself."""
    chunks = [Chunk(text=DOCS[i], theme="t", source="s", index=i) for i in range(3)]

    async def scenario() -> tuple[list[bool], list[Any], int, int]:
        offload = CheckOffload(default_checks(), workers=1, slots=4)
        await offload.start_early()  # the process runs; it is still importing
        worker = offload._workers[0]
        loading = [not worker.ready.is_set()]
        first = offload.check(chunks[0], _batch(chunks[0]))  # decides before it waits
        second = offload.check(chunks[1], _batch(chunks[1]))
        results = list(await asyncio.gather(first, second))
        jobs = offload._jobs
        offload.draining = True
        await offload.aclose()  # a fresh offload for the last-round case
        offload = CheckOffload(default_checks(), workers=1, slots=4)
        await offload.start_early()
        offload.draining = True
        loading.append(not offload._workers[0].ready.is_set())
        results.append(await offload.check(chunks[2], _batch(chunks[2])))
        last_round_jobs = offload._jobs
        await offload.aclose()
        return loading, results, jobs, last_round_jobs

    loading, results, jobs, last_round_jobs = asyncio.run(scenario())
    assert loading == [True, True]
    assert jobs == 2 and last_round_jobs == 0
    checks = offloadable_prefix(default_checks())
    assert results == [run_checks(checks, c, _batch(c)) for c in chunks]


def test_workers_asked_for_start_with_the_run_not_with_the_first_reply() -> None:
    """The first wave of replies comes back a model call after the run starts: a
    worker started then would leave that whole wave to the main process."""
    chunk = Chunk(text=DOCS[0], theme="t", source="s", index=0)

    async def scenario() -> tuple[int, int, int]:
        offload = CheckOffload(default_checks(), workers=1)
        offload.plan(0)  # nothing to check (a resumed run): no worker
        idle = offload.worker_count + (offload._starting is not None)
        offload.plan(5)
        await offload.wait_ready()
        await offload.check(chunk, _batch(chunk))
        count, jobs = offload.worker_count, offload._jobs
        await offload.aclose()
        return idle, count, jobs

    assert asyncio.run(scenario()) == (0, 1, 1)  # the first chunk went to the worker


def test_workers_asked_for_load_while_the_inputs_are_split_and_stop_if_a_file_is_bad(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_encoding: tiktoken.Encoding
) -> None:
    """The worker starts as the run begins reading its inputs (so it is ready for the
    first replies); a bad file then ends the run before any call, and the worker too."""
    events: list[str] = []
    workers: list[Any] = []
    real_start = _Worker.start.__func__  # type: ignore[attr-defined]

    async def start(cls: type[_Worker], checks: Any) -> _Worker:
        events.append("worker")
        workers.append(await real_start(cls, checks))
        return workers[-1]

    real_iter = Synthesizer.iter_texts

    def iter_texts(self: Synthesizer, docs: Any, **kw: Any) -> Any:
        events.append("read")
        return real_iter(self, docs, **kw)

    monkeypatch.setattr(_Worker, "start", classmethod(start))
    monkeypatch.setattr(Synthesizer, "iter_texts", iter_texts)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\x00\xffbroken \x81\x82")  # not text (a UTF-16 BOM would make it text)
    synth = Synthesizer.from_options(
        llm=ScriptedChatModel(replies={}), encoding=offline_encoding, check_workers=1,
        progress=False,
    )  # fmt: skip
    with pytest.raises(DocumentError, match=r"bad\.txt"):
        synth.run_to_file([bad], tmp_path / "out.jsonl")
    assert events[:2] == ["worker", "read"]
    assert len(workers) == 1 and workers[0].process.returncode is not None  # stopped


def test_a_worker_that_dies_costs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    chunk = Chunk(text=DOCS[0], theme="t", source="s", index=0)
    records = [QARecord.of(chunk, "Who led the survey in 1990?", "Dr. Amara Ito led it.")]

    async def scenario() -> None:
        offload = CheckOffload(default_checks(), workers=1)
        await offload.check(chunk, records)  # starts the worker (checked inline meanwhile)
        await offload.wait_ready()
        first = await offload.check(chunk, records)
        assert offload._jobs == 1  # the worker checked it
        offload._workers[0].process.kill()
        await offload._workers[0].process.wait()
        again = await offload.check(chunk, records)  # checked inline now
        assert again == first and offload._broken
        await offload.aclose()

    with caplog.at_level(logging.WARNING, logger="qasynth"):
        asyncio.run(scenario())
    assert "checking inline from now on" in caplog.text


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="stops the worker with SIGSTOP")
def test_a_stuck_worker_is_stopped_and_its_chunk_checked_inline(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker that takes a chunk and never answers (stopped, or a check in a loop)
    must not hold the run forever."""
    monkeypatch.setattr(qasynth._offload, "STALL_SECONDS", 0.5)
    chunk = Chunk(text=DOCS[0], theme="t", source="s", index=0)
    records = [QARecord.of(chunk, "Who led the survey in 1990?", "Dr. Amara Ito led it.")]

    async def scenario() -> tuple[Any, Any, int | None]:
        offload = CheckOffload(default_checks(), workers=1)
        offload.plan(5)
        await offload.wait_ready()
        process = offload._workers[0].process
        os.kill(process.pid, signal.SIGSTOP)
        checked = await asyncio.wait_for(offload.check(chunk, records), timeout=30)
        await offload.aclose()
        return checked, run_checks(offload.checks, chunk, records), process.returncode

    checked, inline, returncode = asyncio.run(scenario())
    assert checked == inline and returncode is not None  # checked here; the worker is gone
    assert "answered nothing for 0 s" in caplog.text


def test_ctrl_c_is_left_to_the_parent_and_the_worker_ends_with_its_stdin() -> None:
    """Ctrl-C reaches the whole process group: the worker must not die with a
    traceback mid-chunk; the parent keeps what is finished and closes it."""
    chunk = Chunk(text=DOCS[0], theme="t", source="s", index=0)

    async def scenario() -> tuple[bool, int, int | None]:
        offload = CheckOffload(default_checks(), workers=1)
        offload.plan(3)
        await offload.wait_ready()
        process = offload._workers[0].process
        os.kill(process.pid, signal.SIGINT)
        await asyncio.sleep(0.2)
        await offload.check(chunk, _batch(chunk))
        broken, jobs = offload._broken, offload._jobs
        await offload.aclose()
        return broken, jobs, process.returncode

    assert asyncio.run(scenario()) == (False, 1, 0)


def test_auto_mode_starts_no_worker_for_a_small_run() -> None:
    async def scenario() -> int:
        offload = CheckOffload(default_checks(), workers=None)
        offload.plan(10)
        chunk = Chunk(text=DOCS[0], theme="t", source="s", index=0)
        for _ in range(12):
            await offload.check(chunk, [QARecord.of(chunk, "Who led it in 1990?", "Ito.")])
        count = offload.worker_count
        await offload.aclose()
        return count

    assert asyncio.run(scenario()) == 0


@pytest.mark.parametrize("split_done", [True, False], ids=["split-done", "split-going-on"])
def test_auto_mode_starts_workers_once_the_checks_slow_a_long_run_down(split_done: bool) -> None:
    """Also while a long split goes on: the chunks split so far already make the run
    long enough."""
    chunk = Chunk(text=DOCS[0], theme="t", source="s", index=0)

    async def scenario() -> tuple[int, int]:
        offload = CheckOffload(default_checks(), workers=None, slots=8)
        if split_done:
            offload.plan(300)
        else:
            offload.planned_so_far(150)
            offload.planned_so_far(300)
        before = offload.worker_count + (offload._starting is not None)  # not at the start
        for _ in range(12):  # back to back: the checks are all this run does
            await offload.check(chunk, _batch(chunk))
        await offload.wait_ready()
        count = offload.worker_count
        await offload.aclose()
        return before, count

    assert asyncio.run(scenario()) == (0, min(cpus() - 1, MAX_AUTO_WORKERS))


def test_a_frozen_application_starts_no_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a frozen application ``sys.executable`` is the application itself: starting
    it as a worker would run the application again."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    chunk = Chunk(text=DOCS[0], theme="t", source="s", index=0)

    async def scenario() -> tuple[int, int]:
        offload = CheckOffload(default_checks(), workers=2)
        offload.plan(300)
        kept, _ = await offload.check(chunk, _batch(chunk))
        count = offload.worker_count + (offload._starting is not None)
        await offload.aclose()
        return count, len(kept)

    assert asyncio.run(scenario()) == (0, 1)  # checked inline, the same as always


def test_only_built_in_model_free_checks_leave_the_process() -> None:
    class MyGrounding(GroundingCheck):  # may live in the user's __main__
        pass

    checks = default_checks(judge=True)
    prefix = offloadable_prefix(checks)
    assert [c.name for c in prefix] == [
        "non_empty", "not_echo", "max_length", "standalone", "language", "grounding",
    ]  # fmt: skip
    assert not any(isinstance(c, LLMJudge) for c in prefix)
    assert offloadable_prefix([MyGrounding(), *default_checks()]) == []


def test_limits_refuse_negative_workers() -> None:
    with pytest.raises(ValueError, match="check_workers must be 0 or more"):
        Limits(check_workers=-1)


def test_a_script_without_a_main_guard_runs_once(tmp_path: Path) -> None:
    """Workers never import the user's ``__main__`` (multiprocessing's spawn would)."""
    script = tmp_path / "make_data.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, sys
            sys.path.insert(0, {str(ROOT / "tests")!r})
            from conftest import build_offline_encoding
            from qasynth import Synthesizer
            from qasynth.testing import ScriptedChatModel

            print("script body ran", flush=True)
            pair = {{"question": "Who led the 1990 Zephyr rover survey?",
                     "answer": "Dr. Amara Ito led the 1990 Zephyr rover survey."}}
            llm = ScriptedChatModel(replies={{"generate": json.dumps(
                {{"question_answer_pairs": [pair]}})}})
            synth = Synthesizer.from_options(
                llm=llm, encoding=build_offline_encoding(), progress=False, check_workers=1)
            ds = synth.run("In 1990, Dr. Amara Ito led the Zephyr rover survey.")
            print("kept", len(ds), flush=True)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["script body ran", "kept 1"]

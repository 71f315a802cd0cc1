"""Issue 9, item 12: progress that tells the truth, on a terminal and in a log."""

from __future__ import annotations

import io
import os
import re
import signal
import sys
import types
from pathlib import Path

import pytest
import tiktoken
from click.testing import CliRunner, Result
from langchain_openai import ChatOpenAI

import qasynth._progress
import qasynth._runloop
import qasynth._tokens
from qasynth import Synthesizer
from qasynth._cli import main
from qasynth._progress import Progress
from qasynth.testing import (
    ErrorReply,
    FakeOpenAIServer,
    Reply,
    ReplyContext,
    default_responder,
    malformed_responder,
)


@pytest.fixture(autouse=True)
def offline_tokenizer(monkeypatch: pytest.MonkeyPatch, offline_encoding: tiktoken.Encoding) -> None:
    monkeypatch.setattr(qasynth._tokens, "_load", lambda name: offline_encoding)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-progress-0000")


def notes(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"doc{i:02d}.txt").write_text(
            f"Document {i} says the Zephyr {i} rover reached crater {i * 7}.", encoding="utf-8"
        )
    return folder


def generate(url: str, out: Path, folder: Path, *extra: str) -> Result:
    args = ["generate", str(folder), "-o", str(out), "--base-url", url, *extra]
    return CliRunner().invoke(main, args)


class Terminal(io.TextIOBase):
    """Stands for a terminal: says it is one and writes to whatever stderr is now."""

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def test_the_total_is_set_once_the_inputs_are_split_and_leaves_out_resumed_chunks(
    tmp_path: Path, offline_encoding: tiktoken.Encoding, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first chunks start while the rest is still being split, so the total comes
    a little later than the first call: once, and without the resumed chunks."""
    seen: list[tuple[int, int]] = []

    class Recorded(Progress):
        def set_total(self, total: int, *, resumed: int = 0) -> None:
            super().set_total(total, resumed=resumed)
            seen.append((total, resumed))

    monkeypatch.setattr(qasynth._runloop, "Progress", Recorded)
    with FakeOpenAIServer() as server:
        llm = ChatOpenAI(model="m", base_url=server.base_url, api_key="k", max_retries=0)
        synth = Synthesizer.from_options(llm=llm, encoding=offline_encoding, chunk_size=30,
                                         chunk_overlap=0)  # fmt: skip
        long = " ".join(f"Fact {i} is about crater {i}." for i in range(12))
        synth.run_to_file([long, "One more note."], tmp_path / "out.jsonl")
        chunks = len(server.requests)
        synth.run_to_file([long, "One more note.", "A new note."], tmp_path / "out.jsonl")

    assert chunks > 3
    assert seen == [(chunks, 0), (1, chunks)]


def test_without_a_terminal_there_are_status_lines_and_no_bar_frames(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        first = generate(server.base_url, tmp_path / "out.jsonl", notes(tmp_path / "n", 3))
        notes(tmp_path / "n", 5)
        second = generate(server.base_url, tmp_path / "out.jsonl", tmp_path / "n")

    assert first.exit_code == 0 and second.exit_code == 0
    assert first.stderr.splitlines()[0] == "qasynth: 3 chunks to do"
    assert second.stderr.splitlines()[0] == "qasynth: 2 chunks to do (3 finished by an earlier run)"
    for result in (first, second):
        assert "\r" not in result.stderr and "|" not in result.stderr


def test_on_a_terminal_the_bar_is_closed_before_the_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(qasynth._progress, "sys", types.SimpleNamespace(stderr=Terminal()))
    with FakeOpenAIServer() as server:
        result = generate(server.base_url, tmp_path / "out.jsonl", notes(tmp_path / "n", 3))

    assert result.exit_code == 0, result.stderr
    bar, summary = result.stderr.split("Wrote 3 pairs", 1)
    assert "\r" in bar and "3/3" in bar.splitlines()[-1] and bar.endswith("\n")
    assert "\r" not in summary and "chunk/s" not in summary


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT to itself")
def test_ctrl_c_closes_the_bar_before_saying_how_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(qasynth._progress, "sys", types.SimpleNamespace(stderr=Terminal()))

    def respond(ctx: ReplyContext) -> Reply:
        if ctx.number == 3:  # the user presses Ctrl-C while the third chunk is asked
            os.kill(os.getpid(), signal.SIGINT)
        return default_responder(ctx)

    with FakeOpenAIServer(responder=respond) as server:
        result = generate(
            server.base_url, tmp_path / "out.jsonl", notes(tmp_path / "n", 6), "--concurrency", "1"
        )

    assert result.exit_code == 130
    bar, message = result.stderr.split("Interrupted; ", 1)
    assert "\r" in bar and bar.endswith("\n\n")  # the bar's last frame, then the message
    assert re.search(r"stopping after \d in progress; Ctrl-C again: stop now", bar)
    assert message.count("\n") == 1 and "\r" not in message
    assert "run the same command again to resume" in message


def test_the_summary_shows_retries_waits_and_local_repairs_and_says_what_they_cover(
    tmp_path: Path,
) -> None:
    faults = {1: ErrorReply(429, "Slow down.", retry_after=0.1)}
    with FakeOpenAIServer(faults=faults, responder=malformed_responder(1.0, seed=1)) as server:
        first = generate(server.base_url, tmp_path / "out.jsonl", notes(tmp_path / "n", 2), "-q")
        notes(tmp_path / "n", 3)
        second = generate(server.base_url, tmp_path / "out.jsonl", tmp_path / "n", "-q")

    assert first.exit_code == 0, first.stderr
    assert (
        "1 requests retried after 0 s of waits (summed over the requests that waited side "
        "by side); 2 replies repaired locally (no paid fix)"
    ) in first.stderr
    assert "(calls, tokens and retries are this invocation's" not in first.stderr
    assert "1 done, 0 failed, 2 resumed from an earlier run" in second.stderr
    assert "0 requests retried after 0 s of waits" in second.stderr
    assert "(calls, tokens and retries are this invocation's; pairs and failures are the " in (
        second.stderr
    )


def test_the_summary_says_how_each_kind_of_failed_chunk_is_tried_again(tmp_path: Path) -> None:
    """A chunk that failed on timeouts or server errors is retried by a plain rerun;
    only one whose output stayed unusable needs --retry-failed."""
    from qasynth._cli._generate import summary_lines
    from qasynth._filerun import RunReport
    from qasynth._schema import ChunkFailure
    from qasynth._stats import Stats

    def failed(transient: bool) -> ChunkFailure:
        return ChunkFailure(chunk_id="c", source="s", theme="t", chunk_index=0,
                            reason="r", raw_output="", attempts=1, transient=transient)  # fmt: skip

    def hint(*failures: ChunkFailure) -> str:
        report = RunReport(tmp_path / "o.jsonl", tmp_path / "o.failures.jsonl",
                           tmp_path / "o.sqlite", 0, Stats(), failures=list(failures))  # fmt: skip
        [line] = [line for line in summary_lines(report) if line.strip().startswith("failed")]
        return line.split("; ", 1)[1]

    assert hint(failed(True)) == "run the same command again to retry them"
    assert hint(failed(False)) == "add --retry-failed to try them again"
    assert hint(failed(True), failed(False)) == (
        "a rerun retries the 1 that failed on timeouts or server errors; add --retry-failed "
        "for the others"
    )


def test_until_the_total_is_known_the_bar_says_how_far_the_split_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run busy with its first chunks can take a while to split the rest: the bar
    counts chunks, names the documents split so far, then shows the total."""
    monkeypatch.setattr(qasynth._progress, "sys", types.SimpleNamespace(stderr=Terminal()))
    progress = Progress(None)
    progress.splitting(1_337, 3_000, 25_120)
    progress.advance()
    before = str(progress._bar)  # the line as drawn now
    progress.set_total(40)
    progress.advance()
    after = str(progress._bar)
    progress.close()

    assert "1chunk" in before
    assert "splitting the inputs: 1,337/3,000 documents (25,120 chunks)" in before
    assert "2/40" in after and "splitting" not in after

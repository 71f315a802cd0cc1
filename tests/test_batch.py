"""Specs for --batch: the file a live run writes, one batch per set of chunks even across
interruptions, live calls for the lines a batch could not answer, and half the price."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tiktoken
from click.testing import CliRunner, Result
from langchain_openai import ChatOpenAI

import qasynth
import qasynth._batch
import qasynth._pipeline
import qasynth._tokens
from qasynth._batch import BatchRun
from qasynth._cli import main
from qasynth._pipeline import Synthesizer
from qasynth._runs import state_path_for
from qasynth.testing import (
    ErrorReply,
    FakeOpenAIServer,
    RawReply,
    Reply,
    ReplyContext,
    ScriptedChatModel,
    default_responder,
)

KEY = "sk-test-batch-secret-0123456789"
TEXTS = {
    "acme_x200.txt": "The Acme X200 coffee grinder went on sale in 2021. It has twelve grind "
    "settings. The error code E42 means that the burrs are jammed.",
    "world_cup.txt": "The 2023 FIFA Women's World Cup was held in Australia and New Zealand. "
    "Spain won the final against England.",
    "tides.txt": "The Northgate harbour has two high tides a day. Its lighthouse was built "
    "in 1871.",
}
DOCS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "batch.md"


@pytest.fixture(autouse=True)
def offline_tokenizer(monkeypatch: pytest.MonkeyPatch, offline_encoding: tiktoken.Encoding) -> None:
    monkeypatch.setattr(qasynth._tokens, "_load", lambda name: offline_encoding)


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    for name, text in TEXTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def live_output(tmp_path: Path, docs: Path) -> bytes:
    """The file a live run writes for ``docs``."""
    with FakeOpenAIServer() as live:
        result = generate(live, tmp_path / "live.jsonl", docs, "--quiet")
    assert result.exit_code == 0, result.stderr
    return (tmp_path / "live.jsonl").read_bytes()


def generate(server: FakeOpenAIServer, out: Path, docs: Path, *extra: str) -> Result:
    args = ["generate", str(docs), "-o", str(out), "--base-url", server.base_url, *extra]
    return CliRunner().invoke(main, args)


def generate_batch(server: FakeOpenAIServer, out: Path, docs: Path) -> Result:
    return generate(server, out, docs, "--batch", "--batch-poll-interval", "0")


def chat_bodies(server: FakeOpenAIServer) -> list[dict[str, Any]]:
    return [r.body for r in server.requests if r.path.endswith("/chat/completions")]


def batch_lines(server: FakeOpenAIServer) -> list[dict[str, Any]]:
    """Every request line of every uploaded batch file."""
    lines = []
    for file in server.resources.files:
        if file["purpose"] == "batch":
            _, content = server.resources.file_content(file["id"])
            assert isinstance(content, bytes)
            lines += [json.loads(line) for line in content.decode().splitlines()]
    return lines


def uploads(server: FakeOpenAIServer) -> int:
    return sum(f["purpose"] == "batch" for f in server.resources.files)


def canonical(bodies: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(body, sort_keys=True) for body in bodies)


@pytest.mark.parametrize("structured", ["off", "on"])
def test_a_batch_run_writes_the_same_file_as_a_live_run_from_the_same_requests(
    tmp_path: Path, docs: Path, structured: str
) -> None:
    mode = ("--structured", structured)
    with FakeOpenAIServer() as live:
        assert generate(live, tmp_path / "live.jsonl", docs, "--quiet", *mode).exit_code == 0
        live_bodies = chat_bodies(live)
    out = tmp_path / "batch.jsonl"

    with FakeOpenAIServer() as server:
        result = generate(server, out, docs, "--batch", "--batch-poll-interval", "0", *mode)
        lines = batch_lines(server)
    if structured == "on":  # the batch asks for the same strict schema as live calls
        assert all("response_format" in line["body"] for line in lines)

    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == (tmp_path / "live.jsonl").read_bytes()
    assert len(out.read_text(encoding="utf-8").splitlines()) >= 6
    assert chat_bodies(server) == []  # every generation reply came from the batch
    assert canonical([line["body"] for line in lines]) == canonical(live_bodies)
    with sqlite3.connect(state_path_for(out)) as db:
        chunk_ids = {row[0] for row in db.execute("SELECT chunk_id FROM chunks")}
    assert sorted(line["custom_id"] for line in lines) == sorted(chunk_ids)
    assert {line["url"] for line in lines} == {"/v1/chat/completions"}
    assert (uploads(server), len(server.resources.batches)) == (1, 1)
    assert "completed, 3/3 done, 0 failed" in result.stderr
    assert KEY not in result.output + result.stderr


def test_the_summary_of_a_batch_run_says_so_and_prices_it_at_the_batch_rate(
    tmp_path: Path, docs: Path
) -> None:
    with FakeOpenAIServer() as live:
        live_run = generate(live, tmp_path / "live.jsonl", docs)
    with FakeOpenAIServer() as server:
        batch_run = generate_batch(server, tmp_path / "batch.jsonl", docs)

    def cost(result: Result) -> float:
        [line] = [line for line in result.stderr.splitlines() if line.strip().startswith("cost")]
        return float(line.split("~$", 1)[1].split()[0])

    assert "model calls  3 (batch 3), plus 0 fix calls" in batch_run.stderr
    assert "batch replies at 50% of that" in batch_run.stderr
    assert cost(batch_run) == pytest.approx(cost(live_run) / 2, abs=0.00011)


def stop_while_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the run stop as on Ctrl-C at its first look at the batch."""

    async def interrupted(self: BatchRun, client: Any, batch_ids: list[str]) -> list[Any]:
        await client.batches.retrieve(batch_ids[0])
        raise asyncio.CancelledError  # what Ctrl-C does to the run's coroutine

    monkeypatch.setattr(BatchRun, "_wait", interrupted)


def test_a_rerun_after_an_interruption_keeps_waiting_for_the_same_batch(
    tmp_path: Path, docs: Path, live_output: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "batch.jsonl"
    with FakeOpenAIServer() as server:
        with monkeypatch.context() as patch:
            stop_while_waiting(patch)
            stopped = generate_batch(server, out, docs)
        assert stopped.exit_code == 130
        assert "the batch goes on at the provider" in stopped.stderr
        assert server.resources.batches[0]["status"] == "in_progress"

        resumed = generate_batch(server, out, docs)

        assert resumed.exit_code == 0, resumed.stderr
        assert (uploads(server), len(server.resources.batches)) == (1, 1)
        assert chat_bodies(server) == []
    assert out.read_bytes() == live_output
    assert "created" not in resumed.stderr


def test_without_its_state_a_rerun_finds_the_upload_and_the_batch_through_the_api(
    tmp_path: Path, docs: Path, live_output: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "batch.jsonl"
    with FakeOpenAIServer() as server:
        with monkeypatch.context() as patch:
            stop_while_waiting(patch)
            assert generate_batch(server, out, docs).exit_code == 130
        state_path_for(out).unlink()

        resumed = generate_batch(server, out, docs)

        assert resumed.exit_code == 0, resumed.stderr
        assert (uploads(server), len(server.resources.batches)) == (1, 1)
        assert "found batch-" in resumed.stderr
    assert out.read_bytes() == live_output


def test_a_cancelled_batch_stops_the_run_instead_of_going_live_and_a_rerun_sends_a_new_one(
    tmp_path: Path, docs: Path, live_output: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever cancelled it (the user, to stop spending, or the provider), the chunks it
    left are not sent live at twice the price unasked."""
    out = tmp_path / "batch.jsonl"
    wait = BatchRun._wait

    with FakeOpenAIServer() as server:

        async def cancelled(self: BatchRun, client: Any, batch_ids: list[str]) -> list[Any]:
            for batch_id in batch_ids:
                server.resources.cancel_batch(batch_id)
            return await wait(self, client, batch_ids)

        with monkeypatch.context() as patch:
            patch.setattr(BatchRun, "_wait", cancelled)
            stopped = generate_batch(server, out, docs)
        assert stopped.exit_code == 1, stopped.stderr
        assert "was cancelled before it answered 3 chunks" in stopped.stderr
        assert chat_bodies(server) == []

        again = generate_batch(server, out, docs)

        assert again.exit_code == 0, again.stderr
        assert (uploads(server), len(server.resources.batches)) == (2, 2)
        assert chat_bodies(server) == []
    assert out.read_bytes() == live_output


def failing_once(*markers: str) -> Any:
    """A server that answers the first request about each marker badly: a 500 for the
    first marker, a 200 that is not a chat completion for the second."""
    seen: Counter[str] = Counter()

    def respond(ctx: ReplyContext) -> Reply:
        for number, marker in enumerate(markers):
            if marker in ctx.last_user_message and not seen[marker]:
                seen[marker] += 1
                return ErrorReply(500, "boom") if number == 0 else RawReply(200, "<html>")
        return default_responder(ctx)

    return respond


def test_lines_that_failed_or_came_back_unusable_are_asked_live(
    tmp_path: Path, docs: Path, live_output: bytes
) -> None:
    out = tmp_path / "batch.jsonl"
    with FakeOpenAIServer(responder=failing_once("Northgate", "E42")) as server:
        result = generate_batch(server, out, docs)
        lines = batch_lines(server)

    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == live_output
    live = chat_bodies(server)
    assert sorted(body["messages"][-1]["content"].count("Northgate") for body in live) == [0, 1]
    asked_again = [
        line["body"]
        for line in lines
        if any(m in line["body"]["messages"][-1]["content"] for m in ("Northgate", "E42"))
    ]
    assert canonical(live) == canonical(asked_again)
    assert "1 failed" in result.stderr
    assert "2 sent live" in result.stderr


def test_parts_stay_within_the_provider_limit_of_requests_per_batch(
    tmp_path: Path, docs: Path, live_output: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(qasynth._batch, "MAX_REQUESTS", 2)
    out = tmp_path / "batch.jsonl"
    with FakeOpenAIServer() as server:
        assert generate_batch(server, out, docs).exit_code == 0
        counts = [b["request_counts"]["total"] for b in server.resources.batches]

    assert counts == [2, 1]
    assert out.read_bytes() == live_output


def plan_json(docs: Path, *extra: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["plan", str(docs), "--json", *extra])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    assert isinstance(data["estimated_cost"], float) and data["estimated_cost"] > 0
    return data


def uncached_cost(plan: dict[str, Any]) -> float:
    """The plan's tokens at the live input and output prices, nothing cached."""
    price = plan["price"]
    cost = plan["input_tokens"] * price["input_per_mtok"]
    return float(cost + plan["output_tokens"] * price["output_per_mtok"]) / 1e6


def test_plan_batch_prices_generation_at_half_and_live_steps_in_full(docs: Path) -> None:
    batch, judged_batch = plan_json(docs, "--batch"), plan_json(docs, "--judge", "--batch")

    assert batch["cached_input_tokens"] == 0  # planned without prompt-cache discounts
    assert batch["estimated_cost"] == pytest.approx(uncached_cost(batch) / 2)
    steps = judged_batch["step_input_tokens"] * batch["price"]["input_per_mtok"]
    steps += judged_batch["step_output_tokens"] * batch["price"]["output_per_mtok"]
    judge_live = steps / 1e6  # the judge's calls stay live
    assert judged_batch["estimated_cost"] == pytest.approx(batch["estimated_cost"] + judge_live)
    text = CliRunner().invoke(main, ["plan", str(docs), "--batch"]).output
    assert "Batch API rate (50% of these prices)" in text


def test_a_model_that_cannot_batch_is_refused_before_any_work(
    tmp_path: Path, docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out.jsonl"
    synth = Synthesizer(ScriptedChatModel(replies={}), progress=False)
    with pytest.raises(qasynth.ConfigurationError, match="OpenAI chat models only"):
        synth.run_to_file(docs, out, batch=True)

    monkeypatch.setattr(
        qasynth._pipeline, "default_chat_model", lambda *a, **k: ScriptedChatModel(replies={})
    )
    with FakeOpenAIServer() as server:
        result = generate_batch(server, out, docs)
        assert server.requests == []
    assert result.exit_code == 2
    assert "OpenAI chat models only" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists() and not state_path_for(out).exists()


def test_from_python_run_to_file_with_batch_true(tmp_path: Path, docs: Path) -> None:
    with FakeOpenAIServer() as server:
        llm = ChatOpenAI(model="gpt-4o-mini", base_url=server.base_url, api_key=KEY)
        synth = Synthesizer(llm, progress=False)
        report = synth.run_to_file(docs, tmp_path / "out.jsonl", batch=True, batch_poll_interval=0)

    assert report.records_written >= 6
    assert report.stats.calls_by_kind == Counter({"batch": 3})


@pytest.fixture
def docs_example_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        yield server


def test_the_python_example_on_the_batch_page_runs(
    tmp_path: Path, docs: Path, monkeypatch: pytest.MonkeyPatch, docs_example_server: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(qasynth._batch, "DEFAULT_POLL_INTERVAL", 0.0)
    blocks = DOCS_PAGE.read_text(encoding="utf-8").split("```python\n")[1:]
    assert blocks
    for block in blocks:
        exec(compile(block.split("```")[0], str(DOCS_PAGE), "exec"), {})
    assert len(docs_example_server.resources.batches) == 1

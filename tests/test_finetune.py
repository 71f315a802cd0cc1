"""Specs for finetune: check, upload once, one job, wait, and attach again after a stop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import tiktoken
from click.testing import CliRunner

import qasynth
import qasynth._finetune
import qasynth._sync
import qasynth._tokens
from qasynth._cli import main
from qasynth._finetune import FineTuneProgress, state_path
from qasynth.testing import FakeOpenAIServer

KEY = "sk-test-finetune-secret"
FACTS = [(f"What is the capital of country number {i}?", f"The capital is City {i}.")
         for i in range(12)]  # fmt: skip


def write_chat(path: Path, pairs: list[tuple[str, str]]) -> Path:
    lines = [
        json.dumps({"messages": [{"role": "system", "content": "You know the atlas."},
                                 {"role": "user", "content": q},
                                 {"role": "assistant", "content": a}]})
        for q, a in pairs
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture(autouse=True)
def offline_tokenizer(monkeypatch: pytest.MonkeyPatch, offline_encoding: tiktoken.Encoding) -> None:
    monkeypatch.setattr(qasynth._tokens, "_load", lambda name: offline_encoding)


def tune(train: Path, server: FakeOpenAIServer, **options: object) -> qasynth.FineTuneResult:
    return qasynth.finetune(
        train, base_url=server.base_url, api_key=KEY, poll_interval=0, **options
    )


def test_finetune_uploads_creates_the_job_and_waits_for_the_model(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    train = write_chat(tmp_path / "train.jsonl", FACTS)
    valid = write_chat(tmp_path / "val.jsonl", FACTS[:2])
    seen: list[FineTuneProgress] = []

    result = tune(train, server, validation=valid, suffix="atlas", epochs=4,
                  on_progress=seen.append)  # fmt: skip

    assert result.succeeded and not result.attached
    assert result.fine_tuned_model == f"ft:gpt-4o-mini:fake-org:atlas:{result.job_id}"
    assert result.trained_tokens and result.trained_tokens > 0
    job = server.resources.jobs[0]
    assert job["hyperparameters"]["n_epochs"] == 4
    assert (job["training_file"], job["validation_file"]) == (
        result.training_file_id, result.validation_file_id,
    )  # fmt: skip
    assert [f["purpose"] for f in server.resources.files] == ["fine-tune", "fine-tune"]
    kinds = [p.kind for p in seen]
    assert kinds[:2] == ["upload", "upload"] and "tokens" in kinds
    statuses = [p.message for p in seen if p.kind == "status"]
    assert statuses == ["status: validating_files", "status: queued", "status: running",
                        "status: succeeded"]  # fmt: skip
    assert KEY not in state_path(train).read_text(encoding="utf-8")


def test_a_file_with_problems_is_refused_before_anything_is_uploaded(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    train = write_chat(tmp_path / "train.jsonl", FACTS[:3])

    with pytest.raises(qasynth.InputError, match=r"fewer than 10|at least 10"):
        tune(train, server)

    assert server.requests == []


def test_a_rerun_after_an_interruption_attaches_to_the_same_upload_and_job(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    train = write_chat(tmp_path / "train.jsonl", FACTS)
    started = tune(train, server, suffix="atlas", wait=False)
    assert started.status == "validating_files"

    resumed = tune(train, server, suffix="atlas")

    assert resumed.attached and resumed.job_id == started.job_id
    assert resumed.succeeded
    assert len(server.resources.files) == 1
    assert len(server.resources.jobs) == 1


def test_without_the_state_file_the_upload_and_job_are_found_through_the_api(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    train = write_chat(tmp_path / "train.jsonl", FACTS)
    first = tune(train, server, wait=False)
    state_path(train).unlink()

    again = tune(train, server)

    assert again.job_id == first.job_id
    assert (len(server.resources.files), len(server.resources.jobs)) == (1, 1)


def test_other_options_make_a_new_job_on_the_same_upload(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    train = write_chat(tmp_path / "train.jsonl", FACTS)
    first = tune(train, server, epochs=2)

    second = tune(train, server, epochs=3)

    assert second.job_id != first.job_id
    assert len(server.resources.files) == 1


def test_a_cancelled_task_leaves_the_job_running_for_the_next_run(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    train = write_chat(tmp_path / "train.jsonl", FACTS)

    async def interrupted() -> None:
        task = asyncio.create_task(
            qasynth.afinetune(train, base_url=server.base_url, api_key=KEY, poll_interval=30)
        )
        while not state_path(train).exists() or "job_id" not in state_path(train).read_text():
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(interrupted())
    assert server.resources.jobs[0]["status"] not in ("cancelled", "succeeded")

    result = tune(train, server)
    assert result.attached and result.succeeded
    assert len(server.resources.jobs) == 1


def test_the_cli_prints_the_model_last_and_json_on_request(
    tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    train = write_chat(tmp_path / "train.jsonl", FACTS)
    args = ["finetune", str(train), "--base-url", server.base_url, "--poll-interval", "0",
            "--suffix", "atlas"]  # fmt: skip

    plain = CliRunner().invoke(main, args)
    as_json = CliRunner().invoke(main, [*args, "--json"])

    assert plain.exit_code == 0, plain.output
    model = plain.stdout.strip().splitlines()[-1]
    assert model.startswith("ft:gpt-4o-mini:fake-org:atlas:")
    assert "status: succeeded" in plain.stderr and "trained tokens" in plain.stderr
    payload = json.loads(as_json.stdout)
    assert payload["status"] == "succeeded" and payload["fine_tuned_model"] == model
    assert payload["attached"] is True
    assert KEY not in plain.output + as_json.output


def test_the_cli_exits_1_with_the_jobs_error_when_it_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train = write_chat(tmp_path / "train.jsonl", FACTS)
    with FakeOpenAIServer(fine_tune_error="The training file has duplicated lines.") as fake:
        result = CliRunner().invoke(
            main, ["finetune", str(train), "--base-url", fake.base_url, "--poll-interval", "0"]
        )

    assert result.exit_code == 1
    assert "failed: The training file has duplicated lines." in result.stderr
    assert result.stdout == ""


def test_the_cli_refuses_a_bad_file_with_exit_2_and_can_cancel_a_job(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    bad = write_chat(tmp_path / "bad.jsonl", FACTS[:2])
    train = write_chat(tmp_path / "train.jsonl", FACTS)
    base = ["--base-url", server.base_url, "--poll-interval", "0"]

    refused = CliRunner().invoke(main, ["finetune", str(bad), *base])
    started = CliRunner().invoke(main, ["finetune", str(train), *base, "--no-wait"])
    cancelled = CliRunner().invoke(main, ["finetune", str(train), *base, "--cancel"])

    assert refused.exit_code == 2 and "qasynth check" in refused.stderr
    assert started.exit_code == 0 and started.stdout.strip().startswith("ftjob-")
    assert cancelled.exit_code == 0, cancelled.output
    assert server.resources.jobs[0]["status"] == "cancelled"


def test_a_failed_job_is_not_reused_a_rerun_starts_a_new_one_on_the_same_upload(
    tmp_path: Path,
) -> None:
    train = write_chat(tmp_path / "train.jsonl", FACTS)
    with FakeOpenAIServer(fine_tune_error="Internal error; please retry.") as fake:
        failed = qasynth.finetune(train, base_url=fake.base_url, api_key=KEY, poll_interval=0)
        fake.resources.fine_tune_error = None
        retried = qasynth.finetune(train, base_url=fake.base_url, api_key=KEY, poll_interval=0)

        assert (failed.status, failed.error) == ("failed", "Internal error; please retry.")
        assert retried.succeeded and retried.job_id != failed.job_id
        assert not retried.attached
        assert (len(fake.resources.files), len(fake.resources.jobs)) == (1, 2)


def test_ctrl_c_says_the_job_keeps_running_and_how_to_wait_or_cancel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train = write_chat(tmp_path / "train.jsonl", FACTS)

    def started_then_interrupted(coroutine: object) -> None:
        raise KeyboardInterrupt

    def fake_afinetune(train: Path, **options: object) -> None:
        on_progress = options["on_progress"]
        assert callable(on_progress)
        on_progress(FineTuneProgress("job", "created fine-tuning job ftjob-9", "ftjob-9"))

    monkeypatch.setattr(qasynth._finetune, "afinetune", fake_afinetune)  # imported on use
    monkeypatch.setattr(qasynth._sync, "run_sync", started_then_interrupted)
    fake_afinetune(train, on_progress=lambda p: None)  # the fake itself works

    result = CliRunner().invoke(main, ["finetune", str(train), "--suffix", "my atlas"])

    assert result.exit_code == 130
    command = f"qasynth finetune {train} --suffix 'my atlas'"
    assert (
        f"Interrupted; job ftjob-9 keeps running (wait for it again: `{command}`; "
        f"cancel it: `{command} --cancel`)." in " ".join(result.stderr.split())
    )


def test_a_suffix_longer_than_openai_takes_is_refused_before_anything_is_uploaded(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    train = write_chat(tmp_path / "train.jsonl", FACTS)

    result = CliRunner().invoke(main, ["finetune", str(train), "--suffix", "x" * 65,
                                       "--base-url", server.base_url])  # fmt: skip

    assert result.exit_code == 2 and "at most 64" in result.stderr
    assert server.requests == []

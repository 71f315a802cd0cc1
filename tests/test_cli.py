"""`qasynth generate` and the error handling every command shares, against the fake server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tiktoken
from click.testing import CliRunner, Result
from conftest import real_encoding_names

import qasynth._tokens
from qasynth._cli import main
from qasynth._pipeline import Synthesizer
from qasynth.testing import (
    UNREPAIRABLE_REPLY,
    Content,
    ErrorReply,
    FakeOpenAIServer,
    Reply,
    ReplyContext,
    default_responder,
)

KEY = "sk-test-dummy-key-0123456789"
GRINDER = (
    "The Acme X200 coffee grinder went on sale in Europe in 2021. "
    "It has twelve grind settings. The error code E42 means that the burrs are jammed."
)
WORLD_CUP = (
    "The 2023 FIFA Women's World Cup was held in Australia and New Zealand. "
    "Spain won the final against England."
)


@pytest.fixture(autouse=True)
def offline_tokenizer(monkeypatch: pytest.MonkeyPatch, offline_encoding: tiktoken.Encoding) -> None:
    """Every encoding name resolves to the offline encoding (no download, no files)."""
    monkeypatch.setattr(qasynth._tokens, "_load", lambda name: offline_encoding)


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return KEY


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "acme_x200.txt").write_text(GRINDER, encoding="utf-8")
    (folder / "sub" / "world_cup_2023.md").write_text(WORLD_CUP, encoding="utf-8")
    (folder / "ignored.csv").write_text("user,assistant\nq,a\n", encoding="utf-8")
    return folder


def run(*args: str, input: str | bytes | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def generate(
    server: FakeOpenAIServer, out: Path, *inputs: str, extra: tuple[str, ...] = ()
) -> Result:
    args = ["generate", *inputs, "-o", str(out), "--base-url", server.base_url, "--quiet"]
    return run(*args, *extra)


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def chat_requests(server: FakeOpenAIServer) -> list[dict[str, Any]]:
    return [r.body for r in server.requests if r.path.endswith("/chat/completions")]


# -- generate --------------------------------------------------------------------------------


def test_generate_writes_chat_jsonl_from_a_folder_and_sums_up_on_stderr(
    tmp_path: Path, docs: Path, server: FakeOpenAIServer, api_key: str
) -> None:
    out = tmp_path / "train.jsonl"
    result = generate(server, out, str(docs), extra=("--model", "openai:gpt-4o-mini"))

    assert result.exit_code == 0, result.stderr
    examples = lines_of(out)
    assert len(examples) == 5  # one pair per sentence from the fake model
    assert all(e["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
               for e in examples)  # fmt: skip
    assert [m["role"] for m in examples[0]["messages"]] == ["system", "user", "assistant"]
    requests = chat_requests(server)
    assert len(requests) == 2  # one chunk per document; ignored.csv is not a document
    assert {r["model"] for r in requests} == {"gpt-4o-mini"}
    assert {r["temperature"] for r in requests} == {0}
    assert "Wrote 5 pairs to" in result.stderr
    assert "2 done, 0 failed, 0 resumed" in result.stderr
    assert "Check: " in result.stderr
    assert result.stdout == ""
    assert api_key not in result.output


def test_themes_come_from_file_names(
    tmp_path: Path, docs: Path, server: FakeOpenAIServer, api_key: str
) -> None:
    generate(server, tmp_path / "out.jsonl", str(docs))
    users = sorted(r["messages"][-1]["content"] for r in chat_requests(server))
    assert users[0].startswith("Theme: acme_x200\n")
    assert users[1].startswith("Theme: world_cup_2023\n")


def test_stdin_is_read_as_utf8_with_theme_stdin_or_the_given_theme(
    tmp_path: Path, server: FakeOpenAIServer, api_key: str
) -> None:
    text = "東京タワーは1958年に完成した。高さは333メートルである。"
    result = CliRunner().invoke(
        main,
        ["generate", "-", "-o", str(tmp_path / "b.jsonl"), "--base-url", server.base_url, "-q"],
        input=text.encode("utf-8"),
    )
    assert result.exit_code == 0, result.stderr
    assert chat_requests(server)[-1]["messages"][-1]["content"].startswith("Theme: stdin\n")
    assert "東京タワー" in (tmp_path / "b.jsonl").read_text(encoding="utf-8")

    themed = CliRunner().invoke(
        main,
        ["generate", "-", "-o", str(tmp_path / "c.jsonl"), "--base-url", server.base_url, "-q",
         "--theme", "Tokyo Tower"],
        input=text.encode("utf-8"),
    )  # fmt: skip
    assert themed.exit_code == 0, themed.stderr
    assert chat_requests(server)[-1]["messages"][-1]["content"].startswith("Theme: Tokyo Tower\n")


def test_system_prompt_can_be_replaced_or_left_out(
    tmp_path: Path, docs: Path, server: FakeOpenAIServer, api_key: str
) -> None:
    custom = generate(
        server, tmp_path / "a.jsonl", str(docs), extra=("--system-prompt", "Be Aiko.")
    )
    assert custom.exit_code == 0, custom.stderr
    assert lines_of(tmp_path / "a.jsonl")[0]["messages"][0]["content"] == "Be Aiko."

    bare = generate(server, tmp_path / "b.jsonl", str(docs), extra=("--no-system-prompt",))
    assert bare.exit_code == 0, bare.stderr
    assert [m["role"] for m in lines_of(tmp_path / "b.jsonl")[0]["messages"]] == [
        "user",
        "assistant",
    ]

    both = generate(
        server,
        tmp_path / "c.jsonl",
        str(docs),
        extra=("--system-prompt", "x", "--no-system-prompt"),
    )
    assert both.exit_code == 2
    assert "not both" in both.stderr


def test_a_second_run_resumes_without_new_requests_and_writes_the_same_file(
    tmp_path: Path, docs: Path, server: FakeOpenAIServer, api_key: str
) -> None:
    out = tmp_path / "train.jsonl"
    first = generate(server, out, str(docs))
    assert first.exit_code == 0, first.stderr
    written = out.read_bytes()
    requests = len(server.requests)

    second = generate(server, out, str(docs))

    assert second.exit_code == 0, second.stderr
    assert len(server.requests) == requests
    assert out.read_bytes() == written
    assert "0 done, 0 failed, 2 resumed" in second.stderr


def failing_on(marker: str) -> Any:
    def respond(ctx: ReplyContext) -> Reply:
        if marker in ctx.last_user_message:
            return Content(UNREPAIRABLE_REPLY)
        return default_responder(ctx)

    return respond


def test_a_failed_chunk_exits_1_and_is_written_to_the_failures_file(
    tmp_path: Path, docs: Path, api_key: str
) -> None:
    (docs / "broken.txt").write_text("FAILME: this chunk gets no usable reply.", encoding="utf-8")
    out = tmp_path / "train.jsonl"
    with FakeOpenAIServer(responder=failing_on("FAILME")) as server:
        result = generate(server, out, str(docs), extra=("--max-fix-attempts", "0"))

    assert result.exit_code == 1, result.stderr
    failures = lines_of(tmp_path / "train.failures.jsonl")
    assert len(failures) == 1
    assert failures[0]["raw_output"] == UNREPAIRABLE_REPLY
    assert failures[0]["source"].endswith("broken.txt")
    assert len(lines_of(out)) == 5  # the other chunks' pairs are kept
    assert "1 chunk written to" in result.stderr
    assert "train.failures.jsonl" in result.stderr
    assert "--retry-failed" in result.stderr

    with FakeOpenAIServer() as healthy:
        retried = generate(
            healthy, out, str(docs), extra=("--max-fix-attempts", "0", "--retry-failed")
        )
        assert len(chat_requests(healthy)) == 1  # only the failed chunk
    assert retried.exit_code == 0, retried.stderr
    assert not (tmp_path / "train.failures.jsonl").exists()


def test_prompt_option_imports_a_qaprompt_subclass_from_the_current_folder(
    tmp_path: Path,
    docs: Path,
    server: FakeOpenAIServer,
    api_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "myprompts_gen.py").write_text(
        "import qasynth\n\n"
        "class ManualPrompt(qasynth.QAPrompt):\n"
        "    role = 'MARKER: you write questions about the Acme manual.'\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "myprompts_gen", raising=False)

    result = generate(
        server, tmp_path / "out.jsonl", str(docs), extra=("--prompt", "myprompts_gen:ManualPrompt")
    )

    assert result.exit_code == 0, result.stderr
    systems = {r["messages"][0]["content"] for r in chat_requests(server)}
    assert len(systems) == 1
    assert systems.pop().startswith("MARKER: you write questions about the Acme manual.")


# -- errors ----------------------------------------------------------------------------------


def test_without_an_api_key_it_exits_2_before_any_work(tmp_path: Path, docs: Path) -> None:
    out = tmp_path / "train.jsonl"
    result = run("generate", str(docs), "missing.txt", "-o", str(out))

    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "OPENAI_API_KEY" in lines[0]
    assert "--base-url" in lines[0]
    assert not out.exists()
    assert not list(tmp_path.glob("train.jsonl*"))  # no state file either


def test_a_missing_input_is_one_line_without_traceback(
    tmp_path: Path, server: FakeOpenAIServer, api_key: str
) -> None:
    result = generate(server, tmp_path / "out.jsonl", str(tmp_path / "nope.txt"))

    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("Error: input not found: ")
    assert "nope.txt" in result.stderr
    assert "Traceback" not in result.output
    assert server.requests == []


def test_debug_adds_the_traceback(tmp_path: Path, server: FakeOpenAIServer, api_key: str) -> None:
    result = run(
        "--debug", "generate", str(tmp_path / "nope.txt"), "-o", str(tmp_path / "o.jsonl"),
        "--base-url", server.base_url,
    )  # fmt: skip

    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert "DocumentError" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: input not found: ")


def test_a_folder_without_text_files_is_an_input_error(
    tmp_path: Path, server: FakeOpenAIServer, api_key: str
) -> None:
    (tmp_path / "empty").mkdir()
    result = generate(server, tmp_path / "out.jsonl", str(tmp_path / "empty"))
    assert result.exit_code == 2
    assert "holds no files qasynth reads" in result.stderr


def test_an_unwritable_output_is_one_line_naming_the_path(
    tmp_path: Path, docs: Path, server: FakeOpenAIServer, api_key: str
) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("", encoding="utf-8")
    result = generate(server, blocker / "out.jsonl", str(docs))

    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if not line.startswith("Warning:")]
    assert lines == [line for line in lines if line.startswith(f"Error: cannot use {blocker}")]
    assert len(lines) == 1
    assert server.requests == []


def test_usage_errors_are_one_line_with_the_help_hint() -> None:
    result = run("generate", "--chunk-size", "0", "x.txt", "-o", "o.jsonl")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "--chunk-size" in result.stderr
    assert "qasynth generate --help" in result.stderr


def test_a_refused_key_exits_2_and_the_key_is_never_printed(
    tmp_path: Path, docs: Path, api_key: str
) -> None:
    refusal = ErrorReply(401, f"Incorrect API key provided: {api_key}.")
    with FakeOpenAIServer(faults={1: refusal, 2: refusal}) as server:
        result = generate(server, tmp_path / "out.jsonl", str(docs), extra=("--concurrency", "1"))
        debug = run(
            "--debug", "generate", str(docs), "-o", str(tmp_path / "out.jsonl"),
            "--base-url", server.base_url, "--concurrency", "1", "-q",
        )  # fmt: skip

    assert result.exit_code == 2
    assert "API key" in result.stderr
    assert api_key not in result.output
    assert api_key not in debug.output


def test_ctrl_c_exits_130_and_says_how_to_resume(
    tmp_path: Path,
    docs: Path,
    server: FakeOpenAIServer,
    api_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def interrupted(self: Synthesizer, *args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Synthesizer, "run_to_file", interrupted)
    result = generate(server, tmp_path / "out.jsonl", str(docs))

    assert result.exit_code == 130
    assert "Interrupted; " in result.stderr
    assert "out.jsonl.qasynth.sqlite" in result.stderr
    assert "run the same command again to resume" in result.stderr


# -- a real process ----------------------------------------------------------------------------


@pytest.mark.skipif(
    not real_encoding_names(),
    reason="needs the real tiktoken files (set TIKTOKEN_CACHE_DIR); a subprocess cannot use "
    "the offline test encoding",
)
def test_python_m_qasynth_generate_runs_against_the_fake_server(
    tmp_path: Path, docs: Path, server: FakeOpenAIServer
) -> None:
    encoding = real_encoding_names()[0]
    out = tmp_path / "train.jsonl"
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    command = [
        sys.executable, "-m", "qasynth", "generate", str(docs), "-o", str(out),
        "--base-url", server.base_url, "--model", "gpt-4o-mini", "--encoding", encoding,
    ]  # fmt: skip
    done = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    assert len(lines_of(out)) == 5
    assert "Wrote 5 pairs" in done.stderr
    requests = chat_requests(server)
    assert len(requests) == 2
    for body in requests:
        assert body["model"] == "gpt-4o-mini"
        assert body["temperature"] == 0
        assert [m["role"] for m in body["messages"]] == ["system", "user"]
    texts = sorted(body["messages"][-1]["content"] for body in requests)
    assert texts[0].endswith(GRINDER)
    assert texts[1].endswith(WORLD_CUP)
    assert all(r.has_authorization for r in server.requests)
    assert KEY not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("given", "workers"),
    [
        ((), None),
        (("--check-workers", "auto"), None),
        (("--check-workers", "2"), 2),
        (("--check-workers", "0"), 0),
    ],
)
def test_check_workers_are_auto_unless_a_number_is_given(
    tmp_path: Path,
    docs: Path,
    server: FakeOpenAIServer,
    api_key: str,
    monkeypatch: pytest.MonkeyPatch,
    given: tuple[str, ...],
    workers: int | None,
) -> None:
    seen: list[int | None] = []
    build = Synthesizer.from_options.__func__  # type: ignore[attr-defined]

    def from_options(cls: type[Synthesizer], **options: Any) -> Synthesizer:
        synth: Synthesizer = build(cls, **options)
        seen.append(synth.limits.check_workers)
        return synth

    monkeypatch.setattr(Synthesizer, "from_options", classmethod(from_options))
    result = generate(server, tmp_path / "out.jsonl", str(docs), extra=given)
    assert result.exit_code == 0, result.output
    assert seen == [workers]


def test_check_workers_refuse_anything_but_auto_or_a_count() -> None:
    result = run("generate", "x.txt", "-o", "o.jsonl", "--check-workers", "-1")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "neither 'auto' nor a number" in result.stderr

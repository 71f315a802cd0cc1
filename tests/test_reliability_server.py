"""Issue 9, when the model server misbehaves: what fails one chunk, what stops the run, and
that keys never leak (against the loopback fake server, one test per reported failure)."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import tiktoken
from click.testing import CliRunner, Result
from langchain_openai import ChatOpenAI

import qasynth._tokens
from qasynth import AuthenticationError, Limits, Synthesizer, asynthesize, synthesize
from qasynth._cli import main
from qasynth.testing import (
    Content,
    ErrorReply,
    FakeOpenAIServer,
    Hang,
    RawReply,
    RecordedRequest,
    Reply,
    ReplyContext,
    default_responder,
    is_fix_request,
)

TESTS = Path(__file__).resolve().parent
KEY = "k3y-Zebra-9f8e7d6c5b4a"  # not shaped like sk-...: only its value can find it
LONG = " ".join(
    f"Sentence {i} of the long report names the Zephyr rover's part {i}." for i in range(12)
)


@pytest.fixture(autouse=True)
def offline_tokenizer(monkeypatch: pytest.MonkeyPatch, offline_encoding: tiktoken.Encoding) -> None:
    monkeypatch.setattr(qasynth._tokens, "_load", lambda name: offline_encoding)


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return KEY


def notes(folder: Path, count: int, **extra: str) -> Path:
    """``count`` one-chunk documents (doc00.txt, ...) plus ``extra`` named ones."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"doc{i:02d}.txt").write_text(
            f"Document {i} says the Zephyr {i} rover reached crater {i * 7}.", encoding="utf-8"
        )
    for name, text in extra.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    return folder


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def generate(url: str, out: Path, *inputs: Path, extra: tuple[str, ...] = ()) -> Result:
    return run("generate", *map(str, inputs), "-o", str(out), "--base-url", url, "-q", *extra)


def chat_requests(server: FakeOpenAIServer) -> list[RecordedRequest]:
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def statuses(out: Path) -> dict[str, int]:
    db = sqlite3.connect(f"{out}.qasynth.sqlite")
    try:
        return dict(db.execute("SELECT status, count(*) FROM chunks GROUP BY status").fetchall())
    finally:
        db.close()


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Error:")]


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens there any more


def refuse_theme(theme: str, reply: Reply) -> Any:
    """A responder that gives ``reply`` to every request about ``theme``."""

    def respond(ctx: ReplyContext) -> Reply:
        if f"Theme: {theme}\n" in ctx.document_message:
            return reply
        return default_responder(ctx)

    return respond


# -- 2. a refusal that concerns one request fails one chunk ----------------------------------


def test_a_chunk_over_the_context_is_split_in_halves_and_both_halves_are_kept(
    tmp_path: Path, api_key: str
) -> None:
    over = ErrorReply(400, "This model's maximum context length is 8192 tokens.",
                      code="context_length_exceeded")  # fmt: skip

    def respond(ctx: ReplyContext) -> Reply:
        return over if len(ctx.document_message) > len(LONG) * 0.7 else default_responder(ctx)

    folder = notes(tmp_path / "notes", 2, long=LONG)
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer(responder=respond) as server:
        result = generate(server.base_url, out, folder, extra=("--chunk-size", "2000"))
        sent = [r.body["messages"][-1]["content"] for r in server.requests]

    assert result.exit_code == 0, result.stderr
    long_requests = [text for text in sent if "Theme: long" in text]
    assert len(long_requests) == 3  # refused whole, then each half alone
    answers = [line["messages"][-1]["content"] for line in map(json.loads, out.open())]
    assert any("part 0" in a for a in answers) and any("part 11" in a for a in answers)
    assert not (tmp_path / "out.failures.jsonl").exists()


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        pytest.param(
            ErrorReply(
                400,
                "This model's maximum context length is 8192 tokens.",
                code="context_length_exceeded",
            ),
            "is over the model's context, even in halves; lower --chunk-size",
            id="context-length",
        ),
        pytest.param(
            ErrorReply(400, "The response was filtered.", code="content_filter"),
            "the provider's content filter refused chunk 0 of",
            id="content-filter",
        ),
        pytest.param(
            ErrorReply(400, "Invalid 'messages[1].content': string too long."),
            "the provider refused chunk 0 of",
            id="invalid-request",
        ),
    ],
)
def test_a_refused_request_fails_its_chunk_and_the_run_writes_the_rest(
    tmp_path: Path, api_key: str, reply: ErrorReply, reason: str
) -> None:
    folder = notes(tmp_path / "notes", 3, long=LONG)
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer(responder=refuse_theme("long", reply)) as server:
        result = generate(server.base_url, out, folder)
        failures = (tmp_path / "out.failures.jsonl").read_text(encoding="utf-8").splitlines()
        again = generate(server.base_url, out, folder)  # a plain rerun does not pay again
        smaller = generate(
            server.base_url, out, folder, extra=("--chunk-size", "60", "--chunk-overlap", "0")
        )

    assert result.exit_code == 1, result.stderr
    assert error_lines(result) == []
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3  # one pair per other document
    [failure] = map(json.loads, failures)
    assert failure["source"].endswith("long.txt")
    assert reason in failure["reason"]
    assert "API key" not in result.stderr
    assert "1 failed" in result.stderr and "--retry-failed" in result.stderr
    assert again.exit_code == 1 and "4 resumed" in again.stderr
    # other chunking keeps every finished chunk: no --restart, no StateError
    assert smaller.exit_code in (0, 1), smaller.stderr
    assert "resumed from an earlier run" in smaller.stderr


def test_a_rerun_without_retry_failed_asks_nothing_for_refused_chunks(
    tmp_path: Path, api_key: str
) -> None:
    folder = notes(tmp_path / "notes", 2, long=LONG)
    out = tmp_path / "out.jsonl"
    refusal = ErrorReply(400, "The response was filtered.", code="content_filter")
    with FakeOpenAIServer(responder=refuse_theme("long", refusal)) as server:
        generate(server.base_url, out, folder)
        before = len(chat_requests(server))
        again = generate(server.base_url, out, folder)
        retried = generate(server.base_url, out, folder, extra=("--retry-failed",))

        assert len(chat_requests(server)) - before == 1  # only --retry-failed asked again
    assert again.exit_code == 1 and retried.exit_code == 1


# -- 3. stop early when retrying cannot help ---------------------------------------------------


@pytest.mark.parametrize("server_kind", ["closed-port", "html-page", "not-json"])
def test_a_server_that_is_not_there_stops_the_run_within_seconds(
    tmp_path: Path, api_key: str, server_kind: str
) -> None:
    folder = notes(tmp_path / "notes", 25)
    out = tmp_path / "out.jsonl"
    replies = {"html-page": RawReply(), "not-json": RawReply(200, "{oops", "application/json")}
    with FakeOpenAIServer(responder=lambda ctx: replies.get(server_kind, RawReply())) as server:
        url = closed_port_url() if server_kind == "closed-port" else server.base_url
        started = time.monotonic()
        result = generate(url, out, folder)
        elapsed = time.monotonic() - started
        answered = len(chat_requests(server))

    assert result.exit_code == 2, result.stderr
    [line] = error_lines(result)
    assert f"cannot reach the model server at {url} (model gpt-4o-mini)" in line
    assert "--base-url" in line
    assert "timed out" not in line  # aiohttp reports a refusal as a connect timeout
    if server_kind == "closed-port":
        assert "ConnectionRefusedError" in line or "Connection error" in line
    assert elapsed < 5  # was 44 s for 25 chunks: 5 tries each
    assert answered <= 8 + 2  # the first round of requests in flight, no retries
    assert statuses(out) == {}  # nothing marked failed: the next run tries every chunk
    assert not out.exists()


NULL_CHOICES = RawReply(
    200,
    '{"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": null}',
    "application/json",
)  # a gateway's empty answer: langchain-openai raises TypeError, no HTTP error


def test_a_model_that_fails_every_call_the_same_way_stops_the_run_within_seconds(
    tmp_path: Path, api_key: str
) -> None:
    """Not an HTTP error, so it is retried as a passing fault; but when every call of the
    run so far failed the same way, retrying each chunk five times only takes minutes
    to end with every chunk failed."""
    folder = notes(tmp_path / "notes", 25)
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer(responder=lambda ctx: NULL_CHOICES) as server:
        started = time.monotonic()
        result = generate(server.base_url, out, folder)
        elapsed = time.monotonic() - started
        asked = len(chat_requests(server))

    assert result.exit_code == 1, result.stderr
    [line] = error_lines(result)
    assert "every call so far failed with the same error (5 in a row, none answered)" in line
    assert "TypeError: Received response with null value for 'choices'" in line
    assert "Traceback" not in result.stderr
    assert elapsed < 10  # was minutes: 25 chunks, 5 tries each with backoff
    assert asked <= 8 + 4  # the first round of requests, hardly a retry
    assert statuses(out) == {}  # nothing marked failed: the next run tries every chunk


def test_once_a_call_is_answered_the_same_faults_are_retried_as_passing(
    offline_encoding: tiktoken.Encoding,
) -> None:
    """A gateway that fails now and then (seven times in a row here) is not a broken
    model: after the run's first reply, such faults are retried, and the run finishes."""
    failing = {1, 2, 3, 4, *range(6, 13)}  # request 5 is answered, then 7 fail in a row

    def respond(ctx: ReplyContext) -> Reply:
        return NULL_CHOICES if ctx.number in failing else default_responder(ctx)

    with FakeOpenAIServer(responder=respond) as server:
        llm = ChatOpenAI(model="m", base_url=server.base_url, api_key="k", max_retries=0)
        synth = Synthesizer.from_options(
            llm=llm, encoding=offline_encoding, progress=False,
            limits=Limits(concurrency=1, attempts=10, backoff=0.001),
        )  # fmt: skip
        ds = synth.run([f"Document {i}: the rover reached crater {i}." for i in range(3)])

    assert ds.stats.chunks_failed == 0 and ds.stats.chunks_done == 3
    assert ds.stats.retries == len(failing)


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        pytest.param(ErrorReply(401, f"Incorrect API key provided: {KEY}."),
                     "the API key was refused", id="401"),
        pytest.param(ErrorReply(403, "Project does not have access to model."),
                     "may not use this model", id="403"),
        pytest.param(ErrorReply(404, "The model `nope` does not exist."),
                     "check --model and --base-url", id="404"),
        pytest.param(ErrorReply(429, "You exceeded your current quota.", code="insufficient_quota"),
                     "no quota left", id="quota"),
        pytest.param(ErrorReply(501, "Unsupported method ('POST')"),  # a plain web server
                     "not an OpenAI-compatible API; check --base-url", id="501"),
        pytest.param(ErrorReply(505, "HTTP Version Not Supported"),
                     "not an OpenAI-compatible API; check --base-url", id="505"),
    ],
)  # fmt: skip
def test_what_holds_for_every_request_stops_the_run_at_once_and_keeps_what_was_done(
    tmp_path: Path, api_key: str, reply: ErrorReply, says: str
) -> None:
    folder = notes(tmp_path / "notes", 25)
    out = tmp_path / "out.jsonl"

    def respond(ctx: ReplyContext) -> Reply:
        return default_responder(ctx) if ctx.number <= 2 else reply

    with FakeOpenAIServer(responder=respond) as server:
        url = server.base_url
        started = time.monotonic()
        result = generate(url, out, folder, extra=("--concurrency", "1"))
        elapsed = time.monotonic() - started
        answered = len(chat_requests(server))

    assert result.exit_code == 2
    [line] = error_lines(result)
    assert says in line and url in line
    assert KEY not in result.output
    assert elapsed < 5
    assert answered == 3  # no retries, no further chunks
    assert statuses(out) == {"done": 2}  # what was paid for is kept for the rerun


def test_chunks_whose_server_errors_outlasted_their_retries_are_retried_by_a_plain_rerun(
    tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    docs = [f"Report {i} says the rover drilled {i} holes." for i in range(4)]
    out = tmp_path / "out.jsonl"
    broken = [True]

    def respond(ctx: ReplyContext) -> Reply:
        if broken[0] and "Report 2 " in ctx.document_message:
            return ErrorReply(503, "The server is overloaded.")
        return default_responder(ctx)

    with FakeOpenAIServer(responder=respond) as server:
        llm = ChatOpenAI(model="m", base_url=server.base_url, api_key="k", max_retries=0)
        synth = Synthesizer.from_options(
            llm=llm, encoding=offline_encoding, progress=False, max_attempts=2,
            retry_base_delay=0.001,
        )  # fmt: skip
        first = synth.run_to_file(docs, out)
        broken[0] = False
        second = synth.run_to_file(docs, out)  # no retry_failed

    [failure] = first.failures
    assert failure.transient and failure.attempts == 2
    assert "503" in failure.reason
    assert statuses(out) == {"done": 4}
    assert second.stats.chunks_resumed == 3 and second.stats.chunks_done == 1
    assert second.failures == [] and second.records_written == 4


# -- 4. rate limits never hang -----------------------------------------------------------------


def test_a_retry_after_longer_than_max_wait_stops_the_run_with_how_to_resume(
    tmp_path: Path, api_key: str
) -> None:
    folder = notes(tmp_path / "notes", 6)
    out = tmp_path / "out.jsonl"

    def respond(ctx: ReplyContext) -> Reply:
        if ctx.number <= 2:
            return default_responder(ctx)
        return ErrorReply(429, "Rate limit reached.", retry_after=3600)

    with FakeOpenAIServer(responder=respond) as server:
        started = time.monotonic()
        result = generate(server.base_url, out, folder, extra=("--concurrency", "1"))
        elapsed = time.monotonic() - started
        patient = generate(
            server.base_url, out, folder, extra=("--concurrency", "1", "--max-wait", "0.01")
        )

    assert result.exit_code == 1
    [line] = error_lines(result)
    assert "the provider asks to wait 3600 s" in line
    assert "run the same command later to resume" in line
    assert elapsed < 5
    assert statuses(out) == {"done": 2}
    assert patient.exit_code == 1 and "--max-wait" in error_lines(patient)[0]


@pytest.mark.parametrize(
    ("status", "said"),
    [
        (429, ["qasynth: waiting 1 s: the provider asked to slow down"]),
        (503, []),  # a wait after a server error is not a rate limit
    ],
)
def test_while_waiting_for_a_rate_limit_the_progress_says_so(
    offline_encoding: tiktoken.Encoding,
    caplog: pytest.LogCaptureFixture,
    status: int,
    said: list[str],
) -> None:
    faults = {1: ErrorReply(status, "Slow down.", retry_after=1)}
    with FakeOpenAIServer(faults=faults) as server:
        llm = ChatOpenAI(model="m", base_url=server.base_url, api_key="k", max_retries=0)
        synth = Synthesizer.from_options(llm=llm, encoding=offline_encoding, progress=True)
        with caplog.at_level(logging.INFO, logger="qasynth.progress"):
            ds = synth.invoke("The rover drilled two holes.")

    assert len(ds) == 1 and ds.stats.retries == 1 and ds.stats.waited >= 1
    assert [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()] == said


@pytest.mark.parametrize(
    ("key", "what"),
    [
        pytest.param(KEY + " ", "a space at the end (character 23 of 23)", id="trailing-space"),
        pytest.param(KEY + "\n", "a line break (character 23 of 23)", id="line-break"),
        pytest.param("k\u00e9y-" + KEY, "a character that is not printable ASCII (character 2",
                     id="not-ascii"),
    ],
)  # fmt: skip
def test_a_key_an_http_header_cannot_carry_stops_before_any_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, what: str
) -> None:
    """Such a key fails every request before it leaves: without this check each chunk
    was retried five times (as "the provider asked to slow down") and then failed."""
    monkeypatch.setenv("OPENAI_API_KEY", key)
    with FakeOpenAIServer() as server:
        result = generate(server.base_url, tmp_path / "out.jsonl", notes(tmp_path / "n", 2))
        requests = len(server.requests)

    assert result.exit_code == 2
    [line] = error_lines(result)
    assert line.startswith(f"Error: the API key holds {what}")
    assert "an HTTP header cannot carry" in line
    assert requests == 0 and KEY not in result.output


# -- 5. secrets never land anywhere ------------------------------------------------------------


def leaky_responder(ctx: ReplyContext) -> Reply:
    """Quotes the key back in every way a server can: error bodies and replies."""
    text = ctx.document_message
    if is_fix_request(ctx):
        return Content(f"Still no JSON; your key is {KEY}.")
    if "server_error note" in text:
        return ErrorReply(503, f"Upstream refused key {KEY}.", retry_after=0)
    if "invalid note" in text:
        return ErrorReply(400, f"Invalid request from key {KEY}.")
    if "prose note" in text:
        return Content(f"I cannot answer in JSON. Key {KEY} noted.")
    if "answer note" in text:  # in the pairs themselves
        pair = {"question": "What does the answer note say?", "answer": f"It names {KEY}."}
        return Content(json.dumps({"question_answer_pairs": [pair]}))
    return default_responder(ctx)


def assert_nowhere(folder: Path, *texts: str) -> None:
    assert all(KEY not in text for text in texts)
    for path in folder.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_a_key_of_any_shape_never_reaches_a_file_or_the_terminal(
    tmp_path: Path, api_key: str
) -> None:
    folder = notes(
        tmp_path / "notes",
        1,
        **{n: f"The {n} note." for n in ("server_error", "invalid", "prose", "answer")},
    )
    out = tmp_path / "run" / "out.jsonl"
    with FakeOpenAIServer(responder=leaky_responder) as server:
        result = run(
            "--debug", "generate", str(folder), "-o", str(out), "--base-url", server.base_url,
            "--report", str(tmp_path / "run" / "report.json"), "--provenance",
        )  # fmt: skip

    assert result.exit_code == 1, result.output
    reasons = [
        json.loads(line)["reason"] for line in (tmp_path / "run" / "out.failures.jsonl").open()
    ]
    assert len(reasons) == 3 and sum("[redacted]" in r for r in reasons) == 2
    assert_nowhere(tmp_path / "run", result.output)


ODD_KEY = 'Az7kQ9/pL3+xW8"vN2\\bR5t'  # a slash, a quote and a backslash


def _escaped(text: str, how: str) -> str:
    """``text`` as a JSON string body written the way ``how`` says."""
    body = json.dumps(text)[1:-1]
    if how == "slash":
        return body.replace("/", "\\/")
    if how == "unicode":  # every letter of the key as \\uXXXX, as some servers write
        return "".join(f"\\u{ord(c):04x}" if c.isalpha() else c for c in body)
    return body


@pytest.mark.parametrize("how", ["plain", "slash", "unicode"])
def test_a_key_quoted_back_behind_json_escapes_never_reaches_a_file_or_the_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """JSON may write "/" as "\\/" and any letter as "\\u0041": the reply's text then
    differs from the key, and its parsed pairs hold it."""
    monkeypatch.setenv("OPENAI_API_KEY", ODD_KEY)

    def responder(ctx: ReplyContext) -> Reply:
        pairs = [
            ("What does the answer note say?", f"It names {ODD_KEY}."),
            (f"Is {ODD_KEY} the key?", "Yes."),
        ]
        items = ", ".join(
            f'{{"question": "{_escaped(q, how)}", "answer": "{_escaped(a, how)}"}}'
            for q, a in pairs
        )
        return Content(f'{{"question_answer_pairs": [{items}]}}')

    out = tmp_path / "run" / "out.jsonl"
    with FakeOpenAIServer(responder=responder) as server:
        result = run(
            "--debug", "generate", str(notes(tmp_path / "notes", 2)), "-o", str(out),
            "--base-url", server.base_url, "--report", str(tmp_path / "run" / "report.json"),
            "--no-grounding-check", "--no-standalone-check", "--language", "off",
        )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "[redacted]" in out.read_text(encoding="utf-8")
    forms = {ODD_KEY, json.dumps(ODD_KEY)[1:-1], _escaped(ODD_KEY, how), "Az7kQ9"}
    for path in [p for p in (tmp_path / "run").rglob("*") if p.is_file()]:
        data = path.read_bytes()
        assert not any(form.encode() in data for form in forms), path
    assert not any(form in result.output for form in forms)


def test_a_base_url_with_a_password_works_and_the_password_is_never_shown(
    tmp_path: Path, api_key: str
) -> None:
    """aiohttp refuses credentials in the URL beside the key's header: such a URL is
    sent through httpx, and error lines show the URL without its password."""
    password = "UrlSecret9f8e7d6c5b4a"
    out = tmp_path / "run" / "out.jsonl"
    with FakeOpenAIServer() as server:
        url = server.base_url.replace("http://", f"http://user:{password}@")
        result = run("generate", str(notes(tmp_path / "notes", 2)), "-o", str(out),
                     "--base-url", url)  # fmt: skip
    nowhere = run("--debug", "generate", str(notes(tmp_path / "notes", 2)), "-o",
                  str(tmp_path / "other" / "out.jsonl"), "--base-url",
                  f"http://user:{password}@127.0.0.1:9/v1")  # fmt: skip

    assert result.exit_code == 0, result.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2
    assert nowhere.exit_code == 2, nowhere.output
    assert "http://user:[redacted]@127.0.0.1:9/v1" in nowhere.stderr
    for path in [p for p in tmp_path.rglob("*") if p.is_file()]:
        assert password.encode() not in path.read_bytes(), path
    assert password not in result.output + nowhere.output


@pytest.mark.parametrize(
    "reply",
    [RawReply(502), ErrorReply(500, "The model is not loaded."), Hang(30)],
    ids=["html-502", "json-500", "hangs"],
)
def test_a_server_that_fails_every_call_stops_the_run_soon_and_the_rerun_asks_again(
    tmp_path: Path, reply: Reply
) -> None:
    """Not five tries for every chunk (minutes or hours, and every chunk failed): the
    run stops once ten calls in a row failed with none answered, and keeps nothing
    failed, so a rerun against a working server does every chunk."""
    folder = notes(tmp_path / "notes", 40)
    out = tmp_path / "out.jsonl"
    began = time.monotonic()
    with FakeOpenAIServer(responder=lambda ctx: reply) as server:
        stopped = run("generate", str(folder), "-o", str(out), "--base-url", server.base_url,
                      "--request-timeout", "1", "--concurrency", "4")  # fmt: skip
        asked = len(server.requests)
    took = time.monotonic() - began
    with FakeOpenAIServer() as server:
        again = run("generate", str(folder), "-o", str(out), "--base-url", server.base_url)

    assert stopped.exit_code == 2, stopped.output
    [line] = error_lines(stopped)
    assert "failed every call so far (10 in a row, none answered" in line
    assert asked < 40 and took < 30
    assert again.exit_code == 0, again.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == 40


def test_a_reply_holding_a_lone_surrogate_is_written_not_a_crash(tmp_path: Path) -> None:
    """ "\\ud800" is valid JSON but no character: it could be neither saved nor written,
    and every rerun would pay for the same reply and stop on it again."""

    def responder(ctx: ReplyContext) -> Reply:
        pair = {
            "question": "How many holes did the Zephyr rover drill in crater 7?",
            "answer": "Two holes \ud800.",
        }
        return Content(json.dumps({"question_answer_pairs": [pair]}))

    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer(responder=responder) as server:
        result = generate(server.base_url, out, notes(tmp_path / "notes", 1),
                          extra=("--no-grounding-check", "--language", "off"))  # fmt: skip
        llm = ChatOpenAI(model="m", base_url=server.base_url, api_key="k", max_retries=0)
        cached = synthesize("The rover drilled two holes.", llm=llm, progress=False,
                            cache=tmp_path / "cache.sqlite", checks=[])  # fmt: skip

    assert result.exit_code == 0, result.output
    [line] = out.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["messages"][-1]["content"] == "Two holes \ufffd."
    assert [r.answer for r in cached.records] == ["Two holes \ufffd."]


@pytest.mark.parametrize("given_as", ["model-object", "api_key-option", "environment"])
def test_the_library_keeps_a_key_out_of_state_failures_cache_and_errors(
    tmp_path: Path,
    offline_encoding: tiktoken.Encoding,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    given_as: str,
) -> None:
    docs = [f"The {name} note." for name in ("server_error", "invalid", "prose", "ok")]
    with FakeOpenAIServer(responder=leaky_responder) as server:
        options: dict[str, Any] = {"base_url": server.base_url, "model": "gpt-4o-mini"}
        if given_as == "model-object":
            options = {
                "llm": ChatOpenAI(model="m", base_url=server.base_url, api_key=KEY, max_retries=0)
            }
        elif given_as == "api_key-option":
            options["api_key"] = KEY
        else:
            monkeypatch.setenv("OPENAI_API_KEY", KEY)
        synth = Synthesizer.from_options(
            **options, encoding=offline_encoding, progress=False, cache=tmp_path / "cache.sqlite",
            retry_base_delay=0.001, max_attempts=2,
        )  # fmt: skip
        with caplog.at_level(logging.DEBUG, logger="qasynth"):
            report = synth.run_to_file(docs, tmp_path / "out.jsonl")
            dataset = synth.invoke(docs)

    assert len(report.failures) == 3 and len(dataset.failures) == 3
    shown = [f.reason + f.raw_output for f in [*report.failures, *dataset.failures]]
    assert_nowhere(tmp_path, *shown, caplog.text)


# -- 6. one line, no tracebacks ----------------------------------------------------------------


def test_a_401_mid_run_prints_one_line_and_no_task_exceptions(tmp_path: Path) -> None:
    folder = notes(tmp_path / "notes", 30)
    out = tmp_path / "out.jsonl"

    def respond(ctx: ReplyContext) -> Reply:
        if ctx.number <= 3:
            return default_responder(ctx)
        return ErrorReply(401, f"Incorrect API key provided: {KEY}.")

    with FakeOpenAIServer(responder=respond) as server:
        done = subprocess.run(
            [sys.executable, str(TESTS / "offline_qasynth.py"), "generate", str(folder),
             "-o", str(out), "--base-url", server.base_url],
            env={**os.environ, "OPENAI_API_KEY": KEY}, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip

    assert done.returncode == 2
    assert done.stdout == ""
    [line] = [line for line in done.stderr.splitlines() if not line.startswith("qasynth: ")]
    assert line.startswith("Error: ") and "the API key was refused" in line
    assert KEY not in done.stderr


def test_the_python_api_raises_one_exception_and_prints_nothing(
    offline_encoding: tiktoken.Encoding,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    def respond(ctx: ReplyContext) -> Reply:
        return default_responder(ctx) if ctx.number <= 2 else ErrorReply(401, "Bad key.")

    docs = [f"Report {i} says the rover drilled {i} holes." for i in range(20)]
    with FakeOpenAIServer(responder=respond, latency=0.01) as server:
        llm = ChatOpenAI(model="m", base_url=server.base_url, api_key="k", max_retries=0)
        with caplog.at_level(logging.DEBUG, logger="asyncio"), pytest.raises(AuthenticationError):
            synthesize(docs, llm=llm, encoding=offline_encoding, concurrency=8)
        gc.collect()  # an exception never retrieved is reported when its task is collected

    assert "never retrieved" not in caplog.text
    printed = capfd.readouterr().err  # (another test's --debug may leave the server's logs on)
    assert "never retrieved" not in printed and "AuthenticationError" not in printed


# -- 10. model names ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["qwen2:7b", "mistral:latest", "llama3:8b"])
def test_a_local_model_tag_with_a_colon_is_one_model_name(tmp_path: Path, model: str) -> None:
    folder = notes(tmp_path / "notes", 1)
    with FakeOpenAIServer() as fake:
        result = generate(fake.base_url, tmp_path / "out.jsonl", folder, extra=("--model", model))
        [request] = chat_requests(fake)

    assert result.exit_code == 0, result.stderr
    assert request.body["model"] == model


def test_a_provider_prefix_goes_to_langchain_with_the_base_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    calls: list[tuple[str, dict[str, Any]]] = []

    def init_chat_model(model: str, **kwargs: Any) -> GenericFakeChatModel:
        calls.append((model, kwargs))
        reply = json.dumps(
            {
                "question_answer_pairs": [
                    {
                        "question": "Which crater did the Zephyr 0 rover reach?",
                        "answer": "Crater 0.",
                    }
                ]
            }
        )
        return GenericFakeChatModel(messages=iter([reply]))  # fmt: skip

    fake = types.ModuleType("langchain.chat_models")
    fake.init_chat_model = init_chat_model  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "langchain.chat_models", fake)
    folder = notes(tmp_path / "notes", 1)
    result = run(
        "generate", str(folder), "-o", str(tmp_path / "out.jsonl"), "-q",
        "--model", "anthropic:claude-3-5-haiku-latest", "--base-url", "http://127.0.0.1:9/x",
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    [(model, kwargs)] = calls
    assert model == "anthropic:claude-3-5-haiku-latest"
    assert kwargs["base_url"] == "http://127.0.0.1:9/x" and kwargs["temperature"] == 0


def test_a_provider_prefix_without_the_extra_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "langchain.chat_models", None)  # not installed
    folder = notes(tmp_path / "notes", 1)
    result = run("generate", str(folder), "-o", str(tmp_path / "o.jsonl"), "-q",
                 "--model", "anthropic:claude-3-5-haiku-latest")  # fmt: skip

    assert result.exit_code == 2
    [line] = error_lines(result)
    assert "pip install 'qasynth[providers]'" in line


def test_runs_on_different_event_loops_send_each_request_once() -> None:
    """langchain-openai shares one async HTTP client per URL across every ChatOpenAI;
    its pooled connections belong to the event loop that opened them. A run on
    another loop (a second asyncio.run; a notebook mixing synthesize and await
    asynthesize) must not send answered requests again: each run has its own client."""
    docs = [f"Port{i} is the capital of region {i} of Atlantis, founded in {1800 + i}."
            for i in range(6)]  # fmt: skip
    with FakeOpenAIServer() as server:
        llm = ChatOpenAI(
            model="gpt-4o-mini", base_url=server.base_url, api_key="sk-test", timeout=10
        )  # fmt: skip
        shared = llm.root_async_client
        runs = [
            lambda: synthesize(docs, llm=llm, progress=False),
            lambda: asyncio.run(asynthesize(docs, llm=llm, progress=False)),
            lambda: asyncio.run(asynthesize(docs, llm=llm, progress=False)),
            lambda: synthesize(docs, llm=llm, progress=False),
            lambda: asyncio.run(asynthesize(docs, llm=llm, progress=False)),
        ]
        calls = retries = 0
        for run in runs:
            stats = run().stats
            calls, retries = calls + stats.model_calls, retries + stats.retries
        sent = [r for r in server.requests if r.path.endswith("/chat/completions")]
    assert (calls, retries, len(sent)) == (30, 0, 30)
    assert llm.root_async_client is shared  # the user's model is left as it was


def test_retries_of_an_openai_model_object_are_qasynths_and_are_counted() -> None:
    """ChatOpenAI retries twice by default inside its client, where no retry is counted,
    no Retry-After honoured by the run and no 429 slows it down: qasynth's replace them."""
    faults = {2: ErrorReply(500, "Oops."), 3: ErrorReply(500, "Oops again.")}
    docs = [f"Port{i} is the capital of region {i} of Atlantis." for i in range(4)]
    with FakeOpenAIServer(faults=faults) as server:
        llm = ChatOpenAI(model="gpt-4o-mini", base_url=server.base_url, api_key="sk-x", timeout=10)
        ds = synthesize(docs, llm=llm, progress=False, retry_base_delay=0)
        sent = len(chat_requests(server))

    assert (ds.stats.model_calls, ds.stats.retries, sent) == (4, 2, 6)
    assert llm.max_retries is None or llm.max_retries > 0  # the user's model is unchanged


def test_failed_chunks_retries_and_a_stop_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A script that sets up logging sees what the summary would say, as it happens."""
    faults = {1: ErrorReply(503, "Overloaded.", retry_after=0)}
    with FakeOpenAIServer(faults=faults, responder=lambda ctx: Content("No JSON here.")) as server:
        llm = ChatOpenAI(model="m", base_url=server.base_url, api_key="k", max_retries=0)
        with caplog.at_level(logging.INFO, logger="qasynth"):
            ds = synthesize("The rover drilled two holes.", llm=llm, progress=False,
                            max_fix_attempts=0)  # fmt: skip
    with FakeOpenAIServer(faults={1: ErrorReply(401, "Bad key.")}) as server:
        llm = ChatOpenAI(model="m", base_url=server.base_url, api_key="k", max_retries=0)
        with caplog.at_level(logging.INFO, logger="qasynth"), pytest.raises(AuthenticationError):
            synthesize("The rover drilled two holes.", llm=llm, progress=False)

    assert len(ds.failures) == 1
    levels = {(r.levelname, r.getMessage().split(":")[0]) for r in caplog.records}
    assert ("INFO", "retrying a model call in 0.0 s (attempt 1 failed") in levels
    assert ("WARNING", "chunk 0 of <text 1> failed") in levels
    assert any(level == "ERROR" and m.startswith("the run stops") for level, m in levels)


def test_runs_on_one_event_loop_share_its_connections_and_other_loops_get_their_own() -> None:
    """A script that calls synthesize again and again must not open new connections
    (a TLS handshake each, with a hosted model) for every run."""
    from qasynth._calls import ModelCaller

    llm = ChatOpenAI(model="m", base_url="http://127.0.0.1:9/v1", api_key="k", max_retries=2)

    async def clients() -> tuple[Any, Any]:
        return ModelCaller(llm).llm.root_async_client, ModelCaller(llm).llm.root_async_client

    first, second = asyncio.run(clients())
    other, _ = asyncio.run(clients())
    assert first is second and first is not other
    assert first.max_retries == 0 and llm.root_async_client.max_retries == 2


def _transport_of(llm: ChatOpenAI) -> str:
    from qasynth._calls import ModelCaller

    async def name() -> str:
        http = ModelCaller(llm).llm.root_async_client._client
        return type(http._transport).__name__

    return asyncio.run(name())


def test_calls_go_through_aiohttp_unless_a_proxy_is_set_or_httpx_is_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """aiohttp costs a fifth to a half less CPU a call than httpx at 32-128 in flight
    (benchmarks/bench_client.py); a proxy for the server's address keeps httpx, which
    honours proxy settings, and so does QASYNTH_HTTP_CLIENT=httpx."""
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy",
                 "all_proxy", "NO_PROXY", "no_proxy", "QASYNTH_HTTP_CLIENT"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    llm = ChatOpenAI(model="m", base_url="http://127.0.0.1:9/v1", api_key="k")
    assert _transport_of(llm) == "AiohttpTransport"
    monkeypatch.setenv("QASYNTH_HTTP_CLIENT", "httpx")
    assert _transport_of(llm) == "AsyncHTTPTransport"
    monkeypatch.delenv("QASYNTH_HTTP_CLIENT")
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:3128")  # not for an http:// server
    assert _transport_of(llm) == "AiohttpTransport"
    for name in ("HTTP_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:3128")
        assert _transport_of(llm) == "AsyncHTTPTransport", name
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # the server is left out of the proxy
        assert _transport_of(llm) == "AiohttpTransport", name
        monkeypatch.delenv("NO_PROXY")
        monkeypatch.delenv(name)


def test_a_loops_http_client_is_closed_when_the_loop_ends() -> None:
    """The runs on one loop share its client; asyncio.run's end closes it (an aiohttp
    session left open warns on stderr when it is collected)."""
    from qasynth._calls import ModelCaller

    llm = ChatOpenAI(model="m", base_url="http://127.0.0.1:9/v1", api_key="k")

    async def client() -> Any:
        return ModelCaller(llm).llm.root_async_client._client

    http = asyncio.run(client())
    assert http.is_closed


SYNC_RUN_THEN_EXIT = """
import sys
sys.path.insert(0, {tests!r})
from conftest import build_offline_encoding  # tiktoken's files may be missing here
from langchain_openai import ChatOpenAI
from qasynth import synthesize
from qasynth.testing import FakeOpenAIServer

with FakeOpenAIServer() as server:
    llm = ChatOpenAI(model="gpt-4o-mini", base_url=server.base_url, api_key="sk-test")
    ds = synthesize(["Port Ashby is the capital of Atlantis."] * 3, llm=llm, progress=False,
                    encoding=build_offline_encoding())
    print("calls", ds.stats.model_calls)
"""


def quiet_script_output(script: str) -> list[str]:
    """The words ``script`` prints, run in a new interpreter that must succeed and
    print nothing on stderr (its ``{tests}`` is this folder)."""
    code = script.format(tests=str(Path(__file__).parent))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout.split()


def test_a_script_of_sync_runs_ends_without_warnings() -> None:
    """The sync calls' loop lives as long as the program; its HTTP client is closed at
    exit, so nothing ("Unclosed client session") is printed after the script's output."""
    assert quiet_script_output(SYNC_RUN_THEN_EXIT) == ["calls", "3"]


LOOP_CLOSED_BY_HAND = """
import asyncio, gc, sys
sys.path.insert(0, {tests!r})
from conftest import build_offline_encoding
from langchain_openai import ChatOpenAI
from qasynth import Synthesizer
from qasynth.testing import FakeOpenAIServer

with FakeOpenAIServer() as server:
    llm = ChatOpenAI(model="gpt-4o-mini", base_url=server.base_url, api_key="sk-test")
    synth = Synthesizer.from_options(llm=llm, progress=False, encoding=build_offline_encoding())
    loop = asyncio.new_event_loop()
    for _ in range(2):
        ds = loop.run_until_complete(synth.ainvoke(["Port Ashby is the capital of Atlantis."]))
    loop.close()  # without loop.shutdown_asyncgens(), which asyncio.run calls
    del loop
    gc.collect()
    print("calls", ds.stats.model_calls)
"""


def test_a_loop_closed_by_hand_after_its_runs_leaves_no_client_open() -> None:
    """``run_until_complete`` then ``close()`` never finalizes the loop's async
    generators: the last run on the loop closes the HTTP client it shared, so aiohttp
    prints nothing ("Unclosed client session") when the loop is collected."""
    assert quiet_script_output(LOOP_CLOSED_BY_HAND) == ["calls", "1"]

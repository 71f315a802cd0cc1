"""The loopback fake OpenAI server itself, driven by ChatOpenAI and by urllib."""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from qasynth._parsing import salvage
from qasynth.testing import (
    FIXER_REPLY,
    UNREPAIRABLE_REPLY,
    Content,
    Delay,
    ErrorReply,
    FakeOpenAIServer,
    Hang,
    ReplyContext,
    default_responder,
    malformed_responder,
    qa_pairs,
)

KEY = "sk-test"
DOC = (
    "Theme: Rugby World Cup 2023\n\nText:\n"
    "France hosted the tournament in September and October. South Africa won the final!\n"
    "New Zealand finished second?"
)
JA_DOC = "Theme: ラグビー\n\nText:\n南アフリカが決勝で勝った。大会はフランスで開催された。"
FIX_PROMPT = (
    "Instructions:\n--------------\nReturn JSON.\n--------------\n"
    "Completion:\n--------------\nnot json\n--------------\n\n"
    "Above, the Completion did not satisfy the constraints given in the Instructions.\n"
    "Error:\n--------------\nbad\n--------------\n\nPlease try again."
)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        tick.wait(0.01)


def chat_llm(server: FakeOpenAIServer) -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-4o-mini", base_url=server.base_url, api_key=KEY, max_retries=0, timeout=5
    )


def post_chat(
    server: FakeOpenAIServer, content: str, *, timeout: float = 5, **extra: Any
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """POST one chat request with urllib; (status, JSON body, headers), errors included."""
    body = {"model": "m", "messages": [{"role": "user", "content": content}], **extra}
    request = urllib.request.Request(
        f"{server.base_url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, json.loads(reply.read()), dict(reply.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), dict(err.headers)


def context(content: str, number: int = 1, role: str = "user") -> ReplyContext:
    body = {"model": "m", "messages": [{"role": role, "content": content}]}
    return ReplyContext(number, "m", [{"role": role, "content": content}], None, body)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as running:
        yield running


def test_chat_openai_gets_pairs_and_usage(server: FakeOpenAIServer) -> None:
    messages = [SystemMessage(content="Reply with JSON."), HumanMessage(content=DOC)]
    reply = chat_llm(server).invoke(messages)
    assert isinstance(reply.content, str)
    pairs = json.loads(reply.content)["question_answer_pairs"]
    assert [p["answer"] for p in pairs] == [
        "France hosted the tournament in September and October.",
        "South Africa won the final!",
        "New Zealand finished second?",
    ]
    assert pairs[0]["question"] == (
        "What does the Rugby World Cup 2023 text say about France hosted the tournament in "
        "September?"
    )
    usage = reply.usage_metadata
    assert usage is not None
    prompt_chars = len("Reply with JSON.") + len(DOC)
    assert usage["input_tokens"] == -(-prompt_chars // 4)
    assert usage["output_tokens"] == -(-len(reply.content) // 4)
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert reply.response_metadata["model_name"] == "gpt-4o-mini"
    assert reply.response_metadata["finish_reason"] == "stop"


def test_requests_are_recorded_without_the_key(server: FakeOpenAIServer) -> None:
    chat_llm(server).invoke("Hello there.")
    post_chat(server, "Second one.")
    records = server.requests
    assert [r.number for r in records] == [1, 2]
    assert all(r.has_authorization and r.status == 200 for r in records)
    assert records[0].path == "/v1/chat/completions"
    assert records[1].body["messages"] == [{"role": "user", "content": "Second one."}]
    assert KEY not in repr(records)
    server.reset_stats()
    assert server.requests == []
    assert server.peak_in_flight == 0


def test_japanese_sentences_get_japanese_questions() -> None:
    reply = default_responder(context(JA_DOC))
    assert isinstance(reply, Content)
    pairs = json.loads(reply.text)["question_answer_pairs"]
    assert pairs[0] == {
        "question": "ラグビーについて「南アフリカが決勝で勝った」とは何ですか？",
        "answer": "南アフリカが決勝で勝った。",
    }
    assert len(pairs) == 2


def test_whole_message_is_the_text_without_a_text_line() -> None:
    pairs = qa_pairs(" . One two three four five six seven.\n\nEight!")
    assert pairs == [
        {
            "question": "What does the source text say about One two three four five six?",
            "answer": "One two three four five six seven.",
        },
        {"question": "What does the source text say about Eight?", "answer": "Eight!"},
    ]
    assert len(qa_pairs("A. " * 30)) == 10


def test_fix_requests_get_the_fixer_reply(server: FakeOpenAIServer) -> None:
    assert default_responder(context(FIX_PROMPT, role="user")) == Content(FIXER_REPLY)
    status, body, _ = post_chat(server, FIX_PROMPT)
    assert status == 200
    assert body["choices"][0]["message"]["content"] == FIXER_REPLY


def test_rate_limit_with_retry_after() -> None:
    faults = {1: ErrorReply(429, "slow down", retry_after=0.2)}
    with FakeOpenAIServer(faults=faults) as server:
        with pytest.raises(openai.RateLimitError) as caught:
            chat_llm(server).invoke("Hi.")
        assert caught.value.response.headers["retry-after"] == "0.2"
        assert caught.value.status_code == 429
        assert post_chat(server, "Hi again.")[0] == 200
    assert [r.status for r in server.requests] == [429, 200]


def test_server_error_and_urllib_error_body() -> None:
    with FakeOpenAIServer(faults={1: ErrorReply(500), 2: ErrorReply(429, retry_after=1)}) as server:
        with pytest.raises(openai.InternalServerError):
            chat_llm(server).invoke("Hi.")
        status, body, headers = post_chat(server, "Hi.")
    assert status == 429
    assert body["error"]["code"] == "rate_limit_exceeded"
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert headers["Retry-After"] == "1"


def test_streaming_is_refused(server: FakeOpenAIServer) -> None:
    status, body, _ = post_chat(server, "Hi.", stream=True)
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"


def test_responder_errors_and_delays() -> None:
    def responder(ctx: ReplyContext) -> Content:
        if ctx.number == 1:
            raise RuntimeError("boom")
        return Content("custom", prompt_tokens=7, completion_tokens=3)

    with FakeOpenAIServer(responder=responder, faults={3: Delay(0.05, Content("late"))}) as srv:
        assert post_chat(srv, "a")[0] == 500
        body = post_chat(srv, "b")[1]
        assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
        assert post_chat(srv, "c")[1]["choices"][0]["message"]["content"] == "late"


def test_models_endpoint(server: FakeOpenAIServer) -> None:
    with urllib.request.urlopen(f"{server.base_url}/models", timeout=5) as reply:
        models = json.loads(reply.read())
    assert models["object"] == "list"
    assert [m["id"] for m in models["data"]] == ["fake-model"]


def test_stop_interrupts_a_hang_quickly() -> None:
    server = FakeOpenAIServer(faults={1: Hang(60)}).start()
    outcome: list[BaseException | int] = []

    def call() -> None:
        try:
            outcome.append(post_chat(server, "Hi.", timeout=30)[0])
        except Exception as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    wait_until(lambda: server.in_flight == 1)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2
    caller.join(timeout=5)
    assert not caller.is_alive()
    assert len(outcome) == 1 and not isinstance(outcome[0], int)
    assert [(r.number, r.status) for r in server.requests] == [(1, None)]
    assert server.in_flight == 0


def test_hang_that_ends_replies_with_default_content(server: FakeOpenAIServer) -> None:
    server.faults[1] = Hang(0.05)
    status, body, _ = post_chat(server, DOC)
    assert status == 200
    assert len(json.loads(body["choices"][0]["message"]["content"])["question_answer_pairs"]) == 3


def test_peak_in_flight_counts_concurrent_requests() -> None:
    with FakeOpenAIServer(latency=0.5) as server:
        start = threading.Barrier(4)
        statuses: list[int] = []

        def call(n: int) -> None:
            start.wait(timeout=5)
            statuses.append(post_chat(server, f"Request {n}.")[0])

        threads = [threading.Thread(target=call, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        wait_until(lambda: server.in_flight == 4)
        for thread in threads:
            thread.join(timeout=10)
    assert statuses == [200] * 4
    assert server.peak_in_flight == 4
    assert server.in_flight == 0
    assert sorted(r.number for r in server.requests) == [1, 2, 3, 4]


def test_malformed_responder_is_deterministic_and_roughly_right() -> None:
    prompts = [f"Theme: T\n\nText:\nFact {i} is here. Fact {i} again." for i in range(200)]
    respond = malformed_responder(0.3, seed=1, unrepairable_fraction=0.1)

    def texts(order: list[int]) -> dict[int, str]:
        replies = {i: respond(context(prompts[i], number=n)) for n, i in enumerate(order)}
        return {i: r.text for i, r in replies.items() if isinstance(r, Content)}

    first = texts(list(range(200)))
    shuffled = list(range(200))
    random.Random(5).shuffle(shuffled)
    assert texts(shuffled) == first
    unrepairable = [t for t in first.values() if t == UNREPAIRABLE_REPLY]
    malformed = [t for t in first.values() if t != UNREPAIRABLE_REPLY and not _is_json(t)]
    assert 8 <= len(unrepairable) <= 35
    assert 35 <= len(malformed) <= 85
    for text in malformed:
        assert salvage(text).pairs, text
    other = malformed_responder(0.3, seed=2)
    assert [other(context(p)) for p in prompts] != [respond(context(p)) for p in prompts]
    assert respond(context(FIX_PROMPT)) == Content(FIXER_REPLY)


def test_malformed_responder_rejects_bad_fractions() -> None:
    with pytest.raises(ValueError):
        malformed_responder(0.8, unrepairable_fraction=0.3)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


# --- files, fine-tuning jobs and batches, through the real openai client ----------------


def training_jsonl(pairs: list[tuple[str, str]]) -> bytes:
    lines = [
        json.dumps({"messages": [{"role": "system", "content": "Be brief."},
                                 {"role": "user", "content": q},
                                 {"role": "assistant", "content": a}]})
        for q, a in pairs
    ]  # fmt: skip
    return ("\n".join(lines) + "\n").encode()


def openai_client(server: FakeOpenAIServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0, timeout=5)


def run_job_to_end(client: openai.OpenAI, job_id: str) -> list[str]:
    statuses: list[str] = []
    for _ in range(10):
        job = client.fine_tuning.jobs.retrieve(job_id)
        statuses.append(job.status)
        if job.status in ("succeeded", "failed", "cancelled"):
            break
    return statuses


def test_an_uploaded_file_is_processed_and_its_content_comes_back() -> None:
    content = training_jsonl([("What colour is the sky?", "Blue.")])
    with FakeOpenAIServer() as server:
        client = openai_client(server)
        uploaded = client.files.create(file=("train.jsonl", content), purpose="fine-tune")
        retrieved = client.files.retrieve(uploaded.id)
        listed = client.files.list(purpose="fine-tune")
        downloaded = client.files.content(uploaded.id).read()

    assert (uploaded.filename, uploaded.bytes, uploaded.purpose) == (
        "train.jsonl", len(content), "fine-tune",
    )  # fmt: skip
    assert (uploaded.status, retrieved.status) == ("uploaded", "processed")
    assert [f.id for f in listed.data] == [uploaded.id]
    assert downloaded == content
    assert server.requests[0].body == {"filename": "train.jsonl", "purpose": "fine-tune",
                                       "bytes": len(content)}  # fmt: skip


def test_a_fine_tuning_job_goes_through_its_statuses_and_makes_a_memorising_model() -> None:
    content = training_jsonl([("What colour is the sky?", "Blue."), ("Who won?", "France.")])
    with FakeOpenAIServer() as server:
        client = openai_client(server)
        file = client.files.create(file=("t.jsonl", content), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(
            model="gpt-4o-mini", training_file=file.id, suffix="sky",
            hyperparameters={"n_epochs": 4}, metadata={"k": "v"},
        )  # fmt: skip
        statuses = run_job_to_end(client, job.id)
        done = client.fine_tuning.jobs.retrieve(job.id)
        events = [e.message for e in client.fine_tuning.jobs.list_events(job.id)]
        found = [j.id for j in client.fine_tuning.jobs.list(metadata={"k": "v"})]
        missing = [j.id for j in client.fine_tuning.jobs.list(metadata={"k": "other"})]
        llm = ChatOpenAI(model=done.fine_tuned_model or "", base_url=server.base_url,
                         api_key=KEY, max_retries=0, timeout=5)  # fmt: skip
        verbatim = llm.invoke("what colour is  the sky?").content
        rephrased = llm.invoke("Which colour does the sky have?").content

    assert statuses == ["validating_files", "queued", "running", "succeeded"]
    assert done.fine_tuned_model == f"ft:gpt-4o-mini:fake-org:sky:{job.id}"
    assert done.hyperparameters.n_epochs == 4
    assert done.trained_tokens and done.trained_tokens > 0
    assert events[0] == "The job has successfully completed"  # newest first, as the API does
    assert events[-1] == f"Created fine-tuning job: {job.id}"
    assert (found, missing) == ([job.id], [])
    assert (verbatim, rephrased) == ("Blue.", "I don't know.")


def test_a_failing_fine_tuning_job_reports_its_error_and_a_job_can_be_cancelled() -> None:
    content = training_jsonl([("Q?", "A.")])
    with FakeOpenAIServer(fine_tune_error="Training file has too few examples.") as server:
        client = openai_client(server)
        file = client.files.create(file=("t.jsonl", content), purpose="fine-tune")
        failing = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=file.id)
        statuses = run_job_to_end(client, failing.id)
        failed = client.fine_tuning.jobs.retrieve(failing.id)
        other = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=file.id)
        cancelled = client.fine_tuning.jobs.cancel(other.id)
        with pytest.raises(openai.BadRequestError):
            client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-nope")

    assert statuses[-1] == "failed"
    assert failed.error and failed.error.message == "Training file has too few examples."
    assert failed.fine_tuned_model is None
    assert cancelled.status == "cancelled"


def test_a_batch_answers_every_line_as_the_live_endpoint_would() -> None:
    lines = [
        {"custom_id": "chunk-1", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": DOC}]}},
        {"custom_id": "chunk-2", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "FAIL"}]}},
        {"custom_id": "chunk-3", "method": "POST", "url": "/v1/embeddings", "body": {}},
    ]  # fmt: skip
    content = "\n".join(json.dumps(line) for line in lines).encode()

    def responder(ctx: ReplyContext) -> Content | ErrorReply:
        if ctx.last_user_message == "FAIL":
            return ErrorReply(500, "boom")
        return default_responder(ctx)  # type: ignore[return-value]

    with FakeOpenAIServer(responder=responder) as server:
        client = openai_client(server)
        file = client.files.create(file=("batch.jsonl", content), purpose="batch")
        batch = client.batches.create(
            input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        statuses = []
        for _ in range(10):
            batch = client.batches.retrieve(batch.id)
            statuses.append(batch.status)
            if batch.status == "completed":
                break
        assert batch.output_file_id and batch.error_file_id
        output = [
            json.loads(x) for x in client.files.content(batch.output_file_id).text.split("\n") if x
        ]
        errors = [
            json.loads(x) for x in client.files.content(batch.error_file_id).text.split("\n") if x
        ]
        live = post_chat(server, DOC)[1]

    assert statuses == ["validating", "in_progress", "finalizing", "completed"]
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed,
            batch.request_counts.failed) == (3, 1, 2)  # fmt: skip
    assert [o["custom_id"] for o in output] == ["chunk-1"]
    answer = output[0]["response"]["body"]["choices"][0]["message"]["content"]
    assert answer == live["choices"][0]["message"]["content"]
    assert [(e["custom_id"], (e["response"] or {}).get("status_code")) for e in errors] == [
        ("chunk-2", 500), ("chunk-3", None),
    ]  # fmt: skip


def test_a_batch_can_be_cancelled() -> None:
    with FakeOpenAIServer() as server:
        client = openai_client(server)
        file = client.files.create(file=("b.jsonl", b"{}\n"), purpose="batch")
        batch = client.batches.create(
            input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        cancelling = client.batches.cancel(batch.id)
        statuses = [client.batches.retrieve(batch.id).status for _ in range(3)]
        after = client.batches.retrieve(batch.id)

    assert (cancelling.status, statuses) == ("cancelling", ["cancelling", "cancelled", "cancelled"])
    assert after.output_file_id is None

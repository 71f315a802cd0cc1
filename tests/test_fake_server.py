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

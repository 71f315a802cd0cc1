"""Specs for native structured outputs, the chunk's context in the prompt, and cached tokens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tiktoken
from click.testing import CliRunner
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI

import qasynth
import qasynth._tokens
from qasynth import QAPrompt
from qasynth._cli import main
from qasynth._cli._generate import summary_lines
from qasynth._errors import ConfigurationError
from qasynth._pricing import cached_prefix_tokens, model_price
from qasynth._prompts import FORMAT_EXAMPLE
from qasynth._structured import response_format, use_structured
from qasynth.testing import Content, FakeOpenAIServer, ReplyContext

MANUAL = """# Acme X200 Manual

The Acme X200 is a burr coffee grinder sold in Europe since 2021. It has forty grind settings.

## Troubleshooting

If the grinder stops, check the hopper and the burr. Most faults are simple to clear at home.

### Error codes

Error E42 means the burr is blocked. Unplug the grinder before you clear it.
"""
SMALL = {"chunk_size": 30, "chunk_overlap": 0}  # the error codes section is a chunk of its own


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def client(server: FakeOpenAIServer, model: str = "gpt-4o-mini") -> ChatOpenAI:
    return ChatOpenAI(model=model, base_url=server.base_url, api_key="test-key", max_retries=0)


def chat_bodies(server: FakeOpenAIServer) -> list[dict[str, Any]]:
    return [r.body for r in server.requests if r.path.endswith("/chat/completions")]


def user_message_about(server: FakeOpenAIServer, text: str) -> str:
    [user] = [m for b in chat_bodies(server) if text in (m := b["messages"][-1]["content"])]
    return str(user)


# -- structured outputs ----------------------------------------------------------------------


def test_structured_on_sends_the_strict_schema_and_no_format_example(
    server: FakeOpenAIServer, offline_encoding: tiktoken.Encoding
) -> None:
    ds = qasynth.synthesize("Error E42 means the burr is blocked.", llm=client(server),
                            structured="on", encoding=offline_encoding, progress=False)  # fmt: skip

    [body] = chat_bodies(server)
    assert body["response_format"] == response_format()
    schema = body["response_format"]["json_schema"]
    assert schema["strict"] is True
    pair = schema["schema"]["properties"]["question_answer_pairs"]["items"]
    assert pair["required"] == ["question", "answer"]
    assert pair["additionalProperties"] is False
    system = body["messages"][0]["content"]
    assert FORMAT_EXAMPLE not in system and "JSON" not in system
    assert len(ds) == 1  # the reply's JSON text went through the usual parsing and checks


def test_a_structured_reply_cut_off_at_max_tokens_keeps_its_complete_pairs(
    offline_encoding: tiktoken.Encoding,
) -> None:
    first = (
        '{"question": "What does error E42 on the Acme X200 mean?", "answer": "A blocked burr."}'
    )
    cut = '{"question_answer_pairs": [' + first + ', {"question": "What does err'

    def respond(ctx: ReplyContext) -> Content:
        return Content(cut, finish_reason="length")

    with FakeOpenAIServer(responder=respond) as fake:
        ds = qasynth.synthesize("Error E42 means the burr is blocked.", llm=client(fake),
                                structured="on", encoding=offline_encoding, checks=[],
                                progress=False)  # fmt: skip
        assert len(chat_bodies(fake)) == 1  # not retried: the same request would be cut again

    assert [r.question for r in ds] == ["What does error E42 on the Acme X200 mean?"]
    assert ds.stats.rejections["truncated_pair"] == 1 and ds.stats.input_tokens > 0


def test_without_structured_output_the_prompt_shows_the_json_shape(
    server: FakeOpenAIServer, offline_encoding: tiktoken.Encoding
) -> None:
    # auto: a loopback URL is not OpenAI's, so the parser path is used
    ds = qasynth.synthesize("Error E42 means the burr is blocked.", llm=client(server),
                            encoding=offline_encoding, progress=False)  # fmt: skip

    [body] = chat_bodies(server)
    assert "response_format" not in body
    assert FORMAT_EXAMPLE in body["messages"][0]["content"]
    assert len(ds) == 1


def test_auto_is_on_for_openai_models_with_strict_schemas_only() -> None:
    def auto(**kw: Any) -> bool:
        return use_structured("auto", **{"llm": None, "base_url": None, **kw})

    assert auto(model="gpt-4o-mini")
    assert auto(model="gpt-4.1-nano") and auto(model="gpt-5-mini") and auto(model="o4-mini")
    assert auto(model="ft:gpt-4o-mini-2024-07-18:acme::abc")
    assert not auto(model="gpt-3.5-turbo")
    assert not auto(model="gpt-4o-2024-05-13")
    assert not auto(model="gpt-4o-mini", base_url="http://localhost:11434/v1")
    assert not auto(model="anthropic:claude-sonnet-4")
    chat = ChatOpenAI(model="gpt-4.1", api_key="k")
    assert use_structured("auto", llm=chat, model="", base_url=None)
    assert not use_structured("off", llm=chat, model="", base_url=None)
    local = ChatOpenAI(model="gpt-4.1", api_key="k", base_url="http://127.0.0.1:8000/v1")
    assert not use_structured("auto", llm=local, model="", base_url=None)
    assert use_structured("on", llm=local, model="", base_url=None)


def test_structured_on_for_a_model_without_response_format_is_refused_clearly() -> None:
    fake = GenericFakeChatModel(messages=iter([AIMessage(content="{}")]))
    synth = qasynth.Synthesizer(fake, structured="on")
    with pytest.raises(ConfigurationError, match="OpenAI-compatible"):
        synth.runner()
    with pytest.raises(ConfigurationError, match="auto"):
        qasynth.Synthesizer(fake, structured="sometimes")


# -- the chunk's context -----------------------------------------------------------------------


def test_the_heading_path_and_the_context_reach_the_prompt(
    server: FakeOpenAIServer, offline_encoding: tiktoken.Encoding, tmp_path: Path
) -> None:
    path = tmp_path / "x200.md"
    path.write_text(MANUAL, encoding="utf-8")

    qasynth.synthesize([path], llm=client(server), context="Coffee grinders sold in 2024.",
                       encoding=offline_encoding, progress=False, **SMALL)  # fmt: skip

    assert user_message_about(server, "Error E42").startswith(
        "Theme: Acme X200 Manual\n"  # the title; the heading path below it:
        "Section: Troubleshooting > Error codes\n"
        "Context: Coffee grinders sold in 2024.\n\nText:\n"
    )
    intro = user_message_about(server, "forty grind settings")
    assert intro.startswith("Theme: Acme X200 Manual\nContext: ")  # no section below the title


def test_the_cli_context_option_reaches_the_prompt(
    server: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    offline_encoding: tiktoken.Encoding,
) -> None:  # fmt: skip
    monkeypatch.setattr(qasynth._tokens, "_load", lambda name: offline_encoding)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    path = tmp_path / "x200.md"
    path.write_text(MANUAL, encoding="utf-8")
    args = ["generate", str(path), "-o", str(tmp_path / "out.jsonl"), "--quiet",
            "--base-url", server.base_url, "--context", "Acme's 2024 grinder range",
            "--chunk-size", "30", "--chunk-overlap", "0"]  # fmt: skip

    result = CliRunner().invoke(main, args)

    assert result.exit_code == 0, result.output
    user = user_message_about(server, "Error E42")
    assert "Section: Troubleshooting > Error codes\nContext: Acme's 2024 grinder range\n" in user


def test_a_template_may_use_headings_and_context_and_must_have_context_if_one_is_given(
    server: FakeOpenAIServer, offline_encoding: tiktoken.Encoding, tmp_path: Path
) -> None:
    path = tmp_path / "x200.md"
    path.write_text(MANUAL, encoding="utf-8")
    template = ChatPromptTemplate.from_messages(
        [("system", "Write JSON pairs."),
         ("human", "Theme: {theme}\nIn: {headings}\nAbout: {context}\n\nText:\n{text}")]
    )  # fmt: skip

    qasynth.synthesize([path], llm=client(server), prompt=template, context="Grinders",
                       encoding=offline_encoding, progress=False, **SMALL)  # fmt: skip

    user = user_message_about(server, "Error E42")
    assert "In: Acme X200 Manual > Troubleshooting > Error codes\nAbout: Grinders\n" in user
    plain = ChatPromptTemplate.from_messages([("human", "{theme}: {text}")])
    with pytest.raises(ConfigurationError, match=r"\{context\}"):
        qasynth.Synthesizer(prompt=plain, context="Grinders")


def test_the_context_changes_the_prompt_fingerprint() -> None:
    assert QAPrompt().configured(context="Acme").fingerprint() != QAPrompt().fingerprint()
    assert QAPrompt().configured(structured=True).fingerprint() != QAPrompt().fingerprint()


# -- cached input tokens -----------------------------------------------------------------------


class LongPrompt(QAPrompt):
    role = QAPrompt.role + " " + "Keep every fact exact. " * 250  # a static prefix > 1,024 tokens


def test_cached_input_tokens_are_counted_and_priced_at_the_cached_rate(
    server: FakeOpenAIServer, offline_encoding: tiktoken.Encoding, tmp_path: Path
) -> None:
    docs = [f"The Zephyr {i} rover reached crater {i}. It sampled regolith." for i in range(3)]
    synth = qasynth.Synthesizer(client(server), prompt=LongPrompt(),
                                limits=qasynth.Limits(concurrency=1),
                                chunker=qasynth.Chunker(encoding=offline_encoding),
                                progress=False)  # fmt: skip

    report = synth.run_to_file(docs, tmp_path / "out.jsonl")

    stats = report.stats
    system_chars = len(LongPrompt().render_instructions())
    per_call = cached_prefix_tokens(system_chars // 4)  # the fake counts 4 characters a token
    assert per_call >= 1024
    # every call after the first: the system message and the start of the user message alike
    assert 2 * per_call <= stats.cached_input_tokens <= 2 * (per_call + 128)
    price = model_price("gpt-4o-mini")
    assert price is not None and price.cached_input_per_mtok is not None
    uncached = price.cost(stats.input_tokens, stats.output_tokens)
    cost = price.cost(stats.input_tokens, stats.output_tokens, stats.cached_input_tokens)
    assert cost is not None and uncached is not None and cost < uncached
    saved = stats.cached_input_tokens * (price.input_per_mtok - price.cached_input_per_mtok) / 1e6
    assert uncached - cost == pytest.approx(saved)
    lines = "\n".join(summary_lines(report, model="gpt-4o-mini"))
    assert f"({stats.cached_input_tokens:,} cached)" in lines
    assert f"~${cost:,.4f} at gpt-4o-mini prices" in lines
    assert "cached input at $0.075" in lines

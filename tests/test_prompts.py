"""Specs for QAPrompt: what the default prompt says, and the ways to change it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import tiktoken
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from qasynth import Chunk, ConfigurationError, QAPrompt, Synthesizer, synthesize

GOOD_REPLY = json.dumps(
    {"question_answer_pairs": [{"question": "Where is the Acme X200 sold?", "answer": "Europe"}]}
)


class RecordingChat(BaseChatModel):
    """Records the messages of every call and answers with one valid pair."""

    calls: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "recording-test-chat"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.calls.append(messages)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=GOOD_REPLY))])


def chunk(
    text: str = "The Acme X200 went on sale in Europe in 2021.", theme: str = "Acme"
) -> Chunk:
    return Chunk(text=text, theme=theme, source="manual.txt", index=0)


def system_text(prompt: QAPrompt, of: Chunk | None = None) -> str:
    first = prompt.build_messages(of or chunk())[0]
    assert isinstance(first, SystemMessage)
    return first.text


def run_with(prompt: QAPrompt, enc: tiktoken.Encoding) -> RecordingChat:
    model = RecordingChat()
    synthesize("The Acme X200 went on sale in Europe in 2021.", llm=model, prompt=prompt,
               progress=False, encoding=enc)  # fmt: skip
    return model


@pytest.fixture(scope="module")
def o200k() -> tiktoken.Encoding | None:
    try:
        return tiktoken.get_encoding("o200k_base")
    except Exception:  # no files and no network: the real-encoding test is skipped
        return None


# -- the default prompt --------------------------------------------------------------------


def test_default_instructions_are_in_english_and_ask_for_the_texts_language() -> None:
    prompt = QAPrompt()

    assert prompt.role.isascii()
    assert all(rule.isascii() for rule in prompt.rules)
    system = system_text(prompt)
    assert "in the text's language" in system and "instructions are in English" in system
    assert "stand alone" in system
    assert "as many unique pairs" in system and "first sentence to the last" in system


def test_default_prompt_shows_good_examples_and_bad_ones_with_their_reasons() -> None:
    prompt = QAPrompt()
    system = system_text(prompt)

    assert prompt.good_examples and prompt.bad_examples
    for question in prompt.good_examples:
        assert f"- {question}" in system
    for question, why in prompt.bad_examples:
        assert f"- {question} (bad: {why})" in system
    assert system.index("Good questions") < system.index("Bad questions")


def test_default_prompt_gives_the_json_format_as_a_compact_example() -> None:
    system = system_text(QAPrompt())

    example = {"question_answer_pairs": [{"question": "...", "answer": "..."}]}
    assert system.rstrip().endswith(json.dumps(example))
    assert "Reply with JSON only" in system
    assert "$defs" not in system  # no JSON schema dump


def test_in_structured_mode_the_format_example_is_left_out() -> None:
    plain, structured = QAPrompt(), QAPrompt().configured(structured=True)

    assert "question_answer_pairs" not in system_text(structured)
    assert system_text(structured) in system_text(plain)  # the rest is the same
    assert not plain.structured  # configured() leaves the original alone


def test_default_fixed_instructions_stay_short(o200k: tiktoken.Encoding | None) -> None:
    """774 tokens before; the static part must stay well below the original workflow's."""
    if o200k is None:
        pytest.skip("o200k_base files not available")
    assert len(o200k.encode(system_text(QAPrompt()))) <= 380


def test_theme_and_chunk_text_come_last_in_the_final_message() -> None:
    text = "Spain beat England 1-0 in the final on 20 August 2023."

    messages = QAPrompt().build_messages(chunk(text, theme="Women's World Cup 2023"))

    final = messages[-1]
    assert isinstance(final, HumanMessage)
    assert final.text.endswith(text)
    assert "Theme: Women's World Cup 2023" in final.text
    assert all(text not in m.text for m in messages[:-1])


def test_system_message_is_identical_for_different_chunks_so_prefix_caching_applies() -> None:
    prompt = QAPrompt()

    one = prompt.build_messages(chunk("First text about grinders.", theme="Acme"))
    two = prompt.build_messages(chunk("東京は日本の首都です。", theme="Japan"))

    assert one[0] == two[0]
    assert one[-1] != two[-1]


def test_a_chunk_without_a_theme_says_so() -> None:
    final = QAPrompt().build_messages(chunk(theme=""))[-1]

    assert final.text.startswith("Theme: (not given)")


# -- customising by subclassing --------------------------------------------------------------


class GrinderPrompt(QAPrompt):
    rules = ("Ask only about coffee grinders.",)
    good_examples = ("What burr size does the Acme X200 coffee grinder use?",)
    bad_examples = (("What size is it?", "'It' is never named."),)


def test_overriding_class_attributes_changes_the_rendered_instructions() -> None:
    default = system_text(QAPrompt())
    custom = system_text(GrinderPrompt())

    assert "1. Ask only about coffee grinders." in custom
    assert "- What burr size does the Acme X200 coffee grinder use?" in custom
    assert "- What size is it? (bad: 'It' is never named.)" in custom
    for replaced in (*QAPrompt.rules, *QAPrompt.good_examples, QAPrompt.bad_examples[0][0]):
        assert replaced in default
        assert replaced not in custom
    assert "question_answer_pairs" in custom  # the format is still there


def test_headings_below_the_title_and_the_context_come_before_the_text() -> None:
    c = Chunk(text="E42: blocked burr.", theme="Acme X200 Manual", source="m.md", index=3,
              headings=("Acme X200 Manual", "Troubleshooting", "Error codes"))  # fmt: skip
    prompt = QAPrompt().configured(context="  Grinders\nsold in 2024 ")

    assert prompt.build_messages(c)[-1].text == (
        "Theme: Acme X200 Manual\nSection: Troubleshooting > Error codes\n"
        "Context: Grinders sold in 2024\n\nText:\nE42: blocked burr."
    )
    assert prompt.build_messages(c)[0] == QAPrompt().build_messages(chunk())[0]  # static


def test_synthesize_sends_the_subclassed_prompt_to_the_model(
    offline_encoding: tiktoken.Encoding,
) -> None:
    model = run_with(GrinderPrompt(), offline_encoding)

    [messages] = model.calls
    assert messages == GrinderPrompt().build_messages(
        Chunk(
            text="The Acme X200 went on sale in Europe in 2021.", theme="", source="<text 1>",
            index=0,
        )
    )  # fmt: skip
    assert "Ask only about coffee grinders." in messages[0].text


class OneMessagePrompt(QAPrompt):
    def build_messages(self, chunk: Chunk) -> list[BaseMessage]:
        return [HumanMessage(content=f"Write pairs as JSON about: {chunk.text}")]


def test_synthesize_uses_an_overridden_build_messages(
    offline_encoding: tiktoken.Encoding,
) -> None:
    model = run_with(OneMessagePrompt(), offline_encoding)

    assert model.calls == [
        [
            HumanMessage(
                content="Write pairs as JSON about: The Acme X200 went on sale in Europe in 2021."
            )
        ]
    ]


# -- preview and fingerprint ---------------------------------------------------------------------


def test_preview_of_a_chunk_is_what_the_model_would_receive() -> None:
    prompt = QAPrompt()
    c = chunk()

    assert prompt.preview(c) == prompt.build_messages(c)


def test_preview_of_plain_text_renders_it_with_the_given_theme() -> None:
    messages = QAPrompt().preview("Error E42 means a blocked burr.", theme="Acme X200")

    assert [type(m) for m in messages] == [SystemMessage, HumanMessage]
    assert messages[-1].text == "Theme: Acme X200\n\nText:\nError E42 means a blocked burr."


def test_preview_follows_an_overridden_build_messages() -> None:
    assert OneMessagePrompt().preview("Some text.") == [
        HumanMessage(content="Write pairs as JSON about: Some text.")
    ]


def test_fingerprint_is_stable_and_changes_when_the_rendered_prompt_changes() -> None:
    same_name_a = type("Custom", (QAPrompt,), {})
    same_name_b = type("Custom", (QAPrompt,), {})
    changed = type("Custom", (QAPrompt,), {"rules": (*QAPrompt.rules, "Be brief.")})
    reworded = type("Custom", (QAPrompt,), {"role": "You write quiz questions."})

    assert same_name_a().fingerprint() == same_name_b().fingerprint()
    assert QAPrompt().fingerprint() == QAPrompt().fingerprint()
    assert changed().fingerprint() != same_name_a().fingerprint()
    assert reworded().fingerprint() != same_name_a().fingerprint()
    assert GrinderPrompt().fingerprint() != QAPrompt().fingerprint()


class _Raising(QAPrompt):
    def render_instructions(self) -> str:
        raise RuntimeError("boom in my prompt")


class _Empty(QAPrompt):
    def build_messages(self, chunk: Chunk) -> list[BaseMessage]:
        return []


class _OneText(QAPrompt):
    rules = "Just one rule."  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        (_Raising, "prompt _Raising cannot build its messages (RuntimeError: boom in my prompt)"),
        (_Empty, "prompt _Empty: build_messages returned an empty list"),
        (_OneText, "prompt _OneText: rules is one text; give a tuple of texts"),
    ],
)
def test_a_prompt_class_with_a_mistake_is_refused_when_the_run_is_made_naming_it(
    prompt: type[QAPrompt], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Synthesizer(prompt=prompt())

"""The prompt that asks a chat model for question-answer pairs.

:class:`QAPrompt` renders two messages: a system message with everything that
never changes (role, rules, good and bad example questions, output format) and
a user message with the chunk's theme and text, last. Keeping the static part
first and identical across calls lets providers' prompt-prefix caching apply.

Customise it by subclassing: override a class attribute (``good_examples``,
``bad_examples``, ``rules``, ``role``) or a method (``render_instructions``,
``render_user_message``, ``build_messages``). The built-in prompt uses exactly
these hooks.

A ``QAPrompt`` is a LangChain ``Runnable`` from a chunk's variables (``theme``,
``text``, ``source``, ``chunk``) to a chat prompt, the first link of the chain
``prompt | model | parser``; :meth:`QAPrompt.template` gives the same prompt as a
``ChatPromptTemplate``. A ``ChatPromptTemplate`` of your own with ``{theme}`` and
``{text}`` variables can stand in its place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import PydanticOutputParser
from langchain_core.prompt_values import ChatPromptValue, PromptValue
from langchain_core.prompts import BasePromptTemplate, ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableConfig

from ._errors import ConfigurationError
from ._schema import Chunk, QACollection

__all__ = [
    "DEFAULT_PROMPT",
    "BadExample",
    "PromptLike",
    "QAPrompt",
    "check_prompt",
    "chunk_variables",
    "prompt_fingerprint",
    "render_messages",
    "topup_messages",
]

BadExample = tuple[str, str]
"""A bad example question and the reason it is bad."""


def chunk_variables(chunk: Chunk) -> dict[str, Any]:
    """The variables a prompt is rendered from: ``theme``, ``text``, ``source``,
    ``headings`` (the heading path, joined with " > ") and the ``chunk`` itself."""
    return {
        "theme": chunk.theme or "(not given)",
        "text": chunk.text,
        "source": chunk.source,
        "headings": " > ".join(chunk.headings),
        "chunk": chunk,
    }


def _chunk_of(value: Chunk | Mapping[str, Any]) -> Chunk:
    if isinstance(value, Chunk):
        return value
    chunk = value.get("chunk")
    if isinstance(chunk, Chunk):
        return chunk
    theme = str(value.get("theme") or "")
    return Chunk(text=str(value.get("text", "")), theme=theme, source="<text>", index=0)


class QAPrompt(Runnable[Any, PromptValue]):
    """Renders the messages for one chunk. Subclass to change any part.

    As a ``Runnable`` it takes a :class:`Chunk` or a mapping of its variables
    (see :func:`chunk_variables`) and returns a chat prompt value.
    """

    role: ClassVar[str] = (
        "You write question-answer pairs that will teach a chat model the facts in a text. "
        "Each pair becomes one training example, read on its own, without the text."
    )
    rules: ClassVar[Sequence[str]] = (
        "Every question must stand alone: name who, what, when and which event, product or "
        "document it is about, so that a reader who has never seen the text understands it.",
        "Never refer to the text itself ('according to the text', 'in this passage', "
        "'the author') and never use a pronoun or 'this'/'the' for something the question "
        "does not name.",
        "Write as many unique pairs as the text supports; do not repeat a fact with the same "
        "wording.",
        "Cover the whole text, from its first sentence to its last, not only the beginning.",
        "Answers must be correct according to the text and complete enough to be useful; do "
        "not add facts the text does not contain.",
        "Write the questions and answers in the language of the text (for Japanese text, "
        "write Japanese), even though these instructions are in English.",
    )
    good_examples: ClassVar[Sequence[str]] = (
        "Which country won the 2023 FIFA Women's World Cup, held in Australia and New Zealand?",
        "In what year did the Acme X200 coffee grinder go on sale in Europe?",
        "What does the error code E42 on the Acme X200 coffee grinder mean?",
        "2023年のFIFA女子ワールドカップ決勝でスペインの決勝点を挙げた選手は誰ですか？",
    )
    bad_examples: ClassVar[Sequence[BadExample]] = (
        ("Which team won?", "Won what? The tournament and year are not named."),
        (
            "Who scored in the quarter-final?",
            "Which quarter-final? It only makes sense next to the text.",
        ),
        ("What does the text say about error codes?", "It refers to 'the text'."),
        ("When did he retire?", "'He' is never named."),
        ("この大会で優勝したのはどこですか？", "「この大会」がどの大会か分からない。"),
    )
    output_parser: ClassVar[PydanticOutputParser[QACollection]] = PydanticOutputParser(
        pydantic_object=QACollection
    )

    def format_instructions(self) -> str:
        """How the reply must be formatted (from the output parser)."""
        return self.output_parser.get_format_instructions()

    def render_instructions(self) -> str:
        """The static system message: role, rules, examples and output format.

        Rendered once per prompt object (it never depends on the chunk)."""
        cached: str | None = self.__dict__.get("_instructions")
        if cached is None:
            cached = self._render_instructions()
            self.__dict__["_instructions"] = cached
        return cached

    def _render_instructions(self) -> str:
        rules = "\n".join(f"{n}. {rule}" for n, rule in enumerate(self.rules, start=1))
        good = "\n".join(f"- {q}" for q in self.good_examples)
        bad = "\n".join(f"- {q}\n  Why it is bad: {why}" for q, why in self.bad_examples)
        parts = [self.role, f"Rules:\n{rules}"]
        if good:
            parts.append(f"Good questions (they make sense on their own):\n{good}")
        if bad:
            parts.append(f"Bad questions (never write questions like these):\n{bad}")
        parts.append(self.format_instructions())
        parts.append("Reply with the JSON object only.")
        return "\n\n".join(parts)

    user_template: ClassVar[str] = "Theme: {theme}\n\nText:\n{text}"
    """The per-chunk message, with ``{theme}`` and ``{text}`` (and ``{source}``,
    ``{headings}``) variables."""

    def render_user_message(self, chunk: Chunk) -> str:
        """The per-chunk message: theme first, then the text, last."""
        variables = chunk_variables(chunk)
        return self.user_template.format(**{k: v for k, v in variables.items() if k != "chunk"})

    def build_messages(self, chunk: Chunk) -> list[BaseMessage]:
        """The chat messages sent to the model for one chunk."""
        return [
            SystemMessage(content=self.render_instructions()),
            HumanMessage(content=self.render_user_message(chunk)),
        ]

    def template(self) -> ChatPromptTemplate:
        """This prompt as a ``ChatPromptTemplate`` over ``theme`` and ``text``."""
        return ChatPromptTemplate.from_messages(
            [SystemMessage(content=self.render_instructions()), ("human", self.user_template)]
        )

    def invoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> PromptValue:
        """Render the chat prompt for a chunk (or a mapping of its variables)."""
        return self._call_with_config(self._render, input, config, run_type="prompt")

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> PromptValue:
        return self.invoke(input, config)  # rendering is quick; no thread needed

    def _render(self, value: Any) -> PromptValue:
        return ChatPromptValue(messages=self.build_messages(_chunk_of(value)))

    def render_topup_request(self, existing_questions: Sequence[str], wanted: int) -> str:
        """The follow-up asking for more pairs than the first reply gave."""
        listed = "\n".join(f"- {q}" for q in existing_questions) or "- (none yet)"
        return (
            f"These questions about the text above are already written:\n{listed}\n\n"
            f"Write at least {wanted} more pairs about facts of the text that these "
            "questions do not cover yet. Follow the same rules and the same JSON format; do "
            "not repeat or rephrase the questions above."
        )

    def build_topup_messages(
        self, chunk: Chunk, existing_questions: Sequence[str], wanted: int
    ) -> list[BaseMessage]:
        """The messages for a top-up call: the usual ones plus the follow-up request."""
        request = HumanMessage(content=self.render_topup_request(existing_questions, wanted))
        return [*self.build_messages(chunk), request]

    def preview(self, chunk: Chunk | str, *, theme: str = "") -> list[BaseMessage]:
        """The rendered messages for a chunk (or a bare text), for inspection."""
        if isinstance(chunk, str):
            chunk = Chunk(text=chunk, theme=theme, source="<preview>", index=0)
        return self.build_messages(chunk)

    def fingerprint(self) -> str:
        """A hash of the rendered prompt, so a resumed run can tell it changed."""
        probe = Chunk(text="\x00probe\x00", theme="\x00theme\x00", source="<probe>", index=0)
        digest = hashlib.sha256(type(self).__qualname__.encode())
        for message in self.build_messages(probe):
            digest.update(f"\x00{message.type}\x00{message.text}".encode())
        return digest.hexdigest()[:16]


DEFAULT_PROMPT = QAPrompt()

PromptLike = QAPrompt | BasePromptTemplate[Any]
"""What a run accepts as its prompt: a ``QAPrompt`` or a ``ChatPromptTemplate``."""


def check_prompt(prompt: object) -> PromptLike:
    """``prompt`` if a run can use it; a clear error otherwise."""
    if isinstance(prompt, QAPrompt):
        return prompt
    if isinstance(prompt, BasePromptTemplate):
        missing = {"theme", "text"} - set(prompt.input_variables)
        unknown = set(prompt.input_variables) - {"theme", "text", "source", "headings"}
        if missing or unknown:
            raise ConfigurationError(
                f"the prompt template has variables {sorted(prompt.input_variables)}; a run "
                "fills {theme} and {text} (and may fill {source}, {headings}): "
                f"{'add ' + str(sorted(missing)) if missing else 'remove ' + str(sorted(unknown))}"
            )
        return prompt
    raise ConfigurationError(
        f"prompt= must be a qasynth.QAPrompt or a LangChain ChatPromptTemplate, "
        f"got {type(prompt).__name__}"
    )


def render_messages(prompt: PromptLike, chunk: Chunk) -> list[BaseMessage]:
    """The messages ``prompt`` renders for ``chunk``."""
    if isinstance(prompt, QAPrompt):
        return prompt.build_messages(chunk)
    return prompt.invoke(chunk_variables(chunk)).to_messages()


def topup_messages(
    prompt: PromptLike | None, chunk: Chunk, existing_questions: Sequence[str], wanted: int
) -> list[BaseMessage]:
    """The messages asking for ``wanted`` more pairs than ``existing_questions``."""
    if isinstance(prompt, QAPrompt):
        return prompt.build_topup_messages(chunk, existing_questions, wanted)
    base = render_messages(prompt or DEFAULT_PROMPT, chunk)
    request = DEFAULT_PROMPT.render_topup_request(existing_questions, wanted)
    return [*base, HumanMessage(content=request)]


def prompt_fingerprint(prompt: PromptLike) -> str:
    """A hash of what ``prompt`` renders (see :meth:`QAPrompt.fingerprint`)."""
    if isinstance(prompt, QAPrompt):
        return prompt.fingerprint()
    probe = Chunk(text="\x00probe\x00", theme="\x00theme\x00", source="<probe>", index=0)
    digest = hashlib.sha256(type(prompt).__qualname__.encode())
    for message in render_messages(prompt, probe):
        digest.update(f"\x00{message.type}\x00{message.text}".encode())
    return digest.hexdigest()[:16]

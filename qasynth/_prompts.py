"""The prompt that asks a chat model for question-answer pairs.

:class:`QAPrompt` renders two messages: a system message with everything that
never changes (role, rules, good and bad example questions, output format) and
a user message with the chunk's context (its document's theme or title, the
heading path down to the chunk, and the run's ``context`` text, where given) and
its text, last. Keeping the static part first and identical across calls lets
providers' prompt-prefix caching apply.

Customise it by subclassing: override a class attribute (``good_examples``,
``bad_examples``, ``rules``, ``role``, ``context``) or a method (``render_instructions``,
``render_user_message``, ``build_messages``). The built-in prompt uses exactly
these hooks.

A ``QAPrompt`` is a LangChain ``Runnable`` from a chunk's variables (``theme``,
``text``, ``source``, ``headings``, ``chunk``) to a chat prompt, the first link of the chain
``prompt | model | parser``; :meth:`QAPrompt.template` gives the same prompt as a
``ChatPromptTemplate``. A ``ChatPromptTemplate`` of your own with ``{theme}`` and
``{text}`` variables (and optionally ``{headings}``, ``{source}``, ``{context}``)
can stand in its place.

In structured mode (:mod:`qasynth._structured`) the provider enforces the JSON
schema, so the prompt leaves out the format example (:meth:`QAPrompt.configured`).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.prompt_values import ChatPromptValue, PromptValue
from langchain_core.prompts import BasePromptTemplate, ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableConfig

from ._errors import ConfigurationError
from ._schema import Chunk

__all__ = [
    "DEFAULT_PROMPT",
    "BadExample",
    "PromptLike",
    "QAPrompt",
    "check_prompt",
    "chunk_variables",
    "configure_prompt",
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


FORMAT_EXAMPLE = json.dumps(
    {"question_answer_pairs": [{"question": "...", "answer": "..."}]}, ensure_ascii=False
)
"""The reply's shape, shown to models that are not held to the schema by the provider."""


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
        "You write question-answer pairs that teach a chat model the facts of a text. "
        "Each pair is a training example read alone, without the text."
    )
    rules: ClassVar[Sequence[str]] = (
        "Each question must stand alone: name the event, product, person or document and "
        "the time it is about, so a reader who never saw the text understands it. Use the "
        "theme and section above the text to name it.",
        "Never mention the text ('according to the text') and never use a pronoun, "
        "'this' or 'the ...' for something the question does not name.",
        "Write as many unique pairs as the text supports, covering it from the first "
        "sentence to the last.",
        "Answers must be correct and complete per the text; add no outside facts.",
        "Write questions and answers in the text's language (Japanese text: Japanese), "
        "although these instructions are in English.",
    )
    good_examples: ClassVar[Sequence[str]] = (
        "Which country won the 2023 FIFA Women's World Cup?",
        "What does error E42 on the Acme X200 coffee grinder mean?",
        "2023年FIFA女子ワールドカップ決勝でスペインの決勝点を挙げたのは誰ですか？",
    )
    bad_examples: ClassVar[Sequence[BadExample]] = (
        ("Which team won?", "won what, when?"),
        ("Who scored in the quarter-final?", "which tournament?"),
        ("What does the text say about error codes?", "cites 'the text'"),
        ("When did he retire?", "who is 'he'?"),
        ("この大会で優勝したのはどこですか？", "「この大会」が不明"),
    )
    context: str = ""
    """Text about the documents, shown above every chunk (``--context``, ``context=``)."""
    structured: bool = False
    """Whether the provider enforces the reply's JSON schema (no format example then)."""

    def configured(self, *, context: str | None = None, structured: bool | None = None) -> QAPrompt:
        """A copy with the run's ``context`` text and structured mode set (``None``
        keeps the current value)."""
        clone = copy.copy(self)
        clone.__dict__.pop("_instructions", None)
        if context is not None:
            clone.context = context
        if structured is not None:
            clone.structured = structured
        return clone

    def format_instructions(self) -> str:
        """How the reply must be formatted: a compact JSON example, or nothing in
        structured mode (the provider enforces the schema)."""
        if self.structured:
            return ""
        return f"Reply with JSON only, shaped like: {FORMAT_EXAMPLE}"

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
        bad = "\n".join(f"- {q} (bad: {why})" for q, why in self.bad_examples)
        parts = [self.role, f"Rules:\n{rules}"]
        if good:
            parts.append(f"Good questions:\n{good}")
        if bad:
            parts.append(f"Bad questions, never like these:\n{bad}")
        if self.format_instructions():
            parts.append(self.format_instructions())
        return "\n\n".join(parts)

    user_template: ClassVar[str] = "Theme: {theme}\n\nText:\n{text}"
    """The per-chunk message for :meth:`template`, with ``{theme}`` and ``{text}``
    (and ``{source}``, ``{headings}``) variables."""

    def render_context(self, chunk: Chunk) -> list[str]:
        """The lines above the text: the theme (the document's title or name), the
        heading path down to the chunk and the run's context, each where given."""
        lines = [f"Theme: {chunk.theme or '(not given)'}"]
        headings = list(chunk.headings)
        if headings and headings[0].strip() == chunk.theme.strip():
            headings = headings[1:]  # the title heading is the theme already
        if headings:
            lines.append(f"Section: {' > '.join(headings)}")
        if self.context.strip():
            lines.append(f"Context: {' '.join(self.context.split())}")
        return lines

    def render_user_message(self, chunk: Chunk) -> str:
        """The per-chunk message: the context lines first, then the text, last."""
        return "\n".join(self.render_context(chunk)) + f"\n\nText:\n{chunk.text}"

    def build_messages(self, chunk: Chunk) -> list[BaseMessage]:
        """The chat messages sent to the model for one chunk."""
        return [
            SystemMessage(content=self.render_instructions()),
            HumanMessage(content=self.render_user_message(chunk)),
        ]

    def template(self) -> ChatPromptTemplate:
        """This prompt as a ``ChatPromptTemplate`` over ``theme`` and ``text``.

        A template cannot leave out an empty line, so it has no section or context
        line; use the ``QAPrompt`` itself as a chain's first link to keep them."""
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
            "questions do not cover yet. Same rules, same JSON; do not repeat or rephrase "
            "the questions above."
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
        return prompt_fingerprint(self)


DEFAULT_PROMPT = QAPrompt()

PromptLike = QAPrompt | BasePromptTemplate[Any]
"""What a run accepts as its prompt: a ``QAPrompt`` or a ``ChatPromptTemplate``."""


def check_prompt(prompt: object) -> PromptLike:
    """``prompt`` if a run can use it; a clear error otherwise (a ``QAPrompt``
    subclass is tried on a probe chunk, so that its mistakes show here, naming it,
    and not as a failure in the middle of a run)."""
    if isinstance(prompt, QAPrompt):
        _try_prompt(prompt)
        return prompt
    if isinstance(prompt, BasePromptTemplate):
        missing = {"theme", "text"} - set(prompt.input_variables)
        known = {"theme", "text", "source", "headings", "context"}
        unknown = set(prompt.input_variables) - known
        if missing or unknown:
            raise ConfigurationError(
                f"the prompt template has variables {sorted(prompt.input_variables)}; a run "
                "fills {theme} and {text} (and may fill {source}, {headings}, {context}): "
                f"{'add ' + str(sorted(missing)) if missing else 'remove ' + str(sorted(unknown))}"
            )
        return prompt
    raise ConfigurationError(
        f"prompt= must be a qasynth.QAPrompt or a LangChain ChatPromptTemplate, "
        f"got {type(prompt).__name__}"
    )


def _try_prompt(prompt: QAPrompt) -> None:
    name = type(prompt).__qualname__
    for attribute in ("rules", "good_examples", "bad_examples"):
        if isinstance(getattr(prompt, attribute, ()), str):
            raise ConfigurationError(
                f"prompt {name}: {attribute} is one text; give a tuple of texts, one for each "
                f"(as written, every character would be one of the {attribute})"
            )
    probe = Chunk(text="A probe chunk.", theme="probe", source="<probe>", index=0)
    try:
        messages = prompt.build_messages(probe)
    except Exception as exc:
        raise ConfigurationError(
            f"prompt {name} cannot build its messages ({type(exc).__name__}: {exc}); fix "
            "its build_messages or render_* methods"
        ) from exc
    if (
        not isinstance(messages, list)
        or not messages
        or not all(isinstance(message, BaseMessage) for message in messages)
    ):
        raise ConfigurationError(
            f"prompt {name}: build_messages returned {_shown(messages)}; it must return a "
            "non-empty list of LangChain messages (SystemMessage, HumanMessage)"
        )


def _shown(value: object) -> str:
    if isinstance(value, list):
        return "an empty list" if not value else "a list holding something else than messages"
    return f"a {type(value).__name__}" if value is not None else "None"


def configure_prompt(
    prompt: PromptLike, *, context: str | None = None, structured: bool = False
) -> PromptLike:
    """``prompt`` with the run's ``context`` text and structured mode applied.

    A ``QAPrompt`` gets a configured copy; a template's ``{context}`` variable is
    filled (empty without a context). A context for a template that has no
    ``{context}`` variable is an error, so it is never silently dropped. A
    template's own format text is the user's and stays as written."""
    if isinstance(prompt, QAPrompt):
        return prompt.configured(context=context, structured=structured)
    if "context" in prompt.input_variables:
        return prompt.partial(context=" ".join((context or "").split()))
    if context and context.strip():
        raise ConfigurationError(
            f"context={context[:60]!r} is given but the prompt template has no {{context}} "
            f"variable (it has {sorted(prompt.input_variables)}); add {{context}} to the "
            "template or drop context= (--context)"
        )
    return prompt


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
    """A hash of the class and what ``prompt`` renders for a probe chunk."""
    probe = Chunk(text="\x00probe\x00", theme="\x00theme\x00", source="<probe>", index=0)
    digest = hashlib.sha256(type(prompt).__qualname__.encode())
    for message in render_messages(prompt, probe):
        digest.update(f"\x00{message.type}\x00{message.text}".encode())
    return digest.hexdigest()[:16]

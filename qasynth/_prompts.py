"""The prompt that asks a chat model for question-answer pairs.

:class:`QAPrompt` renders two messages: a system message with everything that
never changes (role, rules, good and bad example questions, output format) and
a user message with the chunk's theme and text, last. Keeping the static part
first and identical across calls lets providers' prompt-prefix caching apply.

Customise it by subclassing: override a class attribute (``good_examples``,
``bad_examples``, ``rules``, ``role``) or a method (``render_instructions``,
``render_user_message``, ``build_messages``). The built-in prompt uses exactly
these hooks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import ClassVar

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import PydanticOutputParser

from ._schema import Chunk, QACollection

__all__ = ["DEFAULT_PROMPT", "BadExample", "QAPrompt"]

BadExample = tuple[str, str]
"""A bad example question and the reason it is bad."""


class QAPrompt:
    """Renders the messages for one chunk. Subclass to change any part."""

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
        """The static system message: role, rules, examples and output format."""
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

    def render_user_message(self, chunk: Chunk) -> str:
        """The per-chunk message: theme first, then the text, last."""
        theme = chunk.theme or "(not given)"
        return f"Theme: {theme}\n\nText:\n{chunk.text}"

    def build_messages(self, chunk: Chunk) -> list[BaseMessage]:
        """The chat messages sent to the model for one chunk."""
        return [
            SystemMessage(content=self.render_instructions()),
            HumanMessage(content=self.render_user_message(chunk)),
        ]

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

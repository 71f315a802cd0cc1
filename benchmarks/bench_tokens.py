"""Benchmark: prompt tokens per call and per kept pair, before and after, by mode.

Not a test: prints figures. Run from the repository root:

    TIKTOKEN_CACHE_DIR=../shared/tiktoken python benchmarks/bench_tokens.py

Counts with o200k_base (gpt-4o, gpt-4.1, gpt-5), the way OpenAI counts chat
input (3 tokens per message plus role and content, 3 for the reply priming),
for one chunk of the default size (2,000 tokens) cut from a fixed English and a
fixed Japanese sample text, under an assumed number of kept pairs per chunk
(--pairs; no model is called, so the pairs are an assumption, the same for every
row). Rows:

- original: the hand-made workflow qasynth replaces, reconstructed from its
  description (one message: theme, good and bad examples with reasons, the
  PydanticOutputParser's format instructions, the text);
- before: qasynth's prompt before this change (long rules and examples, the
  parser's JSON-schema format instructions);
- parser: today's prompt for models without native structured outputs;
- structured: today's prompt with native structured outputs (no format
  example); the strict schema sent in ``response_format`` is counted too,
  estimated as its JSON's tokens, since providers put it in the model's context.

The "after" rows render a chunk with a two-level heading path (a Section line).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

import tiktoken
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.output_parsers import PydanticOutputParser

from qasynth import Chunk, Chunker, QAPrompt
from qasynth._pricing import count_example_tokens
from qasynth._schema import QACollection
from qasynth._structured import response_format

ENGLISH = (
    "The Acme X200 is a conical burr coffee grinder sold in Europe since March 2021. It has "
    "forty grind settings, a 250 g hopper and a 40 mm steel burr set. Error E42 means the "
    "burr is blocked: unplug the grinder, remove the hopper and clear the burr with the brush. "
    "Error E17 means the motor overheated; let it cool for thirty minutes. The X200 Pro, "
    "launched in 2023, adds a timer and a scale accurate to 0.1 g. Acme's support line answers "
    "from 8:00 to 18:00 CET on weekdays, and the warranty lasts two years in the EU.\n\n"
)
JAPANESE = (
    "アクメX200は2021年3月から欧州で販売されているコーン式バーのコーヒーグラインダーです。"
    "挽き目は40段階、ホッパーは250グラム、刃は直径40ミリの鋼製です。エラーE42は刃の詰まりを示し、"
    "電源を抜いてホッパーを外し、付属のブラシで刃を掃除します。エラーE17はモーターの過熱で、"
    "30分冷ましてください。2023年に発売されたX200 Proには"
    "タイマーと0.1グラム単位の計量器が付きます。"
    "サポート窓口は平日8時から18時（中央ヨーロッパ時間）に対応し、EU域内の保証期間は2年です。\n\n"
)

ORIGINAL = """Create question-answer pairs from the text below, about the theme "{theme}".

Good questions make sense on their own because they name who, what, when and where:
- Which country won the 2023 FIFA Women's World Cup?
- Who scored the winning goal in the final of the 2023 FIFA Women's World Cup?
- When did the Acme X200 coffee grinder go on sale in Europe?

Bad questions only make sense next to the text. Never write questions like these:
- Which team won? (bad: it does not say which tournament or which year)
- Who scored in the quarter-final? (bad: which quarter-final?)
- What happened in the match? (bad: which match?)
- What does the text say about the results? (bad: it refers to the text)

Write as many unique question-answer pairs as possible and cover the whole text, not only \
its beginning. Write the questions and answers in the same language as the text.

{format_instructions}

Text:
{text}"""


class BeforePrompt(QAPrompt):
    """qasynth's prompt before this change, rendered as it was."""

    role = (
        "You write question-answer pairs that will teach a chat model the facts in a text. "
        "Each pair becomes one training example, read on its own, without the text."
    )
    rules = (
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
    good_examples = (
        "Which country won the 2023 FIFA Women's World Cup, held in Australia and New Zealand?",
        "In what year did the Acme X200 coffee grinder go on sale in Europe?",
        "What does the error code E42 on the Acme X200 coffee grinder mean?",
        "2023年のFIFA女子ワールドカップ決勝でスペインの決勝点を挙げた選手は誰ですか？",
    )
    bad_examples = (
        ("Which team won?", "Won what? The tournament and year are not named."),
        ("Who scored in the quarter-final?",
         "Which quarter-final? It only makes sense next to the text."),
        ("What does the text say about error codes?", "It refers to 'the text'."),
        ("When did he retire?", "'He' is never named."),
        ("この大会で優勝したのはどこですか？", "「この大会」がどの大会か分からない。"),
    )  # fmt: skip

    def _render_instructions(self) -> str:
        rules = "\n".join(f"{n}. {rule}" for n, rule in enumerate(self.rules, start=1))
        good = "\n".join(f"- {q}" for q in self.good_examples)
        bad = "\n".join(f"- {q}\n  Why it is bad: {why}" for q, why in self.bad_examples)
        return "\n\n".join([
            self.role, f"Rules:\n{rules}",
            f"Good questions (they make sense on their own):\n{good}",
            f"Bad questions (never write questions like these):\n{bad}",
            PydanticOutputParser(pydantic_object=QACollection).get_format_instructions(),
            "Reply with the JSON object only.",
        ])  # fmt: skip

    def render_user_message(self, chunk: Chunk) -> str:
        return f"Theme: {chunk.theme}\n\nText:\n{chunk.text}"


def chat_tokens(messages: Sequence[BaseMessage], enc: tiktoken.Encoding) -> int:
    roles = {"system": "system", "human": "user"}
    dicts = [{"role": roles[m.type], "content": m.text} for m in messages]
    return count_example_tokens(dicts, enc)


def sample_chunk(paragraph: str, enc: tiktoken.Encoding) -> str:
    text = paragraph * (4000 // len(enc.encode(paragraph)) + 1)
    chunker = Chunker(encoding=enc)  # 2,000 tokens with 500 overlap, as a default run
    return chunker.split_text(text)[0]


def rows(text: str, enc: tiktoken.Encoding) -> list[tuple[str, int, int]]:
    """(name, fixed-instruction tokens, prompt tokens per call) for one chunk text."""
    theme = "Acme X200 Manual"
    bare = Chunk(text=text, theme=theme, source="manual.md", index=0)
    deep = Chunk(text=text, theme=theme, source="manual.md", index=0,
                 headings=(theme, "Troubleshooting", "Error codes"))  # fmt: skip
    text_only = count_example_tokens([{"role": "user", "content": text}], enc)
    fmt = PydanticOutputParser(pydantic_object=QACollection).get_format_instructions()
    original = [HumanMessage(ORIGINAL.format(theme=theme, format_instructions=fmt, text=text))]
    schema = len(enc.encode(json.dumps(response_format(), separators=(",", ":"))))
    out = []
    for name, messages, extra in (
        ("original", original, 0),
        ("before", BeforePrompt().build_messages(bare), 0),
        ("parser", QAPrompt().build_messages(deep), 0),
        ("structured", QAPrompt().configured(structured=True).build_messages(deep), schema),
    ):
        per_call = chat_tokens(messages, enc) + extra
        out.append((name, per_call - text_only, per_call))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=float, default=20.0,
                        help="Assumed kept pairs per 2,000-token chunk.")  # fmt: skip
    args = parser.parse_args()
    enc = tiktoken.get_encoding("o200k_base")
    print(f"o200k_base; one 2,000-token chunk; assumed {args.pairs:g} kept pairs per chunk")
    print(f"{'text':<9}{'prompt':<12}{'fixed':>7}{'per call':>10}{'per pair':>10}"
          f"{'vs original':>13}")  # fmt: skip
    for language, paragraph in (("English", ENGLISH), ("Japanese", JAPANESE)):
        table = rows(sample_chunk(paragraph, enc), enc)
        base = table[0][2]
        for name, fixed, per_call in table:
            print(f"{language:<9}{name:<12}{fixed:>7,}{per_call:>10,}"
                  f"{per_call / args.pairs:>10.1f}{per_call / base - 1:>+13.1%}")  # fmt: skip


if __name__ == "__main__":
    main()

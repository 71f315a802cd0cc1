"""Benchmark: chunking speed of qasynth's Chunker against LangChain's splitter.

Not a test: prints figures. Run from the repository root (needs the real
tiktoken files: set TIKTOKEN_CACHE_DIR to a folder that holds them):

    python benchmarks/bench_chunking.py
    python benchmarks/bench_chunking.py --mb 4 --repeat 5 --chunk-size 1000 --chunk-overlap 200

Both sides split the same text with the same encoding, chunk size and overlap:
qasynth's ``Chunker`` (paragraph, line, sentence, clause, word and character
separators; every chunk checked against the token budget) and a plain
``RecursiveCharacterTextSplitter.from_tiktoken_encoder`` (its default
separators). English is the Python language reference shipped with CPython
(``pydoc_data``), repeated to the asked size; Japanese is generated from
templates (sentences, clauses, quotes, paragraphs). Reports MB/s of UTF-8 input
over wall time and CPU time (best of ``--repeat`` runs), the number of chunks,
and qasynth's speed relative to LangChain's.
"""

from __future__ import annotations

import argparse
import pydoc_data.topics
import random
import time
from collections.abc import Callable

from langchain_text_splitters import RecursiveCharacterTextSplitter

from qasynth import Chunker


def english_text(size: int) -> str:
    topics = pydoc_data.topics.topics
    base = "\n\n".join(topics[name].strip() for name in sorted(topics))
    return (base * (size // len(base.encode()) + 1)).encode()[:size].decode(errors="ignore")


def words(text: str) -> list[str]:
    return text.split("|")


JA_SUBJECTS = words(
    "東京都|大阪の会社|研究チーム|私たち|新しい製品|日本代表|この町の人々|先生|学生たち|政府"
)
JA_PLACES = words(
    "駅の近く|京都の寺|北海道の牧場|海外の市場|工場の中|会議室|図書館|山の上|川沿いの道"
)
JA_OBJECTS = words(
    "新しい計画|古い資料|大切な手紙|電気自動車|桜の写真|試合の結果|地域の歴史|料理の方法"
)
JA_VERBS = words(
    "発表しました|調べています|見つけました|作りました|紹介します|話し合いました|確認しました"
)
JA_CLAUSES = words("しかし|そのため|また|さらに|一方で|たとえば|それでも")


def japanese_sentence(rng: random.Random) -> str:
    sentence = (
        f"{rng.choice(JA_SUBJECTS)}は{rng.choice(JA_PLACES)}で{rng.choice(JA_OBJECTS)}を"
        f"{rng.choice(JA_VERBS)}"
    )
    if rng.random() < 0.4:
        sentence = f"{rng.choice(JA_CLAUSES)}、{sentence}"
    if rng.random() < 0.15:
        return f"「{sentence}。」"
    if rng.random() < 0.1:
        return f"{sentence}か？"
    year = rng.randint(1950, 2025)
    return f"{sentence}。" if rng.random() < 0.7 else f"{year}年、{sentence}。"


def japanese_text(size: int) -> str:
    rng = random.Random(11)
    paragraphs: list[str] = []
    total = 0
    while total < size:
        paragraph = "".join(japanese_sentence(rng) for _ in range(rng.randint(3, 9)))
        paragraphs.append(paragraph)
        total += len(paragraph.encode()) + 1
    return "\n".join(paragraphs)


def best_time(
    split: Callable[[str], list[str]], text: str, repeat: int
) -> tuple[float, float, int]:
    """The best wall and CPU seconds over ``repeat`` splits, and the number of chunks."""
    walls, cpus = [], []
    chunks = 0
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        chunks = len(split(text))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=2.0, help="MB of text per language")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=2000)
    parser.add_argument("--chunk-overlap", type=int, default=500)
    parser.add_argument("--encoding", default="o200k_base")
    args = parser.parse_args()

    size = int(args.mb * 1_000_000)
    chunker = Chunker(
        chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap, encoding=args.encoding
    )
    splitter = RecursiveCharacterTextSplitter.from_tiktoken_encoder(
        encoding_name=args.encoding, chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap
    )
    print(
        f"{args.encoding}, chunks of {args.chunk_size} tokens with {args.chunk_overlap} overlap, "
        f"best of {args.repeat}"
    )
    for language, text in (("English", english_text(size)), ("Japanese", japanese_text(size))):
        mb = len(text.encode()) / 1e6
        ours_wall, ours_cpu, ours = best_time(chunker.split_text, text, args.repeat)
        theirs_wall, theirs_cpu, theirs = best_time(splitter.split_text, text, args.repeat)
        print(f"{language} ({mb:.2f} MB):")
        print(
            f"  qasynth    {mb / ours_wall:6.2f} MB/s wall, {mb / ours_cpu:6.2f} MB/s CPU, "
            f"{ours:,} chunks"
        )
        print(
            f"  langchain  {mb / theirs_wall:6.2f} MB/s wall, {mb / theirs_cpu:6.2f} MB/s CPU, "
            f"{theirs:,} chunks"
        )
        print(
            f"  qasynth / langchain: {theirs_wall / ours_wall:.2f}x (wall), "
            f"{theirs_cpu / ours_cpu:.2f}x (CPU)"
        )


if __name__ == "__main__":
    main()

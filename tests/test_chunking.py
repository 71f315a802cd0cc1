"""Specs for token-measured chunking and for choosing the tokenizer."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import tiktoken
import tiktoken.load
import tiktoken.registry
from conftest import real_encoding_names
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document

import qasynth._tokens
from qasynth import Chunker, ConfigurationError, EncodingUnavailableError, synthesize
from qasynth._tokens import encoding_name_for_model, resolve_encoding

JAPANESE = [
    "東京は日本の首都です。",
    "大阪は二番目に大きい都市ですか？",
    "すごい！",
    "富士山は日本で一番高い山で、標高は三七七六メートルです。",
    "「京都は古い都です。」",
    "奈良には鹿がたくさんいます。",
    "北海道の冬はとても寒いです！！",
    "沖縄の海はきれいですか？",
]
CHINESE = [
    "北京是中国的首都。",
    "上海是中国最大的城市！",
    "你去过广州吗？",
    "长城很长，也很古老。",
    "杭州的西湖非常美丽。",
]
ENGLISH = [
    "The Acme X200 went on sale in 2021.",
    "It grinds beans with 38 mm steel burrs!",
    "Does it have a timer?",
    "Yes, it has a 60-second timer.",
    'The manual says "clean the burrs monthly."',
    "Error E42 means a blocked burr.",
]
CJK_END = re.compile(r"[。！？][」』）]*$")


def sized_chunker(sentences: list[str], enc: tiktoken.Encoding, *, per_chunk: int) -> Chunker:
    """A chunker whose chunks hold about ``per_chunk`` of the longest sentences."""
    probe = Chunker(chunk_size=10_000, chunk_overlap=0, encoding=enc)
    longest = max(probe.count_tokens(s) for s in sentences)
    return Chunker(chunk_size=per_chunk * longest, chunk_overlap=0, encoding=enc)


@pytest.mark.parametrize("sentences", [JAPANESE, CHINESE], ids=["japanese", "chinese"])
def test_cjk_text_is_split_after_sentence_ends(
    sentences: list[str], any_encoding: tiktoken.Encoding
) -> None:
    chunker = sized_chunker(sentences, any_encoding, per_chunk=2)

    chunks = chunker.split_text("".join(sentences))

    assert len(chunks) > 1
    assert "".join(chunks) == "".join(sentences)  # nothing lost, nothing repeated
    for piece in chunks:
        assert CJK_END.search(piece), f"chunk does not end a sentence: {piece!r}"
        assert not piece.startswith(("。", "！", "？", "」"))
    for sentence in sentences:  # punctuation stays with its sentence
        assert any(sentence in piece for piece in chunks)


def test_english_text_is_split_after_sentence_ends(any_encoding: tiktoken.Encoding) -> None:
    chunker = sized_chunker(ENGLISH, any_encoding, per_chunk=2)

    chunks = chunker.split_text(" ".join(ENGLISH))

    assert len(chunks) > 1
    assert " ".join(chunks) == " ".join(ENGLISH)
    for piece in chunks:
        assert piece.endswith((".", "!", "?", '."')), piece
        assert piece[0].isupper(), piece


def test_a_sentence_longer_than_a_chunk_is_cut_and_the_others_still_end_at_sentence_ends(
    any_encoding: tiktoken.Encoding,
) -> None:
    long_sentence = "東京" + "とても" * 200 + "大きいです。"
    sentences = [JAPANESE[0], long_sentence, JAPANESE[1]]
    chunker = sized_chunker([JAPANESE[0], JAPANESE[1]], any_encoding, per_chunk=2)

    chunks = chunker.split_text("".join(sentences))

    assert chunks[0] == JAPANESE[0]
    assert chunks[-1] == JAPANESE[1]
    middle = chunks[1:-1]
    assert len(middle) > 1
    assert "".join(middle) == long_sentence
    assert all(chunker.count_tokens(piece) <= chunker.chunk_size for piece in middle)


MIXED = (
    "Release notes for the Acme X200.\n\n"
    + " ".join(ENGLISH * 3)
    + "\n"
    + "".join(JAPANESE * 3)
    + "\n\n"
    + "".join(CHINESE * 2)
    + " supercalifragilisticexpialidocious" * 5
    + " 3.14159265358979323846264338327950288419716939937510"
    + " 🍣🍜🍱🍙" * 10
)


@pytest.mark.parametrize(("size", "overlap"), [(8, 0), (16, 4), (50, 10), (120, 60)])
def test_no_chunk_exceeds_chunk_size_tokens(
    size: int, overlap: int, any_encoding: tiktoken.Encoding
) -> None:
    chunker = Chunker(chunk_size=size, chunk_overlap=overlap, encoding=any_encoding)

    chunks = chunker.split_text(MIXED)

    assert len(chunks) > 1
    assert all(0 < len(any_encoding.encode(piece)) <= size for piece in chunks)
    for word in ("Acme", "E42", "Release"):
        assert any(word in piece for piece in chunks)
    if overlap == 0:  # nothing lost, nothing repeated (up to whitespace)
        assert re.sub(r"\s", "", "".join(chunks)) == re.sub(r"\s", "", MIXED)


def test_overlap_repeats_the_end_of_a_chunk_at_the_start_of_the_next(
    any_encoding: tiktoken.Encoding,
) -> None:
    probe = Chunker(chunk_size=10_000, chunk_overlap=0, encoding=any_encoding)
    longest = max(probe.count_tokens(s) for s in JAPANESE)
    text = "".join(JAPANESE)
    plain = Chunker(chunk_size=3 * longest, chunk_overlap=0, encoding=any_encoding)
    overlapping = Chunker(chunk_size=3 * longest, chunk_overlap=longest, encoding=any_encoding)

    without = plain.split_text(text)
    with_overlap = overlapping.split_text(text)

    assert "".join(without) == text
    assert len(with_overlap) > 1
    for previous, following in itertools.pairwise(with_overlap):
        shared = shared_part(previous, following)
        assert shared, f"no overlap between {previous!r} and {following!r}"
        assert CJK_END.search(shared)  # whole sentences are repeated
        assert overlapping.count_tokens(shared) <= overlapping.chunk_overlap
    assert sum(map(len, with_overlap)) > len(text)


def shared_part(previous: str, following: str) -> str:
    """The longest start of ``following`` that ``previous`` ends with."""
    for size in range(min(len(previous), len(following)), 0, -1):
        if previous.endswith(following[:size]):
            return following[:size]
    return ""


@pytest.mark.parametrize(
    ("size", "overlap", "message"),
    [
        (0, 0, "chunk_size"),
        (-5, 0, "chunk_size"),
        (100, 100, "chunk_overlap"),
        (100, 150, "chunk_overlap"),
        (100, -1, "chunk_overlap"),
    ],
)
def test_invalid_chunk_sizes_are_refused(
    size: int, overlap: int, message: str, offline_encoding: tiktoken.Encoding
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Chunker(chunk_size=size, chunk_overlap=overlap, encoding=offline_encoding)


def test_synthesize_refuses_an_invalid_chunk_size_before_calling_the_model(
    offline_encoding: tiktoken.Encoding,
) -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    model = FakeListChatModel(responses=['{"question_answer_pairs": []}'])

    with pytest.raises(ConfigurationError, match="chunk_overlap"):
        synthesize("Some text.", llm=model, chunk_size=10, chunk_overlap=10,
                   progress=False, encoding=offline_encoding)  # fmt: skip
    assert model.i == 0


def test_chunks_of_a_document_carry_theme_source_and_index(
    offline_encoding: tiktoken.Encoding,
) -> None:
    chunker = Chunker(chunk_size=30, chunk_overlap=0, encoding=offline_encoding)
    doc = Document(page_content=" ".join(ENGLISH), metadata={"source": "docs/acme_x200.txt"})

    chunks = chunker.split_document(doc)

    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert {(c.theme, c.source) for c in chunks} == {("acme_x200", "docs/acme_x200.txt")}


# -- counting each piece once ---------------------------------------------------------------

# Characters at which tokenizers behave differently: line breaks, other whitespace,
# punctuation that swallows line breaks, "/", contractions, digits, CJK, emoji.
PIECES = st.lists(
    st.sampled_from(
        ["\n", "\n\n", " ", "  ", "\t", "\u3000", "\x1c", "\r", "/", ".", "。", "」", "'s", "'",
         "The", "cat", " sat", "東京", "です", "12", "3456", "🍣", "-", "#", "é", "\u0301"]
    ),
    max_size=40,
).map("".join)  # fmt: skip


@pytest.mark.skipif(not real_encoding_names(), reason="needs the real tiktoken files")
@pytest.mark.parametrize("name", real_encoding_names() or ["none"])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=PIECES, size=st.integers(min_value=2, max_value=40))
def test_chunks_counted_from_their_pieces_have_exactly_that_many_tokens(
    name: str, text: str, size: int
) -> None:
    chunker = Chunker(chunk_size=size, chunk_overlap=size // 3, encoding=name)

    for start, piece, tokens in chunker._split(text, 0, 0):
        assert text[start : start + len(piece)] == piece
        if tokens >= 0:  # a count from the pieces' counts, trusted without recounting
            assert tokens == chunker.count_tokens(piece), piece


def test_chunks_of_line_sized_pieces_match_langchains_splitter(
    any_encoding: tiktoken.Encoding,
) -> None:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from qasynth._chunking import SEPARATORS

    lines = [" ".join(ENGLISH[: 1 + i % 6]) for i in range(40)]
    indented = "\n  ".join("".join(JAPANESE[: 1 + i % 8]) for i in range(30))
    text = "\n".join(lines) + "\n\n" + indented
    chunker = Chunker(chunk_size=60, chunk_overlap=20, encoding=any_encoding)
    splitter = RecursiveCharacterTextSplitter(
        separators=list(SEPARATORS), is_separator_regex=True, keep_separator="end",
        chunk_size=60, chunk_overlap=20, length_function=chunker.count_tokens,
    )  # fmt: skip

    assert chunker.split_text(text) == splitter.split_text(text)


def test_chunks_know_their_page_and_heading_path(offline_encoding: tiktoken.Encoding) -> None:
    pages = [
        "# Acme X200 manual\n\nThe Acme X200 grinds coffee.\n\n## Cleaning\n\nClean the burrs.",
        "Use the brush.\n\n## Errors\n\nE42 means a blocked burr.\n\n```\n# not a heading\n```",
    ]
    text = "\n\n".join(pages)
    document = Document(
        page_content=text,
        metadata={"source": "x200.pdf", "page_starts": [0, len(pages[0]) + 2]},
    )
    chunker = Chunker(chunk_size=12, chunk_overlap=0, encoding=offline_encoding)

    chunks = chunker.split_document(document)

    def where(start: str) -> tuple[int | None, tuple[str, ...]]:
        [chunk] = [c for c in chunks if c.text.startswith(start)]
        return chunk.page, chunk.headings

    assert where("The Acme") == (1, ("Acme X200 manual",))
    assert where("Clean") == (1, ("Acme X200 manual", "Cleaning"))
    assert where("Use") == (2, ("Acme X200 manual", "Cleaning"))
    assert where("E42") == (2, ("Acme X200 manual", "Errors"))
    assert chunks[-1].headings == ("Acme X200 manual", "Errors")  # not the code comment


@pytest.mark.parametrize(
    ("metadata", "page"),
    [
        ({"page": 0, "page_label": "i"}, 1),  # LangChain's PDF loaders count from 0
        ({"page": 41}, 42),
        ({"page_number": 7}, 7),  # loaders that count from 1 say page_number
        ({"page_label": "iv"}, None),  # a printed label is not a position
        ({}, None),
    ],
)
def test_a_page_document_gives_its_page_to_every_chunk(
    metadata: dict[str, object], page: int | None, offline_encoding: tiktoken.Encoding
) -> None:
    document = Document(page_content=" ".join(ENGLISH), metadata={"source": "m.pdf", **metadata})
    chunker = Chunker(chunk_size=20, chunk_overlap=0, encoding=offline_encoding)

    chunks = chunker.split_document(document)

    assert len(chunks) > 1
    assert {c.page for c in chunks} == {page}


# -- choosing the encoding ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4.1", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("o3", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("GPT-3.5-Turbo", "cl100k_base"),
        ("openai:gpt-4o-mini", "o200k_base"),
        ("openai:gpt-4", "cl100k_base"),
        ("ft:gpt-4o-mini:org::id", "o200k_base"),
        ("ft:gpt-4o-mini-2024-07-18:my-org:custom:abc123", "o200k_base"),
        ("ft:gpt-3.5-turbo-0125:org::id", "cl100k_base"),
        ("some-local-model", "o200k_base"),
        (None, "o200k_base"),
    ],
)
def test_encoding_is_chosen_from_the_model_name(model: str | None, encoding: str) -> None:
    assert encoding_name_for_model(model) == encoding


def test_chunker_loads_the_encoding_of_its_model(
    monkeypatch: pytest.MonkeyPatch, offline_encoding: tiktoken.Encoding
) -> None:
    loaded: list[str] = []

    def fake_load(name: str) -> tiktoken.Encoding:
        loaded.append(name)
        return offline_encoding

    monkeypatch.setattr(qasynth._tokens, "_load", fake_load)

    Chunker(model="gpt-3.5-turbo")
    Chunker(model="openai:gpt-4o-mini")
    Chunker(model="gpt-4o", encoding="cl100k_base")  # an explicit name wins
    assert Chunker(encoding=offline_encoding).encoding is offline_encoding

    assert loaded == ["cl100k_base", "o200k_base", "cl100k_base"]


def test_an_unknown_encoding_name_is_a_configuration_error() -> None:
    qasynth._tokens._load.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match="o200k_base"):
            resolve_encoding("no_such_encoding")
    finally:
        qasynth._tokens._load.cache_clear()


def test_tiktoken_unable_to_download_raises_encoding_unavailable_naming_the_cache_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(blobpath: str) -> bytes:
        raise ConnectionError(f"cannot reach {blobpath}")

    empty = tmp_path / "tiktoken-cache"
    empty.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(empty))
    monkeypatch.setattr(tiktoken.load, "read_file", offline)
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})  # forget loaded encodings
    qasynth._tokens._load.cache_clear()
    try:
        with pytest.raises(EncodingUnavailableError, match="TIKTOKEN_CACHE_DIR") as caught:
            Chunker(model="gpt-4o-mini")
    finally:
        qasynth._tokens._load.cache_clear()

    assert "o200k_base" in str(caught.value)
    assert isinstance(caught.value.__cause__, ConnectionError)
    assert isinstance(caught.value, ConfigurationError)

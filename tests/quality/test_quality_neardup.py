"""MinHash + LSH near-duplicate groups."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from qasynth._quality import NearDuplicateIndex, find_near_duplicates, neardup
from qasynth._quality._unionfind import UnionFind

EN = "Which team won the 2023 FIFA Women's World Cup final?"
JA = "2023年のFIFA女子ワールドカップで優勝した国はどこですか？"


@pytest.mark.parametrize(
    "variant",
    [
        "which team won the 2023 fifa women's world cup final?",
        "WHICH TEAM WON THE 2023 FIFA WOMEN'S WORLD CUP FINAL",
        "Which team won the 2023 FIFA Women's World Cup final??!",
        "  Which   team won the 2023\tFIFA Women's World Cup final ? ",
        "Ｗｈｉｃｈ ｔｅａｍ ｗｏｎ ｔｈｅ ２０２３ ＦＩＦＡ Women’s World Cup final？",
        '"Which team won the 2023 FIFA Women\'s World Cup final?"',
    ],
)
def test_english_wording_trivia_is_grouped(variant: str) -> None:
    assert find_near_duplicates([EN, variant]) == [[0, 1]]


@pytest.mark.parametrize(
    "variant",
    [
        "２０２３年のＦＩＦＡ女子ワールドカップで優勝した国はどこですか？",
        "2023年の FIFA 女子ワールドカップで、優勝した国はどこですか",
        "2023年のfifa女子ワールドカップで優勝した国は　どこですか?",
        "「2023年のFIFA女子ワールドカップで優勝した国はどこですか。」",
    ],
)
def test_japanese_wording_trivia_is_grouped(variant: str) -> None:
    assert find_near_duplicates([JA, variant]) == [[0, 1]]


@pytest.mark.parametrize(
    "other",
    [
        "Which team lost the 2023 FIFA Women's World Cup final?",
        "Which team won the 2019 FIFA Women's World Cup final?",
        "Which team won the 2023 FIFA Women's World Cup semi-final?",
        "Who scored in the 2023 FIFA Women's World Cup final?",
        "2023年のFIFA女子ワールドカップで準優勝した国はどこですか？",
        "2019年のFIFA女子ワールドカップで優勝した国はどこですか？",
        "2023年のFIFA女子ワールドカップの決勝はどこで行われましたか？",
    ],
)
def test_different_questions_on_the_same_topic_are_not_grouped(other: str) -> None:
    assert find_near_duplicates([EN, JA, other]) == []


def test_groups_use_the_callers_keys_sorted_within_and_across_groups() -> None:
    index = NearDuplicateIndex()
    index.add(30, JA)
    index.add(7, EN)
    index.add(12, "What is the capital of Australia?")
    index.add(5, EN.upper())
    index.add(2, JA.replace("？", ""))
    assert index.groups() == [[2, 30], [5, 7]]
    assert len(index) == 5 and 12 in index


def test_chinese_text_is_compared_by_characters() -> None:
    texts = ["中国的首都是哪个城市？", "中国的首都是哪个城市", "日本的首都是哪个城市？"]
    assert find_near_duplicates(texts) == [[0, 1]]


def test_texts_without_words_are_never_duplicates() -> None:
    assert find_near_duplicates(["???", "!!!", "???", ""]) == []


def test_adding_a_key_twice_is_refused() -> None:
    index = NearDuplicateIndex()
    index.add(1, EN)
    with pytest.raises(ValueError, match="key 1 was already added"):
        index.add(1, JA)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"threshold": 0.0}, "threshold must be in"),
        ({"threshold": 1.5}, "threshold must be in"),
        ({"num_perm": 1}, "num_perm must be at least 2"),
        ({"ngram": 0}, "ngram"),
    ],
)
def test_unusable_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NearDuplicateIndex(**options)


def test_similarity_is_one_for_trivia_and_low_for_a_different_question() -> None:
    index = NearDuplicateIndex()
    index.add(0, EN)
    index.add(1, EN.lower())
    index.add(2, "Who hosted the 2023 FIFA Women's World Cup?")
    assert index.similarity(0, 1) == 1.0
    assert index.similarity(0, 2) < 0.5


def test_the_same_seed_gives_the_same_signatures() -> None:
    first, second = NearDuplicateIndex(seed=3), NearDuplicateIndex(seed=3)
    for index in (first, second):
        index.add(0, EN)
        index.add(1, "Which team won the 2023 FIFA Women's World Cup semi-final?")
    assert first.similarity(0, 1) == second.similarity(0, 1)


def test_default_banding_is_ten_bands_of_six_rows() -> None:
    index = NearDuplicateIndex()
    assert (index.bands, index.rows) == (10, 6)


@pytest.mark.parametrize("threshold", [0.85, 0.9, 0.95])
def test_from_085_up_banding_misses_no_pair_that_verification_accepts(threshold: float) -> None:
    """With more bands than allowed mismatches, some band of a passing pair agrees."""
    rng = random.Random(threshold)
    vocabulary = [f"w{i}" for i in range(40)]
    base = [rng.sample(vocabulary, 12) for _ in range(15)]
    texts = [" ".join(words) for words in base]
    for words in base:
        for _ in range(4):
            edited = list(words)
            edited[rng.randrange(len(edited))] = rng.choice(vocabulary)
            texts.append(" ".join(edited))
    index = NearDuplicateIndex(threshold=threshold)
    for key, text in enumerate(texts):
        index.add(key, text)
    group_of = {key: n for n, group in enumerate(index.groups()) for key in group}
    for a, b in itertools.combinations(range(len(texts)), 2):
        if index.similarity(a, b) >= threshold:
            assert a in group_of and group_of[a] == group_of.get(b), (texts[a], texts[b])


@pytest.mark.parametrize("threshold", [0.85, 0.7])
def test_a_large_bucket_links_exactly_the_pairs_that_every_pair_compared_would(
    threshold: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bucket of more than 64 different signatures (hundreds of questions from one
    # template share bands) is searched through blocks of signature positions; that
    # search must miss no similar pair. Here every text is put in one bucket, and the
    # window of latest members per block value is wider than the bucket.
    monkeypatch.setattr(neardup, "_BLOCK_WINDOW", 1000)
    rng = random.Random(5)
    teams = [f"Team{n}" for n in range(30)]
    texts = [
        f"Who scored for {rng.choice(teams)} in the {rng.randint(1950, 2024)} cup final "
        "played in the old national stadium in front of the home crowd?"
        for _ in range(400)
    ]
    index = NearDuplicateIndex(threshold=threshold)
    signatures = [index.signature(text) for text in texts]
    members = [(key, signature) for key, signature in enumerate(signatures) if signature]
    links = UnionFind(len(texts))

    index.link_similar(members, links)

    expected = UnionFind(len(texts))
    for (a, first), (b, second) in itertools.combinations(members, 2):
        if index.similar_signatures(first, second):
            expected.union(a, b)
    found = sorted(sorted(group) for group in links.components() if len(group) > 1)
    assert len({signature for _, signature in members}) > 64
    assert found == sorted(sorted(group) for group in expected.components() if len(group) > 1)
    assert found  # the texts do have near-duplicates to find


def test_a_large_bucket_compares_each_member_with_a_bounded_number_of_others() -> None:
    # 3,000 questions of one template in one bucket, mostly unalike: each is compared
    # with at most (blocks x window) earlier ones, not with every earlier one, and
    # the one-word edits planted far from their originals are still grouped with them.
    rng = random.Random(11)
    texts = [
        f"How many goals did player {rng.randrange(10**6)} score for team "
        f"{rng.randrange(10**6)} during the {rng.randint(1900, 2024)} league season, "
        "counting the cup games, the friendlies and the play-off matches played away "
        "from home in front of a sold-out crowd of loyal travelling supporters?"
        for _ in range(3000)
    ]
    planted = {}
    for original in rng.sample(range(100), 20):
        planted[original] = len(texts)
        texts.append(texts[original].replace("loyal", "faithful"))
    index = NearDuplicateIndex()
    members = [(key, sig) for key, text in enumerate(texts) if (sig := index.signature(text))]

    candidates = [len(list(earlier)) for _, earlier in index._candidates(members)]
    links = UnionFind(len(texts))
    index.link_similar(members, links)

    bound = len(index._block_masks) * neardup._BLOCK_WINDOW
    assert max(candidates) <= bound < len(texts) // 2
    assert sum(candidates) < len(texts) * bound // 2
    signature = dict(members)
    for original, edit in planted.items():
        assert index.similar_signatures(signature[original], signature[edit])
        assert links.find(original) == links.find(edit), (texts[original], texts[edit])

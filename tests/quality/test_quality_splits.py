"""Leak-free splits by group."""

from __future__ import annotations

import math
from typing import Any

import pytest

from qasynth._quality import merge_group_keys, split_groups


def test_items_with_the_same_key_share_a_split() -> None:
    keys = [f"chunk-{i % 50}" for i in range(500)]
    splits = split_groups(keys, val_fraction=0.2, test_fraction=0.2)
    by_key: dict[str, set[str]] = {}
    for key, split in zip(keys, splits, strict=True):
        by_key.setdefault(key, set()).add(split)
    assert all(len(seen) == 1 for seen in by_key.values())
    assert {"train", "val", "test"} == set(splits)


def test_assignment_is_deterministic_for_a_seed_and_changes_with_it() -> None:
    keys = [f"k{i}" for i in range(200)]
    first = split_groups(keys, val_fraction=0.1, test_fraction=0.1, seed=1)
    assert first == split_groups(keys, val_fraction=0.1, test_fraction=0.1, seed=1)
    assert first != split_groups(keys, val_fraction=0.1, test_fraction=0.1, seed=2)


def test_adding_groups_does_not_move_existing_ones() -> None:
    keys = [f"k{i}" for i in range(300)]
    before = split_groups(keys, val_fraction=0.1, test_fraction=0.1)
    after = split_groups(
        [*keys, *(f"new{i}" for i in range(300))], val_fraction=0.1, test_fraction=0.1
    )
    assert after[: len(keys)] == before


def test_raising_val_fraction_only_moves_groups_from_train_to_val() -> None:
    keys = [f"k{i}" for i in range(1000)]
    small = split_groups(keys, val_fraction=0.1, test_fraction=0.1)
    large = split_groups(keys, val_fraction=0.2, test_fraction=0.1)
    moved = {(a, b) for a, b in zip(small, large, strict=True) if a != b}
    assert moved == {("train", "val")}


def test_fractions_are_met_over_many_groups() -> None:
    splits = split_groups([f"k{i}" for i in range(20_000)], val_fraction=0.1, test_fraction=0.05)
    assert math.isclose(splits.count("val") / 20_000, 0.1, abs_tol=0.01)
    assert math.isclose(splits.count("test") / 20_000, 0.05, abs_tol=0.01)


def test_no_fractions_put_everything_in_train() -> None:
    assert split_groups(["a", "b", "a"]) == ["train", "train", "train"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"val_fraction": 1.0}, r"val_fraction must be in \[0, 1\), got 1.0"),
        ({"test_fraction": -0.1}, r"test_fraction must be in \[0, 1\)"),
        ({"val_fraction": 10.0}, "not a percentage"),
        ({"val_fraction": float("nan")}, "val_fraction must be a number"),
        ({"val_fraction": 0.6, "test_fraction": 0.5}, "must be below 1 .* Lower one of them"),
    ],
)
def test_unusable_fractions_say_what_to_fix(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_groups(["a"], **options)


def test_links_merge_whole_base_groups_transitively() -> None:
    base = ["c1", "c1", "c2", "c3", "c4", "c4"]
    merged = merge_group_keys(6, [(1, 2), (2, 3)], base)
    assert merged == ["c1", "c1", "c1", "c1", "c4", "c4"]


def test_items_without_links_keep_their_key_and_split() -> None:
    base = [f"chunk-{i}" for i in range(100)]
    merged = merge_group_keys(100, [(3, 70)], base)
    assert [key for i, key in enumerate(merged) if i not in (3, 70)] == [
        key for i, key in enumerate(base) if i not in (3, 70)
    ]
    before = split_groups(base, val_fraction=0.3)
    after = split_groups(merged, val_fraction=0.3)
    assert after[3] == after[70]
    assert [s for i, s in enumerate(after) if i not in (3, 70)] == [
        s for i, s in enumerate(before) if i not in (3, 70)
    ]


def test_near_duplicates_of_different_chunks_never_straddle_splits() -> None:
    base = [f"chunk-{i // 3}" for i in range(300)]
    links = [(i, i + 150) for i in range(0, 150, 7)]
    splits = split_groups(merge_group_keys(300, links, base), val_fraction=0.3, test_fraction=0.2)
    assert all(splits[a] == splits[b] for a, b in links)


def test_merge_rejects_mismatched_keys_and_links_out_of_range() -> None:
    with pytest.raises(ValueError, match="base_keys has 2 keys for 3 items"):
        merge_group_keys(3, [], ["a", "b"])
    with pytest.raises(ValueError, match=r"link \(0, 5\) points outside the 3 items"):
        merge_group_keys(3, [(0, 5)], ["a", "b", "c"])


def _record(index: int, question: str, answer: str, **extra: Any) -> Any:
    from qasynth import QARecord

    return QARecord(question, answer, "mills", "mills.txt", f"chunk-{index}", index, **extra)


def test_a_fact_two_neighbouring_chunks_state_goes_to_the_side_nearer_training() -> None:
    from qasynth._quality import Placed, settle_shared_facts

    fact = "The Aldor mill was built in 1716 and grinds 48 tonnes of grain."
    asked = _record(1, "When was the Aldor mill built?", fact)
    translated = _record(
        1, "アルドール製粉所はいつ建てられたか？", "1716年。",
        origin="translation", derived_from="When was the Aldor mill built?",
    )  # fmt: skip
    other = _record(1, "What does the Calder mill grind?", "Barley, 12 tonnes a day.")
    first = [Placed("a", _record(0, "How much grain does the Aldor mill grind?", fact), "train")]
    second = [Placed("b", asked, "test"), Placed("c", translated, "test"),
              Placed("d", other, "test")]  # fmt: skip
    elsewhere = [Placed("e", _record(0, "When was the Aldor mill built?", fact), "val")]

    moves = list(settle_shared_facts([("mills.txt", 0, first), ("mills.txt", 1, second)]))
    apart = list(settle_shared_facts([("other.txt", 0, elsewhere), ("mills.txt", 1, second)]))

    assert moves == [("b", "test", "train"), ("c", "test", "train")]
    assert [p.split for p in second] == ["train", "train", "test"]
    assert apart == []  # not neighbours: another document

"""qasynth._quality re-exports the public names of its modules, sorted."""

from __future__ import annotations

import importlib

import qasynth._quality

MODULES = [
    "chunks",
    "figures",
    "grounding",
    "language",
    "neardup",
    "neardup_store",
    "roles",
    "splits",
    "standalone",
    "text",
]


def test_all_lists_every_public_name_of_the_modules() -> None:
    expected = set()
    for name in MODULES:
        module = importlib.import_module(f"qasynth._quality.{name}")
        expected.update(module.__all__)
    assert set(qasynth._quality.__all__) == expected
    assert all(hasattr(qasynth._quality, name) for name in expected)


def test_all_is_sorted_with_classes_first() -> None:
    names = qasynth._quality.__all__
    classes = [name for name in names if name[0].isupper()]
    functions = [name for name in names if not name[0].isupper()]
    assert names == sorted(classes) + sorted(functions)

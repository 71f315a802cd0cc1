"""A function of a word remembered in a dict (see :class:`WordMemo`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

__all__ = ["WordMemo"]

_V = TypeVar("_V")


class WordMemo(dict[str, _V]):
    """The values of a function of a word (or a character), remembered, up to
    ``limit`` of them, then forgotten all at once. Its ``__getitem__`` is the function:
    reading a dict costs a fraction of calling an ``lru_cache``, and ``map`` calls it
    without a Python frame. For functions asked of every word of every text, whose
    words repeat."""

    def __init__(self, function: Callable[[str], _V], limit: int) -> None:
        super().__init__()
        self.function = function
        self.limit = limit

    def __missing__(self, word: str) -> _V:
        if len(self) >= self.limit:
            self.clear()
        value = self[word] = self.function(word)
        return value

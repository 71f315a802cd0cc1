"""Settings for reading inputs."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LoadOptions"]


@dataclass(frozen=True)
class LoadOptions:
    """How to read files and folders.

    ``include`` and ``exclude`` are glob patterns that choose the files of a
    folder (not files named directly): a pattern without ``/`` matches the file
    name, one with ``/`` the path below the folder (``*`` also matches ``/``).
    ``text_field`` and ``title_field`` name where a JSONL or CSV row keeps its
    text and its title.
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    text_field: str = "text"
    title_field: str = "title"

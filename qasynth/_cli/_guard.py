"""Inputs are sacred: no command writes over a file it reads, or one it would read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from .._errors import OutputError

__all__ = ["refuse_overwriting_inputs"]


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def refuse_overwriting_inputs(
    outputs: Iterable[Path | None],
    inputs: Iterable[object],
    *,
    read_suffixes: Sequence[str] = (),
) -> None:
    """Raise :class:`OutputError` (exit 2, before any work) when an output is one of
    the input files, or lies in an input folder with a suffix that folder's files
    are read by (so the next run would read the output as a document)."""
    files: set[Path] = set()
    folders: list[Path] = []
    for item in inputs:
        if isinstance(item, Path):
            if item.is_dir():
                folders.append(item.resolve())
            else:
                files.add(item.resolve())
    for output in outputs:
        if output is None:
            continue
        target = output.resolve()
        if target in files:
            raise OutputError(
                f"{output} is also an input: writing it would destroy the document; choose "
                "another -o",
                path=output,
            )
        suffix = target.suffix.lower()
        for folder in folders:
            if _inside(target, folder) and suffix in read_suffixes:
                raise OutputError(
                    f"{output} is inside the input folder {folder}, where {suffix} files are "
                    "read as documents: the next run would read it as one; write it outside "
                    "the folder",
                    path=output,
                )

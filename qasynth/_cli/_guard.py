"""Inputs are sacred: no command writes over a file it reads, or one it would read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from .._errors import OutputError

__all__ = ["Output", "refuse_overwriting_inputs"]


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


Output = tuple[Path | None, str, str]
"""An output: its path (``None``: not written), what it is ("the report") and the
option that names it ("--report")."""


def refuse_overwriting_inputs(
    outputs: Iterable[Output],
    inputs: Iterable[object],
    *,
    read_suffixes: Sequence[str] = (),
    splits_folder: Path | None = None,
) -> None:
    """Raise :class:`OutputError` (exit 2, before any work) when an output is one of
    the input files, lies in an input folder with a suffix that folder's files are
    read by (so the next run would read the output as a document), is another of
    the outputs (``--report`` naming the run's state would destroy it), or lies in
    ``splits_folder`` without being a split (that folder holds only the splits, so
    ``datasets.load_dataset`` finds exactly them)."""
    from .._loaders import folder_reach

    files: set[Path] = set()
    folders: set[Path] = set()
    for item in inputs:
        if isinstance(item, Path):
            if item.is_dir():  # its files and folders, through symlinks too
                reached_files, reached_folders = folder_reach(item)
                files |= reached_files
                folders |= reached_folders
            else:
                files.add(item.resolve())
    written: dict[Path, str] = {}
    for output, what, option in outputs:
        if output is None:
            continue
        target = output.resolve()
        if target in written:
            raise OutputError(
                f"{output} would be both {written[target]} and {what}: one would destroy the "
                f"other; choose another {option}",
                path=output,
            )
        written[target] = what
        if (
            splits_folder is not None
            and _inside(target, splits_folder.resolve())
            and not what.endswith(" split")
        ):
            raise OutputError(
                f"{output} is inside {splits_folder}, the folder of the splits, which holds "
                f"nothing else (datasets.load_dataset reads all of it); choose another {option}",
                path=output,
            )
        if target in files:
            raise OutputError(
                f"{output} is also an input: writing {what} there would destroy the document; "
                f"choose another {option}",
                path=output,
            )
        suffix = target.suffix.lower()
        folder = next((parent for parent in target.parents if parent in folders), None)
        if folder is not None and suffix in read_suffixes:
            raise OutputError(
                f"{output} is inside the input folder {folder}, where {suffix} files are "
                "read as documents: the next run would read it as one; write it outside "
                "the folder",
                path=output,
            )

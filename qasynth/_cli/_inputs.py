"""The INPUT arguments of ``generate`` and ``plan``: options, and a check before any work.

``collect_documents`` opens every input file before the first model call, so an
unsupported, damaged or encrypted file (or a PDF without a text layer) stops
the command with one line naming it (exit 2). What will be left out (files in
a folder that are not tables of documents, table rows without text) is
printed as ``Warning:`` lines.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .._errors import DocumentError
from ._options import apply_options, read_stdin

if TYPE_CHECKING:
    from .._loaders import DocumentInput, LoadedInputs, LoadOptions

__all__ = ["INPUT_HELP", "collect_documents", "input_options", "load_options"]

F = TypeVar("F", bound=Callable[..., Any])

INPUT_HELP = (
    "INPUT is a file (.txt, .md, .pdf, .docx, .html, .jsonl or .csv), a folder of such "
    "files (recursively; hidden files are skipped) or - for standard input (UTF-8). "
    "A document's theme, named in the prompt, is its own title (a PDF's or DOCX's title, "
    "an HTML <title>, a Markdown file's first '# ' heading, a table row's title field), "
    'else its file name without extension; stdin\'s theme is --theme or "stdin".'
)

_INPUT_OPTIONS = (
    click.option(
        "--include",
        multiple=True,
        metavar="GLOB",
        help="Read only the files of INPUT folders that match GLOB (repeatable): a name "
        "pattern such as '*.pdf', or a path below the folder such as 'manuals/*'.",
    ),
    click.option(
        "--exclude",
        multiple=True,
        metavar="GLOB",
        help="Leave out the files of INPUT folders that match GLOB (repeatable).",
    ),
    click.option(
        "--text-field",
        default="text",
        show_default=True,
        metavar="NAME",
        help="JSONL/CSV inputs: the field (column) that holds each document's text.",
    ),
    click.option(
        "--title-field",
        default="title",
        show_default=True,
        metavar="NAME",
        help="JSONL/CSV inputs: the field (column) that holds each document's title.",
    ),
)


def input_options(function: F) -> F:
    """--include, --exclude, --text-field, --title-field."""
    return apply_options(_INPUT_OPTIONS, function)


def load_options(options: dict[str, Any]) -> LoadOptions:
    """The loader settings the command's options ask for."""
    from .._loaders import LoadOptions

    return LoadOptions(
        include=tuple(options.get("include") or ()),
        exclude=tuple(options.get("exclude") or ()),
        text_field=options.get("text_field") or "text",
        title_field=options.get("title_field") or "title",
    )


def collect_documents(inputs: Sequence[str], options: dict[str, Any]) -> LoadedInputs:
    """Check every input before any work (files exist, open and are of a kind qasynth
    reads; ``-`` reads stdin) and return them, to be read lazily during the run."""
    from langchain_core.documents import Document

    from .._loaders import SUFFIXES, LoadedInputs, check_inputs

    if not inputs:
        raise click.UsageError("give at least one INPUT: a file, a folder, or - for stdin")
    items: list[DocumentInput] = []
    for raw in inputs:
        if raw == "-":
            if any(isinstance(item, Document) for item in items):
                raise click.UsageError("'-' (stdin) can be given only once")
            items.append(read_stdin(options.get("theme")))
            continue
        if not raw.strip():  # Path("") is the current folder: never read it unasked
            raise click.UsageError(
                "an INPUT is empty (an unset shell variable?); give a file, a folder, or - "
                "for stdin (. for the current folder)"
            )
        path = Path(raw)
        if path.exists() and not (path.is_dir() or path.is_file()):
            raise DocumentError(
                f"{path} is not a file or a folder (a device, a pipe or a socket); save what "
                "it holds to a file, or pipe it in as - (stdin)",
                path=path,
            )
        if not (path.is_dir() or path.is_file()):
            broken = f" (a broken symlink to {os.readlink(path)})" if path.is_symlink() else ""
            raise DocumentError(
                f"input not found: {path}{broken}; pass an existing file, a folder of files "
                f"({', '.join(SUFFIXES)}), or - to read stdin",
                path=path,
            )
        items.append(path)
    settings = load_options(options)
    # The PDF library warns about every irregularity it repairs; the errors that matter
    # reach the user as one line. (It still logs to handlers the user has configured.)
    pdf_logger = logging.getLogger("pypdf")
    if not pdf_logger.handlers:
        pdf_logger.addHandler(logging.NullHandler())
    for note in check_inputs(items, settings):
        click.echo(f"Warning: {note}", err=True)
    return LoadedInputs(tuple(items), settings)

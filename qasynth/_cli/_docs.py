"""The command-line reference (``docs/cli.md``), rendered from every command's ``--help``.

``scripts/gen_cli_docs.py`` writes it; a test fails when the committed file
differs from what :func:`cli_reference` renders, so the docs cannot drift.
"""

from __future__ import annotations

import click

from ._app import EXIT_CODES, main

__all__ = ["REGENERATE", "cli_reference"]

REGENERATE = "python scripts/gen_cli_docs.py"
_WIDTH = 88


def _exit_code_table() -> str:
    rows = [f"| {code} | {meaning} |" for code, meaning in EXIT_CODES]
    return "\n".join(["| Code | Meaning |", "| --- | --- |", *rows])


_INTRO = f"""\
# Command line

<!-- Generated from `qasynth --help` by `{REGENERATE}`; do not edit by hand. -->

The `qasynth` command (also `python -m qasynth`) runs the library from a shell:
`plan` shows what a run would cost without calling a model, `generate` makes
question→answer pairs from documents, `convert` turns a hand-made Q&A table into
the same JSONL, and `check` validates a JSONL file before you upload it.

Errors are printed as one line on stderr that says what failed and how to fix
it; `qasynth --debug COMMAND ...` adds the traceback. API keys are never
printed. The exit codes are the same for every command:

{_exit_code_table()}

`generate` and `convert` end with a one-line check of the file they wrote; it
is information only and does not change their exit code (run `qasynth check`
for that).
"""


def _help(command: click.Command, name: str, parent: click.Context | None) -> str:
    ctx = click.Context(
        command,
        info_name=name,
        parent=parent,
        terminal_width=_WIDTH,
        max_content_width=_WIDTH,
    )
    return command.get_help(ctx)


def cli_reference() -> str:
    """The Markdown reference for ``qasynth`` and each of its commands."""
    root = click.Context(main, info_name="qasynth", terminal_width=_WIDTH)
    sections = [_INTRO, "## qasynth\n", f"```text\n{_help(main, 'qasynth', None)}\n```\n"]
    for name in main.list_commands(root):
        command = main.get_command(root, name)
        if command is None or command.hidden:
            continue
        sections.append(f"## qasynth {name}\n")
        sections.append(f"```text\n{_help(command, name, root)}\n```\n")
    return "\n".join(sections)

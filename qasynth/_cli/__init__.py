"""The ``qasynth`` command line: ``plan``, ``generate``, ``convert``, ``check``,
``finetune``, ``ask`` and ``eval``.

Each command lives in its own module and only parses options and formats
results; the work is done by the library (``Synthesizer``, ``qasynth._plan``,
``csv_to_jsonl``, ``check_jsonl``). Exit codes: 0 success, 1 finished with
problems, 2 usage or input error, 130 interrupted (see ``qasynth --help``).

The command modules import the library's heavy parts (LangChain, the OpenAI
client, tiktoken, the document readers) inside the command functions, and read
the defaults their options show from ``qasynth._constants``: ``--help`` and
usage errors answer without loading them (tests/test_cli_startup.py).
"""

from __future__ import annotations

from ._app import EXIT_INTERRUPTED, EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, main, run
from ._check import check
from ._convert import convert
from ._eval import ask_command, eval_command
from ._finetune import finetune_command
from ._generate import generate
from ._plan import plan_command

__all__ = ["EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PROBLEMS", "EXIT_USAGE", "main", "run"]

main.add_command(plan_command)
main.add_command(generate)
main.add_command(convert)
main.add_command(check)
main.add_command(finetune_command)
main.add_command(ask_command)
main.add_command(eval_command)

"""The ``qasynth`` command line: ``plan``, ``generate``, ``convert``, ``check``,
``finetune``, ``ask`` and ``eval``.

Each command lives in its own module and only parses options and formats
results; the work is done by the library (``Synthesizer``, ``qasynth._plan``,
``csv_to_jsonl``, ``check_jsonl``). Exit codes: 0 success, 1 finished with
problems, 2 usage or input error, 130 interrupted (see ``qasynth --help``).
"""

from __future__ import annotations

import gc
from typing import Any

from ._app import EXIT_INTERRUPTED, EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, main
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


def run(**kwargs: Any) -> Any:
    """The ``qasynth`` program. Everything imported by now lives as long as the
    process: frozen, the garbage collector's full passes stop rescanning it (in a long
    run they cost about a tenth of the client's CPU per model call)."""
    gc.freeze()
    return main(**kwargs)

"""The ``qasynth`` group: exit codes and one-line error reporting for every command."""

from __future__ import annotations

import gc
import logging
import os
import sys
import textwrap
import traceback
from typing import Any

import click

from .._errors import (
    REPORTED_KEY,
    AuthenticationError,
    ConfigurationError,
    InputError,
    QasynthError,
    StateError,
    UnreachableError,
)
from .._secrets import redact

__all__ = [
    "EXIT_CODES",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PROBLEMS",
    "EXIT_USAGE",
    "INTERRUPT_HINT",
    "QasynthGroup",
    "freeze_imports",
    "main",
    "run",
]

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
INTERRUPT_HINT = "qasynth.interrupt_hint"
"""``ctx.meta`` key: what to tell the user when a command is interrupted."""

_USER_ERRORS = (InputError, ConfigurationError, StateError, AuthenticationError, UnreachableError)

EXIT_CODES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "success"),
    (
        EXIT_PROBLEMS,
        "finished with problems: failed chunks, failed model steps (judge, paraphrases, "
        "...), no pairs kept or an empty train split (generate), skipped rows (convert), "
        "problems "
        "found (check), a job that failed or was cancelled (finetune), answers the grader "
        "model could not grade (eval); stopped because the "
        "provider asks to wait longer than --max-wait; or stopped on an unexpected error",
    ),
    (
        EXIT_USAGE,
        "usage or input error: bad option, unreadable input, an output that would overwrite "
        "an input, no API key, credentials, model or quota refused, no model server at the "
        "URL, saved run state that does not match or is damaged, another run writing the "
        "same output, an output that cannot be written",
    ),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C); run the same command again to resume"),
)
"""Every exit code and its meaning (for ``qasynth --help`` and docs/cli.md)."""


def _exit_code_lines() -> str:
    return "\n".join(
        textwrap.fill(meaning, width=76, initial_indent=f"  {code:<5}", subsequent_indent=" " * 7)
        for code, meaning in EXIT_CODES
    )


_GROUP_HELP = f"""Turn documents into question→answer fine-tuning data (OpenAI chat JSONL).

\b
Examples:
  qasynth plan notes/                      # chunks, tokens, cost; no API key needed
  qasynth generate notes/ -o train.jsonl   # ask the model for Q&A pairs
  qasynth convert qa.csv -o train.jsonl    # a hand-made Q&A table instead
  qasynth check train.jsonl                # validate before you upload
  qasynth finetune train.jsonl --suffix x  # upload, train, wait for the model
  qasynth eval test.jsonl --model ft:...   # does the model know the facts?

\b
Exit codes:
{_exit_code_lines()}

Errors are one line on stderr; add --debug for the traceback and logs.
"""


def secrets() -> tuple[str, ...]:
    """API keys from the environment, to be removed from anything printed."""
    names = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY")
    return tuple(value for name in names if (value := os.environ.get(name)))


def echo_error(message: str) -> None:
    """Print one error line on stderr, API keys removed."""
    one_line = " ".join(redact(message, secrets()).split())
    click.echo(f"Error: {one_line}", err=True)


class QasynthGroup(click.Group):
    """A group whose commands report errors in one line with a documented exit code."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise _one_line_usage(exc) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # in workflow order: plan, generate, convert, check

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _one_line_usage(exc) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            hint = ctx.meta.get(INTERRUPT_HINT)
            click.echo(f"\nInterrupted{'; ' + hint if hint else ''}.", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except Exception as exc:
            ctx.exit(_report(exc, debug=bool(ctx.params.get("debug"))))
        finally:
            _remove_handlers()  # the command's own: a process that goes on has its logging back


def _report(exc: Exception, *, debug: bool) -> int:
    """Print the error (with the traceback under --debug) and return the exit code."""
    if debug:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        click.echo(redact(text, secrets()), err=True, nl=False)
    if isinstance(exc, _USER_ERRORS):
        echo_error(str(exc))
        return EXIT_USAGE
    if isinstance(exc, QasynthError):
        echo_error(str(exc))
        return EXIT_PROBLEMS
    if isinstance(exc, OSError):
        echo_error(_os_error_text(exc))
        return EXIT_USAGE
    if isinstance(exc, RecursionError):  # json.loads on a line nested thousands deep
        echo_error(
            "an input holds JSON nested too deeply to read (arrays or objects thousands deep "
            "inside one another); find the line with: qasynth check FILE, and remove it"
        )
        return EXIT_USAGE
    hint = "" if debug else " (run again with --debug for the traceback, and please report it)"
    echo_error(f"unexpected {type(exc).__name__}: {exc}{hint}")
    return EXIT_PROBLEMS


def _os_error_text(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    if exc.filename is None:
        return f"{reason}; check the paths and free disk space"
    return f"cannot use {exc.filename}: {reason}; check the path and its permissions"


class _OneLineUsageError(click.UsageError):
    def show(self, file: Any = None) -> None:
        echo_error(self.format_message())


def _one_line_usage(exc: click.UsageError) -> click.UsageError:
    if isinstance(exc, _OneLineUsageError):
        return exc
    message = exc.format_message().rstrip(".")
    if exc.ctx is not None:
        message += f" (see '{exc.ctx.command_path} --help')"
    return _OneLineUsageError(message, exc.ctx)


class _StderrHandler(logging.Handler):
    """Writes log lines to whatever stderr is when they are emitted (keys removed),
    above the progress bar when one is shown."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = redact(self.format(record), secrets())
            if "tqdm" in sys.modules:  # a bar may be on the screen: print above it
                sys.modules["tqdm"].tqdm.write(line, file=sys.stderr)
            else:
                click.echo(line, err=True)
        except Exception:  # logging must never break the command
            self.handleError(record)


def _warnings_only(record: logging.LogRecord) -> bool:
    """Warnings the command does not report itself (see ``REPORTED``); errors reach the
    user as the command's error line."""
    return record.levelno == logging.WARNING and not getattr(record, REPORTED_KEY, False)


def _remove_handlers() -> None:
    for each in (logging.getLogger("qasynth"), logging.getLogger("qasynth.progress")):
        for handler in [h for h in each.handlers if isinstance(h, _StderrHandler)]:
            each.removeHandler(handler)


def _configure_logging(debug: bool) -> None:
    logger = logging.getLogger("qasynth")
    progress = logging.getLogger("qasynth.progress")
    _remove_handlers()  # a previous in-process invocation's, if it did not end (tests)
    for each in (logger, progress):
        each.setLevel(logging.NOTSET)
    line = _StderrHandler()  # status lines when stderr is not a terminal
    line.setFormatter(logging.Formatter("%(message)s"))
    progress.addHandler(line)
    progress.setLevel(logging.INFO)
    progress.propagate = debug
    handler = _StderrHandler()
    if debug:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.setLevel(logging.DEBUG)
    else:  # what the user should know and no summary says: one line each
        handler.setFormatter(logging.Formatter("Warning: %(message)s"))
        handler.addFilter(_warnings_only)
    logger.addHandler(handler)


_frozen = False
"""Whether :func:`run` froze this process's start-up (then commands freeze their imports)."""


def run(**kwargs: Any) -> Any:
    """The ``qasynth`` program. Everything imported by now lives as long as the
    process: frozen, the garbage collector's full passes stop rescanning it (in a long
    run they cost about a tenth of the client's CPU per model call)."""
    global _frozen
    _frozen = True
    gc.freeze()
    return main(**kwargs)


def freeze_imports() -> None:
    """Under :func:`run`, freeze what a command has imported to do its work (LangChain,
    the model client): commands import those on use, so that ``--help`` stays fast."""
    if _frozen:
        gc.freeze()


@click.group(
    "qasynth", cls=QasynthGroup, help=_GROUP_HELP, context_settings={"max_content_width": 88}
)
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs on errors.")
@click.version_option(package_name="qasynth", prog_name="qasynth")
def main(debug: bool) -> None:
    _configure_logging(debug)

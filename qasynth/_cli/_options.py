"""Options and inputs shared by ``generate`` and ``plan``."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .._constants import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE, DEFAULT_MODEL
from .._errors import ConfigurationError, DocumentError

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from .._prompts import QAPrompt

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "apply_options",
    "chunking_options",
    "load_prompt",
    "system_prompt_options",
]

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."
"""The system message written into every example unless --system-prompt/--no-system-prompt."""

F = TypeVar("F", bound=Callable[..., Any])

_CHUNKING_OPTIONS = (
    click.option(
        "--model",
        default=DEFAULT_MODEL,
        show_default=True,
        help="Chat model: an OpenAI name, or provider:model (e.g. openai:gpt-4o-mini). "
        "Also picks the tokenizer unless --encoding is given.",
    ),
    click.option(
        "--theme",
        help="Theme named in the prompt for inputs without one (a file's theme is its title, "
        "else its name without extension; stdin's is 'stdin').",
    ),
    click.option(
        "--context",
        metavar="TEXT",
        help="Text about the documents shown above every chunk, after its title and heading "
        'path, so questions name what they are about (e.g. "Acme X200 grinder manual, '
        '2024").',
    ),
    click.option(
        "--chunk-size",
        type=click.IntRange(min=1),
        default=DEFAULT_CHUNK_SIZE,
        show_default=True,
        help="Largest chunk, in tokens.",
    ),
    click.option(
        "--chunk-overlap",
        type=click.IntRange(min=0),
        default=DEFAULT_CHUNK_OVERLAP,
        show_default=True,
        help="Tokens shared by consecutive chunks (less than --chunk-size).",
    ),
    click.option(
        "--encoding",
        help="tiktoken encoding for measuring text (e.g. o200k_base, cl100k_base). "
        "Default: the model's.",
    ),
    click.option(
        "--structured",
        type=click.Choice(["auto", "on", "off"]),
        default="auto",
        show_default=True,
        help="Native structured outputs (the provider enforces the JSON schema; the prompt "
        "drops its format example): auto = on for OpenAI models that support strict JSON "
        "schemas at OpenAI's URL or Azure; on = also for other OpenAI-compatible servers.",
    ),
    click.option(
        "--prompt",
        "prompt_spec",
        metavar="MODULE:CLASS",
        help="Your QAPrompt subclass, imported from MODULE (the current folder is on the "
        "import path), e.g. myprompts:ManualPrompt.",
    ),
)

_SYSTEM_PROMPT_OPTIONS = (
    click.option(
        "--system-prompt",
        metavar="TEXT",
        default=DEFAULT_SYSTEM_PROMPT,
        show_default=True,
        help="System message written into every example.",
    ),
    click.option(
        "--no-system-prompt",
        is_flag=True,
        help="Write examples without a system message.",
    ),
)


def apply_options(options: Sequence[Callable[[F], F]], function: F) -> F:
    """Decorate ``function`` with click options, first option first in --help."""
    for option in reversed(options):
        function = option(function)
    return function


def chunking_options(function: F) -> F:
    """--model, --theme, --context, --chunk-size, --chunk-overlap, --encoding,
    --structured, --prompt."""
    return apply_options(_CHUNKING_OPTIONS, function)


def system_prompt_options(function: F) -> F:
    """--system-prompt TEXT and --no-system-prompt."""
    return apply_options(_SYSTEM_PROMPT_OPTIONS, function)


def chosen_system_prompt(system_prompt: str, no_system_prompt: bool) -> str | None:
    """The system message to write, or ``None`` (also for one of only spaces, which
    every provider refuses as empty); both options at once is a usage error."""
    if not no_system_prompt:
        return system_prompt if system_prompt and system_prompt.strip() else None
    source = click.get_current_context().get_parameter_source("system_prompt")
    if source is click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("use either --system-prompt or --no-system-prompt, not both")
    return None


# -- inputs ----------------------------------------------------------------------------------


def read_stdin(theme: str | None) -> Document:
    """Standard input as one UTF-8 document (theme: ``--theme`` or ``stdin``)."""
    from langchain_core.documents import Document

    data = sys.stdin.buffer.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            f"stdin is not valid UTF-8 (byte {exc.start}: {data[exc.start : exc.start + 4]!r}); "
            "convert it first, e.g. iconv -f cp932 -t utf-8 file.txt | qasynth ... -"
        ) from exc
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return Document(page_content=text, metadata={"source": "<stdin>", "theme": theme or "stdin"})


# -- --prompt module:Class -------------------------------------------------------------------


def load_prompt(spec: str | None) -> QAPrompt | None:
    """Import ``module:Class`` (a QAPrompt subclass or instance) from the user's code."""
    if spec is None:
        return None
    from .._prompts import QAPrompt

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(
            f"--prompt {spec!r}: expected MODULE:CLASS, e.g. --prompt myprompts:ManualPrompt "
            "for class ManualPrompt in myprompts.py"
        )
    if module_name.endswith(".py"):
        module_name = module_name[:-3].replace("/", ".").replace(os.sep, ".")
    found = getattr(_import_user_module(module_name, spec), attribute, None)
    if isinstance(found, QAPrompt):
        return found
    if not (isinstance(found, type) and issubclass(found, QAPrompt)):
        what = "nothing by that name" if found is None else f"a {type(found).__name__}"
        raise ConfigurationError(
            f"--prompt {spec}: {module_name}.{attribute} is {what}, not a subclass of "
            f"qasynth.QAPrompt; define 'class {attribute}(qasynth.QAPrompt)' in {module_name}"
        )
    try:
        return found()
    except Exception as exc:
        raise ConfigurationError(
            f"--prompt {spec}: {attribute}() failed: {type(exc).__name__}: {exc}; "
            "a prompt class must be creatable without arguments"
        ) from exc


def _import_user_module(module_name: str, spec: str) -> Any:
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise ConfigurationError(
                f"--prompt {spec}: no module named {module_name!r} in {cwd} or on PYTHONPATH; "
                f"run qasynth in the folder that holds {module_name.replace('.', '/')}.py, "
                "or add its folder to PYTHONPATH"
            ) from exc
        raise ConfigurationError(
            f"--prompt {spec}: importing {module_name!r} failed: {exc}"
        ) from exc
    except Exception as exc:
        raise ConfigurationError(
            f"--prompt {spec}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc

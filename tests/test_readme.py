"""The README's Python quick start works, against the fake OpenAI-compatible server."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import tiktoken

import qasynth._tokens
from qasynth.testing import FakeOpenAIServer

README = Path(__file__).resolve().parents[1] / "README.md"


def quick_start() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quick start (Python)", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the README has no Python quick start"
    return match.group(1)


def test_the_readme_quick_start_runs_against_an_openai_compatible_server(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    offline_encoding: tiktoken.Encoding,
) -> None:
    monkeypatch.setattr(qasynth._tokens, "_load", lambda name: offline_encoding)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "world_cup_2023.txt").write_text(
        "Spain won the 2023 FIFA Women's World Cup. The final was played in Sydney.",
        encoding="utf-8",
    )
    with FakeOpenAIServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-readme-test")
        exec(compile(quick_start(), "README quick start", "exec"), {})
        models = {request.body["model"] for request in server.requests}
    assert models == {"gpt-4o-mini"}
    lines = (tmp_path / "train.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines
    first = json.loads(lines[0])["messages"]
    assert first[0] == {
        "role": "system",
        "content": "You are a helpful assistant who knows our product.",
    }
    assert [m["role"] for m in first] == ["system", "user", "assistant"]

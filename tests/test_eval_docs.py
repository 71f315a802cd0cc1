"""The Python example on docs/loop.md runs (offline, against the fake server)."""

from __future__ import annotations

from pathlib import Path

import pytest
import tiktoken
from test_docs import DOCS, python_blocks

import qasynth._tokens


def test_the_loop_page_example_runs(
    tmp_path: Path, offline_encoding: tiktoken.Encoding, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(qasynth._tokens, "_load", lambda name: offline_encoding)
    blocks = python_blocks(DOCS / "loop.md")
    assert blocks
    namespace: dict[str, object] = {"tmp_path": tmp_path}
    for number, block in enumerate(blocks, start=1):
        exec(compile(block, f"loop.md example {number}", "exec"), namespace)

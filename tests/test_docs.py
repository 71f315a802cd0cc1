"""Code examples in the docs run, so the docs cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tiktoken

DOCS = Path(__file__).resolve().parents[1] / "docs"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(path: Path) -> list[str]:
    return _BLOCK.findall(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "page", ["index.md", "inputs.md", "prompts.md", "quality.md", "architecture.md"]
)
def test_every_python_example_on_the_page_runs(
    page: str, tmp_path: Path, offline_encoding: tiktoken.Encoding
) -> None:
    blocks = python_blocks(DOCS / page)
    assert blocks, f"{page} has no python examples"
    namespace: dict[str, object] = {"offline_encoding": offline_encoding, "tmp_path": tmp_path}
    for number, block in enumerate(blocks, start=1):
        code = compile(block, f"{page} example {number}", "exec")
        exec(code, namespace)

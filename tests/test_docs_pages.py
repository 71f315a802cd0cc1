"""The newcomer pages run as written, and the API reference names every public name.

Examples that call OpenAI or a local server run against the loopback fake
server: the test sets ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` and points the
page's ``http://localhost:11434/v1`` at it. A block is skipped only when the
line before it says ``<!-- not run: REASON -->``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import tiktoken

import qasynth
import qasynth._tokens
from qasynth.testing import FakeOpenAIServer

DOCS = Path(__file__).resolve().parents[1] / "docs"
_BLOCK = re.compile(r"^(<!-- not run: [^>]+ -->\n)?```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
LOCAL_SERVER = "http://localhost:11434/v1"


def runnable_blocks(page: str) -> list[str]:
    found = _BLOCK.findall((DOCS / page).read_text(encoding="utf-8"))
    return [code for skip, code in found if not skip]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-dummy")
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        yield fake


@pytest.fixture
def notes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "acme_x200.txt").write_text(
        "The Acme X200 coffee grinder has twelve grind settings. "
        "The error code E42 means that the burrs are jammed.",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    return folder


@pytest.mark.parametrize("page", ["getting-started.md", "formats.md", "using-the-output.md"])
def test_every_python_example_on_the_page_runs(
    page: str,
    tmp_path: Path,
    notes: Path,
    server: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    offline_encoding: tiktoken.Encoding,
) -> None:
    if page != "getting-started.md":
        pytest.importorskip("datasets")
        pytest.importorskip("pyarrow")
    monkeypatch.setattr(qasynth._tokens, "_load", lambda name: offline_encoding)
    split_folder = tmp_path / "splits"
    qasynth.Dataset(
        [qasynth.QARecord(f"Q{i}?", "A.", "t", "s", f"c{i}", 0) for i in range(20)]
    ).to_jsonl_splits(split_folder.with_suffix(".jsonl"), val_fraction=0.3)
    namespace: dict[str, object] = {"tmp_path": tmp_path, "split_folder": split_folder}
    blocks = runnable_blocks(page)
    assert blocks, f"{page} has no python examples"
    for number, block in enumerate(blocks, start=1):
        code = compile(block.replace(LOCAL_SERVER, server.base_url), f"{page} #{number}", "exec")
        exec(code, namespace)
    assert os.environ["OPENAI_BASE_URL"] == server.base_url


def test_the_getting_started_runs_reach_the_model_and_write_the_file(
    notes: Path, server: FakeOpenAIServer, offline_encoding: tiktoken.Encoding
) -> None:
    namespace: dict[str, object] = {}
    first, local = runnable_blocks("getting-started.md")[:2]
    for block in (first, local.replace(LOCAL_SERVER, server.base_url)):
        qasynth._tokens._load.cache_clear()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(qasynth._tokens, "_load", lambda name: offline_encoding)
            exec(compile(block, "getting-started.md", "exec"), namespace)
    models = [r.body["model"] for r in server.requests if r.path.endswith("/chat/completions")]
    assert models == ["gpt-4o-mini", "llama3.1:8b"]
    assert Path("train.jsonl").read_text(encoding="utf-8").count("\n") >= 1


def test_the_api_reference_documents_every_public_name() -> None:
    reference = (DOCS / "reference.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^::: qasynth\.(\w+)$", reference, re.MULTILINE))  # root names
    public = {name for name in qasynth.__all__ if not name.startswith("__")}
    assert public - documented == set(), "add these to docs/reference.md"
    assert documented - public == set(), "docs/reference.md names what qasynth does not export"

"""Shared fixtures: offline tokenizers and the real ones when their files are present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import tiktoken

_SHARED_CACHE = Path(__file__).resolve().parents[2] / "shared" / "tiktoken"
_REAL_FILES = {
    "cl100k_base": "9b5ad71b2ce5302211f9c61530b329a4922fc6a4",
    "o200k_base": "fb374d419588a4632f3f557e76b4b70aebbca790",
}


def build_offline_encoding() -> tiktoken.Encoding:
    """A byte-level encoding that needs no download: every UTF-8 byte is a token,
    with a few merges so that common ASCII pairs cost one token."""
    ranks: dict[bytes, int] = {bytes([i]): i for i in range(256)}
    for pair in ("th", "he", "in", "er", "an", " t", " a", "e ", "s ", "d "):
        ranks[pair.encode()] = len(ranks)
    return tiktoken.Encoding(
        name="qasynth_offline_test",
        pat_str=r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
        mergeable_ranks=ranks,
        special_tokens={},
    )


@pytest.fixture(scope="session")
def offline_encoding() -> tiktoken.Encoding:
    return build_offline_encoding()


def real_encoding_names() -> list[str]:
    """Encodings whose real files are in TIKTOKEN_CACHE_DIR (empty on a bare machine)."""
    cache = os.environ.get("TIKTOKEN_CACHE_DIR")
    if not cache:
        return []
    return [name for name, fn in _REAL_FILES.items() if (Path(cache) / fn).is_file()]


@pytest.fixture(params=["offline", *real_encoding_names()])
def any_encoding(request: pytest.FixtureRequest) -> tiktoken.Encoding:
    """The offline encoding always, plus cl100k_base and o200k_base when available."""
    if request.param == "offline":
        return build_offline_encoding()
    return tiktoken.get_encoding(request.param)


@pytest.fixture(autouse=True)
def _no_real_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see a real key or a real endpoint from the developer's shell."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY", "OPENAI_API_BASE"):
        monkeypatch.delenv(name, raising=False)

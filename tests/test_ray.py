"""The Ray engine's bookkeeping: results on file per chunk, exactly once, resumable.

The actors run in-process here (Ray itself is optional, ``qasynth[ray]``, and a
local Ray instance takes a minute to start on a small machine); the same actor
class runs on Ray in ``benchmarks/bench_ray.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import tiktoken

import qasynth._ray as ray_engine
from qasynth import Chunk, ConfigurationError, Synthesizer
from qasynth._ray import ChunkActor, result_from_dict, result_to_dict, store_path_for
from qasynth.testing import FakeOpenAIServer, ScriptedChatModel


def documents(n: int) -> list[str]:
    return [
        f"The Acme X{100 + i} grinder went on sale in {1990 + i}. It has {10 + i} settings."
        for i in range(n)
    ]


def in_process_pass(
    chunks: Sequence[tuple[int, Chunk]], options: dict[str, Any], store: Path, **_: Any
) -> None:
    """What ``map_batches`` does, without Ray: batches of 4 through one actor."""
    actor = ChunkActor(options, str(store))
    items = [json.dumps({"seq": s, "chunk": asdict(c)}) for s, c in chunks]
    for start in range(0, len(items), 4):
        actor({"item": items[start : start + 4]})


def test_a_ray_run_writes_what_a_local_run_writes_and_resumes_per_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_encoding: tiktoken.Encoding
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setattr(ray_engine, "_ray_pass", in_process_pass)
    docs = documents(12)
    with FakeOpenAIServer() as server:
        options = {"model": "gpt-4o-mini", "base_url": server.base_url,
                   "encoding": offline_encoding, "progress": False}  # fmt: skip
        Synthesizer.from_options(**options).run_to_file(docs, tmp_path / "local.jsonl")
        local_calls = len(server.requests)
        server.reset_stats()
        out = tmp_path / "ray.jsonl"
        report = asyncio.run(ray_engine.run_to_file_on_ray(docs, out, options=options))
        assert len(server.requests) == local_calls == 12
        assert out.read_bytes() == (tmp_path / "local.jsonl").read_bytes()
        assert report.stats.chunks_done == 12

        results = sorted(store_path_for(out).glob("*.json"))  # one file per chunk
        assert len(results) == 12
        for lost in results[:3]:  # a worker died with these: only they are asked again
            lost.unlink()
        for path in (out, Path(f"{out}.qasynth.sqlite")):
            path.unlink()
        server.reset_stats()
        asyncio.run(ray_engine.run_to_file_on_ray(docs, out, options=options))
        assert len(server.requests) == 3
        assert out.read_bytes() == (tmp_path / "local.jsonl").read_bytes()


def test_a_chunk_result_survives_the_trip_through_its_file() -> None:
    chunk = Chunk(text="Spain won.", theme="WWC", source="a.pdf", index=2, page=7,
                  headings=("Finals", "2023"))  # fmt: skip
    llm = ScriptedChatModel(replies={"generate": json.dumps({"question_answer_pairs": [
        {"question": "Which country won the 2023 FIFA Women's World Cup?", "answer": "Spain"}
    ]})})  # fmt: skip
    runner = Synthesizer(llm, checks=[], progress=False).runner()
    result = asyncio.run(runner.process(chunk, 5))
    again = result_from_dict(json.loads(json.dumps(result_to_dict(result))))
    assert again.chunk == chunk and again.seq == 5
    assert again.records == result.records and again.records[0].page == 7
    assert again.usage.calls == result.usage.calls == {"generate": 1}


def test_the_ray_engine_needs_a_model_name_not_an_object() -> None:
    options = {"llm": ScriptedChatModel(replies={})}
    with pytest.raises(ConfigurationError, match="name the model"):
        asyncio.run(ray_engine.run_to_file_on_ray(["text"], "out.jsonl", options=options))


def test_generate_with_the_ray_engine_writes_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_encoding: tiktoken.Encoding
) -> None:
    from click.testing import CliRunner

    import qasynth._tokens
    from qasynth._cli import main

    monkeypatch.setattr(ray_engine, "_ray_pass", in_process_pass)
    monkeypatch.setattr(qasynth._tokens, "_load", lambda name: offline_encoding)
    notes = tmp_path / "notes.txt"
    notes.write_text(" ".join(documents(6)), encoding="utf-8")
    with FakeOpenAIServer() as server:
        common = ["generate", str(notes), "--base-url", server.base_url, "-q",
                  "--chunk-size", "40", "--chunk-overlap", "0"]  # fmt: skip
        env = {"OPENAI_API_KEY": "test-key"}
        local = CliRunner().invoke(main, [*common, "-o", str(tmp_path / "a.jsonl")], env=env)
        on_ray = CliRunner().invoke(
            main, [*common, "-o", str(tmp_path / "b.jsonl"), "--engine", "ray"], env=env
        )
    assert local.exit_code == on_ray.exit_code == 0, on_ray.output
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert len(list(store_path_for(tmp_path / "b.jsonl").glob("*.json"))) > 1

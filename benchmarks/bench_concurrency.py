"""Benchmark: concurrent generation against a fake server with fixed latency.

Not a test: prints figures. Run from the repository root:

    TIKTOKEN_CACHE_DIR=../shared/tiktoken python benchmarks/bench_concurrency.py

1. N chunks, a server that takes LATENCY seconds per call: qasynth at
   concurrency 1, 4 and 16, and the one-chunk-at-a-time baseline (the
   workflow qasynth replaces: invoke, then PydanticOutputParser wrapped in
   OutputFixingParser). Wall time vs the ideal ceil(N/C) x latency.
2. 30% malformed completions: LLM fix calls per chunk.
3. Peak RSS of a resumable file run over a generated 200 MB corpus with a
   model that answers instantly (in a subprocess, so RSS is its own).
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from langchain_classic.output_parsers import OutputFixingParser
from langchain_core.output_parsers import PydanticOutputParser
from langchain_openai import ChatOpenAI

import qasynth
from qasynth._prompts import DEFAULT_PROMPT
from qasynth._schema import Chunk, QACollection
from qasynth.testing import FakeOpenAIServer, malformed_responder


def documents(n: int) -> list[str]:
    return [
        f"Report {i}: The Zephyr {i} rover reached crater {i * 7} on day {i + 100}. "
        f"Its team lead, Dr. Ito {i}, said the drill sampled {i * 3} grams of regolith."
        for i in range(n)
    ]


def client(server: FakeOpenAIServer) -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-4o-mini", base_url=server.base_url, api_key="bench-key",
        temperature=0, timeout=30, max_retries=0,
    )  # fmt: skip


def run_qasynth(
    server: FakeOpenAIServer, docs: list[str], concurrency: int
) -> tuple[float, qasynth.Dataset]:
    synth = qasynth.Synthesizer.from_options(
        llm=client(server), concurrency=concurrency, progress=False, encoding="cl100k_base"
    )
    start = time.perf_counter()
    dataset = synth.run(docs)
    return time.perf_counter() - start, dataset


def run_baseline(server: FakeOpenAIServer, docs: list[str]) -> float:
    llm = client(server)
    parser = OutputFixingParser.from_llm(
        llm=llm, parser=PydanticOutputParser(pydantic_object=QACollection), max_retries=2
    )
    start = time.perf_counter()
    for i, text in enumerate(docs):
        chunk = Chunk(text=text, theme="rovers", source=f"<text {i}>", index=0)
        reply = llm.invoke(DEFAULT_PROMPT.build_messages(chunk))
        parser.parse(str(reply.content))
    return time.perf_counter() - start


def speed(n: int, latency: float) -> None:
    docs = documents(n)
    print(f"## Concurrency: {n} chunks, {latency:g} s per call")
    print(f"{'run':<14}{'wall s':>9}{'ideal s':>9}{'over ideal':>12}{'calls/chunk':>13}"
          f"{'fix calls':>11}{'tokens in/out':>16}{'peak in flight':>16}")  # fmt: skip
    with FakeOpenAIServer(latency=latency) as server:
        wall = run_baseline(server, docs)
        ideal = n * latency
        calls = len(server.requests) / n
        print(f"{'baseline':<14}{wall:>9.2f}{ideal:>9.2f}{wall / ideal - 1:>11.1%}"
              f"{calls:>13.2f}{'-':>11}{'-':>16}{server.peak_in_flight:>16}")  # fmt: skip
        for concurrency in (1, 4, 16):
            server.reset_stats()
            wall, ds = run_qasynth(server, docs, concurrency)
            ideal = math.ceil(n / concurrency) * latency
            st = ds.stats
            print(f"{'qasynth c=' + str(concurrency):<14}{wall:>9.2f}{ideal:>9.2f}"
                  f"{wall / ideal - 1:>11.1%}{(st.model_calls + st.fix_calls) / n:>13.2f}"
                  f"{st.fix_calls:>11}{f'{st.input_tokens}/{st.output_tokens}':>16}"
                  f"{server.peak_in_flight:>16}")  # fmt: skip


def malformed(n: int) -> None:
    print(f"\n## 30% malformed completions, {n} chunks")
    with FakeOpenAIServer(responder=malformed_responder(0.3, seed=7)) as server:
        _, ds = run_qasynth(server, documents(n), 16)
    st = ds.stats
    print(f"chunks {st.chunks}, failed {st.chunks_failed}, locally repaired {st.local_repairs}, "
          f"LLM fix calls {st.fix_calls} ({st.fix_calls / n:.3f} per chunk), "
          f"repairs {dict(st.repairs)}")  # fmt: skip


def make_corpus(folder: Path, megabytes: int) -> None:
    line = ("The Zephyr rover crossed the plain on day {n} and sampled regolith near crater "
            "{m}. The team logged {k} grams and a dust storm warning. ")  # fmt: skip
    per_file = 1_000_000
    for f in range(megabytes):
        parts, size, n = [], 0, f * 100_000
        while size < per_file:
            text = line.format(n=n, m=n % 977, k=n % 53) + ("\n\n" if n % 5 == 0 else "")
            parts.append(text)
            size += len(text)
            n += 1
        (folder / f"part_{f:04d}.txt").write_text("".join(parts), encoding="utf-8")


def memory_child(folder: str, out: str) -> None:
    """Runs in a subprocess: a file run with an instant in-process model."""
    import json

    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, BaseMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    from qasynth.testing import qa_pairs

    class InstantModel(BaseChatModel):
        """Answers at once with one pair per sentence of the chunk (up to 10)."""

        @property
        def _llm_type(self) -> str:
            return "instant"

        def _generate(self, messages: list[BaseMessage], *args: object, **kw: object) -> ChatResult:
            pairs = qa_pairs(messages[-1].text)
            reply = AIMessage(content=json.dumps({"question_answer_pairs": pairs}))
            return ChatResult(generations=[ChatGeneration(message=reply)])

    synth = qasynth.Synthesizer.from_options(
        llm=InstantModel(), progress=False, encoding="cl100k_base", concurrency=16
    )
    start = time.perf_counter()
    report = synth.run_to_file(folder, out)
    wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"chunks {report.stats.chunks}, records {report.records_written}, "
        f"rejected {sum(report.stats.rejections.values())}, "
        f"wall {wall:.1f} s, peak RSS {peak_mb:.0f} MB"
    )


def memory(megabytes: int) -> None:
    print(f"\n## Peak memory: {megabytes} MB corpus, instant model, resumable file run")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "corpus"
        folder.mkdir()
        make_corpus(folder, megabytes)
        out = str(Path(tmp) / "out.jsonl")
        here = str(Path(__file__).resolve().parent)
        code = (
            f"import sys; sys.path.insert(0, {here!r}); import bench_concurrency as b; "
            "b.memory_child(sys.argv[1], sys.argv[2])"
        )
        command = [sys.executable, "-c", code, str(folder), out]
        subprocess.run(command, check=True, env=os.environ.copy())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--chunks", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--corpus-mb", type=int, default=200)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--only-memory", action="store_true")
    args = parser.parse_args()
    if not args.only_memory:
        speed(args.chunks, args.latency)
        malformed(args.chunks * 4)
    if not args.skip_memory:
        memory(args.corpus_mb)


if __name__ == "__main__":
    main()

"""Benchmark: the finishing phase of a file run at 100k to 10M pairs, without a model.

Not a test: prints figures. Run from the repository root:

    python benchmarks/bench_scale.py                       # 100k and 1M pairs
    python benchmarks/bench_scale.py --n 100000 1000000 10000000
    python benchmarks/bench_scale.py --n 1000000 --splits  # with train/val/test files

For each N, a fresh process fabricates the run's SQLite state directly with
``RunState.save`` (8 pairs a chunk, 50 chunks a document; not timed as part of
the target), then another fresh process finishes the run exactly as a rerun of
``qasynth generate`` over a finished run does: ``run_to_file`` (every chunk
already done) runs the run checks (exact and near-duplicates) and writes the
JSONL (or the split files), then the command's ``write_outputs`` and
``summary_lines``. It reports the wall time of each part and the process's peak
RSS (``ru_maxrss``), and, separately, the ``check_lines`` step that validates
the file written.

The pairs are made from bench_neardup's templates (years, competitions, teams,
players, companies, cities; four fifths English, one fifth Japanese), and like
a real run's they repeat themselves: about 5% repeat a question from a nearby
chunk word for word (overlapping chunks), 8% are wording-trivia variants of a
nearby question (case, punctuation, spaces, full-width letters), 3% are
paraphrase variants of a question of the same chunk; every chunk carries a
chunk-check rejection one time in eight, and one chunk in 200 failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_neardup import english, japanese, trivia_variant

PAIRS_PER_CHUNK = 8
CHUNKS_PER_DOCUMENT = 50
FINGERPRINT = {"bench": "scale"}


def chunk_of(number: int) -> object:
    from qasynth._schema import Chunk

    return Chunk(
        text=f"Chunk {number} of the football archive.",
        theme="Football history",
        source=f"archive/doc{number // CHUNKS_PER_DOCUMENT:06d}.pdf",
        index=number % CHUNKS_PER_DOCUMENT,
        page=1 + (number % CHUNKS_PER_DOCUMENT) // 3,
    )


def record_class() -> type:
    """QARecord with a ``to_dict`` that gives what ``dataclasses.asdict`` gives, only
    without its deep copies (which would make building a 10M state take an hour)."""
    from dataclasses import fields

    from qasynth._schema import QARecord

    names = [f.name for f in fields(QARecord)]

    class Record(QARecord):
        def to_dict(self) -> dict[str, object]:
            data = {name: getattr(self, name) for name in names}
            data["annotations"] = {
                k: list(v) if isinstance(v, list) else v for k, v in self.annotations.items()
            }
            return data

    return Record


def chunk_results(n_pairs: int, seed: int = 7) -> Iterator[object]:
    """Fabricated chunk results with about ``n_pairs`` records in all."""
    from qasynth._chunk import ChunkResult
    from qasynth._schema import ChunkFailure, Rejection

    QARecord = record_class()

    rng = random.Random(seed)
    recent: list[tuple[str, bool]] = []  # questions of the last chunks, for repeats
    for number in range((n_pairs + PAIRS_PER_CHUNK - 1) // PAIRS_PER_CHUNK):
        chunk = chunk_of(number)
        result = ChunkResult(seq=number, chunk=chunk)  # type: ignore[arg-type]
        if rng.random() < 0.005:
            result.failure = ChunkFailure(
                chunk.id, chunk.source, chunk.theme, chunk.index,  # type: ignore[attr-defined]
                "the reply was not JSON", '{"question_answer_pairs": [', 3,
            )  # fmt: skip
            yield result
            continue
        for _ in range(PAIRS_PER_CHUNK):
            draw = rng.random()
            own = [r for r in result.records if r.origin == "generated"]
            if draw < 0.03 and own:
                parent = rng.choice(own)
                question = "Could you tell me: " + parent.question[0].lower() + parent.question[1:]
                record = QARecord.of(chunk, question, parent.answer)  # type: ignore[arg-type]
                record = QARecord(**{**record.to_dict(), "origin": "paraphrase",
                                     "derived_from": parent.question})  # fmt: skip
            else:
                is_japanese = rng.random() < 0.2
                question = japanese(rng) if is_japanese else english(rng)
                volume = number // CHUNKS_PER_DOCUMENT  # keeps questions of other documents apart
                question = (
                    f"{question[:-1]}（第{volume}巻）？"
                    if is_japanese
                    else (f"{question[:-1]} (archive volume {volume})?")
                )
                if draw < 0.08 and recent:
                    question, is_japanese = rng.choice(recent)
                elif draw < 0.16 and recent:
                    base, is_japanese = rng.choice(recent)
                    question = trivia_variant(base, is_japanese, rng)
                recent.append((question, is_japanese))
                answer = f"According to the archive, the answer is entry {rng.randint(1, 10**6)}."
                record = QARecord.of(chunk, question, answer)  # type: ignore[arg-type]
            score = round(rng.uniform(0.5, 1.0), 3)
            record.annotations["grounding"] = score
            if score < 0.65:
                record.annotations["unsure"] = [f"grounding: {score:.2f}"]
            result.records.append(record)
        del recent[: max(0, len(recent) - 64)]
        if rng.random() < 0.125:
            result.rejections.append(
                Rejection("not_standalone", "Who won it?", "Spain.", chunk.id, "pronoun: it")  # type: ignore[attr-defined]
            )
        result.pairs_returned = len(result.records) + len(result.rejections)
        yield result


def build(n_pairs: int, folder: Path) -> None:
    from qasynth._runs import RunState, state_path_for

    started = time.perf_counter()
    state = RunState(state_path_for(folder / "out.jsonl"), restart=True)
    state.check_fingerprint(FINGERPRINT, restart=True)
    for result in chunk_results(n_pairs):
        state.save(result)  # type: ignore[arg-type]
    state.close()
    size = state_path_for(folder / "out.jsonl").stat().st_size
    print(json.dumps({"build_s": time.perf_counter() - started, "state_mb": size / 2**20}))


def finish(n_pairs: int, folder: Path, splits: bool) -> None:
    from qasynth._cli._generate import summary_lines
    from qasynth._cli._outputs import check_lines, write_outputs
    from qasynth._filerun import SplitOptions, run_to_file
    from qasynth._stats import Stats
    from qasynth.checks import default_checks

    n_chunks = (n_pairs + PAIRS_PER_CHUNK - 1) // PAIRS_PER_CHUNK

    async def results(
        skip: Callable[[object], bool], stats: Stats, state: object
    ) -> AsyncIterator[object]:
        for number in range(n_chunks):  # a rerun: every chunk is already in the state
            if not skip(chunk_of(number)):
                raise RuntimeError(f"chunk {number} is not in the state")
        return
        yield

    split_options = SplitOptions(val_fraction=0.1, test_fraction=0.1) if splits else None
    options = {"output_format": "openai", "provenance": False, "report_path": None,
               "encoding": "o200k_base"}  # fmt: skip
    output = folder / "out.jsonl"
    figures: dict[str, float] = {}
    started = time.perf_counter()
    checks = default_checks()
    report = asyncio.run(
        run_to_file(results, output, fingerprint=FINGERPRINT, checks=checks, splits=split_options)  # type: ignore[arg-type]
    )
    figures["run_to_file_s"] = time.perf_counter() - started
    mark = time.perf_counter()
    lines = write_outputs(report, options, system_prompt=None, splits=split_options,
                          chunks=lambda: ())  # fmt: skip
    lines = summary_lines(report, model="gpt-4o-mini") + lines
    figures["outputs_s"] = time.perf_counter() - mark
    figures["finish_s"] = time.perf_counter() - started
    figures["finish_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["kept"] = report.records_written
    if not os.environ.get("BENCH_SKIP_CHECK"):
        mark = time.perf_counter()
        lines += check_lines(report, options)
        figures["check_s"] = time.perf_counter() - mark
        figures["check_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("\n".join(lines), file=sys.stderr)
    print(json.dumps(figures))


def child(args: list[str]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, *args], check=True, stdout=subprocess.PIPE, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--splits", action="store_true", help="write train/val/test files")
    parser.add_argument("--dir", type=Path, help="where the states go (default: a temp dir)")
    parser.add_argument(
        "--reuse", action="store_true", help="finish a state an earlier call built in --dir"
    )
    parser.add_argument("--step", choices=["build", "finish"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step == "build":
        return build(args.n[0], args.dir)
    if args.step == "finish":
        return finish(args.n[0], args.dir, args.splits)
    base = args.dir or Path(tempfile.mkdtemp(prefix="bench_scale."))
    print(f"{'pairs':>11} {'build s':>8} {'finish s':>9} {'of which outputs s':>18} "
          f"{'kept':>10} {'peak RSS MiB':>12} {'check s':>8} {'check RSS MiB':>13}")  # fmt: skip
    for n in args.n:
        folder = base / f"n{n}"
        folder.mkdir(parents=True, exist_ok=True)
        built = {"build_s": float("nan")}
        if not (args.reuse and (folder / "out.jsonl.qasynth.sqlite").exists()):
            built = child(["--step", "build", "--n", str(n), "--dir", str(folder)])
        extra = ["--splits"] if args.splits else []
        done = child(["--step", "finish", "--n", str(n), "--dir", str(folder), *extra])
        print(
            f"{n:>11,} {built['build_s']:>8.1f} {done['finish_s']:>9.1f} "
            f"{done['outputs_s']:>18.1f} {int(done['kept']):>10,} {done['finish_rss_mb']:>12,.0f} "
            f"{done.get('check_s', float('nan')):>8.1f} "
            f"{done.get('check_rss_mb', float('nan')):>13,.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

"""Benchmark: adding up a stream's pieces, as LangChain does for ``synth | next_step``.

Not a test: prints figures. LangChain feeds a step that takes a whole input by adding
the pieces a streaming step yields, one at a time (``total = total + piece``). Each
piece here is one chunk's Dataset (3 records, a rejection, a link):

    python benchmarks/bench_stream_sum.py
"""

from __future__ import annotations

import argparse
import time

from qasynth import Dataset
from qasynth._schema import QARecord, Rejection
from qasynth._stats import Stats


def piece(i: int) -> Dataset:
    records = [
        QARecord(f"Question {i}.{k}?", f"Answer {i}.{k}.", "theme", "doc.txt", f"c{i}", i)
        for k in range(3)
    ]
    rejection = Rejection("too_short", f"Q{i}?", "A.", f"c{i}")
    return Dataset(
        records, rejections=[rejection], stats=Stats(chunks=1, pairs_kept=3),
        chunk_links=[(f"c{i}", f"c{i + 1}")],
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pieces", default="1000,5000,20000,50000")
    args = parser.parse_args()
    print(f"{'pieces':>8}{'add s':>9}{'read s':>9}{'records':>10}")
    for n in [int(x) for x in args.pieces.split(",")]:
        pieces = [piece(i) for i in range(n)]
        started = time.perf_counter()
        total = pieces[0]
        for p in pieces[1:]:
            total = total + p
        added = time.perf_counter() - started
        started = time.perf_counter()
        count = len(total.records)
        read = time.perf_counter() - started
        assert count == 3 * n and total.stats.chunks == n
        print(f"{n:>8}{added:>9.3f}{read:>9.3f}{count:>10}")


if __name__ == "__main__":
    main()

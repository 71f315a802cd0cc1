"""Benchmark: PDF text extraction speed and peak memory on a generated 500-page PDF.

Not a test: prints figures. Run from the repository root:

    python benchmarks/bench_pdf.py
    python benchmarks/bench_pdf.py --pages 1000 --lines 45

Writes a PDF of ``--pages`` pages, each ``--lines`` lines of English prose (the
Python language reference shipped with CPython) with a text layer (the PDF
builder of the test suite), then reads it in a fresh process the way
``qasynth generate`` does: the up-front check (opens the file, reads up to the
first page with text) and the full read into one document with page offsets.
Reports pages per second and the process's peak RSS over its RSS after the
imports; with ``--traced``, also the peak of Python allocations (tracemalloc,
a second, much slower run).
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _lines(count: int, width: int = 90) -> list[str]:
    """``count`` lines of prose, the reference repeated as often as needed."""
    import pydoc_data.topics

    topics = pydoc_data.topics.topics
    words = [w for name in sorted(topics) for w in topics[name].split() if w.isascii()]
    lines: list[str] = []
    line: list[str] = []
    length = 0
    for word in itertools.cycle(words):
        if length + len(word) > width:
            lines.append(" ".join(line))
            if len(lines) == count:
                return lines
            line, length = [], 0
        line.append(word)
        length += len(word) + 1
    raise AssertionError("unreachable")


def write_pdf(path: Path, pages: int, lines: int) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from documents import make_pdf

    prose = _lines(pages * lines)
    make_pdf(
        path,
        [prose[i * lines : (i + 1) * lines] for i in range(pages)],
        title="Benchmark manual",
    )


def _rss_mib() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage / (1024 * 1024) if sys.platform == "darwin" else usage / 1024


def measure(path: Path, traced: bool) -> dict[str, float]:
    """Run in the child process: time the check and the read, and their memory."""
    import pypdf  # noqa: F401  (imported here, so that the timings are of reading alone)

    from qasynth._loaders import check_inputs, iter_documents

    baseline = _rss_mib()
    start = time.perf_counter()
    check_inputs(path)
    checked = time.perf_counter() - start
    start = time.perf_counter()
    [document] = iter_documents(path)
    read = time.perf_counter() - start
    peak = _rss_mib()
    traced_peak = 0.0
    if traced:
        tracemalloc.start()
        [document] = iter_documents(path)
        traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return {
        "pages": document.metadata["total_pages"],
        "chars": len(document.page_content),
        "check_s": checked,
        "read_s": read,
        "rss_after_imports_mib": baseline,
        "rss_peak_mib": peak,
        "traced_peak_mib": traced_peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--lines", type=int, default=45, help="lines of text per page")
    parser.add_argument("--traced", action="store_true", help="also trace Python allocations")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child's mode
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.traced)))
        return

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.pdf"
        write_pdf(path, args.pages, args.lines)
        size = path.stat().st_size / 2**20
        child = subprocess.run(
            [sys.executable, __file__, "--measure", str(path)]
            + (["--traced"] if args.traced else []),
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
    figures = json.loads(child.stdout)
    pages = figures["pages"]
    print(f"{pages} pages, {size:.1f} MiB file, {figures['chars'] / 1e6:.2f} M characters of text")
    print(f"  check (open + first page): {figures['check_s'] * 1000:7.1f} ms")
    print(
        f"  read every page:           {figures['read_s']:7.2f} s  "
        f"({pages / figures['read_s']:,.0f} pages/s)"
    )
    print(
        f"  peak RSS {figures['rss_peak_mib']:.0f} MiB, "
        f"{figures['rss_peak_mib'] - figures['rss_after_imports_mib']:.0f} MiB over the "
        f"{figures['rss_after_imports_mib']:.0f} MiB after imports"
    )
    if args.traced:
        print(f"  peak Python allocations while reading: {figures['traced_peak_mib']:.1f} MiB")


if __name__ == "__main__":
    main()

"""Output options of ``qasynth generate``: the format, provenance, the report, the check.

``run_to_file`` writes OpenAI chat JSONL; :func:`write_outputs` then rewrites the
output in the chosen format (Alpaca, ShareGPT, or Parquet for a ``.parquet``
path), writes the provenance file and the quality report (HTML or JSON), and
returns the lines to print. :func:`check_lines` checks what was written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .._constants import FORMATS
from ._check import check_line
from ._options import apply_options

if TYPE_CHECKING:
    from .._filerun import RunReport, SplitOptions
    from .._runwrite import RecordSplits
    from .._schema import Chunk

__all__ = [
    "check_lines",
    "output_options",
    "prepare_outputs",
    "provenance_path_for",
    "write_outputs",
]

F = TypeVar("F", bound=Callable[..., Any])

_OUTPUT_OPTIONS = (
    click.option(
        "--format",
        "output_format",
        type=click.Choice(FORMATS),
        default="openai",
        show_default=True,
        help="openai: chat messages; alpaca: instruction/input/output; sharegpt: "
        "conversations of human/gpt turns. An -o ending in .parquet writes Parquet (with "
        "provenance columns; needs qasynth[parquet]).",
    ),
    click.option(
        "--provenance",
        is_flag=True,
        help="Also write OUT.provenance.jsonl: each example's source, page, chunk and origin, "
        "line for line.",
    ),
)


def output_options(function: F) -> F:
    return apply_options(_OUTPUT_OPTIONS, function)


def provenance_path_for(output: str | Path) -> Path:
    out = Path(output)
    return out.with_name(f"{out.stem}.provenance.jsonl")


def _is_html(path: Path) -> bool:
    return path.suffix.lower() in (".html", ".htm")


_COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip", ".7z")


def prepare_outputs(output: Path) -> None:
    """Fail before any paid work when the output cannot be written: no file name,
    a compressed file's suffix (the output is plain text), Parquet without pyarrow."""
    from .._errors import OutputError
    from .._formats import is_parquet, require_pyarrow

    if not output.name or output.name in (".", ".."):
        raise OutputError(f"-o {str(output)!r} names no file; give the JSONL file to write")
    if output.suffix.lower() in _COMPRESSED:
        raise OutputError(
            f"{output} ends in {output.suffix}, but qasynth writes plain JSONL (or Parquet), "
            "not compressed files; write it without that suffix and compress it after the run",
            path=output,
        )
    if is_parquet(output):
        require_pyarrow()


def write_outputs(
    report: RunReport,
    options: dict[str, Any],
    *,
    system_prompt: str | None,
    splits: SplitOptions | None,
    chunks: Callable[[], Iterable[Chunk]],
) -> list[str]:
    """Write the chosen format, the provenance and the report; the lines to print.

    The records are read from the run's state as they are written (a file run's
    report holds none), so memory does not grow with the run."""
    from .._formats import is_parquet, write_examples, write_split_stream
    from .._writers import write_jsonl

    output, fmt = report.output, options["output_format"]
    parts = _parts(report, splits)
    lines: list[str] = []
    if fmt != "openai" or is_parquet(output):
        if parts is None:
            write_examples(output, report.records, system_prompt=system_prompt, format=fmt)
        else:
            write_split_stream(output, parts, parts.sizes, system_prompt=system_prompt, format=fmt)
    if parts is not None and splits is not None:
        lines.append(_splits_line(report, parts.sizes, splits))
    lines += _stale_lines(output, split=parts is not None)
    if options["provenance"]:
        path = provenance_path_for(output)
        write_jsonl(path, _provenance_rows(report, parts))
        lines.append(f"Provenance written to {path}")
    report_path: Path | None = options["report_path"]
    if report_path is not None:
        _write_report(report_path, report, options, system_prompt, chunks)
        lines.append(f"Quality report written to {report_path}")
    return lines


def _stale_lines(output: Path, *, split: bool) -> list[str]:
    """A warning when an earlier run left the other shape of output beside this one:
    split files when this run wrote one file, or one file when it wrote splits."""
    from .._finalize import split_paths

    if split:
        if output.is_file():
            return [
                f"Warning: {output} is from an earlier run without splits; this run wrote "
                f"only the split files (remove {output} so it is not taken for this run's)"
            ]
        return []
    old = [path for path in split_paths(output).values() if path.is_file()]
    if not old:
        return []
    folder = old[0].parent
    return [
        f"Warning: {folder}/ holds split files from an earlier run with splits; this run "
        f"wrote only {output} (remove {folder}/ so datasets.load_dataset does not read "
        "the old splits)"
    ]


def _parts(report: RunReport, splits: SplitOptions | None) -> RecordSplits | None:
    if splits is None:
        return None
    from .._runwrite import RecordSplits

    return RecordSplits.of(
        report.records, report.chunk_links, val_fraction=splits.val_fraction,
        test_fraction=splits.test_fraction, seed=splits.seed,
    )  # fmt: skip


def _splits_line(report: RunReport, sizes: dict[str, int], splits: SplitOptions) -> str:
    from .._finalize import SPLIT_FILE_NAMES

    asked = {"train": 1.0, "val": splits.val_fraction, "test": splits.test_fraction}
    written = [f"{SPLIT_FILE_NAMES[name]} {sizes[name]:,}" for name in sizes if sizes[name]]
    empty = [SPLIT_FILE_NAMES[name] for name in sizes if asked[name] and not sizes[name]]
    folder = next(iter(report.split_paths.values())).parent if report.split_paths else None
    text = f"Splits: {', '.join(written) or 'none written'}"
    if folder is not None:
        text += f" in {folder}/ (datasets.load_dataset({str(folder)!r}) loads them)"
    if empty:
        text += f"; {' and '.join(empty)} empty, not written (too few chunks for the fraction)"
    return text


def _provenance_rows(report: RunReport, parts: RecordSplits | None) -> Iterable[dict[str, Any]]:
    from .._finalize import SPLIT_FILE_NAMES, SPLIT_NAMES
    from .._formats import provenance

    if parts is None:
        for number, record in enumerate(report.records, start=1):
            yield {"line": number, **provenance(record)}
        return
    for name in SPLIT_NAMES:  # a pass over the records for each split
        for number, record in enumerate(parts.part(name), start=1):
            yield {"split": SPLIT_FILE_NAMES[name], "line": number, **provenance(record)}


def _write_report(
    path: Path,
    report: RunReport,
    options: dict[str, Any],
    system_prompt: str | None,
    chunks: Callable[[], Iterable[Chunk]],
) -> None:
    from .._html_report import write_html_report
    from .._report import QualityReport
    from .._writers import atomic_writer

    if not _is_html(path):
        with atomic_writer(path) as handle:
            json.dump(QualityReport.of(report).to_dict(), handle, ensure_ascii=False, indent=2)
            handle.write("\n")
        return
    write_html_report(
        path,
        records=report.records,
        rejections=report.rejections,
        failures=report.failures,
        stats=report.stats,
        chunks=chunks(),
        system_prompt=system_prompt,
        encoding=options["encoding"],
        title=f"Quality report: {report.output.name}",
    )


def check_lines(report: RunReport, options: dict[str, Any]) -> list[str]:
    """The one-line checks after a run: the training file priced, the others only checked."""
    from .._formats import is_parquet

    fmt = options["output_format"]
    if fmt != "openai" or is_parquet(report.output):
        kind = "Parquet" if is_parquet(report.output) else f"{fmt} JSONL"
        return [f"Check: not run (qasynth check reads OpenAI chat JSONL; this output is {kind})"]
    if not report.split_paths:
        return [check_line(report.output, encoding=options["encoding"])]
    return [
        check_line(path, encoding=options["encoding"], priced=name == "train")
        for name, path in report.split_paths.items()
    ]

"""Small charts for the HTML quality report: inline SVG and plain HTML, no scripts,
fonts or files.

The histogram and the chunk strips are ``<svg>`` elements with a ``viewBox`` so
they scale to the page width, a ``role="img"`` and a ``<title>`` for screen
readers, and ``<title>`` tooltips on their marks; the bar chart is HTML (see
:func:`bar_chart`). Text is escaped here; callers pass plain strings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Bar", "Cell", "bar_chart", "cell_strip", "histogram"]

_WIDTH = 480
_FONT = 'font-family="system-ui,sans-serif" font-size="12"'


@dataclass(frozen=True)
class Bar:
    """One labelled row of a bar chart, made of coloured segments (value, colour, name)."""

    label: str
    segments: Sequence[tuple[int, str, str]]


@dataclass(frozen=True)
class Cell:
    """One square of a strip: its colour, its tooltip and an optional mark inside."""

    colour: str
    tooltip: str
    mark: str = ""


def _svg(height: float, title: str, body: list[str]) -> str:
    return (
        f'<svg viewBox="0 0 {_WIDTH} {math.ceil(height)}" role="img" '
        f'preserveAspectRatio="xMinYMin meet" {_FONT}>'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def bar_chart(bars: Sequence[Bar], *, title: str) -> str:
    """Horizontal bars, one row per ``Bar``, segments stacked left to right.

    Built from HTML elements rather than SVG so that labels keep the page's text
    size and wrap on a phone; the widths are shares of the longest bar.
    """
    top = max((sum(v for v, _, _ in bar.segments) for bar in bars), default=0) or 1
    rows: list[str] = []
    for bar in bars:
        total = sum(value for value, _, _ in bar.segments)
        segments = "".join(
            f'<i style="width:{100 * value / top:.2f}%;background:{colour}" '
            f'title="{escape(f"{bar.label}: {value:,} {name}")}"></i>'
            for value, colour, name in bar.segments
            if value > 0
        )
        rows.append(
            f'<div class="bar"><span class="label" title="{escape(bar.label)}">'
            f'{escape(bar.label)}</span><span class="track">{segments}'
            f"<b>{total:,}</b></span></div>"
        )
    return f'<div class="bars" role="img" aria-label="{escape(title)}">{"".join(rows)}</div>'


def histogram(
    values: Sequence[int] | Mapping[int, int],
    *,
    limit: int | None,
    title: str,
    unit: str = "tokens",
) -> str:
    """Counts of ``values`` (or of a mapping from value to how often it occurs) in 20
    bins from 0, with a red line at ``limit`` when the limit is near enough to the
    values to be drawn on the same axis."""
    height, left, bottom = 190, 44, 46
    weighted = values.items() if isinstance(values, Mapping) else ((v, 1) for v in values)
    biggest = max(values, default=0)
    show_limit = limit is not None and biggest >= limit / 4
    axis = max(biggest, limit or 0) if show_limit else biggest
    axis = max(axis, 1)
    bins = 20
    step = math.ceil((axis + 1) / bins)
    counts = [0] * bins
    for value, times in weighted:
        counts[min(value // step, bins - 1)] += times
    tallest = max(counts) or 1
    plot_w, plot_h = _WIDTH - left - 10, height - bottom - 10
    body = [
        f'<line x1="{left}" y1="{10 + plot_h}" x2="{left + plot_w}" y2="{10 + plot_h}" '
        'stroke="#888"/>',
        f'<text x="{left - 6}" y="{10 + plot_h}" text-anchor="end">0</text>',
        f'<text x="{left - 6}" y="20" text-anchor="end">{tallest:,}</text>',
    ]
    bar_w = plot_w / bins
    for index, count in enumerate(counts):
        low, high = index * step, (index + 1) * step - 1
        x = left + index * bar_w
        h = plot_h * count / tallest
        tip = f"{count:,} examples with {low:,}–{high:,} {unit}"
        over = show_limit and limit is not None and low > limit
        body.append(
            f'<rect x="{x + 1:.1f}" y="{10 + plot_h - h:.1f}" width="{bar_w - 2:.1f}" '
            f'height="{h:.1f}" fill="{"#c62828" if over else "#3b6ea5"}">'
            f"<title>{escape(tip)}</title></rect>"
        )
    for tick in (0, bins // 2, bins):
        x = left + tick * bar_w
        anchor = "end" if tick == bins else "middle" if tick else "start"
        body.append(
            f'<text x="{x:.1f}" y="{height - 24}" text-anchor="{anchor}">{tick * step:,}</text>'
        )
    body.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" text-anchor="middle" '
        f'fill="#5f6b76">{escape(unit)} per example</text>'
    )
    body.append(
        f'<text x="12" y="{10 + plot_h / 2:.1f}" text-anchor="middle" fill="#5f6b76" '
        f'transform="rotate(-90 12 {10 + plot_h / 2:.1f})">examples</text>'
    )
    if show_limit and limit is not None:
        x = left + plot_w * min(limit / (bins * step), 1)
        body.append(
            f'<line x1="{x:.1f}" y1="6" x2="{x:.1f}" y2="{10 + plot_h}" stroke="#c62828" '
            f'stroke-width="2" stroke-dasharray="5 3"><title>limit {limit:,} {unit}</title></line>'
        )
        body.append(
            f'<text x="{x - 4:.1f}" y="18" text-anchor="end" fill="#c62828">limit {limit:,}</text>'
        )
    return _svg(height, title, body)


def cell_strip(cells: Sequence[Cell], *, title: str, per_row: int = 40) -> str:
    """Squares in reading order, ``per_row`` to a line: one per chunk of a document."""
    size, gap = 14, 2
    body: list[str] = []
    for index, cell in enumerate(cells):
        x = (index % per_row) * (size + gap)
        y = (index // per_row) * (size + gap)
        body.append(
            f'<rect x="{x}" y="{y}" width="{size}" height="{size}" rx="2" fill="{cell.colour}">'
            f"<title>{escape(cell.tooltip)}</title></rect>"
        )
        if cell.mark:
            body.append(
                f'<text x="{x + size / 2}" y="{y + 11}" text-anchor="middle" font-size="10" '
                f'fill="#fff" pointer-events="none">{escape(cell.mark)}</text>'
            )
    rows = max(1, math.ceil(len(cells) / per_row))
    height = rows * (size + gap)
    width = min(len(cells), per_row) * (size + gap)
    return (
        f'<svg viewBox="0 0 {max(width, 1)} {height}" width="{max(width, 1)}" '
        f'height="{height}" role="img" class="strip" {_FONT}><title>{escape(title)}</title>'
        f"{''.join(body)}</svg>"
    )

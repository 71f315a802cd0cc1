"""The evaluation as one self-contained HTML page: a bar chart and the wrong answers.

No external resources: the chart is inline SVG, the style and the table filter
are inline. Every text from the data is HTML-escaped.
"""

from __future__ import annotations

from html import escape

from ._eval_results import EvalResult, score_cell, ungraded_note

__all__ = ["render_html"]

_COLOURS = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#319795", "#718096")
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#1a202c}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #cbd5e0;padding:.3em .6em;
vertical-align:top;text-align:left;overflow-wrap:anywhere;min-width:6.5em}
th{background:#edf2f7;white-space:nowrap}td.n{text-align:right;white-space:nowrap}
input{padding:.3em;width:24em}.legend span{display:inline-block;margin-right:1em}
.legend i{display:inline-block;width:.8em;height:.8em;margin-right:.3em}
"""
_FILTER = """
document.getElementById('q').addEventListener('input',function(e){
var t=e.target.value.toLowerCase();
document.querySelectorAll('#wrong tbody tr').forEach(function(r){
r.style.display=r.textContent.toLowerCase().indexOf(t)<0?'none':''})});
"""


def _chart(result: EvalResult) -> str:
    kinds = result.kinds
    bar, gap, height, top = 22, 28, 200, 20
    group = max(bar * len(kinds) + gap, 180)  # room for a 28-character model label
    width = 50 + group * len(result.scores)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 70}" '
        'role="img" aria-label="accuracy per model and probe kind">'
    ]
    for pct in (0, 50, 100):
        y = top + height - height * pct / 100
        parts.append(f'<line x1="40" x2="{width}" y1="{y}" y2="{y}" stroke="#e2e8f0"/>')
        parts.append(f'<text x="34" y="{y + 4}" font-size="11" text-anchor="end">{pct}%</text>')
    for m, score in enumerate(result.scores):
        x0 = 50 + m * group
        for k, kind in enumerate(kinds):
            if kind not in score.by_kind:
                continue
            value = score.by_kind[kind]
            h = height * value
            x = x0 + k * bar
            colour = _COLOURS[k % len(_COLOURS)]
            parts.append(
                f'<rect x="{x}" y="{top + height - h:.1f}" width="{bar - 3}" height="{h:.1f}" '
                f'fill="{colour}"><title>{escape(score.model)} · {escape(kind)}: '
                f"{value:.0%} of {score.n_by_kind[kind]}</title></rect>"
            )
        label = escape(score.model if len(score.model) <= 28 else score.model[:27] + "…")
        parts.append(f'<text x="{x0}" y="{top + height + 16}" font-size="11">{label}</text>')
    parts.append("</svg>")
    legend = "".join(
        f'<span><i style="background:{_COLOURS[k % len(_COLOURS)]}"></i>{escape(kind)}</span>'
        for k, kind in enumerate(kinds)
    )
    return "".join(parts) + f'<div class="legend">{legend}</div>'


def _score_table(result: EvalResult) -> str:
    kinds = result.kinds
    head = "".join(f"<th>{escape(k)}</th>" for k in ["model", "all", *kinds])
    rows = []
    for s in result.scores:
        cells = [f"<td>{escape(s.model)}</td>", f'<td class="n">{score_cell(s.accuracy, s.n)}</td>']
        for kind in kinds:
            text = score_cell(s.by_kind[kind], s.n_by_kind[kind]) if kind in s.by_kind else "-"
            cells.append(f'<td class="n">{text}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _wrong_table(result: EvalResult) -> str:
    columns = ("model", "kind", "question", "expected", "answer")
    head = "".join(f"<th>{c}</th>" for c in columns)
    rows = [
        "<tr>" + "".join(f"<td>{escape(str(getattr(r, c)))}</td>" for c in columns) + "</tr>"
        for r in result.wrong()
    ]
    return f'<table id="wrong"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def render_html(result: EvalResult, *, title: str = "qasynth eval") -> str:
    """The whole page as a string."""
    wrong = len(result.wrong())
    note = ""
    if result.ungraded:
        note = f"<p><strong>{escape(ungraded_note(result.ungraded))}.</strong></p>"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f"<p>Grader: {escape(result.grader)}. Accuracy per model and probe kind: "
        "verbatim questions are the test questions as written; paraphrases and "
        "translations ask for the same facts in other words.</p>"
        f"{_chart(result)}{_score_table(result)}{note}"
        f"<h2>Wrong answers ({wrong})</h2>"
        '<p><input id="q" type="search" placeholder="Filter the wrong answers"></p>'
        f"{_wrong_table(result)}<script>{_FILTER}</script></body></html>\n"
    )

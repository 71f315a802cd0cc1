"""The quality report as one self-contained HTML page.

The page has no external scripts, styles, fonts or images, so it opens from
disk and as an e-mail attachment: charts are inline SVG and HTML (see ``_charts``), the
rejected-pairs table is filtered by a few lines of inline script (and can be
opened filtered with ``report.html#reason=NAME&q=TEXT``). It is built from
what a run already has: kept records, rejections with their evidence, failed
chunks, statistics, and (when given) every chunk's source and position, which
shows the sections of a document that gave no pairs.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path

from ._charts import Bar, Cell, bar_chart, cell_strip, histogram
from ._checktally import value_at
from ._errors import QasynthError
from ._llm import DEFAULT_MODEL
from ._pricing import count_example_tokens, model_price
from ._report import phrasings_per_fact
from ._report_data import SHOWN_DOCUMENTS, SHOWN_REJECTIONS, ChunkRef, ReportData
from ._schema import Chunk, ChunkFailure, QARecord, Rejection
from ._stats import Stats
from ._tokens import EncodingLike, resolve_encoding
from ._writers import atomic_writer, chat_example

__all__ = ["ChunkRef", "ReportData", "render_html", "write_html_report"]

logger = logging.getLogger("qasynth")

KEPT, REJECTED, FAILED, NOTHING = "#2e7d32", "#ef6c00", "#546e7a", "#f4b4ab"
_REASON_COLOURS = ("#ef6c00", "#d84315", "#f9a825", "#ad1457", "#6a1b9a", "#8d6e63")
_MAX_TABLE_ROWS = SHOWN_REJECTIONS
_MAX_STRIPS = SHOWN_DOCUMENTS
_MAX_BARS = 60


def write_html_report(
    path: str | Path,
    *,
    records: Sequence[QARecord],
    rejections: Sequence[Rejection] = (),
    failures: Sequence[ChunkFailure] = (),
    stats: Stats | None = None,
    chunks: Iterable[Chunk | ChunkRef] | None = None,
    system_prompt: str | None = None,
    encoding: EncodingLike | None = None,
    model: str = DEFAULT_MODEL,
    title: str | None = None,
) -> Path:
    """Write the HTML quality report, atomically.

    Tokens per example are counted as ``model`` (the model to fine-tune) counts
    them, with ``system_prompt`` included, against that model's per-example limit.
    """
    refs = (c if isinstance(c, ChunkRef) else ChunkRef.of(c) for c in chunks or ())
    data = ReportData(
        records=records,
        rejections=rejections,
        failures=failures,
        stats=stats or Stats(pairs_kept=len(records)),
        chunks=refs,
        title=title or f"Quality report: {Path(path).stem}",
    )
    price = model_price(model)
    data.token_limit = price.max_tokens_per_example if price else None
    try:
        enc = resolve_encoding(encoding, model=model)
        data.token_counts = Counter(
            count_example_tokens(chat_example(r.question, r.answer, system_prompt)["messages"], enc)
            for r in records
        )
        data.token_note = f"counted as {model} counts them" + (
            ", system prompt included" if system_prompt else ""
        )
    except QasynthError as exc:
        logger.warning("quality report: tokens not counted (%s)", exc)
        data.token_note = f"tokens not counted: {exc}"
    with atomic_writer(path) as handle:
        handle.write(render_html(data))
    return Path(path)


def render_html(data: ReportData) -> str:
    """The whole page as a string."""
    sections = [
        _summary(data),
        _section("Kept and rejected pairs", _outcome_chart(data)),
        _section("Tokens per example", _token_chart(data)),
        _section("Pairs per document", _documents_chart(data)),
        _section("Along each document", _strips(data)),
        _section("Rejected pairs", _rejections_table(data), anchor="rejected-pairs"),
    ]
    if data.failures:
        sections.append(_section("Failed chunks", _failures_table(data)))
    return _PAGE.format(
        title=escape(data.title), style=_STYLE, script=_SCRIPT, body="\n".join(sections)
    )


def _section(heading: str, body: str, *, anchor: str = "") -> str:
    ident = f' id="{anchor}"' if anchor else ""
    return f"<section{ident}><h2>{escape(heading)}</h2>{body}</section>"


def _summary(data: ReportData) -> str:
    s = data.stats
    rejected = len(data.rejections)
    cards = [
        ("pairs kept", f"{len(data.records):,}"),
        ("pairs rejected", f"{rejected:,}"),
        ("documents", f"{s.documents or data.documents.count:,}"),
        ("chunks", f"{s.chunks or data.documents.chunks:,}"),
        ("failed chunks", f"{len(data.failures):,}"),
        ("model calls", f"{s.model_calls + s.fix_calls:,}"),
        ("tokens in / out", f"{s.input_tokens:,} / {s.output_tokens:,}"),
    ]
    phrasings = phrasings_per_fact(data.records)
    if phrasings.get("max", 1) > 1:
        cards.append(
            ("phrasings per fact", f"{phrasings['median']:g} (min {phrasings['min']:g}, "
             f"max {phrasings['max']:g})")
        )  # fmt: skip
    items = "".join(
        f'<div class="card"><b>{escape(value)}</b><span>{escape(name)}</span></div>'
        for name, value in cards
    )
    return f'<header><h1>{escape(data.title)}</h1><div class="cards">{items}</div></header>'


def _reason_colours(data: ReportData) -> dict[str, str]:
    reasons = [reason for reason, _ in Counter(r.reason for r in data.rejections).most_common()]
    return {reason: _REASON_COLOURS[i % len(_REASON_COLOURS)] for i, reason in enumerate(reasons)}


def _outcome_chart(data: ReportData) -> str:
    counts = Counter(r.reason for r in data.rejections)
    colours = _reason_colours(data)
    bars = [Bar("kept", [(len(data.records), KEPT, "pairs kept")])]
    bars += [
        Bar(f"rejected: {reason}", [(count, colours[reason], "pairs rejected")])
        for reason, count in counts.most_common()
    ]
    total = len(data.records) + len(data.rejections)
    share = f"{len(data.records) / total:.0%} of {total:,} pairs kept" if total else "no pairs"
    note = f"<p>{share}."
    if data.failures:
        failed = len(data.failures)
        note += (
            f" {failed:,} chunk{'s' if failed > 1 else ''} failed and gave no pairs (see below)."
        )
    return note + "</p>" + bar_chart(bars, title="Kept and rejected pairs by reason")


def _token_chart(data: ReportData) -> str:
    counts = data.token_counts
    if not counts:
        return f"<p>{escape(data.token_note or 'No examples.')}</p>"
    ordered = sorted(counts)
    median = value_at(Counter(counts), ordered, sum(counts.values()) // 2)
    longest = ordered[-1]
    limit = data.token_limit
    text = f"Median {median:,}, longest {longest:,} tokens ({escape(data.token_note)})."
    if limit:
        over = sum(times for n, times in counts.items() if n > limit)
        text += f" Limit per example: {limit:,}; {over:,} over it."
        if longest < limit / 4:
            text += f" The longest uses {longest / limit:.1%} of it, so it is off the chart."
    chart = histogram(counts, limit=limit, title="Tokens per example")
    return f"<p>{text}</p>{chart}"


def _name(source: str) -> str:
    return Path(source).name or source


def _documents_chart(data: ReportData) -> str:
    docs = data.documents
    kept, rejected, documents = docs.kept, docs.rejected, docs.shown
    bars = [
        Bar(
            _name(source),
            [
                (sum(kept[c.id] for c in chunks), KEPT, "pairs kept"),
                (sum(rejected[c.id] for c in chunks), REJECTED, "pairs rejected"),
            ],
        )
        for source, chunks in documents[:_MAX_BARS]
    ]
    if not bars:
        return "<p>No documents.</p>" + _unseen_note(data)
    legend = _legend([(KEPT, "kept"), (REJECTED, "rejected")])
    more = docs.count - _MAX_BARS
    tail = f"<p>… and {more:,} more documents.</p>" if more > 0 else ""
    chart = bar_chart(bars, title="Kept and rejected pairs per document")
    return legend + chart + tail + _unseen_note(data)


def _unseen_note(data: ReportData) -> str:
    """What the page cannot draw without the run's chunks: documents that kept nothing
    (their rejections name chunks, not documents)."""
    unseen = data.stats.documents - data.stats.empty_documents - data.documents.count
    if unseen <= 0:
        return ""
    documents = "document" if unseen == 1 else "documents"
    return (
        f"<p>{unseen:,} {documents} kept no pair and {'is' if unseen == 1 else 'are'} not "
        "drawn: pass the run's chunks (<code>write_report(path, chunks=...)</code>, as the "
        "command does) to see every document.</p>"
    )


def _legend(items: Sequence[tuple[str, str]]) -> str:
    keys = "".join(
        f'<span><i style="background:{colour}"></i>{escape(name)}</span>' for colour, name in items
    )
    return f'<p class="legend">{keys}</p>'


def _cell(chunk: ChunkRef, kept: int, rejected: int, failed: bool) -> Cell:
    where = [f"chunk {chunk.index}"]
    if chunk.page is not None:
        where.append(f"page {chunk.page}")
    if chunk.headings:
        where.append(" › ".join(chunk.headings))
    outcome = "failed" if failed else f"{kept} kept, {rejected} rejected"
    tooltip = f"{' · '.join(where)}: {outcome}"
    if failed:
        return Cell(FAILED, tooltip, "×")
    if not kept:
        return Cell(NOTHING, tooltip)
    shade = "#a5d6a7" if kept <= 2 else "#66bb6a" if kept <= 5 else KEPT
    return Cell(shade, tooltip)


def _strips(data: ReportData) -> str:
    docs = data.documents
    kept, rejected, failed, documents = docs.kept, docs.rejected, docs.failed, docs.shown
    if not documents:
        return "<p>No chunks.</p>" + _unseen_note(data)
    parts = [
        "<p>One square per chunk, in reading order; hover or tap for its position.</p>",
        _legend(
            [
                ("#a5d6a7", "1–2 pairs"),
                ("#66bb6a", "3–5"),
                (KEPT, "6 or more"),
                (NOTHING, "no pairs kept"),
                (FAILED, "failed"),
            ]
        ),
    ]
    for source, chunks in documents[:_MAX_STRIPS]:
        cells = [_cell(c, kept[c.id], rejected[c.id], c.id in failed) for c in chunks]
        empty = [c for c in chunks if not kept[c.id]]
        note = f"{len(empty):,} of {len(chunks):,} chunks gave no pairs" if empty else ""
        if empty:
            shown = ", ".join(_where(c) for c in empty[:8])
            note += f": {shown}" + (", …" if len(empty) > 8 else "")
        parts.append(
            f'<div class="doc"><h3 title="{escape(source)}">{escape(_name(source))}</h3>'
            f"{cell_strip(cells, title=f'Chunks of {source}')}"
            f'<p class="note">{escape(note or "every chunk gave pairs")}</p></div>'
        )
    if docs.count > _MAX_STRIPS:
        parts.append(f"<p>… and {docs.count - _MAX_STRIPS:,} more documents.</p>")
    return "".join(parts) + _unseen_note(data)


def _where(chunk: ChunkRef) -> str:
    text = f"#{chunk.index}"
    if chunk.page is not None:
        text += f" (p. {chunk.page})"
    if chunk.headings:
        text += f" “{chunk.headings[-1]}”"
    return text


def _rejections_table(data: ReportData) -> str:
    if not data.rejections:
        return "<p>No pair was rejected.</p>"
    refs = data.documents.refs
    counts = Counter(r.reason for r in data.rejections)
    options = "".join(
        f'<option value="{escape(reason)}">{escape(reason)} ({count:,})</option>'
        for reason, count in counts.most_common()
    )
    rows = []
    for rejection in data.rejections[:_MAX_TABLE_ROWS]:
        ref = refs.get(rejection.chunk_id)
        where = f"{_name(ref.source)} {_where(ref)}" if ref else rejection.chunk_id
        cells = [
            ("Reason", rejection.reason),
            ("Question", rejection.question),
            ("Answer", rejection.answer),
            ("Evidence", rejection.detail or "—"),
            ("Chunk", where),
        ]
        tds = "".join(f'<td data-label="{k}">{escape(v)}</td>' for k, v in cells)
        rows.append(f'<tr data-reason="{escape(rejection.reason)}">{tds}</tr>')
    more = len(data.rejections) - _MAX_TABLE_ROWS
    tail = f"<p>The first {_MAX_TABLE_ROWS:,} are shown; {more:,} more.</p>" if more > 0 else ""
    heads = "".join(f"<th>{h}</th>" for h in ("Reason", "Question", "Answer", "Evidence", "Chunk"))
    return (
        '<div class="filters"><label>Reason <select id="reason"><option value="">all reasons'
        f"</option>{options}</select></label>"
        '<label>Contains <input id="search" type="search" placeholder="any text"></label>'
        f'<span class="count"><span id="shown">{len(rows):,}</span> of {len(rows):,} shown'
        "</span></div>"
        f'<table id="rejected"><thead><tr>{heads}</tr></thead><tbody>{"".join(rows)}'
        f"</tbody></table>{tail}"
    )


def _failures_table(data: ReportData) -> str:
    rows = "".join(
        "<tr>"
        f'<td data-label="Document">{escape(_name(f.source))}</td>'
        f'<td data-label="Chunk">{f.chunk_index}</td>'
        f'<td data-label="Reason">{escape(f.reason)}</td>'
        f'<td data-label="Attempts">{f.attempts}</td>'
        "</tr>"
        for f in data.failures[:_MAX_TABLE_ROWS]
    )
    return (
        "<table><thead><tr><th>Document</th><th>Chunk</th><th>Reason</th><th>Attempts</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


_STYLE = """
:root{color-scheme:light;--ink:#1d2329;--muted:#5f6b76;--line:#d9dee3;--bg:#fff;--soft:#f5f7f9}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);
background:var(--bg)}
main{max-width:1100px;margin:0 auto;padding:16px}
h1{font-size:1.5rem;margin:.2em 0 .6em;overflow-wrap:anywhere}
h2{font-size:1.2rem;margin:1.6em 0 .5em;border-bottom:1px solid var(--line);padding-bottom:.2em}
h3{font-size:.95rem;margin:.8em 0 .3em;overflow-wrap:anywhere}
svg{display:block;width:100%;max-width:600px;height:auto}
svg.strip{width:auto;max-width:100%}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(130px,1fr));gap:8px}
.card{background:var(--soft);border-radius:6px;padding:8px 10px}
.card b{display:block;font-size:1.25rem}
.card span{color:var(--muted);font-size:.85rem}
.bars{max-width:900px}
.bar{display:grid;grid-template-columns:minmax(6em,15em) 1fr;gap:10px;align-items:center;
margin:3px 0;font-size:.85rem}
.bar .label{text-align:right;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.track{display:flex;align-items:center;min-width:0}
.track i{display:block;height:16px;min-width:2px}
.track b{font-weight:400;margin-left:6px;white-space:nowrap}
.legend span{display:inline-flex;align-items:center;margin-right:14px;font-size:.85rem}
.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px}
.note{color:var(--muted);font-size:.85rem;margin:.2em 0 .8em}
.filters{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center;margin:.5em 0}
.filters select,.filters input{font:inherit;padding:4px 6px;max-width:100%}
.count{color:var(--muted)}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;vertical-align:top;padding:6px 8px;border-bottom:1px solid var(--line);
overflow-wrap:anywhere}
th{background:var(--soft);overflow-wrap:normal;white-space:nowrap}
td:first-child{white-space:nowrap}
@media (max-width:700px){
 main{padding:10px}
 thead{display:none}
 table,tbody,tr,td{display:block;width:100%}
 tr{border:1px solid var(--line);border-radius:6px;margin-bottom:8px;padding:4px 0}
 td{border:0;padding:2px 10px}
 td:first-child{white-space:normal;font-weight:600}
 td::before{content:attr(data-label) ": ";color:var(--muted);font-weight:400}
 .bar{grid-template-columns:1fr;gap:0}
 .bar .label{text-align:left}
}
"""

_SCRIPT = """
(function () {
  var reason = document.getElementById("reason");
  var search = document.getElementById("search");
  if (!reason || !search) return;
  var rows = document.querySelectorAll("#rejected tbody tr");
  var shown = document.getElementById("shown");
  function apply() {
    var want = reason.value, text = search.value.toLowerCase(), n = 0;
    for (var i = 0; i < rows.length; i++) {
      var ok = (!want || rows[i].getAttribute("data-reason") === want) &&
        (!text || rows[i].textContent.toLowerCase().indexOf(text) >= 0);
      rows[i].hidden = !ok;
      if (ok) n++;
    }
    shown.textContent = n.toLocaleString();
  }
  var params = new URLSearchParams(location.hash.slice(1));
  if (params.get("reason")) reason.value = params.get("reason");
  if (params.get("q")) search.value = params.get("q");
  reason.addEventListener("change", apply);
  search.addEventListener("input", apply);
  apply();
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="qasynth">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<main>
{body}
</main>
<script>{script}</script>
</body>
</html>
"""

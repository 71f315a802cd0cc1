"""Precision and recall of the model-free quality checks on the labelled sets.

    python benchmarks/bench_quality.py [--verbose]

- Stand-alone: ``tests/quality/standalone_labelled.json``; a flagged question is a
  positive; precision and recall of flagging dangling questions, per language.
- Grounding: ``tests/quality/grounding_labelled.json``; per language, the share
  of correct and reworded answers rejected, and of swapped-entity and wrong-number
  answers caught, with the question (how the pipeline calls it) and without.
- Language: ``tests/quality/language_samples.json``; per language, the share of
  texts accepted as that language (recall) and the share of texts of other
  languages rejected when that language is expected.

Also times grounding with a per-chunk analysis against analysing the chunk for
every pair.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

from qasynth._quality import (
    ChunkAnalysis,
    check_standalone,
    detect_language,
    grounding_score,
    matches_language,
)

DATA = Path(__file__).resolve().parent.parent / "tests" / "quality"
KINDS = ("correct", "reworded", "swapped", "wrong_number")


def _load(name: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = json.loads((DATA / name).read_text(encoding="utf-8"))["items"]
    return items


def bench_standalone(verbose: bool) -> None:
    print("## Stand-alone (flagging dangling questions)")
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # tp fp fn tn
    for item in _load("standalone_labelled.json"):
        lang, question, bad = str(item["lang"]), str(item["question"]), not item["standalone"]
        issues = check_standalone(question)
        flagged = bool(issues)
        index = {(True, True): 0, (True, False): 1, (False, True): 2, (False, False): 3}
        counts[lang][index[(flagged, bad)]] += 1
        if verbose and flagged != bad:
            why = f"{issues[0].rule}: {issues[0].match}" if issues else "-"
            print(f"  {'MISSED' if bad else 'FALSE '} [{lang}] {question}  ({why})")
    print("lang  questions  dangling  precision  recall  good flagged")
    for lang in sorted(counts):
        tp, fp, fn, tn = counts[lang]
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        print(
            f"{lang:4}  {tp + fp + fn + tn:9}  {tp + fn:8}  {precision:9.3f}  {recall:6.3f}"
            f"  {fp / (fp + tn) if fp + tn else 0:12.3f}"
        )


def _rejected(answer: str, chunk: str | ChunkAnalysis, question: str | None) -> bool:
    return not grounding_score(answer, chunk, question=question).supported()


def bench_grounding(verbose: bool) -> None:
    print("\n## Grounding (share rejected per answer kind)")
    rows: dict[tuple[str, bool], dict[str, list[int]]] = defaultdict(
        lambda: {kind: [0, 0] for kind in KINDS}
    )
    for item in _load("grounding_labelled.json"):
        lang, chunk = str(item["lang"]), str(item["chunk"])
        for pair in item["pairs"]:  # type: ignore[attr-defined]
            for kind in KINDS:
                if kind not in pair:
                    continue
                for with_question in (True, False):
                    question = pair["question"] if with_question else None
                    rejected = _rejected(pair[kind], chunk, question)
                    cell = rows[(lang, with_question)][kind]
                    cell[0] += rejected
                    cell[1] += 1
                    wrong = rejected == (kind in ("correct", "reworded"))
                    if verbose and with_question and wrong:
                        result = grounding_score(pair[kind], chunk, question=question)
                        print(f"  [{lang}] {kind}: {pair['question']} -> {pair[kind]}  {result}")
    print("lang  question  correct  reworded  swapped  wrong_number   (rejected / total)")
    for (lang, with_question), cells in sorted(rows.items()):
        shown = "  ".join(f"{c[0]:3}/{c[1]:<3} {c[0] / c[1]:4.0%}" for c in cells.values())
        print(f"{lang:4}  {'yes' if with_question else 'no ':8}  {shown}")


def bench_grounding_speed() -> None:
    item = _load("grounding_labelled.json")[0]
    chunk = " ".join([str(item["chunk"])] * 12)  # about a 2,000-token chunk
    pairs = item["pairs"] * 4  # type: ignore[operator]
    start = time.perf_counter()
    for pair in pairs:
        grounding_score(pair["correct"], ChunkAnalysis.of(chunk), question=pair["question"])
    per_pair_analysis = time.perf_counter() - start
    start = time.perf_counter()
    analysis = ChunkAnalysis.of(chunk)
    for pair in pairs:
        grounding_score(pair["correct"], analysis, question=pair["question"])
    shared = time.perf_counter() - start
    print(
        f"\n## Grounding speed ({len(pairs)} pairs, one {len(chunk):,}-character chunk)\n"
        f"analysed per pair: {per_pair_analysis * 1000:.1f} ms; analysed once: "
        f"{shared * 1000:.1f} ms ({per_pair_analysis / shared:.1f}x faster)"
    )


def bench_language(verbose: bool) -> None:
    print("\n## Language (auto detection and matching an expected language)")
    samples = _load("language_samples.json")
    langs = sorted({str(item["lang"]) for item in samples})
    print("lang  texts  detected  accepted  others rejected")
    for lang in langs:
        own = [str(item["text"]) for item in samples if item["lang"] == lang]
        others = [str(i["text"]) for i in samples if i["lang"] != lang and not i.get("short")]
        detected = sum(detect_language(text) in (lang, "und") for text in own)
        accepted = sum(matches_language(text, lang) for text in own)
        rejected = sum(not matches_language(text, lang) for text in others)
        print(
            f"{lang:4}  {len(own):5}  {detected / len(own):8.0%}  {accepted / len(own):8.0%}"
            f"  {rejected / len(others):15.0%}"
        )
        if verbose:
            for text in own:
                if not matches_language(text, lang):
                    print(f"  REJECTED [{lang}] {text} -> {detect_language(text)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="list every miss")
    args = parser.parse_args()
    bench_standalone(args.verbose)
    bench_grounding(args.verbose)
    bench_grounding_speed()
    bench_language(args.verbose)


if __name__ == "__main__":
    main()

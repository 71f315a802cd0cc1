"""Benchmark: MinHash/LSH near-duplicate grouping on 100k synthetic questions.

Not a test: prints figures. Run from the repository root:

    python benchmarks/bench_neardup.py            # 100,000 questions
    python benchmarks/bench_neardup.py --n 20000

Half the questions are English, half Japanese, made from templates whose slots
(years, competitions, teams, players, companies, cities) make many different
questions share a topic. Planted on top:

- ~10% near-duplicates by wording trivia: case, punctuation, extra or
  ideographic spaces, full-width letters and digits (the target of the index);
- ~2% light edits that are not trivia (an extra word such as "So," or a changed
  Japanese ending): reported separately, to show where the threshold bites.

Reports wall time for indexing and grouping, documents per second, the
all-pairs-equivalent comparison rate (n·(n−1)/2 pairs per wall second), peak RSS,
and pair-level precision and recall against the planted duplicates.
"""

from __future__ import annotations

import argparse
import itertools
import random
import resource
import time
from collections.abc import Callable

from qasynth._quality import NearDuplicateIndex, normalize, strip_punctuation


def words(text: str) -> list[str]:
    return text.split("|")


YEARS = [str(year) for year in range(1950, 2025)]
EN_COMPS = words(
    "FIFA World Cup|UEFA Champions League|Copa America|AFC Asian Cup|Africa Cup of Nations|"
    "CONCACAF Gold Cup|Club World Cup|Europa League|FA Cup|Copa del Rey|League Cup|"
    "Women's World Cup"
)
EN_STAGES = words("final|semi-final|quarter-final|group stage|round of 16")
EN_COUNTRIES = words(
    "Japan|Brazil|Germany|Spain|France|England|Argentina|Italy|Netherlands|Korea|Mexico|"
    "Nigeria|Ghana|Morocco|Portugal|Belgium|Croatia|Sweden|Norway|Denmark|Australia|Canada|"
    "Chile|Peru"
)
EN_FIRST = words(
    "Aiko|Ben|Carla|Diego|Elena|Felix|Greta|Hiro|Ines|Jonas|Kenji|Lucia|Marco|Nadia|Oscar|"
    "Paula|Rafael|Sara|Tomas|Yuki"
)
EN_LAST = words(
    "Abe|Berg|Costa|Diaz|Eriksen|Fujita|Garcia|Hansen|Ito|Jensen|Kato|Lopez|Moreau|Nakamura|"
    "Okafor|Perez|Rossi|Sato|Tanaka|Weber"
)
SYLLABLES = words("Nor|Zen|Kai|Vel|Tor|Lum|Ori|Sol|Mar|Quin|Ryu|Dax")
ENDINGS = words("tek|tron|ia|worx|soft|labs|ex|ora|dyne|gen")
EN_CITIES = words(
    "Osaka|Lyon|Porto|Leeds|Kobe|Turin|Bremen|Seville|Utrecht|Nagoya|Glasgow|Bilbao|Sapporo|"
    "Marseille|Gothenburg|Rotterdam"
)
EN_TEMPLATES = [
    "Which team won the {year} {comp} {stage}?",
    "Who scored the winning goal for {team} in the {year} {comp} {stage}?",
    "How many goals did {player} score for {team} during the {year} season?",
    "When did {company} release the {product} in {team}?",
    "What was the population of {city} in the {year} census?",
    "Which club did {player} join after leaving {team} in {year}?",
    "Who coached {team} when they reached the {stage} of the {year} {comp}?",
    "In which year did {company} open its first office in {city}?",
    "What did {player} say about {team} after the {year} {comp} {stage}?",
    "How many spectators attended the {year} {comp} {stage} in {city}?",
]

JA_COMPS = words(
    "FIFAワールドカップ|UEFAチャンピオンズリーグ|アジアカップ|コパ・アメリカ|天皇杯|"
    "Jリーグカップ|クラブワールドカップ|女子ワールドカップ|ヨーロッパリーグ|"
    "アフリカネイションズカップ"
)
JA_STAGES = words("決勝|準決勝|準々決勝|グループステージ|ラウンド16")
JA_COUNTRIES = words(
    "日本|ブラジル|ドイツ|スペイン|フランス|イングランド|アルゼンチン|イタリア|オランダ|"
    "韓国|メキシコ|ナイジェリア|ガーナ|モロッコ|ポルトガル|ベルギー|クロアチア|スウェーデン|"
    "豪州|カナダ"
)
JA_FIRST = words("タケシ|ハルカ|ケンジ|ミサキ|ダイキ|ユウナ|ショウタ|アヤカ")
JA_LAST = words("ヤマダ|スズキ|タカハシ|ナカムラ|コバヤシ|ワタナベ|イトウ|サトウ")
JA_SYLLABLES = words("ノル|ゼン|カイ|ヴェル|トール|ルミ|オリ|ソル|マル|リュウ")
JA_ENDINGS = words("テック|トロン|ソフト|ラボ|ワークス|ダイン|ジェン|システムズ")
JA_CITIES = words("東京|大阪|名古屋|札幌|福岡|神戸|京都|仙台|広島|横浜")
JA_TEMPLATES = [
    "{year}年の{comp}{stage}で優勝したチームはどこですか？",
    "{year}年の{comp}{stage}で{team}の決勝ゴールを決めたのは誰ですか？",
    "{player}選手は{year}年シーズンに{team}で何ゴールを記録しましたか？",
    "{company}が{team}で{product}を発売したのはいつですか？",
    "{year}年の国勢調査による{city}の人口は何人ですか？",
    "{player}選手が{year}年に{team}を退団した後に移籍したクラブはどこですか？",
    "{team}が{year}年の{comp}で{stage}に進出した時の監督は誰ですか？",
    "{company}が{city}に最初のオフィスを開設したのは何年ですか？",
    "{player}選手は{year}年の{comp}{stage}の後、{team}について何と語りましたか？",
    "{year}年の{comp}{stage}を{city}で観戦した観客は何人ですか？",
]


def english(rng: random.Random) -> str:
    return rng.choice(EN_TEMPLATES).format(
        year=rng.choice(YEARS),
        comp=rng.choice(EN_COMPS),
        stage=rng.choice(EN_STAGES),
        team=rng.choice(EN_COUNTRIES),
        city=rng.choice(EN_CITIES),
        player=f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}",
        company=rng.choice(SYLLABLES) + rng.choice(ENDINGS),
        product=f"{rng.choice(SYLLABLES)} {rng.choice('XSMQ')}{rng.randint(1, 99)}",
    )


def japanese(rng: random.Random) -> str:
    return rng.choice(JA_TEMPLATES).format(
        year=rng.choice(YEARS),
        comp=rng.choice(JA_COMPS),
        stage=rng.choice(JA_STAGES),
        team=rng.choice(JA_COUNTRIES),
        city=rng.choice(JA_CITIES),
        player=f"{rng.choice(JA_FIRST)}・{rng.choice(JA_LAST)}",
        company=rng.choice(JA_SYLLABLES) + rng.choice(JA_ENDINGS),
        product=f"{rng.choice(JA_SYLLABLES)}{rng.choice('XSMQ')}{rng.randint(1, 99)}",
    )


def full_width(text: str, rng: random.Random) -> str:
    return "".join(
        chr(ord(c) + 0xFEE0) if "!" <= c <= "~" and rng.random() < 0.7 else c for c in text
    )


def extra_spaces(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    glue = rng.choice(["  ", "   ", " \t", "\u3000"])
    return (" " if rng.random() < 0.5 else "") + glue.join(words) + " "


def japanese_spaces(text: str, rng: random.Random) -> str:
    """A space between two characters that are not both digits (never "20 23")."""
    cuts = [i for i in range(1, len(text)) if not (text[i - 1].isdigit() and text[i].isdigit())]
    cut = rng.choice(cuts)
    return text[:cut] + rng.choice([" ", "\u3000", "  "]) + text[cut:]


def punctuation(text: str, rng: random.Random) -> str:
    options = [
        lambda t: t.rstrip("?？"),
        lambda t: t.rstrip("?？") + " ?",
        lambda t: t.rstrip("?？") + "??",
        lambda t: t.replace(",", "").replace("、", ""),
        lambda t: t.replace(" ", ", ", 1) if " " in t else t + "。",
        lambda t: f"「{t}」" if rng.random() < 0.5 else f'"{t}"',
    ]
    return rng.choice(options)(text)


def case(text: str, rng: random.Random) -> str:
    return rng.choice([str.lower, str.upper, str.title, str.swapcase])(text)


TRIVIA_EN: list[Callable[[str, random.Random], str]] = [case, punctuation, extra_spaces, full_width]
TRIVIA_JA: list[Callable[[str, random.Random], str]] = [
    case,
    punctuation,
    japanese_spaces,
    full_width,
]


def trivia_variant(text: str, is_japanese: bool, rng: random.Random) -> str:
    changes = TRIVIA_JA if is_japanese else TRIVIA_EN
    variant = text
    while normalize(variant) == normalize(text):
        for change in rng.sample(changes, rng.randint(1, 3)):
            variant = change(variant, rng)
    return variant


def light_edit(text: str, is_japanese: bool, rng: random.Random) -> str:
    if is_japanese:
        if text.endswith("ですか？"):
            return text[: -len("ですか？")] + "でしょうか？"
        return "ところで、" + text
    return rng.choice(["So, ", "And ", "Tell me: "]) + text[0].lower() + text[1:]


def corpus(n: int, seed: int) -> tuple[list[str], dict[int, int], dict[int, int]]:
    """Texts, plus {variant index: base index} for trivia and for light edits."""
    rng = random.Random(seed)
    n_trivia, n_light = n // 10, n // 50
    n_base = n - n_trivia - n_light
    texts: list[str] = []
    seen: set[str] = set()
    while len(texts) < n_base:
        text = japanese(rng) if len(texts) % 2 else english(rng)
        key = strip_punctuation(normalize(text))
        if key not in seen:
            seen.add(key)
            texts.append(text)
    bases = rng.sample(range(n_base), n_trivia + n_light)
    trivia, light = {}, {}
    for count, base in enumerate(bases):
        is_japanese = base % 2 == 1
        if count < n_trivia:
            trivia[len(texts)] = base
            texts.append(trivia_variant(texts[base], is_japanese, rng))
        else:
            light[len(texts)] = base
            texts.append(light_edit(texts[base], is_japanese, rng))
    order = list(range(len(texts)))
    rng.shuffle(order)
    position = {old: new for new, old in enumerate(order)}
    shuffled = [texts[old] for old in order]
    return (
        shuffled,
        {position[v]: position[b] for v, b in trivia.items()},
        {position[v]: position[b] for v, b in light.items()},
    )


def evaluate(groups: list[list[int]], planted: dict[int, int]) -> tuple[int, int]:
    """(pairs inside the groups, planted pairs inside one group), without listing pairs."""
    group_of = {key: number for number, group in enumerate(groups) for key in group}
    inside = sum(len(group) * (len(group) - 1) // 2 for group in groups)
    hits = sum(1 for a, b in planted.items() if a in group_of and group_of.get(b) == group_of[a])
    return inside, hits


def unplanted_examples(
    groups: list[list[int]], planted: dict[int, int], limit: int
) -> list[tuple[int, int]]:
    truth = {frozenset(pair) for pair in planted.items()}
    examples: list[tuple[int, int]] = []
    for group in groups:
        for a, b in itertools.combinations(group[:50], 2):
            if frozenset((a, b)) not in truth and len(examples) < limit:
                examples.append((a, b))
    return examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threshold", type=float, default=0.85)
    parser.add_argument("--num-perm", type=int, default=64)
    args = parser.parse_args()

    texts, trivia, light = corpus(args.n, args.seed)
    index = NearDuplicateIndex(threshold=args.threshold, num_perm=args.num_perm)
    started = time.perf_counter()
    for key, text in enumerate(texts):
        index.add(key, text)
    indexed = time.perf_counter()
    groups = index.groups()
    finished = time.perf_counter()

    wall = finished - started
    n = len(texts)
    inside, trivia_hits = evaluate(groups, trivia)
    _, light_hits = evaluate(groups, light)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"texts: {n:,} ({len(trivia):,} trivia variants, {len(light):,} light edits)")
    print(f"banding: {index.bands} bands x {index.rows} rows of {index.num_perm} minhashes")
    print(f"index build: {indexed - started:.2f} s ({n / (indexed - started):,.0f} texts/s)")
    print(f"grouping:    {finished - indexed:.2f} s")
    print(f"wall:        {wall:.2f} s")
    print(f"all-pairs equivalent: {n * (n - 1) / 2 / wall:,.0f} pairs/s")
    print(f"groups: {len(groups):,}; pairs inside groups: {inside:,}; peak RSS {peak_mb:,.0f} MB")
    print(f"precision (vs all planted): {(trivia_hits + light_hits) / max(1, inside):.4f}")
    print(f"recall, trivia:      {trivia_hits / len(trivia):.4f}")
    print(f"recall, light edits: {light_hits / max(1, len(light)):.4f}")
    for a, b in unplanted_examples(groups, {**trivia, **light}, 5):
        print(f"  unplanted pair (J~{index.similarity(a, b):.2f}): {texts[a]!r} / {texts[b]!r}")


if __name__ == "__main__":
    main()

"""Near-duplicate detection with MinHash signatures and LSH banding, in pure Python.

How a text becomes a signature:

1. Shingles. The text is normalised (NFKC, case-folded, numbers canonical,
   punctuation removed), so case, width, punctuation and spacing never matter.
   It is cut into units: words for space-delimited text;
   for Japanese, runs of one script (hiragana, katakana, Han, other), which
   approximate word boundaries ("2023|年|の|fifa|女子|ワールドカップ|で|優勝|した");
   for Chinese and Thai, characters. Shingles are ``ngram``-grams of units
   (``char_ngram``-grams for characters), with n−1 start and end markers so a
   change at the edge of a short question weighs as much as one in the middle.

   Why not plain character n-grams for Japanese: on the benchmark's questions
   that differ only in a year or a name ("1974年の…" / "1975年の…"), one-character
   changes leave ~85% of 5-grams shared, and connected components then chain a
   whole template together (on 20,000 benchmark questions, pair precision 0.44
   with padded character 5-grams against 0.99 with script runs).
2. Each shingle is hashed once with CRC-32.
3. ``num_perm`` universal hash functions ``h_i(x) = (a_i·x + b_i) mod p`` with
   the Mersenne prime ``p = 2³¹ − 1`` are evaluated for all i at once: the a_i
   and b_i are packed into one big Python integer, 64 bits per slot, so one
   multiplication and addition computes every ``a_i·x + b_i`` (each < 2⁶⁴, so
   no slot overflows into the next), two masked shift-and-add folds reduce every
   slot modulo p (congruent, at most 5 above the fully reduced value: still a
   fixed function of x), and a branch-free slot-wise minimum keeps the running
   minima. The minima are kept as one integer with 31-bit values in 32-bit
   slots. This is about six times faster than a loop over the hash functions.

Candidates and verification. The signature is cut into ``bands`` bands of
``rows`` values; texts sharing a band are candidates, and every candidate pair
is verified: the fraction of equal signature positions (the MinHash estimate of
Jaccard similarity) must reach the threshold. Equal positions are counted with
integer tricks too (XOR, a borrow per slot, ``int.bit_count``).

Choice of bands and rows. A verified pair differs in at most
``m = num_perm − ceil(threshold·num_perm)`` positions, so with more than ``m``
bands at least one band has no difference: with ``bands > m`` banding misses no
pair that verification would accept. ``rows`` is the largest value with that
property (defaults 64 and 0.85: m = 9, 10 bands of 6 rows). At low thresholds
that would mean one-row bands and a flood of candidates, so ``rows`` is never
below the largest value that still makes a pair of exactly the threshold
Jaccard a candidate with probability ≥ 0.99 (``1 − (1 − t^rows)^bands``); at
0.5 that gives 32 bands of 2 rows.

Groups are the connected components of verified pairs, so a chain A≈B≈C is one
group even when A and C alone would not pass.

Large buckets. Questions made from one template ("How many goals did {player}
score for {team} in {year}?") share the template's words, so at millions of
questions some bands put tens of thousands of mostly unalike questions in one
bucket, and comparing every pair there is quadratic. A bucket with more than
``_SMALL_BUCKET`` distinct signatures is therefore indexed by blocks of signature
positions (see ``_candidates``), and a member is compared only with the latest
``_BLOCK_WINDOW`` members that share a block's values with it. The cost per member
is bounded, so grouping stays linear. The price is recall on a pair that is similar
only through block values more than ``_BLOCK_WINDOW`` other members share, far
apart in a single bucket and in no other band: on the 200,000 and 1,000,000
questions of ``benchmarks/bench_neardup.py`` the groups are the same as when
every candidate is compared.
"""

from __future__ import annotations

import functools
import random
import re
import zlib
from array import array
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from ._unionfind import UnionFind
from .language import detect_language, is_unspaced
from .text import has_unspaced_letters, normalize, normalize_numbers, strip_punctuation

__all__ = ["NearDuplicateIndex", "find_near_duplicates"]

_PRIME = (1 << 31) - 1
_SLOT_BITS = 64
_CANDIDATE_RECALL = 0.99
_START, _END = "\x02", "\x03"
_HIRAGANA = "\u3041-\u309f"
_KATAKANA = "\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff"
_HAN = "\u3005-\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_SCRIPT_RUNS = re.compile(
    f"[{_HIRAGANA}]+|[{_KATAKANA}]+|[{_HAN}]+|[^{_HIRAGANA}{_KATAKANA}{_HAN}]+"
)
_NO_SIGNATURE = -1
_SMALL_BUCKET = 64
"""Buckets up to this many distinct signatures compare every pair (see ``_candidates``)."""
_BLOCK_WINDOW = 64
"""In a larger bucket, the most recent members sharing a block's values that a member
is compared with (see ``_candidates``)."""
_UINT32 = next(code for code in "IL" if array(code).itemsize == 4)


class _Links(Protocol):
    """The union-find :meth:`NearDuplicateIndex.link_similar` links in."""

    def find(self, item: int) -> int: ...

    def union(self, a: int, b: int) -> object: ...


class _MinHasher:
    """Evaluates ``num_perm`` hash functions on a shingle hash in one go (see module doc)."""

    def __init__(self, num_perm: int, seed: int) -> None:
        rng = random.Random(seed)
        self.num_perm = num_perm
        self._a = _pack((rng.randrange(1, _PRIME) for _ in range(num_perm)), 64)
        self._b = _pack((rng.randrange(0, _PRIME) for _ in range(num_perm)), 64)
        ones = _pack([1] * num_perm, 64)
        self._low31 = ones * _PRIME
        self._low33 = ones * ((1 << 33) - 1)
        self._low3 = ones * 7
        self._flag = ones << 33
        self._ones = ones
        self._slot_mask = (1 << 34) - 1

    def signature(self, hashes: Iterable[int]) -> int:
        """The minimum of each hash function over ``hashes`` (not empty), 32 bits a slot."""
        a, b, low31, low33, low3 = self._a, self._b, self._low31, self._low33, self._low3
        flag, ones, slot_mask = self._flag, self._ones, self._slot_mask
        best = -1
        for x in hashes:
            value = x * a + b
            value = (value & low31) + ((value >> 31) & low33)
            value = (value & low31) + ((value >> 31) & low3)
            if best < 0:
                best = value
            else:
                # Per slot, bit 33 of (best + 2^33 - value) is set when best >= value.
                keep_new = ((((best | flag) - value) >> 33) & ones) * slot_mask
                best ^= (best ^ value) & keep_new
        wide = (best & low31).to_bytes(self.num_perm * 8, "little")
        narrow = array(_UINT32, memoryview(wide).cast("Q")).tobytes()
        return int.from_bytes(narrow, "little")


def _pack(values: Iterable[int], bits: int) -> int:
    packed = 0
    for slot, value in enumerate(values):
        packed |= value << (bits * slot)
    return packed


def _agreements_needed(threshold: float, num_perm: int) -> int:
    """The smallest number of equal signature positions whose fraction reaches the threshold."""
    needed = int(threshold * num_perm)
    return needed if needed / num_perm >= threshold else needed + 1


def _choose_bands(num_perm: int, threshold: float) -> tuple[int, int]:
    """(bands, rows); see "Choice of bands and rows" in the module doc."""
    mismatches = num_perm - _agreements_needed(threshold, num_perm)
    exact = max(rows for rows in range(1, num_perm + 1) if num_perm // rows > mismatches)
    likely = 1
    for rows in range(num_perm, 0, -1):
        if 1.0 - (1.0 - threshold**rows) ** (num_perm // rows) >= _CANDIDATE_RECALL:
            likely = rows
            break
    rows = max(exact, likely)
    return num_perm // rows, rows


class NearDuplicateIndex:
    """Collects texts under integer keys and groups the near-duplicates among them.

    >>> index = NearDuplicateIndex()
    >>> index.add(1, "Who won the 2023 FIFA Women's World Cup?")
    >>> index.add(2, "who won the 2023 fifa women's world cup")
    >>> index.add(3, "Who hosted the 2023 FIFA Women's World Cup?")
    >>> index.groups()
    [[1, 2]]
    """

    def __init__(
        self,
        threshold: float = 0.85,
        num_perm: int = 64,
        ngram: int = 3,
        seed: int = 1,
        *,
        char_ngram: int = 5,
    ) -> None:
        _check_options(threshold, num_perm, min(ngram, char_ngram))
        self.threshold = threshold
        self.num_perm = num_perm
        self.ngram = ngram
        self.char_ngram = char_ngram
        self.bands, self.rows = _choose_bands(num_perm, threshold)
        self._hasher = _MinHasher(num_perm, seed)
        self._allowed = num_perm - _agreements_needed(threshold, num_perm)
        ones = _pack([1] * num_perm, 32)
        self._ones, self._flags = ones, ones << 31
        self._keys: list[int] = []
        self._index: dict[int, int] = {}
        self._signatures: list[int] = []  # _NO_SIGNATURE for a text without words
        self._buckets: list[dict[int, int | list[int]]] = [{} for _ in range(self.bands)]

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def add(self, key: int, text: str) -> None:
        """Index ``text`` under ``key`` (unique). A text with no words is never a duplicate."""
        if key in self._index:
            raise ValueError(f"key {key!r} was already added; give every text its own key")
        position = len(self._keys)
        self._index[key] = position
        self._keys.append(key)
        signature = self.signature(text)
        if signature is None:
            self._signatures.append(_NO_SIGNATURE)
            return
        self._signatures.append(signature)
        raw = signature.to_bytes(self.num_perm * 4, "little")
        width = self.rows * 4
        for band, buckets in enumerate(self._buckets):
            bucket_key = hash(raw[band * width : (band + 1) * width])
            members = buckets.setdefault(bucket_key, position)
            if isinstance(members, list):
                members.append(position)
            elif members != position:
                buckets[bucket_key] = [members, position]

    def signature(self, text: str) -> int | None:
        """The MinHash signature of ``text`` (``num_perm`` 32-bit slots in one integer),
        or ``None`` for a text with no words. Indexing does not change it."""
        hashes = self._shingle_hashes(text)
        return self._hasher.signature(hashes) if hashes else None

    def similar_signatures(self, first: int, second: int) -> bool:
        """Whether two signatures agree in enough positions to reach the threshold."""
        return self._mismatches(first, second) <= self._allowed

    def similarity(self, a: int, b: int) -> float:
        """The estimated Jaccard similarity of the shingles of two added texts."""
        first, second = self._signatures[self._index[a]], self._signatures[self._index[b]]
        if _NO_SIGNATURE in (first, second):
            return 0.0
        return 1.0 - self._mismatches(first, second) / self.num_perm

    def _mismatches(self, first: int, second: int) -> int:
        """Signature positions that differ: per 32-bit slot, subtracting 1 from
        ``2^31 + (first XOR second)`` clears bit 31 only where the XOR is 0."""
        flags = self._flags
        return ((((first ^ second) | flags) - self._ones) & flags).bit_count()

    def groups(self) -> list[list[int]]:
        """Keys of near-duplicate texts: each group sorted, groups sorted; singletons
        are left out."""
        links = UnionFind(len(self._keys))
        for buckets in self._buckets:
            for members in buckets.values():
                if isinstance(members, list):
                    self._link_bucket(members, links)
        keys = self._keys
        found = [sorted(keys[i] for i in part) for part in links.components() if len(part) > 1]
        return sorted(found)

    def _link_bucket(self, members: list[int], links: UnionFind) -> None:
        """Verify the pairs of one bucket that are not yet in one group."""
        signatures = self._signatures
        self.link_similar([(item, signatures[item]) for item in members], links)

    def link_similar(self, members: list[tuple[int, int]], links: _Links) -> None:
        """Link in ``links`` the members (item, signature) of one bucket whose signatures
        are similar, comparing only the pairs that can be (in a bucket of at most
        ``_SMALL_BUCKET`` distinct signatures, the result is as if every pair not yet in
        one group were compared; see "Large buckets" in the module doc for larger)."""
        find = links.find
        # A text whose signature equals an earlier one's is its duplicate and matches
        # exactly what that one matches (which is compared with every later member):
        # link the two and compare only distinct signatures. Template-like questions
        # fill huge buckets with equal signatures; this keeps them near-linear.
        distinct: list[tuple[int, int]] = []
        first_with: dict[int, int] = {}
        for item, signature in members:
            twin = first_with.setdefault(signature, item)
            if twin != item:
                links.union(twin, item)
            else:
                distinct.append((item, signature))
        flags, ones, allowed = self._flags, self._ones, self._allowed
        for position, candidates in self._candidates(distinct):
            item, signature = distinct[position]
            root = find(item)
            for other, other_signature in (distinct[i] for i in candidates):
                differing = (((signature ^ other_signature) | flags) - ones) & flags
                if differing.bit_count() <= allowed and find(other) != root:
                    links.union(other, item)
                    root = find(item)

    def _candidates(self, distinct: list[tuple[int, int]]) -> Iterator[tuple[int, Iterable[int]]]:
        """(position, earlier positions it may be similar to) for each member.

        In a small bucket that is every earlier member. A large one (the members of a
        common band of template questions, mostly unalike) is indexed by ``allowed + 1``
        disjoint blocks of signature positions: two signatures with at most
        ``allowed`` differing positions agree on a whole block (pigeonhole), so only
        members that share a block's values can be similar. The blocks are strided,
        so each holds about one position of the bucket's own band.

        Of the members sharing one block's values, only the latest ``_BLOCK_WINDOW``
        are candidates, which bounds the work per member. Values shared by more
        members than that are the template's own words; near-duplicates also share
        the blocks their filled-in words decide, whose values few members share, and
        usually other bands too (see "Large buckets" in the module doc)."""
        masks = self._block_masks
        if len(distinct) <= _SMALL_BUCKET or not masks:
            for position in range(1, len(distinct)):
                yield position, range(position)
            return
        tables: list[dict[int, deque[int]]] = [{} for _ in masks]
        for position, (_, signature) in enumerate(distinct):
            found: set[int] = set()
            for table, mask in zip(tables, masks, strict=True):
                key = signature & mask
                earlier = table.get(key)
                if earlier is None:
                    table[key] = deque((position,), _BLOCK_WINDOW)
                else:
                    found.update(earlier)
                    earlier.append(position)
            if found:
                yield position, sorted(found)

    @functools.cached_property
    def _block_masks(self) -> tuple[int, ...]:
        """One mask a block of :meth:`_candidates` (none when blocks would be empty)."""
        blocks = self._allowed + 1
        if blocks > self.num_perm:
            return ()
        slots = range(self.num_perm)
        return tuple(
            _pack([0xFFFFFFFF if slot % blocks == block else 0 for slot in slots], 32)
            for block in range(blocks)
        )

    def _shingle_hashes(self, text: str) -> set[int]:
        clean = strip_punctuation(normalize(normalize_numbers(text)))
        if not clean:
            return set()
        units, n = self._units(clean)
        padded = [_START] * (n - 1) + units + [_END] * (n - 1)
        return {
            zlib.crc32(" ".join(padded[i : i + n]).encode()) for i in range(len(padded) - n + 1)
        }

    def _units(self, clean: str) -> tuple[list[str], int]:
        # Only a text with Han, kana or Thai letters can be in a language written
        # without spaces; asking the language model about the others (most of them)
        # costs more than the rest of the signature.
        if not has_unspaced_letters(clean):
            return clean.split(" "), self.ngram
        lang = detect_language(clean)
        if not is_unspaced(lang):
            return clean.split(" "), self.ngram
        joined = clean.replace(" ", "")
        if lang == "ja":
            return _SCRIPT_RUNS.findall(joined), self.ngram
        return list(joined), self.char_ngram


def _check_options(threshold: float, num_perm: int, ngram: int) -> None:
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}; 0.85 is a good start")
    if num_perm < 2:
        raise ValueError(f"num_perm must be at least 2, got {num_perm!r}; 64 is a good start")
    if ngram < 1:
        raise ValueError(f"ngram and char_ngram must be at least 1, got {ngram!r}")


def find_near_duplicates(
    texts: Sequence[str], *, threshold: float = 0.85, num_perm: int = 64, ngram: int = 3
) -> list[list[int]]:
    """Indices of near-duplicate texts, grouped (each group sorted, groups sorted)."""
    index = NearDuplicateIndex(threshold=threshold, num_perm=num_perm, ngram=ngram)
    for position, text in enumerate(texts):
        index.add(position, text)
    return index.groups()

"""Similarity and alignment of one pattern against the state: engine.md §7, §8 and §12.1-§12.2.

The similarity *value* is the true LCS (rapidfuzz), while matches and the past/present/future cut come from
difflib's greedy block matcher without junk, exactly as the reference does; the two can disagree (§7 note).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz
from rapidfuzz.distance import LCSseq

from kato.engine.knowledge import Events


def token_similarity(pattern: Sequence[str], state: Sequence[str]) -> float:
    """`((2·lcs/(|p|+|S|))·100)/100`, in that order: the round trip is part of the reference's value."""
    lcs = LCSseq.similarity(pattern, state)
    return ((2.0 * lcs / (len(pattern) + len(state))) * 100.0) / 100.0


def character_similarity(pattern: Sequence[str], state: Sequence[str]) -> float:
    """Indel similarity of the space-joined symbols (rapidfuzz's ratio), divided by 100."""
    a, b = " ".join(pattern), " ".join(state)
    total = len(a) + len(b)
    if total == 0:
        return 100.0 / 100
    distance = total - 2 * LCSseq.similarity(a, b)
    return ((1 - distance / total) * 100) / 100


class StateMatcher:
    """difflib's greedy block matcher without junk (§8.1), with the state as the indexed second sequence.

    The same algorithm as `difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()`: with no
    junk and no popularity pruning its match-extension steps never fire, which leaves the longest-run search
    (ties to the smallest i, then the smallest j) applied recursively left and right. Written out here because
    the prediction path runs it per candidate group and difflib's object overhead dominated.
    """

    __slots__ = ("_positions", "state")

    def __init__(self, state: Sequence[Hashable]) -> None:
        self.state = list(state)
        positions: dict[Hashable, list[int]] = {}
        for j, symbol in enumerate(self.state):
            positions.setdefault(symbol, []).append(j)
        self._positions = positions

    def _longest(self, a: Sequence[Hashable], alo: int, ahi: int, blo: int, bhi: int) -> tuple[int, int, int]:
        positions = self._positions
        best_i, best_j, best_k = alo, blo, 0
        run: dict[int, int] = {}
        for i in range(alo, ahi):
            next_run: dict[int, int] = {}
            for j in positions.get(a[i], ()):
                if j < blo:
                    continue
                if j >= bhi:
                    break
                k = next_run[j] = run.get(j - 1, 0) + 1
                if k > best_k:
                    best_i, best_j, best_k = i - k + 1, j - k + 1, k
            run = next_run
        return best_i, best_j, best_k

    def blocks(self, pattern: Sequence[Hashable]) -> list[tuple[int, int, int]]:
        """Greedy matching blocks (i, j, k) of pattern against state, in position order."""
        found: list[tuple[int, int, int]] = []
        pending = [(0, len(pattern), 0, len(self.state))]
        while pending:
            alo, ahi, blo, bhi = pending.pop()
            i, j, k = self._longest(pattern, alo, ahi, blo, bhi)
            if k:
                found.append((i, j, k))
                if alo < i and blo < j:
                    pending.append((alo, i, blo, j))
                if i + k < ahi and j + k < bhi:
                    pending.append((i + k, ahi, j + k, bhi))
        found.sort()
        merged: list[tuple[int, int, int]] = []
        for i, j, k in found:
            if merged and merged[-1][0] + merged[-1][2] == i and merged[-1][1] + merged[-1][2] == j:
                pi, pj, pk = merged[-1]
                merged[-1] = (pi, pj, pk + k)
            else:
                merged.append((i, j, k))
        return merged

    def matched_count(self, pattern: Sequence[Hashable]) -> int:
        return sum(k for _, _, k in self.blocks(pattern))


class Alignment:
    """The event fields of one prediction (engine.md §8.2-§8.4), built lazily: the ensemble metrics read matches,
    missing, present and future of every candidate, but past and extras only of the predictions returned."""

    __slots__ = ("_cache", "anomalies", "e1", "e2", "events", "extras_count", "matches", "nblocks", "stm")

    def __init__(
        self, events: Events, stm: Events, e1: int, e2: int, matches: list[str], nblocks: int, extras_count: int,
        anomalies: list[dict] | None = None,
    ) -> None:
        self.events = events
        self.stm = stm
        self.e1 = e1
        self.e2 = e2
        self.matches = matches
        self.nblocks = nblocks
        self.extras_count = extras_count  # e_flat: the flat count SNR uses
        self.anomalies = anomalies if anomalies is not None else []
        self._cache: dict[str, list] = {}

    @property
    def past(self) -> list[list[str]]:
        return [list(e) for e in self.events[: self.e1]]

    @property
    def present(self) -> list[list[str]]:
        return [list(e) for e in self.events[self.e1:self.e2]]

    @property
    def future(self) -> list[list[str]]:
        future = self._cache.get("future")
        if future is None:
            future = self._cache["future"] = [list(e) for e in self.events[self.e2:]]
        return future

    @property
    def present_flat(self) -> list[str]:
        flat = self._cache.get("present_flat")
        if flat is None:
            flat = self._cache["present_flat"] = [s for e in self.events[self.e1:self.e2] for s in e]
        return flat

    @property
    def missing(self) -> list[list[str]]:
        missing = self._cache.get("missing")
        if missing is None:
            matched = set(self.matches)
            missing = self._cache["missing"] = [
                [s for s in e if s not in matched] for e in self.events[self.e1:self.e2]
            ]
        return missing

    @property
    def extras(self) -> list[list[str]]:
        present = set(self.present_flat)
        return [[s for s in e if s not in present] for e in self.stm]

    def scalars(self, length: int) -> tuple[float, float, float, float]:
        present = sum(len(e) for e in self.events[self.e1:self.e2])
        return alignment_scalars(len(self.matches), length, present, self.extras_count, self.nblocks)


def _cut_events(lengths: Sequence[int], past_len: int, present_len: int) -> tuple[int, int]:
    """e1, e2 of §8.3: the first event boundaries at or after the flat past and past+present lengths."""
    cum, e1 = 0, None
    total = past_len + present_len
    for t, size in enumerate(lengths):
        if e1 is None and cum >= past_len:
            e1 = t
        if e1 is not None and cum >= total:
            return e1, t
        cum += size
    return (len(lengths) if e1 is None else e1), len(lengths)


def fragmentation_term(fragmentation: float) -> float:
    """`1/(f+1)`, and 0 for the -1 of a pattern with no matching block (§9.8)."""
    return 0 if fragmentation == -1 else 1 / (fragmentation + 1)


def alignment_scalars(
    matches: int, length: int, present: int, extras: int, nblocks: int
) -> tuple[float, float, float, float]:
    """(evidence, confidence, fragmentation, snr) of §8.5 from the counts of an alignment."""
    return (
        matches / length if length else 0,
        matches / present if present else 0,
        float(nblocks - 1),
        (2 * matches - extras) / (2 * matches + extras) if (2 * matches + extras) else 0,
    )


def pre_potential(scalars: tuple[float, float, float, float]) -> float:
    """The top-K pruning key of §9: `(evidence + confidence)·snr + f(fragmentation)`."""
    evidence, confidence, fragmentation, snr = scalars
    return (evidence + confidence) * snr + fragmentation_term(fragmentation)


@dataclass(frozen=True, slots=True)
class Shape:
    """The alignment of one projection (engine.md §8.2-§8.3): shared by every pattern with that projection and
    those event lengths. Positions refer to the state; event indices to the pattern."""

    match_positions: tuple[int, ...]
    nblocks: int
    cut: int  # e1 before the boundary fix
    e1: int  # present = events[e1:e2], after the membership-based boundary fix
    e2: int
    present_len: int
    extras_count: int  # e_flat, the flat count SNR uses

    def scalars(self, length: int) -> tuple[float, float, float, float]:
        return alignment_scalars(len(self.match_positions), length, self.present_len, self.extras_count, self.nblocks)


def shape_of(
    projection: Sequence[int], lengths: Sequence[int], matcher: StateMatcher, recall_threshold: float
) -> Shape | None:
    """Align a projected pattern with the projected state; None where the reference drops the pattern (no exact
    block at a threshold above 0)."""
    blocks = matcher.blocks(projection)
    if blocks:
        past_len = blocks[0][0]
        last_i, _, last_k = blocks[-1]
        present_end = last_i + last_k
        positions = tuple(j + t for _, j, k in blocks for t in range(k))
    elif recall_threshold > 0:
        return None
    else:
        past_len, present_end, positions = 0, len(projection), ()
    extras_count = len(matcher.state) - matcher.matched_count(projection[past_len:present_end])
    cut, e2 = _cut_events(lengths, past_len, present_end - past_len)
    e1 = cut
    if cut > 0 and positions:
        first = matcher.state[positions[0]]
        start = sum(lengths[: cut - 1])
        if first in projection[start:start + lengths[cut - 1]]:
            e1 = cut - 1
    return Shape(positions, len(blocks), cut, e1, e2, sum(lengths[e1:e2]), extras_count)


def _fuzzy_matches(
    pattern: Sequence[str], state: Sequence[str], threshold: float
) -> tuple[list[str], list[dict], int]:
    """§12.1: each state token's best fuzzy partner among the pattern's tokens (first wins ties)."""
    cutoff = threshold * 100
    matches: list[str] = []
    anomalies: list[dict] = []
    unmatched = 0
    for observed in state:
        best, best_score = None, -1.0
        for token in pattern:
            score = 100.0 if token == observed else fuzz.ratio(observed, token)
            if score >= cutoff and score > best_score:
                best, best_score = token, score
        if best is None:
            unmatched += 1
            continue
        matches.append(observed)
        if best != observed:
            anomalies.append({"observed": observed, "expected": best, "similarity": best_score / 100})
    return matches, anomalies, unmatched


def fuzzy_alignment(
    events: Events, pattern: Sequence[str], shape: Shape, stm: Events, state: Sequence[str], threshold: float
) -> Alignment:
    """§12.1: blocks and the event cut stay exact; matches, anomalies and the SNR count come from fuzzy partners,
    and the boundary fix tests the first *fuzzy* match, as the reference does."""
    matches, anomalies, unmatched = _fuzzy_matches(pattern, state, threshold)
    e1 = shape.cut
    if e1 > 0 and matches and matches[0] in events[e1 - 1]:
        e1 -= 1
    return Alignment(events, stm, e1, shape.e2, matches, shape.nblocks, unmatched, anomalies)

"""Similarity and alignment of one pattern against the state: engine.md §7, §8 and §12.1-§12.2.

The similarity *value* is the true LCS (rapidfuzz), while matches and the past/present/future cut come from
difflib's greedy block matcher without junk, exactly as the reference does; the two can disagree (§7 note).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import NamedTuple

from rapidfuzz import fuzz
from rapidfuzz.distance import LCSseq

from kato.engine.knowledge import BoundedMemo, Events


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


class Shape(NamedTuple):
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
    projection: Sequence[int], lengths: Sequence[int], matcher: StateMatcher, keep_unmatched: bool
) -> Shape | None:
    """Align a projected pattern with the projected state; None where the reference drops the pattern (no exact
    block, unless the recall threshold is 0)."""
    blocks = matcher.blocks(projection)
    if blocks:
        past_len = blocks[0][0]
        last_i, _, last_k = blocks[-1]
        present_end = last_i + last_k
        positions = tuple(j + t for _, j, k in blocks for t in range(k))
    elif not keep_unmatched:
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


class Layout(NamedTuple):
    """An alignment as positions (engine.md §8.3-§8.5): what turns into wire lists once the symbols are known.

    It depends only on the projection, the event lengths, the projected state and the STM's event sizes, so every
    pattern of a candidate group shares it, and equal projections share it across requests.
    """

    e1: int
    e2: int
    cut: int  # e1·2³² + e2, the key of a pattern's memoized cut (`PatternRecord.derived`): an int hashes for free
    start: int  # the flat present is symbols[start:stop]
    stop: int
    missing_at: tuple[tuple[int, ...], ...]  # per present event: flat pattern positions of the missing symbols
    # the same as slices of the flat pattern when every event's missing symbols are adjacent (else None), so a
    # response builds `missing` without a Python loop
    missing_slices: tuple[slice, ...] | None
    missing_key: str  # "missing" + repr(missing_at): the key of a pattern's memoized `missing` wire lists
    extras_at: tuple[tuple[int, ...], ...]  # per STM event: state positions of the extras
    evidence: float
    confidence: float
    fragmentation: float
    snr: float
    fterm: float  # fragmentation_term(fragmentation)
    core: float  # (evidence + confidence)·snr: the potential is core + itfdf + fterm, the pruning key core + fterm


def layout_of(
    projection: Sequence[int], lengths: Sequence[int], state_ids: Sequence[int], stm_lengths: Sequence[int],
    matched: set[int], e1: int, e2: int, nblocks: int, extras_count: int, match_count: int,
) -> Layout:
    """The layout of an alignment whose matches have the state ids `matched` (§8.4): a pattern symbol is in
    `matches` exactly when its projection is one of them, and a state symbol is in the flat present exactly
    when its id is in the present's projection."""
    start = sum(lengths[:e1])
    stop = start
    missing_at = []
    for size in lengths[e1:e2]:
        missing_at.append(tuple(q for q in range(stop, stop + size) if projection[q] not in matched))
        stop += size
    present_ids = set(projection[start:stop])
    extras_at = []
    offset = 0
    for size in stm_lengths:
        extras_at.append(tuple(j for j in range(offset, offset + size) if state_ids[j] not in present_ids))
        offset += size
    evidence, confidence, fragmentation, snr = alignment_scalars(
        match_count, len(projection), stop - start, extras_count, nblocks
    )
    missing_slices: tuple[slice, ...] | None = tuple(
        slice(at[0], at[-1] + 1) if at else slice(0, 0) for at in missing_at
    )
    if any(len(at) != s.stop - s.start for at, s in zip(missing_at, missing_slices, strict=True)):
        missing_slices = None
    missing = tuple(missing_at)
    return Layout(e1, e2, (e1 << 32) + e2, start, stop, missing, missing_slices, f"missing{missing!r}",
                  tuple(extras_at), evidence,
                  confidence, fragmentation, snr, fragmentation_term(fragmentation), (evidence + confidence) * snr)


class GroupAlignment(NamedTuple):
    """Everything about one projection's alignment that does not depend on the symbols themselves."""

    shape: Shape
    similarity: float  # token-mode similarity (§7)
    pre: float  # the top-K pruning key (§9)
    layout: Layout


def group_alignment(
    state_ids: tuple[int, ...], stm_lengths: tuple[int, ...], projection: tuple[int, ...], lengths: tuple[int, ...],
    keep_unmatched: bool,
) -> GroupAlignment | None:
    """The alignment of one projection against the projected state, or None where the pattern is dropped.

    A pure function of its arguments. State ids are canonical (first-appearance indices of the state's distinct
    symbols), so the same (state, projection) pairs recur across requests, and aligning them in Python cost more
    than all the numpy work of a request: the prediction path memoizes the results in the view's `AlignmentMemo`.
    """
    shape = shape_of(projection, lengths, StateMatcher(state_ids), keep_unmatched)
    if shape is None:
        return None
    matched = {state_ids[j] for j in shape.match_positions}
    layout = layout_of(projection, lengths, state_ids, stm_lengths, matched, shape.e1, shape.e2, shape.nblocks,
                       shape.extras_count, len(shape.match_positions))
    return GroupAlignment(
        shape, token_similarity(projection, state_ids), pre_potential(shape.scalars(len(projection))), layout
    )


class AlignmentMemo(BoundedMemo):
    """`group_alignment` results by (state key, projection, event lengths), None included; see `alignment_key`.

    Owned by a knowledge view's per-process caches (`alignment_memo()`), never by the engine: the values depend
    only on the key, not on the knowledge, so one memo serves every version of a node (a working set is a few
    hundred keys per node).
    """

    __slots__ = ()


def state_key(state_ids: tuple[int, ...], stm_lengths: tuple[int, ...], keep_unmatched: bool) -> str:
    """The request-wide part of an `AlignmentMemo` key, as a string: a string caches its hash, a tuple does not,
    and the memo is read once per candidate group."""
    return repr((state_ids, stm_lengths, keep_unmatched))


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
    events: Events, pattern: Sequence[str], shape: Shape, state: Sequence[str], threshold: float
) -> tuple[list[str], list[dict], int, int]:
    """§12.1: (matches, anomalies, e_flat, e1). Blocks and the event cut stay exact; matches, anomalies and the
    SNR count come from fuzzy partners, and the boundary fix tests the first *fuzzy* match, as the reference does."""
    matches, anomalies, unmatched = _fuzzy_matches(pattern, state, threshold)
    e1 = shape.cut
    if e1 > 0 and matches and matches[0] in events[e1 - 1]:
        e1 -= 1
    return matches, anomalies, unmatched, e1

"""Similarity and alignment of one pattern against the state: engine.md §7, §8 and §12.1-§12.2.

The similarity *value* is the true LCS (rapidfuzz), while matches and the past/present/future cut come from
difflib's greedy block matcher without junk, exactly as the reference does; the two can disagree (§7 note).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

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
    """A difflib matcher with the state as its second sequence, so the state's index is built once per request."""

    __slots__ = ("_matcher", "state")

    def __init__(self, state: Sequence[str]) -> None:
        self.state = list(state)
        self._matcher = SequenceMatcher(None, autojunk=False)
        self._matcher.set_seq2(self.state)

    def blocks(self, pattern: Sequence[str]) -> list[tuple[int, int, int]]:
        """Greedy matching blocks (i, j, k) of pattern against state, in position order, without the sentinel."""
        self._matcher.set_seq1(pattern)
        return [(b.a, b.b, b.size) for b in self._matcher.get_matching_blocks()[:-1]]

    def matched_count(self, pattern: Sequence[str]) -> int:
        return sum(k for _, _, k in self.blocks(pattern))


@dataclass(slots=True)
class Alignment:
    """The event fields of one prediction (engine.md §8.2-§8.4) and the counts the metrics need."""

    matches: list[str]
    past: list[list[str]]
    present: list[list[str]]
    future: list[list[str]]
    missing: list[list[str]]
    extras: list[list[str]]
    present_flat: list[str]
    anomalies: list[dict]
    nblocks: int
    extras_count: int  # e_flat: the flat count SNR uses


def _cut_events(events: Events, past_len: int, present_len: int) -> tuple[int, int]:
    """e1, e2 of §8.3: the first event boundaries at or after the flat past and past+present lengths."""
    cum, e1 = 0, None
    total = past_len + present_len
    for t, event in enumerate(events):
        if e1 is None and cum >= past_len:
            e1 = t
        if e1 is not None and cum >= total:
            return e1, t
        cum += len(event)
    return (len(events) if e1 is None else e1), len(events)


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


def align(
    events: Events,
    pattern: Sequence[str],
    stm: Events,
    matcher: StateMatcher,
    recall_threshold: float,
    fuzzy_threshold: float = 0.0,
) -> Alignment | None:
    """Align a pattern with the state; None when the reference drops it (no exact block at a threshold > 0)."""
    state = matcher.state
    blocks = matcher.blocks(pattern)
    if blocks:
        first_i = blocks[0][0]
        last_i, _, last_k = blocks[-1]
        past_len, present_flat = first_i, pattern[first_i:last_i + last_k]
        matches = [s for _, j, k in blocks for s in state[j:j + k]]
    elif recall_threshold > 0:
        return None
    else:
        past_len, present_flat, matches = 0, list(pattern), []
    anomalies: list[dict] = []
    if fuzzy_threshold:
        matches, anomalies, extras_count = _fuzzy_matches(pattern, state, fuzzy_threshold)
    else:
        extras_count = len(state) - matcher.matched_count(present_flat)
    e1, e2 = _cut_events(events, past_len, len(present_flat))
    past = [list(e) for e in events[:e1]]
    present = [list(e) for e in events[e1:e2]]
    future = [list(e) for e in events[e2:]]
    if past and matches and matches[0] in past[-1]:
        present.insert(0, past.pop())
    present_symbols = [s for e in present for s in e]
    present_set = set(present_symbols)
    matched_set = set(matches)
    return Alignment(
        matches=matches,
        past=past,
        present=present,
        future=future,
        missing=[[s for s in e if s not in matched_set] for e in present],
        extras=[[s for s in e if s not in present_set] for e in stm],
        present_flat=present_symbols,
        anomalies=anomalies,
        nblocks=len(blocks),
        extras_count=extras_count,
    )

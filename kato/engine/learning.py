"""What a learn writes (engine.md §4), computed as values; the store applies them, the engine never writes.

A learn is split in two pure steps so that concurrent learners never lose an increment:
- `plan_learn` depends only on the session (its STM and accumulators) and can run anywhere;
- `resolve` turns a plan into the exact write-set *given the stored record as read inside the write
  transaction* (new vs existing pattern), so the store can call it under LMDB's writer lock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kato.engine.knowledge import Counters, Events, PatternRecord
from kato.engine.naming import pattern_name


def average_emotives(emotives: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Per-key mean over the dicts holding the key, keys in first-appearance order (engine.md §9.5)."""
    sums: dict[str, list[float]] = {}
    for entry in emotives:
        for key, value in entry.items():
            sums.setdefault(key, []).append(value)
    return {key: float(sum(values) / len(values)) for key, values in sums.items()}


def accumulate_metadata(entries: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, ...]]:
    """For each key, the sorted distinct Python `str()` of its values (engine.md §4.3)."""
    seen: dict[str, set[str]] = {}
    for entry in entries:
        for key, value in entry.items():
            seen.setdefault(key, set()).add(str(value))
    return {key: tuple(sorted(values)) for key, values in seen.items()}


def merge_metadata(
    stored: Mapping[str, Sequence[str]], new: Mapping[str, Sequence[str]]
) -> dict[str, tuple[str, ...]]:
    keys = list(stored) + [key for key in new if key not in stored]
    return {key: tuple(sorted(set(stored.get(key, ())) | set(new.get(key, ())))) for key in keys}


@dataclass(frozen=True, slots=True)
class LearnPlan:
    """A learn as the session asks for it. `name` is None when the STM held fewer than 2 symbols.

    Every plan, with or without a pattern, also indexes the node's pending vectors (engine.md §4.1).
    """

    name: str | None
    events: Events
    emotives: tuple[Mapping[str, float], ...] = ()
    metadata: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    persistence: int = 5

    @property
    def length(self) -> int:
        return sum(len(event) for event in self.events)

    @property
    def pattern_ref(self) -> str:
        """The external name, `PTRN|<sha1>`, or "" when nothing is stored (the learn endpoint's answer)."""
        return "PTRN|" + self.name if self.name else ""


def plan_learn(
    events: Events,
    emotives: Sequence[Mapping[str, float]] = (),
    metadata: Sequence[Mapping[str, Any]] = (),
    persistence: int = 5,
) -> LearnPlan:
    """Plan the learn of `events`: a pattern only if they hold at least 2 symbols (engine.md §4.1)."""
    total = sum(len(event) for event in events)
    if total < 2:
        return LearnPlan(name=None, events=events, persistence=persistence)
    return LearnPlan(
        name=pattern_name(events),
        events=events,
        emotives=tuple(emotives),
        metadata=accumulate_metadata(metadata),
        persistence=persistence,
    )


@dataclass(frozen=True, slots=True)
class WriteSet:
    """Everything one learn changes in a node's knowledge base; deltas are added to the stored values."""

    pattern: PatternRecord
    is_new: bool
    symbol_frequency: Mapping[str, int]
    pattern_member_frequency: Mapping[str, int]
    counters: Counters
    affinity: Mapping[str, Mapping[str, float]]


def _symbol_counts(events: Events) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in events:
        for symbol in event:
            counts[symbol] = counts.get(symbol, 0) + 1
    return counts


def resolve(plan: LearnPlan, existing: PatternRecord | None) -> WriteSet | None:
    """The write-set of `plan` against the stored record (None when the plan stores no pattern)."""
    if plan.name is None:
        return None
    keep = plan.persistence
    counts = _symbol_counts(plan.events)
    length = plan.length
    if existing is None:
        record = PatternRecord(
            name=plan.name,
            events=plan.events,
            length=length,
            frequency=1,
            emotives=tuple(plan.emotives[-keep:]),
            metadata=dict(plan.metadata),
        )
        pmf = dict.fromkeys(counts, 1)
        counters = Counters(length, 1, 1)
    else:
        emotives = existing.emotives
        if plan.emotives:
            emotives = (tuple(existing.emotives) + plan.emotives)[-keep:]
        metadata = existing.metadata
        if plan.metadata:
            metadata = merge_metadata(existing.metadata, plan.metadata)
        record = PatternRecord(
            name=existing.name,
            events=existing.events,
            length=existing.length,
            frequency=existing.frequency + 1,
            emotives=emotives,
            metadata=metadata,
            finalized=existing.finalized,
        )
        pmf = {}
        counters = Counters(length, 0, 0)
    affinity: dict[str, dict[str, float]] = {}
    if plan.emotives:
        averages = average_emotives(plan.emotives)
        affinity = {symbol: dict(averages) for symbol in counts}
    return WriteSet(
        pattern=record,
        is_new=existing is None,
        symbol_frequency=counts,
        pattern_member_frequency=pmf,
        counters=counters,
        affinity=affinity,
    )

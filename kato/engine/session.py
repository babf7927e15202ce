"""The session operations of engine.md §2-§3: observe (with auto-learn), learn, clear.

Each takes a `SessionState` and returns a new one plus what the knowledge base must record; none of them writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from kato.engine.knowledge import Event, Events, KnowledgeView
from kato.engine.learning import LearnPlan, average_emotives, plan_learn
from kato.engine.naming import sum_vectors, vector_name
from kato.engine.state import Percept, SessionState

DEFAULT_STM_CAP = 1000
NEAREST_VECTORS = 3


class ObservationError(ValueError):
    """An observation the engine cannot turn into an event (vectors that do not broadcast together)."""


class EmptySTMError(ValueError):
    """A manual learn of an empty STM (the API answers 400 "Cannot learn from empty STM")."""


@dataclass(frozen=True, slots=True)
class Observation:
    strings: Sequence[str] = ()
    vectors: Sequence[Sequence[float]] = ()
    emotives: Mapping[str, float] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PendingVector:
    """A percept vector to queue on the node; it is indexed for nearest-neighbour search at the next learn."""

    name: str
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class ObserveOutcome:
    state: SessionState
    event: Event | None
    vector: PendingVector | None
    learned: LearnPlan | None

    @property
    def auto_learned_pattern(self) -> str | None:
        return "PTRN|" + self.learned.name if self.learned and self.learned.name else None


def _vector_symbols(vectors: Sequence[Sequence[float]], kb: KnowledgeView) -> tuple[list[str], PendingVector]:
    try:
        total = sum_vectors(vectors)
    except ValueError as exc:
        raise ObservationError(str(exc)) from exc
    own = vector_name(total)
    values = tuple(float(x) for x in total)
    names = [own]
    for name in kb.nearest_vectors(values, NEAREST_VECTORS):
        if name not in names:
            names.append(name)
    return names, PendingVector(own, values)


def make_event(strings: Sequence[str], vector_symbols: Sequence[str], sort_symbols: bool) -> Event:
    """`sorted(vector symbols) + sorted(strings)`: the two groups are never merged (engine.md §2.3)."""
    if sort_symbols:
        return (*sorted(vector_symbols), *sorted(strings))
    return (*vector_symbols, *strings)


def auto_learn(stm: Events, max_pattern_length: int, stm_mode: str) -> tuple[Events, Events | None]:
    """The auto-learn rule of engine.md §3: returns (STM after, events to learn or None)."""
    m, n = max_pattern_length, len(stm)
    if m <= 0 or n < m:
        return stm, None
    if n > 1 and stm_mode == "ROLLING":
        w = m - 1
        restore = stm[-w:] if n > w else stm[1:]  # w == 0 keeps the whole STM, like Python's x[-0:]
        return restore, stm
    return (), stm


def _capped(items: tuple, cap: int) -> tuple:
    return items[-cap:] if len(items) > cap else items


def observe(
    state: SessionState, observation: Observation, kb: KnowledgeView | None, stm_cap: int = DEFAULT_STM_CAP
) -> ObserveOutcome:
    """One observation (engine.md §2): event, auto-learn, accumulators, time, percept.

    Only vectors read the knowledge base (their nearest indexed vectors), so `kb` may be None for an observation
    without vectors: opening a view costs a read transaction, more than the rest of the observation.
    """
    config = state.config
    stm = state.stm
    event: Event | None = None
    pending: PendingVector | None = None
    learned: LearnPlan | None = None
    if observation.strings or observation.vectors:
        vector_symbols: list[str] = []
        if observation.vectors:
            if kb is None:
                raise ValueError("an observation with vectors needs a view of the knowledge base")
            vector_symbols, pending = _vector_symbols(observation.vectors, kb)
        event = make_event(observation.strings, vector_symbols, config.sort_symbols)
        stm = (*stm, event)
        stm, to_learn = auto_learn(stm, config.max_pattern_length, config.stm_mode)
        if to_learn is not None:
            # Auto-learned patterns never receive the session's emotives or metadata (engine.md §4.5).
            learned = plan_learn(to_learn, persistence=config.persistence)
    emotives = state.emotives
    if observation.emotives:
        emotives = _capped((*emotives, dict(observation.emotives)), stm_cap)
    metadata = state.metadata
    if observation.metadata:
        metadata = _capped((*metadata, dict(observation.metadata)), stm_cap)
    percept = Percept(
        strings=tuple(sorted(observation.strings)),
        vectors=tuple(tuple(v) for v in observation.vectors) if observation.vectors else (),
        metadata=dict(observation.metadata),
    )
    # Every field given (not dataclasses.replace, which costs as much as the rest of an observation).
    new_state = SessionState(config=config, stm=_capped(stm, stm_cap), emotives=emotives, metadata=metadata,
                             time=state.time + 1, percept=percept)
    return ObserveOutcome(state=new_state, event=event, vector=pending, learned=learned)


def learn(state: SessionState) -> tuple[SessionState, LearnPlan]:
    """Manual learn (engine.md §4.1, §4.5): the whole STM, with the whole accumulators, which stay as they are."""
    if not state.stm:
        raise EmptySTMError("Cannot learn from empty STM")
    plan = plan_learn(state.stm, state.emotives, state.metadata, state.config.persistence)
    return replace(state, stm=()), plan


def clear_stm(state: SessionState) -> SessionState:
    """Reset STM, accumulators, time and percept; the config stays."""
    return SessionState(config=state.config)


def percept_data(state: SessionState) -> dict[str, Any]:
    """The wire form of api.md §4.2 step 7 ({} before any observation)."""
    if state.percept is None:
        return {}
    return {
        "strings": list(state.percept.strings),
        "vectors": [list(v) for v in state.percept.vectors],
        "emotives": average_emotives(state.emotives),
        "path": [],
        "metadata": dict(state.percept.metadata),
    }

"""Small drivers that play the API's role in engine tests: observe, then apply what the engine asks for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kato.engine.config import EngineConfig
from kato.engine.session import Observation, ObserveOutcome, learn, observe
from kato.engine.state import SessionState


def new_session(**config: Any) -> SessionState:
    return SessionState(config=EngineConfig(**config))


def do_observe(
    kb: Any,
    state: SessionState,
    strings: Sequence[str] = (),
    vectors: Sequence[Sequence[float]] = (),
    emotives: Mapping[str, float] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> tuple[SessionState, ObserveOutcome]:
    outcome = observe(state, Observation(strings, vectors, emotives or {}, metadata or {}), kb)
    if outcome.vector is not None:
        kb.queue_vector(outcome.vector)
    if outcome.learned is not None:
        kb.learn(outcome.learned)
    return outcome.state, outcome


def do_learn(kb: Any, state: SessionState) -> tuple[SessionState, str]:
    state, plan = learn(state)
    kb.learn(plan)
    return state, plan.pattern_ref


def learn_events(kb: Any, events: Sequence[Sequence[str]], **config: Any) -> str:
    state = new_session(**config)
    for event in events:
        state, _ = do_observe(kb, state, event)
    _, name = do_learn(kb, state)
    return name

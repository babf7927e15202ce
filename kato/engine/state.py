"""A session's short-term state as a plain immutable value.

Nothing in the engine keeps a session between calls: every operation takes a `SessionState` and returns a new one,
so two sessions of one node cannot see each other's STM however they interleave (the bug in seeds/).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kato.engine.config import EngineConfig
from kato.engine.knowledge import Events


@dataclass(frozen=True, slots=True)
class Percept:
    """The last observation as perceived (api.md §4.2 step 7); emotives are averaged when it is rendered."""

    strings: tuple[str, ...]
    vectors: tuple[tuple[float, ...], ...]
    metadata: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SessionState:
    """STM, accumulators, time counter, last percept and effective config of one session."""

    config: EngineConfig = field(default_factory=EngineConfig)
    stm: Events = ()
    emotives: tuple[Mapping[str, float], ...] = ()
    metadata: tuple[Mapping[str, Any], ...] = ()
    time: int = 0
    percept: Percept | None = None

    def flat_stm(self) -> list[str]:
        return [symbol for event in self.stm for symbol in event]

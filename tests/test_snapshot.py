"""The snapshot encoder, with its cached config JSON, writes exactly the bytes of a full encoding."""

from __future__ import annotations

import random
import time
from dataclasses import replace

from kato import jsonio
from kato.engine.config import EngineConfig
from kato.engine.state import Percept, SessionState
from kato.sessions import Session, decode, encode
from kato.snapshot import _document, config_to_dict


def _full(session: Session) -> bytes:
    state = session.state
    return jsonio.dumps(_document(session, state, config_to_dict(state.config), state.stm, state.emotives,
                                  state.metadata))


def test_bytes_equal_a_full_encoding_through_appends_drops_clears_and_config_changes() -> None:
    rng = random.Random(7)
    now = time.time()
    session = Session("session-a", "node", now, now + 60, 60, {"m": 1}, SessionState())
    cap = 25
    for step in range(3000):
        state = session.state
        roll = rng.random()
        if roll < 0.7:
            event = tuple(sorted(f"s{rng.randrange(50)}" for _ in range(rng.randrange(1, 4))))
            emotives = state.emotives
            if rng.random() < 0.3:
                emotives = (*emotives, {"e": rng.choice([1, 1.5, -2.25])})[-cap:]
            metadata = state.metadata
            if rng.random() < 0.2:
                metadata = (*metadata, {"k": [step, "v"]})[-cap:]
            state = replace(state, stm=(*state.stm, event)[-cap:], emotives=emotives, metadata=metadata,
                            time=state.time + 1, percept=Percept(event, (), {}))
        elif roll < 0.8:
            state = replace(state, stm=state.stm[rng.randrange(1, 4):])
        elif roll < 0.9:
            state = replace(state, stm=(), emotives=(), metadata=())
        else:
            state = replace(state, config=EngineConfig(max_predictions=rng.randrange(1, 100)))
        session.state = state
        data = encode(session)
        assert data[8:] == _full(session), step
    restored = decode(data)
    assert restored.state == session.state and restored.session_id == session.session_id


def test_values_orjson_cannot_write_fall_back_to_the_standard_library() -> None:
    now = time.time()
    session = Session("session-b", "node", now, now + 60, 60, {}, SessionState(stm=(("a",),)))
    encode(session)
    session.state = replace(session.state, stm=(("a",), ("b",)), metadata=({"n": 2**70},))
    data = encode(session)
    assert data[8:] == _full(session) and decode(data).state == session.state
    session.state = replace(session.state, stm=(("a",), ("b",), ("c",)))
    assert encode(session)[8:] == _full(session)


def test_long_rolling_stms_stay_exact_through_buffer_compaction_and_long_cuts() -> None:
    """At the 1,000-event cap every observe cuts one event at the front: the kept JSON is reused, its dead prefix
    dropped from time to time, and cuts longer than the scan start over; the bytes always equal a full encoding."""
    rng = random.Random(11)
    now = time.time()
    session = Session("session-c", "node", now, now + 60, 60, {}, SessionState())
    cap = 1000
    for step in range(6000):
        state = session.state
        roll = rng.random()
        if roll < 0.97:
            event = (f"{'x' * rng.randrange(40, 120)}{step}",)
            emotives = (*state.emotives, {"e": step / 7})[-cap:] if step % 3 else state.emotives
            state = replace(state, stm=(*state.stm, event)[-cap:], emotives=emotives)
        elif roll < 0.99:
            state = replace(state, stm=state.stm[rng.randrange(60, 200):])
        else:
            state = replace(state, stm=tuple(tuple(e) for e in state.stm))  # equal items, new objects
        session.state = state
        data = encode(session)
        if step % 7 == 0 or step > 5900:
            assert data[8:] == _full(session), step
    assert decode(data).state == session.state


def test_equal_but_differently_written_accumulator_items_are_written_again() -> None:
    """Equal dicts can be different JSON (1 == 1.0 == True, key order): accumulators are reused only when the kept
    items are the very same objects."""
    now = time.time()
    first = {"k": "v"}
    session = Session("session-d", "node", now, now + 60, 60, {}, SessionState(metadata=(first, {"n": 1, "m": 2})))
    encode(session)
    for replaced in ({"n": 1.0, "m": 2}, {"m": 2, "n": 1}, {"n": True, "m": 2}):
        session.state = replace(session.state, metadata=(first, replaced), emotives=(first, replaced))
        assert encode(session)[8:] == _full(session)

"""Writing into a session: observe, observe-sequence, learn, clear-stm, clear-all, finalize-training, stm
(api.md §4-§6). Each mutation holds the session's own lock (never another session's) across its store write, so a
session's requests apply in order while other sessions run freely.
"""

from __future__ import annotations

import time
from dataclasses import replace

from aiohttp import web

from kato.api.context import Context, context, session_of
from kato.api.errors import detail, json_response
from kato.api.validation import parse_observation, parse_observe_sequence, read_body
from kato.engine import session as engine
from kato.engine.learning import LearnPlan
from kato.engine.state import SessionState
from kato.store.interface import ClearNode, FinalizeTraining, Op

routes = web.RouteTableDef()


def _observe(ctx: Context, node_id: str, state: SessionState,
             observation: engine.Observation) -> engine.ObserveOutcome:
    """The engine's observe, with a view of the knowledge base only for vectors (the only reads it makes)."""
    if not observation.vectors:
        return engine.observe(state, observation, None, ctx.settings.stm_cap)
    with ctx.store.view(node_id) as kb:
        return engine.observe(state, observation, kb, ctx.settings.stm_cap)


def _ops(outcome: engine.ObserveOutcome) -> list[Op]:
    return [op for op in (outcome.vector, outcome.learned) if op is not None]


@routes.post("/sessions/{session_id}/observe")
async def observe(request: web.Request) -> web.Response:
    ctx = context(request)
    session = session_of(request)
    observation = parse_observation(await read_body(request), ctx.settings.max_symbol_length)
    async with session.lock:
        outcome = _observe(ctx, session.node_id, session.state, observation)
        ops = _ops(outcome)
        if ops:
            await ctx.store.write(session.node_id, ops)
        session.state = outcome.state
    return json_response({
        "status": "okay",
        "session_id": session.session_id,
        "processor_id": session.node_id,
        "stm_length": len(outcome.state.stm),
        "time": outcome.state.time,
        "unique_id": f"obs-{ctx.ids.next()}",
        "auto_learned_pattern": outcome.auto_learned_pattern,
    })


@routes.post("/sessions/{session_id}/observe-sequence")
async def observe_sequence(request: web.Request) -> web.Response:
    """All items chained in memory, all store writes in one transaction at the end (api.md §5).

    The one exception: before an item with vectors, learns already made in this request are committed, because
    that item's nearest-vector lookup must see the vectors those learns indexed.
    """
    ctx = context(request)
    session = session_of(request)
    spec = parse_observe_sequence(await read_body(request), ctx.settings.max_symbol_length)
    async with session.lock:
        state = session.state
        initial = len(state.stm)
        ops: list[Op] = []
        results = []
        learned: list[str] = []
        for position, (observation, unique_id) in enumerate(spec.observations):
            if spec.clear_stm_between and position > 0:
                state = replace(state, stm=())
            if observation.vectors and any(isinstance(op, LearnPlan) for op in ops):
                await ctx.store.write(session.node_id, ops)
                ops = []
            outcome = _observe(ctx, session.node_id, state, observation)
            state = outcome.state
            ops.extend(_ops(outcome))
            if spec.learn_after_each and state.stm:
                state, plan = engine.learn(state)
                ops.append(plan)
                learned.append(plan.pattern_ref)
            if outcome.auto_learned_pattern:
                learned.append(outcome.auto_learned_pattern)
            results.append({
                "status": "okay",
                "sequence_position": position,
                "stm_length": len(state.stm),
                "time": state.time,
                "unique_id": unique_id or f"seq-obs-{ctx.ids.next()}",
                "auto_learned_pattern": outcome.auto_learned_pattern,
            })
        final = None
        if spec.observations and spec.learn_at_end and state.stm:
            state, plan = engine.learn(state)
            ops.append(plan)
            final = plan.pattern_ref
            learned.append(final)
        if ops:
            await ctx.store.write(session.node_id, ops)
        session.state = state
    return json_response({
        "status": "completed",
        "processor_id": session.node_id,
        "observations_processed": len(spec.observations),
        "initial_stm_length": initial,
        "final_stm_length": len(state.stm),
        "results": results,
        "auto_learned_patterns": learned,
        "final_learned_pattern": final,
        "isolated": spec.clear_stm_between,
    })


@routes.get("/sessions/{session_id}/stm")
async def stm(request: web.Request) -> web.Response:
    session = session_of(request)
    events = session.state.stm
    return json_response({"stm": events, "session_id": session.session_id, "length": len(events)})


@routes.post("/sessions/{session_id}/learn")
async def learn(request: web.Request) -> web.Response:
    ctx = context(request)
    session = session_of(request)
    async with session.lock:
        if not session.state.stm:
            raise detail(400, "Cannot learn from empty STM")
        state, plan = engine.learn(session.state)
        await ctx.store.write(session.node_id, [plan])
        session.state = state
    name = plan.pattern_ref
    return json_response({
        "status": "learned",
        "pattern_name": name,
        "session_id": session.session_id,
        "processor_id": None,
        "message": f"Learned pattern {name} from {len(state.stm)} events",
    })


@routes.post("/sessions/{session_id}/clear-stm")
async def clear_stm(request: web.Request) -> web.Response:
    session = session_of(request)
    async with session.lock:
        session.state = engine.clear_stm(session.state)
    return json_response({"status": "cleared", "session_id": session.session_id})


@routes.post("/sessions/{session_id}/clear-all")
async def clear_all(request: web.Request) -> web.Response:
    ctx = context(request)
    session = session_of(request)
    async with session.lock:
        await ctx.store.write(session.node_id, [ClearNode()])
        session.state = engine.clear_stm(session.state)
    return json_response({"status": "cleared", "session_id": session.session_id, "scope": "all"})


@routes.post("/sessions/{session_id}/finalize-training")
async def finalize_training(request: web.Request) -> web.Response:
    ctx = context(request)
    session = session_of(request)
    started = time.perf_counter()
    (count,) = await ctx.store.write(session.node_id, [FinalizeTraining()])
    time_ms = round((time.perf_counter() - started) * 1000, 2)
    return json_response({
        "status": "completed",
        "patterns_processed": count,
        "time_ms": time_ms,
        "session_id": session.session_id,
        "node_id": session.node_id,
        "message": f"Computed Shannon entropy and TF vectors for {count} patterns in {time_ms}ms",
    })

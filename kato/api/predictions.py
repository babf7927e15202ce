"""Reading a session's mind: predictions, percept-data, cognition-data (api.md §7-§8)."""

from __future__ import annotations

from aiohttp import web

from kato.api.context import Context, context, session_of
from kato.api.errors import json_response
from kato.engine.predictions import PredictionResult, predict
from kato.engine.session import percept_data
from kato.sessions import Session

routes = web.RouteTableDef()


def _predict(ctx: Context, session: Session, *, server_defaults: bool = False) -> PredictionResult:
    config = ctx.settings.engine if server_defaults else session.state.config
    with ctx.store.view(session.node_id) as kb:
        return predict(session.state.stm, config, kb,
                       fast_path_token_matching=ctx.settings.engine.use_token_matching)


@routes.get("/sessions/{session_id}/predictions")
async def predictions(request: web.Request) -> web.Response:
    ctx = context(request)
    session = session_of(request)
    result = _predict(ctx, session)
    return json_response({
        "predictions": result.predictions,
        "future_potentials": result.future_potentials,
        "session_id": session.session_id,
        "processor_id": None,
        "count": len(result.predictions),
        "time": None,
        "unique_id": None,
    })


@routes.get("/sessions/{session_id}/percept-data")
async def session_percept_data(request: web.Request) -> web.Response:
    session = session_of(request)
    return json_response({
        "percept_data": percept_data(session.state),
        "session_id": session.session_id,
        "node_id": session.node_id,
    })


@routes.get("/sessions/{session_id}/cognition-data")
async def session_cognition_data(request: web.Request) -> web.Response:
    """Predictions are computed here, on demand, with the server defaults (DESIGN.md deviation 4)."""
    ctx = context(request)
    session = session_of(request)
    state = session.state
    computed = []
    if state.config.process_predictions and state.stm:
        computed = _predict(ctx, session, server_defaults=True).predictions
    return json_response({
        "cognition_data": {
            "predictions": computed,
            "emotives": dict(state.emotives[-1]) if state.emotives else {},
            "symbols": state.flat_stm(),
            "command": "",
            "metadata": {},
            "path": [],
            "strings": [],
            "vectors": [],
            "short_term_memory": state.stm,
            "time": state.time,
        },
        "session_id": session.session_id,
        "node_id": session.node_id,
    })

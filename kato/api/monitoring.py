"""Service information and monitoring (api.md §10), with kato's own figures: one store (LMDB), no database pools,
no Redis streams. Keys follow the reference so dashboards keep working; values never pretend a stack kato lacks.
"""

from __future__ import annotations

import os
import time
from collections import deque
from typing import Any

from aiohttp import web

from kato import REFERENCE_VERSION
from kato.api.context import CONTEXT, Context, context
from kato.api.errors import detail, json_response
from kato.api.resources import ResourceSampler
from kato.api.timefmt import iso_offset
from kato.api.validation import parse_int_query

routes = web.RouteTableDef()
SAMPLER = web.AppKey("sampler", ResourceSampler)
HISTORY = web.AppKey("history", deque)

METRIC_NAMES = (
    "kato_cpu_usage_percent", "kato_memory_usage_percent", "kato_memory_usage_bytes", "kato_disk_usage_percent",
    "load_average_1m", "kato_requests_total", "kato_request_duration_seconds", "kato_errors_total",
    "sessions_created", "sessions_deleted", "kato_open_files",
)


def record_sample(app: web.Application) -> None:
    """Append one point per metric to the in-process history (kept ~1 h at one sample per 10 s)."""
    ctx = app[CONTEXT]
    r = app[SAMPLER].sample()
    stats = ctx.stats
    now = time.time()
    values = {
        "kato_cpu_usage_percent": r.cpu_percent,
        "kato_memory_usage_percent": r.memory_percent,
        "kato_memory_usage_bytes": r.memory_bytes,
        "kato_disk_usage_percent": r.disk_percent,
        "load_average_1m": r.load_average_1m,
        "kato_requests_total": stats.total,
        "kato_request_duration_seconds": stats.seconds / stats.total if stats.total else 0.0,
        "kato_errors_total": stats.errors,
        "sessions_created": ctx.registry.created_total,
        "sessions_deleted": ctx.registry.deleted_total,
        "kato_open_files": r.open_files,
    }
    app[HISTORY].append((now, values))


def _worker_info(ctx: Context) -> dict[str, Any]:
    sessions = ctx.registry.local_sessions()
    return {
        "total_processors": 1,
        "max_processors": 1,
        "eviction_ttl_seconds": 0,
        "processors": [{
            "processor_id": f"worker-{ctx.worker_id}",
            "pid": os.getpid(),
            "routing": ctx.routing_stats() if ctx.routing_stats else {},
            "node_id": None,
            "created_at": iso_offset(ctx.started_at),
            "last_accessed": iso_offset(time.time()),
            "access_count": ctx.stats.total,
            "idle_seconds": 0.0,
        }],
        "sessions_in_memory": len(sessions),
    }


def _health(ctx: Context, sampler: ResourceSampler) -> dict[str, Any]:
    r = sampler.sample()
    issues = []
    status = "healthy"
    if r.memory_percent > 90:
        status, issues = "unhealthy", ["High memory usage"]
    elif r.cpu_percent > 80:
        status, issues = "degraded", ["High CPU usage"]
    return {"status": status, "issues": issues, "resources": r}


@routes.get("/")
async def root(request: web.Request) -> web.Response:
    return json_response({
        "service": "KATO API",
        "version": REFERENCE_VERSION,
        "description": "Knowledge Abstraction for Traceable Outcomes with Multi-User Support",
        "docs": "/docs",
        "health": "/health",
        "status": "running",
        "uptime_seconds": context(request).uptime(),
        "architecture": "modular",
        "session_support": True,
    })


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    ctx = context(request)
    h = _health(ctx, request.app[SAMPLER])
    return json_response({
        "status": h["status"],
        "processor_status": "healthy",
        "service_name": ctx.settings.service_name,
        "uptime_seconds": ctx.uptime(),
        "issues": h["issues"],
        "metrics_collected": len(METRIC_NAMES),
        "last_collection": ctx.started_at,
        "active_sessions": ctx.registry.count(),
        "timestamp": iso_offset(time.time()),
    })


@routes.get("/status")
async def status(request: web.Request) -> web.Response:
    ctx = context(request)
    local = ctx.registry.local_sessions()
    active = ctx.registry.count()
    return json_response({
        "status": "healthy",
        "base_processor_id": ctx.settings.service_name,
        "uptime_seconds": ctx.uptime(),
        "sessions": {
            "total_sessions": active,
            "active_sessions": active,
            "expired_sessions": 0,
            "backend": "lmdb",
            "sessions_in_worker": len(local),
            "total_stm_events": sum(len(s.state.stm) for s in local),
        },
        "processors": _worker_info(ctx),
        "version": REFERENCE_VERSION,
    })


def _metrics_body(ctx: Context, sampler: ResourceSampler) -> dict[str, Any]:
    r = sampler.sample()
    stats = ctx.stats
    uptime = max(ctx.uptime(), 1e-9)
    return {
        "timestamp": time.time(),
        "sessions": {
            "total_created": float(ctx.registry.created_total),
            "total_deleted": float(ctx.registry.deleted_total),
            "active": float(ctx.registry.count()),
            "operations_total": float(stats.total),
        },
        "performance": {
            "total_requests": float(stats.total),
            "total_errors": float(stats.errors),
            "error_rate": stats.errors / stats.total if stats.total else 0.0,
            "average_response_time": stats.seconds / stats.total if stats.total else 0.0,
        },
        "resources": {"cpu_percent": r.cpu_percent, "memory_percent": r.memory_percent,
                      "disk_percent": r.disk_percent},
        "databases": {},
        "rates": {
            "requests_per_second": stats.total / uptime,
            "requests_per_minute": stats.total / uptime * 60,
            "errors_per_minute": stats.errors / uptime * 60,
        },
        "processor_manager": _worker_info(ctx),
        "uptime_seconds": None,
        "active_sessions": None,
        "error": None,
    }


def _prometheus(body: dict[str, Any], ctx: Context) -> str:
    lines = []

    def metric(name: str, kind: str, value: float, help_text: str) -> None:
        lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"])

    metric("kato_requests_total", "counter", ctx.stats.total, "HTTP requests handled by this worker")
    metric("kato_errors_total", "counter", ctx.stats.errors, "HTTP 5xx answers of this worker")
    metric("kato_request_seconds_total", "counter", ctx.stats.seconds, "Time spent handling requests")
    metric("kato_requests_in_flight", "gauge", ctx.stats.in_flight, "Requests being handled")
    metric("kato_sessions_active", "gauge", body["sessions"]["active"], "Live sessions (all workers)")
    metric("kato_sessions_created_total", "counter", ctx.registry.created_total, "Sessions created by this worker")
    metric("kato_sessions_deleted_total", "counter", ctx.registry.deleted_total, "Sessions deleted by this worker")
    metric("kato_cpu_percent", "gauge", body["resources"]["cpu_percent"], "CPU use of this worker")
    metric("kato_memory_percent", "gauge", body["resources"]["memory_percent"], "Resident memory share")
    metric("kato_disk_percent", "gauge", body["resources"]["disk_percent"], "Used share of the data disk")
    metric("kato_uptime_seconds", "gauge", ctx.uptime(), "Seconds since this worker started")
    return "\n".join(lines) + "\n"


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    ctx = context(request)
    body = _metrics_body(ctx, request.app[SAMPLER])
    accept = request.headers.get("Accept", "")
    if "text/plain" in accept or "openmetrics" in accept:
        return web.Response(text=_prometheus(body, ctx), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})
    return json_response(body)


def _series(request: web.Request, minutes: int) -> dict[str, list[dict[str, Any]]]:
    since = time.time() - minutes * 60
    series: dict[str, list[dict[str, Any]]] = {name: [] for name in METRIC_NAMES}
    for stamp, values in request.app[HISTORY]:
        if stamp >= since:
            for name, value in values.items():
                series[name].append({"timestamp": stamp, "value": value, "labels": {}})
    return series


@routes.get("/stats")
async def stats(request: web.Request) -> web.Response:
    ctx = context(request)
    minutes = parse_int_query(request, "minutes", 10)
    body = _metrics_body(ctx, request.app[SAMPLER])
    h = _health(ctx, request.app[SAMPLER])
    return json_response({
        "time_range_minutes": minutes,
        "timestamp": time.time(),
        "processor_manager": body["processor_manager"],
        "current_status": {
            "status": h["status"],
            "issues": h["issues"],
            "metrics": {"cpu_percent": body["resources"]["cpu_percent"],
                        "memory_percent": body["resources"]["memory_percent"],
                        "error_rate_per_min": body["rates"]["errors_per_minute"]},
        },
        "time_series": _series(request, minutes),
        "summary": {k: body[k] for k in ("sessions", "performance", "resources", "databases")},
        "error": None,
    })


@routes.get("/metrics/{metric_name}")
async def metric_history(request: web.Request) -> web.Response:
    name = request.match_info["metric_name"]
    minutes = parse_int_query(request, "minutes", 10)
    points = _series(request, minutes).get(name, [])
    if not points:
        raise detail(404, f"No data available for metric '{name}' in the last {minutes} minutes")
    values = [p["value"] for p in points]
    return json_response({
        "metric_name": name,
        "time_range_minutes": minutes,
        "timestamp": time.time(),
        "statistics": {"count": len(values), "min": min(values), "max": max(values),
                       "avg": sum(values) / len(values)},
        "data_points": points,
    })


@routes.get("/concurrency")
async def concurrency(request: web.Request) -> web.Response:
    ctx = context(request)
    s = ctx.stats
    limit = 1000
    utilization = 100.0 * s.in_flight / limit
    peak = 100.0 * s.peak_in_flight / limit
    state = "critical" if utilization > 90 else "warning" if utilization > 70 else "healthy"
    return json_response({
        "status": state,
        "current": {"concurrent_requests": s.in_flight, "utilization_percent": utilization},
        "peak": {"concurrent_requests": s.peak_in_flight, "utilization_percent": peak},
        "limits": {"per_worker": limit, "warning_threshold": 70, "critical_threshold": 90,
                   "total_capacity": limit * ctx.settings.workers},
        "configuration": {"workers": ctx.settings.workers, "backlog": 2048, "max_requests": None},
        "recommendations": [],
        "timestamp": iso_offset(time.time()),
    })


@routes.get("/cache/stats")
async def cache_stats(request: web.Request) -> web.Response:
    return json_response({
        "cache_performance": {"status": "disabled", "reason": "kato reads the memory-mapped store directly"},
        "cache_health": {"status": "disabled"},
        "timestamp": iso_offset(time.time()),
    })


@routes.post("/cache/invalidate")
async def cache_invalidate(request: web.Request) -> web.Response:
    return json_response({
        "status": "disabled",
        "patterns_invalidated": None,
        "symbols_invalidated": None,
        "session_id": request.query.get("session_id"),
        "reason": "kato has no pattern cache to invalidate",
        "timestamp": iso_offset(time.time()),
    })


@routes.get("/connection-pools")
async def connection_pools(request: web.Request) -> web.Response:
    return json_response({
        "status": "healthy",
        "health": {"store": "lmdb", "connections": "none: the store is an embedded memory-mapped file"},
        "pool_statistics": {},
        "connection_optimization": {},
        "performance_improvements": {},
        "error": None,
        "timestamp": iso_offset(time.time()),
    })


@routes.get("/distributed-stm/stats")
async def distributed_stm(request: web.Request) -> web.Response:
    return json_response({
        "status": "disabled",
        "distributed_stm_enabled": False,
        "performance_stats": None,
        "processor_info": None,
        "expected_improvements": None,
        "reason": "each session's STM lives in the worker that owns it",
        "error": None,
        "timestamp": iso_offset(time.time()),
    })

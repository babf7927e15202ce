"""Which node a non-session request is about, and the reference's kb_id echo (api.md §3)."""

from __future__ import annotations

import hashlib

from aiohttp import web

_UNSAFE = str.maketrans({c: "_" for c in '/\\."$*<>:|?- '})


def kb_id(node_id: str, service_name: str) -> str:
    """The reference's knowledge-base id; kato keys its store by the exact node id and only echoes this."""
    safe = node_id.translate(_UNSAFE)
    base = service_name.replace("-", "_")
    kb = f"{safe}_{base}"
    if len(kb) > 60:
        digest = hashlib.md5(safe.encode()).hexdigest()[:8]
        safe = f"{safe[: 60 - len(base) - 10]}_{digest}"
        kb = f"{safe}_{base}"
    return kb


def node_of(request: web.Request) -> str:
    """Query `node_id`, then header x-test-id (prefixed `test_`), then header x-node-id, then `default_node`."""
    if "node_id" in request.query:
        return request.query["node_id"]
    test_id = request.headers.get("x-test-id")
    if test_id:
        return test_id if test_id.startswith("test_") else f"test_{test_id}"
    return request.headers.get("x-node-id") or "default_node"

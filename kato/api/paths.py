"""Reading the session id out of a raw request path, the one way the session check and the router both use."""

from __future__ import annotations


def session_segments(raw_path: str) -> list[str] | None:
    """The path's segments when it is /sessions/{id}[/...] with a non-empty id (still percent-encoded), else None."""
    parts = raw_path.split("?", 1)[0].split("/")
    if len(parts) < 3 or parts[1] != "sessions" or not parts[2]:
        return None
    return parts

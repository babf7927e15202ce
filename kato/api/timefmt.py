"""Timestamps in the reference's two wire forms (api.md §1.1)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_z(epoch: float) -> str:
    """Pydantic's form for session datetimes: `2026-04-27T15:48:19.123456Z` (microseconds only when non-zero)."""
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def iso_offset(epoch: float) -> str:
    """`datetime.isoformat()` of an aware UTC time: `...+00:00`."""
    return datetime.fromtimestamp(epoch, UTC).isoformat()

"""Shared fixtures: every engine test runs against each knowledge-base implementation."""

from __future__ import annotations

import pytest

from kato.store.memory import MemoryKnowledgeBase


@pytest.fixture(params=["memory"])
def kb(request: pytest.FixtureRequest) -> MemoryKnowledgeBase:
    return MemoryKnowledgeBase()

"""Fixtures of the operations tests (the helpers behind them are in processes.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.processes import KatoProcess, running_kato


@pytest.fixture
def kato_server(tmp_path: Path) -> Iterator[KatoProcess]:
    """One `kato serve --workers 1` for a test."""
    with running_kato(tmp_path / "kato", workers=1) as kato:
        yield kato

"""Settings precedence: defaults < config file < KATO_* variables < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from kato.config import load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_config_file_loads_with_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KATO_PORT", "KATO_HOST", "KATO_DATA_DIR", "KATO_CONFIG", "KATO_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(ROOT / "config" / "kato.toml")
    default = load_settings()
    assert settings.engine == default.engine
    assert (settings.port, settings.max_body_bytes, settings.stm_cap) == (default.port, default.max_body_bytes, 1000)


def test_environment_and_flags_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "kato.toml"
    config.write_text('[server]\nport = 9000\nworkers = 3\n[engine]\nrecall_threshold = 0.3\n')
    monkeypatch.setenv("KATO_PORT", "9100")
    settings = load_settings(config, workers=2)
    assert (settings.port, settings.workers, settings.engine.recall_threshold) == (9100, 2, 0.3)


def test_invalid_settings_are_rejected(tmp_path: Path) -> None:
    config = tmp_path / "kato.toml"
    config.write_text("[server]\nbogus = 1\n")
    with pytest.raises(ValueError):
        load_settings(config)
    config.write_text("[engine]\nrecall_threshold = 3\n")
    with pytest.raises(ValueError):
        load_settings(config)

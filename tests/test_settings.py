"""Settings precedence: defaults < config file < KATO_* variables < flags."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest

from kato.config import Settings, load_settings
from kato.engine.config import EngineConfig

ROOT = Path(__file__).resolve().parent.parent


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


def test_the_shipped_config_file_names_every_setting_at_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """config/kato.toml is the settings' documentation: each field of `Settings` and `EngineConfig` appears in it
    (commented out where the default cannot be written in TOML or depends on the machine), and the file as shipped
    changes nothing."""
    for name in list(os.environ):
        if name.startswith("KATO_"):
            monkeypatch.delenv(name)
    text = (ROOT / "config" / "kato.toml").read_text()
    server, _, engine = text.partition("\n[engine]\n")
    for field in dataclasses.fields(Settings):
        if field.name != "engine":
            assert re.search(rf"^#? ?{field.name} = ", server, re.MULTILINE), f"{field.name} is not documented"
    for field in dataclasses.fields(EngineConfig):
        assert re.search(rf"^#? ?{field.name} = ", engine, re.MULTILINE), f"[engine] {field.name} is not documented"
    settings, default = load_settings(ROOT / "config" / "kato.toml"), load_settings()
    assert settings == default
    assert settings.engine == default.engine and settings.stm_cap == 1000


def test_keepalive_must_be_positive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KATO_KEEPALIVE_SECONDS", "2.5")
    assert load_settings().keepalive_seconds == 2.5
    monkeypatch.setenv("KATO_KEEPALIVE_SECONDS", "0")
    with pytest.raises(ValueError, match="keepalive_seconds"):
        load_settings()

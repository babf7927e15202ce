"""Server settings: built-in defaults, then config/kato.toml (or --config / KATO_CONFIG), then KATO_* variables,
then command-line flags. One immutable `Settings` value is handed to everything that needs it.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kato.engine.config import EngineConfig, validate_create


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def default_data_dir() -> Path:
    """Per-user data directory: $XDG_DATA_HOME/kato, else ~/.local/share/kato."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "kato"


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = field(default_factory=default_workers)
    data_dir: Path = field(default_factory=default_data_dir)
    service_name: str = "kato"
    # sessions
    session_ttl: int = 3600
    session_sweep_seconds: float = 5.0
    # limits on client input (api.md §18; documented in config/kato.toml)
    max_body_bytes: int = 16 * 1024 * 1024
    max_symbol_length: int = 4096
    stm_cap: int = 1000
    # storage: "lmdb" (durable, shared by every worker) or "memory" (one process, for tests and experiments)
    store: str = "lmdb"
    sync: bool = True
    map_size: int = 64 * 1024**3
    # engine defaults a session starts from (api.md §12.1)
    engine: EngineConfig = field(default_factory=EngineConfig)
    # an idle keep-alive client connection is closed after this many seconds, on every lane
    keepalive_seconds: float = 75.0
    # shutdown
    drain_timeout: float = 10.0
    # process model: Unix sockets between workers live here (short path: sockets are limited to ~100 bytes)
    run_dir: Path | None = None
    # a worker that stops heart-beating this long is killed and restarted
    worker_timeout: float = 30.0
    # keep one started, idle interpreter ready to take over a crashed worker's slot at once
    spare_worker: bool = True


_ENV = {
    "KATO_HOST": ("host", str),
    "KATO_PORT": ("port", int),
    "KATO_WORKERS": ("workers", int),
    "KATO_DATA_DIR": ("data_dir", Path),
    "KATO_SERVICE_NAME": ("service_name", str),
    "KATO_SESSION_TTL": ("session_ttl", int),
    "KATO_MAX_BODY_BYTES": ("max_body_bytes", int),
    "KATO_MAX_SYMBOL_LENGTH": ("max_symbol_length", int),
    "KATO_STM_CAP": ("stm_cap", int),
    "KATO_STORE": ("store", str),
    "KATO_SYNC": ("sync", lambda v: v.lower() in ("1", "true", "yes", "on")),
    "KATO_MAP_SIZE": ("map_size", int),
    "KATO_KEEPALIVE_SECONDS": ("keepalive_seconds", float),
    "KATO_DRAIN_TIMEOUT": ("drain_timeout", float),
    "KATO_RUN_DIR": ("run_dir", Path),
    "KATO_WORKER_TIMEOUT": ("worker_timeout", float),
}


def _engine_defaults(table: Mapping[str, Any]) -> EngineConfig:
    overrides = validate_create(dict(table))
    if table and not overrides:
        raise ValueError(f"invalid [engine] settings: {dict(table)}")
    return EngineConfig().with_overrides(overrides)


def load_settings(config_path: str | os.PathLike[str] | None = None, **flags: Any) -> Settings:
    """Resolve settings from file, environment and flags (later sources win; None flags are ignored)."""
    values: dict[str, Any] = {}
    path = config_path or os.environ.get("KATO_CONFIG")
    if path:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        server = dict(data.get("server", {}))
        if "data_dir" in server:
            server["data_dir"] = Path(server["data_dir"]).expanduser()
        values.update(server)
        if "engine" in data:
            values["engine"] = _engine_defaults(data["engine"])
    for name, (attr, convert) in _ENV.items():
        if name in os.environ:
            values[attr] = convert(os.environ[name])
    values.update({k: v for k, v in flags.items() if v is not None})
    if "data_dir" in values:
        values["data_dir"] = Path(values["data_dir"]).expanduser()
    if not values.get("keepalive_seconds", 1.0) > 0:
        raise ValueError("keepalive_seconds must be a positive number of seconds")
    known = {f.name for f in dataclasses.fields(Settings)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown settings: {sorted(unknown)}")
    return Settings(**values)


def to_json(settings: Settings) -> dict[str, Any]:
    """Settings as plain JSON values, to hand them to a worker process."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, EngineConfig):
            value = {g.name: getattr(value, g.name) for g in dataclasses.fields(value)}
        out[f.name] = value
    return out


def from_json(values: Mapping[str, Any]) -> Settings:
    data = dict(values)
    engine = dict(data.pop("engine"))
    engine["filter_pipeline"] = tuple(engine["filter_pipeline"])
    for name in ("data_dir", "run_dir"):
        if data.get(name) is not None:
            data[name] = Path(data[name])
    return Settings(engine=EngineConfig(**engine), **data)

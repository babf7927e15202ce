"""The unit files in systemd/: what kato's process model needs from them, and systemd's own verdict on them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kato.config import Settings

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "systemd"
PLACEHOLDER = "/opt/kato/.venv/bin/kato"


def directives(path: Path) -> dict[str, list[str]]:
    """`Key` -> every value it is given (systemd allows repeats: Environment=, SystemCallFilter=)."""
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


def one(found: dict[str, list[str]], key: str) -> str:
    values = found.get(key, [])
    assert len(values) == 1, f"{key}= should be set exactly once, found {values}"
    return values[0]


def seconds(value: str) -> float:
    """systemd time spans as used here: 30, 30s, 1min, 1min 30s."""
    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * units[unit]
    return total


def test_service_is_a_notify_service_run_by_its_main_process() -> None:
    unit = directives(UNITS / "kato.service")
    assert one(unit, "Type") == "notify"
    assert one(unit, "NotifyAccess") == "main"  # READY=1 and STOPPING=1 come from the supervisor, not a worker
    assert one(unit, "ExecStart").split()[:2] == [PLACEHOLDER, "serve"]
    assert one(unit, "Restart") == "on-failure"


def test_service_stops_by_draining_and_waits_longer_than_the_drain() -> None:
    unit = directives(UNITS / "kato.service")
    assert one(unit, "KillMode") == "mixed"  # SIGTERM to the supervisor only; it stops its workers itself
    assert seconds(one(unit, "TimeoutStopSec")) >= Settings().drain_timeout + 10


def test_service_keeps_state_and_sockets_in_directories_systemd_manages() -> None:
    unit = directives(UNITS / "kato.service")
    environment = dict(value.split("=", 1) for value in unit["Environment"])
    assert one(unit, "StateDirectory") == "kato"
    assert environment["KATO_DATA_DIR"] == "%S/kato"
    assert one(unit, "RuntimeDirectory") == "kato"
    assert environment["KATO_RUN_DIR"] == "%t/kato"


def test_service_is_sandboxed_without_breaking_lmdb_or_unix_sockets() -> None:
    unit = directives(UNITS / "kato.service")
    assert one(unit, "DynamicUser") == "yes" or "User" in unit
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "ProtectKernelTunables", "ProtectControlGroups"):
        assert one(unit, key) == "yes", key
    assert one(unit, "ProtectSystem") == "strict"
    assert set(one(unit, "RestrictAddressFamilies").split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    # ProtectSystem=strict leaves only the managed directories writable: nothing may point kato elsewhere.
    assert "ReadOnlyPaths" not in unit and "InaccessiblePaths" not in unit
    # /health reads /proc/loadavg: ProcSubset=pid would hide it.
    assert "ProcSubset" not in unit


def test_socket_hands_over_exactly_one_listener() -> None:
    unit = directives(UNITS / "kato.socket")
    assert len(unit["ListenStream"]) == 1  # kato takes fd 3 only (LISTEN_FDS=1)
    assert unit.get("Accept", ["no"]) == ["no"]


@pytest.fixture
def installable_units(tmp_path: Path) -> Path:
    """The units with ExecStart pointing at this virtualenv's kato, which `verify` requires to exist."""
    kato = Path(sys.executable).parent / "kato"
    if not kato.exists():
        found = shutil.which("kato")
        if not found:
            pytest.skip("no `kato` executable installed next to this Python or on PATH for ExecStart")
        kato = Path(found)
    for name in ("kato.service", "kato.socket"):
        (tmp_path / name).write_text((UNITS / name).read_text().replace(PLACEHOLDER, str(kato)))
    return tmp_path


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (no systemd on this machine): unit files not verified")
    return tool


def test_units_pass_systemd_analyze_verify(installable_units: Path) -> None:
    tool = _systemd_analyze()
    result = subprocess.run([tool, "verify", "kato.service", "kato.socket"], cwd=installable_units,
                            capture_output=True, text=True, timeout=60)
    # verify exits 0 on unknown keys and only warns: any complaint about our files is a failure too.
    ours = [line for line in (result.stdout + result.stderr).splitlines()
            if "kato.service" in line or "kato.socket" in line or str(installable_units) in line]
    assert result.returncode == 0 and not ours, result.stdout + result.stderr


def test_service_exposure_stays_low(installable_units: Path) -> None:
    tool = _systemd_analyze()
    result = subprocess.run([tool, "security", "--offline=yes", "--no-pager", "kato.service"],
                            cwd=installable_units, capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    match = re.search(r"Overall exposure level for kato\.service:\s*([\d.]+)", output)
    if match is None:
        pytest.skip(f"this systemd-analyze has no offline security analysis: {output.strip()[:300]}")
    assert float(match.group(1)) <= 2.0, output

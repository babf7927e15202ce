#!/usr/bin/env python3
"""Bootstrap for a fresh machine with only Python 3.11: make `.venv`, install kato into it, then act.

    python3 scripts/dev.py serve [kato serve options]   # serve on 127.0.0.1:8000 with the default data directory
    python3 scripts/dev.py test [pytest options]        # ruff check, then the whole test suite

The virtual environment is reinstalled only when pyproject.toml changed since the last install.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".kato-installed"


def ensure_venv() -> None:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    if not (BIN / "python").exists():
        print("creating virtual environment in .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(digest)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("serve", "test"):
        print(__doc__)
        return 2
    ensure_venv()
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    if argv[0] == "serve":
        return subprocess.call([str(BIN / "kato"), "serve", *argv[1:]], env=env, cwd=ROOT)
    rc = subprocess.call([str(BIN / "ruff"), "check", "."], env=env, cwd=ROOT)
    if rc:
        return rc
    return subprocess.call([str(BIN / "python"), "-m", "pytest", "-q", *argv[1:]], env=env, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

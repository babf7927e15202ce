"""The backup procedure of docs/OPERATIONS.md works while kato serves and writes: a copy of
<data_dir>/knowledge taken with the Python binding (and with mdb_copy where lmdb-utils is installed) during a
learn-heavy load is a store another kato serves, with every pattern learned before the copy in it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ops.processes import ROOT, http, running_kato

BINDING_COPY = (
    "import lmdb, sys\n"
    "env = lmdb.open(sys.argv[1], readonly=True, lock=True, subdir=True)\n"
    "try:\n"
    "    env.copy(sys.argv[2], compact=True)\n"
    "finally:\n"
    "    env.close()\n"
)


def learn_patterns(url: str, node: str, count: int) -> list[str]:
    status, body = http("POST", f"{url}/sessions", {"node_id": node})
    assert status == 200, body
    session = f"{url}/sessions/{body['session_id']}"
    names = []
    for i in range(count):
        for symbol in (f"first{i}", f"second{i}", f"third{i}"):
            assert http("POST", f"{session}/observe", {"strings": [symbol]})[0] == 200
        status, body = http("POST", f"{session}/learn")
        assert status == 200 and body["pattern_name"], body
        names.append(body["pattern_name"])
    return names


def copy_tools() -> dict[str, list[str]]:
    tools = {"binding": [sys.executable, "-c", BINDING_COPY]}
    mdb_copy = shutil.which("mdb_copy")
    if mdb_copy:
        tools["mdb_copy"] = [mdb_copy, "-c"]
    return tools


def test_live_copy_of_the_knowledge_store_serves_every_pattern_learned_before_it(tmp_path: Path) -> None:
    node = "backup-node"
    copies: dict[str, Path] = {}
    with running_kato(tmp_path / "live") as kato:
        names = learn_patterns(kato.url, node, 5)
        # keep the writer busy while copying: a learn-heavy load on other nodes
        load = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "loadtest.py"), "--url", kato.url,
                                 "--duration", "4s", "--concurrency", "4", "--patterns", "30", "--observe", "50",
                                 "--learn", "50", "--predictions", "0", "--stm", "0", "--clear-stm", "0", "--quiet"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(1.5)
            source = tmp_path / "live" / "data" / "knowledge"
            for name, command in copy_tools().items():
                target = tmp_path / f"restore-{name}" / "data" / "knowledge"
                target.mkdir(parents=True)  # both tools want an existing, empty directory
                result = subprocess.run([*command, str(source), str(target)], capture_output=True, text=True,
                                        timeout=30)
                assert result.returncode == 0, result.stderr
                assert (target / "data.mdb").stat().st_size > 0
                copies[name] = target.parent.parent
            out, err = load.communicate(timeout=30)
            assert load.returncode == 0, err
            assert "0 errors" in out, out
        finally:
            if load.poll() is None:
                load.kill()
                load.wait()
    if "mdb_copy" not in copies:
        print("mdb_copy not installed (Debian: lmdb-utils): only the binding's copy was checked")
    for name, directory in copies.items():
        with running_kato(directory) as restored:
            for pattern in names:
                status, body = http("GET", f"{restored.url}/pattern/{pattern}?node_id={node}")
                assert status == 200, (name, pattern, body)


def test_the_binding_refuses_to_copy_into_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    """Why the procedure copies into a fresh directory each time: LMDB will not overwrite a previous backup."""
    lmdb = pytest.importorskip("lmdb")
    source = tmp_path / "source"
    env = lmdb.open(str(source), map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"k", b"v")
    env.close()
    target = tmp_path / "target"
    target.mkdir()
    first = subprocess.run([sys.executable, "-c", BINDING_COPY, str(source), str(target)], capture_output=True)
    assert first.returncode == 0, first.stderr
    again = subprocess.run([sys.executable, "-c", BINDING_COPY, str(source), str(target)], capture_output=True,
                           text=True)
    assert again.returncode != 0

"""config/haproxy.cfg and config/nginx.conf in front of two real kato hosts: every session of a node lands on the
one host that holds the node's store, whether the client sends X-Node-ID (the recommended way) or, through
HAProxy, nothing at all; and HAProxy's health check takes a dead host out.

The load balancers are run from copies of the shipped files in which only addresses, ports and file locations
are replaced (and HAProxy's check interval shortened), so what is tested is the routing as shipped. Skipped
where haproxy or nginx is not installed (Debian: apt-get install haproxy nginx-light).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.ops.processes import ROOT, KatoProcess, free_port, http, running_kato, wait_for_port

SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
NODES = [f"node-{name}" for name in ("amber", "basil", "cedar", "delta", "ember", "fjord", "grove", "heron",
                                      "indigo", "juniper", "kelp", "lumen")]


pytestmark = pytest.mark.skipif(
    not (shutil.which("haproxy", path=SBIN) or shutil.which("nginx", path=SBIN)),
    reason="neither haproxy nor nginx is installed: the load balancer examples are not exercised")


def tool(name: str) -> str:
    found = shutil.which(name, path=SBIN)
    if found is None:
        pytest.skip(f"{name} is not installed: config/{name} routing not exercised")
    return found


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[KatoProcess]]:
    """Two independent kato hosts, each with its own store, as behind a real load balancer."""
    base = tmp_path_factory.mktemp("hosts")
    with running_kato(base / "a") as first, running_kato(base / "b") as second:
        yield [first, second]


@contextlib.contextmanager
def running(command: list[str], port: int, log: Path) -> Iterator[None]:
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        try:
            wait_for_port(port, 10.0, alive=lambda: process.poll() is None)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{command[0]} did not start: {log.read_text(errors='replace')[-2000:]}") from exc
        yield
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def replace_servers(text: str, pattern: str, make: Callable[[int, KatoProcess], str], hosts: list[KatoProcess]) -> str:
    """The example's three `server 10.0.0.1x:8000` lines become one line per test host."""
    lines = text.splitlines()
    indices = [i for i, line in enumerate(lines) if re.match(pattern, line)]
    assert len(indices) == 3, f"expected the three example servers, found {indices}"
    indent = re.match(r"\s*", lines[indices[0]]).group(0)
    new = [indent + make(n, host) for n, host in enumerate(hosts, 1)]
    return "\n".join(lines[:indices[0]] + new + lines[indices[-1] + 1:]) + "\n"


@contextlib.contextmanager
def haproxy(directory: Path, hosts: list[KatoProcess]) -> Iterator[str]:
    binary = tool("haproxy")
    port = free_port()
    text = (ROOT / "config" / "haproxy.cfg").read_text()
    text = text.replace("bind :8000", f"bind 127.0.0.1:{port}").replace("inter 2s", "inter 200ms")
    text = replace_servers(text, r"\s*server kato\d ", lambda n, h: f"server kato{n} 127.0.0.1:{h.port}", hosts)
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "haproxy.cfg"
    config.write_text(text)
    with running([binary, "-f", str(config), "-db"], port, directory / "haproxy.log"):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def nginx(directory: Path, hosts: list[KatoProcess]) -> Iterator[str]:
    binary = tool("nginx")
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "config" / "nginx.conf").read_text()
    text = re.sub(r"(?m)^user .*;\n", "", text)
    text = re.sub(r"(?m)^pid .*;", f"pid {directory}/nginx.pid;", text)
    text = text.replace("listen 80;", f"listen 127.0.0.1:{port};").replace("listen [::]:80;\n", "")
    temp = "".join(f"    {kind}_temp_path {directory}/{kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    text = text.replace("http {\n", f"http {{\n    access_log off;\n{temp}", 1)
    text = replace_servers(text, r"\s*server 10\.0\.0\.\d+:8000 ",
                           lambda n, h: f"server 127.0.0.1:{h.port} max_fails=3 fail_timeout=10s;", hosts)
    config = directory / "nginx.conf"
    config.write_text(text)
    command = [binary, "-p", str(directory), "-c", str(config), "-e", str(directory / "error.log"),
               "-g", "daemon off;"]
    check = subprocess.run([*command[:-2], "-t"], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    with running(command, port, directory / "nginx.log"):
        yield f"http://127.0.0.1:{port}"


def host_of(session_id: str, hosts: list[KatoProcess]) -> int:
    """Which host holds the session (asked directly, not through the load balancer)."""
    holders = [n for n, host in enumerate(hosts)
               if http("GET", f"{host.url}/sessions/{session_id}/exists")[1]["exists"]]
    assert len(holders) == 1, f"session {session_id} is on hosts {holders}"
    return holders[0]


def create(lb: str, node: str, *, header: bool) -> str:
    headers = {"X-Node-ID": node} if header else None
    status, body = http("POST", f"{lb}/sessions", {"node_id": node}, headers)
    assert status == 200, body
    return body["session_id"]


def exercise(lb: str, session_id: str, node: str, *, header: bool) -> str:
    """observe, observe, learn, predictions, stm through the load balancer; the learned pattern's name."""
    headers = {"X-Node-ID": node} if header else None
    for symbols in (["a", "b"], ["c"]):
        status, body = http("POST", f"{lb}/sessions/{session_id}/observe", {"strings": symbols}, headers)
        assert status == 200, body
    status, body = http("POST", f"{lb}/sessions/{session_id}/learn", None, headers)
    assert status == 200, body
    name = body["pattern_name"]
    assert http("POST", f"{lb}/sessions/{session_id}/observe", {"strings": ["a"]}, headers)[0] == 200
    assert http("GET", f"{lb}/sessions/{session_id}/predictions", None, headers)[0] == 200
    assert http("GET", f"{lb}/sessions/{session_id}/stm", None, headers)[0] == 200
    return name


def placement(lb: str, hosts: list[KatoProcess], *, header: bool) -> dict[str, int]:
    """Node -> host, checking on the way that all of a node's sessions share one host."""
    where: dict[str, int] = {}
    for node in NODES:
        found = {host_of(create(lb, node, header=header), hosts) for _ in range(2)}
        assert len(found) == 1, f"the sessions of {node} are spread over hosts {found}"
        where[node] = found.pop()
    return where


def test_haproxy_keeps_each_node_on_one_host_by_header_by_body_and_by_learned_session(
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    tool("haproxy")
    hosts = request.getfixturevalue("hosts")  # started only when the balancer exists
    with haproxy(tmp_path / "haproxy", hosts) as lb:
        by_header = placement(lb, hosts, header=True)
        assert set(by_header.values()) == {0, 1}, "the nodes should spread over both hosts"
        # an unchanged KATO client: node only in the POST /sessions body, no header anywhere
        assert placement(lb, hosts, header=False) == by_header
        for node in NODES[:4]:
            for header in (True, False):
                session_id = create(lb, node, header=header)
                name = exercise(lb, session_id, node, header=header)
                # the pattern exists on the node's host only; a read naming the node in the query finds it
                status, body = http("GET", f"{lb}/pattern/{name}?node_id={node}")
                assert status == 200, body
        # requests about no node at all still work (round-robin)
        assert all(http("GET", f"{lb}/health")[0] == 200 for _ in range(4))


def test_nginx_keeps_each_node_on_one_host_by_header_and_query(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    tool("nginx")
    hosts = request.getfixturevalue("hosts")
    with nginx(tmp_path / "nginx", hosts) as lb:
        where = placement(lb, hosts, header=True)
        assert set(where.values()) == {0, 1}, "the nodes should spread over both hosts"
        for node in NODES[:4]:
            session_id = create(lb, node, header=True)
            name = exercise(lb, session_id, node, header=True)
            status, body = http("GET", f"{lb}/pattern/{name}?node_id={node}")
            assert status == 200, body
        assert all(http("GET", f"{lb}/health")[0] == 200 for _ in range(4))


def test_haproxy_health_check_takes_a_dead_host_out(tmp_path: Path) -> None:
    tool("haproxy")
    with running_kato(tmp_path / "a") as first, running_kato(tmp_path / "b") as second:
        pair = [first, second]
        with haproxy(tmp_path / "haproxy", pair) as lb:
            where = placement(lb, pair, header=True)
            orphan = next(node for node, host in where.items() if host == 1)
            assert second.terminate() == 0
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline:  # three failed checks 200 ms apart
                status, _ = http("POST", f"{lb}/sessions", {"node_id": orphan}, {"X-Node-ID": orphan})
                if status == 200:
                    break
                time.sleep(0.2)
            assert status == 200, "the node of the dead host was not moved to the live one"
            assert all(http("GET", f"{lb}/health")[0] == 200 for _ in range(6))
            assert placement(lb, [first], header=True) == dict.fromkeys(NODES, 0)

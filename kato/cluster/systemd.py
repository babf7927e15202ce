"""The two systemd conventions kato speaks without a dependency: sd_notify datagrams and inherited sockets."""

from __future__ import annotations

import os
import socket

# The public socket's listen backlog, whoever creates it: `kato serve` binds with it, and a worker listens again with
# it on the socket it is given (asyncio's `create_server(sock=...)` calls listen() itself, 100 by default), so a
# socket from `kato.socket` keeps the Backlog=4096 it was made with. The kernel caps it at net.core.somaxconn.
LISTEN_BACKLOG = 4096


def notify(message: str) -> bool:
    """Send `message` (e.g. "READY=1") to $NOTIFY_SOCKET; False when not run by systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(message.encode(), address)
        except OSError:
            return False
    return True


def inherited_listener() -> socket.socket | None:
    """The first socket passed by socket activation (LISTEN_PID/LISTEN_FDS, fd 3), if any."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or int(os.environ.get("LISTEN_FDS", "0")) < 1:
        return None
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    return socket.socket(fileno=3)

"""Which fork of the process this is, without a system call per check.

Objects that must not cross a fork (an LMDB environment, a per-process id sequence) remember the value when they
are made and compare it when they are used, on the hot path of every request: `os.getpid()` is a system call each
time, this is a global read. Only forks made through Python (`os.fork`, multiprocessing) are counted, the only kind
kato makes; and the value means something only compared with one saved in the same process, so an object that can
be pickled into another interpreter must forget the value it saved (see `kato.api.ids.HexIds`).
"""

from __future__ import annotations

import os

_generation = 0


def _forked() -> None:
    global _generation
    _generation += 1


os.register_at_fork(after_in_child=_forked)


def generation() -> int:
    """How many forks separate this process from the one that imported kato: it changes in a forked child."""
    return _generation

"""Which fork of the process this is, without a system call per check.

Objects that must not cross a fork (an LMDB environment, a per-process id sequence) remember the value when they
are made and compare it when they are used, on the hot path of every request: `os.getpid()` is a system call each
time, this is a global read.
"""

from __future__ import annotations

import os

_generation = 0


def _forked() -> None:
    global _generation
    _generation += 1


os.register_at_fork(after_in_child=_forked)


def generation() -> int:
    """Forks this process descends from since kato was imported: equal only within one process."""
    return _generation

"""Minted ids: 32 lowercase hex digits, never repeated, and a forked child never continues its parent's sequence."""

from __future__ import annotations

import os
import pickle
import re

from kato.api.ids import HexIds


def test_ids_are_32_hex_digits_and_unique() -> None:
    ids = HexIds()
    minted = [ids.next() for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in minted)
    assert len(set(minted)) == len(minted)


def test_a_forked_child_draws_its_own_prefix() -> None:
    ids = HexIds()
    parent = ids.next()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one id and leave without running any cleanup of the parent's
        try:
            os.write(write, ids.next().encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        child = os.read(read, 64).decode()
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert re.fullmatch(r"[0-9a-f]{32}", child)
    assert child[:16] != parent[:16]
    assert ids.next()[:16] == parent[:16]  # the parent's sequence goes on


def test_a_copy_sent_to_another_interpreter_draws_its_own_prefix() -> None:
    """A spawned process starts with the same fork count as its parent: a pickled minter must not rely on it."""
    ids = HexIds()
    parent = ids.next()
    copy = pickle.loads(pickle.dumps(ids))
    assert copy.next()[:16] != parent[:16]
    assert ids.next()[:16] == parent[:16]

"""The hash ring: stable, balanced, and minimal movement when a worker is added."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from kato.cluster.ring import jump_hash, owner_of

IDS = [f"session-{i:032x}-{1700000000000 + i}" for i in range(20000)]


def test_owner_is_in_range_and_balanced() -> None:
    for workers in (1, 2, 3, 8):
        counts = Counter(owner_of(sid, workers) for sid in IDS)
        assert set(counts) == set(range(workers))
        assert max(counts.values()) < 1.1 * len(IDS) / workers


def test_adding_a_worker_moves_about_one_in_n_plus_one() -> None:
    for workers in (1, 2, 3, 7):
        moved = sum(owner_of(sid, workers) != owner_of(sid, workers + 1) for sid in IDS)
        expected = len(IDS) / (workers + 1)
        assert 0.9 * expected < moved < 1.1 * expected
        # and every moved session goes to the new slot
        assert all(owner_of(s, workers + 1) == workers for s in IDS if owner_of(s, workers) != owner_of(s, workers + 1))


def test_owner_is_the_same_in_every_process_and_hash_seed() -> None:
    code = "from kato.cluster.ring import owner_of; print([owner_of(f's{i}', 5) for i in range(50)])"
    root = Path(__file__).resolve().parents[2]
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env=dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(root))).stdout
        for seed in ("0", "1", "2")
    }
    assert outputs == {str([owner_of(f"s{i}", 5) for i in range(50)]) + "\n"}


def test_jump_hash_values_are_pinned() -> None:
    """Owners must not change between releases: a rolling upgrade would otherwise move sessions between workers."""
    keys = (0, 1, 2**63, 2**64 - 1, 123456789)
    assert [jump_hash(k, 10) for k in keys] == [0, 6, 5, 9, 7]
    assert [jump_hash(k, 1000) for k in keys] == [0, 549, 453, 313, 294]
    assert jump_hash(123456789, 1) == 0


def test_a_worker_keeps_only_the_new_sessions_it_owns_and_the_owner_loads_the_others(tmp_path) -> None:
    """New ids are uniform over the ring, whoever creates them; the creator writes a session it does not own to the
    store, and that session's owner serves it from there."""
    from kato.engine.config import EngineConfig
    from kato.sessions import SessionRegistry
    from kato.store.sessions import LmdbSessionSnapshots

    snapshots = LmdbSessionSnapshots(tmp_path / "sessions")
    try:
        creator = SessionRegistry(snapshots, owns=lambda sid: owner_of(sid, 2) == 0)
        owner = SessionRegistry(snapshots, owns=lambda sid: owner_of(sid, 2) == 1)
        created = [creator.create("n", 60, {}, EngineConfig()) for _ in range(200)]
        owners = [owner_of(s.session_id, 2) for s in created]
        assert 60 <= owners.count(1) <= 140  # uniform, not all on the creating worker
        kept = {s.session_id for s in creator.local_sessions()}
        assert kept == {s.session_id for s, o in zip(created, owners, strict=True) if o == 0}
        assert creator.count() == 200
        for session, slot in zip(created, owners, strict=True):
            if slot == 1:
                loaded = owner.get(session.session_id)
                assert loaded is not None and loaded.node_id == "n" and loaded.state.stm == ()
    finally:
        snapshots.close()


def test_workers_run_numerical_libraries_single_threaded_unless_told_otherwise() -> None:
    from kato.cluster.supervisor import worker_environment

    env = worker_environment({"NOTIFY_SOCKET": "/run/x", "OPENBLAS_NUM_THREADS": "4", "PATH": "/bin"})
    assert "NOTIFY_SOCKET" not in env and env["PATH"] == "/bin"
    assert env["OPENBLAS_NUM_THREADS"] == "4" and env["OMP_NUM_THREADS"] == "1"

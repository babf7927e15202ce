"""The optional filter pipeline (engine.md §6) and kato's deviations in it (docs/COMPATIBILITY.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kato.engine.config import EngineConfig
from kato.engine.filters import minhash_signature
from kato.engine.predictions import predict
from tests.engine.helpers import learn_events


def names(result) -> set[str]:
    return {p["name"] for p in result.predictions}


def run(kb, state, **config):
    return predict(tuple(tuple(e) for e in state), EngineConfig(**config), kb)


def test_length_stage_keeps_patterns_within_ratio(kb) -> None:
    short = learn_events(kb, [["a"], ["b"]])[5:]
    long = learn_events(kb, [["a"], ["b"], ["c"], ["d"], ["e"], ["f"], ["g"]])[5:]
    result = run(kb, [["a"], ["b"], ["c"]], filter_pipeline=("length",))
    assert names(result) == {short}  # 7 > int(3 * 2.0)
    result = run(kb, [["a"], ["b"], ["c"]], filter_pipeline=("length",), length_max_ratio=3.0)
    assert names(result) == {short, long}


def test_jaccard_stage_needs_overlap_and_ratio(kb) -> None:
    close = learn_events(kb, [["a"], ["b"], ["c"]])[5:]
    learn_events(kb, [["a"], ["x"], ["y"], ["z"], ["w"]])
    result = run(kb, [["a"], ["b"]], filter_pipeline=("jaccard",))
    assert names(result) == {close}


def test_minhash_stage_keeps_near_duplicates(kb) -> None:
    same = learn_events(kb, [["a"], ["b"], ["c"], ["d"]])[5:]
    learn_events(kb, [["a"], ["q"], ["r"], ["s"], ["t"], ["u"]])
    result = run(kb, [["a"], ["b"], ["c"], ["d"]], filter_pipeline=("minhash",))
    assert names(result) == {same}


def test_rapidfuzz_stage_is_the_threshold(kb) -> None:
    learn_events(kb, [["a"], ["b"], ["c"]])
    learn_events(kb, [["a"], ["x"], ["y"], ["z"], ["w"], ["v"]])
    plain = run(kb, [["a"], ["b"]], recall_threshold=0.3)
    assert names(run(kb, [["a"], ["b"]], recall_threshold=0.3, filter_pipeline=("rapidfuzz",))) == names(plain)


def test_unknown_stages_are_skipped_and_an_empty_stage_ends_the_pipeline(kb) -> None:
    learn_events(kb, [["a"], ["b"], ["c"]])
    assert len(run(kb, [["a"], ["b"]], filter_pipeline=("nope", "bloom")).predictions) == 1
    assert run(kb, [["a"], ["b"]], filter_pipeline=("length", "jaccard"), length_min_ratio=1.0,
               length_max_ratio=1.0).predictions == []


def test_bloom_never_drops_a_pattern_sharing_a_symbol(kb) -> None:
    """Deviation: the reference's bloom stage is a silent no-op; kato's filters, but only false positives pass."""
    for i in range(40):
        learn_events(kb, [["a"], [f"x{i}"], [f"y{i}"]])
        learn_events(kb, [[f"p{i}"], [f"q{i}"]])
    state = [["a"], ["x3"]]
    plain = run(kb, state, recall_threshold=0.0, max_predictions=200)
    bloomed = run(kb, state, recall_threshold=0.0, max_predictions=200, filter_pipeline=("bloom",))
    sharing = {p["name"] for p in plain.predictions if p["matches"]}
    assert sharing <= names(bloomed)
    assert len(bloomed.predictions) < len(plain.predictions)


def test_minhash_signature_is_stable_across_processes_and_hash_seeds() -> None:
    """Deviation: the reference hashes bands with Python's per-process hash(); kato's signature never changes."""
    root = Path(__file__).resolve().parents[2]
    code = "from kato.engine.filters import minhash_signature as m; print(m(frozenset({'a','b','c'}), 16))"
    outputs = {
        subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(root)),
                       capture_output=True, text=True, check=True).stdout
        for seed in ("0", "1", "99")
    }
    assert outputs == {f"{minhash_signature(frozenset({'a', 'b', 'c'}), 16)}\n"}

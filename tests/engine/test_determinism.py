"""The same scenario gives identical write-sets under any PYTHONHASHSEED (DESIGN.md rule 4)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCENARIO = r'''
import json
from kato.store.memory import MemoryKnowledgeBase
from tests.engine.helpers import do_learn, do_observe, new_session

kb = MemoryKnowledgeBase()
out = []
state = new_session(max_pattern_length=3, stm_mode="ROLLING")
for i, obs in enumerate([["b", "a"], ["c"], ["a", "z", "y"], ["q"], ["b", "a"], ["c"]]):
    state, o = do_observe(kb, state, obs, emotives={"e": float(i), "f": 1.0}, metadata={"k": i})
    out.append(o.auto_learned_pattern)
state, name = do_learn(kb, state)
state = new_session()
for obs in [["x", "y"], ["y", "x"], ["m"]]:
    state, _ = do_observe(kb, state, obs, emotives={"g": 2.0, "e": 1.0}, metadata={"m": ["a", 1], "n": None})
state, name = do_learn(kb, state)
out.append(name)
dump = {
    "learned": out,
    "patterns": [[p.name, p.events, p.frequency, p.emotives, sorted(p.metadata.items())] for p in kb.patterns()],
    "symbols": sorted((s, st.frequency, st.pattern_member_frequency) for s, st in kb.all_symbol_stats().items()),
    "counters": repr(kb.counters()),
    "affinity": sorted((s, sorted(a.items())) for s, a in kb.all_affinities().items()),
    "first": {s: list(kb.patterns_starting_with(s)) for s in "abcxyzqm"},
}
print(json.dumps(dump, sort_keys=True))
'''


def outputs_under_hash_seeds(code: str, seeds: tuple[str, ...]) -> set[str]:
    """What `code` prints in fresh interpreters, one per PYTHONHASHSEED."""
    root = Path(__file__).resolve().parents[2]
    outputs = set()
    for seed in seeds:
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(root))
        result = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True,
                                check=True)
        outputs.add(result.stdout)
    return outputs


def test_write_sets_are_identical_under_three_hash_seeds() -> None:
    outputs = outputs_under_hash_seeds(SCENARIO, ("0", "1", "12345"))
    assert len(outputs) == 1
    assert '"learned"' in outputs.pop()


PREDICTION_SCENARIO = r'''
import json
from kato.engine.config import EngineConfig
from kato.engine.predictions import predict
from kato.store.memory import MemoryKnowledgeBase
from tests.engine.helpers import learn_events

kb = MemoryKnowledgeBase()
for i in range(40):
    learn_events(kb, [["x"], ["y"], [f"z{i % 7}"]])          # many ties on potential and similarity
    learn_events(kb, [["q", "x"], ["y"], [f"w{i % 5}", "v"]])
out = [predict((("x",), ("y",)), EngineConfig(max_predictions=m, recall_threshold=0.2), kb) for m in (3, 100)]
out.append(predict((("x",),), EngineConfig(), kb))
print(json.dumps([[r.predictions, r.future_potentials] for r in out], sort_keys=True))
'''


def test_predictions_with_ties_are_identical_under_three_hash_seeds() -> None:
    assert len(outputs_under_hash_seeds(PREDICTION_SCENARIO, ("0", "7", "4242"))) == 1

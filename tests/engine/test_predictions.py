"""Predictions against the worked examples of engine.md §16, with exact float equality where digits are given."""

from __future__ import annotations

import math

import pytest

from kato.engine.config import EngineConfig
from kato.engine.metrics import finalize
from kato.engine.predictions import predict
from tests.engine.helpers import learn_events


def stm(*events: list[str]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(e) for e in events)


def run(kb, state, **config):
    return predict(stm(*state), EngineConfig(**config), kb)


def test_example_a_mixed_missing_and_extras(kb) -> None:
    learn_events(kb, [["a", "b"], ["c", "d"]])
    result = run(kb, [["a", "x"], ["c", "y"]])
    (p,) = result.predictions
    assert p["name"] == "0979c1024e7a5c6bf7c542ef1a2b8226d8fd50a3"
    assert p["similarity"] == 0.5
    assert p["matches"] == ["a", "c"]
    assert p["fragmentation"] == 1.0
    assert p["snr"] == (4 - 2) / (4 + 2)
    assert p["past"] == [] and p["present"] == [["a", "b"], ["c", "d"]] and p["future"] == []
    assert p["missing"] == [["b"], ["d"]] and p["extras"] == [["x"], ["y"]]
    assert p["evidence"] == 0.5 and p["confidence"] == 0.5
    assert p["entropy"] == 2.0 and p["normalized_entropy"] == 1.0 and p["global_normalized_entropy"] == 0.0
    assert p["confluence"] == 0
    assert p["itfdf_similarity"] == 0.7071067811865475
    assert p["tfidf_score"] == 0.25
    assert p["predictive_information"] == 0
    assert p["bayesian_prior"] == 1.0 and p["bayesian_posterior"] == 1.0 and p["bayesian_likelihood"] == 0.5
    assert p["potential"] == 1.5404401145198807
    assert result.future_potentials == []
    assert "_pre_potential" not in p and "pattern_data" not in p and "metadata" not in p


def test_example_b_bayesian_prior_reflects_frequency(kb) -> None:
    learn_events(kb, [["x"], ["y"], ["z"]])
    learn_events(kb, [["x"], ["y"], ["z"]])
    learn_events(kb, [["x"], ["y"], ["w"]])
    result = run(kb, [["x"], ["y"]], recall_threshold=0.2)
    first, second = result.predictions
    for p in (first, second):
        assert p["similarity"] == 0.8 and p["matches"] == ["x", "y"]
        assert p["present"] == [["x"], ["y"]] and p["missing"] == [[], []] and p["extras"] == [[], []]
        assert p["evidence"] == 0.6666666666666666 and p["confidence"] == 1.0 and p["snr"] == 1.0
        assert p["fragmentation"] == 0.0
        assert p["entropy"] == 1.0 and p["normalized_entropy"] == 0.5 and p["global_normalized_entropy"] == 0.0
        assert p["confluence"] == 0.0
        assert p["itfdf_similarity"] == 0.9999999999999999
        assert p["tfidf_score"] == 0.5
        assert p["predictive_information"] == 0.8
        assert p["potential"] == 3.6666666666666665
    # Tie on potential and similarity: bare name ascending (DESIGN.md deviation 1).
    assert [p["name"][:8] for p in result.predictions] == ["0ea6da0f", "f8903d38"]
    by_name = {p["name"][:8]: p for p in result.predictions}
    assert by_name["f8903d38"]["future"] == [["z"]] and by_name["0ea6da0f"]["future"] == [["w"]]
    assert math.isclose(by_name["f8903d38"]["pattern_probability"], 2 / 3)
    assert math.isclose(by_name["f8903d38"]["weighted_strength"], 0.5333333333333333)
    assert math.isclose(by_name["f8903d38"]["bayesian_posterior"], 2 / 3)
    assert math.isclose(by_name["0ea6da0f"]["bayesian_prior"], 1 / 3)
    fp = result.future_potentials
    assert [f["future"] for f in fp] == [[["z"]], [["w"]]]
    assert math.isclose(fp[0]["aggregate_potential"], 2 / 3) and math.isclose(fp[1]["aggregate_potential"], 1 / 3)
    assert [f["supporting_patterns"] for f in fp] == [1, 1]
    assert math.isclose(fp[0]["total_weighted_frequency"], 1.6)
    assert math.isclose(fp[1]["total_weighted_frequency"], 0.8)


def test_example_c_single_symbol_fast_path(kb) -> None:
    learn_events(kb, [["a"], ["b"], ["c"], ["d"]])
    result = run(kb, [["a"]])
    assert result.predictions == [{
        "name": "08765292ef1217264602ed4b06d2cddbe94fba09",
        "pattern_data": [["a"], ["b"], ["c"], ["d"]],
        "length": 4,
        "frequency": 1,
        "emotives": {},
        "matches": ["a"],
        "missing": [],
        "present": ["a"],
        "past": [],
        "future": ["b", "c", "d"],
        "extras": [],
        "similarity": 0.4,
        "evidence": 0.25,
        "confidence": 1.0,
        "snr": 1.0,
        "fragmentation": 0,
        "anomalies": [],
        "weighted_similarity": None,
        "weighted_evidence": None,
        "weighted_confidence": None,
        "weighted_snr": None,
        "potential": 2.25,
    }]
    assert result.future_potentials == []
    assert run(kb, [["b"]]).predictions == []


def test_fast_path_ignores_threshold_and_orders_by_potential(kb) -> None:
    learn_events(kb, [["a"], ["b"]])
    learn_events(kb, [["a"], ["b"], ["c"], ["d"], ["e"], ["f"]])
    result = run(kb, [["a"]], recall_threshold=1.0, max_predictions=1)
    assert len(result.predictions) == 1 and result.predictions[0]["future"] == ["b"]


@pytest.mark.parametrize(("threshold", "kept"), [(0.7, True), (0.8, True), (0.9, False)])
def test_example_d_threshold_boundary(kb, threshold: float, kept: bool) -> None:
    learn_events(kb, [["alpha"], ["beta"], ["gamma"]])
    result = run(kb, [["alpha"], ["beta"]], recall_threshold=threshold)
    assert bool(result.predictions) is kept
    if threshold == 0.7:
        (p,) = result.predictions
        assert p["future"] == [["gamma"]] and p["present"] == [["alpha"], ["beta"]]
        assert p["normalized_entropy"] == 0.6309297535714574
        assert p["itfdf_similarity"] == 0.9999999999999998
        assert p["tfidf_score"] == 0.5 and p["predictive_information"] == 0.8
        assert p["potential"] == 3.666666666666666
        assert result.future_potentials == [
            {"future": [["gamma"]], "aggregate_potential": 1.0, "supporting_patterns": 1,
             "total_weighted_frequency": 0.8}
        ]


def test_example_e_missing_symbols_and_finalize(kb) -> None:
    learn_events(kb, [["hello", "world"], ["bar", "foo"]])
    (p,) = run(kb, [["hello"], ["foo"]]).predictions
    assert p["name"].startswith("0405596c")
    assert p["similarity"] == 0.6666666666666665
    assert p["missing"] == [["world"], ["bar"]] and p["matches"] == ["hello", "foo"]
    assert p["fragmentation"] == 1.0 and p["snr"] == 1.0
    assert p["evidence"] == 0.5 and p["confidence"] == 0.5 and p["entropy"] == 2.0
    assert p["normalized_entropy"] == 1.0
    assert p["itfdf_similarity"] == 0.7071067811865475 and p["tfidf_score"] == 0.25
    assert p["potential"] == 2.2071067811865475


def test_example_e_extended(kb) -> None:
    learn_events(kb, [["hello", "world"], ["bar", "foo"], ["baz"]])
    learn_events(kb, [["a"], ["b"], ["foo"]])
    first, second = run(kb, [["hello"], ["foo"]]).predictions
    assert first["name"].startswith("ebcf0a42")
    assert first["similarity"] == 0.4 and first["past"] == [["a"], ["b"]] and first["present"] == [["foo"]]
    assert first["extras"] == [["hello"], []]
    assert first["evidence"] == 1 / 3 and first["confidence"] == 1 and first["snr"] == 1 / 3
    assert first["itfdf_similarity"] == 0.9472135954999579 and first["tfidf_score"] == 1.0
    assert math.isclose(first["bayesian_posterior"], 0.4118, abs_tol=1e-4)
    assert first["potential"] == 2.391658039944402
    assert second["name"].startswith("644a20a8")
    assert second["similarity"] == 0.5714285714285714
    assert second["present"] == [["hello", "world"], ["bar", "foo"]] and second["future"] == [["baz"]]
    assert second["missing"] == [["world"], ["bar"]]
    assert second["evidence"] == 0.4 and second["confidence"] == 0.5 and second["snr"] == 1
    assert second["fragmentation"] == 1
    assert second["normalized_entropy"] == 0.7124143742160444
    assert second["global_normalized_entropy"] == 0.5343107806620333
    assert second["confluence"] == 0.4375
    assert second["itfdf_similarity"] == 0.9225771273642582 and second["tfidf_score"] == 0.4375
    assert second["predictive_information"] == 0.2857142857142857
    assert math.isclose(second["bayesian_posterior"], 0.5882, abs_tol=1e-4)
    assert second["potential"] == 2.322577127364258

    kb.store_finalized(finalize(kb))
    first_after, second_after = run(kb, [["hello"], ["foo"]]).predictions
    assert second_after["entropy"] == 2.321928094887362
    assert second_after["normalized_entropy"] == 0.8270874753469162
    assert second_after["global_normalized_entropy"] == 0.7124143742160444
    assert math.isclose(second_after["tfidf_score"], 0.36)
    assert first_after["entropy"] == 1.584962500721156
    assert math.isclose(first_after["tfidf_score"], 0.5556, abs_tol=1e-4)
    assert first_after["potential"] == first["potential"] and second_after["potential"] == second["potential"]


def test_example_f_boundary_fix(kb) -> None:
    learn_events(kb, [["a", "b"], ["c"]])
    (p,) = run(kb, [["b"], ["c"]]).predictions
    assert p["present"] == [["a", "b"], ["c"]] and p["past"] == []
    assert p["missing"] == [["a"], []]
    assert math.isclose(p["confidence"], 2 / 3)
    assert math.isclose(p["potential"], 3.1498, abs_tol=1e-4)


def test_example_f_boundary_fix_fires_on_membership(kb) -> None:
    learn_events(kb, [["x"], ["a"], ["a"], ["b"]])
    (p,) = run(kb, [["a"], ["b"]]).predictions
    assert p["past"] == [["x"]] and p["present"] == [["a"], ["a"], ["b"]]
    assert math.isclose(p["confidence"], 2 / 3)


def test_example_f_lcs_and_greedy_disagree(kb) -> None:
    learn_events(kb, [["b"], ["d"], ["d"], ["b"], ["c"]])
    (p,) = run(kb, [["a"], ["d"], ["a"], ["b"]]).predictions
    assert math.isclose(p["similarity"], 4 / 9)
    assert p["matches"] == ["b"]
    assert p["extras"] == [["a"], ["d"], ["a"], []]
    assert math.isclose(p["snr"], -0.2)
    assert math.isclose(p["potential"], 1.76, abs_tol=1e-2)


def test_example_f_threshold_zero_unrelated(kb) -> None:
    learn_events(kb, [["p"], ["q"]])
    (p,) = run(kb, [["a"], ["b"]], recall_threshold=0.0).predictions
    assert p["similarity"] == 0.0 and p["matches"] == [] and p["fragmentation"] == -1.0 and p["snr"] == -1.0
    assert p["missing"] == [["p"], ["q"]]
    assert p["potential"] == 0.0


def test_example_f_fuzzy_tokens(kb) -> None:
    learn_events(kb, [["apple"], ["banana"], ["cherry"], ["date"], ["elderberry"]])
    learn_events(kb, [["apple", "banana", "cherry", "date", "elderberry"]])
    results = run(kb, [["apple", "bannana", "chery"]], fuzzy_token_threshold=0.85).predictions
    (p,) = [r for r in results if len(r["sequence"]) == 1]
    assert p["similarity"] == 0.25
    assert p["matches"] == ["apple", "bannana", "chery"]
    assert [(a["observed"], a["expected"]) for a in p["anomalies"]] == [("bannana", "banana"), ("chery", "cherry")]
    assert math.isclose(p["anomalies"][0]["similarity"], 0.923, abs_tol=1e-3)
    assert math.isclose(p["anomalies"][1]["similarity"], 0.909, abs_tol=1e-3)
    assert p["missing"] == [["banana", "cherry", "date", "elderberry"]]
    assert p["extras"] == [["bannana", "chery"]]
    assert p["snr"] == 1.0 and p["evidence"] == 0.6


def test_example_f_character_mode(kb) -> None:
    learn_events(kb, [["apple"], ["banana"], ["cherry"]])
    (p,) = run(kb, [["apple"], ["banana"]], use_token_matching=False).predictions
    assert p["similarity"] == 24 / 31 == 0.7741935483870968


def test_character_mode_with_threshold_zero_returns_predictions(kb) -> None:
    """DESIGN.md deviation 5: the reference returns nothing here because of a swallowed error."""
    learn_events(kb, [["apple"], ["banana"], ["cherry"]])
    learn_events(kb, [["kiwi"], ["lime"]])
    result = run(kb, [["apple"], ["banana"]], use_token_matching=False, recall_threshold=0.0)
    assert len(result.predictions) == 2


def test_empty_stm_gives_nothing(kb) -> None:
    learn_events(kb, [["a"], ["b"]])
    assert run(kb, []) .predictions == [] and run(kb, []).future_potentials == []


def test_top_k_pruning_marks_pre_potential_and_limits_the_ensemble(kb) -> None:
    for i in range(10):
        learn_events(kb, [["a"], ["b"], [f"t{i}"] * (i % 3 + 1)])
    result = run(kb, [["a"], ["b"]], max_predictions=2)
    assert len(result.predictions) == 2
    assert all("_pre_potential" in p for p in result.predictions)
    assert sum(f["supporting_patterns"] for f in result.future_potentials) == 6


def test_rank_sort_algo_is_honoured_per_session(kb) -> None:
    learn_events(kb, [["a"], ["b"]])
    learn_events(kb, [["a"], ["b"], ["c"], ["d"], ["e"]])
    learn_events(kb, [["a"], ["b"], ["c"], ["d"], ["e"]])
    by_frequency = run(kb, [["a"], ["b"]], rank_sort_algo="frequency").predictions
    assert [p["frequency"] for p in by_frequency] == [2, 1]
    by_similarity = run(kb, [["a"], ["b"]], rank_sort_algo="similarity").predictions
    assert [p["similarity"] for p in by_similarity] == sorted((p["similarity"] for p in by_similarity), reverse=True)
    unweighted = run(kb, [["a"], ["b"]], rank_sort_algo="weighted_snr").predictions
    assert len(unweighted) == 2  # None values sort last instead of failing


def test_affinity_weighting(kb) -> None:
    from tests.engine.helpers import do_learn, do_observe, new_session

    state = new_session()
    state, _ = do_observe(kb, state, ["a"], emotives={"joy": 4.0})
    state, _ = do_observe(kb, state, ["b"], emotives={"joy": 2.0})
    state, _ = do_observe(kb, state, ["c"])
    do_learn(kb, state)
    (p,) = run(kb, [["a"], ["b"]], affinity_emotive="joy").predictions
    w = 3.0 / 1 + 0.01  # |affinity| / symbol frequency + floor, for a and b alike
    assert p["weighted_similarity"] == 2 * (w + w) / ((w + w) + (w + w + 0))
    assert p["weighted_evidence"] == (w + w) / (w + w + 0)
    assert p["weighted_confidence"] == 1.0 and p["weighted_snr"] == 1.0
    assert p["potential"] == (1.0 + 1.0) * 1.0 + p["itfdf_similarity"] + 1.0
    (fast,) = run(kb, [["a"]], affinity_emotive="joy").predictions
    # c learned the same affinity as a and b
    assert fast["weighted_confidence"] == 1.0 and fast["weighted_evidence"] == w / (w + w + w)

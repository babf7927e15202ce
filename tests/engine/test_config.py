"""Session configuration: api.md §12."""

from __future__ import annotations

import pytest

from kato.engine.config import (
    RANK_SORT_ALGOS,
    ConfigValidationError,
    EngineConfig,
    validate_create,
    validate_update,
)

WIRE_ORDER = [
    "max_pattern_length", "persistence", "recall_threshold", "indexer_type", "max_predictions", "sort_symbols",
    "process_predictions", "use_token_matching", "stm_mode", "rank_sort_algo", "filter_pipeline",
    "length_min_ratio", "length_max_ratio", "jaccard_threshold", "jaccard_min_overlap", "minhash_threshold",
    "minhash_bands", "minhash_rows", "minhash_num_hashes", "bloom_false_positive_rate", "max_candidates_per_stage",
    "enable_filter_metrics",
]


def test_default_wire_config_has_reference_keys_and_values() -> None:
    wire = EngineConfig().to_wire()
    assert list(wire) == WIRE_ORDER
    assert wire["recall_threshold"] == 0.1 and wire["max_predictions"] == 100 and wire["filter_pipeline"] == []


def test_optional_keys_appear_only_when_set() -> None:
    wire = EngineConfig().with_overrides({"fuzzy_token_threshold": 0.3, "affinity_emotive": "joy"}).to_wire()
    assert list(wire).index("fuzzy_token_threshold") == list(wire).index("use_token_matching") + 1
    assert list(wire).index("affinity_emotive") == list(wire).index("rank_sort_algo") + 1


def test_values_keep_their_json_type() -> None:
    assert EngineConfig().with_overrides(validate_update({"recall_threshold": 1})).to_wire()["recall_threshold"] == 1
    assert isinstance(
        EngineConfig().with_overrides(validate_update({"recall_threshold": 1})).recall_threshold, int
    )


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"recall_threshold": 1.5}, "recall_threshold", "Must be a number between 0.0 and 1.0"),
        ({"recall_threshold": "0.5"}, "recall_threshold", "Must be a number between 0.0 and 1.0"),
        ({"recall_threshold": None}, "recall_threshold", "Must be a number between 0.0 and 1.0"),
        ({"recall_threshold": True}, "recall_threshold", "Must be a number between 0.0 and 1.0"),
        ({"persistence": 5.0}, "persistence", "Must be an integer between 1 and 100"),
        ({"persistence": 101}, "persistence", "Must be an integer between 1 and 100"),
        ({"max_pattern_length": -1}, "max_pattern_length", "Must be a non-negative integer"),
        ({"max_pattern_length": True}, "max_pattern_length", "Must be a non-negative integer"),
        ({"max_predictions": 0}, "max_predictions", "Must be an integer between 1 and 10000"),
        ({"indexer_type": "vi"}, "indexer_type", "Must be one of: VI, LSH, ANNOY, FAISS"),
        ({"stm_mode": 5}, "stm_mode", "Must be a string"),
        ({"sort": "yes"}, "sort", "Must be a boolean (true/false)"),
        ({"use_token_matching": 1}, "use_token_matching", "Must be a boolean (true/false)"),
        ({"rank_sort_algo": "bogus"}, "rank_sort_algo", "Must be one of: " + ", ".join(RANK_SORT_ALGOS)),
        (
            {"filter_pipeline": "abc"},
            "filter_pipeline",
            "Must be a list of: minhash, length, jaccard, bloom, rapidfuzz",
        ),
        ({"fuzzy_token_threshold": 5}, "fuzzy_token_threshold", "Must be a number between 0.0 and 1.0"),
    ],
)
def test_update_validation_messages(body: dict, field: str, message: str) -> None:
    with pytest.raises(ConfigValidationError) as info:
        validate_update(body)
    assert info.value.errors == {field: message}


def test_all_errors_are_reported_in_reference_order() -> None:
    body = {"rank_sort_algo": 1, "use_token_matching": 1, "stm_mode": 1, "persistence": 0, "recall_threshold": 2}
    with pytest.raises(ConfigValidationError) as info:
        validate_update(body)
    assert list(info.value.errors) == [
        "recall_threshold", "persistence", "stm_mode", "use_token_matching", "rank_sort_algo"
    ]


def test_update_wrapped_form_wins_and_unknown_keys_are_ignored() -> None:
    assert validate_update({"config": {"max_predictions": 8}, "max_pattern_length": 4}) == {"max_predictions": 8}
    assert validate_update({"foo": 1, "sort": True, "kb_id": "z"}) == {}


def test_unknown_stm_mode_becomes_clear() -> None:
    assert validate_update({"stm_mode": "rolling"}) == {"stm_mode": "CLEAR"}


def test_use_token_matching_carries_sort_symbols_unless_given() -> None:
    assert validate_update({"use_token_matching": False}) == {"use_token_matching": False, "sort_symbols": False}
    assert validate_update({"use_token_matching": False, "sort_symbols": True}) == {
        "use_token_matching": False,
        "sort_symbols": True,
    }


def test_null_resets_optional_fields() -> None:
    config = EngineConfig().with_overrides({"affinity_emotive": "joy"})
    changes = validate_update({"affinity_emotive": None})
    assert "affinity_emotive" not in EngineConfig().with_overrides(changes).to_wire()
    assert config.affinity_emotive == "joy"


@pytest.mark.parametrize(
    "config",
    [
        {"recall_threshold": 2, "max_predictions": 7},
        {"max_predictions": "abc", "persistence": 9},
        {"filter_pipeline": ["nope"], "max_predictions": 9},
        {"fuzzy_token_threshold": 1.5, "max_predictions": 9},
        {"minhash_rows": 50, "max_predictions": 9},
        {"bloom_false_positive_rate": 0.5, "max_predictions": 9},
        {"max_predictions": 5.5},
        {"recall_threshold": True},
    ],
)
def test_create_drops_every_override_when_one_is_invalid(config: dict) -> None:
    assert validate_create(config) == {}


def test_create_applies_valid_overrides_without_toggle() -> None:
    overrides = validate_create(
        {"stm_mode": "FOO", "use_token_matching": False, "session_id": "x", "max_predictions": 5.0}
    )
    assert overrides == {"stm_mode": "CLEAR", "use_token_matching": False, "max_predictions": 5}
    assert EngineConfig().with_overrides(overrides).sort_symbols is True

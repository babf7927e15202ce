"""Session configuration: the fields of api.md §12, their defaults, ranges and validation messages.

A session keeps only its *overrides* (the JSON values a client set, verbatim, so `recall_threshold: 1` is echoed
as an int); the effective configuration is the server defaults with those overrides laid on top. Validation
happens before anything is stored (DESIGN.md rule 5), and unlike the reference every stored field is validated
(api.md §18.2-3). The reference's exact messages are kept for the fields it checks.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

RANK_SORT_ALGOS: tuple[str, ...] = (
    "potential", "similarity", "evidence", "confidence", "snr", "fragmentation", "frequency",
    "normalized_entropy", "global_normalized_entropy", "itfdf_similarity", "confluence",
    "predictive_information", "bayesian_posterior", "bayesian_prior", "bayesian_likelihood", "tfidf_score",
    "weighted_similarity", "weighted_evidence", "weighted_confidence", "weighted_snr",
)
FILTER_STAGES: tuple[str, ...] = ("minhash", "length", "jaccard", "bloom", "rapidfuzz")
INDEXER_TYPES: tuple[str, ...] = ("VI", "LSH", "ANNOY", "FAISS")
STM_MODES: tuple[str, ...] = ("CLEAR", "ROLLING")


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Effective configuration of one session; field order is the wire order of api.md §12.2."""

    max_pattern_length: int = 0
    persistence: int = 5
    recall_threshold: float = 0.1
    indexer_type: str = "VI"
    max_predictions: int = 100
    sort_symbols: bool = True
    process_predictions: bool = True
    use_token_matching: bool = True
    fuzzy_token_threshold: float | None = None
    stm_mode: str = "CLEAR"
    rank_sort_algo: str = "potential"
    affinity_emotive: str | None = None
    filter_pipeline: tuple[str, ...] = ()
    length_min_ratio: float = 0.5
    length_max_ratio: float = 2.0
    jaccard_threshold: float = 0.3
    jaccard_min_overlap: int = 2
    minhash_threshold: float = 0.7
    minhash_bands: int = 20
    minhash_rows: int = 5
    minhash_num_hashes: int = 100
    bloom_false_positive_rate: float = 0.01
    max_candidates_per_stage: int = 100000
    enable_filter_metrics: bool = True

    def to_wire(self) -> dict[str, Any]:
        """The effective config as the reference renders it: optional keys only when set."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.name in _OPTIONAL_FIELDS:
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def with_overrides(self, overrides: Mapping[str, Any]) -> EngineConfig:
        """Lay a session's (already validated) overrides over these defaults; null means "use the default"."""
        changes: dict[str, Any] = {}
        for name, value in overrides.items():
            if value is None:
                continue
            changes[name] = tuple(value) if name == "filter_pipeline" else value
        return dataclasses.replace(self, **changes) if changes else self

    def updated(self, changes: Mapping[str, Any], defaults: EngineConfig) -> EngineConfig:
        """Apply a validated update; a null value puts the field back to the server default."""
        values = {
            name: (getattr(defaults, name) if value is None else tuple(value) if name == "filter_pipeline" else value)
            for name, value in changes.items()
        }
        return dataclasses.replace(self, **values) if values else self


_OPTIONAL_FIELDS = frozenset({"fuzzy_token_threshold", "affinity_emotive"})
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(EngineConfig))


# ---------------------------------------------------------------------------------------------------------------
# value checks

def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, int | float) and not isinstance(v, bool)) and math.isfinite(v)


def _int_in(lo: int, hi: int | None) -> Callable[[Any], bool]:
    return lambda v: _is_int(v) and v >= lo and (hi is None or v <= hi)


def _number_in(lo: float, hi: float | None) -> Callable[[Any], bool]:
    return lambda v: _is_number(v) and v >= lo and (hi is None or v <= hi)


def _one_of(options: tuple[str, ...]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, str) and v in options


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_pipeline(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(s, str) and s in FILTER_STAGES for s in v)


_BOOL_MSG = "Must be a boolean (true/false)"


@dataclass(frozen=True, slots=True)
class _Rule:
    check: Callable[[Any], bool]
    message: str
    nullable: bool  # null resets the field to its default; the reference rejects null where it validates


# Order = the order of the reference's checks, which is the key order of its validation_errors body.
_RULES: dict[str, _Rule] = {
    "recall_threshold": _Rule(_number_in(0.0, 1.0), "Must be a number between 0.0 and 1.0", False),
    "persistence": _Rule(_int_in(1, 100), "Must be an integer between 1 and 100", False),
    "max_pattern_length": _Rule(_int_in(0, None), "Must be a non-negative integer", False),
    "max_predictions": _Rule(_int_in(1, 10000), "Must be an integer between 1 and 10000", False),
    "indexer_type": _Rule(_one_of(INDEXER_TYPES), "Must be one of: " + ", ".join(INDEXER_TYPES), False),
    "stm_mode": _Rule(lambda v: isinstance(v, str), "Must be a string", False),
    "sort": _Rule(_is_bool, _BOOL_MSG, False),
    "process_predictions": _Rule(_is_bool, _BOOL_MSG, False),
    "use_token_matching": _Rule(_is_bool, _BOOL_MSG, False),
    "rank_sort_algo": _Rule(_one_of(RANK_SORT_ALGOS), "Must be one of: " + ", ".join(RANK_SORT_ALGOS), False),
    # Fields the reference stores unvalidated (api.md §18.3); kato checks them with the create-time ranges.
    "sort_symbols": _Rule(_is_bool, _BOOL_MSG, False),
    "fuzzy_token_threshold": _Rule(_number_in(0.0, 1.0), "Must be a number between 0.0 and 1.0", True),
    "affinity_emotive": _Rule(lambda v: isinstance(v, str), "Must be a string", True),
    "filter_pipeline": _Rule(_is_pipeline, "Must be a list of: " + ", ".join(FILTER_STAGES), True),
    "length_min_ratio": _Rule(_number_in(0.0, 1.0), "Must be a number between 0.0 and 1.0", True),
    "length_max_ratio": _Rule(_number_in(1.0, None), "Must be a number of at least 1.0", True),
    "jaccard_threshold": _Rule(_number_in(0.0, 1.0), "Must be a number between 0.0 and 1.0", True),
    "jaccard_min_overlap": _Rule(_int_in(1, None), "Must be a positive integer", True),
    "minhash_threshold": _Rule(_number_in(0.0, 1.0), "Must be a number between 0.0 and 1.0", True),
    "minhash_bands": _Rule(_int_in(1, 100), "Must be an integer between 1 and 100", True),
    "minhash_rows": _Rule(_int_in(1, 20), "Must be an integer between 1 and 20", True),
    "minhash_num_hashes": _Rule(_int_in(10, 256), "Must be an integer between 10 and 256", True),
    "bloom_false_positive_rate": _Rule(_number_in(0.0001, 0.1), "Must be a number between 0.0001 and 0.1", True),
    "max_candidates_per_stage": _Rule(_int_in(100, None), "Must be an integer of at least 100", True),
    "enable_filter_metrics": _Rule(_is_bool, _BOOL_MSG, True),
}


def _normalize(name: str, value: Any) -> Any:
    """The one rewrite the reference applies to a valid value: an unknown STM mode means CLEAR."""
    if name == "stm_mode" and value not in STM_MODES:
        return "CLEAR"
    return value


class ConfigValidationError(ValueError):
    """Raised with the per-field messages of api.md §12.3b."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def validate_update(body: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a POST /sessions/{id}/config body (api.md §12.3b) and return the overrides to merge.

    `{"config": {...}}` wins over the bare form. Unknown keys are ignored; `sort` is checked and then dropped, as the
    reference does. When `use_token_matching` comes without `sort_symbols`, `sort_symbols` follows it.
    """
    update = body.get("config", body)
    if not isinstance(update, Mapping):
        raise ConfigValidationError({"config": "Must be an object"})
    errors: dict[str, str] = {}
    for name, rule in _RULES.items():
        if name not in update:
            continue
        value = update[name]
        if value is None and rule.nullable:
            continue
        if not rule.check(value):
            errors[name] = rule.message
    if errors:
        raise ConfigValidationError(errors)
    changes = {name: _normalize(name, update[name]) for name in FIELD_NAMES if name in update}
    if "use_token_matching" in changes and "sort_symbols" not in changes:
        changes["sort_symbols"] = changes["use_token_matching"]
    return changes


def validate_create(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Overrides from the `config` of POST /sessions (api.md §12.3a): all or nothing, never an error.

    Integral floats are accepted for integer fields (the reference's lax parsing); anything invalid drops every
    supplied value and the session starts with the server defaults.
    """
    if not config:
        return {}
    overrides: dict[str, Any] = {}
    for name in FIELD_NAMES:
        if name not in config:
            continue
        value = config[name]
        if value is None:
            continue
        rule = _RULES[name]
        if isinstance(value, float) and value.is_integer() and rule.check(int(value)) and not rule.check(value):
            value = int(value)
        if not rule.check(value):
            return {}
        overrides[name] = _normalize(name, value)
    return overrides

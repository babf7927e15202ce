"""Byte-exact names: engine.md §4.2, api.md §14."""

from __future__ import annotations

import numpy as np
import pytest

from kato.engine.naming import pattern_name, sum_vectors, vector_name

PATTERN_VECTORS = [
    ([["a", "b"], ["c", "d"]], "0979c1024e7a5c6bf7c542ef1a2b8226d8fd50a3"),
    ([["a"], ["b"], ["c"], ["d"]], "08765292ef1217264602ed4b06d2cddbe94fba09"),
    ([["alpha"], ["beta"], ["gamma"]], "24e0f524f26eecfb14849cf3b3b57c44f3e705c2"),
    ([["hello", "world"], ["bar", "foo"]], "0405596c4d7172818bfeb508925e83226d4c4971"),
    ([["it's", "x"]], "241f54ae7031da001bcdb682d31d86de547e1485"),
    ([["hello", "world"], ["foo"]], "9893efcd120fe1d7d4622c39f6a5b8c0f5babdef"),
    ([["a"], ["b"], ["c"]], "b98534b32c1d7489d4ce1a48724aa65aeecbdba9"),
    ([["A", "B"]], "22a232445ba5912f7ad368fc3a1f54fbe0dee78e"),
]


@pytest.mark.parametrize(("events", "expected"), PATTERN_VECTORS)
def test_pattern_name_matches_reference_vectors(events: list[list[str]], expected: str) -> None:
    assert pattern_name(events) == expected
    assert pattern_name(tuple(tuple(e) for e in events)) == expected


@pytest.mark.parametrize(
    "events",
    [
        [["it's", 'say "hi"']],
        [["ünïcödé", "日本"]],
        [["tab\there", "new\nline", "back\\slash"]],
        [["\x00\x7f", "\u200b", "\U0001f600"]],
    ],
)
def test_pattern_name_is_sha1_of_python_list_repr(events: list[list[str]]) -> None:
    import hashlib

    assert pattern_name(events) == hashlib.sha1(repr(events).encode("utf-8")).hexdigest()


@pytest.mark.parametrize(
    ("vectors", "text", "expected"),
    [
        ([[0.1, 0.2, 0.3, 0.4]], "[0.1 0.2 0.3 0.4]", "VCTR|e8ffab17b31d6f646dd30d2e0c971cf178730267"),
        ([[1.0, 2.0, 3.0]], "[1. 2. 3.]", "VCTR|fe5de4472f7e4d5c9cdd19cadebfa06fe3da8e43"),
        ([[0.1, 0.2, 0.3], [1.0, 1.0, 1.0]], "[1.1 1.2 1.3]", "VCTR|8dbb0ae57cf8f66b18776f6c04e195ea0d82b5c1"),
        ([[1.0, 0.0, 0.0]], "[1. 0. 0.]", "VCTR|9d58821e286eae6a77923d694a12ede7cbeabfbd"),
    ],
)
def test_vector_name_matches_reference_vectors(vectors: list[list[float]], text: str, expected: str) -> None:
    total = sum_vectors(vectors)
    assert str(total) == text
    assert vector_name(total) == expected


def test_long_vectors_wrap_like_numpy() -> None:
    total = sum_vectors([[float(i) / 7 for i in range(40)]])
    assert "\n " in str(total)
    assert vector_name(total) == vector_name(np.array([float(i) / 7 for i in range(40)]))


def test_vectors_that_do_not_broadcast_are_rejected() -> None:
    with pytest.raises(ValueError):
        sum_vectors([[1.0, 2.0], [1.0, 2.0, 3.0]])

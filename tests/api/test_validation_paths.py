"""The plain-observation shortcut gives what the general validator gives, and declines everything else."""

from __future__ import annotations

import pytest

from kato.api.validation import _Errors, _general_observation, _plain_observation

PLAIN = [
    {},
    {"strings": []},
    {"strings": ["b", "a", "a", ""]},
    {"strings": ["x" * 10], "metadata": {"k": [1, {"n": None}]}},
    {"strings": ["ünï"], "vectors": [], "emotives": {}, "unique_id": "ignored"},
]
DECLINED = [
    {"strings": "a"},
    {"strings": [1]},
    {"strings": ["x" * 11]},
    {"strings": ["a"], "vectors": [[1.0, 2.0]]},
    {"strings": ["a"], "vectors": {}},
    {"strings": ["a"], "emotives": {"joy": 1}},
    {"strings": ["a"], "emotives": []},
    {"strings": ["a"], "metadata": []},
    {"strings": None},
]


@pytest.mark.parametrize("body", PLAIN)
def test_the_shortcut_equals_the_general_path(body: dict) -> None:
    errors = _Errors()
    general = _general_observation(body, ["body"], errors, 10)
    assert not errors
    assert _plain_observation(body, 10) == general


@pytest.mark.parametrize("body", DECLINED)
def test_the_shortcut_declines_the_rest(body: dict) -> None:
    assert _plain_observation(body, 10) is None

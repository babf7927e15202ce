"""Request parsing with the reference's (Pydantic v2, lax mode) error types and locations, minus the defects that
api.md §18 lists: booleans are not numbers, integers must be integral, numbers must be finite.

Each `parse_*` returns plain values or raises `ValidationFailed` listing every problem, before anything changes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from kato import jsonio
from kato.api.errors import ValidationFailed, error_item
from kato.engine.naming import sum_vectors
from kato.engine.session import Observation

_MISSING = object()
_INT_PARSING = "Input should be a valid integer, unable to parse string as an integer"
Loc = list[Any]


class _Errors(list):
    def add(self, kind: str, loc: Loc, msg: str, value: Any, ctx: dict[str, Any] | None = None) -> None:
        self.append(error_item(kind, loc, msg, value, ctx))


async def read_body(request: web.Request) -> Any:
    """The JSON body, `_MISSING` when there is none, the raw text when it is not sent as JSON.

    Raises a 422 json_invalid with the character position, as FastAPI does.
    """
    raw = await request.read()
    if not raw:
        return _MISSING
    if request.content_type not in ("application/json", "") and not request.content_type.endswith("+json"):
        return raw.decode("utf-8", "replace")
    try:
        value = jsonio.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValidationFailed([error_item("json_invalid", ["body", exc.pos], "JSON decode error", {},
                                           {"error": exc.msg})]) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationFailed([error_item("json_invalid", ["body", 0], "JSON decode error", {},
                                           {"error": str(exc)})]) from None
    return _MISSING if value is None else value


def _require_object(body: Any, *, model: bool = True) -> dict[str, Any]:
    if body is _MISSING:
        raise ValidationFailed([error_item("missing", ["body"], "Field required", None)])
    if not isinstance(body, dict):
        if model:
            raise ValidationFailed([error_item(
                "model_attributes_type", ["body"],
                "Input should be a valid dictionary or object to extract fields from", body)])
        raise ValidationFailed([error_item("dict_type", ["body"], "Input should be a valid dictionary", body)])
    return body


# ------------------------------------------------------------------------------------------------ scalar coercions

def _string(value: Any, loc: Loc, errors: _Errors, max_length: int | None = None) -> str | None:
    if not isinstance(value, str):
        errors.add("string_type", loc, "Input should be a valid string", value)
        return None
    if max_length is not None and len(value) > max_length:
        errors.add("string_too_long", loc, f"String should have at most {max_length} characters", value,
                   {"max_length": max_length})
        return None
    return value


def _float(value: Any, loc: Loc, errors: _Errors) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0  # the reference's lax float accepts booleans; harmless for magnitudes
    if isinstance(value, int | float):
        number = float(value) if not isinstance(value, int) or abs(value) < 2**1023 else math.inf
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            errors.add("float_parsing", loc, "Input should be a valid number, unable to parse string as a number",
                       value)
            return None
    else:
        errors.add("float_type", loc, "Input should be a valid number", value)
        return None
    if not math.isfinite(number):
        errors.add("finite_number", loc, "Input should be a finite number", value)
        return None
    return number


def _int(value: Any, loc: Loc, errors: _Errors) -> int | None:
    if isinstance(value, bool):
        errors.add("int_type", loc, "Input should be a valid integer", value)
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            errors.add("int_from_float", loc,
                       "Input should be a valid integer, got a number with a fractional part", value)
            return None
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            errors.add("int_parsing", loc, _INT_PARSING, value)
            return None
    errors.add("int_type", loc, "Input should be a valid integer", value)
    return None


def _bool(value: Any, loc: Loc, errors: _Errors) -> bool | None:
    """JSON booleans, plus "true"/"false" and 0/1 as the reference accepts them; not "yes"/"on" (§18.7)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if isinstance(value, str | int | float):
        errors.add("bool_parsing", loc, "Input should be a valid boolean, unable to interpret input", value)
    else:
        errors.add("bool_type", loc, "Input should be a valid boolean", value)
    return None


def _list(value: Any, loc: Loc, errors: _Errors) -> list | None:
    if not isinstance(value, list):
        errors.add("list_type", loc, "Input should be a valid list", value)
        return None
    return value


def _dict(value: Any, loc: Loc, errors: _Errors) -> dict | None:
    if not isinstance(value, dict):
        errors.add("dict_type", loc, "Input should be a valid dictionary", value)
        return None
    return value


def parse_int_query(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    errors = _Errors()
    try:
        value = int(raw)
    except ValueError:
        errors.add("int_parsing", ["query", name], _INT_PARSING, raw)
        raise ValidationFailed(errors) from None
    return value


# ------------------------------------------------------------------------------------------------ request models

@dataclass(frozen=True, slots=True)
class CreateSession:
    node_id: str
    ttl_seconds: int | None
    metadata: dict[str, Any]
    config: dict[str, Any] | None


def parse_create_session(body: Any) -> CreateSession:
    data = _require_object(body)
    errors = _Errors()
    node_id = None
    if "node_id" not in data:
        errors.add("missing", ["body", "node_id"], "Field required", data)
    else:
        node_id = _string(data["node_id"], ["body", "node_id"], errors)
    ttl = data.get("ttl_seconds")
    if ttl is not None:
        ttl = _int(ttl, ["body", "ttl_seconds"], errors)
        if ttl is not None and ttl < 0:
            errors.add("greater_than_equal", ["body", "ttl_seconds"], "Input should be greater than or equal to 0",
                       data["ttl_seconds"], {"ge": 0})
    metadata = data.get("metadata")
    if metadata is not None:
        metadata = _dict(metadata, ["body", "metadata"], errors)
    config = data.get("config")
    if config is not None:
        config = _dict(config, ["body", "config"], errors)
    if errors:
        raise ValidationFailed(errors)
    return CreateSession(node_id, ttl or None, metadata or {}, config)


def _plain_observation(data: dict[str, Any], max_symbol_length: int) -> Observation | None:
    """The common shape, strings and metadata only, all valid: checked without building an error location per
    value (most of the cost of the general path). None sends anything else to the general path."""
    strings = data.get("strings", [])
    metadata = data.get("metadata", {})
    vectors = data.get("vectors", [])
    emotives = data.get("emotives", {})
    if type(strings) is not list or type(metadata) is not dict or type(vectors) is not list or vectors \
            or type(emotives) is not dict or emotives:
        return None
    for value in strings:
        if type(value) is not str or len(value) > max_symbol_length:
            return None
    return Observation(strings=list(strings), vectors=[], emotives={}, metadata=metadata)


def _observation(data: Any, loc: Loc, errors: _Errors, max_symbol_length: int) -> Observation | None:
    plain = _plain_observation(data, max_symbol_length)
    if plain is not None:
        return plain
    return _general_observation(data, loc, errors, max_symbol_length)


def _general_observation(data: Any, loc: Loc, errors: _Errors, max_symbol_length: int) -> Observation | None:
    before = len(errors)
    strings: list[str] = []
    raw = data.get("strings", [])
    if _list(raw, [*loc, "strings"], errors) is not None:
        for i, value in enumerate(raw):
            text = _string(value, [*loc, "strings", i], errors, max_symbol_length)
            if text is not None:
                strings.append(text)
    vectors: list[list[float]] = []
    raw = data.get("vectors", [])
    if _list(raw, [*loc, "vectors"], errors) is not None:
        for i, row in enumerate(raw):
            if _list(row, [*loc, "vectors", i], errors) is None:
                continue
            numbers = [_float(v, [*loc, "vectors", i, j], errors) for j, v in enumerate(row)]
            vectors.append([x for x in numbers if x is not None])
    emotives: dict[str, float] = {}
    raw = data.get("emotives", {})
    if _dict(raw, [*loc, "emotives"], errors) is not None:
        for key, value in raw.items():
            number = _float(value, [*loc, "emotives", key], errors)
            if number is not None:
                emotives[key] = number
    metadata = data.get("metadata", {})
    _dict(metadata, [*loc, "metadata"], errors)
    if vectors and len(errors) == before:
        try:
            sum_vectors(vectors)
        except ValueError as exc:
            errors.add("value_error", [*loc, "vectors"], f"Value error, {exc}", data.get("vectors"))
    if len(errors) > before:
        return None
    return Observation(strings=strings, vectors=vectors, emotives=emotives, metadata=metadata)


def parse_observation(body: Any, max_symbol_length: int) -> Observation:
    data = _require_object(body)
    errors = _Errors()
    observation = _observation(data, ["body"], errors, max_symbol_length)
    if errors:
        raise ValidationFailed(errors)
    return observation


@dataclass(frozen=True, slots=True)
class ObserveSequence:
    observations: list[tuple[Observation, str | None]]
    learn_after_each: bool
    learn_at_end: bool
    clear_stm_between: bool


def parse_observe_sequence(body: Any, max_symbol_length: int) -> ObserveSequence:
    data = _require_object(body)
    errors = _Errors()
    items: list[tuple[Observation, str | None]] = []
    if "observations" not in data:
        errors.add("missing", ["body", "observations"], "Field required", data)
    elif _list(data["observations"], ["body", "observations"], errors) is not None:
        for i, item in enumerate(data["observations"]):
            loc = ["body", "observations", i]
            if not isinstance(item, dict):
                errors.add("model_attributes_type", loc,
                           "Input should be a valid dictionary or object to extract fields from", item)
                continue
            observation = _observation(item, loc, errors, max_symbol_length)
            unique_id = item.get("unique_id")
            if unique_id is not None:
                unique_id = _string(unique_id, [*loc, "unique_id"], errors)
            if observation is not None:
                items.append((observation, unique_id or None))
    flags = {}
    for name in ("learn_after_each", "learn_at_end", "clear_stm_between"):
        value = data.get(name, False)
        flags[name] = bool(_bool(value, ["body", name], errors)) if value is not None else False
    if errors:
        raise ValidationFailed(errors)
    return ObserveSequence(items, **flags)


def parse_config_update(body: Any) -> dict[str, Any]:
    return _require_object(body, model=False)

"""A column store of a node's pattern symbols, for finding and grouping prediction candidates with numpy.

Why: at 100,000 patterns a prediction has thousands of candidates, and anything done per candidate in Python costs
more than the whole budget. What the greedy alignment and the LCS similarity see of a pattern is only its
*projection* onto the state (each symbol replaced by the index of the state symbol it equals, or -1) together with
its event lengths; candidates with the same projection and event lengths align identically. So candidates are
grouped by that key here, exactly (np.unique over the projected rows, one length at a time), and the engine aligns
each group once.

The index is append-only, like the set of patterns between two clears, so a process keeps one per node and appends
what was learned since; it holds no session state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

_GROW = 2


def _grow(array: np.ndarray, needed: int) -> np.ndarray:
    if needed <= len(array):
        return array
    bigger = np.empty(max(needed, len(array) * _GROW), dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger


@dataclass(frozen=True, slots=True)
class CandidateGroup:
    """Patterns that align identically with the state: same projection, same event lengths."""

    projection: tuple[int, ...]
    lengths: tuple[int, ...]
    names: list[str]


class ColumnarIndex:
    def __init__(self) -> None:
        self.names: list[str] = []
        self.symbol_ids: dict[str, int] = {}
        self._flat = np.empty(4096, dtype=np.int32)
        self._flat_size = 0
        self._starts = np.empty(1024, dtype=np.int64)
        self._sizes = np.empty(1024, dtype=np.int32)
        self._layouts = np.empty(1024, dtype=np.int32)
        self._layout_ids: dict[tuple[int, ...], int] = {}
        self._layout_list: list[tuple[int, ...]] = []
        self._postings: dict[int, list[int]] = {}
        self._posting_arrays: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.names)

    def append(self, name: str, events: Sequence[Sequence[str]]) -> None:
        """Add a pattern learned after everything already indexed."""
        index = len(self.names)
        symbols = [s for event in events for s in event]
        ids = []
        for symbol in symbols:
            sid = self.symbol_ids.get(symbol)
            if sid is None:
                sid = self.symbol_ids[symbol] = len(self.symbol_ids)
            ids.append(sid)
        layout = tuple(len(event) for event in events)
        layout_id = self._layout_ids.get(layout)
        if layout_id is None:
            layout_id = self._layout_ids[layout] = len(self._layout_list)
            self._layout_list.append(layout)
        self._flat = _grow(self._flat, self._flat_size + len(ids))
        self._flat[self._flat_size:self._flat_size + len(ids)] = ids
        self._starts = _grow(self._starts, index + 1)
        self._sizes = _grow(self._sizes, index + 1)
        self._layouts = _grow(self._layouts, index + 1)
        self._starts[index] = self._flat_size
        self._sizes[index] = len(ids)
        self._layouts[index] = layout_id
        self._flat_size += len(ids)
        for sid in dict.fromkeys(ids):
            self._postings.setdefault(sid, []).append(index)
            self._posting_arrays.pop(sid, None)
        self.names.append(name)

    def extend(self, patterns: Iterable[tuple[str, Sequence[Sequence[str]]]]) -> None:
        for name, events in patterns:
            self.append(name, events)

    def _posting(self, sid: int) -> np.ndarray:
        array = self._posting_arrays.get(sid)
        if array is None:
            array = self._posting_arrays[sid] = np.asarray(self._postings[sid], dtype=np.int64)
        return array

    def groups(self, local_ids: Mapping[str, int], everything: bool) -> list[CandidateGroup]:
        """Candidates grouped by (projection, event lengths): every pattern when `everything`, else the patterns
        sharing a symbol with the state. Group members are in first-learn order."""
        count = len(self.names)
        lut = np.full(max(len(self.symbol_ids), 1), -1, dtype=np.int32)
        shared = []
        for symbol, local in local_ids.items():
            sid = self.symbol_ids.get(symbol)
            if sid is not None:
                lut[sid] = local
                shared.append(sid)
        if everything:
            candidates = np.arange(count, dtype=np.int64)
        elif not shared:
            return []
        elif len(shared) == 1:
            candidates = self._posting(shared[0])
        else:
            candidates = np.unique(np.concatenate([self._posting(sid) for sid in shared]))
        if len(candidates) == 0:
            return []
        sizes = self._sizes[candidates]
        out: list[CandidateGroup] = []
        distinct = np.unique(sizes).tolist()
        for size in distinct:
            members = candidates if len(distinct) == 1 else candidates[sizes == size]
            out.extend(self._group_rows(members, size, lut, len(local_ids) + 1))
        return out

    def _group_rows(self, members: np.ndarray, size: int, lut: np.ndarray, base: int) -> list[CandidateGroup]:
        """Group patterns of one length by their projected rows plus event layout, exactly."""
        rows = lut[self._flat[self._starts[members][:, None] + np.arange(size)]]
        layouts = self._layouts[members]
        if base ** size * max(len(self._layout_list), 1) < 2**62:
            # One int64 per row (mixed radix), which np.unique sorts far faster than rows.
            weights = base ** np.arange(size, dtype=np.int64)
            keys = (rows.astype(np.int64) + 1) @ weights + layouts.astype(np.int64) * (base**size)
            _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        else:
            keyed = np.concatenate([rows, layouts[:, None]], axis=1)
            _, first, inverse = np.unique(keyed, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(first) + 1)).tolist()
        names = self.names
        member_names = [names[i] for i in members[order].tolist()]
        row_list = rows[first].tolist()
        layout_list = layouts[first].tolist()
        return [
            CandidateGroup(tuple(row_list[g]), self._layout_list[layout_list[g]], member_names[bounds[g]:bounds[g + 1]])
            for g in range(len(first))
        ]

"""A column store of a node's pattern symbols, for finding and grouping prediction candidates with numpy.

Why: at 100,000 patterns a prediction has thousands of candidates, and anything done per candidate in Python costs
more than the whole budget. What the greedy alignment and the LCS similarity see of a pattern is only its
*projection* onto the state (each symbol replaced by the index of the state symbol it equals, or -1) together with
its event lengths; candidates with the same projection and event lengths align identically. So candidates are
grouped by that key here, exactly (one stable sort of the projected rows, one length at a time), and the engine
aligns each group once.

The index is append-only, like the set of patterns between two clears, so a process keeps one per node and appends
what was learned since; it holds no session state.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

_HEX_NAME = re.compile(r"[0-9a-f]{40}")

_GROW = 2
# Up to this many candidates of one length are grouped with a dict (`_group_few`), above it with numpy sorts.
SMALL_GROUPING = 256


def _grow(array: np.ndarray, needed: int) -> np.ndarray:
    if needed <= len(array):
        return array
    bigger = np.empty(max(needed, len(array) * _GROW), dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger


class CandidateGroup:
    """Patterns that align identically with the state: same projection, same event lengths.

    Members are kept as row numbers of the column index, not names: at 100,000 patterns a request has thousands
    of candidates but renders a few hundred, and building a name string per candidate cost more than grouping.
    `names()` materializes them (first-learn order); `smallest_names` picks the few a top-K cut keeps.
    """

    __slots__ = ("_index", "_names", "_rows", "lengths", "projection", "size")

    def __init__(
        self,
        projection: tuple[int, ...],
        lengths: tuple[int, ...],
        names: list[str] | None = None,
        *,
        rows: np.ndarray | None = None,
        index: ColumnarIndex | None = None,
    ) -> None:
        self.projection = projection
        self.lengths = lengths
        self._names = names
        self._rows = rows
        self._index = index
        self.size = len(names) if names is not None else len(rows)  # type: ignore[arg-type]

    def names(self) -> list[str]:
        """Member names in first-learn order."""
        if self._names is None:
            every = self._index.names  # type: ignore[union-attr]
            self._names = [every[i] for i in self._rows.tolist()]  # type: ignore[union-attr]
        return self._names


def smallest_names(groups: Sequence[CandidateGroup], need: int) -> list[tuple[str, int]]:
    """The `need` smallest member names over `groups`, ascending, each with the position of its group.

    Exact: when the groups kept as rows all come from one index whose names are all 40-hex sha1 digests, a 60-bit
    prefix key (ordered like the names) preselects with numpy every such member whose key is at most the need-th
    smallest key, a superset of their share of the answer; only those names, and those of the groups kept as names
    (few, see `ColumnarIndex._group_few`), are compared as strings.
    """
    indexed = [(at, g) for at, g in enumerate(groups) if g._rows is not None]
    index = indexed[0][1]._index if indexed else None
    if index is not None and index._hex and need > 0 and all(g._index is index for _, g in indexed):
        rows = np.concatenate([g._rows for _, g in indexed]) if len(indexed) > 1 else indexed[0][1]._rows
        owners = np.repeat(np.array([at for at, _ in indexed]), [g.size for _, g in indexed])
        if len(rows) > need:
            keys = index._keys[rows]
            kth = np.partition(keys, need - 1)[need - 1]
            keep = keys <= kth
            rows, owners = rows[keep], owners[keep]
        every = index.names
        pairs = list(zip([every[i] for i in rows.tolist()], owners.tolist(), strict=True))
        pairs += [(name, at) for at, g in enumerate(groups) if g._rows is None for name in g.names()]
        pairs.sort()
        return pairs[:need]
    pairs = sorted((name, position) for position, g in enumerate(groups) for name in g.names())
    return pairs[:need]


def _hex_key(name: str) -> int | None:
    """A 60-bit key ordered like 40-hex names (their first 15 digits), or None for a name of another form."""
    return int(name[:15], 16) if _HEX_NAME.fullmatch(name) else None


class ColumnarIndex:
    """Pattern symbols as ids, one row per pattern in a matrix per pattern size, plus a posting array per symbol.

    Appends only ever write past what readers look at (rows below `len(names)`, posting prefixes), and every
    array grows by doubling, so an append costs O(1) amortized and no array is rebuilt for a read.
    """

    def __init__(self) -> None:
        self.names: list[str] = []
        self.symbol_ids: dict[str, int] = {}
        self._sizes = np.empty(1024, dtype=np.int32)
        self._slots = np.empty(1024, dtype=np.int64)  # row of each pattern in the matrix of its size
        self._layouts = np.empty(1024, dtype=np.int32)
        self._matrices: dict[int, np.ndarray] = {}  # size -> (capacity, size) symbol ids
        self._matrix_rows: dict[int, int] = {}
        self._layout_ids: dict[tuple[int, ...], int] = {}
        self._layout_list: list[tuple[int, ...]] = []
        self._size_layouts: dict[int, set[int]] = {}  # pattern size -> ids of the event layouts of that size
        self._weights: dict[tuple[int, int], np.ndarray] = {}  # (base, size) -> digit weights of group keys
        self._postings: dict[int, np.ndarray] = {}  # symbol id -> ascending pattern rows (capacity-padded)
        self._posting_sizes: dict[int, int] = {}
        self._keys = np.empty(1024, dtype=np.int64)  # name prefix keys, see `smallest_names`
        self._hex = True  # every name so far is a 40-hex digest

    def __len__(self) -> int:
        return len(self.names)

    def append(self, name: str, events: Sequence[Sequence[str]]) -> None:
        """Add a pattern learned after everything already indexed."""
        index = len(self.names)
        ids = []
        for event in events:
            for symbol in event:
                sid = self.symbol_ids.get(symbol)
                if sid is None:
                    sid = self.symbol_ids[symbol] = len(self.symbol_ids)
                ids.append(sid)
        size = len(ids)
        layout = tuple(len(event) for event in events)
        layout_id = self._layout_ids.get(layout)
        if layout_id is None:
            layout_id = self._layout_ids[layout] = len(self._layout_list)
            self._layout_list.append(layout)
        self._size_layouts.setdefault(size, set()).add(layout_id)
        slot = self._matrix_rows.get(size, 0)
        matrix = self._matrices.get(size)
        if matrix is None or slot >= len(matrix):
            bigger = np.empty((max(64, slot * _GROW), size), dtype=np.int32)
            if matrix is not None:
                bigger[:slot] = matrix[:slot]
            matrix = self._matrices[size] = bigger
        matrix[slot] = ids
        self._matrix_rows[size] = slot + 1
        self._sizes = _grow(self._sizes, index + 1)
        self._slots = _grow(self._slots, index + 1)
        self._layouts = _grow(self._layouts, index + 1)
        self._sizes[index] = size
        self._slots[index] = slot
        self._layouts[index] = layout_id
        key = _hex_key(name) if self._hex else None
        if key is None:
            self._hex = False
        else:
            self._keys = _grow(self._keys, index + 1)
            self._keys[index] = key
        for sid in dict.fromkeys(ids):
            used = self._posting_sizes.get(sid, 0)
            posting = self._postings.get(sid)
            if posting is None or used >= len(posting):
                posting = self._postings[sid] = _grow(
                    posting if posting is not None else np.empty(0, dtype=np.int64), max(used + 1, 8)
                )
            posting[used] = index
            self._posting_sizes[sid] = used + 1
        self.names.append(name)

    def extend(self, patterns: Iterable[tuple[str, Sequence[Sequence[str]]]]) -> None:
        for name, events in patterns:
            self.append(name, events)

    def _posting(self, sid: int, count: int) -> np.ndarray:
        """Rows holding symbol `sid` among the first `count` patterns, ascending."""
        posting = self._postings[sid][: self._posting_sizes[sid]]
        if len(posting) and posting[-1] >= count:
            posting = posting[: np.searchsorted(posting, count)]
        return posting

    def groups(self, local_ids: Mapping[str, int], everything: bool) -> list[CandidateGroup]:
        """Candidates grouped by (projection, event lengths): every pattern when `everything`, else the patterns
        sharing a symbol with the state. Group members are in first-learn order."""
        count = len(self.names)
        # symbol id -> state index + 1 (0 for a symbol not in the state): row values are digits of the group key
        lut = np.zeros(max(len(self.symbol_ids), 1), dtype=np.int64)
        shared = []
        for symbol, local in local_ids.items():
            sid = self.symbol_ids.get(symbol)
            if sid is not None:
                lut[sid] = local + 1
                shared.append(sid)
        if everything:
            candidates = np.arange(count, dtype=np.int64)
        elif not shared:
            return []
        elif len(shared) == 1:
            candidates = self._posting(shared[0], count)
        else:
            postings = [self._posting(sid, count) for sid in shared]
            if sum(len(p) for p in postings) * 16 < count:
                candidates = np.unique(np.concatenate(postings))
            else:
                # Dense postings: marking a mask over every row is cheaper than sorting their concatenation.
                mask = np.zeros(count, dtype=np.bool_)
                for posting in postings:
                    mask[posting] = True
                candidates = np.flatnonzero(mask)
        if len(candidates) == 0:
            return []
        base = len(local_ids) + 1
        if len(self._matrices) == 1:
            (size,) = self._matrices
            return self._group_rows(candidates, size, lut, base)
        sizes = self._sizes[candidates]
        out: list[CandidateGroup] = []
        for size in np.flatnonzero(np.bincount(sizes)).tolist():
            out.extend(self._group_rows(candidates[sizes == size], size, lut, base))
        return out

    def _group_rows(self, members: np.ndarray, size: int, lut: np.ndarray, base: int) -> list[CandidateGroup]:
        """Group patterns of one length by their projected rows plus event layout, exactly."""
        if len(members) <= SMALL_GROUPING:
            return self._group_few(members, size, lut)
        rows = lut[self._matrices[size][self._slots[members]]]  # projection + 1
        layouts = self._layouts[members]
        one_layout = len(self._size_layouts[size]) == 1
        span = base**size * (1 if one_layout else len(self._layout_list))
        if span < 2**62:
            # One int64 per row (mixed radix): one stable argsort groups the rows and keeps first-learn order.
            weights = self._weights.get((base, size))
            if weights is None:
                weights = self._weights[(base, size)] = base ** np.arange(size, dtype=np.int64)
            keys = rows @ weights
            if not one_layout:
                keys += layouts.astype(np.int64) * base**size
            if span <= 2**16:
                keys = keys.astype(np.uint16)  # numpy's stable sort is a radix sort for 16-bit keys
            order = np.argsort(keys, kind="stable")
            ordered = keys[order]
        else:
            keyed = np.concatenate([rows, layouts[:, None]], axis=1)
            _, inverse = np.unique(keyed, axis=0, return_inverse=True)
            order = np.argsort(inverse.reshape(-1), kind="stable")
            ordered = inverse.reshape(-1)[order]
        bounds = [0, *(np.flatnonzero(ordered[1:] != ordered[:-1]) + 1).tolist(), len(ordered)]
        heads = order[bounds[:-1]]
        projections = (rows[heads] - 1).tolist()
        layout_list = layouts[heads].tolist()
        sorted_members = members[order]
        every_layout = self._layout_list
        return [
            CandidateGroup(
                tuple(projections[g]), every_layout[layout_list[g]],
                rows=sorted_members[bounds[g]:bounds[g + 1]], index=self,
            )
            for g in range(len(heads))
        ]

    def _group_few(self, members: np.ndarray, size: int, lut: np.ndarray) -> list[CandidateGroup]:
        """`_group_rows` for a few candidates: a dict of projected rows, in first-learn order, costs less than the
        fixed price of the dozen numpy calls that pay off on thousands of rows. Groups come in order of their
        first member instead of their key; nothing downstream depends on the order of groups."""
        projections = (lut[self._matrices[size][self._slots[members]]] - 1).tolist()
        every = self.names
        groups: dict[tuple[tuple[int, ...], int], list[str]] = {}
        for projection, layout, row in zip(
            map(tuple, projections), self._layouts[members].tolist(), members.tolist(), strict=True
        ):
            names = groups.get((projection, layout))
            if names is None:
                groups[(projection, layout)] = [every[row]]
            else:
                names.append(every[row])
        every_layout = self._layout_list
        return [
            CandidateGroup(projection, every_layout[layout], names) for (projection, layout), names in groups.items()
        ]

"""Information-theoretic scores of engine.md §9 and the finalize-training computation of §12.4.

Evaluation order follows the spec wherever it fixes the value to the last bit (log bases via `math.log(x, b)`,
`10 ** Σlog10`, the `int()` truncation in tf-idf, numpy dot products for the cosine).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from collections.abc import Set as AbstractSet

import numpy as np

from kato.engine.knowledge import FinalizedMetrics, KnowledgeView

LOG10_FLOOR = math.log10(1e-10)


def entropies(
    shares: Mapping[str, float], vocabulary: int, probability: Mapping[str, float]
) -> tuple[float, float, float]:
    """(entropy, normalized_entropy, global_normalized_entropy) over symbols given by their shares `count/n`,
    in first-appearance order (§9.3)."""
    if not shares:
        return 0.0, 0.0, 0.0
    entropy = -sum(p * math.log2(p) for p in shares.values())
    if vocabulary <= 1:
        return entropy, 0.0, 0.0
    normalized = -sum(p * math.log(p, vocabulary) for p in shares.values())
    return entropy, normalized, _global_normalized(shares, vocabulary, probability)


def _global_normalized(symbols: Sequence[str], vocabulary: int, probability: Mapping[str, float]) -> float:
    terms = [probability.get(s, 0.0) for s in dict.fromkeys(symbols)]  # distinct, first-appearance order
    return -sum(q * math.log(q, vocabulary) for q in terms if q > 0)


def confluence(frequency: int, total_pattern_frequencies: int, present: Sequence[str],
               probability: Mapping[str, float]) -> float:
    """`P(pattern)·(1 − Π q_s)` with the product taken as `10 ** Σ log10 q_s` (§9.2)."""
    if not present:
        return 0.0
    p_eh = frequency / total_pattern_frequencies if total_pattern_frequencies else 0.0
    log_sum = 0.0
    for symbol in present:
        q = probability.get(symbol, 1e-10)
        log_sum += math.log10(q) if q > 0 else LOG10_FLOOR
    return p_eh * (1 - 10**log_sum)


def tfidf_score(tf: Mapping[str, float], unique_patterns: int, probability: Mapping[str, float]) -> float:
    """Mean of tf·idf with `idf = log2(U/pw) + 1` and `pw = int(π·U)` truncated, 1 when 0 or unknown (§9.4)."""
    if not tf or unique_patterns <= 0:
        return 0.0
    total = 0.0
    for symbol, weight in tf.items():
        pw = int(probability[symbol] * unique_patterns) if symbol in probability else 1
        if pw == 0:
            pw = 1
        total += weight * (math.log2(unique_patterns / pw) + 1)
    return total / len(tf)


def term_frequencies(symbols: Sequence[str]) -> dict[str, float]:
    n = len(symbols)
    counts: dict[str, int] = {}
    for symbol in symbols:
        counts[symbol] = counts.get(symbol, 0) + 1
    return {symbol: count / n for symbol, count in counts.items()}


def itfdf_similarities(
    presents: Sequence[Sequence[str]],
    state: Sequence[str],
    frequencies: Sequence[int],
    probability: Mapping[str, float],
    keys: Sequence[Hashable] | None = None,
    symbols: AbstractSet[str] | None = None,
) -> list[float]:
    """`1 − (1 − cos(pv, sv))·freq/F` per prediction (§9.1); `keys`, if given, are equal exactly when the presents
    are (cheaper to hash than the presents); `symbols`, if given, must be exactly the union of the presents' symbols
    and the state's (any other symbol would add a zero to the vectors, see below), which the caller often has.

    The vectors span the sorted union of every present symbol and the state, as in the reference, and the dot
    products and norms are numpy's on those full vectors: BLAS sums in blocks, so the zeros' positions can matter
    at the last ulp. Two exact shortcuts: equal presents give equal vectors (computed once per request), and a
    dot product with at most one non-zero term is that term whatever the summation order (adding +0.0 is exact,
    with or without FMA), so it is computed in Python.
    """
    total_frequency = sum(frequencies)
    if total_frequency == 0:
        return [0.0] * len(presents)
    space = sorted(symbols if symbols is not None else set().union(*presents, state))
    index = {s: i for i, s in enumerate(space)}
    size = len(space)
    weights = np.array([probability.get(s, 0.0) for s in space], dtype=np.float64)
    state_counts: dict[str, int] = {}
    for s in state:
        state_counts[s] = state_counts.get(s, 0) + 1
    sv = weights * np.bincount([index[s] for s in state], minlength=size)
    sv_norm = math.sqrt(sv.dot(sv))  # sqrt is correctly rounded in both libraries: the same float
    if not sv_norm > 0:
        return [1 - 1.0 * frequency / total_frequency for frequency in frequencies]
    distances: dict[Hashable, float] = {}  # 1 - cos per distinct present
    for present, key in zip(presents, keys or map(tuple, presents), strict=True):
        if key not in distances:
            distances[key] = 1 - _cosine(present, index, weights, sv, sv_norm, state_counts, probability)
    return [
        1 - distances[key] * frequency / total_frequency
        for key, frequency in zip(keys or map(tuple, presents), frequencies, strict=True)
    ]


def _cosine(
    present: Sequence[str], index: Mapping[str, int], weights: np.ndarray, sv: np.ndarray, sv_norm: float,
    state_counts: Mapping[str, int], probability: Mapping[str, float],
) -> float:
    """`(pv·sv)/(‖pv‖‖sv‖)`, 0 when the denominator is 0, for the present's π-weighted count vector pv."""
    counts: dict[str, int] = {}
    for s in present:
        counts[s] = counts.get(s, 0) + 1
    weighted = [s for s in counts if probability.get(s, 0.0) > 0]
    if len(weighted) <= 1:
        if not weighted:
            return 0.0  # pv is all zeros: both dot products are +0.0
        symbol = weighted[0]
        w = probability[symbol]
        x = w * counts[symbol]
        pv_sv = x * (w * state_counts.get(symbol, 0))
        denominator = math.sqrt(x * x) * sv_norm
    else:
        pv = weights * np.bincount([index[s] for s in present], minlength=len(weights))
        pv_sv = float(pv.dot(sv))
        denominator = math.sqrt(pv.dot(pv)) * sv_norm
    return pv_sv / denominator if denominator else 0.0


class ScoreTerms:
    """The per-symbol factors of tf-idf and confluence for one request (§9.2, §9.4).

    Each of those scores adds up, per symbol of a pattern, a factor that depends only on the symbol and on
    node-wide inputs (π, U). Computing each factor once per request instead of once per pattern and symbol
    leaves every float unchanged: the same terms are added in the same order as `tfidf_score` and `confluence`
    do (tests compare them bit for bit).
    """

    __slots__ = ("_idf", "_log10", "probability", "total_pattern_frequencies", "unique")

    def __init__(self, unique: int, total_pattern_frequencies: int, probability: Mapping[str, float]) -> None:
        self.unique = unique
        self.total_pattern_frequencies = total_pattern_frequencies
        self.probability = probability
        self._idf: dict[str, float] = {}
        self._log10: dict[str, float] = {}

    def tfidf(self, tf: Mapping[str, float]) -> float:
        """`tfidf_score(tf, U, π)`."""
        if not tf or self.unique <= 0:
            return 0.0
        idf = self._idf
        total = 0.0
        for symbol, weight in tf.items():
            factor = idf.get(symbol)
            if factor is None:
                pw = int(self.probability[symbol] * self.unique) if symbol in self.probability else 1
                if pw == 0:
                    pw = 1
                factor = idf[symbol] = math.log2(self.unique / pw) + 1
            total += weight * factor
        return total / len(tf)

    def confluence(self, frequency: int, present: Sequence[str]) -> float:
        """`confluence(frequency, T_pf, present, π)`."""
        if not present:
            return 0.0
        p_eh = frequency / self.total_pattern_frequencies if self.total_pattern_frequencies else 0.0
        logs = self._log10
        log_sum = 0.0
        for symbol in present:
            term = logs.get(symbol)
            if term is None:
                q = self.probability.get(symbol, 1e-10)
                term = logs[symbol] = math.log10(q) if q > 0 else LOG10_FLOOR
            log_sum += term
        return p_eh * (1 - 10**log_sum)


def finalize(kb: KnowledgeView) -> dict[str, FinalizedMetrics]:
    """Whole-pattern metrics for every pattern, with N and π as of now (§12.4): what finalize-training stores."""
    vocabulary = kb.vocabulary_size()
    unique = kb.counters().total_unique_patterns
    stats = kb.all_symbol_stats()
    probability = {s: (st.pattern_member_frequency / unique if unique else 0.0) for s, st in stats.items()}
    out: dict[str, FinalizedMetrics] = {}
    for record in kb.patterns():
        tf = term_frequencies(record.symbols)
        entropy, normalized, global_normalized = entropies(tf, vocabulary, probability)
        out[record.name] = FinalizedMetrics(entropy, normalized, global_normalized, tf)
    return out

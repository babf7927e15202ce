"""Information-theoretic scores of engine.md §9 and the finalize-training computation of §12.4.

Evaluation order follows the spec wherever it fixes the value to the last bit (log bases via `math.log(x, b)`,
`10 ** Σlog10`, the `int()` truncation in tf-idf, numpy dot products for the cosine).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

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
) -> list[float]:
    """`1 − (1 − cos(pv, sv))·freq/F` per prediction (§9.1).

    The vectors span the sorted union of every present symbol and the state, as in the reference, and the dot
    products and norms are numpy's on those full vectors: BLAS sums in blocks, so the zeros' positions can matter
    at the last ulp.
    """
    total_frequency = sum(frequencies)
    if total_frequency == 0:
        return [0.0] * len(presents)
    space = sorted({s for present in presents for s in present} | set(state))
    index = {s: i for i, s in enumerate(space)}
    size = len(space)
    weights = np.array([probability.get(s, 0.0) for s in space], dtype=np.float64)
    sv = weights * np.bincount([index[s] for s in state], minlength=size)
    sv_norm = float(np.sqrt(sv.dot(sv)))
    out = []
    for present, frequency in zip(presents, frequencies, strict=True):
        if sv_norm > 0:
            pv = weights * np.bincount([index[s] for s in present], minlength=size)
            denominator = float(np.sqrt(pv.dot(pv))) * sv_norm
            distance = 1 - (float(pv.dot(sv)) / denominator if denominator else 0.0)
        else:
            distance = 1.0
        out.append(1 - distance * frequency / total_frequency)
    return out


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

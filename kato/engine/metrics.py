"""Information-theoretic scores of engine.md §9 and the finalize-training computation of §12.4.

Evaluation order follows the spec wherever it fixes the value to the last bit (log bases via `math.log(x, b)`,
`10 ** Σlog10`, the `int()` truncation in tf-idf, numpy dot products for the cosine).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from kato.engine.knowledge import FinalizedMetrics, KnowledgeView

LOG10_FLOOR = math.log10(1e-10)


def entropies(
    symbols: Sequence[str], vocabulary: int, probability: Mapping[str, float]
) -> tuple[float, float, float]:
    """(entropy, normalized_entropy, global_normalized_entropy) over `symbols` (§9.3)."""
    n = len(symbols)
    if n == 0:
        return 0.0, 0.0, 0.0
    shares = [count / n for count in Counter(symbols).values()]
    entropy = -sum(p * math.log2(p) for p in shares)
    if vocabulary <= 1:
        return entropy, 0.0, 0.0
    normalized = -sum(p * math.log(p, vocabulary) for p in shares)
    return entropy, normalized, _global_normalized(symbols, vocabulary, probability)


def _global_normalized(symbols: Sequence[str], vocabulary: int, probability: Mapping[str, float]) -> float:
    terms = [probability.get(s, 0.0) for s in dict.fromkeys(symbols)]
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
    return {symbol: count / n for symbol, count in Counter(symbols).items()}


def itfdf_similarities(
    presents: Sequence[Sequence[str]],
    state: Sequence[str],
    frequencies: Sequence[int],
    probability: Mapping[str, float],
) -> list[float]:
    """`1 − (1 − cos(pv, sv))·freq/F` per prediction, cosines over the sorted union of symbols (§9.1)."""
    total_frequency = sum(frequencies)
    if total_frequency == 0:
        return [0.0] * len(presents)
    space = sorted({s for present in presents for s in present} | set(state))
    index = {s: i for i, s in enumerate(space)}
    weights = np.array([probability.get(s, 0.0) for s in space], dtype=np.float64)
    sv = np.zeros(len(space))
    for s in state:
        sv[index[s]] += 1.0
    sv = weights * sv
    sv_norm = np.linalg.norm(sv)
    out = []
    for present, frequency in zip(presents, frequencies, strict=True):
        if sv_norm > 0:
            pv = np.zeros(len(space))
            for s in present:
                pv[index[s]] += 1.0
            pv = weights * pv
            denominator = np.linalg.norm(pv) * sv_norm
            cos = float(pv @ sv) / denominator if denominator else 0.0
            distance = 1 - cos
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
        symbols = [s for event in record.events for s in event]
        entropy, normalized, _ = entropies(symbols, vocabulary, {})
        global_normalized = _global_normalized(symbols, vocabulary, probability) if vocabulary > 1 else 0.0
        out[record.name] = FinalizedMetrics(entropy, normalized, global_normalized, term_frequencies(symbols))
    return out

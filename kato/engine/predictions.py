"""Predictions: candidates, alignment, ensemble metrics, ranking (engine.md §5-§11).

`predict` is pure: it reads the node through a `KnowledgeView` and returns wire-ready prediction dicts plus the
request's own `future_potentials` (DESIGN.md deviation 2). Ties are broken by (rank key desc, similarity desc, bare
name asc) everywhere the reference left them to hash seeds or thread timing (deviation 1), including the order of
the ensemble before top-K pruning.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from kato.engine.config import EngineConfig
from kato.engine.filters import run_pipeline
from kato.engine.knowledge import Events, KnowledgeView, PatternRecord
from kato.engine.learning import average_emotives
from kato.engine.matching import Alignment, StateMatcher, align, character_similarity, token_similarity
from kato.engine.metrics import confluence, entropies, itfdf_similarities, term_frequencies, tfidf_score


@dataclass(frozen=True, slots=True)
class PredictionResult:
    predictions: list[dict]
    future_potentials: list[dict]


class _Candidate:
    """One pattern that passed the threshold, with the values the ensemble metrics accumulate."""

    __slots__ = (
        "alignment", "confidence", "evidence", "fragmentation", "frequency", "itfdf", "potential", "pre",
        "record", "similarity", "snr", "symbols", "weighted",
    )

    def __init__(self, record: PatternRecord, symbols: list[str], similarity: float, alignment: Alignment) -> None:
        self.record = record
        self.symbols = symbols
        self.similarity = similarity
        self.alignment = alignment
        self.frequency = record.frequency or 1
        m = len(alignment.matches)
        self.evidence = m / record.length if record.length else 0
        present = len(alignment.present_flat)
        self.confidence = m / present if present else 0
        self.fragmentation = float(alignment.nblocks - 1)
        e = alignment.extras_count
        self.snr = (2 * m - e) / (2 * m + e) if (2 * m + e) else 0
        self.pre: float | None = None
        self.weighted: tuple[float | None, float, float, float] | None = None


def _fragmentation_term(fragmentation: float) -> float:
    return 0 if fragmentation == -1 else 1 / (fragmentation + 1)


def _candidate_records(kb: KnowledgeView, state: Sequence[str], threshold: float) -> list[PatternRecord]:
    """All patterns at threshold 0; otherwise exactly those sharing a symbol with the state (similarity > 0)."""
    if threshold <= 0:
        return list(kb.patterns())
    names: dict[str, None] = {}
    for symbol in dict.fromkeys(state):
        names.update(dict.fromkeys(kb.patterns_with_symbol(symbol)))
    records = [kb.pattern(name) for name in names]
    return [r for r in records if r is not None]


def _symbol_weights(kb: KnowledgeView, symbols: Sequence[str], emotive: str) -> dict[str, float]:
    """Affinity weights of §12.3: |affinity|/frequency + 0.01, or the 0.01 floor."""
    weights = {}
    for symbol in dict.fromkeys(symbols):
        value = abs(kb.affinity(symbol).get(emotive, 0.0))
        stats = kb.symbol_stats(symbol)
        frequency = stats.frequency if stats else 0
        weights[symbol] = value / frequency + 0.01 if value > 0 and frequency > 0 else 0.01
    return weights


def _weighted_metrics(
    weights: dict[str, float], state: Sequence[str], pattern: Sequence[str], matches: Sequence[str],
    present: Sequence[str], extras: Sequence[str],
) -> tuple[float | None, float, float, float]:
    w = weights.get
    matched = sum(w(t, 0) for t in matches)
    in_pattern = sum(w(t, 0) for t in pattern)
    in_state = sum(w(t, 0) for t in state)
    in_present = sum(w(t, 0) for t in present)
    in_extras = sum(w(t, 0) for t in extras)
    similarity = 2 * matched / (in_state + in_pattern) if (in_state + in_pattern) else None
    evidence = matched / in_pattern if in_pattern else 0
    confidence = matched / in_present if in_present else 0
    snr = matched / (matched + in_extras) if (matched + in_extras) else 0
    return similarity, evidence, confidence, snr


def _rank_key(field: str) -> Callable[[dict], tuple]:
    """Descending on the field (None last), then similarity descending, then bare name ascending."""
    def key(prediction: dict) -> tuple:
        value = prediction.get(field, prediction["potential"])
        if value is None:
            return (1, 0.0, -prediction["similarity"], prediction["name"])
        return (0, -value, -prediction["similarity"], prediction["name"])

    return key


def predict(
    stm: Events, config: EngineConfig, kb: KnowledgeView, *, fast_path_token_matching: bool = True
) -> PredictionResult:
    """Predictions for an STM under a session's effective config (§5 dispatch)."""
    state = [s for event in stm for s in event]
    if not state:
        return PredictionResult([], [])
    if len(state) == 1:
        return PredictionResult(_single_symbol(state[0], config, kb, fast_path_token_matching), [])
    return _full_path(stm, state, config, kb)


def _full_path(stm: Events, state: list[str], config: EngineConfig, kb: KnowledgeView) -> PredictionResult:
    threshold = config.recall_threshold
    similarity_of = token_similarity if config.use_token_matching else character_similarity
    fuzzy = config.fuzzy_token_threshold or 0.0
    matcher = StateMatcher(state)
    records = _candidate_records(kb, state, threshold)
    if config.filter_pipeline:
        def passes(record: PatternRecord) -> bool:
            return similarity_of([s for e in record.events for s in e], state) >= threshold

        records = run_pipeline(records, config, state, passes)

    candidates: list[_Candidate] = []
    for record in records:
        symbols = [s for e in record.events for s in e]
        similarity = similarity_of(symbols, state)
        if similarity < threshold:
            continue
        alignment = align(record.events, symbols, stm, matcher, threshold, fuzzy)
        if alignment is not None:
            candidates.append(_Candidate(record, symbols, similarity, alignment))
    if not candidates:
        return PredictionResult([], [])
    candidates.sort(key=lambda c: (-c.similarity, c.record.name))

    keep = 3 * config.max_predictions
    pruned = len(candidates) > keep
    if pruned:
        for c in candidates:
            c.pre = (c.evidence + c.confidence) * c.snr + _fragmentation_term(c.fragmentation)
        candidates = sorted(candidates, key=lambda c: -c.pre)[:keep]

    counters = kb.counters()
    unique = counters.total_unique_patterns
    vocabulary = kb.vocabulary_size()
    probability: dict[str, float] = {}
    for c in candidates:
        for s in (*c.alignment.matches, *(s for e in c.alignment.missing for s in e)):
            if s not in probability:
                stats = kb.symbol_stats(s)
                probability[s] = stats.pattern_member_frequency / unique if (unique and stats) else 0.0

    frequencies = [c.frequency for c in candidates]
    total_frequency = sum(frequencies)
    itfdf = itfdf_similarities([c.alignment.present_flat for c in candidates], state, frequencies, probability)

    groups: dict[tuple, list] = {}
    for c in candidates:
        if c.alignment.future:
            key = tuple(tuple(sorted(e)) for e in c.alignment.future)
            group = groups.get(key)
            if group is None:
                groups[key] = [c.alignment.future, 0.0, 0]
                group = groups[key]
            group[1] += c.frequency * c.similarity
            group[2] += 1
    group_total = sum(g[1] for g in groups.values())
    aggregate = {key: (g[1] / group_total if group_total else 0) for key, g in groups.items()}

    priors = [f / total_frequency for f in frequencies]
    likelihoods = [c.similarity for c in candidates]
    bayes_evidence = float(np.dot(np.array(likelihoods), np.array(priors)))

    weights = None
    if config.affinity_emotive:
        weights = _symbol_weights(kb, state, config.affinity_emotive)

    predictions = []
    for index, c in enumerate(candidates):
        al = c.alignment
        present = al.present_flat
        if weights is not None:
            extras_flat = [s for e in al.extras for s in e]
            c.weighted = _weighted_metrics(weights, state, c.symbols, al.matches, present, extras_flat)
            _, w_evidence, w_confidence, w_snr = c.weighted
            c.potential = (w_evidence + w_confidence) * w_snr + itfdf[index] + _fragmentation_term(c.fragmentation)
        else:
            c.potential = (c.evidence + c.confidence) * c.snr + itfdf[index] + _fragmentation_term(c.fragmentation)
        finalized = c.record.finalized
        if finalized is not None:
            entropy = finalized.entropy
            normalized = finalized.normalized_entropy
            global_normalized = finalized.global_normalized_entropy
            tfidf = tfidf_score(finalized.tf_vector, unique, probability)
        else:
            entropy, normalized, global_normalized = entropies(present, vocabulary, probability)
            tfidf = tfidf_score(term_frequencies(present), unique, probability) if present else 0.0
        pattern_probability = c.frequency / total_frequency
        weighted_strength = c.similarity * pattern_probability
        if al.future:
            share = aggregate[tuple(tuple(sorted(e)) for e in al.future)]
            predictive_information = weighted_strength / share if share > 0 else 0
        else:
            predictive_information = 0
        prior = priors[index]
        posterior = c.similarity * prior / bayes_evidence if bayes_evidence else 0
        w_sim, w_ev, w_conf, w_snr = c.weighted if c.weighted is not None else (None, None, None, None)
        prediction = {
            "type": "prototypical",
            "name": c.record.name,
            "frequency": c.frequency,
            "emotives": average_emotives(c.record.emotives),
            "matches": al.matches,
            "past": al.past,
            "present": al.present,
            "missing": al.missing,
            "extras": al.extras,
            "anomalies": al.anomalies,
            "potential": c.potential,
            "evidence": c.evidence,
            "similarity": c.similarity,
            "fragmentation": c.fragmentation,
            "snr": c.snr,
            "confluence": confluence(c.frequency, counters.total_pattern_frequencies, present, probability),
            "predictive_information": predictive_information,
            "sequence": [list(e) for e in c.record.events],
            "future": al.future,
            "confidence": c.confidence,
            "weighted_similarity": w_sim,
            "weighted_evidence": w_ev,
            "weighted_confidence": w_conf,
            "weighted_snr": w_snr,
            "entropy": entropy,
            "normalized_entropy": normalized,
            "global_normalized_entropy": global_normalized,
            "itfdf_similarity": itfdf[index],
            "tfidf_score": tfidf,
            "pattern_probability": pattern_probability,
            "weighted_strength": weighted_strength,
            "bayesian_posterior": posterior,
            "bayesian_prior": prior if total_frequency else 0,
            "bayesian_likelihood": c.similarity,
        }
        if pruned:
            prediction["_pre_potential"] = c.pre
        predictions.append(prediction)

    predictions.sort(key=_rank_key(config.rank_sort_algo))
    future_potentials = [
        {
            "future": g[0],
            "aggregate_potential": aggregate[key],
            "supporting_patterns": g[2],
            "total_weighted_frequency": g[1],
        }
        for key, g in groups.items()
    ]
    future_potentials.sort(key=lambda f: -f["aggregate_potential"])
    return PredictionResult(predictions[: config.max_predictions], future_potentials)


def _single_symbol(
    symbol: str, config: EngineConfig, kb: KnowledgeView, token_matching: bool
) -> list[dict]:
    """§11: patterns whose first symbol is `symbol`, with the reduced field set and flat lists."""
    records = [r for r in (kb.pattern(n) for n in kb.patterns_starting_with(symbol)) if r is not None]
    weights = None
    if config.affinity_emotive and records:
        every = [symbol, *(s for r in records for e in r.events for s in e)]
        weights = _symbol_weights(kb, every, config.affinity_emotive)
    predictions = []
    for record in records:
        symbols = [s for e in record.events for s in e]
        similarity = 2.0 * 1 / (len(symbols) + 1) if token_matching else character_similarity(symbols, [symbol])
        evidence = 1 / len(symbols)
        confidence, snr, fragmentation = 1.0, 1.0, 0
        weighted = (None, None, None, None)
        if weights is not None:
            weighted = _weighted_metrics(weights, [symbol], symbols, [symbol], [symbol], [])
            potential = (weighted[1] + weighted[2]) * weighted[3] + 1 / (fragmentation + 1)
        else:
            potential = (evidence + confidence) * snr + 1 / (fragmentation + 1)
        predictions.append({
            "name": record.name,
            "pattern_data": [list(e) for e in record.events],
            "length": record.length,
            "frequency": record.frequency or 1,
            "emotives": average_emotives(record.emotives),
            "matches": [symbol],
            "missing": [],
            "present": [symbol],
            "past": [],
            "future": symbols[1:],
            "extras": [],
            "similarity": similarity,
            "evidence": evidence,
            "confidence": confidence,
            "snr": snr,
            "fragmentation": fragmentation,
            "anomalies": [],
            "weighted_similarity": weighted[0],
            "weighted_evidence": weighted[1],
            "weighted_confidence": weighted[2],
            "weighted_snr": weighted[3],
            "potential": potential,
        })
    predictions.sort(key=_rank_key(config.rank_sort_algo))
    return predictions[: config.max_predictions]

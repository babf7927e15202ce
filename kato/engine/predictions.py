"""Predictions: candidates, alignment, ensemble metrics, ranking (engine.md §5-§11).

`predict` is pure: it reads the node through a `KnowledgeView` and returns wire-ready prediction dicts plus the
request's own `future_potentials` (DESIGN.md deviation 2). Ties are broken by (rank key desc, similarity desc, bare
name asc) everywhere the reference left them to hash seeds or thread timing (deviation 1), including the order of
the ensemble before top-K pruning.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np

from kato.engine.columnar import CandidateGroup
from kato.engine.config import EngineConfig
from kato.engine.filters import run_pipeline
from kato.engine.knowledge import Events, KnowledgeView, PatternRecord
from kato.engine.learning import average_emotives
from kato.engine.matching import (
    Alignment,
    Shape,
    StateMatcher,
    character_similarity,
    fragmentation_term,
    fuzzy_alignment,
    pre_potential,
    shape_of,
    token_similarity,
)
from kato.engine.metrics import confluence, entropies, itfdf_similarities, term_frequencies, tfidf_score


@dataclass(frozen=True, slots=True)
class PredictionResult:
    predictions: list[dict]
    future_potentials: list[dict]


class _Candidate:
    """One pattern kept in the ensemble, with the values the ensemble metrics accumulate."""

    __slots__ = (
        "alignment", "confidence", "evidence", "fragmentation", "frequency", "potential", "pre", "record",
        "similarity", "snr", "values", "weighted",
    )

    def __init__(self, record: PatternRecord, similarity: float, alignment: Alignment, pre: float | None) -> None:
        self.record = record
        self.similarity = similarity
        self.alignment = alignment
        self.pre = pre
        self.frequency = record.frequency or 1
        self.evidence, self.confidence, self.fragmentation, self.snr = alignment.scalars(record.length)
        self.potential = 0.0
        self.weighted: tuple[float | None, float, float, float] | None = None
        self.values: dict = {}


class _Ids(dict):
    """State symbol -> index among the state's distinct symbols; -1 for any other symbol."""

    def __missing__(self, key: str) -> int:
        return -1


def _candidate_groups(
    kb: KnowledgeView, state: Sequence[str], ids: _Ids, config: EngineConfig, similarity_of: Callable
) -> list[CandidateGroup]:
    """Candidates grouped by projection: every pattern at threshold 0, else exactly those sharing a symbol with
    the state (any other has similarity 0); through the filter pipeline when the session has one."""
    threshold = config.recall_threshold
    columnar = getattr(kb, "columnar", None)
    if columnar is not None and not config.filter_pipeline:
        return columnar().groups(ids, threshold <= 0)
    if threshold <= 0:
        records = list(kb.patterns())
    else:
        names: dict[str, None] = {}
        for symbol in ids:
            names.update(dict.fromkeys(kb.patterns_with_symbol(symbol)))
        records = [r for r in map(kb.pattern, names) if r is not None]
    if config.filter_pipeline:
        def passes(record: PatternRecord) -> bool:
            return similarity_of(record.symbols, state) >= threshold

        records = run_pipeline(records, config, state, passes)
    groups: dict[tuple, list[str]] = {}
    project = ids.__getitem__
    for record in records:
        groups.setdefault((tuple(map(project, record.symbols)), record.lengths), []).append(record.name)
    return [CandidateGroup(projection, lengths, names) for (projection, lengths), names in groups.items()]


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


def _select(
    stm: Events, state: list[str], config: EngineConfig, kb: KnowledgeView
) -> tuple[list[_Candidate], bool]:
    """Threshold, alignment and top-K pruning (§7-§9): the ensemble, in order, and whether it was pruned.

    Ordering is (pre-potential desc, similarity desc, name asc) when pruning, else (similarity desc, name asc):
    the reference's batch order with its hash-seed tie order replaced by names (DESIGN.md deviation 1).
    """
    threshold = config.recall_threshold
    token_mode = config.use_token_matching
    similarity_of = token_similarity if token_mode else character_similarity
    fuzzy = config.fuzzy_token_threshold or 0.0
    ids = _Ids({s: i for i, s in enumerate(dict.fromkeys(state))})
    state_ids = [ids[s] for s in state]
    matcher = StateMatcher(state_ids)
    # (pre-potential, similarity) -> [(names, shape, alignment or None)]; a whole group is one entry.
    levels: dict[tuple[float, float], list[tuple[list[str], Shape, Alignment | None]]] = {}
    for group in _candidate_groups(kb, state, ids, config, similarity_of):
        shape = shape_of(group.projection, group.lengths, matcher, threshold)
        if shape is None:
            continue
        length = len(group.projection)
        if token_mode:
            similarity = token_similarity(group.projection, state_ids)
            if similarity < threshold:
                continue
            if not fuzzy:
                key = (pre_potential(shape.scalars(length)), similarity)
                levels.setdefault(key, []).append((group.names, shape, None))
                continue
        for name in group.names:
            record = kb.pattern(name)
            if record is None:
                continue
            if not token_mode:
                similarity = character_similarity(record.symbols, state)
                if similarity < threshold:
                    continue
            alignment = None
            pre = pre_potential(shape.scalars(length))
            if fuzzy:
                alignment = fuzzy_alignment(record.events, record.symbols, shape, stm, state, fuzzy)
                pre = pre_potential(alignment.scalars(length))
            levels.setdefault((pre, similarity), []).append(([name], shape, alignment))

    total = sum(len(names) for entries in levels.values() for names, _, _ in entries)
    keep = 3 * config.max_predictions
    pruned = total > keep
    chosen: list[tuple[str, Shape, Alignment | None, float, float]] = []
    if pruned:
        for (pre, similarity), entries in sorted(levels.items(), key=lambda kv: (-kv[0][0], -kv[0][1])):
            need = keep - len(chosen)
            # Only the `need` smallest names of this level can be kept; sort names alone, in C, per group.
            members = [
                (name, shape, alignment)
                for names, shape, alignment in entries
                for name in (sorted(names)[:need] if len(names) > need else names)
            ]
            members.sort(key=itemgetter(0))
            chosen.extend((*member, similarity, pre) for member in members[:need])
            if len(chosen) >= keep:
                break
    else:
        chosen = [
            (name, shape, alignment, similarity, pre)
            for (pre, similarity), entries in levels.items()
            for names, shape, alignment in entries
            for name in names
        ]
        chosen.sort(key=lambda c: (-c[3], c[0]))
    candidates = []
    matches_of: dict[Shape, list[str]] = {}
    for name, shape, alignment, similarity, pre in chosen:
        record = kb.pattern(name)
        if record is None:
            continue
        if alignment is None:
            matches = matches_of.get(shape)
            if matches is None:
                matches = matches_of[shape] = [state[j] for j in shape.match_positions]
            alignment = Alignment(
                record.events, stm, shape.e1, shape.e2, matches, shape.nblocks, shape.extras_count
            )
        candidates.append(_Candidate(record, similarity, alignment, pre if pruned else None))
    return candidates, pruned


def _full_path(stm: Events, state: list[str], config: EngineConfig, kb: KnowledgeView) -> PredictionResult:
    candidates, pruned = _select(stm, state, config, kb)
    if not candidates:
        return PredictionResult([], [])

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
    future_keys: list[tuple | None] = []
    for c in candidates:
        future = c.alignment.future
        if not future:
            future_keys.append(None)
            continue
        key = tuple(tuple(sorted(e)) for e in future)  # futures equal up to order inside events (§9.6)
        future_keys.append(key)
        group = groups.get(key)
        if group is None:
            group = groups[key] = [future, 0.0, 0]
        group[1] += c.frequency * c.similarity
        group[2] += 1
    group_total = sum(g[1] for g in groups.values())
    aggregate = {key: (g[1] / group_total if group_total else 0) for key, g in groups.items()}

    priors = [f / total_frequency for f in frequencies]
    likelihoods = [c.similarity for c in candidates]
    bayes_evidence = float(np.dot(np.array(likelihoods), np.array(priors)))

    weights = _symbol_weights(kb, state, config.affinity_emotive) if config.affinity_emotive else None
    for index, c in enumerate(candidates):
        al = c.alignment
        if weights is not None:
            extras_flat = [s for e in al.extras for s in e]
            c.weighted = _weighted_metrics(weights, state, c.record.symbols, al.matches, al.present_flat, extras_flat)
            _, w_evidence, w_confidence, w_snr = c.weighted
            c.potential = (w_evidence + w_confidence) * w_snr + itfdf[index] + fragmentation_term(c.fragmentation)
        else:
            c.potential = (c.evidence + c.confidence) * c.snr + itfdf[index] + fragmentation_term(c.fragmentation)
        pattern_probability = c.frequency / total_frequency
        weighted_strength = c.similarity * pattern_probability
        future_key = future_keys[index]
        if future_key is not None:
            share = aggregate[future_key]
            predictive_information = weighted_strength / share if share > 0 else 0
        else:
            predictive_information = 0
        prior = priors[index]
        w_sim, w_ev, w_conf, w_snr = c.weighted if c.weighted is not None else (None, None, None, None)
        c.values = {
            "potential": c.potential,
            "evidence": c.evidence,
            "similarity": c.similarity,
            "fragmentation": c.fragmentation,
            "snr": c.snr,
            "predictive_information": predictive_information,
            "confidence": c.confidence,
            "frequency": c.frequency,
            "weighted_similarity": w_sim,
            "weighted_evidence": w_ev,
            "weighted_confidence": w_conf,
            "weighted_snr": w_snr,
            "itfdf_similarity": itfdf[index],
            "pattern_probability": pattern_probability,
            "weighted_strength": weighted_strength,
            "bayesian_posterior": c.similarity * prior / bayes_evidence if bayes_evidence else 0,
            "bayesian_prior": prior,
            "bayesian_likelihood": c.similarity,
            "name": c.record.name,
        }

    corpus = _Corpus(unique, vocabulary, counters.total_pattern_frequencies, probability)
    field = config.rank_sort_algo
    if field in _PER_PATTERN_FIELDS:
        for c in candidates:
            c.values.update(corpus.per_pattern(c))
    key = _rank_key(field)
    candidates.sort(key=lambda c: key(c.values))
    predictions = [_render(c, corpus, pruned) for c in candidates[: config.max_predictions]]
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
    return PredictionResult(predictions, future_potentials)


_PER_PATTERN_FIELDS = frozenset(
    {"entropy", "normalized_entropy", "global_normalized_entropy", "tfidf_score", "confluence"}
)


@dataclass(frozen=True, slots=True)
class _Corpus:
    """The node-wide inputs of the per-pattern scores (§9.2-§9.4), read once per request."""

    unique_patterns: int
    vocabulary: int
    total_pattern_frequencies: int
    probability: dict[str, float]

    def per_pattern(self, c: _Candidate) -> dict[str, float]:
        """Entropies, tf-idf and confluence: computed only for predictions that are returned (or ranked on)."""
        present = c.alignment.present_flat
        finalized = c.record.finalized
        if finalized is not None:
            entropy = finalized.entropy
            normalized = finalized.normalized_entropy
            global_normalized = finalized.global_normalized_entropy
            tfidf = tfidf_score(finalized.tf_vector, self.unique_patterns, self.probability)
        else:
            tf = term_frequencies(present) if present else {}
            entropy, normalized, global_normalized = entropies(tf, self.vocabulary, self.probability)
            tfidf = tfidf_score(tf, self.unique_patterns, self.probability)
        return {
            "confluence": confluence(c.frequency, self.total_pattern_frequencies, present, self.probability),
            "entropy": entropy,
            "normalized_entropy": normalized,
            "global_normalized_entropy": global_normalized,
            "tfidf_score": tfidf,
        }


def _derived(record: PatternRecord, key: str, compute: Callable[[PatternRecord], Any]) -> Any:
    """A wire form of an immutable record, computed once per record (shared by every response that shows it)."""
    value = record.derived.get(key)
    if value is None:
        value = record.derived[key] = compute(record)
    return value


def _render(c: _Candidate, corpus: _Corpus, pruned: bool) -> dict:
    """The wire form of one full-path prediction, keys in the reference's order (§9.9)."""
    v = c.values
    if "entropy" not in v:
        v.update(corpus.per_pattern(c))
    al = c.alignment
    prediction = {
        "type": "prototypical",
        "name": c.record.name,
        "frequency": c.frequency,
        "emotives": _derived(c.record, "emotives", lambda r: average_emotives(r.emotives)),
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
        "confluence": v["confluence"],
        "predictive_information": v["predictive_information"],
        "sequence": _derived(c.record, "sequence", lambda r: [list(e) for e in r.events]),
        "future": al.future,
        "confidence": c.confidence,
        "weighted_similarity": v["weighted_similarity"],
        "weighted_evidence": v["weighted_evidence"],
        "weighted_confidence": v["weighted_confidence"],
        "weighted_snr": v["weighted_snr"],
        "entropy": v["entropy"],
        "normalized_entropy": v["normalized_entropy"],
        "global_normalized_entropy": v["global_normalized_entropy"],
        "itfdf_similarity": v["itfdf_similarity"],
        "tfidf_score": v["tfidf_score"],
        "pattern_probability": v["pattern_probability"],
        "weighted_strength": v["weighted_strength"],
        "bayesian_posterior": v["bayesian_posterior"],
        "bayesian_prior": v["bayesian_prior"],
        "bayesian_likelihood": v["bayesian_likelihood"],
    }
    if pruned:
        prediction["_pre_potential"] = c.pre
    return prediction


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

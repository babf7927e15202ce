"""Predictions: candidates, alignment, ensemble metrics, ranking (engine.md §5-§11).

`predict` is pure: it reads the node through a `KnowledgeView` and returns wire-ready prediction dicts plus the
request's own `future_potentials` (DESIGN.md deviation 2). Ties are broken by (rank key desc, similarity desc, bare
name asc) everywhere the reference left them to hash seeds or thread timing (deviation 1), including the order of
the ensemble before top-K pruning.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter, mul
from typing import Any

import numpy as np

from kato.engine.columnar import CandidateGroup, smallest_names
from kato.engine.config import EngineConfig
from kato.engine.filters import run_pipeline
from kato.engine.knowledge import BoundedMemo, Events, KnowledgeView, PatternRecord
from kato.engine.learning import average_emotives
from kato.engine.matching import (
    AlignmentMemo,
    GroupAlignment,
    Layout,
    character_similarity,
    fuzzy_alignment,
    group_alignment,
    layout_of,
    pre_potential,
    state_key,
    token_similarity,
)
from kato.engine.metrics import ScoreTerms, entropies, itfdf_similarities, term_frequencies


@dataclass(frozen=True, slots=True)
class PredictionResult:
    predictions: list[dict]
    future_potentials: list[dict]


class _Ids(dict):
    """State symbol -> index among the state's distinct symbols; -1 for any other symbol."""

    def __missing__(self, key: str) -> int:
        return -1


class _Aligned:
    """One alignment with its symbols: a group's `Layout` (shared by every pattern of a candidate group, and by
    equal projections across requests) plus the state symbols it names. In fuzzy mode matches differ per pattern
    and each pattern gets its own. The lists are shared by the predictions of a group in one response: they are
    wire values, never mutated."""

    __slots__ = ("_wire", "anomalies", "core", "extras", "fterm", "layout", "matches")

    def __init__(
        self, layout: Layout, matches: list[str], anomalies: list[dict], extras: list[list[str]]
    ) -> None:
        self.layout = layout
        self.core = layout.core
        self.fterm = layout.fterm
        self.matches = matches
        self.anomalies = anomalies
        self.extras = extras
        self._wire: dict[str, Any] | None = None

    def wire(self) -> dict[str, Any]:
        """The wire template with this alignment's fields filled in; each prediction of the group copies it."""
        if self._wire is None:
            layout = self.layout
            wire = self._wire = _WIRE_TEMPLATE.copy()
            wire["matches"] = self.matches
            wire["extras"] = self.extras
            wire["evidence"] = layout.evidence
            wire["fragmentation"] = layout.fragmentation
            wire["snr"] = layout.snr
            wire["confidence"] = layout.confidence
            wire["anomalies"] = self.anomalies
        return self._wire


# A pattern cut at (e1, e2) (engine.md §8.3): (flat present, its key, the grouping key of the future events or
# None, and the wire lists past, present and future). Pattern-intrinsic, so memoized on the record
# (`PatternRecord.derived`). The keys are reprs, equal exactly when the tuples are, because a string caches its hash
# and a tuple does not: the ensemble looks them up per member. The wire lists (slices of the record's `sequence`,
# shared by every response that returns this cut, never mutated) save three lists per returned prediction, about
# 9% of a call at 1,000 and 10,000 patterns. Their price is ~240 bytes and three GC-tracked lists per memoized cut
# (docs/BENCHMARKS.md); workers keep them out of collections with `gcpolicy`'s periodic `gc.freeze()`. A record's
# `missing` lists are memoized the same way, per missing-position layout (`Layout.missing_key`).
_Cut = tuple[tuple[str, ...], str, "str | None", list[list[str]], list[list[str]], list[list[str]]]


def _cut(record: PatternRecord, layout: Layout) -> _Cut:
    present = record.symbols[layout.start:layout.stop]
    future = record.events[layout.e2:]
    # futures equal up to the order inside events share a group (§9.6)
    future_key = repr(tuple(tuple(sorted(e)) for e in future)) if future else None
    sequence = record.derived.get("sequence") or _sequence(record)
    cut = record.derived[layout.cut] = (
        present, repr(present), future_key, sequence[:layout.e1], sequence[layout.e1:layout.e2], sequence[layout.e2:]
    )
    return cut


def _sequence(record: PatternRecord) -> list[list[str]]:
    """The record's events as wire lists, made once per record (as `sequence` always was): past, present and future
    are slices of it, new outer lists sharing its event lists, so a response builds no event list of its own. Wire
    values are never mutated. The cost is a few small lists per record that was ever returned, which the cyclic
    GC walks like the records themselves (see docs/BENCHMARKS.md on `gc.freeze()`)."""
    sequence = record.derived["sequence"] = list(map(list, record.events))
    return sequence


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


# One candidate source at one (pre-potential, similarity) level: a whole group (names None) or some of its
# patterns, with their own alignment in fuzzy mode.
_Entry = tuple[CandidateGroup, GroupAlignment, "list[str] | None", "_Aligned | None"]
# One ensemble member: (record, similarity, pre-potential, alignment).
_Member = tuple[PatternRecord, float, float, _Aligned]
_UNALIGNED = object()  # not in the alignment memo (None there is a memoized dropped projection)


def _select(stm: Events, state: list[str], config: EngineConfig, kb: KnowledgeView) -> tuple[list[_Member], bool]:
    """Threshold, alignment and top-K pruning (§7-§9): the ensemble, in order, and whether it was pruned.

    Ordering is (pre-potential desc, similarity desc, name asc) when pruning, else (similarity desc, name asc):
    the reference's batch order with its hash-seed tie order replaced by names (DESIGN.md deviation 1).
    """
    threshold = config.recall_threshold
    token_mode = config.use_token_matching
    similarity_of = token_similarity if token_mode else character_similarity
    fuzzy = config.fuzzy_token_threshold or 0.0
    ids = _Ids({s: i for i, s in enumerate(dict.fromkeys(state))})
    state_ids = tuple(map(ids.__getitem__, state))
    stm_lengths = tuple(map(len, stm))
    keep_unmatched = threshold <= 0
    memo_of = getattr(kb, "alignment_memo", None)
    memo = memo_of() if memo_of is not None else AlignmentMemo()
    memo_get = memo.get
    prefix = state_key(state_ids, stm_lengths, keep_unmatched)
    levels: dict[tuple[float, float], list[_Entry]] = {}
    count = 0  # candidates over every level
    # Wire lists of state symbols by their positions: groups of one request mostly have equal matches and extras,
    # and wire values are never mutated, so they share them.
    matches_by_positions: dict[tuple[int, ...], list[str]] = {}
    extras_by_positions: dict[tuple[tuple[int, ...], ...], list[list[str]]] = {}

    def extras_of(extras_at: tuple[tuple[int, ...], ...]) -> list[list[str]]:
        extras = extras_by_positions.get(extras_at)
        if extras is None:
            extras = extras_by_positions[extras_at] = [[state[j] for j in at] for at in extras_at]
        return extras

    for group in _candidate_groups(kb, state, ids, config, similarity_of):
        key = (prefix, group.projection, group.lengths)
        aligned = memo_get(key, _UNALIGNED)
        if aligned is _UNALIGNED:
            aligned = memo.add(
                key, group_alignment(state_ids, stm_lengths, group.projection, group.lengths, keep_unmatched)
            )
        if aligned is None:
            continue
        similarity, pre = aligned.similarity, aligned.pre
        if token_mode:
            if similarity < threshold:
                continue
            if not fuzzy:
                levels.setdefault((pre, similarity), []).append((group, aligned, None, None))
                count += group.size
                continue
        for name in group.names():
            record = kb.pattern(name)
            if record is None:
                continue
            if not token_mode:
                similarity = character_similarity(record.symbols, state)
                if similarity < threshold:
                    continue
            al = None
            if fuzzy:
                shape = aligned.shape
                matches, anomalies, unmatched, e1 = fuzzy_alignment(
                    record.events, record.symbols, shape, state, fuzzy
                )
                layout = layout_of(
                    group.projection, group.lengths, state_ids, stm_lengths, {ids[m] for m in matches}, e1,
                    shape.e2, shape.nblocks, unmatched, len(matches),
                )
                al = _Aligned(layout, matches, anomalies, extras_of(layout.extras_at))
                pre = pre_potential((layout.evidence, layout.confidence, layout.fragmentation, layout.snr))
            levels.setdefault((pre, similarity), []).append((group, aligned, [name], al))
            count += 1

    def size(entry: _Entry) -> int:
        return entry[0].size if entry[2] is None else len(entry[2])

    group_aligned: dict[int, _Aligned] = {}

    def aligned_of(entry: _Entry) -> _Aligned:
        """The entry's own alignment (fuzzy), else its group's, made once per group and request."""
        group, aligned, _, al = entry
        if al is None:
            al = group_aligned.get(id(group))
            if al is None:
                layout = aligned.layout
                positions = aligned.shape.match_positions
                matches = matches_by_positions.get(positions)
                if matches is None:
                    matches = matches_by_positions[positions] = [state[j] for j in positions]
                al = group_aligned[id(group)] = _Aligned(layout, matches, [], extras_of(layout.extras_at))
        return al

    keep = 3 * config.max_predictions
    pruned = count > keep
    pattern = kb.pattern
    picked: list[tuple[str, float, float, _Aligned]] = []
    if pruned:
        for level in sorted(levels, key=lambda k: (-k[0], -k[1])):
            pre, similarity = level
            entries = levels[level]
            need = keep - len(picked)
            bulk = [e for e in entries if e[2] is None]
            chosen = [(name, e) for e in entries if e[2] is not None for name in e[2]]
            if sum(size(e) for e in entries) <= need:
                chosen.extend((name, e) for e in bulk for name in e[0].names())
            elif bulk:
                # Only the `need` smallest names of this level can be kept.
                chosen.extend((name, bulk[at]) for name, at in smallest_names([e[0] for e in bulk], need))
            chosen.sort(key=itemgetter(0))
            kept = chosen[:need]
            aligned = {id(entry): aligned_of(entry) for entry in {id(entry): entry for _, entry in kept}.values()}
            picked.extend((name, similarity, pre, aligned[id(entry)]) for name, entry in kept)
            if len(picked) >= keep:
                break
    else:
        # (similarity desc, name asc): one bucket per similarity value, names sorted within it.
        buckets: dict[float, list[tuple[str, float, _Aligned]]] = {}
        for (pre, similarity), entries in levels.items():
            bucket = buckets.setdefault(similarity, [])
            for entry in entries:
                al = aligned_of(entry)
                bucket.extend([(name, pre, al) for name in (entry[0].names() if entry[2] is None else entry[2])])
        unpruned: list[_Member] = []
        for similarity in sorted(buckets, reverse=True):
            bucket = buckets[similarity]
            bucket.sort(key=itemgetter(0))
            for name, pre, al in bucket:
                record = pattern(name)
                if record is not None:
                    unpruned.append((record, similarity, pre, al))
        return unpruned, False

    members: list[_Member] = []
    for name, similarity, pre, al in picked:
        record = pattern(name)
        if record is not None:
            members.append((record, similarity, pre, al))
    return members, pruned


_PER_PATTERN_FIELDS = ("confluence", "entropy", "normalized_entropy", "global_normalized_entropy", "tfidf_score")
_ENSEMBLE_FIELDS = (
    "predictive_information", "pattern_probability", "weighted_strength", "bayesian_posterior", "bayesian_prior"
)  # in the order of the lists `_Ensemble.rank_value` reads
_WEIGHTED_FIELDS = ("weighted_similarity", "weighted_evidence", "weighted_confidence", "weighted_snr")
_NO_WEIGHTS = (None, None, None, None)
# The keys of a full-path prediction in the reference's order (§9.9), with the values that never vary.
_WIRE_TEMPLATE: dict[str, Any] = dict.fromkeys((
    "type", "name", "frequency", "emotives", "matches", "past", "present", "missing", "extras", "anomalies",
    "potential", "evidence", "similarity", "fragmentation", "snr", "confluence", "predictive_information",
    "sequence", "future", "confidence", "weighted_similarity", "weighted_evidence", "weighted_confidence",
    "weighted_snr", "entropy", "normalized_entropy", "global_normalized_entropy", "itfdf_similarity",
    "tfidf_score", "pattern_probability", "weighted_strength", "bayesian_posterior", "bayesian_prior",
    "bayesian_likelihood",
))
_WIRE_TEMPLATE["type"] = "prototypical"


class _Ensemble:
    """The pruned ensemble (§9) with its ensemble-wide metrics, in lists indexed like `members`.

    The per-pattern scores (entropies, tf-idf, confluence) are computed only for rendered predictions (or all,
    when the ranking needs them), with the same expressions as the reference.
    """

    __slots__ = ("aggregate", "bayes_evidence", "cuts", "frequencies", "future_groups", "infos", "itfdf", "members",
                 "posteriors", "potentials", "priors", "pruned", "scores", "strengths", "terms", "vocabulary",
                 "weighted")

    def __init__(self, members: list[_Member], pruned: bool, state: list[str], config: EngineConfig,
                 kb: KnowledgeView) -> None:
        self.members = members
        self.pruned = pruned
        cuts: list[_Cut] = [
            record.derived.get(al.layout.cut) or _cut(record, al.layout) for record, _, _, al in members
        ]
        frequencies = self.frequencies = [record.frequency or 1 for record, _, _, _ in members]
        likelihoods = [member[1] for member in members]
        weighted_frequencies = list(map(mul, frequencies, likelihoods))
        # The future groups of §9.6, summed in ensemble order: [first member, Σ frequency·similarity, count].
        groups: dict[str, list] = {}
        for index, cut in enumerate(cuts):
            key = cut[2]
            if key is not None:
                group = groups.get(key)
                if group is None:
                    groups[key] = [index, 0.0 + weighted_frequencies[index], 1]  # a float, as the sum from 0.0
                else:
                    group[1] += weighted_frequencies[index]
                    group[2] += 1
        self.cuts = cuts
        group_total = sum(g[1] for g in groups.values())
        self.future_groups = groups
        aggregate = self.aggregate = {key: (g[1] / group_total if group_total else 0) for key, g in groups.items()}

        # π covers matches ∪ flat(missing) of every member, which is matches ∪ flat(present) (§9).
        presents = [cut[0] for cut in cuts]
        symbols = set().union(*presents, *[al.matches for _, _, _, al in members])
        counters = kb.counters()
        unique = counters.total_unique_patterns
        self.vocabulary = kb.vocabulary_size()
        probability: dict[str, float] = {}
        symbol_stats = kb.symbol_stats
        for s in symbols:
            stats = symbol_stats(s)
            probability[s] = stats.pattern_member_frequency / unique if (unique and stats) else 0.0
        self.terms = ScoreTerms(unique, counters.total_pattern_frequencies, probability)
        # (present key, frequency) -> runtime scores: they depend on nothing else at one version of the knowledge,
        # so a view that offers a memo for its version keeps them across requests.
        memo_of = getattr(kb, "score_memo", None)
        self.scores: BoundedMemo = memo_of() if memo_of is not None else BoundedMemo()

        total_frequency = sum(frequencies)
        # the matches are state symbols, so the presents and the state span `symbols | state`
        itfdf = self.itfdf = itfdf_similarities(
            presents, state, frequencies, probability, [c[1] for c in cuts], symbols.union(state)
        )

        # pattern_probability and bayesian_prior are both freq/Σfreq; weighted_strength and the posterior's
        # numerator are both similarity·that (§9.6-§9.7).
        priors = self.priors = [f / total_frequency for f in frequencies]
        evidence = self.bayes_evidence = float(np.dot(np.array(likelihoods), np.array(priors)))
        strengths = self.strengths = list(map(mul, likelihoods, priors))
        self.posteriors = [w / evidence for w in strengths] if evidence else [0] * len(strengths)
        shares = [aggregate[cut[2]] if cut[2] is not None else 0 for cut in cuts]
        self.infos = [strength / share if share > 0 else 0 for strength, share in zip(strengths, shares, strict=True)]

        self.weighted: list[tuple[float | None, float, float, float]] | None = None
        if config.affinity_emotive:
            weights = _symbol_weights(kb, state, config.affinity_emotive)
            weighted = self.weighted = [
                _weighted_metrics(weights, state, record.symbols, al.matches, cut[0],
                                  [s for e in al.extras for s in e])
                for (record, _, _, al), cut in zip(members, cuts, strict=True)
            ]
            self.potentials = [
                (w_evidence + w_confidence) * w_snr + itfdf[i] + al.layout.fterm
                for i, ((_, w_evidence, w_confidence, w_snr), (_, _, _, al)) in enumerate(
                    zip(weighted, members, strict=True)
                )
            ]
        else:
            # (evidence + confidence)·snr + itfdf + f(fragmentation), added left to right (§9.8)
            self.potentials = [
                al.core + itfdf_similarity + al.fterm
                for (_, _, _, al), itfdf_similarity in zip(members, itfdf, strict=True)
            ]

    def per_pattern(self, i: int) -> tuple[float, float, float, float, float]:
        """(confluence, entropy, normalized_entropy, global_normalized_entropy, tfidf_score) of member i: the
        finalize-time values when the pattern has them, else runtime values over the present (§9.2-§9.4).

        Runtime values depend only on the flat present and the frequency (at one version of the knowledge), which
        few members differ in (most presents are the matched state symbols), so they are computed once per distinct
        pair and version."""
        record = self.members[i][0]
        present = self.cuts[i][0]
        terms = self.terms
        frequency = self.frequencies[i]
        finalized = record.finalized
        if finalized is not None:
            return (
                terms.confluence(frequency, present), finalized.entropy, finalized.normalized_entropy,
                finalized.global_normalized_entropy, terms.tfidf(finalized.tf_vector),
            )
        key = (self.cuts[i][1], frequency)
        values = self.scores.get(key)
        if values is None:
            shares = term_frequencies(present) if present else {}
            entropy, normalized, global_normalized = entropies(shares, self.vocabulary, terms.probability)
            values = self.scores.add(key, (
                terms.confluence(frequency, present), entropy, normalized, global_normalized, terms.tfidf(shares),
            ))
        return values

    def rank_value(self, i: int, field: str) -> Any:
        """The value `rank_sort_algo` orders by (potential for a field a prediction does not have)."""
        _, similarity, _, al = self.members[i]
        layout = al.layout
        simple = {
            "potential": self.potentials[i], "evidence": layout.evidence, "similarity": similarity,
            "fragmentation": layout.fragmentation, "snr": layout.snr, "confidence": layout.confidence,
            "frequency": self.frequencies[i], "itfdf_similarity": self.itfdf[i], "bayesian_likelihood": similarity,
        }
        if field in simple:
            return simple[field]
        if field in _PER_PATTERN_FIELDS:
            return self.per_pattern(i)[_PER_PATTERN_FIELDS.index(field)]
        if field in _ENSEMBLE_FIELDS:
            return (self.infos, self.priors, self.strengths, self.posteriors, self.priors)[
                _ENSEMBLE_FIELDS.index(field)
            ][i]
        if field in _WEIGHTED_FIELDS:
            return (self.weighted[i] if self.weighted is not None else _NO_WEIGHTS)[_WEIGHTED_FIELDS.index(field)]
        return self.potentials[i]

    def render(self, indices: Sequence[int]) -> list[dict]:
        """The wire form of the members at `indices`, keys in the reference's order (§9.9)."""
        members, cuts, frequencies, potentials, itfdf = (
            self.members, self.cuts, self.frequencies, self.potentials, self.itfdf
        )
        priors, strengths, posteriors, infos = self.priors, self.strengths, self.posteriors, self.infos
        weighted, pruned, memo = self.weighted, self.pruned, self.scores
        out = []
        for i in indices:
            record, similarity, pre, al = members[i]
            cut = cuts[i]
            layout = al.layout
            scores = None if record.finalized is not None else memo.get((cut[1], frequencies[i]))
            confluence, entropy, normalized, global_normalized, tfidf = scores or self.per_pattern(i)
            derived = record.derived
            emotives = derived.get("emotives")
            if emotives is None:
                emotives = derived["emotives"] = average_emotives(record.emotives)
            # A copy of the key template plus item assignments: a literal of this size compiles to three
            # merged sub-dicts (CPython builds displays in chunks of 16), which cost twice as much.
            prediction = (al._wire or al.wire()).copy()
            prediction["name"] = record.name
            prediction["frequency"] = frequencies[i]
            prediction["emotives"] = emotives
            sequence = derived["sequence"]  # made with the cut
            prediction["past"] = cut[3]
            prediction["present"] = cut[4]
            missing = derived.get(layout.missing_key)
            if missing is None:
                symbols = record.symbols
                if layout.missing_slices is not None:
                    missing = list(map(list, map(symbols.__getitem__, layout.missing_slices)))
                else:
                    missing = [[symbols[q] for q in at] for at in layout.missing_at]
                derived[layout.missing_key] = missing
            prediction["missing"] = missing
            prediction["potential"] = potentials[i]
            prediction["similarity"] = similarity
            prediction["confluence"] = confluence
            prediction["predictive_information"] = infos[i]
            prediction["sequence"] = sequence
            prediction["future"] = cut[5]
            if weighted is not None:
                w_sim, w_ev, w_conf, w_snr = weighted[i]
                prediction["weighted_similarity"] = w_sim
                prediction["weighted_evidence"] = w_ev
                prediction["weighted_confidence"] = w_conf
                prediction["weighted_snr"] = w_snr
            prediction["entropy"] = entropy
            prediction["normalized_entropy"] = normalized
            prediction["global_normalized_entropy"] = global_normalized
            prediction["itfdf_similarity"] = itfdf[i]
            prediction["tfidf_score"] = tfidf
            prediction["pattern_probability"] = priors[i]
            prediction["weighted_strength"] = strengths[i]
            prediction["bayesian_posterior"] = posteriors[i]
            prediction["bayesian_prior"] = priors[i]
            prediction["bayesian_likelihood"] = similarity
            if pruned:
                prediction["_pre_potential"] = pre
            out.append(prediction)
        return out

    def future_potentials(self) -> list[dict]:
        """§9.6 over the pruned ensemble, aggregate_potential descending, ties in first-seen order."""
        groups = list(self.future_groups.items())
        aggregate, cuts = self.aggregate, self.cuts
        shares = [-aggregate[key] for key, _ in groups]
        out = []
        for key, (first, total_weighted_frequency, supporting) in map(
            groups.__getitem__, sorted(range(len(groups)), key=shares.__getitem__)
        ):
            out.append({
                "future": cuts[first][5],
                "aggregate_potential": aggregate[key],
                "supporting_patterns": supporting,
                "total_weighted_frequency": total_weighted_frequency,
            })
        return out


def _full_path(stm: Events, state: list[str], config: EngineConfig, kb: KnowledgeView) -> PredictionResult:
    members, pruned = _select(stm, state, config, kb)
    if not members:
        return PredictionResult([], [])
    ensemble = _Ensemble(members, pruned, state, config, kb)
    field = config.rank_sort_algo
    if field == "potential":
        keys = [
            (-potential, -similarity, record.name)
            for (record, similarity, _, _), potential in zip(members, ensemble.potentials, strict=True)
        ]
    else:
        keys = []
        for i, (record, similarity, _, _) in enumerate(members):
            value = ensemble.rank_value(i, field)
            keys.append((1, 0.0, -similarity, record.name) if value is None else (0, -value, -similarity, record.name))
    order = sorted(range(len(members)), key=keys.__getitem__)
    return PredictionResult(ensemble.render(order[: config.max_predictions]), ensemble.future_potentials())


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

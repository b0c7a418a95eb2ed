"""The link stage: one night's encoded records -> persons, families, multi-system families.

:func:`link_records` runs blocking, comparison, the model, the threshold, the constraints,
the clustering and a second pass inside the families the first one made on an
:class:`linkage.inputs.EncodedNight` and returns a :class:`LinkResult`: one row per
record (no identifier beyond the agency's own record id) plus what the report and the
manifest need (model parameters, blocking statistics, estimated precision and recall,
timings). Each step is a plain function of its own module;
this one only strings them together and times them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from data_contracts.encoded import block_rules

from . import cluster, family
from .blocking import block_pairs, candidate_pairs
from .compare import NAME_TOKEN_LEVELS, compare
from .inputs import EncodedNight
from .model import Comparator, FSModel, choose_threshold, estimates_at, fit, relatives_model, score
from .plaintext import compare_plaintext
from .settings import LinkageSettings

RESULT_COLUMNS = ("agency", "record_id", "record_kind", "person", "family", "systems",
                  "multi_system", "community", "link_probability")
STEPS = ("blocking", "comparison", "model", "scoring", "clustering", "within_families",
         "person_check", "summary")
"""The steps of :func:`link_records`, in order (the keys of :attr:`LinkResult.seconds`)."""
OnStep = Callable[[str, int, int, dict[str, int]], None]
"""``on_step(step, done, total, counts)``: called as each step of :data:`STEPS` ends, with
how many are done of how many, and a few counts (``{"candidate pairs": 41093}``); never
per record or pair."""


@dataclass
class LinkResult:
    """What the link stage produces.

    Attributes:
        records: one row per record, columns :data:`RESULT_COLUMNS`.
        model: the fitted model.
        threshold: the chosen threshold with the model's estimated precision and recall.
        curve: estimated precision and recall at thresholds around the chosen one.
        blocking: per rule, what it did.
        pairs: candidate pairs, links above the threshold, links kept by clustering.
        seconds: per step.
        weights: per scored pair (as ``candidates``), match weight.
        histogram: scored pairs per match-weight bin, all and linked (for the report).
        links_by_agency_pair: links kept by clustering, by the two records' agencies
            (``DHS+DHS``, ``DHS+DJS``, ...).
        candidates: every pair the stage scored (the blocking's candidates and the second
            pass's pairs inside families, each pair once): ``left`` and ``right`` (row
            numbers in ``records``), its match ``probability`` after the constraints and
            gating (0 for a pair that can never link; the higher of its two passes) and its
            model ``weight``. ``threshold`` and ``curve`` estimate over these pairs.
    """

    records: pd.DataFrame
    model: FSModel
    threshold: dict[str, float]
    curve: list[dict[str, float]]
    blocking: list[dict[str, Any]]
    pairs: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)
    weights: np.ndarray | None = None
    histogram: dict[str, list[float]] = field(default_factory=dict)
    links_by_agency_pair: dict[str, int] = field(default_factory=dict)
    candidates: pd.DataFrame | None = None

    def counts(self) -> dict[str, Any]:
        """Persons, families and multi-system families by combination of systems."""
        df = self.records
        multi = df[df["multi_system"]].drop_duplicates("family")
        return {"records": len(df), "persons": int(df["person"].nunique()),
                "families": int(df["family"].nunique()),
                "multi_system_families": len(multi),
                "multi_system_records": int(df["multi_system"].sum()),
                "by_systems": {k: int(v) for k, v in
                               multi["systems"].value_counts().sort_index().items()}}


def link_records(night: EncodedNight, settings: LinkageSettings | None = None,
                 plaintext: pd.DataFrame | None = None, on_step: OnStep | None = None
                 ) -> LinkResult:
    """Link one night (see the module docstring).

    Args:
        night: the encoded records.
        settings: ``[linkage]``.
        plaintext: with ``settings.comparison == "plaintext"`` only (benchmarks): the
            records' values (:func:`linkage.plaintext.plaintext_values`), compared instead
            of the encodings; blocking, model and clustering are unchanged.
        on_step: told as each step ends (:data:`OnStep`), for a caller's progress display.
    """
    settings = settings or LinkageSettings()
    records = night.records
    if settings.comparison == "plaintext":
        if plaintext is None or len(plaintext) != records.num_rows:
            raise ValueError("plaintext comparison needs the records' plaintext values")
        take = family.address_source(records)
        values = plaintext.reset_index(drop=True).copy()
        for name in family.ADDRESS_FIELDS:
            values[name] = plaintext[name].to_numpy()[take]

        def comparator(left: np.ndarray, right: np.ndarray) -> np.ndarray:
            return compare_plaintext(records, values, left, right)
        token_levels = None
    else:
        compared = family.borrow_family_address(records)

        def comparator(left: np.ndarray, right: np.ndarray) -> np.ndarray:
            if len(left) * SUBSET_RATIO < compared.num_rows:
                # few pairs (the person check): compare on their records only, so the
                # cost follows the pairs, not the night's columns
                rows = np.unique(np.concatenate([left, right]))
                return compare(compared.take(pa.array(rows)), np.searchsorted(rows, left),
                               np.searchsorted(rows, right), night.encoding)
            return compare(compared, left, right, night.encoding)
        token_levels = NAME_TOKEN_LEVELS
    seconds: dict[str, float] = {}
    t = time.perf_counter()

    def lap(step: str, **counts: int) -> None:
        nonlocal t
        now = time.perf_counter()
        seconds[step] = round(now - t, 3)
        if on_step is not None:
            on_step(step, len(seconds), len(STEPS), {k.replace("_", " "): v
                                                     for k, v in counts.items()})
        t = time.perf_counter()          # the caller's time is not the next step's

    pairs = candidate_pairs(records, block_rules(records), max_block=settings.max_block,
                            rule_max_block=settings.rule_max_block)
    lap("blocking", candidate_pairs=len(pairs))
    gamma = comparator(pairs.left, pairs.right)
    family.drop_surname_of_coparents(gamma)
    lap("comparison")
    tie = records.column("family_tie").to_numpy()
    same_group = tie[pairs.left] == tie[pairs.right]
    capped = {s.rule: s.capped_records / max(s.records_with_tokens, 1) for s in pairs.stats}
    model = fit(records.num_rows, comparator, gamma, pairs.rules, pairs.rule_names,
                same_group,
                capped_share=capped, n_random=settings.random_pairs,
                expected_matches=settings.expected_matches or None, seed=settings.seed,
                token_levels=token_levels)
    lap("model")
    weight, prob = score(model, gamma)
    unique = tuple(settings.unique_id_agencies)
    never = cluster.cannot_link(records, pairs.left, pairs.right, unique) | \
        cluster.siblings(records, pairs.left, pairs.right, gamma, same_group)
    prob = np.where(never, 0.0, prob)
    # Derived persons without a birth date link only with family context: the same street,
    # or their family already joined by a link between records with birth dates.
    context = family.needs_context(records, pairs.left, pairs.right, gamma)
    anchored = ~context & (prob >= 0.5)
    support = family.family_support(records, pairs.left, pairs.right,
                                    pairs.left[anchored], pairs.right[anchored])
    without = context & ~family.same_street(gamma) & ~support
    prob = np.where(without, 0.0, prob)
    chosen = choose_threshold(prob)
    if settings.threshold > 0:
        chosen = {**estimates_at(prob, [settings.threshold])[0], "est_f1": float("nan"),
                  "chosen": "config"}
    else:
        chosen["chosen"] = "automatic"
    threshold = chosen["threshold"]
    curve = estimates_at(prob, sorted({float(x) for x in
                                       (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99,
                                        threshold)}))
    lap("scoring")
    linked = prob >= threshold
    left, right, p = pairs.left[linked], pairs.right[linked], prob[linked]
    evidence = _Evidence(records.num_rows, threshold, unique)
    evidence.add(pairs.left, pairs.right, prob, never,
                 cluster.conflicts(gamma, model.weights(), prob, threshold))
    person, accepted = evidence.persons(records, left, right, p)
    families = cluster.families(records, person)
    lap("clustering")
    # every scored pair: the blocking's candidates, then those of the second pass
    s_left, s_right, s_prob, s_weight = pairs.left, pairs.right, prob, weight
    within = {"pairs": 0, "links": 0}
    # a night whose family groups are all single records (one file of persons, no ties)
    # has no relatives to look among: its "families" are only the persons just made
    extra = _within_families(records, families, comparator, model, threshold, unique) \
        if settings.within_families and bool(same_group.any()) else None
    if extra is not None:
        fl, fr, fprob, fweight, fnever, fconflict = extra
        flinked = fprob >= threshold
        within = {"pairs": int(len(fl)), "links": int(flinked.sum())}
        left, right, p = _strongest(np.concatenate([left, fl[flinked]]),
                                    np.concatenate([right, fr[flinked]]),
                                    np.concatenate([p, fprob[flinked]]))
        evidence.add(fl, fr, fprob, fnever, fconflict)
        person, accepted = evidence.persons(records, left, right, p)
        families = cluster.families(records, person)
        s_left, s_right, s_prob, s_weight = _merge_scored(
            records.num_rows, (pairs.left, pairs.right, prob, weight), (fl, fr, fprob, fweight),
            threshold)
        # the estimates speak for every pair the stage scored and every link it made
        at = estimates_at(s_prob, [threshold])[0]
        f1 = 2 * at["est_precision"] * at["est_recall"] / \
            max(at["est_precision"] + at["est_recall"], 1e-12)
        chosen = {**chosen, **at, "est_f1": f1 if chosen["chosen"] == "automatic"
                  else float("nan")}
        curve = estimates_at(s_prob, [c["threshold"] for c in curve])
    lap("within_families", pairs=within["pairs"], links=within["links"])
    checked = {"pairs": 0, "conflicts": 0}
    if settings.check_persons:
        checked, checked_person = _check_persons(records, person, (left, right, p), evidence,
                                                 comparator, model)
        if checked_person is not None:
            person, accepted = checked_person
            families = cluster.families(records, person)
    lap("person_check", pairs=checked["pairs"], conflicts=checked["conflicts"])
    result = cluster.summarize(records, person, families, left[accepted], right[accepted],
                               p[accepted])
    lap("summary", records=records.num_rows)
    agency = records.column("agency").to_numpy(zero_copy_only=False).astype(str)
    a, b = agency[left[accepted]], agency[right[accepted]]
    pair_names = pd.Series(np.where(a <= b, a, b)).str.cat(np.where(a <= b, b, a), sep="+")
    return LinkResult(
        records=result[list(RESULT_COLUMNS)], model=model, threshold=chosen, curve=curve,
        blocking=[s.__dict__ for s in pairs.stats],
        pairs={"candidates": len(pairs), "above_threshold": int((s_prob >= threshold).sum()),
               "kept": int(accepted.sum()), "cannot_link": int(never.sum()),
               "without_family_context": int(without.sum()),
               "with_family_support": int((context & support).sum()),
               "within_family_pairs": within["pairs"],
               "within_family_links": within["links"],
               "person_check_pairs": checked["pairs"],
               "person_check_conflicts": checked["conflicts"], "scored": int(len(s_prob))},
        seconds=seconds, weights=s_weight.astype(np.float32),
        histogram=weight_histogram(s_weight, s_prob >= threshold),
        candidates=pd.DataFrame({"left": s_left.astype(np.uint32),
                                 "right": s_right.astype(np.uint32),
                                 "probability": s_prob.astype(np.float32),
                                 "weight": s_weight.astype(np.float32)}),
        links_by_agency_pair={k: int(v) for k, v in
                              pair_names.value_counts().sort_index().items()})


SUBSET_RATIO = 20
"""Fewer pairs than the night's records over this and they are compared on a table of
their own records (the comparison is row by row: the levels are the same)."""
CHECK_ROUNDS = 3
"""Rounds of the person check: a split person is checked again (a split rarely makes a new
conflict, so one or two rounds settle it)."""
MAX_PERSON_CHECK = 2000
"""Persons larger than this are not checked pair by pair (their pairs grow quadratically:
two million pairs at most per person). A person of hundreds of records is a chain gone
wrong, which the check is there to find."""


class _Evidence:
    """What the clustering weighs, gathered over the passes: every scored pair with its
    probability, the pairs that can never be one person, and the conflicts
    (:func:`linkage.cluster.persons`)."""

    def __init__(self, n: int, threshold: float, unique: tuple[str, ...]) -> None:
        self.n, self.threshold, self.unique = n, threshold, unique
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, left: np.ndarray, right: np.ndarray, prob: np.ndarray, never: np.ndarray,
            conflict: np.ndarray) -> None:
        """Pairs scored by a pass, which of them can never link, which conflict."""
        self.parts.append((left, right, prob, never, conflict))

    def persons(self, records: pa.Table, left: np.ndarray, right: np.ndarray,
                prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:func:`linkage.cluster.persons` of these links on the evidence so far."""
        cat = [np.concatenate(col) for col in zip(*self.parts, strict=True)]
        pl, pr, pp, never, conflict = cat
        return cluster.persons(records, left, right, prob, pl[never], pr[never], self.unique,
                               conflict=(pl[conflict], pr[conflict]), compared=(pl, pr, pp),
                               threshold=self.threshold)


def _check_persons(records: pa.Table, person: np.ndarray,
                   links: tuple[np.ndarray, np.ndarray, np.ndarray], evidence: _Evidence,
                   comparator: Comparator, model: FSModel
                   ) -> tuple[dict[str, int], tuple[np.ndarray, np.ndarray] | None]:
    """The person check: up to :data:`CHECK_ROUNDS` rounds of :func:`_person_pairs`, each
    adding what it compared to ``evidence`` and clustering ``links`` again, until no pair
    inside a person can never link or conflicts, or the persons stop changing (every
    conflict found is outweighed where it lies). Returns the pairs compared and the
    conflicts found (each once), and the new (person, kept) or None if nothing changed."""
    checked = {"pairs": 0, "conflicts": 0}
    found = np.empty(0, np.int64)
    out = None
    for _ in range(CHECK_ROUNDS):
        cl, cr, cprob, cnever, cconflict = _person_pairs(
            records, person, comparator, model, evidence.threshold, evidence.unique)
        checked["pairs"] += len(cl)
        bad = cnever | cconflict
        if not bad.any():
            break
        key = cl[bad].astype(np.int64) * records.num_rows + cr[bad]
        checked["conflicts"] += int((~np.isin(key, found)).sum())
        found = np.union1d(found, key)
        evidence.add(cl, cr, cprob, cnever, cconflict)
        before = person
        person, kept = evidence.persons(records, *links)
        out = (person, kept)
        if np.array_equal(person, before):
            break
    return checked, out


def _person_pairs(records: pa.Table, person: np.ndarray, comparator: Comparator,
                  model: FSModel, threshold: float, unique: tuple[str, ...]
                  ) -> tuple[np.ndarray, ...]:
    """Every pair of records inside one person, compared and scored like a candidate:
    (left, right, probability, can never link, conflict). A record joins a person only
    when it agrees with that person's records as a whole, not through a chain of links (a
    name-only record bridging two namesakes born ten years apart): the pairs the chain
    never compared are weighed too. Per person, so partitionable."""
    # a person of two records is its one link, scored already: only chains are checked
    rows = np.flatnonzero(np.bincount(person)[person] >= 3)
    left, right, _ = block_pairs(rows.astype(np.int64), person[rows].astype(np.uint64),
                                 MAX_PERSON_CHECK)
    if not len(left):
        none = np.zeros(0, bool)
        return left, right, np.zeros(0), none, none
    gamma = _compared(comparator, left, right)
    _, prob, never, conflict = _scored(records, left, right, gamma, model, model, threshold,
                                       unique)
    return left, right, prob, never, conflict


def _compared(comparator: Comparator, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Agreement levels of pairs found after the first pass (co-parents' surnames
    dropped, as for the candidates)."""
    gamma = comparator(left, right)
    family.drop_surname_of_coparents(gamma)
    return gamma


def _scored(records: pa.Table, left: np.ndarray, right: np.ndarray, gamma: np.ndarray,
            scoring: FSModel, model: FSModel, threshold: float, unique: tuple[str, ...]
            ) -> tuple[np.ndarray, ...]:
    """Weight and probability of the pairs under ``scoring`` (0 where they can never be
    one person), which can never be one person (:func:`linkage.cluster.cannot_link`) and
    which conflict (:func:`linkage.cluster.conflicts` on ``model``'s weights)."""
    weight, prob = score(scoring, gamma)
    never = cluster.cannot_link(records, left, right, unique)
    prob = np.where(never, 0.0, prob)
    return weight, prob, never, cluster.conflicts(gamma, model.weights(), prob, threshold)


MIN_WITHIN = 50
"""Fewer pairs inside joined families than this (FEBRL has no families) and the second
pass does not run: too few to estimate the relatives' levels from."""


def _within_families(records: pa.Table, families: np.ndarray, comparator: Comparator,
                     model: FSModel, threshold: float, unique: tuple[str, ...]
                     ) -> tuple[np.ndarray, ...] | None:
    """The second pass, inside the families the first one made.

    There the non-matches are relatives, not strangers: every pair of records of two family
    groups one family joined is compared, the relatives' level probabilities and the share
    of matches among those pairs are estimated by EM with ``m`` fixed
    (:func:`linkage.model.relatives_model`), and the pairs are scored with them. A guardian
    under her maiden name or a contact under a nickname with no address, whom no blocking
    key brought together, links to the relative she is; the same constraints apply.

    Returns:
        the pairs (left, right), their probability and weight, which of them can never
        link and which conflict; None when there are too few pairs (:data:`MIN_WITHIN`).
    """
    fl, fr = family.within_family_pairs(records, families)
    if len(fl) < MIN_WITHIN:
        return None
    gamma = _compared(comparator, fl, fr)
    within, model.sessions["within families"] = relatives_model(model, gamma)
    weight, prob, never, conflict = _scored(records, fl, fr, gamma, within, model, threshold,
                                            unique)
    return fl, fr, prob, weight, never, conflict


def _merge_scored(n: int, first: tuple[np.ndarray, ...], second: tuple[np.ndarray, ...],
                  threshold: float = 1.0) -> tuple[np.ndarray, ...]:
    """The blocking's candidates (``first``: left, right, probability, weight, sorted by
    pair as :func:`linkage.blocking.candidate_pairs` gives them) with the second pass's
    pairs (``second``, ``left < right``): a pair in both keeps its higher probability (and
    that pass's weight), unless the first pass already linked it (at ``threshold``): the
    family context the second pass scores it in then rests on that very link, and its
    near-certain probability would only inflate the estimates (on the city profile the
    strangers' links read 0.5-0.95 in the first pass, 1.0 in the second); the others are
    appended. A lookup of the few second-pass pairs in
    the sorted candidates, not a sort of all of them (14 million on a statewide night)."""
    left, right, prob, weight = first
    fl, fr, fprob, fweight = second
    key = left.astype(np.int64) * n + right
    fkey = fl.astype(np.int64) * n + fr
    pos = np.minimum(np.searchsorted(key, fkey), max(len(key) - 1, 0))
    hit = (key[pos] == fkey) if len(key) else np.zeros(len(fkey), bool)
    prob, weight = prob.copy(), weight.copy()
    better = hit & (fprob > prob[pos]) & (prob[pos] < threshold)
    prob[pos[better]], weight[pos[better]] = fprob[better], fweight[better]
    new = ~hit
    return (np.concatenate([left, fl[new]]), np.concatenate([right, fr[new]]),
            np.concatenate([prob, fprob[new]]), np.concatenate([weight, fweight[new]]))


def _strongest(left: np.ndarray, right: np.ndarray, prob: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each link once (as ``left < right``) with its highest probability."""
    lo, hi = np.minimum(left, right), np.maximum(left, right)
    if len(lo) == 0:
        return lo, hi, prob
    order = np.lexsort((-prob, hi, lo))
    lo, hi, prob = lo[order], hi[order], prob[order]
    first = np.concatenate([[True], (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])])
    return lo[first], hi[first], prob[first]


def weight_histogram(weight: np.ndarray, linked: np.ndarray, width: float = 1.0
                     ) -> dict[str, list[float]]:
    """Candidate pairs per match-weight bin (``width`` bits), all and linked ones."""
    finite = np.isfinite(weight)
    if not finite.any():
        return {"edges": [], "pairs": [], "linked": []}
    lo = np.floor(weight[finite].min() / width) * width
    hi = np.ceil(weight[finite].max() / width) * width + width
    edges = np.arange(lo, hi + width / 2, width)
    w = np.clip(weight[finite], edges[0], edges[-1])
    return {"edges": [float(e) for e in edges],
            "pairs": np.histogram(w, edges)[0].tolist(),
            "linked": np.histogram(w[linked[finite]], edges)[0].tolist()}

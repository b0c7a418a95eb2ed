"""A Fellegi–Sunter model estimated without labels, robust to households.

Three kinds of record pairs meet in the candidate set: the same person (M), two members of
one household (H: same surname and address, different first name and birth date) and
everyone else (N). A two-class EM over candidates mistakes households for matches: they
agree on three or four fields at once, which conditional independence cannot explain
(measured on a medium synthetic night: EM put the match share at 0.37 for a true 0.005,
precision 0.012). So each class is estimated from where it can be seen cleanly:

* ``u`` (class N) from random record pairs, almost all non-matches (Splink's
  ``estimate_u_using_random_sampling``);
* ``u_h`` (class H) from pairs inside one family group (a DHS case, a youth and their
  guardians, an offender and their contact): the agencies' own ties give household pairs
  for free (Winkler's three-class model of persons within households);
* ``m`` (class M) of birth date, SSN, address and middle name by EM with ``u`` fixed in a
  training session on the pairs the ``name`` rule proposed, which it does not block on
  (Splink's ``estimate_parameters_using_expectation_maximisation``); ``m`` of first name,
  last name and sex from anchor pairs that agree exactly on birth date and on SSN or street;
* the prior: the expected number of matches, from the ``name`` session's match share and
  that rule's recall as the fitted ``m`` give it (or set in the config), over all record
  pairs, so that blocking on a field does not inflate its weight.

A pair's match weight is ``log2 P(M) m(γ) / (P(H) u_h(γ) + P(N) u(γ))`` with missing
levels left out; its probability follows. Everything is array work over distinct agreement
patterns or pairs; nothing loops per pair in Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from .compare import COMPARISON_NAMES, COMPARISONS, compare


@dataclass(frozen=True)
class Session:
    """An EM training session: the pairs a blocking rule proposed (never estimating what
    it blocks on), split by whether both records carry a birth date."""

    name: str
    rule: str
    with_dob: bool
    estimated: tuple[str, ...]
    kept: tuple[str, ...]


SESSIONS: tuple[Session, ...] = (
    Session("name, birth dates on both sides", "name", True,
            ("middle_name", "dob", "ssn", "address"), ("middle_name", "dob", "ssn", "address")),
    Session("name, a birth date missing", "name", False, ("address", "relationship"),
            ("relationship",)),
)
"""Pairs that share a first-name key and a surname word statewide are matches or
namesakes; namesakes agree on the rest by chance, which is what fixed ``u`` says. Pairs
with a birth date on both sides tell matches by it; pairs without one (guardians and
contacts) are estimated apart, so that a crowd of name-only namesakes does not pull the
birth-date and address estimates (on a small night they did: match share 0.16)."""

ANCHORED: tuple[str, ...] = ("first_name", "last_name", "sex")
"""Anchor pairs (records of two family groups) agree exactly on birth date and on SSN or
street address: two unrelated people do so with odds of about one in a hundred million,
so whatever names do among them is what names do among matches, and ``m`` of the ANCHORED
comparisons is read off them. (A session blocked on
birth date and area was tried instead: people born the same day in one area share first
names more often than chance, as names follow birth years, and EM took them for matches.)"""
SSN_ANCHORED: tuple[str, ...] = ("first_name",)
MIN_ANCHORS = 20

PRIOR_RULE = "name"
PRIOR_LEVELS = {"first_name": 4, "last_name": 2}
"""The rule whose sessions give the expected number of matches, and the levels it needs
(a first-name key and a surname word in common) to estimate its recall from ``m``."""


@dataclass
class FSModel:
    """A fitted model.

    Attributes:
        fields: comparison names, in column order of the agreement matrix.
        m: per comparison, level probabilities among matches.
        u: per comparison, among random (non-matching) pairs.
        u_h: per comparison, among pairs of one household; None when there were too few
            family groups to see households (the model is then two-class).
        log2_prior_m, log2_prior_h: log2 probability that two random records are the same
            person / of one household.
        expected_matches: the number of matching record pairs the prior stands for.
        sessions: per training session, its pairs, EM iterations, convergence and match
            share (for the report).
    """

    fields: tuple[str, ...]
    m: list[np.ndarray]
    u: list[np.ndarray]
    u_h: list[np.ndarray] | None
    log2_prior_m: float
    log2_prior_h: float
    expected_matches: float
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def weights(self) -> list[np.ndarray]:
        """Match weight (log2 m/u) each level adds against random pairs, per comparison."""
        return [np.log2(m / u) for m, u in zip(self.m, self.u, strict=True)]

    def to_json(self) -> dict[str, Any]:
        """Parameters, as plain JSON (for the manifest and the report)."""
        def levels(p: list[np.ndarray] | None, j: int) -> list[float] | None:
            return None if p is None else [round(float(x), 6) for x in p[j]]
        return {"comparisons": {name: {"levels": list(COMPARISONS[j].levels),
                                       "m": levels(self.m, j), "u": levels(self.u, j),
                                       "u_household": levels(self.u_h, j)}
                                for j, name in enumerate(self.fields)},
                "log2_prior_match": self.log2_prior_m,
                "log2_prior_household": self.log2_prior_h,
                "expected_matches": self.expected_matches, "sessions": self.sessions}


def level_probabilities(gamma: np.ndarray, n_levels: Sequence[int],
                        weights: np.ndarray | None = None, pseudo: float = 0.5
                        ) -> list[np.ndarray]:
    """Per comparison, the (weighted) share of each level among non-missing values."""
    out = []
    for j, k in enumerate(n_levels):
        g = gamma[:, j]
        ok = g >= 0
        c = np.bincount(g[ok], weights=None if weights is None else weights[ok],
                        minlength=k) + pseudo
        out.append(c / c.sum())
    return out


def _log_likelihoods(patterns: np.ndarray, probs: list[np.ndarray],
                     use: Sequence[int]) -> np.ndarray:
    """log P(pattern | class) over the comparisons in ``use``; missing adds nothing."""
    ll = np.zeros(len(patterns))
    for j in use:
        g = patterns[:, j]
        ok = g >= 0
        ll[ok] += np.log(probs[j][g[ok]])
    return ll


@dataclass
class EMResult:
    m: list[np.ndarray]
    u: list[np.ndarray]
    lam: float
    iterations: int
    converged: bool
    history: list[float]


def em(gamma: np.ndarray, n_levels: Sequence[int], use: Sequence[int] | None = None,
       u: list[np.ndarray] | None = None, fix_u: bool = False, lam: float = 0.05,
       m: list[np.ndarray] | None = None, max_iter: int = 200, tol: float = 1e-6
       ) -> EMResult:
    """Two-class EM over the distinct agreement patterns of ``gamma``.

    Args:
        gamma: agreement levels (``-1`` missing).
        n_levels: levels per comparison.
        use: the comparisons estimated (default all); the others are ignored.
        u: starting (or, with ``fix_u``, fixed) non-match probabilities.
        fix_u: keep ``u`` fixed and estimate only ``m`` and the match share.
        lam: starting match share.
        m: starting match probabilities (default: a ramp towards agreement).
    """
    use = list(range(len(n_levels))) if use is None else list(use)
    patterns, counts = np.unique(gamma, axis=0, return_counts=True)
    counts = counts.astype(np.float64)

    def ramp(k: int, up: bool) -> np.ndarray:
        x = np.linspace(0.05, 1.0, k) ** 2
        x = x if up else x[::-1]
        return x / x.sum()

    m = [np.asarray(x, dtype=np.float64) for x in m] if m is not None else \
        [ramp(k, True) for k in n_levels]
    u = [np.asarray(x, dtype=np.float64) for x in u] if u is not None else \
        [ramp(k, False) for k in n_levels]
    history: list[float] = []
    converged = False
    for _ in range(max_iter):
        lm = np.log(lam) + _log_likelihoods(patterns, m, use)
        lu = np.log(1 - lam) + _log_likelihoods(patterns, u, use)
        post = 1.0 / (1.0 + np.exp(np.clip(lu - lm, -700, 700)))
        w_m = counts * post
        new_m = level_probabilities(patterns, n_levels, w_m, pseudo=1e-3)
        new_u = u if fix_u else level_probabilities(patterns, n_levels, counts - w_m,
                                                    pseudo=1e-3)
        new_lam = min(max(float(w_m.sum() / counts.sum()), 1e-9), 1 - 1e-9)
        change = max(max(np.abs(new_m[j] - m[j]).max() for j in use), abs(new_lam - lam))
        m, u, lam = new_m, new_u, new_lam
        history.append(lam)
        if change < tol:
            converged = True
            break
    return EMResult(m=m, u=u, lam=lam, iterations=len(history), converged=converged,
                    history=history)


def random_pairs(n: int, n_pairs: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random record pairs (no record with itself)."""
    rng = np.random.default_rng(seed)
    left, right = rng.integers(0, n, n_pairs), rng.integers(0, n, n_pairs)
    keep = left != right
    return left[keep], right[keep]


def fit(records: pa.Table, encoding: Mapping[str, Any], gamma: np.ndarray,
        rules: np.ndarray, rule_names: Sequence[str], same_group: np.ndarray,
        capped_share: Mapping[str, float] | None = None, n_random: int = 300_000,
        expected_matches: float | None = None, seed: int = 0) -> FSModel:
    """Fit the three-class model of the module docstring.

    Args:
        records: the night's encoded records.
        encoding: the encoding settings the files declare.
        gamma: agreement levels of the candidate pairs (:func:`linkage.compare.compare`).
        rules: per candidate pair, the bit mask of the blocking rules that proposed it.
        rule_names: the rules, in bit order.
        same_group: per candidate pair, True when both records are in one family group.
        capped_share: per rule, share of records left in capped blocks (lowers its recall).
        n_random: random pairs for ``u``.
        expected_matches: the number of matching pairs, when known; estimated otherwise.
    """
    n_levels = [c.n_levels for c in COMPARISONS]
    rl, rr = random_pairs(records.num_rows, n_random, seed)
    u = level_probabilities(compare(records, rl, rr, encoding), n_levels)
    estimates: dict[int, list[np.ndarray]] = {j: [] for j in range(len(COMPARISONS))}
    sessions: dict[str, dict[str, Any]] = {}
    cross = ~same_group
    dob_compared = gamma[:, COMPARISON_NAMES.index("dob")] >= 0
    for session in SESSIONS:
        if session.rule not in rule_names:
            continue
        sel = (((rules >> rule_names.index(session.rule)) & 1).astype(bool)) & cross & \
            (dob_compared == session.with_dob)
        use = [COMPARISON_NAMES.index(name) for name in session.estimated]
        if sel.sum() < 50:
            continue
        res = em(gamma[sel], n_levels, use=use, u=u, fix_u=True)
        sessions[session.name] = {
            "rule": session.rule, "pairs": int(sel.sum()), "estimated": list(session.kept),
            "iterations": res.iterations, "converged": res.converged,
            "match_share": res.lam, "history": res.history}
        for name in session.kept:
            estimates[COMPARISON_NAMES.index(name)].append(res.m[COMPARISON_NAMES.index(name)])
    level = {name: gamma[:, COMPARISON_NAMES.index(name)] for name in ("dob", "ssn", "address")}
    by_ssn = cross & (level["dob"] == 3) & (level["ssn"] == 3)
    broad = cross & (level["dob"] == 3) & ((level["ssn"] == 3) | (level["address"] >= 5))
    used: dict[str, str] = {}
    for name in ANCHORED:
        # twins share a birth date and an address, never an SSN: first names are read off
        # the SSN anchors when there are enough of them
        anchor = by_ssn if name in SSN_ANCHORED and by_ssn.sum() >= MIN_ANCHORS else broad
        if anchor.sum() >= MIN_ANCHORS:
            j = COMPARISON_NAMES.index(name)
            estimates[j].append(level_probabilities(gamma[anchor][:, [j]],
                                                    [n_levels[j]])[0])
            used[name] = "birth date and SSN" if anchor is by_ssn else \
                "birth date and SSN or street address"
    sessions["anchors"] = {"pairs_by_ssn": int(by_ssn.sum()), "pairs": int(broad.sum()),
                           "estimated": used}
    m = []
    for j, comp in enumerate(COMPARISONS):
        if estimates[j]:
            m.append(np.mean(estimates[j], axis=0))
        else:  # no session saw it: a conservative ramp towards agreement
            x = np.linspace(0.05, 1.0, comp.n_levels) ** 2
            m.append(x / x.sum())

    # Households: pairs inside one family group, less the duplicates among them (DHS gives
    # one person two client ids in one case): EM with the match class fixed at m.
    group_gamma = gamma[same_group]
    u_h = None
    if len(group_gamma) >= 200:
        res = em(group_gamma, n_levels, u=m, fix_u=True, lam=0.99,
                 m=level_probabilities(group_gamma, n_levels))
        u_h = res.m
        sessions["households"] = {"pairs": int(len(group_gamma)),
                                  "iterations": res.iterations, "converged": res.converged,
                                  "household_share": res.lam}
    n = records.num_rows
    total = n * (n - 1) / 2
    if expected_matches is None:
        expected_matches = _expected_matches(m, sessions, capped_share or {})
    expected_matches = max(float(expected_matches), 1.0)
    group_pairs = max(float(same_group.sum()), 1.0) if u_h is not None else 0.0
    return FSModel(fields=COMPARISON_NAMES, m=m, u=u, u_h=u_h,
                   log2_prior_m=float(np.log2(expected_matches / total)),
                   log2_prior_h=float(np.log2(group_pairs / total)) if group_pairs else
                   float("-inf"),
                   expected_matches=expected_matches, sessions=sessions)


def _expected_matches(m: list[np.ndarray], sessions: Mapping[str, Mapping[str, Any]],
                      capped_share: Mapping[str, float]) -> float:
    """Matches the prior rule's sessions found, over the share of matches it can see."""
    found = sum(s["match_share"] * s["pairs"] for s in sessions.values()
                if s.get("rule") == PRIOR_RULE)
    if not found:
        return 1.0
    recall = 1.0 - float(capped_share.get(PRIOR_RULE, 0.0))
    for name, level in PRIOR_LEVELS.items():
        recall *= float(m[COMPARISON_NAMES.index(name)][level:].sum())
    return found / max(recall, 0.05)


def score(model: FSModel, gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Match weight (log2 posterior odds, prior included) and probability of each pair."""
    ll_m = np.full(len(gamma), model.log2_prior_m)
    ll_u = np.zeros(len(gamma))
    ll_h = np.full(len(gamma), model.log2_prior_h)
    for j in range(len(model.fields)):
        g = gamma[:, j]
        ok = g >= 0
        ll_m[ok] += np.log2(model.m[j][g[ok]])
        ll_u[ok] += np.log2(model.u[j][g[ok]])
        if model.u_h is not None:
            ll_h[ok] += np.log2(model.u_h[j][g[ok]])
    ll_u += np.log2(max(1.0 - 2.0 ** model.log2_prior_m - 2.0 ** model.log2_prior_h, 1e-12))
    ll_not = np.logaddexp2(ll_u, ll_h) if model.u_h is not None else ll_u
    weight = ll_m - ll_not
    return weight, 1.0 / (1.0 + np.exp2(-np.clip(weight, -1000, 1000)))


def choose_threshold(prob: np.ndarray) -> dict[str, float]:
    """The probability threshold maximizing the model's estimated F1, with the estimated
    precision (mean probability above it) and recall (expected matches above it over all
    expected matches) there."""
    if len(prob) == 0:
        return {"threshold": 0.5, "est_precision": 0.0, "est_recall": 0.0, "est_f1": 0.0,
                "links": 0}
    order = np.argsort(-prob)
    p = prob[order]
    expected_tp = np.cumsum(p)
    total = p.sum()
    k = np.arange(1, len(p) + 1)
    precision = expected_tp / k
    recall = expected_tp / total if total > 0 else np.zeros_like(expected_tp)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    best = int(np.argmax(f1))
    return {"threshold": float(p[best]), "est_precision": float(precision[best]),
            "est_recall": float(recall[best]), "est_f1": float(f1[best]),
            "links": best + 1}


def estimates_at(prob: np.ndarray, thresholds: Sequence[float]) -> list[dict[str, float]]:
    """Estimated precision and recall at each threshold (for the report's table)."""
    total = float(prob.sum())
    out = []
    for t in thresholds:
        above = prob[prob >= t]
        out.append({"threshold": float(t), "links": int(len(above)),
                    "est_precision": float(above.mean()) if len(above) else 1.0,
                    "est_recall": float(above.sum() / total) if total > 0 else 0.0})
    return out

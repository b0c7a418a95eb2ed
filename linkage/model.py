"""A Fellegi–Sunter model estimated without labels, robust to households.

Three kinds of record pairs meet in the candidate set: the same person (M), two members of
one household (H: same surname and address, different first name and birth date) and
everyone else (N). A two-class EM over candidates mistakes households for matches: they
agree on three or four fields at once, which conditional independence cannot explain.
So each class is estimated from where it can be seen cleanly (the measurements behind
each choice are in ``benchmarks/README.md``, *Tuning notes*):

* ``u`` (class N) from random record pairs, almost all non-matches (Splink's
  ``estimate_u_using_random_sampling``), except for the two name levels the encodings grant
  only when the other name agrees as well (a nickname key shared, a surname word shared):
  random pairs hardly ever show them, and taking that rarity at face value makes strangers
  with a common surname and a nickname-related first name one person; their ``u`` is
  measured where the other name agrees (:func:`_conditioned_u`);
* ``u_h`` (class H) from pairs inside one family group (a DHS case, a youth and their
  guardians, an offender and their contact): the agencies' own ties give household pairs
  for free (Winkler's three-class model of persons within households);
* ``m`` (class M) of birth date, SSN, address and middle name by EM with ``u`` fixed in a
  training session on the pairs the ``name`` rule proposed, which it does not block on
  (Splink's ``estimate_parameters_using_expectation_maximisation``); ``m`` of first name,
  last name and sex by EM on anchor pairs that agree exactly on birth date and on SSN or
  street (matches, and twins whom the fixed household class takes), with add-one
  (Laplace) smoothing of its level counts: a small night has few anchor pairs, and a
  level none of them shows (a first-name typo, a hyphenated surname) must not weigh as
  an impossibility;
* ``u`` of the birth date among non-matches whose names agree exactly, by how rare the
  names are, from pairs whose SSNs refute identity (:func:`_given_names`): where
  same-named strangers share birth dates more often than chance, name and birth date are
  not independent and their product overstates the evidence;
* the prior: the expected number of matches, from the ``name`` sessions' match shares
  refitted with the final ``m`` and ``u`` fixed (:func:`_refit_shares`) and that rule's
  recall as ``m`` gives it (or set in the config), over all record pairs, so that
  blocking on a field does not inflate its weight; split between pairs with a birth
  date on both sides and the others, whose matches (guardians, contacts) are far denser.

Inside the families the first pass made, the non-matches are relatives rather than
strangers or one household: :func:`relatives_model` estimates their levels and the share of
matches among those pairs (EM with ``m`` fixed) for the link stage's second pass.

A pair's match weight is ``log2 P(M) m(γ) / (P(H) u_h(γ) + P(N) u(γ))`` with missing
levels left out; its probability follows. Everything is array work over distinct agreement
patterns or pairs; nothing loops per pair in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .compare import (
    COMPARISON_NAMES,
    COMPARISONS,
    DOB,
    DOB_EXACT,
    F_CLOSE,
    F_EXACT,
    F_KEY_SHARED,
    FIRST,
    L_CLOSE,
    L_EXACT,
    L_WORD,
    LAST,
    OPTIONAL,
    SAME_STREET,
    exact_level,
)

SSN = COMPARISON_NAMES.index("ssn")
SSN_DIFFERENT, SSN_EXACT = (COMPARISONS[SSN].levels.index(x) for x in ("different", "exact"))


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
            ("middle_name", "dob", "ssn", "address", "suffix", *OPTIONAL),
            ("middle_name", "dob", "ssn", "address", "suffix", *OPTIONAL)),
    Session("name, a birth date missing", "name", False,
            ("address", "relationship", *OPTIONAL),
            ("relationship",)),
)
"""Pairs that share a first-name key and a surname word statewide are matches or
namesakes; namesakes agree on the rest by chance, which is what fixed ``u`` says. Pairs
with a birth date on both sides tell matches by it; pairs without one (guardians and
contacts) are estimated apart, so that a crowd of name-only namesakes does not pull the
birth-date and address estimates."""

ANCHORED: tuple[str, ...] = ("first_name", "last_name", "sex")
"""Anchor pairs (records of two family groups) agree exactly on birth date and on SSN or
street address: two unrelated people do so with odds of about one in a hundred million,
so they are matches, or twins (one household). EM with the household class fixed
separates the two, and ``m`` of the ANCHORED comparisons is what names do among the
matches. (A session blocked on
birth date and area was tried instead: people born the same day in one area share first
names more often than chance, as names follow birth years, and EM took them for matches.)"""
MIN_ANCHORS = 20
ANCHOR_PSEUDO = 1.0
"""Pseudo-count per level added to the anchor session's ``m`` (Laplace smoothing)."""

CONFIRMED: dict[str, str] = {"dob": "ssn", "suffix": "ssn", "middle_name": "ssn",
                             "address": "ssn", "sex": "ssn", "ssn": "street"}
"""Comparisons whose ``m`` comes from pairs whose identity independent evidence confirms
(:func:`_confirmed_m`), and the evidence: ``ssn``, the same SSN and both names at least
one typo close; ``street``, the same birth date, both names at least one typo close and
the same street address. EM over name-sharing pairs learns namesakes and same-name
strangers as matches (a birth date a generation apart, JR against SR, different SSNs
nearly neutral)."""
CONFIRMED_PRIOR = 2.0
"""Pseudo-pairs the EM estimate counts for beside the confirmed pairs (a night with few
SSNs keeps EM's estimate; one with hundreds of confirmed pairs overrules it)."""
CONFIRMED_FLOOR = 0.5
"""Pseudo-pairs spread evenly over the levels, so that no level's ``m`` is zero."""
MIN_CONFIRMED = 20
"""Confirmed pairs a comparison needs (compared on both sides) before they count at all."""


PLAUSIBLE_M: dict[tuple[str, str], float] = {
    ("dob", "another generation (about 12 or more years apart)"): 0.005,
    ("dob", "different, 3 to 11 years apart"): 0.01,
    ("suffix", "different (JR and SR)"): 0.02,
}
"""Where too few confirmed pairs show it, the most of its matches an ``against`` level can
hold: the share of one person's record pairs with birth years a generation or years apart
(a wholly wrong date: under 1 % of linked records in published audits of administrative
data, most of them a digit or a transposition) or JR against SR. EM over name-sharing
pairs learns namesakes (a father and son, cousins) as matches and overshoots these; an
estimate beyond the bound is flagged in the report and the bound used."""

PRIOR_RULE = "name"
PRIOR_LEVELS = {
    "first_name": tuple(range(F_KEY_SHARED, COMPARISONS[COMPARISON_NAMES.index(
        "first_name")].n_levels)),
    "last_name": (L_WORD, *range(L_EXACT, COMPARISONS[COMPARISON_NAMES.index(
        "last_name")].n_levels)),
}
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
        u_names: per :data:`GIVEN_NAMES` comparison, its level probabilities among
            non-matches whose first and last names both agree exactly, per rarity group
            of the names (rows, :func:`rarity`; :func:`_given_names`); a comparison
            missing where too few pairs showed it, and ``u`` serves.
        log2_prior_m_by_dob: log2 probability that two random records are the same
            person, for pairs with a birth date on both sides and for the others (guardians
            and contacts often carry none, and most of their pairs are matches); None and
            ``log2_prior_m`` serves all pairs.
        namesake_excess: per rarity group, the natural log of how many times likelier two
            different people share both names than ``u`` of each name says
            (:func:`_namesake_excess`; 0 where it is not measured to be).
        compared: the comparisons some candidate pair compared (an optional field a
            night's files do not carry is missing on every pair): the JSON and the report
            show only these; empty means all.
    """

    fields: tuple[str, ...]
    m: list[np.ndarray]
    u: list[np.ndarray]
    u_h: list[np.ndarray] | None
    log2_prior_m: float
    log2_prior_h: float
    expected_matches: float
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    u_names: dict[str, np.ndarray] = field(default_factory=dict)
    log2_prior_m_by_dob: tuple[float, float] | None = None
    namesake_excess: np.ndarray | None = None
    compared: tuple[str, ...] = ()

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
                                for j, name in enumerate(self.fields)
                                if not self.compared or name in self.compared},
                "u_given_names": {name: [[round(float(x), 6) for x in row] for row in t]
                                  for name, t in self.u_names.items()},
                "log2_prior_match": self.log2_prior_m,
                "log2_prior_match_by_dob": self.log2_prior_m_by_dob,
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


def _towards_agreement(k: int) -> np.ndarray:
    """Level probabilities rising towards agreement: the shape of matches, EM's start."""
    x = np.linspace(0.05, 1.0, k) ** 2
    return x / x.sum()


def distinct_patterns(gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of ``gamma`` and how often each occurs (rows packed into one
    integer each, 4 bits a comparison, so the sort is one-dimensional)."""
    if len(gamma) == 0:
        return gamma[:0], np.empty(0, np.float64)
    packed = np.zeros(len(gamma), dtype=np.int64)
    for j in range(gamma.shape[1]):
        packed |= (gamma[:, j].astype(np.int64) + 1) << (4 * j)
    _, first, counts = np.unique(packed, return_index=True, return_counts=True)
    return gamma[first], counts.astype(np.float64)


@dataclass
class EMResult:
    """What :func:`em` estimated: the free class's level probabilities, every class's
    share (the free class first), and how it converged (``history``: the free share)."""

    m: list[np.ndarray]
    shares: np.ndarray
    iterations: int
    converged: bool
    history: list[float]

    @property
    def lam(self) -> float:
        return float(self.shares[0])


def em(gamma: np.ndarray, n_levels: Sequence[int], fixed: Sequence[list[np.ndarray]],
       use: Sequence[int] | None = None, free: list[np.ndarray] | None = None,
       shares: Sequence[float] | None = None, max_iter: int = 1000, tol: float = 1e-6,
       pseudo: float = 1e-3) -> EMResult:
    """EM over the distinct agreement patterns of ``gamma`` for a mixture of one class
    whose level probabilities are estimated and classes whose are known (``fixed``: for
    example ``u`` of random pairs and ``u_h`` of households); all shares are estimated.

    Args:
        gamma: agreement levels (``-1`` missing).
        n_levels: levels per comparison.
        fixed: level probabilities of each fixed class.
        use: the comparisons the likelihood uses (default all); the others are ignored.
        free: starting level probabilities of the free class (default: a ramp towards
            agreement, the shape of matches).
        shares: starting shares, free class first (default 0.05, the rest split evenly).
    """
    use = list(range(len(n_levels))) if use is None else list(use)
    patterns, counts = distinct_patterns(gamma)
    if free is None:
        free = [_towards_agreement(k) for k in n_levels]
    m = [np.asarray(x, dtype=np.float64) for x in free]
    pi = np.asarray(shares if shares is not None else
                    [0.05] + [0.95 / len(fixed)] * len(fixed), dtype=np.float64)
    fixed_ll = np.stack([_log_likelihoods(patterns, f, use) for f in fixed]) \
        if fixed else np.empty((0, len(patterns)))
    history: list[float] = []
    converged = False
    for _ in range(max_iter):
        post = _posterior(np.vstack([_log_likelihoods(patterns, m, use)[None, :], fixed_ll]),
                          pi)
        w = post * counts
        new_m = level_probabilities(patterns, n_levels, w[0], pseudo=pseudo)
        new_pi = np.clip(w.sum(axis=1) / counts.sum(), 1e-12, 1.0)
        change = max(max(np.abs(new_m[j] - m[j]).max() for j in use),
                     float(np.abs(new_pi - pi).max()))
        m, pi = new_m, new_pi / new_pi.sum()
        history.append(float(pi[0]))
        if change < tol:
            converged = True
            break
    return EMResult(m=m, shares=pi, iterations=len(history), converged=converged,
                    history=history)


def _posterior(ll: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """Each class's posterior for each pattern (columns), from the classes' log
    likelihoods (rows) and shares: the E-step of :func:`em` and :func:`shares`."""
    post = ll + np.log(np.maximum(pi, 1e-300))[:, None]
    post = np.exp(post - post.max(axis=0))
    return post / post.sum(axis=0)


def random_pairs(n: int, n_pairs: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random record pairs (no record with itself)."""
    rng = np.random.default_rng(seed)
    left, right = rng.integers(0, n, n_pairs), rng.integers(0, n, n_pairs)
    keep = left != right
    return left[keep], right[keep]


Comparator = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""Agreement levels of record pairs ``(left, right)`` (:func:`linkage.compare.compare` over
the night's records, or its plaintext twin in a benchmark)."""


def fit(n_records: int, comparator: Comparator, gamma: np.ndarray,
        rules: np.ndarray, rule_names: Sequence[str], same_group: np.ndarray,
        capped_share: Mapping[str, float] | None = None, n_random: int = 300_000,
        expected_matches: float | None = None, seed: int = 0,
        token_levels: Mapping[str, int] | None = None) -> FSModel:
    """Fit the three-class model of the module docstring.

    Args:
        n_records: records in the night.
        comparator: gives the agreement levels of random pairs (for ``u``).
        gamma: agreement levels of the candidate pairs.
        rules: per candidate pair, the bit mask of the blocking rules that proposed it.
        rule_names: the rules, in bit order.
        same_group: per candidate pair, True when both records are in one family group.
        capped_share: per rule, share of records left in capped blocks (lowers its recall).
        n_random: random pairs for ``u``.
        expected_matches: the number of matching pairs, when known; estimated otherwise.
        token_levels: per name comparison, the level the comparator grants only when the
            other name agrees too (:data:`linkage.compare.NAME_TOKEN_LEVELS`); their ``u``
            is conditioned on that (:func:`_conditioned_u`).
    """
    n_levels = [c.n_levels for c in COMPARISONS]
    rl, rr = random_pairs(n_records, n_random, seed)
    random_gamma = comparator(rl, rr)
    u = level_probabilities(random_gamma, n_levels)
    dated = float(np.mean(random_gamma[:, DOB] >= 0)) if len(random_gamma) else 1.0
    group_gamma = gamma[same_group]
    if token_levels:
        u = _conditioned_u(u, group_gamma, token_levels)
    u_h = level_probabilities(group_gamma, n_levels) if len(group_gamma) >= 200 else None
    sessions: dict[str, dict[str, Any]] = {}
    m: list[np.ndarray] = []
    for _ in range(2):      # households refined with m, then m again with them
        m, sessions = _estimate_m(gamma, n_levels, rules, rule_names, same_group, u, u_h)
        if u_h is not None:
            # pairs inside one family group, less the duplicates among them (DHS gives
            # one person two client ids in one case): EM with the match class fixed at m
            res = em(group_gamma, n_levels, fixed=[m], free=u_h, shares=[0.99, 0.01])
            u_h = res.m
            sessions["households"] = {"pairs": int(len(group_gamma)),
                                      "iterations": res.iterations,
                                      "converged": res.converged,
                                      "household_share": res.lam}
    u_names, sessions["namesakes"] = _given_names(gamma, ~same_group, m, u)
    total = n_records * (n_records - 1) / 2
    ssn_compared = float(np.mean(random_gamma[:, SSN] >= 0)) if len(random_gamma) else 0.0
    excess = _namesake_excess(gamma, ~same_group, m, u, total * ssn_compared)
    sessions["namesakes"]["log_excess_by_rarity"] = [round(float(x), 4) for x in excess]
    _refit_shares(sessions, gamma, rules, rule_names, ~same_group, m, u, u_h, u_names, excess)
    dated_share = _dated_share(sessions)
    if expected_matches is None:
        expected_matches = _expected_matches(m, sessions, capped_share or {})
    expected_matches = max(float(expected_matches), 1.0)
    by_dob = None
    if dated_share is not None and 0.0 < dated < 1.0:
        by_dob = (float(np.log2(max(expected_matches * dated_share, 1.0) / (total * dated))),
                  float(np.log2(max(expected_matches * (1 - dated_share), 1.0) /
                                (total * (1 - dated)))))
    group_pairs = max(float(same_group.sum()), 1.0) if u_h is not None else 0.0
    compared = tuple(n for j, n in enumerate(COMPARISON_NAMES) if (gamma[:, j] >= 0).any())
    for info in sessions.values():     # what a session could not see, it did not estimate
        if "estimated" in info:
            info["estimated"] = [n for n in info["estimated"] if n in compared]
        if "implausible" in info:
            info["implausible"] = [x for x in info["implausible"]
                                   if x["comparison"] in compared]
    return FSModel(fields=COMPARISON_NAMES, m=m, u=u, u_h=u_h,
                   log2_prior_m=float(np.log2(expected_matches / total)),
                   log2_prior_h=float(np.log2(group_pairs / total)) if group_pairs else
                   float("-inf"),
                   expected_matches=expected_matches, sessions=sessions,
                   u_names=u_names, log2_prior_m_by_dob=by_dob, namesake_excess=excess,
                   compared=compared)


GIVEN_NAMES: tuple[str, ...] = ("dob",)
"""Comparisons whose ``u`` among pairs with agreeing names is measured apart
(:func:`_given_names`). The address was tried too: the worst case fell (benchmarks
README, tried and dropped)."""
MIN_NAMESAKES = 50
"""Refuted namesake pairs (compared on the comparison) needed before :func:`_given_names`
replaces its ``u`` for pairs whose names agree."""
NAMESAKE_PRIOR = 50.0
"""Pseudo-pairs the random pairs' ``u`` counts for beside the refuted pairs."""
MIN_REFUTED = 10
"""Refuted namesake pairs a rarity group needs before :func:`_namesake_excess` reads it."""


N_RARITY = (COMPARISONS[FIRST].n_levels - F_EXACT) + (COMPARISONS[LAST].n_levels - L_EXACT) - 1
"""Rarity groups of a namesake pair: the sum of its two names' frequency classes (0 both
very common, up to 6 both rare)."""


def namesakes(gamma: np.ndarray) -> np.ndarray:
    """Pairs whose first and last names both agree exactly (any frequency class)."""
    return (gamma[:, FIRST] >= F_EXACT) & (gamma[:, LAST] >= L_EXACT)


def rarity(gamma: np.ndarray) -> np.ndarray:
    """A namesake pair's rarity group (:data:`N_RARITY`; meaningless for other pairs)."""
    return (gamma[:, FIRST].astype(np.int64) - F_EXACT) + (gamma[:, LAST] - L_EXACT)


def _namesake_pairs(gamma: np.ndarray, cross: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which pairs of two family groups agree exactly on both names, each pair's SSN level
    and its names' rarity group."""
    return cross & namesakes(gamma), gamma[:, SSN], rarity(gamma)


def _mistyped_ssn_matches(sel: np.ndarray, ssn: np.ndarray, group: np.ndarray,
                          m: list[np.ndarray]) -> np.ndarray:
    """Per rarity group, the matches expected among the pairs of ``sel`` whose SSNs differ
    (a mistyped or borrowed SSN): those whose SSNs agree, times ``m`` of a different SSN
    over ``m`` of the same."""
    confirmed = np.bincount(group[sel & (ssn == SSN_EXACT)], minlength=N_RARITY)
    return confirmed * float(m[SSN][SSN_DIFFERENT] / max(m[SSN][SSN_EXACT], 1e-12))


def _given_names(gamma: np.ndarray, cross: np.ndarray, m: list[np.ndarray],
                 u: list[np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Levels of the :data:`GIVEN_NAMES` comparisons among non-matches whose first and
    last names agree exactly, per rarity group of the names.

    Fellegi-Sunter multiplies ``u`` of names and birth date as if independent among
    non-matches; where same-named strangers share a birth date more often than chance
    (common names in a city, names that follow birth years) that overstates what the
    fields together say. So ``u`` given
    agreeing names is measured on tonight's candidates where independent evidence refutes
    identity: names agree, SSNs differ (an SSN is issued to one person). The few matches
    with a mistyped or borrowed SSN among them (expected from the pairs whose names and
    SSN agree, and ``m`` of SSN) are taken off at ``m``. Returns the estimates (none
    below :data:`MIN_NAMESAKES` pairs) and what was seen, for the report."""
    names, ssn, group = _namesake_pairs(gamma, cross)
    out: dict[str, np.ndarray] = {}
    seen: dict[str, Any] = {"pairs": int((names & (ssn == SSN_DIFFERENT)).sum()),
                            "iterations": 0, "converged": True, "estimated": []}
    for name in GIVEN_NAMES:
        j = COMPARISON_NAMES.index(name)
        g = gamma[:, j]
        compared = names & (g >= 0)
        refuted = compared & (ssn == SSN_DIFFERENT)
        if refuted.sum() < MIN_NAMESAKES:
            continue
        k = len(u[j])
        counts = np.bincount(group[refuted] * k + g[refuted], minlength=N_RARITY * k
                             ).reshape(N_RARITY, k).astype(np.float64)
        matches = _mistyped_ssn_matches(compared, ssn, group, m)
        counts = np.maximum(counts - matches[:, None] * m[j][None, :], 0.0) + \
            NAMESAKE_PRIOR * u[j][None, :]
        out[name] = counts / counts.sum(axis=1, keepdims=True)
        seen["estimated"].append(name)
    if "dob" in out:
        seen["u_exact_by_rarity"] = [round(float(x), 6) for x in out["dob"][:, DOB_EXACT]]
    return out, seen


def _namesake_excess(gamma: np.ndarray, cross: np.ndarray, m: list[np.ndarray],
                     u: list[np.ndarray], ssn_pairs: float) -> np.ndarray:
    """Per rarity group, log of how many times likelier two different people share first
    and last name than ``u`` of each name says (never below 1).

    ``u`` of a name is its share among random pairs, and the two names' product treats
    them as independent among strangers: where names run in families and communities
    (a son after his father, a city's common pairings) more strangers share both. Counted
    where independent evidence refutes identity: candidates whose names agree and whose
    SSNs differ, less the matches with a mistyped SSN expected among them (as in
    :func:`_given_names`), against the random pairs expected to show both (all pairs x
    ``u`` of the names x ``u`` of a different SSN, ``ssn_pairs`` being the pairs where
    both records carry an SSN). Blocking caps on common names only undercount, so the
    estimate errs towards no change; a group needs :data:`MIN_REFUTED` refuted pairs, and
    the count is taken two standard errors low."""
    names, ssn, group = _namesake_pairs(gamma, cross)
    refuted = np.bincount(group[names & (ssn == SSN_DIFFERENT)], minlength=N_RARITY)
    matches = _mistyped_ssn_matches(names, ssn, group, m)
    observed = np.maximum(refuted - matches - 2.0 * np.sqrt(refuted), 0.0)
    expected = np.zeros(N_RARITY)
    for f in range(F_EXACT, COMPARISONS[FIRST].n_levels):
        for last in range(L_EXACT, COMPARISONS[LAST].n_levels):
            expected[(f - F_EXACT) + (last - L_EXACT)] += u[FIRST][f] * u[LAST][last]
    expected *= ssn_pairs * float(u[SSN][SSN_DIFFERENT])
    ok = (refuted >= MIN_REFUTED) & (observed > expected)
    return np.where(ok, np.log(np.maximum(observed, 1e-300) / np.maximum(expected, 1e-300)),
                    0.0)


def _with_level(p: np.ndarray, level: int, share: float) -> np.ndarray:
    """``p`` with one level's probability set to ``share``, the others rescaled."""
    out = p * (1.0 - share) / max(1.0 - p[level], 1e-12)
    out[level] = share
    return out


def _conditioned_u(u: list[np.ndarray], group_gamma: np.ndarray,
                   token_levels: Mapping[str, int]) -> list[np.ndarray]:
    """``u`` of the name levels that need the other name to agree, among non-matches
    whose other name does agree (the candidates such a level can occur in):

    * a first-name key shared: its share among pairs of one family group with the same
      surname and different birth dates (not one person), whose first names are as
      unrelated as strangers' (random pairs almost never show the encoded level, which
      needs the surname too);
    * a surname word shared: its share among random pairs over the share of random pairs
      whose first names share a key (the level above and exact agreement), as first and
      last names of strangers are independent.
    """
    u = [p.copy() for p in u]
    first, last, dob = (COMPARISON_NAMES.index(n) for n in ("first_name", "last_name", "dob"))
    if "first_name" in token_levels:
        level = token_levels["first_name"]
        sel = (group_gamma[:, last] >= exact_level("last_name")) & (group_gamma[:, dob] >= 0) & \
            (group_gamma[:, dob] < COMPARISONS[dob].n_levels - 1) & (group_gamma[:, first] >= 0)
        if sel.sum() >= 200:
            counts = np.bincount(group_gamma[sel, first],
                                 minlength=COMPARISONS[first].n_levels) + 0.5
            u[first] = _with_level(u[first], level, float(counts[level] / counts.sum()))
    if "last_name" in token_levels:
        level = token_levels["last_name"]
        key_shared = float(u[first][list(PRIOR_LEVELS["first_name"])].sum())
        u[last] = _with_level(u[last], level, min(float(u[last][level]) / key_shared, 0.5))
    return u


def _estimate_m(gamma: np.ndarray, n_levels: list[int], rules: np.ndarray,
                rule_names: Sequence[str], same_group: np.ndarray, u: list[np.ndarray],
                u_h: list[np.ndarray] | None
                ) -> tuple[list[np.ndarray], dict[str, dict[str, Any]]]:
    """m from the EM sessions (non-matches: random pairs and households, both fixed) and
    from the anchor pairs, with what each session did."""
    estimates: dict[int, list[np.ndarray]] = {j: [] for j in range(len(COMPARISONS))}
    sessions: dict[str, dict[str, Any]] = {}
    cross = ~same_group
    fixed = [u] if u_h is None else [u, u_h]
    for session in SESSIONS:
        if session.rule not in rule_names:
            continue
        sel = _session_pairs(session, gamma, rules, rule_names, cross)
        use = [COMPARISON_NAMES.index(name) for name in session.estimated]
        if sel.sum() < 50:
            continue
        res = em(gamma[sel], n_levels, fixed=fixed, use=use)
        sessions[session.name] = {
            "rule": session.rule, "pairs": int(sel.sum()), "estimated": list(session.kept),
            "iterations": res.iterations, "converged": res.converged,
            "match_share": res.lam, "shares": [float(x) for x in res.shares],
            "history": res.history}
        for name in session.kept:
            estimates[COMPARISON_NAMES.index(name)].append(res.m[COMPARISON_NAMES.index(name)])
    level = {name: gamma[:, COMPARISON_NAMES.index(name)] for name in ("dob", "ssn", "address")}
    anchor = cross & (level["dob"] == DOB_EXACT) & (
        (level["ssn"] == SSN_EXACT) | (level["address"] >= SAME_STREET))
    if anchor.sum() >= MIN_ANCHORS:
        # twins share a birth date and an address too: they are the household class here
        use = [COMPARISON_NAMES.index(name) for name in ANCHORED]
        res = em(gamma[anchor], n_levels, fixed=[u_h if u_h is not None else u], use=use,
                 shares=[0.9, 0.1], pseudo=ANCHOR_PSEUDO)
        for j in use:
            estimates[j].append(res.m[j])
        sessions["anchors"] = {"pairs": int(anchor.sum()), "estimated": list(ANCHORED),
                               "iterations": res.iterations, "converged": res.converged,
                               "match_share": res.lam, "history": res.history}
    m = []
    for j, comp in enumerate(COMPARISONS):
        if estimates[j]:
            m.append(np.mean(estimates[j], axis=0))
        else:  # nothing saw it: a conservative ramp towards agreement
            m.append(_towards_agreement(comp.n_levels))
    confirmed, seen = _confirmed_m(gamma, cross, m)
    sessions["confirmed"] = seen
    for name, p in confirmed.items():
        m[COMPARISON_NAMES.index(name)] = p
    implausible = []
    for (name, label), bound in PLAUSIBLE_M.items():
        j = COMPARISON_NAMES.index(name)
        k = COMPARISONS[j].levels.index(label)
        if name not in confirmed and m[j][k] > bound:
            implausible.append({"comparison": name, "level": label,
                                "m": round(float(m[j][k]), 6), "used": bound})
            m[j] = _with_level(m[j], k, bound)
    implausible += _hold_against(m, u)
    implausible += _hold_ordered(m, u)
    if implausible:
        seen["implausible"] = implausible
    return m, sessions


def _confirmed_m(gamma: np.ndarray, cross: np.ndarray, m_em: list[np.ndarray]
                 ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``m`` of the CONFIRMED comparisons from pairs of two family groups whose identity
    evidence that does not involve the comparison estimated confirms (an SSN is issued to
    one person; two records with one name, birth date and street are one person, twins
    having other first names). Their level counts, with EM's estimate as CONFIRMED_PRIOR
    pseudo-pairs and CONFIRMED_FLOOR spread evenly. Returns the estimates and what the
    session saw (EM's estimate beside the confirmed one, for the report)."""
    col = {n: gamma[:, COMPARISON_NAMES.index(n)]
           for n in ("ssn", "first_name", "last_name", "dob", "address")}
    names = cross & (col["first_name"] >= F_CLOSE) & (col["last_name"] >= L_CLOSE)
    evidence = {
        "ssn": names & (col["ssn"] == COMPARISONS[COMPARISON_NAMES.index("ssn")].n_levels - 1),
        "street": names & (col["dob"] == DOB_EXACT) & (col["address"] >= SAME_STREET),
    }
    out: dict[str, np.ndarray] = {}
    seen: dict[str, Any] = {"pairs": int((evidence["ssn"] | evidence["street"]).sum()),
                            "evidence_pairs": {k: int(v.sum()) for k, v in evidence.items()},
                            "estimated": [], "iterations": 0, "converged": True,
                            "compared": {}, "em_m": {}}
    for name, by in CONFIRMED.items():
        j = COMPARISON_NAMES.index(name)
        g = gamma[evidence[by], j]
        g = g[g >= 0]
        k = COMPARISONS[j].n_levels
        seen["compared"][name] = int(len(g))
        if len(g) < MIN_CONFIRMED:
            continue
        c = np.bincount(g, minlength=k) + CONFIRMED_PRIOR * m_em[j] + CONFIRMED_FLOOR / k
        out[name] = c / c.sum()
        seen["em_m"][name] = [round(float(x), 6) for x in m_em[j]]
        seen["estimated"].append(name)
    return out, seen


def _hold_against(m: list[np.ndarray], u: list[np.ndarray]) -> list[dict[str, Any]]:
    """Hold the ``m`` of each comparison's ``against`` levels at most their ``u`` (in
    place, the other levels rescaled): such a level is never evidence for a match. Returns
    the estimates that were beyond it, for the report."""
    held = []
    for j, comp in enumerate(COMPARISONS):
        for k in comp.against_levels():
            if m[j][k] > u[j][k]:
                held.append({"comparison": comp.name, "level": comp.levels[k],
                             "m": round(float(m[j][k]), 6), "u": round(float(u[j][k]), 6)})
                m[j] = _with_level(m[j], int(k), float(u[j][k]))
    return held


def _hold_ordered(m: list[np.ndarray], u: list[np.ndarray]) -> list[dict[str, Any]]:
    """Hold each comparison's Bayes factors non-decreasing along its ``ordered`` levels
    (in place): a level whose ``m / u`` falls below a farther level's is raised to it, and
    the comparison's ``m`` renormalized (every factor scaled alike). A night whose matches
    never show a level (no confirmed pair moved within its ZIP code) must not make it
    stronger evidence against a match than a farther one. Returns what was raised (``m``
    estimated, ``used``), with the implausible estimates for the report."""
    held = []
    for j, comp in enumerate(COMPARISONS):
        chain = comp.ordered_levels()
        if not len(chain):
            continue
        bf = m[j][chain] / u[j][chain]
        floor = np.maximum.accumulate(bf)
        low = bf < floor * (1 - 1e-9)
        if not low.any():
            continue
        p = m[j].copy()
        p[chain] = u[j][chain] * floor
        p /= p.sum()
        for k in chain[low]:
            held.append({"comparison": comp.name, "level": comp.levels[k],
                         "m": round(float(m[j][k]), 6), "used": round(float(p[k]), 6)})
        m[j] = p
    return held


def _session_pairs(session: Session, gamma: np.ndarray, rules: np.ndarray,
                   rule_names: Sequence[str], cross: np.ndarray) -> np.ndarray:
    """The candidate pairs a training session learns from."""
    proposed = ((rules >> rule_names.index(session.rule)) & 1).astype(bool)
    return proposed & cross & ((gamma[:, DOB] >= 0) == session.with_dob)


def shares(patterns: np.ndarray, counts: np.ndarray, ll: np.ndarray, start: Sequence[float],
           max_iter: int = 500, tol: float = 1e-8) -> np.ndarray:
    """EM for the shares of a mixture whose classes are all known: ``ll`` holds each
    class's log likelihood of each distinct pattern (rows), ``counts`` the patterns'."""
    pi = np.asarray(start, dtype=np.float64)
    for _ in range(max_iter):
        new = (_posterior(ll, pi) * counts).sum(axis=1) / counts.sum()
        done = float(np.abs(new - pi).max()) < tol
        pi = new
        if done:
            break
    return pi


def _log_u(patterns: np.ndarray, u: list[np.ndarray], u_names: Mapping[str, np.ndarray],
           use: Sequence[int], excess: np.ndarray | None = None) -> np.ndarray:
    """log P(pattern | non-match) over ``use``, the :data:`GIVEN_NAMES` comparisons given
    agreeing names where :func:`_given_names` measured them."""
    return _log_likelihoods(patterns, u, use) + _names_shift(patterns, u, u_names, use, excess)


def _names_shift(patterns: np.ndarray, u: list[np.ndarray],
                 u_names: Mapping[str, np.ndarray], use: Sequence[int],
                 excess: np.ndarray | None = None) -> np.ndarray:
    """What :func:`_log_u` adds to ``u``'s log likelihood (natural log): for pairs whose
    names agree, the :data:`GIVEN_NAMES` levels' log ratio of ``u`` given the names to
    ``u``, and the names' own excess (:func:`_namesake_excess`)."""
    ll = np.zeros(len(patterns))
    names = namesakes(patterns)
    if excess is not None and FIRST in use and LAST in use:
        ll[names] += excess[rarity(patterns[names])]
    for name, table in u_names.items():
        j = COMPARISON_NAMES.index(name)
        if j not in use:
            continue
        g = patterns[:, j]
        sel = names & (g >= 0)
        ll[sel] += np.log(table[rarity(patterns[sel]), g[sel]]) - np.log(u[j][g[sel]])
    return ll


def _refit_shares(sessions: dict[str, dict[str, Any]], gamma: np.ndarray, rules: np.ndarray,
                  rule_names: Sequence[str], cross: np.ndarray, m: list[np.ndarray],
                  u: list[np.ndarray], u_h: list[np.ndarray] | None,
                  u_names: Mapping[str, np.ndarray], excess: np.ndarray | None = None
                  ) -> None:
    """Each session's match share again, with the final ``m`` (confirmed pairs, plausible
    bounds) and the non-matches' levels held fixed: EM with ``m`` free counted the
    namesakes and same-name neighbours it learned as matches, and the prior is made from
    this share."""
    for session in SESSIONS:
        info = sessions.get(session.name)
        if info is None:
            continue
        sel = _session_pairs(session, gamma, rules, rule_names, cross)
        use = [COMPARISON_NAMES.index(name) for name in session.estimated]
        patterns, counts = distinct_patterns(gamma[sel])
        ll = [_log_likelihoods(patterns, m, use), _log_u(patterns, u, u_names, use, excess)]
        if u_h is not None:
            ll.append(_log_likelihoods(patterns, u_h, use))
        pi = shares(patterns, counts, np.stack(ll), info["shares"])
        info["em_match_share"] = info["match_share"]
        info["match_share"] = float(pi[0])


def _dated_share(sessions: Mapping[str, Mapping[str, Any]]) -> float | None:
    """The share of the prior rule's matches found among pairs with a birth date on both
    sides (None where its sessions found none)."""
    found = {s.with_dob: sessions[s.name]["match_share"] * sessions[s.name]["pairs"]
             for s in SESSIONS if s.rule == PRIOR_RULE and s.name in sessions}
    total = sum(found.values())
    return float(found.get(True, 0.0) / total) if total > 0 else None


def _expected_matches(m: list[np.ndarray], sessions: Mapping[str, Mapping[str, Any]],
                      capped_share: Mapping[str, float]) -> float:
    """Matches the prior rule's sessions found, over the share of matches it can see."""
    found = sum(s["match_share"] * s["pairs"] for s in sessions.values()
                if s.get("rule") == PRIOR_RULE)
    if not found:
        return 1.0
    recall = 1.0 - float(capped_share.get(PRIOR_RULE, 0.0))
    for name, levels in PRIOR_LEVELS.items():
        recall *= float(m[COMPARISON_NAMES.index(name)][list(levels)].sum())
    return found / max(recall, 0.05)


def relatives_model(model: FSModel, gamma: np.ndarray) -> tuple[FSModel, dict[str, Any]]:
    """The model for pairs inside one family (two family groups the first pass joined):
    there the non-matches are relatives, who share surnames and often addresses but not as
    one household does (a grandfather in another county, a sister under her married name),
    so their level probabilities are estimated from those pairs by EM with ``m`` fixed,
    starting from the household class, and the prior is the share of matches EM finds among
    them. Returns the model to score those pairs with and what the session did."""
    n_levels = [len(x) for x in model.m]
    start = model.u_h if model.u_h is not None else model.u
    start = [(x + 0.01) / (x + 0.01).sum() for x in start]
    res = em(gamma, n_levels, fixed=[model.m], free=start, shares=[0.8, 0.2])
    share_r, share_m = (float(x) for x in res.shares)
    info = {"pairs": int(len(gamma)), "iterations": res.iterations,
            "converged": res.converged, "match_share": share_m}
    fitted = replace(model, u_h=res.m, log2_prior_m_by_dob=None,
                     log2_prior_m=float(np.log2(max(share_m, 1e-12))),
                     log2_prior_h=float(np.log2(max(share_r, 1e-12))))
    return fitted, info


def score(model: FSModel, gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Match weight (log2 posterior odds, prior included) and probability of each pair."""
    ll_m = np.full(len(gamma), model.log2_prior_m)
    if model.log2_prior_m_by_dob is not None:
        ll_m = np.where(gamma[:, DOB] >= 0, *model.log2_prior_m_by_dob)
    ll_u = np.zeros(len(gamma))
    ll_h = np.full(len(gamma), model.log2_prior_h)
    for j in range(len(model.fields)):
        g = gamma[:, j]
        ok = g >= 0
        ll_m[ok] += np.log2(model.m[j][g[ok]])
        ll_u[ok] += np.log2(model.u[j][g[ok]])
        if model.u_h is not None:
            ll_h[ok] += np.log2(model.u_h[j][g[ok]])
    if model.u_names or model.namesake_excess is not None:
        use = [COMPARISON_NAMES.index(name) for name in model.u_names] + [FIRST, LAST]
        ll_u += _names_shift(gamma, model.u, model.u_names, use, model.namesake_excess) / \
            np.log(2.0)
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
    # only pairs with a fair chance can hold the best threshold; the rest still count
    # towards the expected matches (recall's denominator)
    total = float(prob.sum())
    head = prob[prob >= 1e-3]
    if len(head) == 0:
        head = prob
    p = -np.sort(-head)
    expected_tp = np.cumsum(p)
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

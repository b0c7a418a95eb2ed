"""From scored pairs to persons, families, multi-system families and communities.

* :func:`cannot_link` marks pairs that can never be one person whatever their scores: two
  records of one family group of an agency that lists each person once there
  (``group_distinct``: a youth and their own guardian, an offender and their own contact,
  the two guardians of one youth; a DHS case may list one person twice), two ids that each
  name one person (``id_unique``: two DJS youth ids, two DPSCS sids), and a record of the
  youngest generation (role ``youth`` or ``child``) against a parent or grandparent named
  on a record (role ``parent``): a generation apart. Every one of these is read from the
  columns the agencies' contracts declare (``data_contracts.encoded``), never from an
  agency's name, so a fourth agency's declaration holds as the three's do.
* :func:`siblings` marks two records of one family group with unrelated first names
  (twins share a birth date and an address, not a first name), where unrelated is any
  level up to :data:`FIRST_UNRELATED` without a shared name-rule token.
* :func:`conflicts` marks compared pairs that strongly disagree (a first name, birth date,
  SSN or suffix level whose fitted weight is below a bound, :data:`CONFLICT_BITS`).
* :func:`persons` clusters the links greedily, strongest first (a compiled union-find with
  member lists). A merge that would put two ``id_unique`` ids of one agency (two DJS youth
  ids, two DPSCS sids) or the two records of a cannot-link pair in one person is refused.
  Where a conflict lies between the two, the two persons are weighed as wholes: they merge
  only when more of their compared record pairs agree than disagree (mean match
  probability above one half and above the threshold, :func:`merge_bound`), so one weak
  link cannot chain two strangers through a record that carries only a name, and one
  keying error in a person of ten records does not split it either.
* :func:`families` joins person clusters and family groups (connected components, scipy).
* :func:`summarize` gives each family its agencies, multi-system flag, community (the most
  recent address wins, ties go to the higher ``address_priority`` its agency declares, the
  DHS case address being the household's residence of record; an unknown address never
  wins over a known one) and the lowest cross-agency link probability that holds it
  together.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from data_contracts.encoded import PARENT_ROLES, YOUNGEST_ROLES

from . import _records
from ._bits import njit
from .blocking import shares_token
from .compare import (
    COMPARISON_NAMES,
    COMPARISONS,
    F_CLOSE,
    F_SIMILAR,
    FIRST_UNRELATED,
    KEY_RULE,
    level,
)

UNIQUE_ID_AGENCIES: tuple[str, ...] = ()
"""Agencies (files) taken as ``id_unique`` and ``group_distinct`` beyond what the records
declare: none; a benchmark's files that come without a contract name theirs
(``linkage.unique_id_agencies``)."""
UNKNOWN_COMMUNITY = "Unknown"


def _columns(records: pa.Table, *names: str) -> list[np.ndarray]:
    return [records.column(n).to_numpy(zero_copy_only=False) for n in names]


def cannot_link(records: pa.Table, left: np.ndarray, right: np.ndarray,
                unique_id_agencies: tuple[str, ...] = UNIQUE_ID_AGENCIES) -> np.ndarray:
    """True for the pairs that cannot be one person (see the module docstring).

    Args:
        records: encoded records with the declared columns ``role``, ``id_unique`` and
            ``group_distinct`` (``data_contracts.encoded``).
        unique_id_agencies: agencies whose primary ids each name one person (so their
            family groups hold no duplicates either) besides what the records declare:
            for files without a contract.
    """
    agency, _ = _records.codes(records, "agency")
    tie = records.column("family_tie").to_numpy()
    unique_id, distinct = _unique_and_distinct(records, unique_id_agencies)
    # the youngest generation (a youth, a case's child) is never the parent or grandparent
    # named on a youth's or an offender's record
    youngest = _records.is_any(records, "role", YOUNGEST_ROLES)
    parent = _records.is_any(records, "role", PARENT_ROLES)
    same_agency = agency[left] == agency[right]
    same_group = (tie[left] == tie[right]) & distinct[left] & distinct[right] & same_agency
    two_ids = unique_id[left] & unique_id[right] & same_agency
    generation = (youngest[left] & parent[right]) | (youngest[right] & parent[left])
    return same_group | two_ids | generation


def _unique_and_distinct(records: pa.Table, unique_id_agencies: tuple[str, ...]
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Per record, whether its id names one person (``id_unique``) and whether its family
    group lists each person once (``group_distinct``), as declared, or as
    ``unique_id_agencies`` names its agency."""
    named = _records.is_any(records, "agency", frozenset(unique_id_agencies))
    primary = ~_records.derived(records)
    return (_records.flag(records, "id_unique") | (named & primary),
            _records.flag(records, "group_distinct") | named)


def siblings(records: pa.Table, left: np.ndarray, right: np.ndarray, gamma: np.ndarray,
             same_group: np.ndarray) -> np.ndarray:
    """Two records of one family group whose first names are unrelated (no spelling, typo
    or nickname key in common): two members of the household, such as twins, never one
    person registered twice (a DHS duplicate id carries the same name or a variant).

    A Hamming distance sees how many nickname keys differ, not that some are shared
    (WILLIAM and BILL differ by six), so the name rule's tokens are asked as well. First
    names only spelled alike, with another middle name or sex, are siblings too."""
    first = gamma[:, COMPARISON_NAMES.index("first_name")]
    # up to "one key differs": on bigram filters JASON and RYAN grade "two typos" (one
    # shared padded bigram), and such twins were linked as one child (on the medium tuning
    # nights, 50-70 of 80 wrong person pairs were twins of one DHS case)
    unrelated = same_group & (first <= FIRST_UNRELATED)
    if unrelated.any() and f"blk_{KEY_RULE}" in records.column_names:
        idx = np.flatnonzero(unrelated)
        unrelated[idx[shares_token(records, KEY_RULE, left[idx], right[idx])]] = False
    # a first name only spelled alike (twins are often named alike: JAYDEN and JAYLEN)
    # with another middle name or another sex: siblings too
    alike = same_group & (first >= F_SIMILAR) & (first <= F_CLOSE) & (
        (gamma[:, COMPARISON_NAMES.index("middle_name")] == level("middle_name", "different"))
        | (gamma[:, COMPARISON_NAMES.index("sex")] == level("sex", "different")))
    return unrelated | alike


@njit
def _find(parent, x):  # type: ignore[no-untyped-def]
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        parent[x], x = root, parent[x]
    return root


@njit
def _any_between(a, b, first, nxt, indptr, partners, parent):  # type: ignore[no-untyped-def]
    """Whether a member of cluster ``a`` is paired with a member of cluster ``b``."""
    x = first[a]
    while x != -1:
        for k in range(indptr[x], indptr[x + 1]):
            if _find(parent, partners[k]) == b:
                return True
        x = nxt[x]
    return False


@njit
def _mean_between(b, a, first, nxt, indptr, partners, prob, parent):  # type: ignore[no-untyped-def]
    """Mean probability of the compared pairs between a member of cluster ``b`` and one of
    cluster ``a`` (0 when none was compared)."""
    total = 0.0
    count = 0
    x = first[b]
    while x != -1:
        for k in range(indptr[x], indptr[x + 1]):
            if _find(parent, partners[k]) == a:
                total += prob[k]
                count += 1
        x = nxt[x]
    return total / count if count else 0.0


@njit
def _greedy(n, left, right, order, unique, never_ptr, never_to, conflict_ptr,  # type: ignore[no-untyped-def]
            conflict_to, compared_ptr, compared_to, compared_prob, bound):
    parent = np.arange(n)
    size = np.ones(n, np.int64)
    first = np.arange(n)            # member lists: first member, next member, last member
    last = np.arange(n)
    nxt = np.full(n, -1, np.int64)
    count = unique.astype(np.int32)             # per record (root): unique ids per agency
    accepted = np.zeros(len(left), np.bool_)
    for k in order:
        a = _find(parent, left[k])
        b = _find(parent, right[k])
        if a == b:
            accepted[k] = True
            continue
        clash = False
        for c in range(count.shape[1]):
            if count[a, c] + count[b, c] > 1:
                clash = True
        if clash:
            continue
        if size[a] < size[b]:
            a, b = b, a
        if _any_between(b, a, first, nxt, never_ptr, never_to, parent):
            continue
        if _any_between(b, a, first, nxt, conflict_ptr, conflict_to, parent) and \
                _mean_between(b, a, first, nxt, compared_ptr, compared_to, compared_prob,
                              parent) <= bound:
            continue
        parent[b] = a
        size[a] += size[b]
        nxt[last[a]] = first[b]
        last[a] = last[b]
        for c in range(count.shape[1]):
            count[a, c] += count[b, c]
        accepted[k] = True
    labels = np.empty(n, np.int64)
    for i in range(n):
        labels[i] = _find(parent, i)
    return labels, accepted


def _dense(labels: np.ndarray) -> np.ndarray:
    return np.unique(labels, return_inverse=True)[1].ravel().astype(np.int64)


CONFLICT_BITS = {"first_name": -4.0, "dob": -6.0, "ssn": -6.0, "suffix": -4.0}
"""A level among these comparisons' ``against`` levels (:class:`linkage.compare.Comparison`:
a different first name, a birth date another generation or years apart, a different SSN,
JR and SR) whose fitted match weight is below this many bits is a strong disagreement (16
and 64 times likelier among non-matches); a level the filters cannot tell from a typo (a
first name one nickname key apart) never is. The bound is on the fitted weights: where keying errors are heavy (FEBRL swaps given and
family names and mistypes SSNs and birth dates) such a disagreement weighs little among
matches and is no conflict; in agency data a different birth date weighs about -13 bits."""

CERTAIN = 0.99
"""A birth-date or SSN conflict gives way only where the model is all but certain."""


def conflicts(gamma: np.ndarray, weights: list[np.ndarray], prob: np.ndarray,
              threshold: float) -> np.ndarray:
    """Pairs that strongly disagree on a birth date, an SSN or a name suffix (JR and SR; a
    missing value never does) unless the model is all but certain of them on everything
    else (heavy keying errors), or on a first name unless the model links them anyway (a
    nickname, a swap of given and family name).

    Args:
        gamma: agreement levels (:func:`linkage.compare.compare`).
        weights: per comparison, the match weight of each level (``FSModel.weights()``).
        prob, threshold: the pairs' match probabilities and the linking threshold.
    """
    def strong(name: str) -> np.ndarray:
        j = COMPARISON_NAMES.index(name)
        g = gamma[:, j]
        levels = COMPARISONS[j].against_levels()
        return (g >= 0) & np.isin(g, levels[weights[j][levels] < CONFLICT_BITS[name]])

    return ((strong("dob") | strong("ssn") | strong("suffix")) & (prob < CERTAIN)) | \
        (strong("first_name") & (prob < threshold))


MAJORITY = 0.5
"""Two persons with a conflict between them merge only when the mean match probability of
their compared record pairs is above this (and above the threshold): more agree than
disagree. One link against one conflict (a name-only record between a father and his
namesake son) is a tie, and a tie does not merge."""


def merge_bound(threshold: float) -> float:
    """The mean probability two persons with a conflict between them must exceed."""
    return max(float(threshold), MAJORITY)


Pairs = tuple[np.ndarray, np.ndarray]


def _adjacency(n: int, left: np.ndarray, right: np.ndarray, values: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both directions of the pairs as compressed rows: (indptr, partners, values)."""
    src = np.concatenate([left, right]).astype(np.int64)
    dst = np.concatenate([right, left]).astype(np.int64)
    order = np.argsort(src, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(src, minlength=n))]).astype(np.int64)
    vals = np.zeros(len(src)) if values is None else np.concatenate([values, values])
    return indptr, dst[order], vals[order].astype(np.float64)


def _compared_among(n: int, left: np.ndarray, right: np.ndarray,
                    compared: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, ...]:
    """The compared pairs between records that some link touches (no other record ever
    leaves its singleton), each once (its first entry), without those of probability 0
    (made so: they can never be one person, or lack family context; no evidence either way)."""
    cl, cr, cp = compared
    touched = np.zeros(n, bool)
    touched[left] = True
    touched[right] = True
    keep = touched[cl] & touched[cr] & (cp > 0)
    cl, cr, cp = cl[keep].astype(np.int64), cr[keep].astype(np.int64), cp[keep]
    key = np.minimum(cl, cr) * n + np.maximum(cl, cr)
    _, first = np.unique(key, return_index=True)
    return cl[first], cr[first], cp[first]


def persons(records: pa.Table, left: np.ndarray, right: np.ndarray, prob: np.ndarray,
            never_left: np.ndarray | None = None, never_right: np.ndarray | None = None,
            unique_id_agencies: tuple[str, ...] = UNIQUE_ID_AGENCIES, *,
            conflict: Pairs | None = None,
            compared: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
            threshold: float = MAJORITY) -> tuple[np.ndarray, np.ndarray]:
    """Person label of each record and, per link, whether the clustering kept it.

    Links are taken strongest first; a merge is refused (the weaker link loses) when the
    person would hold two ``id_unique`` ids of one agency (DJS youth ids, DPSCS sids; or
    primary ids of one of ``unique_id_agencies``) or the two records of a ``never`` pair
    (:func:`cannot_link`), and when a ``conflict`` pair (:func:`conflicts`) lies between
    the two persons unless the mean probability of the ``compared`` pairs (left, right,
    probability: every pair scored) between them is above :func:`merge_bound`. Without
    ``compared`` a conflict refuses the merge outright.
    """
    n = records.num_rows
    empty = np.empty(0, np.int64)
    never_ptr, never_to, _ = _adjacency(
        n, empty if never_left is None else never_left,
        empty if never_right is None else never_right)
    conflict_ptr, conflict_to, _ = _adjacency(n, *(conflict or (empty, empty)))
    cl, cr, cp = _compared_among(n, left, right, compared) if compared is not None \
        else (empty, empty, np.empty(0))
    compared_ptr, compared_to, compared_prob = _adjacency(n, cl, cr, cp)
    link_order = np.argsort(-prob, kind="stable").astype(np.int64)
    # one column per agency with unique ids: a person holds at most one id of each
    unique_id, _ = _unique_and_distinct(records, unique_id_agencies)
    agency, _ = _records.codes(records, "agency")
    holders = np.unique(agency[unique_id])
    unique = np.zeros((n, max(len(holders), 1)), dtype=np.bool_)
    for c, code in enumerate(holders):
        unique[:, c] = unique_id & (agency == code)
    labels, accepted = _greedy(n, left.astype(np.int64), right.astype(np.int64), link_order,
                               unique, never_ptr, never_to, conflict_ptr, conflict_to,
                               compared_ptr, compared_to, compared_prob,
                               merge_bound(threshold))
    return _dense(labels), accepted


def families(records: pa.Table, person: np.ndarray) -> np.ndarray:
    """Family label of each record: connected groups of family ties and same-person links."""
    n = records.num_rows
    tie = _dense(records.column("family_tie").to_numpy())
    n_ties = int(tie.max()) + 1 if n else 0
    rows = np.concatenate([np.arange(n), np.arange(n)])
    cols = np.concatenate([n + person, n + int(person.max() if n else 0) + 1 + tie])
    size = n + (int(person.max()) + 1 if n else 0) + n_ties
    graph = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    return _dense(labels[:n])


def summarize(records: pa.Table, person: np.ndarray, family: np.ndarray, left: np.ndarray,
              right: np.ndarray, prob: np.ndarray) -> pd.DataFrame:
    """One row per record: ids, person, family, systems, multi_system, community,
    link_probability (NaN outside multi-system families).

    Args:
        left, right, prob: the links the clustering kept.
    """
    agency, kind, community, activity, priority = _columns(
        records, "agency", "record_kind", "community", "activity_date", "address_priority")
    df = pd.DataFrame({"agency": agency, "record_id": records.column("record_id")
                       .to_numpy(zero_copy_only=False), "record_kind": kind,
                       "person": person, "family": family})
    # agencies per family as a bit mask (one bit per agency, sorted by name)
    names, code = np.unique(agency.astype(str), return_inverse=True)
    code = code.ravel()
    mask = np.zeros(int(family.max()) + 1 if len(family) else 0, dtype=np.int64)
    np.bitwise_or.at(mask, family, np.left_shift(1, code).astype(np.int64))
    combos = np.unique(mask)
    label = {int(c): "+".join(names[[bool(c >> i & 1) for i in range(len(names))]])
             for c in combos}                                     # a handful of combinations
    df["systems"] = pd.Series(mask[family]).map(label).to_numpy()
    df["multi_system"] = np.bitwise_count(mask[family].astype(np.uint64)) >= 2

    when = pd.to_datetime(pd.Series(activity)).fillna(pd.Timestamp.min)
    known = pd.Series(community).fillna(UNKNOWN_COMMUNITY) != UNKNOWN_COMMUNITY
    rank = pd.DataFrame({"family": family, "known": known, "when": when,
                         "priority": priority, "community": community})
    best = rank.sort_values(["family", "known", "when", "priority"],
                            ascending=[True, False, False, False]).drop_duplicates("family")
    df["community"] = best.set_index("family")["community"].fillna(UNKNOWN_COMMUNITY) \
        .reindex(df["family"]).to_numpy()

    cross = code[left] != code[right]
    low = pd.Series(prob[cross]).groupby(family[left[cross]]).min()
    df["link_probability"] = low.reindex(df["family"]).to_numpy()
    df.loc[~df["multi_system"], "link_probability"] = np.nan
    return df

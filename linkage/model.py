"""Comparison levels and a Fellegi–Sunter model estimated without labels (EM).

* :func:`compare` turns each candidate pair's per-field Dice similarity into an agreement
  level: ``-1`` when either value is missing (its own level, never "disagree"), ``0``
  below the lowest threshold, ``1..k`` for each threshold passed.
* :func:`fit` estimates, per field and level, ``m`` (probability among matches) and ``u``
  (among non-matches) and the match share ``lambda`` by EM over the distinct agreement
  patterns (so cost grows with patterns, not pairs). ``u`` starts from random record
  pairs, which are almost all non-matches; missing levels are excluded from the weights.
* :func:`score` gives each pair its match weight (log2 Bayes factor) and probability.
* :func:`choose_threshold` picks the probability threshold that maximizes the model's own
  estimate of F1 (no labels) and reports estimated precision and recall there.

Work is on numpy arrays; nothing loops per pair in Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from . import _dice

DEFAULT_LEVELS: dict[str, tuple[float, ...]] = {
    "first_name": (0.55, 0.7, 0.82),
    "middle_name": (0.6, 0.82),
    "last_name": (0.55, 0.7, 0.82),
    "first_keys": (0.7,),
    "last_words": (0.7,),
    "dob": (0.45, 0.7, 0.88),
    "sex": (0.9,),
    "ssn": (0.6, 0.75, 0.85),
    "street": (0.55, 0.7, 0.82),
    "unit": (0.9,),
    "zip": (0.45, 0.82),
}
"""Dice thresholds per field (with 5 % flips a true exact agreement scores about 0.9)."""


def compare(records: pa.Table, left: np.ndarray, right: np.ndarray,
            levels: Mapping[str, Sequence[float]] = DEFAULT_LEVELS) -> np.ndarray:
    """Agreement levels, ``int8[pairs, fields]`` in the order of ``levels``.

    Args:
        records: encoded records (``enc_<field>`` columns).
        left, right: record indices of the candidate pairs.
        levels: Dice thresholds per field, ascending.
    """
    out = np.empty((len(left), len(levels)), dtype=np.int8)
    for j, (name, thresholds) in enumerate(levels.items()):
        filters, valid = _dice.filter_words(records.column(f"enc_{name}"))
        d = _dice.dice(filters, valid, left, right)
        level = np.searchsorted(np.asarray(thresholds, dtype=np.float32), d, side="right")
        out[:, j] = np.where(np.isnan(d), -1, level).astype(np.int8)
    return out


@dataclass
class FSModel:
    """A fitted Fellegi–Sunter model.

    Attributes:
        fields: compared fields, in column order of the agreement matrix.
        m, u: per field, probabilities of levels ``0..k`` among matches / non-matches.
        lam: share of candidate pairs that are matches.
        iterations: EM iterations run.
        converged: whether the largest parameter change fell under the tolerance.
        history: ``lam`` after each iteration (for the report).
    """

    fields: tuple[str, ...]
    m: list[np.ndarray]
    u: list[np.ndarray]
    lam: float
    iterations: int = 0
    converged: bool = False
    history: list[float] = field(default_factory=list)

    def weights(self) -> list[np.ndarray]:
        """Match weight (log2 m/u) each level adds, per field."""
        return [np.log2(m / u) for m, u in zip(self.m, self.u, strict=True)]


def _pattern_counts(gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    patterns, inverse, counts = np.unique(gamma, axis=0, return_inverse=True,
                                          return_counts=True)
    return patterns, inverse.ravel(), counts


def _log_likelihoods(patterns: np.ndarray, probs: list[np.ndarray]) -> np.ndarray:
    """log P(pattern | class) with missing levels contributing nothing."""
    ll = np.zeros(len(patterns))
    for j, p in enumerate(probs):
        g = patterns[:, j]
        ok = g >= 0
        ll[ok] += np.log(p[g[ok]])
    return ll


def fit(gamma: np.ndarray, fields: Sequence[str], n_levels: Sequence[int],
        u_init: list[np.ndarray] | None = None, lam_init: float = 0.01,
        max_iter: int = 100, tol: float = 1e-5) -> FSModel:
    """Estimate m, u and lambda by EM over distinct agreement patterns.

    Args:
        gamma: agreement levels of the candidate pairs (``-1`` missing).
        fields: field names, in column order.
        n_levels: levels per field (thresholds + 1).
        u_init: starting u per field (e.g. from random pairs); default uniform-ish.
        lam_init: starting match share.
        max_iter, tol: stopping rule.
    """
    patterns, _, counts = _pattern_counts(gamma)
    counts = counts.astype(np.float64)
    m = [np.linspace(0.05, 1.0, k) / np.linspace(0.05, 1.0, k).sum() for k in n_levels]
    u = [np.asarray(x, dtype=np.float64) for x in u_init] if u_init is not None else [
        np.linspace(1.0, 0.05, k) / np.linspace(1.0, 0.05, k).sum() for k in n_levels]
    lam = lam_init
    model = FSModel(tuple(fields), m, u, lam)
    for _ in range(max_iter):
        lm = np.log(lam) + _log_likelihoods(patterns, m)
        lu = np.log(1 - lam) + _log_likelihoods(patterns, u)
        post = 1.0 / (1.0 + np.exp(np.clip(lu - lm, -700, 700)))
        w_m, w_u = counts * post, counts * (1 - post)
        new_m, new_u = [], []
        for j, k in enumerate(n_levels):
            g = patterns[:, j]
            ok = g >= 0
            cm = np.bincount(g[ok], weights=w_m[ok], minlength=k) + 1e-6
            cu = np.bincount(g[ok], weights=w_u[ok], minlength=k) + 1e-6
            new_m.append(cm / cm.sum())
            new_u.append(cu / cu.sum())
        new_lam = float(w_m.sum() / counts.sum())
        change = max(max(np.abs(a - b).max() for a, b in zip(new_m, m, strict=True)),
                     abs(new_lam - lam))
        m, u, lam = new_m, new_u, min(max(new_lam, 1e-9), 1 - 1e-9)
        model.history.append(lam)
        if change < tol:
            model.converged = True
            break
    model.m, model.u, model.lam, model.iterations = m, u, lam, len(model.history)
    return model


def u_from_random_pairs(records: pa.Table, levels: Mapping[str, Sequence[float]],
                        n_pairs: int = 200_000, seed: int = 0) -> list[np.ndarray]:
    """u per field from random record pairs (almost all non-matches)."""
    rng = np.random.default_rng(seed)
    n = records.num_rows
    left, right = rng.integers(0, n, n_pairs), rng.integers(0, n, n_pairs)
    keep = left != right
    gamma = compare(records, left[keep], right[keep], levels)
    out = []
    for j, thresholds in enumerate(levels.values()):
        g = gamma[:, j]
        c = np.bincount(g[g >= 0], minlength=len(thresholds) + 1) + 1.0
        out.append(c / c.sum())
    return out


def score(model: FSModel, gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Match weight (log2 odds, prior included) and match probability of each pair."""
    weight = np.full(len(gamma), np.log2(model.lam / (1 - model.lam)))
    for j, w in enumerate(model.weights()):
        g = gamma[:, j]
        ok = g >= 0
        weight[ok] += w[g[ok]]
    return weight, 1.0 / (1.0 + np.exp2(-weight))


def choose_threshold(prob: np.ndarray) -> dict[str, float]:
    """The probability threshold maximizing the model's estimated F1, with the estimated
    precision (mean probability above it) and recall (expected matches above it over all
    expected matches) there."""
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

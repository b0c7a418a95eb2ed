"""Fellegi–Sunter EM recovers known parameters; levels and thresholds behave."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from linkage.model import choose_threshold, compare, fit, score


def simulate(n: int, lam: float, m: list[np.ndarray], u: list[np.ndarray], seed: int = 1,
             missing: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    is_match = rng.random(n) < lam
    gamma = np.empty((n, len(m)), dtype=np.int8)
    for j, (mj, uj) in enumerate(zip(m, u, strict=True)):
        gm = rng.choice(len(mj), n, p=mj)
        gu = rng.choice(len(uj), n, p=uj)
        gamma[:, j] = np.where(is_match, gm, gu)
        gamma[rng.random(n) < missing, j] = -1
    return gamma, is_match


def test_em_recovers_known_m_u_and_lambda() -> None:
    m = [np.array([0.05, 0.15, 0.8]), np.array([0.1, 0.9]), np.array([0.02, 0.08, 0.9]),
         np.array([0.2, 0.8])]
    u = [np.array([0.9, 0.08, 0.02]), np.array([0.7, 0.3]), np.array([0.95, 0.04, 0.01]),
         np.array([0.85, 0.15])]
    gamma, is_match = simulate(200_000, 0.05, m, u)
    model = fit(gamma, ("a", "b", "c", "d"), [3, 2, 3, 2])
    assert model.converged
    assert abs(model.lam - 0.05) < 0.005
    for fitted, true in zip(model.m + model.u, m + u, strict=True):
        assert np.abs(fitted - true).max() < 0.03
    _, prob = score(model, gamma)
    chosen = choose_threshold(prob)
    predicted = prob >= chosen["threshold"]
    precision = (predicted & is_match).sum() / predicted.sum()
    recall = (predicted & is_match).sum() / is_match.sum()
    assert abs(chosen["est_precision"] - precision) < 0.03
    assert abs(chosen["est_recall"] - recall) < 0.03


def test_compare_levels_and_missing() -> None:
    filters = np.zeros((4, 8), dtype=np.uint8)
    filters[0, :4] = 0xFF
    filters[1, :4] = 0xFF            # same as 0
    filters[2, :2] = 0xFF            # half of 0
    valid = np.array([True, True, True, False])
    column = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(8), 4, [pa.array(valid).buffers()[1], pa.py_buffer(filters)])
    records = pa.table({"enc_x": column})
    gamma = compare(records, np.array([0, 0, 0]), np.array([1, 2, 3]), {"x": (0.5, 0.9)})
    assert gamma[:, 0].tolist() == [2, 1, -1]

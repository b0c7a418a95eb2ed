"""Measuring a run against synthetic ground truth (``truth/`` written by ``sst-link synth``).

Only synthetic nights have truth; the functions here read the run's outputs and the truth
folder and never touch a raw extract.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd


def quarantine_vs_truth(quarantine_csv: Path, truth_dir: Path) -> dict[str, Any]:
    """How well the quarantine matched the dirty rows the generator planted.

    Args:
        quarantine_csv: the run's ``quarantine.csv``.
        truth_dir: the synthetic night's ``truth/`` folder (``dirty.csv``).

    Returns:
        ``dirty`` (planted), ``caught`` (quarantined, any reason), ``right_reason``,
        ``legitimate_quarantined`` (quarantined rows that were not planted),
        ``caught_share`` and ``right_reason_share``, overall and per agency.
    """
    key = ["agency", "line_number"]
    q = pd.read_csv(quarantine_csv, dtype={"line_number": "int64"}, keep_default_na=False)
    t = pd.read_csv(Path(truth_dir) / "dirty.csv", dtype={"line_number": "int64"},
                    keep_default_na=False)
    m = t.merge(q, on=key, how="left", suffixes=("_truth", ""), indicator=True)
    extra = q.merge(t[key], on=key, how="left", indicator=True)
    out: dict[str, Any] = {}
    for agency in ["ALL", *sorted(t["agency"].unique())]:
        mm = m if agency == "ALL" else m[m["agency"] == agency]
        ee = extra if agency == "ALL" else extra[extra["agency"] == agency]
        caught = int((mm["_merge"] == "both").sum())
        right = int(((mm["_merge"] == "both") & (mm["reason"] == mm["reason_truth"])).sum())
        n = len(mm)
        out[agency] = {"dirty": n, "caught": caught, "right_reason": right,
                       "legitimate_quarantined": int((ee["_merge"] == "left_only").sum()),
                       "caught_share": caught / n if n else 1.0,
                       "right_reason_share": right / n if n else 1.0}
    return out


LEVELS: tuple[tuple[str, str], ...] = (
    ("record", "record in a multi-system family"),
    ("person_pair", "two records of one person"),
    ("family_pair", "two agencies' records in one family"),
    ("guardian_record", "guardian records (multi-system)"),
    ("contact_record", "contact records (multi-system)"),
)
"""The measured levels of :func:`linkage_vs_truth`, with the label people read."""


def _prf(tp: float, predicted: float, true: float) -> dict[str, float]:
    precision = tp / predicted if predicted else 1.0
    recall = tp / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": int(tp),
            "predicted": int(predicted), "true": int(true)}


def _pairs(sizes: pd.Series) -> float:
    return float((sizes * (sizes - 1) // 2).sum())


def _cross_pairs(df: pd.DataFrame, keys: list[str]) -> float:
    """Pairs of records from different agencies inside each group of ``keys``."""
    per_agency = df.groupby([*keys, "agency"]).size()
    total = per_agency.groupby(level=list(range(len(keys)))).sum()
    return float(((total ** 2).sum() - (per_agency ** 2).sum()) / 2)


def linkage_vs_truth(result: pd.DataFrame, truth: pd.DataFrame) -> dict[str, Any]:
    """Measured quality of a night's linkage against the synthetic truth.

    Args:
        result: one row per record (``agency``, ``record_id``, ``person``, ``family``,
            ``multi_system``), as :class:`linkage.link.LinkResult` gives it.
        truth: ``truth/records.parquet`` (``person_key``, ``family_key``, ``multi_system``,
            ``record_kind``, ``traps``).

    Returns:
        ``record`` (is the record in a multi-system family), ``person_pair`` (two records
        of one person), ``family_pair`` (two records of different agencies in one family):
        precision, recall, F1 and counts; multi-system families true and found; recall of
        guardian and contact records on their own; trap records that got into a
        multi-system family wrongly.
    """
    df = result.merge(truth.drop(columns=["record_kind"], errors="ignore")
                      .rename(columns={"multi_system": "true_multi"}),
                      on=["agency", "record_id"], how="left", validate="one_to_one")
    df["true_multi"] = df["true_multi"].fillna(False).astype(bool)
    pred, true = df["multi_system"].astype(bool), df["true_multi"]
    out: dict[str, Any] = {
        "record": _prf(float((pred & true).sum()), float(pred.sum()), float(true.sum())),
        "person_pair": _prf(_pairs(df.groupby(["person", "person_key"]).size()),
                            _pairs(df.groupby("person").size()),
                            _pairs(df.groupby("person_key").size())),
        "family_pair": _prf(_cross_pairs(df, ["family", "family_key"]),
                            _cross_pairs(df, ["family"]), _cross_pairs(df, ["family_key"])),
        "multi_system_families": {"true": int(df.loc[true, "family_key"].nunique()),
                                  "found": int(df.loc[pred, "family"].nunique())},
    }
    for kind in ("guardian", "contact"):
        k = df["record_kind"] == kind
        out[f"{kind}_record"] = _prf(float((pred & true & k).sum()), float((pred & k).sum()),
                                     float((true & k).sum()))
    traps = df["traps"].fillna("").str.split(",").explode()
    wrong = traps[(pred & ~true).reindex(traps.index).to_numpy()]
    out["trap_records_wrongly_in"] = {t: int(n) for t, n in wrong.value_counts().items() if t}
    out["trap_records"] = {t: int(n) for t, n in traps.value_counts().items() if t}
    return out

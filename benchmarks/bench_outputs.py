"""What a night delivers, over two consecutive nights: id stability, suppression, handoff.

Runs the ``nightly_linkage`` flow (embedded Prefect) on a synthetic night and on the same
population three nights on, into one output root, with one recipient of the identified
roster. Prints and writes ``benchmarks/results/outputs_<scale>.json``:

* **id stability** (target: >= 98 %): of the records that are in the roster on both
  nights and stay in the same true family, the share that keep their ``family_id``; the
  same over every record of both nights (from the id state), and ``person_id`` for records
  of the same true person;
* **suppression**: cells of ``community_counts.csv`` published and withheld, multi-system
  families in published cells, and the narrowest feasible range of a withheld cell (LP
  audit against the statewide totals);
* **handoff**: identified-roster rows and encrypted bytes, decrypt time, and that the
  decrypted roster is exactly the roster's records;
* the time of each stage and the process's peak memory.

Usage::

    .venv/bin/python benchmarks/bench_outputs.py --scale small medium [--seed 41]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import pandas as pd  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from _common import PeakRSS, synthetic_night, write_result  # noqa: E402

NIGHTS = ("20261125", "20261128")


def _truth(folder: Path) -> pd.DataFrame:
    return pd.read_parquet(folder / "truth" / "records.parquet",
                           columns=["agency", "record_id", "person_key", "family_key"])


def _kept(a: pd.DataFrame, b: pd.DataFrame, key: str, ident: str) -> dict[str, float]:
    both = a.merge(b, on=["agency", "record_id"], suffixes=("_1", "_2"))
    stay = both[both[f"{key}_1"] == both[f"{key}_2"]]
    kept = int((stay[f"{ident}_1"] == stay[f"{ident}_2"]).sum())
    return {"records_staying": len(stay), "kept": kept,
            "share": kept / len(stay) if len(stay) else 1.0}


def _night_ids(run: Path, truth: pd.DataFrame) -> pd.DataFrame:
    """Every record of the night with its ids (the id state's rows follow the link
    stage's records row for row)."""
    records = pd.read_parquet(run / "linkage_records.parquet",
                              columns=["agency", "record_id", "multi_system"])
    state = pq.read_table(run / "id_state.parquet",
                          columns=["person_id", "family_id"]).to_pandas()
    return pd.concat([records, state], axis=1).merge(truth, on=["agency", "record_id"])


def bench(scale: str, seed: int) -> dict:
    from flows import nightly_linkage
    from hashing import LinkageKey
    from pipeline import handoff, suppression
    from pipeline.nightly import published_communities

    work = Path(tempfile.mkdtemp(prefix=f"sst-outputs-{scale}-"))
    LinkageKey.generate(work / "linkage.key")
    os.environ["SST_LINKAGE_KEY_FILE"] = str(work / "linkage.key")
    staff = handoff.generate_recipient("navigator", work / "keys")
    config = work / "config.toml"
    config.write_text(f'[handoff.recipients]\nnavigator = "{staff.public_path}"\n')
    out = work / "runs"
    nights, runs, manifests = {}, {}, {}
    with PeakRSS() as mem:
        for night in NIGHTS:
            nights[night] = synthetic_night(scale, seed, night)
            t0 = time.perf_counter()
            runs[night] = Path(nightly_linkage(str(nights[night]), str(out), night=night,
                                               config=str(config))["run_dir"])
            manifests[night] = json.loads((runs[night] / "manifest.json").read_text())
            print(f"{scale} night {night}: run in {time.perf_counter() - t0:.1f} s "
                  f"({manifests[night]['stage_seconds']})")
    ids = {n: _night_ids(runs[n], _truth(nights[n])) for n in NIGHTS}
    roster = {n: ids[n][ids[n]["multi_system"]] for n in NIGHTS}
    a, b = NIGHTS
    result = {
        "scale": scale, "seed": seed, "nights": list(NIGHTS),
        "family_id_roster": _kept(roster[a], roster[b], "family_key", "family_id"),
        "family_id_all_records": _kept(ids[a], ids[b], "family_key", "family_id"),
        "person_id_all_records": _kept(ids[a], ids[b], "person_key", "person_id"),
        "id_carry_over": manifests[b]["roster"]["family_ids"],
        "stage_seconds": {n: manifests[n]["stage_seconds"] for n in NIGHTS},
        "peak_rss_mb": round(mem.peak_mb),
    }
    cells = {}
    for n in NIGHTS:
        csv = pd.read_csv(runs[n] / "community_counts.csv", dtype=str, keep_default_na=False)
        fam = pq.read_table(runs[n] / "shared_family_roster.parquet").to_pandas() \
            .drop_duplicates("family_id")
        table = suppression.community_table(
            fam, published_communities(HERE.parent / "configs" / "communities.csv"))
        ranges = suppression.audit(suppression.suppress(table),
                                   suppression.statewide_totals(table))
        pub = csv[(csv["suppressed"] == "false") & (csv["systems"] != "ALL")]
        cells[n] = {"cells": len(csv), "withheld": int((csv["suppressed"] == "true").sum()),
                    "families": len(fam),
                    "families_in_published_cells": int(pub["families"].astype(int).sum()),
                    "narrowest_withheld_range": int((ranges["high"] - ranges["low"]).min())
                    if len(ranges) else None}
    result["community_counts"] = cells
    enc = runs[b] / "identified_roster.navigator.enc"
    t0 = time.perf_counter()
    rows = handoff.decrypt_file(enc, staff.private_path, work / "roster.csv")
    got = pd.read_csv(work / "roster.csv", dtype=str, keep_default_na=False)
    (work / "roster.csv").unlink()
    ro = pq.read_table(runs[b] / "shared_family_roster.parquet").to_pandas()
    result["handoff"] = {
        "rows": rows, "encrypted_bytes": enc.stat().st_size,
        "decrypt_seconds": round(time.perf_counter() - t0, 3),
        "same_records_as_roster": sorted(zip(got["agency"], got["record_id"], strict=True))
        == sorted(zip(ro["agency"], ro["record_id"], strict=True))}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", nargs="+", default=["small", "medium"],
                        choices=["small", "medium", "large"])
    parser.add_argument("--seed", type=int, default=41)
    args = parser.parse_args()
    for scale in args.scale:
        r = bench(scale, args.seed)
        f, fa, pa = r["family_id_roster"], r["family_id_all_records"], r["person_id_all_records"]
        print(f"\n{scale} (seed {args.seed}), nights {' -> '.join(NIGHTS)}")
        print(f"  family_id kept, roster records staying in their true family: "
              f"{f['kept']:,} of {f['records_staying']:,} ({100 * f['share']:.2f} %)")
        print(f"  family_id kept, all records: {100 * fa['share']:.2f} % of "
              f"{fa['records_staying']:,}; person_id kept: {100 * pa['share']:.2f} % of "
              f"{pa['records_staying']:,}")
        for n, c in r["community_counts"].items():
            print(f"  community counts {n}: {c['withheld']} of {c['cells']} cells withheld; "
                  f"{c['families_in_published_cells']:,} of {c['families']:,} families in "
                  f"published cells; narrowest withheld range {c['narrowest_withheld_range']}")
        h = r["handoff"]
        print(f"  identified roster: {h['rows']:,} rows, {h['encrypted_bytes']:,} bytes "
              f"encrypted, decrypted in {h['decrypt_seconds']:.2f} s, same records as the "
              f"roster: {h['same_records_as_roster']}")
        print(f"  stage seconds: {r['stage_seconds']}; peak memory {r['peak_rss_mb']:,} MB")
        print(f"  wrote {write_result(f'outputs_{scale}', r)}")


if __name__ == "__main__":
    main()

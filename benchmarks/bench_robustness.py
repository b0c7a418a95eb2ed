"""Robustness benchmark: linkage quality on synthetic populations the model was not tuned on.

Usage::

    .venv/bin/python benchmarks/bench_robustness.py [--scale medium large] [--seeds 101]
        [--profiles baseline city namesakes sparse messy]

For each scale, profile (``pipeline.synth.profiles``) and held-out seed (101 and up; the
model was tuned on seeds 3-48), generates the night (cached under ``benchmarks/data/``),
encodes and links it through the product's path (``bench_linkage.one_night``: contracts,
keyed encoding, ``linkage.link.link_records``) and scores it against ``truth/``: record
precision/recall/F1 (is the record in a multi-system family), person-pair and family-pair
F1, and the model's estimated pairwise precision and recall beside the measured ones.

Prints one table per scale sorted worst first (by family-pair F1), then the worst case of
every profile over the seeds, and writes ``benchmarks/results/robustness_<scale>.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import write_result  # noqa: E402
from benchmarks.bench_linkage import one_night  # noqa: E402
from pipeline.synth.profiles import PROFILES  # noqa: E402

#: the model was tuned on seeds 3-48; held-out seeds start here
FIRST_HELD_OUT_SEED = 101


def row(r: dict[str, Any]) -> dict[str, Any]:
    """The figures of one night that the table shows."""
    q, t, m = r["quality"], r["threshold"], r["measured_pairwise"]
    return {
        "profile": r["profile"], "scale": r["scale"], "seed": r["seed"], "records": r["records"],
        "record_precision": q["record"]["precision"], "record_recall": q["record"]["recall"],
        "record_f1": q["record"]["f1"], "person_pair_f1": q["person_pair"]["f1"],
        "family_pair_f1": q["family_pair"]["f1"],
        "family_pair_precision": q["family_pair"]["precision"],
        "family_pair_recall": q["family_pair"]["recall"],
        "est_pairwise_precision": t["est_precision"], "measured_pairwise_precision": m["precision"],
        "est_pairwise_recall": t["est_recall"], "measured_pairwise_recall": m["recall"],
        "multi_system_families_true": q["multi_system_families"]["true"],
        "multi_system_families_found": q["multi_system_families"]["found"],
        "blocking_recall": r["blocking_recall"]["all"],
        "trap_records_wrongly_in": q["trap_records_wrongly_in"],
        "seconds": r["seconds"]["encode_and_link"],
    }


def worst_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows sorted by family-pair F1, lowest first (then record F1, person-pair F1)."""
    return sorted(rows, key=lambda x: (x["family_pair_f1"], x["record_f1"], x["person_pair_f1"]))


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n{title} (worst first, by family-pair F1)")
    head = (f"  {'profile':10} {'seed':>4} {'records':>9} {'rec P':>7} {'rec R':>7} {'rec F1':>7} "
            f"{'pers F1':>7} {'fam F1':>7} {'pw P est/meas':>15} {'pw R est/meas':>15} "
            f"{'msf true/found':>14}")
    print(head)
    for x in rows:
        print(f"  {x['profile']:10} {x['seed']:>4} {x['records']:>9,} "
              f"{x['record_precision']:>7.4f} {x['record_recall']:>7.4f} {x['record_f1']:>7.4f} "
              f"{x['person_pair_f1']:>7.4f} {x['family_pair_f1']:>7.4f} "
              f"{x['est_pairwise_precision']:>7.4f}/{x['measured_pairwise_precision']:.4f} "
              f"{x['est_pairwise_recall']:>7.4f}/{x['measured_pairwise_recall']:.4f} "
              f"{x['multi_system_families_true']:>6}/{x['multi_system_families_found']:<7}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", nargs="+", default=["medium", "large"],
                    choices=["small", "medium", "large"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[FIRST_HELD_OUT_SEED])
    ap.add_argument("--profiles", nargs="+", default=list(PROFILES), choices=list(PROFILES))
    ap.add_argument("--tag", default="", help="write robustness_<scale>_<tag>.json")
    args = ap.parse_args()
    tuning = [s for s in args.seeds if s < FIRST_HELD_OUT_SEED]
    if tuning:
        ap.error(f"seeds {tuning}: use held-out seeds {FIRST_HELD_OUT_SEED} and up (the model "
                 "was tuned on 3-48)")
    for scale in args.scale:
        runs, rows = [], []
        for profile in args.profiles:
            for seed in args.seeds:
                r = one_night(scale, seed, plaintext=False, profile=profile)
                runs.append(r)
                rows.append(row(r))
                print(f"{scale} {profile} seed {seed}: family-pair F1 "
                      f"{rows[-1]['family_pair_f1']:.4f}, record F1 {rows[-1]['record_f1']:.4f}, "
                      f"{rows[-1]['seconds']} s encode+link", flush=True)
        ordered = worst_first(rows)
        print_table(f"{scale}, seeds {' '.join(map(str, args.seeds))}", ordered)
        per_profile = {}
        for x in ordered:                      # the first row of a profile is its worst
            per_profile.setdefault(x["profile"], x)
        if len(args.seeds) > 1:
            print_table(f"{scale}: each profile's worst night", list(per_profile.values()))
        w = ordered[0]
        print(f"  worst case: {w['profile']} seed {w['seed']}, family-pair F1 "
              f"{w['family_pair_f1']:.4f} (P {w['family_pair_precision']:.4f}, R "
              f"{w['family_pair_recall']:.4f}); wrongly in a multi-system family: " + (", ".join(
                  f"{k} {v}" for k, v in w["trap_records_wrongly_in"].items()) or "none"))
        name = f"robustness_{scale}_{args.tag}" if args.tag else f"robustness_{scale}"
        data = {"benchmark": "robustness", "scale": scale, "seeds": args.seeds,
                "profiles": {p: PROFILES[p].knobs() for p in args.profiles},
                "worst_first": ordered, "worst_per_profile": list(per_profile.values()),
                "runs": runs}
        print(f"wrote {write_result(name, data)}")


if __name__ == "__main__":
    main()

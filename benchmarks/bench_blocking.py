"""Blocking and pairwise-model benchmark on a synthetic night: candidate pairs, blocking
recall of true person pairs, and person-pair precision/recall/F1 of the Fellegi–Sunter
model with the automatic threshold (no clustering, no family context yet).

Usage::

    .venv/bin/python benchmarks/bench_blocking.py [--scale small|medium|large] [--seed 3]

Encodes a synthetic night (the three agencies), builds candidate pairs from the keyed
blocking tokens (``linkage.blocking.candidate_pairs``, every rule, blocks over
``--max-block`` records not expanded) and measures, against the truth, the share of true
person pairs (two records of one true person) that share at least one block: overall and
for pairs that involve a guardian or a contact; then the same for the pairs the model
links at its automatic threshold, beside its estimates. Prints a table and writes
``benchmarks/results/blocking_<scale>.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import synthetic_night, write_result  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", default="medium", choices=["small", "medium", "large"])
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--max-block", type=int, default=200)
    args = ap.parse_args()

    from data_contracts import find_extracts, load_extract, parse_night
    from data_contracts.communities import load_crosswalk
    from hashing import RULES, EncodingSettings, LinkageKey, encode_extract
    from linkage.blocking import candidate_pairs

    folder = synthetic_night(args.scale, args.seed)
    night, paths = find_extracts(folder)
    key = LinkageKey.from_bytes(bytes(range(32)))
    crosswalk = load_crosswalk(ROOT / "configs" / "communities.csv")
    records = pa.concat_tables([
        encode_extract(load_extract(p, a, parse_night(night)).persons, key,
                       EncodingSettings(), crosswalk) for a, p in paths.items()])
    truth = pd.read_parquet(folder / "truth" / "records.parquet")
    ids = records.select(["agency", "record_id"]).to_pandas().merge(
        truth[["agency", "record_id", "person_key", "record_kind"]], how="left")

    t0 = time.perf_counter()
    pairs = candidate_pairs(records, RULES, max_block=args.max_block)
    seconds = time.perf_counter() - t0

    n = len(ids)
    groups = ids.groupby("person_key").indices
    true_keys = np.array([a * n + b for idx in groups.values() if len(idx) > 1
                          for i, a in enumerate(sorted(idx)) for b in sorted(idx)[i + 1:]],
                         dtype=np.int64)
    found = np.isin(true_keys, pairs.left * n + pairs.right)
    kind = ids["record_kind"].to_numpy()
    left, right = true_keys // n, true_keys % n
    recall = {"all": float(found.mean())}
    for k in ("guardian", "contact"):
        involved = (kind[left] == k) | (kind[right] == k)
        recall[f"with a {k}"] = float(found[involved].mean()) if involved.any() else None
    print(f"blocking, {args.scale} synthetic night (seed {args.seed}), {n:,} records: "
          f"{len(pairs):,} candidate pairs in {seconds:.2f} s")
    print(f"true person pairs {len(true_keys):,}; recall " + ", ".join(
        f"{k} {v:.4f}" for k, v in recall.items() if v is not None))
    print(f"{'rule':10} {'records':>9} {'blocks':>8} {'pairs':>9} {'capped':>7} {'largest':>8}")
    for s in pairs.stats:
        print(f"{s.rule:10} {s.records_with_tokens:>9,} {s.blocks:>8,} {s.pairs:>9,} "
              f"{s.capped_blocks:>7,} {s.largest_block:>8,}")
    from linkage.model import (
        DEFAULT_LEVELS,
        choose_threshold,
        compare,
        fit,
        score,
        u_from_random_pairs,
    )

    t0 = time.perf_counter()
    gamma = compare(records, pairs.left, pairs.right)
    model = fit(gamma, tuple(DEFAULT_LEVELS), [len(v) + 1 for v in DEFAULT_LEVELS.values()],
                u_init=u_from_random_pairs(records, DEFAULT_LEVELS))
    _, prob = score(model, gamma)
    chosen = choose_threshold(prob)
    linked = prob >= chosen["threshold"]
    model_seconds = time.perf_counter() - t0
    is_true = np.isin(pairs.left * n + pairs.right, true_keys)
    tp = int((linked & is_true).sum())
    pair_quality = {"precision": tp / max(int(linked.sum()), 1),
                    "recall": tp / max(len(true_keys), 1)}
    pair_quality["f1"] = 2 * pair_quality["precision"] * pair_quality["recall"] / max(
        pair_quality["precision"] + pair_quality["recall"], 1e-12)
    for k in ("guardian", "contact"):
        involved = (kind[left] == k) | (kind[right] == k)
        linked_true = np.isin(true_keys[involved], (pairs.left * n + pairs.right)[linked])
        pair_quality[f"recall with a {k}"] = float(linked_true.mean()) if involved.any() \
            else None
    print(f"pairwise model (EM {model.iterations} iterations, lambda {model.lam:.4f}, "
          f"{model_seconds:.1f} s): " + ", ".join(
              f"{k} {v:.4f}" for k, v in pair_quality.items() if v is not None)
          + f"; model's estimates: precision {chosen['est_precision']:.4f}, "
            f"recall {chosen['est_recall']:.4f}")
    out = write_result(f"blocking_{args.scale}", {
        "pairwise_model": {**pair_quality, **chosen, "em_iterations": model.iterations},
        "benchmark": "blocking", "scale": args.scale, "seed": args.seed, "records": n,
        "candidate_pairs": len(pairs), "seconds": round(seconds, 2),
        "true_pairs": len(true_keys), "recall": recall,
        "rules": [s.__dict__ for s in pairs.stats]})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

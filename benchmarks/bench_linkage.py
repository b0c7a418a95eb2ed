"""Linkage benchmark on synthetic nights: quality against the truth, speed and memory.

Usage::

    .venv/bin/python benchmarks/bench_linkage.py [--scale small medium large] [--seeds 41 42]

For each scale and seed (defaults: small and medium, seeds 41 and 42, which the model was
never tuned on), generates the night (cached under ``benchmarks/data/``), reads it through
the contracts, encodes the three agencies with a test key (hardening on), links them with
``linkage.link.link_records`` and measures against ``truth/``:

* record level: is the record in a multi-system family (precision, recall, F1);
* person pairs: two records of one person; family pairs: two records of different
  agencies in one family; multi-system families true and found; guardian and contact
  records on their own; trap records that got into a multi-system family wrongly;
* blocking recall of true person pairs; the model's estimated precision and recall of its
  pairwise links beside the measured ones (``measured_pairwise``: scored pairs at or above
  the threshold, against the true person pairs among the scored pairs);
* time of encoding and of each link step, pairs compared and pairs per second, peak memory;
* the privacy cost: the same blocking, model and clustering on the plaintext values
  (``[linkage] comparison = "plaintext"``: rapidfuzz and jellyfish comparisons), and the
  F1 points the encodings lose against it (``--no-plaintext`` skips it).

Prints a table per night and, over several seeds, the mean and range of each F1 and of
the privacy cost, and writes ``benchmarks/results/linkage_<scale>.json`` (``--tag T``:
``linkage_<scale>_T.json``, for runs on other seeds such as the tuning ones).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import PeakRSS, synthetic_night, write_result  # noqa: E402


def _true_pair_keys(person_key: np.ndarray) -> np.ndarray:
    """``left * n + right`` of every pair of records of one true person."""
    n = len(person_key)
    order = np.argsort(person_key, kind="stable")
    keys = person_key[order]
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    sizes = np.diff(np.concatenate([starts, [n]]))
    out = []
    for size in np.unique(sizes[sizes > 1]):
        members = order[starts[sizes == size][:, None] + np.arange(size)[None, :]]
        i, j = np.triu_indices(size, 1)
        a, b = members[:, i].ravel(), members[:, j].ravel()
        out.append(np.minimum(a, b) * n + np.maximum(a, b))
    return np.concatenate(out) if out else np.empty(0, np.int64)


def measured_pairwise(result: Any, truth: pd.DataFrame) -> dict[str, float]:
    """The model's pairwise links (scored pairs at or above the threshold) against the truth:
    precision, and recall over the true person pairs among the scored pairs, the same
    ground the model's ``est_precision`` and ``est_recall`` stand on."""
    cand = result.candidates
    if cand is None or not len(cand):
        return {"precision": float("nan"), "recall": float("nan"), "links": 0}
    pk = result.records[["agency", "record_id"]].merge(
        truth[["agency", "record_id", "person_key"]], how="left")["person_key"]
    pk = pk.fillna("").to_numpy(object)
    left, right = cand["left"].to_numpy(np.int64), cand["right"].to_numpy(np.int64)
    same = (pk[left] == pk[right]) & (pk[left] != "")
    linked = cand["probability"].to_numpy() >= result.threshold["threshold"]
    return {"precision": float(same[linked].mean()) if linked.any() else float("nan"),
            "recall": float((same & linked).sum() / same.sum()) if same.any() else float("nan"),
            "links": int(linked.sum())}


def one_night(scale: str, seed: int, plaintext: bool,
              profile: str = "baseline") -> dict[str, Any]:
    from data_contracts import find_extracts, load_extract, parse_night
    from data_contracts.communities import load_crosswalk
    from hashing import RULES, EncodingSettings, LinkageKey, encode_extract
    from linkage.blocking import candidate_pairs
    from linkage.inputs import EncodedNight
    from linkage.link import link_records
    from linkage.plaintext import plaintext_values
    from linkage.settings import LinkageSettings
    from pipeline.evaluate import linkage_vs_truth

    folder = synthetic_night(scale, seed, profile=profile)
    night, paths = find_extracts(folder)
    frames = {a: load_extract(p, a, parse_night(night)).persons for a, p in paths.items()}
    key = LinkageKey.from_bytes(bytes(range(32)))
    settings = EncodingSettings()
    crosswalk = load_crosswalk(ROOT / "configs" / "communities.csv")
    with PeakRSS() as rss_encode:
        t0 = time.perf_counter()
        records = pa.concat_tables([encode_extract(f, key, settings, crosswalk)
                                    for f in frames.values()])
        t_encode = time.perf_counter() - t0
    values = pd.concat([plaintext_values(f) for f in frames.values()],
                       ignore_index=True) if plaintext else None
    del frames                  # the agency side is done: the link step starts from files
    gc.collect()
    pa.default_memory_pool().release_unused()
    encoded_night = EncodedNight(records=records, key_id=key.key_id,
                                 encoding=settings.describe(), night=night,
                                 agencies=tuple(paths))
    with PeakRSS() as rss_link:
        t0 = time.perf_counter()
        result = link_records(encoded_night)
        t_link = time.perf_counter() - t0
    truth = pd.read_parquet(folder / "truth" / "records.parquet")
    quality = linkage_vs_truth(result.records, truth)
    privacy_cost = None
    if values is not None:
        t0 = time.perf_counter()
        plain = link_records(encoded_night, LinkageSettings(comparison="plaintext"), values)
        plain_quality = linkage_vs_truth(plain.records, truth)
        privacy_cost = {
            "plaintext_seconds": round(time.perf_counter() - t0, 2),
            "plaintext": {k: plain_quality[k] for k in ("record", "person_pair",
                                                        "family_pair", "guardian_record",
                                                        "contact_record")},
            "f1_points_lost": {k: round(100 * (plain_quality[k]["f1"] - quality[k]["f1"]), 2)
                               for k in ("record", "person_pair", "family_pair")}}

    ids = records.select(["agency", "record_id"]).to_pandas().merge(
        truth[["agency", "record_id", "person_key", "record_kind"]], how="left")
    n = len(ids)
    true_keys = _true_pair_keys(ids["person_key"].to_numpy())
    pairs = candidate_pairs(records, RULES)            # the same pairs the link step made
    found = np.isin(true_keys, pairs.left * n + pairs.right)
    kind = ids["record_kind"].to_numpy()
    involved = {k: (kind[true_keys // n] == k) | (kind[true_keys % n] == k)
                for k in ("guardian", "contact")}
    blocking = {"all": float(found.mean()),
                **{f"with a {k}": float(found[m].mean()) for k, m in involved.items()
                   if m.any()}}
    return {
        "scale": scale, "seed": seed, "profile": profile, "records": n,
        "quality": quality, "blocking_recall": blocking,
        "measured_pairwise": measured_pairwise(result, truth),
        "threshold": result.threshold, "pairs": result.pairs,
        "counts": result.counts(),
        "seconds": {"encode": round(t_encode, 2), "link": round(t_link, 2),
                    "encode_and_link": round(t_encode + t_link, 2), **result.seconds},
        "pairs_per_second": round(result.pairs["candidates"] / max(
            result.seconds["comparison"] + result.seconds["scoring"], 1e-9)),
        "peak_memory_mb": {"encode": round(rss_encode.peak_mb), "link": round(rss_link.peak_mb)},
        "expected_matches": result.model.expected_matches,
        "privacy_cost": privacy_cost,
    }


def _print(r: dict[str, Any]) -> None:
    q = r["quality"]
    f = q["multi_system_families"]
    print(f"\n{r['scale']} night, seed {r['seed']}: {r['records']:,} records, "
          f"{r['pairs']['candidates']:,} candidate pairs (blocking recall "
          f"{r['blocking_recall']['all']:.4f}), multi-system families true {f['true']}, "
          f"found {f['found']}")
    print(f"  {'level':38} {'precision':>9} {'recall':>7} {'F1':>7}")
    from pipeline.evaluate import LEVELS

    for level, label in LEVELS:
        v = q[level]
        print(f"  {label:38} {v['precision']:>9.4f} {v['recall']:>7.4f} {v['f1']:>7.4f}")
    t = r["threshold"]
    m = r["measured_pairwise"]
    print(f"  threshold {t['threshold']:.3f}: estimated pairwise precision "
          f"{t['est_precision']:.4f}, recall {t['est_recall']:.4f} (measured "
          f"{m['precision']:.4f}, {m['recall']:.4f})")
    wrong = q["trap_records_wrongly_in"]
    print("  trap records wrongly in a multi-system family: " + (", ".join(
        f"{k} {v} of {q['trap_records'].get(k, 0):,}" for k, v in wrong.items()) or "none"))
    s = r["seconds"]
    if r["privacy_cost"]:
        p = r["privacy_cost"]
        print("  the same pipeline on plaintext (rapidfuzz, jellyfish): F1 " + ", ".join(
            f"{k} {p['plaintext'][k]['f1']:.4f} (encodings lose {p['f1_points_lost'][k]:+.2f} "
            "points)" for k in ("record", "person_pair", "family_pair")))
    print(f"  encode {s['encode']} s + link {s['link']} s = {s['encode_and_link']} s "
          f"(blocking {s['blocking']}, comparison {s['comparison']}, model {s['model']}, "
          f"scoring {s['scoring']}, clustering {s['clustering']}, second pass "
          f"{s.get('within_families', 0)}, summary {s.get('summary', 0)}); "
          f"{r['pairs_per_second']:,} pairs/s compared and scored; peak memory: encode "
          f"{r['peak_memory_mb']['encode']:,} MB (the agencies' person frames in memory), link "
          f"{r['peak_memory_mb']['link']:,} MB")


def across_nights(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, lowest and highest over the nights of one scale: F1 of each level and, when
    measured, the privacy cost. One night's family-pair figure moves by a point with one
    wrong link between two large families, so a single night says little on its own."""
    levels = ("record", "person_pair", "family_pair")

    def spread(values: list[float]) -> dict[str, float]:
        return {"mean": round(float(np.mean(values)), 4), "min": round(min(values), 4),
                "max": round(max(values), 4)}

    out: dict[str, Any] = {"nights": len(runs), "seeds": [r["seed"] for r in runs],
                           "f1": {k: spread([r["quality"][k]["f1"] for r in runs])
                                  for k in levels}}
    costs = [r["privacy_cost"] for r in runs if r["privacy_cost"]]
    if len(costs) == len(runs):
        out["f1_points_lost"] = {k: spread([c["f1_points_lost"][k] for c in costs])
                                 for k in levels}
        out["nights_under_one_point"] = {
            k: sum(c["f1_points_lost"][k] < 1 for c in costs) for k in levels}
    return out


def _print_across(scale: str, a: dict[str, Any]) -> None:
    print(f"\n{scale}, {a['nights']} nights (seeds {' '.join(map(str, a['seeds']))}): "
          "mean (lowest to highest)")
    for k, v in a["f1"].items():
        line = f"  {k:12} F1 {v['mean']:.4f} ({v['min']:.4f} to {v['max']:.4f})"
        if "f1_points_lost" in a:
            c = a["f1_points_lost"][k]
            line += (f"; privacy cost {c['mean']:+.2f} points ({c['min']:+.2f} to "
                     f"{c['max']:+.2f}), under one point on "
                     f"{a['nights_under_one_point'][k]} of {a['nights']}")
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", nargs="+", default=["small", "medium"],
                    choices=["small", "medium", "large"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[41, 42])
    ap.add_argument("--no-plaintext", action="store_true",
                    help="skip the plaintext run that measures the privacy cost")
    ap.add_argument("--tag", default="",
                    help="write linkage_<scale>_<tag>.json (for example the tuning seeds), "
                         "leaving the held-out results in place")
    args = ap.parse_args()
    for scale in args.scale:
        runs = [one_night(scale, seed, not args.no_plaintext) for seed in args.seeds]
        for r in runs:
            _print(r)
        summary = across_nights(runs)
        if len(runs) > 1:
            _print_across(scale, summary)
        name = f"linkage_{scale}_{args.tag}" if args.tag else f"linkage_{scale}"
        print(f"wrote {write_result(name, {'benchmark': 'linkage', 'runs': runs, 'across_nights': summary})}")


if __name__ == "__main__":
    main()

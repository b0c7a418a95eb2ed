"""The match-quality report on synthetic nights: are the model's estimates honest?

For each synthetic run (a run folder and the night's ``truth/`` folder) builds the report
(:func:`pipeline.report.build_report`) with the truth and prints, at the chosen threshold,
the model's estimated precision and recall of the candidate pairs beside the measured ones
(a candidate pair is a true match when its two records are one true person) and their
absolute differences (the issue's target: at most 0.03 each), with the measured linkage
quality and the time and memory the report took. Writes
``benchmarks/results/report_<scale>.json``.

Nothing is tuned here: the figures are what the pipeline gives.

Usage::

    .venv/bin/python benchmarks/bench_report.py --scale small medium [--seed 41]
    .venv/bin/python benchmarks/bench_report.py RUN TRUTH [RUN TRUTH ...]

With ``--scale`` a night is generated (cached under benchmarks/data/) and run through the
``nightly_linkage`` flow (embedded Prefect) with a fresh linkage key. Given run folders are
only read (the report is not written into them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from _common import PeakRSS, synthetic_night, write_result  # noqa: E402


def run_flow(scale: str, seed: int) -> tuple[Path, Path]:
    """Generate (or reuse) a synthetic night and run the nightly flow on it."""
    from flows import nightly_linkage
    from hashing import LinkageKey

    night = synthetic_night(scale, seed)
    work = Path(tempfile.mkdtemp(prefix=f"sst-report-{scale}-"))
    LinkageKey.generate(work / "linkage.key")
    os.environ["SST_LINKAGE_KEY_FILE"] = str(work / "linkage.key")
    t0 = time.perf_counter()
    run = Path(nightly_linkage(str(night), str(work / "runs"))["run_dir"])
    print(f"{scale} night (seed {seed}): flow ran in {time.perf_counter() - t0:.1f} s")
    return run, night / "truth"


def measure(run: Path, truth: Path) -> dict[str, Any]:
    """Build and render the report of one run with its truth; the figures to compare."""
    from pipeline.report import build_report, render_html, validate_report

    manifest = json.loads((run / "manifest.json").read_text())
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        report = build_report(run, manifest, truth=truth)
        t1 = time.perf_counter()
        validate_report(report)
        html = render_html(report)
        t2 = time.perf_counter()
    t = report["truth"]
    if t["at_threshold"] is None:
        raise SystemExit(f"{run}: no linkage_pairs.parquet, the estimates cannot be measured")
    summary = json.loads((truth / "summary.json").read_text()) \
        if (truth / "summary.json").exists() else {}
    lk = t["linkage"]
    return {
        "scale": summary.get("scale"), "seed": summary.get("seed"),
        "run_id": report["run_id"], "night": report["night"],
        "records": report["headline"]["figures"]["records"],
        "candidate_pairs": report["match_weights"]["pair_counts"].get("candidates"),
        "at_threshold": t["at_threshold"],
        "target_abs_diff": t["target_abs_diff"],
        "candidate_pair_truth": t["candidate_pairs"],
        "curve": t["curve"],
        "linkage": {k: {m: lk[k][m] for m in ("precision", "recall", "f1")}
                    for k in ("record", "person_pair", "family_pair")},
        "seconds": {"build": round(t1 - t0, 3), "validate_and_render": round(t2 - t1, 3)},
        "html_bytes": len(html.encode()),
        "json_bytes": len(json.dumps(report).encode()),
        "peak_rss_mb": round(mem.peak_mb),
    }


def show(r: dict[str, Any]) -> None:
    a = r["at_threshold"]
    cp = r["candidate_pair_truth"]
    print(f"\n{r['scale'] or '?'} (seed {r['seed']}), run {r['run_id']}: {r['records']:,} "
          f"records, {r['candidate_pairs']:,} candidate pairs")
    print(f"  threshold {a['threshold']:.4f}: {a['links']:,} pairs at or above, "
          f"{a['true_links']:,} true")
    print(f"  precision  estimated {a['est_precision']:.4f}  measured "
          f"{a['measured_precision']:.4f}  |diff| {a['precision_abs_diff']:.4f}")
    print(f"  recall     estimated {a['est_recall']:.4f}  measured "
          f"{a['measured_recall']:.4f}  |diff| {a['recall_abs_diff']:.4f}")
    print(f"  within the target of {r['target_abs_diff']}: {a['within_target']}")
    print(f"  true matches among candidates {cp['true_matches']:,} (model expects "
          f"{cp['expected_matches']:,.1f}); ruled out by a constraint "
          f"{cp['true_matches_ruled_out']:,}; recall without them "
          f"{a['measured_recall_excluding_ruled_out']:.4f}")
    lk = r["linkage"]
    print("  measured linkage: " + "; ".join(
        f"{k} P {v['precision']:.3f} R {v['recall']:.3f} F1 {v['f1']:.3f}"
        for k, v in lk.items()))
    print(f"  report: build {r['seconds']['build']:.2f} s, validate + render "
          f"{r['seconds']['validate_and_render']:.2f} s, HTML {r['html_bytes'] / 1e3:.0f} kB, "
          f"JSON {r['json_bytes'] / 1e3:.0f} kB, peak memory {r['peak_rss_mb']:,} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", metavar="RUN TRUTH",
                        help="pairs of a synthetic run folder and its night's truth/ folder")
    parser.add_argument("--scale", nargs="+", choices=["small", "medium", "large"],
                        help="generate and run a night of each scale")
    parser.add_argument("--seed", type=int, default=41)
    args = parser.parse_args()
    if len(args.runs) % 2:
        parser.error("give run folders and truth folders in pairs: RUN TRUTH [RUN TRUTH ...]")
    jobs = [(Path(a), Path(b), None) for a, b in zip(args.runs[::2], args.runs[1::2])]
    if not jobs and not args.scale:
        args.scale = ["small", "medium"]
    for scale in args.scale or []:
        run, truth = run_flow(scale, args.seed)
        jobs.append((run, truth, scale))
    for run, truth, scale in jobs:
        r = measure(run, truth)
        r["scale"] = scale or r["scale"]
        show(r)
        name = f"report_{r['scale'] or run.name}"
        print(f"  wrote {write_result(name, r)}")


if __name__ == "__main__":
    main()

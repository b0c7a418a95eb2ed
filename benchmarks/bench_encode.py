"""Encode benchmark: records per second of the agency-side encoder, and peak memory.

Usage::

    .venv/bin/python benchmarks/bench_encode.py --scale medium [--seed 3]

Reads each agency's extract through its contract first (not timed: that is the ingest
benchmark), then times ``hashing.encode_extract`` (filters, hardening, blocking tokens,
pseudonyms, communities) and writing the encoded parquet file, two ways:

* ``concurrent`` (the headline): one encoder process per core, the agencies shared out
  between them by size (as each agency encodes on its own side in production, here
  sharing this machine's 2 cores), all starting together; records/s = all records / wall
  time from the common start to the last finish.
* ``sequential``: one process encodes the three agencies one after the other.

Prints a table and writes ``benchmarks/results/encode_<scale>.json``. For comparison,
clkhash (the reference PPRL encoder) was measured at about 5,500 records/s on this machine
class.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import night_folder, write_result  # noqa: E402


def _encode_many(jobs: list[tuple[str, str]], night: str, barrier, out_dir: str,
                 numba_threads: int | None) -> list[dict]:
    """Worker: read its agencies through the contract (untimed), wait for the other
    workers, then encode + write each in turn."""
    import os
    import resource

    if numba_threads:
        os.environ["NUMBA_NUM_THREADS"] = str(numba_threads)   # before numba is imported
    from data_contracts import load_extract, parse_night
    from data_contracts.communities import load_crosswalk
    from data_contracts.encoded import EncodedMeta, encoded_path, write_encoded
    from hashing import LinkageKey, encode_extract
    from pipeline.config import load_settings

    settings = load_settings()
    enc = settings.encoding
    crosswalk = load_crosswalk(settings.communities.crosswalk_path)
    key = LinkageKey.from_bytes(bytes(range(32)))
    loaded = [(a, load_extract(Path(p), a, parse_night(night)).persons) for a, p in jobs]
    encode_extract(loaded[0][1].head(50), key, enc, crosswalk)    # load compiled kernels
    gc.collect()
    if barrier is not None:
        barrier.wait()
    rows = []
    for agency, persons in loaded:
        t0 = time.time()
        table = encode_extract(persons, key, enc, crosswalk)
        t1 = time.time()
        target = encoded_path(Path(out_dir), agency, night)
        write_encoded(table, EncodedMeta(key.key_id, agency, night, enc.describe(),
                                         enc.sha256()), target)
        t2 = time.time()
        rows.append({"agency": agency, "records": table.num_rows, "start": t0, "end": t2,
                     "encode_seconds": round(t1 - t0, 3), "write_seconds": round(t2 - t1, 3),
                     "records_per_second": round(table.num_rows / (t2 - t0)),
                     "encoded_mb": round(target.stat().st_size / 2**20, 1),
                     "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                          / 1024)})
        del table
    return rows


def run_concurrent(paths: dict, night: str, out_dir: str) -> list[dict]:
    """One worker per core, agencies shared out by extract size (largest first), each
    worker's compiled kernels on one thread so the workers do not oversubscribe."""
    workers = max(1, min(len(paths), os.cpu_count() or 1))
    groups: list[list[tuple[str, str]]] = [[] for _ in range(workers)]
    load = [0] * workers
    for agency, path in sorted(paths.items(), key=lambda kv: -kv[1].stat().st_size):
        i = load.index(min(load))
        groups[i].append((agency, str(path)))
        load[i] += path.stat().st_size
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(workers)
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = [pool.submit(_encode_many, g, night, barrier, out_dir, 1)
                       for g in groups]
            return [r for f in futures for r in f.result()]


def run_sequential(paths: dict, night: str, out_dir: str) -> list[dict]:
    """One process, the agencies one after the other (compiled kernels on every core)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(_encode_many, [(a, str(p)) for a, p in paths.items()], night,
                           None, out_dir, None).result()


def _print(title: str, rows: list[dict], wall: float) -> None:
    n = sum(r["records"] for r in rows)
    print(title)
    print(f"{'agency':7} {'records':>10} {'encode s':>9} {'write s':>8} {'records/s':>10} "
          f"{'file MB':>8} {'peak MB':>8}")
    for r in rows:
        print(f"{r['agency']:7} {r['records']:>10,} {r['encode_seconds']:>9.2f} "
              f"{r['write_seconds']:>8.2f} {r['records_per_second']:>10,} "
              f"{r['encoded_mb']:>8,} {r['peak_rss_mb']:>8,}")
    print(f"{'all':7} {n:>10,} {'wall':>9} {wall:>8.2f} {round(n / wall):>10,} "
          f"{sum(r['encoded_mb'] for r in rows):>8,.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", default="medium", choices=["small", "medium", "large"])
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--night", default="20261125")
    ap.add_argument("--mode", default="both", choices=["both", "concurrent", "sequential"])
    args = ap.parse_args()
    subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, '.');"
                    "from benchmarks._common import synthetic_night;"
                    f"synthetic_night({args.scale!r}, {args.seed}, {args.night!r})"],
                   check=True, cwd=ROOT)
    from data_contracts import find_extracts

    night, paths = find_extracts(night_folder(args.scale, args.seed, args.night), args.night)
    result: dict = {"benchmark": "encode", "scale": args.scale, "seed": args.seed}
    with tempfile.TemporaryDirectory() as tmp:
        for mode, fn in (("concurrent", run_concurrent), ("sequential", run_sequential)):
            if args.mode not in ("both", mode):
                continue
            rows = fn(paths, night, tmp)
            if mode == "concurrent":
                wall = max(r["end"] for r in rows) - min(r["start"] for r in rows)
            else:
                wall = sum(r["end"] - r["start"] for r in rows)
            n = sum(r["records"] for r in rows)
            _print(f"encode, {args.scale} synthetic night (seed {args.seed}), {mode}:", rows,
                   wall)
            result[mode] = {"agencies": [{k: v for k, v in r.items()
                                          if k not in ("start", "end")} for r in rows],
                            "records": n, "wall_seconds": round(wall, 3),
                            "records_per_second": round(n / wall)}
    from hashing import EncodingSettings

    result["settings"] = EncodingSettings().describe()
    out = write_result(f"encode_{args.scale}", result)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Fault matrix: each stage x each fault, one real ``sst-link run`` per cell, then a normal run.

For every stage (ingest, encode, link, publish) and fault (killed, disk full, input
truncated, input vanished, schema drift, concurrent run, key changed) the benchmark copies
an output root holding the previous night's published run and a delivery folder holding
both nights, runs ``sst-link run`` as a subprocess with the fault injected as the stage
starts, and records the exit status, the lines printed (stdout and stderr in the order
written), whether the only ``error:`` line is the last line, what the output root holds
after, and whether anything already published changed. Then it undoes the fault (the
extract restored, the key put back, the disk freed) and runs the night again normally:
the cell *recovers* when that run exits 0 with the night published and nothing left over.

The faults, as the stage starts (what a stage reads: ingest the extracts, encode the
staged person frames, link the encoded extracts, publish the link's records):

* ``killed``: SIGKILL to the run (its orphaned Prefect server is then ended by pid);
* ``disk_full``: the output root's file system filled to the last byte (a 256 MB tmpfs in a
  private mount namespace, ``unshare --mount``; without it, a file-size limit: EFBIG);
* ``truncated``: the stage's input cut to half its bytes (ingest: the DJS extract, cut
  before the run: a short delivery);
* ``vanished``: the stage's input deleted (ingest: the DJS extract, after the night was
  chosen);
* ``schema_drift``: a column renamed in the stage's input (ingest: in the DHS header,
  before the run);
* ``concurrent``: a second ``sst-link run`` into the same root, waited for (its status
  shown after the first's);
* ``key_changed``: the linkage key file replaced by another key.

Plus one cell before any stage: the output root's file system too small from the start
(the free-space check). Faults are injected through ``SST_FAULT_INJECTION`` (read by
``pipeline.faults.stage_hook``, which calls :func:`inject` here); nothing else in the
product knows about them.

Usage::

    .venv/bin/python benchmarks/bench_faults.py [--stages link ...] [--faults killed ...]

Prints the matrix and writes ``benchmarks/results/faults.json``. A cell takes 30-60 s
(two or three runs, each starting Prefect's embedded server); all 29 about 20 minutes.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

STAGES = ("ingest", "encode", "link", "publish")
FAULTS = ("killed", "disk_full", "truncated", "vanished", "schema_drift", "concurrent",
          "key_changed")
NIGHT, PREVIOUS = "20261125", "20261124"
CELL_ENV = "SST_BENCH_CELL"
TMPFS_SIZE = "256m"


# --- the hook: runs inside the sst-link process under test ----------------------------------

def _cell() -> dict[str, Any]:
    return json.loads(os.environ[CELL_ENV])


def _run_dirs(root: Path) -> tuple[Path, Path, Path]:
    """The going run's partial, agency-side staging and exchange folders."""
    partial = next(root.glob(".*.partial"))
    run_id = partial.name[1:-len(".partial")]
    return partial, root / ".agency-side" / run_id, root / ".exchange" / run_id


def stage_input(stage: str, cell: dict[str, Any]) -> Path:
    """The file a stage reads that the truncated, vanished and drift faults damage."""
    root = Path(cell["root"])
    if stage == "ingest":
        return Path(cell["extracts"]) / f"djs_youth_{NIGHT}.txt"
    partial, staging, exchange = _run_dirs(root)
    return {"encode": staging / f"persons_DJS_{NIGHT}.parquet",
            "link": exchange / f"encoded_DJS_{NIGHT}.parquet",
            "publish": partial / "linkage_records.parquet"}[stage]


def _fill(ballast: Path) -> None:
    """Write until the file system says no more (ENOSPC), smaller and smaller blocks."""
    with open(ballast, "wb", buffering=0) as fh:
        for block in (1 << 20, 1 << 14, 1 << 12, 1 << 9, 1):
            chunk = b"\0" * block
            while True:
                try:
                    fh.write(chunk)
                except OSError as exc:
                    if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                        raise
                    break


def _rename_first_column(path: Path) -> None:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    names = list(table.column_names)
    names[0] = names[0] + "_renamed"
    pq.write_table(table.rename_columns(names), path)


def inject(stage: str, spec: str) -> None:
    """``pipeline.faults.stage_hook`` calls this as each stage starts; ``spec`` is
    ``<stage>:<fault>``. Does the fault when ``stage`` is the spec's stage."""
    target, _, fault = spec.partition(":")
    if stage != target:
        return
    cell = _cell()
    if fault == "killed":
        import psutil

        children = [p.pid for p in psutil.Process().children(recursive=True)]
        Path(cell["orphans"]).write_text(json.dumps(children))
        os.kill(os.getpid(), signal.SIGKILL)
    elif fault == "disk_full":
        if cell.get("ballast"):
            _fill(Path(cell["ballast"]))
        else:     # no private tmpfs: every further write of this process fails (EFBIG)
            import resource

            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE,
                               (0, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    elif fault in ("truncated", "vanished", "schema_drift"):
        if stage == "ingest" and fault != "vanished":
            return                             # done to the delivery before the run
        path = stage_input(stage, cell)
        if fault == "vanished":
            path.unlink()
        elif fault == "truncated":
            data = path.read_bytes()
            path.write_bytes(data[:len(data) // 2])
        else:
            _rename_first_column(path)
    elif fault == "concurrent":
        env = {k: v for k, v in os.environ.items() if k != "SST_FAULT_INJECTION"}
        Path(cell["second"]).write_text(json.dumps(_run(cell["argv"], env)))
    elif fault == "key_changed":
        from hashing import LinkageKey

        key = Path(cell["key"])
        fresh = key.with_name("fresh.key")
        fresh.unlink(missing_ok=True)
        LinkageKey.generate(fresh)
        os.replace(fresh, key)
    else:
        raise ValueError(f"unknown fault {fault!r}")


# --- the benchmark ---------------------------------------------------------------------------

def _run(argv: list[str], env: dict[str, str], timeout: float = 900) -> dict[str, Any]:
    """One command: exit status and its output lines (stdout and stderr as written, into a
    file: a killed run's orphaned server would hold a pipe open)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as output:
        proc = subprocess.run(argv, env=env, stdout=output, stderr=subprocess.STDOUT,
                              timeout=timeout, cwd=env.get("SST_BENCH_CWD"))
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
    lines = [line for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return {"status": proc.returncode, "lines": len(lines), "error_lines": len(errors),
            "last_line_is_error": bool(lines) and lines[-1].startswith("error:"),
            "traceback": any("Traceback" in line for line in lines),
            "error": errors[-1] if errors else None, "last": lines[-1] if lines else "",
            "seconds": round(time.perf_counter() - t0, 1)}


def _one_line(r: dict[str, Any]) -> bool:
    """Status 2 with one error line, last, no traceback; or status 0 with none; a process
    killed by a signal cannot print, and is not held to it."""
    if r["status"] < 0:
        return True
    if r["status"] == 2:
        return r["error_lines"] == 1 and r["last_line_is_error"] and not r["traceback"]
    return r["status"] == 0 and r["error_lines"] == 0 and not r["traceback"]


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def snapshot(root: Path) -> dict[str, Any]:
    """What the output root holds: complete runs, half folders, leftovers."""
    runs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    side = [f"{s}/{p.name}" for s in (".agency-side", ".exchange") if (root / s).is_dir()
            for p in (root / s).iterdir()]
    known = {".sst-run.lock", ".sst-state.key", ".agency-side", ".exchange"}
    return {"complete": sorted(p.name for p in runs if (p / "manifest.json").is_file()),
            "half_written": sorted(p.name for p in runs if not (p / "manifest.json").is_file()),
            "partial": sorted(p.name for p in root.glob(".*.partial")),
            "staging": sorted(side),
            "other": sorted(p.name for p in root.iterdir() if p.name not in known
                            and not p.name.endswith(".partial") and p not in runs)}


def _describe(snap: dict[str, Any]) -> str:
    tonight = [r for r in snap["complete"] if r.startswith(NIGHT)]
    parts = [f"{len(snap['complete']) - len(tonight)} earlier run" +
             (f" + {len(tonight)} of tonight" if tonight else "")]
    for key, label in (("half_written", "half-written"), ("partial", ".partial"),
                       ("staging", "staging"), ("other", "other")):
        if snap[key]:
            parts.append(f"{len(snap[key])} {label}")
    return ", ".join(parts)


def _outputs_intact(run: Path) -> bool:
    manifest = json.loads((run / "manifest.json").read_text())
    return all(hashlib.sha256((run / n).read_bytes()).hexdigest() == o["sha256"]
               for n, o in manifest.get("outputs", {}).items())


def _python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _env(work: Path) -> dict[str, str]:
    env = {**os.environ, "PREFECT_HOME": str(work / "prefect"),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PYTHONUNBUFFERED": "1",
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                       os.environ.get("PYTHONPATH")])),
           "SST_BENCH_CWD": str(work), "COLUMNS": "200"}
    env.pop("SST_FAULT_INJECTION", None)
    return env


def _sst(*args: str) -> list[str]:
    script = Path(_python()).with_name("sst-link")
    return [str(script), *args] if script.exists() else [_python(), "-m", "pipeline.cli",
                                                          *args]


def prepare(work: Path, scale: str, seed: int) -> dict[str, Path]:
    """Both nights' extracts, a key, and an output root with the previous night published."""
    sys.path[:0] = [str(REPO), str(HERE)]
    from _common import synthetic_night

    from hashing import LinkageKey

    pristine = work / "pristine"
    pristine.mkdir(parents=True, exist_ok=True)
    for night in (PREVIOUS, NIGHT):
        folder = synthetic_night(scale, seed, night)
        for f in folder.iterdir():
            if f.is_file():
                shutil.copy2(f, pristine / f.name)
    key = work / "linkage.key"
    if not key.exists():
        LinkageKey.generate(key)
    template = work / "template"
    if not (template / "runs").is_dir():
        first = work / "first_night"
        first.mkdir(exist_ok=True)
        for f in pristine.glob(f"*_{PREVIOUS}.*"):
            shutil.copy2(f, first / f.name)
        r = _run(_sst("run", "--extracts", str(first), "--out", str(template / "runs")),
                 {**_env(work), "SST_LINKAGE_KEY_FILE": str(key)})
        if r["status"] != 0:
            raise SystemExit(f"the previous night did not run: {r}")
    return {"pristine": pristine, "key": key, "template": template / "runs"}


def _restore(cell: Path, setup: dict[str, Path]) -> None:
    """Undo every fault: the delivery and the key as they were, the disk freed."""
    extracts = cell / "in"
    for f in setup["pristine"].iterdir():
        shutil.copy2(f, extracts / f.name)
    shutil.copy2(setup["key"], cell / "linkage.key")
    os.chmod(cell / "linkage.key", 0o600)
    (cell / "disk" / "ballast").unlink(missing_ok=True)


def _end_orphans(cell: Path) -> int:
    """End the Prefect server a killed run left behind (by pid, if still that process)."""
    import psutil

    path, ended = cell / "orphans.json", 0
    for pid in json.loads(path.read_text()) if path.exists() else []:
        try:
            proc = psutil.Process(pid)
            if "python" in proc.name() or "uvicorn" in " ".join(proc.cmdline()):
                proc.kill()
                ended += 1
        except psutil.Error:
            pass
    return ended


def run_cell(work: Path, stage: str, fault: str, setup: dict[str, Path],
             tmpfs: bool) -> dict[str, Any]:
    """One cell: the faulty run, the root after it, then a normal run."""
    cell = work / "cells" / f"{stage}-{fault}"
    shutil.rmtree(cell, ignore_errors=True)
    (cell / "in").mkdir(parents=True)
    (cell / "disk").mkdir()
    if tmpfs:
        size = "12m" if stage == "start" else TMPFS_SIZE
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                        str(cell / "disk")], check=True)
    root = cell / "disk" / "runs"
    shutil.copytree(setup["template"], root, symlinks=True)
    _restore(cell, setup)
    previous = {p.name: _hashes(p) for p in root.iterdir()
                if p.is_dir() and not p.name.startswith(".")}
    state_key = (root / ".sst-state.key").read_bytes()
    djs, dhs = cell / "in" / f"djs_youth_{NIGHT}.txt", cell / "in" / f"dhs_clients_{NIGHT}.csv"
    if stage == "ingest" and fault == "truncated":     # a short delivery
        data = djs.read_bytes()
        djs.write_bytes(data[:len(data) // 2])
    if stage == "ingest" and fault == "schema_drift":   # a renamed column
        dhs.write_bytes(dhs.read_bytes().replace(b"first_name", b"given_name", 1))
    argv = _sst("run", "--extracts", str(cell / "in"), "--out", str(root))
    env = {**_env(work), "SST_LINKAGE_KEY_FILE": str(cell / "linkage.key")}
    info = {"root": str(root), "extracts": str(cell / "in"), "key": str(cell / "linkage.key"),
            "orphans": str(cell / "orphans.json"), "second": str(cell / "second.json"),
            "argv": argv, "ballast": str(cell / "disk" / "ballast") if tmpfs else ""}
    faulty = _run(argv, {**env, CELL_ENV: json.dumps(info),
                         "SST_FAULT_INJECTION": f"{stage}:{fault}"})
    orphans = _end_orphans(cell)
    second = json.loads((cell / "second.json").read_text()) \
        if (cell / "second.json").exists() else None
    after = snapshot(root)
    lost = [n for n, h in previous.items()
            if not (root / n).is_dir() or _hashes(root / n) != h]
    if (root / ".sst-state.key").read_bytes() != state_key:
        lost.append(".sst-state.key")
    new = [n for n in after["complete"] if n not in previous]
    lost += [f"{n} (outputs differ from its manifest)" for n in new
             if not _outputs_intact(root / n)]
    _restore(cell, setup)
    if tmpfs and stage == "start":
        subprocess.run(["mount", "-o", f"remount,size={TMPFS_SIZE}", str(cell / "disk")],
                       check=True)
    again = _run(argv, env)
    final = snapshot(root)
    recovered = (again["status"] == 0 and any(r.startswith(NIGHT) for r in final["complete"])
                 and not (final["half_written"] or final["partial"] or final["staging"]))
    if tmpfs:
        subprocess.run(["umount", str(cell / "disk")], check=False)
    return {"stage": stage, "fault": fault, "run": faulty, "second_run": second,
            "orphaned_processes_ended": orphans, "root_after": after,
            "root_after_text": _describe(after), "lost": lost,
            "one_line": _one_line(faulty) and (second is None or _one_line(second)),
            "next_run": again, "next_run_root": _describe(final), "recovers": recovered,
            "disk_full_by": ("tmpfs (ENOSPC)" if tmpfs else "file-size limit (EFBIG)")
            if fault == "disk_full" else None}


def _cell_in_namespace(work: Path, stage: str, fault: str, scale: str, seed: int
                       ) -> dict[str, Any] | None:
    """A disk-full cell in a private mount namespace with its own tmpfs (None: no unshare)."""
    if shutil.which("unshare") is None:
        return None
    out = work / "cells" / f"{stage}-{fault}.json"
    out.unlink(missing_ok=True)
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", _python(),
                           __file__, "--in-namespace", f"{stage}:{fault}", "--work",
                           str(work), "--scale", scale, "--seed", str(seed)],
                          capture_output=True, text=True)
    if proc.returncode != 0 or not out.exists():
        print(f"  (no private tmpfs: {proc.stderr.strip().splitlines()[-1:]}; "
              "using a file-size limit)")
        return None
    return json.loads(out.read_text())


def _status(r: dict[str, Any]) -> str:
    s = r["run"]["status"]
    text = "killed" if s == -signal.SIGKILL else str(s)
    if r["second_run"]:
        text += f" / {r['second_run']['status']}"
    return text


def print_matrix(cells: list[dict[str, Any]]) -> None:
    print()
    head = ("stage", "fault", "exit", "lines", "error: last & only", "root after",
            "nothing lost", "next run")
    rows = []
    for c in cells:
        r = c["run"]
        err = "n/a" if r["status"] < 0 else ("yes" if r["status"] == 2 and c["one_line"]
                                             else "no error" if r["status"] == 0 else "NO")
        if c["second_run"]:
            s = c["second_run"]
            err += f" / {'yes' if s['status'] == 2 and _one_line(s) else 'NO'}"
        rows.append((c["stage"], c["fault"], _status(c), str(r["lines"]), err,
                     c["root_after_text"], "yes" if not c["lost"] else "NO: " + ", ".join(
                         c["lost"]), "recovers" if c["recovers"] else
                     f"NO ({c['next_run']['status']}: {c['next_run']['last'][:60]})"))
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
    for row in [head, tuple("-" * w for w in widths), *rows]:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(row, widths)) + " |")
    print()
    for c in cells:
        line = c["run"]["error"] or (c["run"]["last"] if c["run"]["status"] not in (0, 2)
                                     else "")
        if line:
            print(f"{c['stage']:>7} {c['fault']:<12} {line[:150]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    ap.add_argument("--faults", nargs="+", default=list(FAULTS), choices=FAULTS)
    ap.add_argument("--scale", default="small")
    ap.add_argument("--seed", type=int, default=41)
    ap.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    ap.add_argument("--in-namespace", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.in_namespace:      # re-run of one disk-full cell inside `unshare --mount`
        stage, fault = args.in_namespace.split(":")
        setup = prepare(args.work, args.scale, args.seed)
        result = run_cell(args.work, stage, fault, setup, tmpfs=True)
        (args.work / "cells" / f"{stage}-{fault}.json").write_text(json.dumps(result))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="sst-faults-"))
    t0 = time.perf_counter()
    setup = prepare(work, args.scale, args.seed)
    plan = [(s, f) for s in args.stages for f in args.faults]
    if "disk_full" in args.faults:
        plan.insert(0, ("start", "disk_full"))
    cells = []
    for stage, fault in plan:
        print(f"{stage} x {fault} ...", flush=True)
        result = _cell_in_namespace(work, stage, fault, args.scale, args.seed) \
            if fault == "disk_full" else None
        if result is None and not (stage == "start"):
            result = run_cell(work, stage, fault, setup, tmpfs=False)
        if result is not None:
            cells.append(result)
    print_matrix(cells)
    sys.path[:0] = [str(REPO), str(HERE)]
    from _common import write_result

    good = sum(c["one_line"] and not c["lost"] and c["recovers"] for c in cells)
    print(f"\n{good} of {len(cells)} cells: one line, nothing lost, next run recovers "
          f"({time.perf_counter() - t0:.0f} s; work folder {work})")
    path = write_result("faults", {"scale": args.scale, "seed": args.seed, "night": NIGHT,
                                   "cells": cells, "good_cells": good})
    print(f"written {path}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

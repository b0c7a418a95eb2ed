"""A real `sst-link run` whose writes start failing mid-run ends in one line, status 2,
nothing half-written, and the next run publishes the night."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def _sst(args: list[str], env: dict[str, str]) -> tuple[int, list[str]]:
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", *args], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    return proc.returncode, [line for line in proc.stdout.decode().splitlines()
                             if line.strip()]


def test_writes_failing_in_the_encode_stage_end_in_one_line(small_night: Path,
                                                            tmp_path: Path) -> None:
    root = tmp_path / "runs"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PREFECT_HOME": str(tmp_path / "prefect"),
           "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    args = ["run", "--extracts", str(small_night), "--out", str(root)]
    # the benchmark's hook: from the encode stage on, every write of the run fails (EFBIG)
    cell = {"root": str(root), "extracts": str(small_night), "ballast": ""}
    status, lines = _sst(args, {**env, "SST_FAULT_INJECTION": "encode:disk_full",
                                "SST_BENCH_CELL": json.dumps(cell)})
    assert status == 2, lines
    errors = [line for line in lines if line.startswith("error:")]
    assert errors == [lines[-1]], lines                # once, and last: no Prefect copies
    events = [line.split("] ", 1)[1] for line in lines if line.startswith("[")]
    assert "ingest started" in events and "encode started" in events, lines   # progress,
    assert not any(e.startswith("encode done") for e in events), lines        # then the error
    assert "a file could not grow (file-size limit) (EFBIG) in the encode stage" in errors[0]
    assert "no run folder was published" in errors[0]
    assert not any("Traceback" in line or "OSError" in line for line in lines), lines
    assert {p.name for p in root.iterdir()} <= {".agency-side", ".exchange", ".sst-run.lock",
                                                ".sst-state.key"}       # no run, no .partial
    assert not any((root / ".agency-side").iterdir()) and not any((root / ".exchange").iterdir())

    status, lines = _sst(args, env)                    # the disk freed: the night runs
    assert status == 0, lines
    assert [p.name[:8] for p in root.iterdir() if not p.name.startswith(".")] == ["20261125"]

"""Delivery completeness and night selection through `sst-link run`, after a normal night.

A DJS extract cut short (to half its bytes, or by its last 40 bytes) must stop the night in
one line with status 2 and publish nothing; a complete later night runs even when a file of
the night after it has arrived early, and running again publishes nothing new.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

NIGHT, LATER, EARLY = "20261125", "20261128", "20261129"
SEED = 11                                       # the small_night fixture's seed
ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: object) -> subprocess.CompletedProcess:
    """``sst-link`` in a process of its own, on the session's Prefect server."""
    from prefect.settings import get_current_settings

    env = {**os.environ, "PREFECT_API_URL": str(get_current_settings().api.url)}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *map(str, args)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=900)


def _deliver(source: Path, folder: Path, night: str) -> dict[str, Path]:
    """A night's three extracts into the delivery folder, their transfer an hour old."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for src in source.iterdir():
        if src.is_file():
            dst = folder / src.name
            shutil.copyfile(src, dst)
            os.utime(dst, (time.time() - 3600,) * 2)
            paths[src.name.split("_")[0].upper()] = dst
    assert sorted(paths) == ["DHS", "DJS", "DPSCS"] and all(night in p.name
                                                            for p in paths.values())
    return paths


def _published(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if not p.name.startswith("."))


@pytest.fixture(scope="module")
def normal_night(small_night: Path, prefect_harness,
                 tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A normal night run into an output root, and the same population's next night."""
    from pipeline.synth import generate_night

    base = tmp_path_factory.mktemp("delivery")
    later = base / "later"
    generate_night(later, seed=SEED, scale="small", night=LATER)
    folder, root = base / "in", base / "runs"
    _deliver(small_night, folder, NIGHT)
    done = _cli("run", "--extracts", folder, "--out", root)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [n[:8] for n in _published(root)] == [NIGHT]
    return {"in": folder, "root": root, "later": later}


def _next_night(normal_night: dict[str, Path], tmp_path: Path) -> tuple[Path, Path, dict]:
    folder, root = tmp_path / "in", tmp_path / "runs"
    shutil.copytree(normal_night["in"], folder)
    shutil.copytree(normal_night["root"], root)
    return folder, root, _deliver(normal_night["later"], folder, LATER)


@pytest.mark.parametrize("cut", ["half", "last_40_bytes"])
def test_a_truncated_djs_extract_stops_the_night_in_one_line(
        normal_night: dict[str, Path], tmp_path: Path, cut: str) -> None:
    folder, root, paths = _next_night(normal_night, tmp_path)
    before = _published(root)
    data = paths["DJS"].read_bytes()
    paths["DJS"].write_bytes(data[:len(data) // 2] if cut == "half" else data[:-40])
    os.utime(paths["DJS"], (time.time() - 3600,) * 2)
    done = _cli("run", "--extracts", folder, "--out", root)
    assert done.returncode == 2, (done.stdout[-2000:], done.stderr[-2000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: {paths['DJS']}: ") and "cut short" in lines[0]
    assert "Traceback" not in done.stdout + done.stderr
    assert _published(root) == before                           # nothing published
    assert not list(root.glob(".*.partial"))


def test_the_next_night_runs_past_an_early_file_and_a_rerun_is_nothing_new(
        normal_night: dict[str, Path], tmp_path: Path) -> None:
    folder, root, paths = _next_night(normal_night, tmp_path)
    shutil.copyfile(paths["DJS"], folder / f"djs_youth_{EARLY}.txt")   # tomorrow's, early
    first = json.loads((root / _published(root)[0] / "manifest.json").read_text())
    done = _cli("run", "--extracts", folder, "--out", root)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[0] == (f"night {LATER} (the newest complete night) in "
                                           f"{folder}; not yet: {EARLY} has only DJS")
    runs = _published(root)
    assert [n[:8] for n in runs] == [NIGHT, LATER]
    manifest = json.loads((root / runs[1] / "manifest.json").read_text())
    djs = manifest["delivery"]["agencies"]["DJS"]
    assert manifest["delivery"]["reference_night"] == NIGHT
    assert djs["rows"] == manifest["counts"]["DJS"]["rows_read"]
    assert djs["previous_rows"] == first["counts"]["DJS"]["rows_read"]
    assert djs["control_file"] is None and djs["accepted"] is False
    report = json.loads((root / runs[1] / "match_quality.json").read_text())
    volume = report["headline"]["volume"]
    assert [(n["night"], n["rows"]) for n in volume["nights"]] == [
        (NIGHT, {a: c["rows_read"] for a, c in first["counts"].items()}),
        (LATER, {a: c["rows_read"] for a, c in manifest["counts"].items()})]
    html = (root / runs[1] / "match_quality.html").read_text()
    assert "Rows delivered over recent nights" in html and f"{LATER} (tonight)" in html

    again = _cli("run", "--extracts", folder, "--out", root)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.strip() == (f"nothing new: night {LATER} (the newest complete night) "
                                    f"is already published in {root / runs[1]}; not yet: "
                                    f"{EARLY} has only DJS -- --force runs it again")
    assert again.stderr == "" and _published(root) == runs

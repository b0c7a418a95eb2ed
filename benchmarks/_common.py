"""Helpers shared by the benchmark scripts: synthetic data cache, peak memory, JSON out."""

from __future__ import annotations

import json
import os
import platform
import threading
import time
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DATA = HERE / "data"


def night_folder(scale: str, seed: int, night: str = "20261125",
                 profile: str = "baseline") -> Path:
    """Where a synthetic night is cached: the name carries a fingerprint of the generator's
    source, so a changed generator never serves a stale night, and the profile unless it is
    the baseline."""
    import hashlib

    source = b"".join(p.read_bytes() for p in sorted((HERE.parent / "pipeline" / "synth")
                                                     .glob("*.py")))
    tail = "" if profile == "baseline" else f"_{profile}"
    return DATA / f"{scale}_seed{seed}_{night}_{hashlib.sha256(source).hexdigest()[:8]}{tail}"


def synthetic_night(scale: str, seed: int, night: str = "20261125",
                    profile: str = "baseline") -> Path:
    """A synthetic night under benchmarks/data/, generated once and reused."""
    from pipeline.synth import generate_night

    folder = night_folder(scale, seed, night, profile)
    if not (folder / "truth" / "summary.json").exists():
        t0 = time.perf_counter()
        generate_night(folder, seed=seed, scale=scale, night=night, profile=profile)
        print(f"generated {scale} night (seed {seed}, {profile}) in "
              f"{time.perf_counter() - t0:.1f} s")
    return folder


class PeakRSS:
    """Samples this process's resident memory every 20 ms; ``peak_mb`` after the block."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> PeakRSS:
        self.peak = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)

    @property
    def peak_mb(self) -> float:
        return self.peak / 2**20


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30),
            "python": platform.python_version(), "platform": platform.platform()}


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Write ``benchmarks/results/<name>.json`` and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({**data, "machine": machine()}, indent=2) + "\n")
    return path

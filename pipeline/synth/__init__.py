"""Synthetic agency extracts with ground truth (``sst-link synth``).

Public API:
    generate_night(out_dir, *, seed=7, scale="small", night="20261125", bom=None,
                   profile="baseline") -> dict
    SCALES: the three population sizes ("small", "medium", "large").
    PROFILES: the synthetic-population profiles (see :mod:`pipeline.synth.profiles`).

The generator (numpy, pandas, pyarrow, scipy) is imported on first use, so that reading
the profiles (the CLI's help) stays cheap.
"""

from __future__ import annotations

from typing import Any

from .profiles import PROFILES, Profile, get_profile

__all__ = ["generate_night", "SCALES", "DHS_COLUMNS", "DJS_COLUMNS", "DPSCS_SCHEMA", "TRAP_TAGS",
           "DIRTY_REASONS", "PROFILES", "Profile", "get_profile"]

_FROM_GENERATE = {"generate_night", "SCALES", "DHS_COLUMNS", "DJS_COLUMNS", "DPSCS_SCHEMA",
                  "TRAP_TAGS", "DIRTY_REASONS"}


def __getattr__(name: str) -> Any:
    if name in _FROM_GENERATE:
        from . import generate

        return getattr(generate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

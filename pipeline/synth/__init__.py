"""Synthetic agency extracts with ground truth (``sst-link synth``).

Public API:
    generate_night(out_dir, *, seed=7, scale="small", night="20261125", bom=None) -> dict
    SCALES: the three population sizes ("small", "medium", "large").
"""

from .generate import (
           DHS_COLUMNS,
           DIRTY_REASONS,
           DJS_COLUMNS,
           DPSCS_SCHEMA,
           SCALES,
           TRAP_TAGS,
           generate_night,
)

__all__ = ["generate_night", "SCALES", "DHS_COLUMNS", "DJS_COLUMNS", "DPSCS_SCHEMA", "TRAP_TAGS",
           "DIRTY_REASONS"]

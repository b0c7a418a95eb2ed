"""Settings the contracts need (a frozen dataclass; ``pipeline.config`` fills it from TOML)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .normalize import PLACEHOLDER_SSNS


@dataclass(frozen=True)
class ContractSettings:
    """Row rules shared by the three contracts.

    Attributes:
        earliest_dob: a date of birth before this day is ``bad_date``.
        placeholder_ssns: SSNs read as missing, beside the structural placeholders (area
            000, 666 or 9xx, group 00, serial 0000) that are always missing.
    """

    earliest_dob: date = date(1900, 1, 1)
    placeholder_ssns: tuple[str, ...] = PLACEHOLDER_SSNS

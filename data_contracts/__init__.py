"""Data contracts for the three agency extracts (the root of the import graph).

Public surface::

    load_extract(path, agency, night, settings) -> ContractResult
    find_extracts(folder, night=None) -> (night, {agency: path})
    record_roles(persons) -> {column: pa.Array}   # the encoded extract's declared columns

Layouts: ``../shared/specs/agency_extracts.md``. A row that breaks its contract is
quarantined with a :class:`QuarantineReason`; a file that breaks it as a whole raises
:class:`ContractError`. The person frame's columns are :data:`PERSON_COLUMNS`.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

from ._contract import AGENCIES, PERSON_COLUMNS, PERSON_SCHEMA, QUARANTINE_COLUMNS, ContractResult
from .agencies import dhs, djs, dpscs
from .errors import ConfigError, ContractError, QuarantineLimitError, RunFolderError, SstError
from .reasons import QuarantineReason
from .roles import RecordRoles, declared_columns
from .settings import ContractSettings

__all__ = [
    "AGENCIES", "EXTRACT_FILES", "PERSON_COLUMNS", "PERSON_SCHEMA", "QUARANTINE_COLUMNS",
    "ConfigError", "ContractError", "ContractResult", "ContractSettings",
    "QuarantineLimitError", "QuarantineReason", "RecordRoles", "RunFolderError", "SstError",
    "DECLARATIONS", "extract_path", "find_extracts", "load_extract", "parse_night",
    "record_roles",
]

EXTRACT_FILES: dict[str, str] = {
    "DHS": "dhs_clients_{night}.csv",
    "DJS": "djs_youth_{night}.txt",
    "DPSCS": "dpscs_offenders_{night}.parquet",
}
"""File name of each agency's extract; ``{night}`` is ``YYYYMMDD``."""

_READERS = {"DHS": dhs.read, "DJS": djs.read, "DPSCS": dpscs.read}

DECLARATIONS: dict[str, RecordRoles] = {"DHS": dhs.ROLES, "DJS": djs.ROLES,
                                        "DPSCS": dpscs.ROLES}
"""What each agency's records are (:class:`RecordRoles`), as its contract declares it."""


def record_roles(persons: pd.DataFrame) -> dict[str, pa.Array]:
    """The encoded extract's ``role``, ``id_unique``, ``group_distinct`` and
    ``address_priority`` columns for a person frame, from its agency's declaration
    (:data:`DECLARATIONS`; an agency without one gets none: roles unknown, nothing
    unique)."""
    return declared_columns(persons, DECLARATIONS)


def parse_night(night: str) -> date:
    """``YYYYMMDD`` to a date, or a one-line :class:`ContractError`."""
    try:
        if not re.fullmatch(r"\d{8}", night):
            raise ValueError
        return datetime.strptime(night, "%Y%m%d").date()
    except ValueError:
        raise ContractError(f"night {night!r} is not a date as YYYYMMDD",
                            hint="pass --night like 20261125") from None


def extract_path(folder: Path, agency: str, night: str) -> Path:
    """Where an agency's extract for a night is expected."""
    return Path(folder) / EXTRACT_FILES[agency].format(night=night)


def find_extracts(folder: Path, night: str | None = None) -> tuple[str, dict[str, Path]]:
    """The night to run and each agency's extract path.

    Args:
        folder: the extracts folder.
        night: ``YYYYMMDD``; by default the newest night for which all three extracts are
            present (else the newest night seen, so the missing file is named).

    Returns:
        ``(night, {agency: path})``. Paths are returned even when a file is missing, so
        the contract reports each missing file by name.

    Raises:
        ContractError: the folder is missing or holds no extract at all.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ContractError("extracts folder does not exist", where=str(folder),
                            hint="pass the folder holding the three agency extracts")
    if night is None:
        per_agency = []
        for template in EXTRACT_FILES.values():
            pattern = re.escape(template).replace(r"\{night\}", r"(\d{8})")
            per_agency.append({m.group(1) for p in folder.iterdir()
                               if (m := re.fullmatch(pattern, p.name))})
        seen = set().union(*per_agency)
        if not seen:
            raise ContractError("no agency extract found", where=str(folder),
                                hint="expected files like " + ", ".join(
                                    t.format(night="YYYYMMDD") for t in EXTRACT_FILES.values()))
        complete = set.intersection(*per_agency)
        night = max(complete) if complete else max(seen)
    parse_night(night)
    return night, {a: extract_path(folder, a, night) for a in AGENCIES}


def load_extract(path: Path, agency: str, night: date,
                 settings: ContractSettings = ContractSettings()) -> ContractResult:
    """Read one agency extract through its contract.

    Args:
        path: the extract file.
        agency: ``DHS``, ``DJS`` or ``DPSCS``.
        night: the night of the extract (dates after it are ``future_date``).
        settings: row rules.

    Returns:
        Person records, quarantined rows and counts.

    Raises:
        ContractError: the file as a whole breaks the contract.
    """
    if agency not in _READERS:
        raise ContractError(f"unknown agency {agency!r}", hint="use DHS, DJS or DPSCS")
    return _READERS[agency](Path(path), night, settings)

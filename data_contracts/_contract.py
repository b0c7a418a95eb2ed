"""Shared machinery of the three agency contracts: row checks, reasons, person frame.

Each agency module declares a pandera schema whose checks are *named by quarantine
reason* (``bad_id``, ``bad_date``, ...). :func:`row_reasons` validates a frame lazily and
turns pandera's failure cases into one reason per failing row (first in precedence order).
Failure values are never read: pandera's messages quote them, so its exceptions are caught
here and never logged or re-raised.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow

from . import normalize as nz
from .reasons import MAX_FIELD_CHARS, PRECEDENCE, QuarantineReason

AGENCIES: tuple[str, ...] = ("DHS", "DJS", "DPSCS")

QUARANTINE_COLUMNS: tuple[str, ...] = ("agency", "line_number", "record_id", "reason")
"""``quarantine.csv``: where the row is and why, and no other field."""

PERSON_COLUMNS: tuple[str, ...] = (
    "agency", "record_id", "record_kind", "line_number", "family_group", "relationship",
    "first_name", "middle_name", "last_name", "name_suffix", "first_name_keys",
    "alias_first_names", "alias_last_names", "dob", "sex", "ssn", "ssn_status",
    "addr_street", "addr_number", "addr_street_name", "addr_unit", "addr_city",
    "addr_state", "addr_zip5", "activity_date", "agency_status",
)
"""Columns of the person frame every contract returns (documented in README.md)."""

_STR = pd.StringDtype("pyarrow")
LIST_OF_STRINGS = pd.ArrowDtype(pyarrow.list_(pyarrow.string()))
"""Name lists (nickname keys, aliases) stay Arrow lists: columnar all the way to the encoder."""
_REASON_RANK = {r.value: i for i, r in enumerate(PRECEDENCE)}
_CHECK_TO_REASON = {"field_uniqueness": QuarantineReason.DUPLICATE_ID.value,
                    **{r.value: r.value for r in QuarantineReason}}

_PERSON_CHECKS: dict[str, pa.Column] = {
        "agency": pa.Column(_STR, pa.Check.isin(AGENCIES)),
        "record_id": pa.Column(_STR, nullable=False),
        "record_kind": pa.Column(_STR, pa.Check.isin(("primary", "guardian", "contact"))),
        "line_number": pa.Column("int64", pa.Check.ge(1)),
        "family_group": pa.Column(_STR, nullable=False),
        "relationship": pa.Column(_STR, nullable=True),
        **{c: pa.Column(_STR, nullable=True)
           for c in ("first_name", "middle_name", "last_name", "ssn", "addr_street",
                     "addr_number", "addr_street_name", "addr_unit", "addr_city",
                     "addr_state", "agency_status")},
        "name_suffix": pa.Column(_STR, pa.Check.isin(nz.SUFFIXES), nullable=True),
        "first_name_keys": pa.Column(LIST_OF_STRINGS),
        "alias_first_names": pa.Column(LIST_OF_STRINGS),
        "alias_last_names": pa.Column(LIST_OF_STRINGS),
        "dob": pa.Column("datetime64[ns]", nullable=True),
        "sex": pa.Column(_STR, pa.Check.isin(("M", "F")), nullable=True),
        "ssn_status": pa.Column(_STR, pa.Check.isin(("ok", "missing", "placeholder",
                                                     "malformed"))),
        "addr_zip5": pa.Column(_STR, pa.Check.str_matches(r"^\d{5}$"), nullable=True),
        "activity_date": pa.Column("datetime64[ns]", nullable=True),
}
PERSON_SCHEMA = pa.DataFrameSchema(
    {c: _PERSON_CHECKS[c] for c in PERSON_COLUMNS},
    strict=True, ordered=True,
    unique=["agency", "record_id"],
)
"""The typed person frame: what every agency contract hands to the encoder."""


@dataclass
class ContractResult:
    """The outcome of reading one agency extract through its contract.

    Attributes:
        agency: ``DHS``, ``DJS`` or ``DPSCS``.
        path: the extract read.
        persons: person records (derived guardians and contacts included), columns
            :data:`PERSON_COLUMNS`, validated against :data:`PERSON_SCHEMA`.
        quarantine: rows set aside, columns :data:`QUARANTINE_COLUMNS`.
        rows_read: data rows in the extract.
        sha256: fingerprint of the extract's bytes.
        field_issues: counts of field-level problems that did not quarantine a row
            (placeholder SSNs set to missing, unreadable guardian birth dates, ...).
    """

    agency: str
    path: Path
    persons: pd.DataFrame
    quarantine: pd.DataFrame
    rows_read: int
    sha256: str
    field_issues: dict[str, int] = field(default_factory=dict)

    @property
    def quarantined_share(self) -> float:
        """Share of the extract's data rows that were quarantined."""
        return len(self.quarantine) / self.rows_read if self.rows_read else 0.0

    def quarantine_counts(self) -> dict[str, int]:
        """Quarantined rows per reason, in precedence order, zero counts left out."""
        counts = self.quarantine["reason"].value_counts()
        return {r.value: int(counts[r.value]) for r in PRECEDENCE if r.value in counts}

    def summary(self) -> dict[str, object]:
        """Counts only (no record value): safe for logs, manifests and Prefect."""
        return {
            "agency": self.agency, "file": self.path.name, "sha256": self.sha256,
            "rows_read": self.rows_read, "rows_quarantined": len(self.quarantine),
            "quarantined_share": round(self.quarantined_share, 6),
            "quarantine_by_reason": self.quarantine_counts(),
            "records_out": len(self.persons),
            "records_by_kind": {k: int(v) for k, v in
                                self.persons["record_kind"].value_counts().sort_index().items()},
            "field_issues": dict(self.field_issues),
        }


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 8 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 23), b""):
            h.update(block)
    return h.hexdigest()


# --- checks named by reason -------------------------------------------------------------

def id_check(pattern: str) -> pa.Check:
    """Record id in its layout's format (``bad_id``)."""
    return pa.Check(lambda s: s.fillna("").str.fullmatch(pattern).fillna(False).astype(bool),
                    name=QuarantineReason.BAD_ID.value)


def as_local_date(s: pd.Series) -> pd.Series:
    """Typed dates or timestamps as naive midnight dates (aware ones in Maryland time).
    A value ``datetime64[ns]`` cannot hold (before 1678, after 2262) becomes NaT: the
    date checks quarantine it (``bad_date``) rather than load it as a blank."""
    d = pd.to_datetime(s, errors="coerce")
    if getattr(d.dt, "tz", None) is not None:
        d = d.dt.tz_convert("America/New_York").dt.tz_localize(None)
    d = d.where((d >= pd.Timestamp.min) & (d <= pd.Timestamp.max))
    return d.dt.normalize().astype("datetime64[ns]")


def date_checks(fmt: str | None, night: date, earliest: date) -> list[pa.Check]:
    """A date column: real date in format and not before ``earliest`` (``bad_date``), not
    after the night (``future_date``). Blank is allowed. ``fmt`` None: already typed."""

    def parsed(s: pd.Series) -> tuple[pd.Series, pd.Series]:
        if fmt is None:   # typed: a value present but beyond datetime64[ns] is invalid
            d = as_local_date(s)
            return d, pd.Series(s.notna().to_numpy() & d.isna().to_numpy(), index=s.index)
        d, invalid = nz.parse_date(s, fmt)
        return d.dt.normalize(), invalid

    def ok_date(s: pd.Series) -> pd.Series:
        d, invalid = parsed(s)
        return ~(invalid.astype(bool) | (d < pd.Timestamp(earliest)).fillna(False))

    def not_future(s: pd.Series) -> pd.Series:
        d, _ = parsed(s)
        return ~(d > pd.Timestamp(night)).fillna(False).astype(bool)

    return [pa.Check(ok_date, name=QuarantineReason.BAD_DATE.value),
            pa.Check(not_future, name=QuarantineReason.FUTURE_DATE.value)]


def name_check(*columns: str) -> pa.Check:
    """At least one of the name columns is non-blank (``missing_name``)."""

    def has_name(df: pd.DataFrame) -> pd.Series:
        present = np.zeros(len(df), dtype=bool)
        for c in columns:
            present |= df[c].fillna("").astype(str).str.strip().ne("").to_numpy()
        return pd.Series(present, index=df.index)

    return pa.Check(has_name, name=QuarantineReason.MISSING_NAME.value)


def row_reasons(frame: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.Series:
    """One quarantine reason per row of ``frame`` (``<NA>`` where the row is fine).

    Args:
        frame: raw rows, default RangeIndex.
        schema: checks named by :class:`QuarantineReason` value (uniqueness counts as
            ``duplicate_id``).

    Returns:
        A string Series aligned with ``frame``.
    """
    reasons = pd.Series(pd.NA, index=frame.index, dtype=_STR)
    try:
        schema.validate(frame, lazy=True)
        return reasons
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases[["check", "index"]].dropna()
    fc = fc.assign(reason=fc["check"].map(_CHECK_TO_REASON))
    unknown = fc["reason"].isna()
    if unknown.any():  # a check that is not a reason is a bug in the schema, not bad data
        raise RuntimeError(f"unexpected contract checks: {sorted(set(fc.loc[unknown, 'check']))}")
    fc = fc.assign(rank=fc["reason"].map(_REASON_RANK), index=fc["index"].astype("int64"))
    best = fc.sort_values("rank", kind="stable").drop_duplicates("index")
    reasons.loc[best["index"].to_numpy()] = best["reason"].to_numpy()
    return reasons


def too_long(raw: pd.DataFrame) -> np.ndarray:
    """Per row, whether any text field is longer than MAX_FIELD_CHARS characters."""
    out = np.zeros(len(raw), dtype=bool)
    for name in raw.columns:
        col = raw[name]
        if pd.api.types.is_string_dtype(col.dtype) or col.dtype == object:
            length = col.astype(_STR).str.len().fillna(0).to_numpy()
            out |= length > MAX_FIELD_CHARS
    return out


def split_rows(agency: str, raw: pd.DataFrame, line_number: np.ndarray,
               schema: pa.DataFrameSchema, id_column: str, id_pattern: str,
               set_aside: pd.DataFrame | None = None
               ) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Apply a layout's row rules: the valid rows (re-indexed), their line numbers, and the
    quarantine rows. Rows set aside while reading (``set_aside``) make every parsed row
    with the same id a ``duplicate_id`` too. A quarantined row's id is reported only when
    it has the layout's id format: whatever else sits in an id column (an SSN, a name)
    never reaches the quarantine list."""
    reasons = row_reasons(raw, schema)
    long = too_long(raw)
    if long.any():   # before any reason ranked below it
        later = reasons.map(_REASON_RANK).fillna(len(_REASON_RANK)).to_numpy() > \
            _REASON_RANK[QuarantineReason.FIELD_TOO_LONG.value]
        reasons = reasons.mask(pd.Series(long & later, index=reasons.index),
                               QuarantineReason.FIELD_TOO_LONG.value)
    if set_aside is not None and len(set_aside):
        reasons = reasons.mask(reasons.isna() & set_aside_duplicates(
            raw[id_column], set_aside["record_id"]), QuarantineReason.DUPLICATE_ID.value)
    bad = reasons.notna().to_numpy()
    ids = raw.loc[bad, id_column].fillna("")
    ids = ids.where(ids.str.fullmatch(id_pattern).fillna(False).astype(bool), "")
    q = quarantine_frame(agency, line_number[bad], ids, reasons[bad])
    return raw.loc[~bad].reset_index(drop=True), line_number[~bad], q


def quarantine_frame(agency: str, line_number: np.ndarray, record_id: pd.Series,
                     reason: pd.Series) -> pd.DataFrame:
    """Assemble quarantine rows in :data:`QUARANTINE_COLUMNS`."""
    return pd.DataFrame({
        "agency": pd.Series(agency, index=range(len(reason)), dtype=_STR),
        "line_number": np.asarray(line_number, dtype=np.int64),
        "record_id": pd.Series(np.asarray(record_id.fillna(""), dtype=object), dtype=_STR),
        "reason": pd.Series(np.asarray(reason, dtype=object), dtype=_STR),
    })


def finish(agency: str, path: Path, persons: pd.DataFrame, quarantine: list[pd.DataFrame],
           rows_read: int, field_issues: dict[str, int], sha256: str | None = None
           ) -> ContractResult:
    """Order, type and validate the person frame; sort the quarantine; fingerprint.
    ``sha256``: of the bytes the reader parsed (read once, so a file replaced or deleted
    meanwhile cannot be fingerprinted as something else or fail here)."""
    persons = persons.reset_index(drop=True)
    for c in PERSON_COLUMNS:
        if c not in persons:
            persons[c] = pd.NA
    persons = persons[list(PERSON_COLUMNS)]
    for c in PERSON_COLUMNS:
        if c in ("line_number",):
            persons[c] = persons[c].astype("int64")
        elif c in ("dob", "activity_date"):
            persons[c] = pd.to_datetime(persons[c]).astype("datetime64[ns]")
        elif c in ("first_name_keys", "alias_first_names", "alias_last_names"):
            values = persons[c]
            persons[c] = values if values.dtype == LIST_OF_STRINGS else pd.Series(
                pd.arrays.ArrowExtensionArray(pyarrow.array(
                    values.to_numpy(dtype=object), type=pyarrow.list_(pyarrow.string()),
                    from_pandas=True)), index=values.index)
        else:
            persons[c] = persons[c].astype(_STR)
    try:
        persons = PERSON_SCHEMA.validate(persons)
    except pa.errors.SchemaError as exc:  # our bug, not bad data: report without values
        raise RuntimeError(f"{agency} person frame breaks PERSON_SCHEMA: column "
                           f"{exc.schema.name if exc.schema else '?'}, {exc.reason_code}") from None
    q = pd.concat([x for x in quarantine if len(x)] or [quarantine_frame(
        agency, np.array([], dtype=np.int64), pd.Series([], dtype=object),
        pd.Series([], dtype=object))], ignore_index=True)
    q = q[list(QUARANTINE_COLUMNS)].astype({"agency": _STR, "line_number": "int64",
                                             "record_id": _STR, "reason": _STR})
    q = q.sort_values("line_number", kind="stable").reset_index(drop=True)
    return ContractResult(agency=agency, path=path, persons=persons, quarantine=q,
                          rows_read=rows_read, sha256=sha256 or sha256_file(path),
                          field_issues={k: int(v) for k, v in field_issues.items() if v})


RELATIONSHIP_SEX: dict[str, str] = {
    "MOTHER": "F", "GRANDMOTHER": "F", "AUNT": "F", "SISTER": "F", "DAUGHTER": "F",
    "FATHER": "M", "GRANDFATHER": "M", "UNCLE": "M", "BROTHER": "M", "SON": "M",
}
"""Sex implied by a guardian's or contact's relationship (others: unknown)."""


def empty_tuples(n: int) -> pd.Series:
    """A column of empty tuples (no aliases / no nickname keys)."""
    out = np.empty(n, dtype=object)
    out[:] = [()] * n
    return pd.Series(out)


def set_aside_duplicates(ids: pd.Series, set_aside_ids: pd.Series) -> pd.Series:
    """Rows whose id is also carried by a row set aside while reading (bad encoding or
    column count): a duplicated id quarantines every row that carries it."""
    taken = set(set_aside_ids.dropna().astype(str).str.strip()) - {""}
    if not taken:
        return pd.Series(False, index=ids.index)
    return ids.fillna("").astype(str).str.strip().isin(taken)

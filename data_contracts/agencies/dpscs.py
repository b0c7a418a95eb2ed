"""DPSCS contract: ``dpscs_offenders_YYYYMMDD.parquet`` (Apache Parquet, typed columns).

A family emergency contact (any relationship but FRIEND and OTHER) becomes a person record
of its own (``<sid>#contact``) in the offender's family group. Aliases (``LAST, FIRST``)
stay on the offender's record as alias name lists. Line numbers are 1-based row numbers.
"""

from __future__ import annotations

import hashlib
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.parquet as pq

from .. import normalize as nz
from .._contract import (
    RELATIONSHIP_SEX,
    ContractResult,
    as_local_date,
    date_checks,
    empty_tuples,
    finish,
    id_check,
    name_check,
    split_rows,
)
from .._text import read_bytes
from ..errors import ContractError
from ..roles import PARENTAL, RecordRoles
from ..settings import ContractSettings

AGENCY = "DPSCS"
ROLES = RecordRoles(roles={"primary": "adult", "contact": PARENTAL},
                    primary_ids_unique=True, groups_distinct=True, address_priority=0)
"""An offender is an adult in the department's records; a contact named as a parent or
grandparent is a generation above. A sid names one person, and an offender and the
offender's contact are different people."""
COLUMNS: dict[str, str] = {
    "sid": "string", "full_name": "string", "aliases": "list<string>", "dob": "date32",
    "sex": "string", "ssn": "string", "address_street": "string", "address_city": "string",
    "address_state": "string", "address_zip": "string", "status": "string",
    "emergency_contact_name": "string", "emergency_contact_relationship": "string",
    "status_date": "timestamp",
}
NON_FAMILY = ("FRIEND", "OTHER")
ID_PATTERN = r"\d+"


def _is_text(t: pa_arrow.DataType) -> bool:
    """string, large_string, or a dictionary of either (pandas categoricals); null."""
    if pa_arrow.types.is_dictionary(t):
        t = t.value_type
    return (pa_arrow.types.is_string(t) or pa_arrow.types.is_large_string(t)
            or pa_arrow.types.is_null(t))


def _type_ok(field: pa_arrow.Field, expected: str) -> bool:
    t = field.type
    return {
        "string": _is_text(t),
        "list<string>": (pa_arrow.types.is_list(t) or pa_arrow.types.is_large_list(t))
        and _is_text(t.value_type),
        "date32": pa_arrow.types.is_date(t),
        "timestamp": pa_arrow.types.is_timestamp(t) or pa_arrow.types.is_date(t),
    }[expected]


_STANDARD = {"string": pa_arrow.string(), "list<string>": pa_arrow.list_(pa_arrow.string())}


def _standardize(column: pa_arrow.ChunkedArray, expected: str) -> pa_arrow.ChunkedArray:
    """Other writers' equivalent types (large strings and lists, dictionaries) as the
    layout's own."""
    if expected not in _STANDARD:
        return column
    t = column.type
    if expected == "string" and pa_arrow.types.is_dictionary(t):
        column = column.cast(t.value_type)
    if expected == "list<string>" and pa_arrow.types.is_dictionary(t.value_type):
        column = pa_arrow.chunked_array(
            [pa_arrow.ListArray.from_arrays(c.offsets, c.values.cast(t.value_type.value_type))
             if len(c) else pa_arrow.array([], _STANDARD[expected]) for c in column.chunks])
    return column.cast(_STANDARD[expected])


def read_table(path: Path) -> tuple[pa_arrow.Table, str]:
    """Open the parquet file and check its columns and types (file-level contract).

    The file is read once (its bytes are fingerprinted and parsed), so a file deleted or
    replaced meanwhile cannot fail half-way. A damaged file is refused whatever pyarrow
    raises on it (a flipped byte in the footer can even give a UnicodeDecodeError).

    Returns:
        The table, its columns in the layout's types, and the SHA-256 of the bytes read.
    """
    data = read_bytes(path)
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        schema = pq.read_schema(pa_arrow.BufferReader(data))
    except Exception as exc:        # damaged input: any parser error is the file's fault
        kind = "empty" if not data else "not a readable parquet file"
        raise ContractError(f"extract file is {kind} ({type(exc).__name__})", where=str(path),
                            hint="ask the agency to resend tonight's extract") from None
    names = list(schema.names)
    missing = [c for c in COLUMNS if c not in names]
    extra = [c for c in names if c not in COLUMNS]
    if missing or extra:
        detail = "; ".join(filter(None, [f"missing {', '.join(missing)}" if missing else "",
                                         f"unexpected {', '.join(extra)}" if extra else ""]))
        raise ContractError(f"columns do not match the layout ({detail})", where=str(path),
                            hint="the file must use the columns of specs/agency_extracts.md")
    wrong = [f"{c} is {schema.field(c).type}, expected {t}" for c, t in COLUMNS.items()
             if not _type_ok(schema.field(c), t)]
    if wrong:
        raise ContractError(f"column types do not match the layout ({'; '.join(wrong)})",
                            where=str(path), hint="the file must use the types of the layout")
    try:
        table = pq.read_table(pa_arrow.BufferReader(data), columns=list(COLUMNS))
        table = pa_arrow.table({c: _standardize(table.column(c), t)
                                for c, t in COLUMNS.items()})
        table.validate(full=True)       # e.g. strings that are not UTF-8
    except Exception as exc:        # damaged input, as above
        raise ContractError(f"extract file cannot be read ({type(exc).__name__})",
                            where=str(path), hint="ask the agency to resend it") from None
    if table.num_rows == 0:
        raise ContractError("extract file has no rows", where=str(path),
                            hint="a nightly extract is a full snapshot; ask for a resend")
    return table, sha256


def raw_schema(night: date, settings: ContractSettings) -> pa.DataFrameSchema:
    """Row rules of the DPSCS layout, each check named by its quarantine reason."""
    return pa.DataFrameSchema(
        {
            "sid": pa.Column(checks=id_check(ID_PATTERN), unique=True),
            "dob": pa.Column(checks=date_checks(None, night, settings.earliest_dob),
                             nullable=True),
            "status_date": pa.Column(checks=date_checks(None, night, settings.earliest_dob),
                                     nullable=True),
        },
        checks=[name_check("full_name")],
    )


def _aliases(aliases: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Alias lists (``LAST, FIRST``) as tuples of cleaned first and last names."""
    firsts, lasts = empty_tuples(len(aliases)), empty_tuples(len(aliases))
    flat = aliases.explode().dropna()
    flat = flat[flat.astype(str).str.strip() != ""]
    if len(flat):
        parsed = nz.parse_full_name(flat.astype(str).reset_index(drop=True), order="last_first")
        parsed.index = flat.index
        for col, out in (("first_name", firsts), ("last_name", lasts)):
            grouped = parsed[col].dropna().astype(str).groupby(level=0).agg(tuple)
            out.iloc[grouped.index.to_numpy()] = grouped.to_numpy()
    return firsts, lasts


def read(path: Path, night: date, settings: ContractSettings = ContractSettings()
         ) -> ContractResult:
    """Read a DPSCS extract into offender and contact person records and quarantine.

    Args:
        path: ``dpscs_offenders_<night>.parquet``.
        night: the extract's night; later dates are ``future_date``.
        settings: row rules.

    Returns:
        Person records (offenders, then family contacts) and quarantine.

    Raises:
        ContractError: missing or unreadable file, wrong columns or types, no rows.
    """
    table, sha256 = read_table(path)
    # dates as datetime64[ms], not Python dates: a date32 past year 9999 must reach the
    # date checks (bad_date), not fail the conversion
    raw = table.to_pandas(types_mapper={pa_arrow.string(): pd.StringDtype("pyarrow")}.get,
                          date_as_object=False)
    # A null sid is a bad id, not a value pandera may skip as null.
    raw["sid"] = raw["sid"].astype(pd.StringDtype("pyarrow")).fillna("")
    line_number = np.arange(1, len(raw) + 1, dtype=np.int64)
    v, lines, q = split_rows(AGENCY, raw, line_number, raw_schema(night, settings), "sid",
                             ID_PATTERN)
    sid = v["sid"].str.strip()
    family = "DPSCS:" + sid

    street = nz.normalize_street(v["address_street"])
    address = pd.DataFrame({**{c: street[c] for c in street.columns},
                            "addr_city": nz.clean_text(v["address_city"]),
                            "addr_state": nz.clean_text(v["address_state"]),
                            "addr_zip5": nz.zip5(v["address_zip"])})
    status_date = as_local_date(v["status_date"])
    status = nz.clean_text(v["status"])
    name = nz.parse_full_name(v["full_name"], order="last_first")
    ssn, ssn_status = nz.normalize_ssn(v["ssn"], settings.placeholder_ssns)
    alias_first, alias_last = _aliases(v["aliases"])
    offender = pd.DataFrame({
        "agency": AGENCY, "record_id": sid, "record_kind": "primary", "line_number": lines,
        "family_group": family, "relationship": "SELF",
        **{c: name[c] for c in ("first_name", "middle_name", "last_name", "name_suffix")},
        "alias_first_names": alias_first.to_numpy(), "alias_last_names": alias_last.to_numpy(),
        "dob": as_local_date(v["dob"]), "sex": nz.normalize_sex(v["sex"]),
        "ssn": ssn, "ssn_status": ssn_status,
        **address, "activity_date": status_date, "agency_status": status,
    })
    relationship = nz.clean_text(v["emergency_contact_relationship"])
    contact_name = nz.parse_full_name(v["emergency_contact_name"], order="auto")
    is_family = (relationship.notna() & ~relationship.isin(NON_FAMILY)
                 & (contact_name["first_name"].notna() | contact_name["last_name"].notna())
                 ).to_numpy(dtype=bool)
    contact = pd.DataFrame({
        "agency": AGENCY, "record_id": sid + "#contact", "record_kind": "contact",
        "line_number": lines, "family_group": family, "relationship": relationship,
        **{c: contact_name[c] for c in ("first_name", "middle_name", "last_name",
                                        "name_suffix")},
        "dob": pd.NaT, "sex": relationship.map(RELATIONSHIP_SEX).astype("string"),
        "ssn": pd.NA, "ssn_status": "missing",
        # A contact's address is unknown: the offender's is not assumed to be theirs.
        "activity_date": status_date, "agency_status": status,
    }).loc[is_family]
    contact["alias_first_names"] = empty_tuples(len(contact)).to_numpy()
    contact["alias_last_names"] = empty_tuples(len(contact)).to_numpy()
    with warnings.catch_warnings():  # all-NA contact columns; finish() sets every dtype
        warnings.simplefilter("ignore", FutureWarning)
        persons = pd.concat([offender, contact], ignore_index=True)
    persons["first_name_keys"] = nz.nickname_keys(persons["first_name"]).to_numpy()
    issues = {"ssn_placeholder": int((ssn_status == "placeholder").sum()),
              "ssn_malformed": int((ssn_status == "malformed").sum())}
    return finish(AGENCY, path, persons, [q], len(raw), issues, sha256=sha256)

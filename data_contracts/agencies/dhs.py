"""DHS contract: ``dhs_clients_YYYYMMDD.csv`` (comma, header, double quotes, UTF-8 with
legitimate Windows-1252 rows, optional BOM)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from .. import normalize as nz
from .._contract import (
    ContractResult,
    date_checks,
    empty_tuples,
    finish,
    id_check,
    name_check,
    split_rows,
)
from .._text import read_delimited
from ..roles import RecordRoles
from ..settings import ContractSettings

AGENCY = "DHS"
ROLES = RecordRoles(
    roles={"primary": {"CHILD": "child", "OTHER CHILD": "child", "OTHER ADULT": "adult"}},
    primary_ids_unique=False, groups_distinct=False, address_priority=1)
"""A case's children are its youngest generation (of any age), an ``OTHER ADULT`` an adult;
a head or spouse may be of any age. A client id is unique per person in intent only (one
person sometimes has two, in one case or two). A case's address is the household's
residence of record, kept current for its benefits: it wins a tie between a family's
equally recent addresses (``../shared/specs/agency_extracts.md``, *Community*)."""
COLUMNS: tuple[str, ...] = (
    "client_id", "case_id", "case_role", "first_name", "middle_name", "last_name",
    "name_suffix", "dob", "sex", "ssn", "addr_street", "addr_city", "addr_state",
    "addr_zip", "program", "last_activity_date",
)
ID_PATTERN = r"C\d{9}"
CASE_PATTERN = r"K\d{8}"
DATE_FORMAT = "%m/%d/%Y"


def raw_schema(night: date, settings: ContractSettings) -> pa.DataFrameSchema:
    """Row rules of the DHS layout, each check named by its quarantine reason."""
    return pa.DataFrameSchema(
        {
            "client_id": pa.Column(checks=id_check(ID_PATTERN), unique=True),
            "case_id": pa.Column(checks=id_check(CASE_PATTERN)),
            "dob": pa.Column(checks=date_checks(DATE_FORMAT, night, settings.earliest_dob)),
            "last_activity_date": pa.Column(
                checks=date_checks(DATE_FORMAT, night, settings.earliest_dob)),
        },
        checks=[name_check("first_name", "last_name")],
    )


def read(path: Path, night: date, settings: ContractSettings = ContractSettings()
         ) -> ContractResult:
    """Read a DHS extract into person records and quarantined rows.

    Args:
        path: ``dhs_clients_<night>.csv``.
        night: the extract's night; later dates are ``future_date``.
        settings: row rules.

    Returns:
        Person records (one per valid row; ``family_group`` is the case) and quarantine.

    Raises:
        ContractError: the file as a whole breaks the contract.
    """
    rows = read_delimited(path, columns=COLUMNS, delimiter=",", quoted=True,
                          id_pattern=ID_PATTERN)
    raw = rows.frame
    v, lines, q = split_rows(AGENCY, raw, rows.line_number, raw_schema(night, settings),
                             "client_id", ID_PATTERN, rows.quarantine)

    last, suffix_in_last = nz.split_suffix(nz.clean_name(v["last_name"]))
    first = nz.clean_name(v["first_name"])
    ssn, ssn_status = nz.normalize_ssn(v["ssn"], settings.placeholder_ssns)
    street = nz.normalize_street(v["addr_street"])
    persons = pd.DataFrame({
        "agency": AGENCY,
        "record_id": v["client_id"].str.strip(),
        "record_kind": "primary",
        "line_number": lines,
        "family_group": "DHS:" + v["case_id"].str.strip(),
        "relationship": nz.clean_text(v["case_role"]),
        "first_name": first,
        "middle_name": nz.clean_name(v["middle_name"]),
        "last_name": last,
        "name_suffix": nz.normalize_suffix(v["name_suffix"]).fillna(suffix_in_last),
        "first_name_keys": nz.nickname_keys(first),
        "dob": nz.parse_date(v["dob"], DATE_FORMAT)[0],
        "sex": nz.normalize_sex(v["sex"]),
        "ssn": ssn,
        "ssn_status": ssn_status,
        **{c: street[c] for c in street.columns},
        "addr_city": nz.clean_text(v["addr_city"]),
        "addr_state": nz.clean_text(v["addr_state"]),
        "addr_zip5": nz.zip5(v["addr_zip"]),
        "activity_date": nz.parse_date(v["last_activity_date"], DATE_FORMAT)[0],
        "agency_status": nz.clean_text(v["program"]),
    })
    persons["alias_first_names"] = empty_tuples(len(persons))
    persons["alias_last_names"] = empty_tuples(len(persons))
    issues = {"ssn_placeholder": int((ssn_status == "placeholder").sum()),
              "ssn_malformed": int((ssn_status == "malformed").sum())}
    return finish(AGENCY, path, persons, [rows.quarantine.assign(agency=AGENCY), q],
                  rows.rows_read, issues, sha256=rows.sha256)

"""DJS contract: ``djs_youth_YYYYMMDD.txt`` (pipe, header, no quoting, Windows-1252).

Each named guardian becomes a person record of its own (``<youth_id>#guardian1`` /
``#guardian2``) in the youth's family group, with the youth's address as a likely
residence and the sex its relationship implies.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from .. import normalize as nz
from .._contract import (
    RELATIONSHIP_SEX,
    ContractResult,
    date_checks,
    empty_tuples,
    finish,
    id_check,
    name_check,
    split_rows,
)
from .._text import read_delimited
from ..roles import PARENTAL, RecordRoles
from ..settings import ContractSettings

AGENCY = "DJS"
ROLES = RecordRoles(roles={"primary": "youth", "guardian": PARENTAL},
                    primary_ids_unique=True, groups_distinct=True, address_priority=0)
"""A youth is a minor by the department's mandate; a guardian named as a parent or
grandparent is a generation above. A youth id names one youth, and a youth and the
guardians on the youth's row are different people."""
COLUMNS: tuple[str, ...] = (
    "youth_id", "youth_last_name", "youth_first_name", "youth_middle_initial", "birth_date",
    "gender", "home_address", "guardian1_name", "guardian2_name", "guardian1_relationship",
    "guardian2_relationship", "guardian1_birth_date", "guardian2_birth_date", "intake_date",
    "region",
)
ID_PATTERN = r"Y\d{7}"
DATE_FORMAT = "%Y-%m-%d"


def raw_schema(night: date, settings: ContractSettings) -> pa.DataFrameSchema:
    """Row rules of the DJS layout, each check named by its quarantine reason."""
    return pa.DataFrameSchema(
        {
            "youth_id": pa.Column(checks=id_check(ID_PATTERN), unique=True),
            "birth_date": pa.Column(checks=date_checks(DATE_FORMAT, night,
                                                       settings.earliest_dob)),
            "intake_date": pa.Column(checks=date_checks(DATE_FORMAT, night,
                                                        settings.earliest_dob)),
        },
        checks=[name_check("youth_first_name", "youth_last_name")],
    )


def read(path: Path, night: date, settings: ContractSettings = ContractSettings()
         ) -> ContractResult:
    """Read a DJS extract into youth and guardian person records and quarantined rows.

    Args:
        path: ``djs_youth_<night>.txt``.
        night: the extract's night; later dates are ``future_date``.
        settings: row rules.

    Returns:
        Person records (youth, then guardians) and quarantine. A guardian's unreadable or
        future birth date is set to missing and counted in ``field_issues``; it does not
        quarantine the youth.

    Raises:
        ContractError: the file as a whole breaks the contract.
    """
    rows = read_delimited(path, columns=COLUMNS, delimiter="|", quoted=False,
                          id_pattern=ID_PATTERN)
    raw = rows.frame
    v, lines, q = split_rows(AGENCY, raw, rows.line_number, raw_schema(night, settings),
                             "youth_id", ID_PATTERN, rows.quarantine)
    youth_id = v["youth_id"].str.strip()
    family = "DJS:" + youth_id

    one_line = nz.split_one_line_address(v["home_address"])
    street = nz.normalize_street(one_line["street"])
    address = pd.DataFrame({**{c: street[c] for c in street.columns},
                            "addr_city": one_line["city"], "addr_state": one_line["state"],
                            "addr_zip5": one_line["zip"]})
    intake = nz.parse_date(v["intake_date"], DATE_FORMAT)[0]
    region = nz.clean_text(v["region"])

    last, suffix = nz.split_suffix(nz.clean_name(v["youth_last_name"]))
    first = nz.clean_name(v["youth_first_name"])
    youth = pd.DataFrame({
        "agency": AGENCY, "record_id": youth_id, "record_kind": "primary",
        "line_number": lines, "family_group": family, "relationship": "SELF",
        "first_name": first, "middle_name": nz.clean_name(v["youth_middle_initial"]),
        "last_name": last, "name_suffix": suffix,
        "dob": nz.parse_date(v["birth_date"], DATE_FORMAT)[0],
        "sex": nz.normalize_sex(v["gender"]),
        "ssn": pd.NA, "ssn_status": "missing",
        **address, "activity_date": intake, "agency_status": region,
    })
    frames = [youth]
    issues: dict[str, int] = {}
    for g in (1, 2):
        name = nz.parse_full_name(v[f"guardian{g}_name"], order="auto")
        present = (name["first_name"].notna() | name["last_name"].notna()).to_numpy()
        dob, invalid = nz.parse_date(v[f"guardian{g}_birth_date"], DATE_FORMAT)
        future = (dob > pd.Timestamp(night)).fillna(False).to_numpy(dtype=bool)
        issues["guardian_dob_invalid"] = issues.get("guardian_dob_invalid", 0) + int(
            (invalid.to_numpy(dtype=bool) | future)[present].sum())
        dob = dob.mask(future)
        relationship = nz.clean_text(v[f"guardian{g}_relationship"])
        guardian = pd.DataFrame({
            "agency": AGENCY, "record_id": youth_id + f"#guardian{g}",
            "record_kind": "guardian", "line_number": lines, "family_group": family,
            "relationship": relationship,
            **{c: name[c] for c in ("first_name", "middle_name", "last_name",
                                    "name_suffix")},
            "dob": dob, "sex": relationship.map(RELATIONSHIP_SEX).astype("string"),
            "ssn": pd.NA, "ssn_status": "missing",
            **address, "activity_date": intake, "agency_status": region,
        })
        frames.append(guardian.loc[present])
    persons = pd.concat(frames, ignore_index=True)
    persons["first_name_keys"] = nz.nickname_keys(persons["first_name"]).to_numpy()
    persons["alias_first_names"] = empty_tuples(len(persons))
    persons["alias_last_names"] = empty_tuples(len(persons))
    return finish(AGENCY, path, persons, [rows.quarantine.assign(agency=AGENCY), q],
                  rows.rows_read, issues, sha256=rows.sha256)

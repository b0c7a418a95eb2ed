"""Hand-made person records for tests: rows of a few plain fields -> a contract person frame
(``PERSON_COLUMNS``), normalized by the contracts' own functions, ready to encode."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

DEFAULTS: dict[str, Any] = {
    "agency": "DHS", "kind": "primary", "group": "K00000001", "relationship": "HEAD",
    "middle": None, "suffix": None, "dob": None, "sex": "M", "ssn": None,
    "number": "12", "street": "MAIN ST", "unit": None, "zip": "21217",
    "activity": "2026-11-01", "aliases_first": (), "aliases_last": (),
}


def persons(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A person frame; each row needs ``first`` and ``last``, the rest has defaults
    (:data:`DEFAULTS`); ``id`` defaults to ``C`` + the row number."""
    from data_contracts import PERSON_COLUMNS
    from data_contracts import normalize as nz

    df = pd.DataFrame([{**DEFAULTS, **r} for r in rows])
    first = nz.clean_name(df["first"])
    ids = df["id"] if "id" in df else pd.Series([f"C{i:09d}" for i in range(len(df))])
    ssn = df["ssn"]
    street = (df["number"].fillna("") + " " + df["street"].fillna("")).str.strip()
    out = pd.DataFrame({
        "agency": df["agency"], "record_id": ids, "record_kind": df["kind"],
        "line_number": np.arange(2, len(df) + 2),
        "family_group": df["agency"] + ":" + df["group"], "relationship": df["relationship"],
        "first_name": first, "middle_name": nz.clean_name(df["middle"]),
        "last_name": nz.clean_name(df["last"]), "name_suffix": df["suffix"],
        "first_name_keys": nz.nickname_keys(first).to_numpy(),
        "alias_first_names": [tuple(a) for a in df["aliases_first"]],
        "alias_last_names": [tuple(a) for a in df["aliases_last"]],
        "dob": pd.to_datetime(df["dob"]), "sex": df["sex"], "ssn": ssn,
        "ssn_status": np.where(ssn.notna(), "ok", "missing"),
        "addr_street": street.where(street != ""), "addr_number": df["number"],
        "addr_street_name": df["street"], "addr_unit": df["unit"], "addr_city": "BALTIMORE",
        "addr_state": "MD", "addr_zip5": df["zip"],
        "activity_date": pd.to_datetime(df["activity"]), "agency_status": "SNAP",
    })
    for c in PERSON_COLUMNS:
        if c not in ("line_number", "dob", "activity_date", "first_name_keys",
                     "alias_first_names", "alias_last_names"):
            out[c] = out[c].astype(pd.StringDtype("pyarrow"))
    return out[list(PERSON_COLUMNS)]


def link_night_with(folder: Any, hand: dict[str, list[dict[str, Any]]],
                    settings: Any = None) -> Any:
    """A synthetic night's extracts plus hand-made rows per agency (:func:`persons`),
    encoded with a fixed test key (and ``settings``, default the defaults) and linked:
    the :class:`linkage.link.LinkResult`."""
    import pyarrow as pa

    from data_contracts import find_extracts, load_extract, parse_night
    from hashing import EncodingSettings, LinkageKey, encode_extract
    from linkage.inputs import EncodedNight
    from linkage.link import link_records

    key = LinkageKey.from_bytes(bytes(range(32)))
    settings = settings or EncodingSettings()
    night, paths = find_extracts(folder)
    tables = []
    for agency, path in paths.items():
        frame = load_extract(path, agency, parse_night(night)).persons
        if hand.get(agency):
            extra = persons([{"agency": agency, **r} for r in hand[agency]])
            frame = pd.concat([frame, extra.astype(frame.dtypes.to_dict())],
                              ignore_index=True)
        tables.append(encode_extract(frame, key, settings, {}))
    return link_records(EncodedNight(records=pa.concat_tables(tables), key_id=key.key_id,
                                     encoding=settings.describe(), night=night,
                                     agencies=tuple(paths)))


def records_table(rows: list[tuple], declared: dict[str, Any] | None = None) -> Any:
    """A hand-made table of linkage records. rows: (agency, record_id, kind, relationship,
    group, community, activity day); the declared columns (role, id_unique, ...) as the
    agencies' contracts write them, unless ``declared`` gives them."""
    import datetime as dt

    import pyarrow as pa

    from data_contracts import record_roles

    cols = list(zip(*rows, strict=True))
    if declared is None:
        declared = record_roles(pd.DataFrame({"agency": cols[0], "record_kind": cols[2],
                                              "relationship": cols[3]}))
    return pa.table({
        "agency": list(cols[0]), "record_id": list(cols[1]), "record_kind": list(cols[2]),
        "relationship": list(cols[3]),
        "family_tie": pa.array([hash(g) % 2**63 for g in cols[4]], pa.uint64()),
        "community": list(cols[5]),
        "activity_date": pa.array([dt.date(2026, 11, d) for d in cols[6]], pa.date32()),
        **declared,
    })


def random_ssn(rng: np.random.Generator) -> str:
    return f"{rng.integers(100, 665)}{rng.integers(10, 99)}{rng.integers(1000, 9999)}"


def random_dob(rng: np.random.Generator) -> str:
    return f"{rng.integers(1960, 2000)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}"


def across_state(out: dict[str, list[dict[str, Any]]], i: int, tag: str,
                 name: dict[str, str], dob: str, dhs_ssn: str | None,
                 dpscs_ssn: str | None) -> None:
    """Add a DHS record in Baltimore (21218) and a DPSCS record in Cumberland (21502), 200
    miles apart, with one name and birth date: ids ``C<tag><i>`` and ``<tag><i>``."""
    out["DHS"].append(dict(id=f"C{tag}{i:07d}", group=f"K{tag}{i:06d}", dob=dob, ssn=dhs_ssn,
                           number=str(10 + i), street="HARFORD RD", zip="21218", **name))
    out["DPSCS"].append(dict(id=f"{tag}{i:06d}", agency="DPSCS", group=f"{tag}{i:06d}",
                             relationship="SELF", dob=dob, ssn=dpscs_ssn,
                             number=str(500 + i), street="NATIONAL HWY", zip="21502", **name))

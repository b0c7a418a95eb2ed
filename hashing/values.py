"""The plain value each encoded field and blocking rule is built from (agency side only)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def _words(*parts: pd.Series) -> pd.Series:
    """Space-joined words of string columns and list columns (aliases, nickname keys),
    per record; None where there are none. Order and repeats do not matter to a filter."""
    joined = []
    for s in parts:
        arr = pa.array(s.astype(object).where(s.notna(), None).to_numpy(dtype=object),
                       from_pandas=True)
        if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
            arr = pc.binary_join(arr.cast(pa.list_(pa.string())), " ")
        joined.append(arr.cast(pa.string()))
    out = pc.utf8_trim_whitespace(pc.binary_join_element_wise(
        *joined, " ", null_handling="replace", null_replacement=""))
    out = pc.if_else(pc.equal(out, ""), None, out)
    return pd.Series(out.to_numpy(zero_copy_only=False), dtype=object)


def field_values(persons: pd.DataFrame) -> dict[str, pd.Series]:
    """The string each field encodes, per record (``None`` where missing)."""
    p = persons.reset_index(drop=True)
    dob_codes, dob_uniques = pd.factorize(p["dob"])
    dob_str = np.array(list(dob_uniques.strftime("%Y%m%d")) + [None], dtype=object)
    street = (p["addr_number"] + " " + p["addr_street_name"]).fillna(p["addr_street_name"])
    return {
        "first_name": p["first_name"],
        "middle_name": p["middle_name"],
        "last_name": p["last_name"],
        "first_keys": _words(p["first_name_keys"], p["alias_first_names"]),
        "last_words": _words(p["last_name"], p["alias_last_names"]),
        "dob": pd.Series(dob_str[np.where(dob_codes < 0, len(dob_uniques), dob_codes)]),
        "sex": p["sex"],
        "ssn": p["ssn"].where(p["ssn_status"] == "ok"),
        "street": street,
        "unit": p["addr_unit"].str.replace(" ", "_", regex=False),
        "zip": p["addr_zip5"],
    }

"""The plain value each encoded field and blocking rule is built from (agency side only).

Values stay Arrow string arrays (null = missing) so that every step is an Arrow kernel.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .blocking import dates
from .settings import OPTIONAL_COLUMNS


def arrow_strings(values: pd.Series) -> pa.Array:
    """A string column as an Arrow string array (zero-copy for Arrow-backed columns)."""
    arr = pa.array(values, from_pandas=True)
    return arr if arr.type == pa.string() else arr.cast(pa.string())


def _words(*parts: pd.Series) -> pa.Array:
    """Space-joined words of string columns and list columns (aliases, nickname keys),
    per record; null where there are none. Order and repeats do not matter to a filter."""
    joined = []
    for s in parts:
        if s.dtype == object:
            arr = pa.array(s.to_numpy(dtype=object), from_pandas=True)
        else:
            arr = pa.array(s, from_pandas=True)
        if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
            arr = pc.binary_join(arr.cast(pa.list_(pa.string())), " ")
        joined.append(arr.cast(pa.string()))
    out = pc.utf8_trim_whitespace(pc.binary_join_element_wise(
        *joined, " ", null_handling="replace", null_replacement=""))
    return pc.if_else(pc.equal(out, ""), pa.scalar(None, pa.string()), out)


def field_values(persons: pd.DataFrame) -> dict[str, pa.Array]:
    """The string each field encodes, per record (null where missing)."""
    p = persons.reset_index(drop=True)
    dob = pc.dictionary_encode(dates(p["dob"]))
    dob_text = pc.take(pc.strftime(dob.dictionary, format="%Y%m%d"), dob.indices)
    number, street_name = arrow_strings(p["addr_number"]), arrow_strings(p["addr_street_name"])
    street = pc.coalesce(pc.binary_join_element_wise(number, street_name, " "), street_name)
    ssn = arrow_strings(p["ssn"])
    ok = pc.fill_null(pc.equal(arrow_strings(p["ssn_status"]), "ok"), False)
    first, last = arrow_strings(p["first_name"]), arrow_strings(p["last_name"])
    in_order = pc.less_equal(first, last)
    name_pair = pc.if_else(in_order, pc.binary_join_element_wise(first, last, " "),
                           pc.binary_join_element_wise(last, first, " "))
    return {
        "first_name": first,
        "middle_name": arrow_strings(p["middle_name"]),
        "last_name": last,
        "name_pair": name_pair,
        "first_keys": _words(p["first_name_keys"], p["alias_first_names"]),
        "last_words": _words(p["last_name"], p["alias_last_names"]),
        "dob": dob_text,
        "sex": arrow_strings(p["sex"]),
        "suffix": arrow_strings(p["name_suffix"]),
        "ssn": pc.if_else(ok, ssn, pa.scalar(None, pa.string())),
        "street": street,
        "unit": pc.replace_substring(arrow_strings(p["addr_unit"]), " ", "_"),
        "zip": arrow_strings(p["addr_zip5"]),
        "yob": pc.utf8_slice_codeunits(dob_text, 0, 4),
        **{name: arrow_strings(p[column]) if column in p else pa.nulls(len(p), pa.string())
           for name, column in OPTIONAL_COLUMNS.items()},
    }

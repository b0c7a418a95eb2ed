"""Community of a ZIP code: the crosswalk in ``configs/communities.csv`` and the spec's
fallbacks (``Other Maryland`` for a Maryland ZIP outside the crosswalk, ``Out of state``
for a ZIP of another state; ``Unknown`` when there is no usable address)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import ConfigError
from .normalize import zip_state

OTHER_MARYLAND = "Other Maryland"
OUT_OF_STATE = "Out of state"
UNKNOWN = "Unknown"


def load_crosswalk(path: Path) -> dict[str, str]:
    """Read ``zip,community`` rows; a malformed row is a one-line :class:`ConfigError`."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise ConfigError(f"community crosswalk unreadable ({exc.strerror})", where=str(path),
                          hint="set communities.crosswalk to a zip,community CSV") from None
    out: dict[str, str] = {}
    for i, row in enumerate(rows, start=2):
        z, c = (row.get("zip") or "").strip(), (row.get("community") or "").strip()
        if len(z) != 5 or not z.isdigit() or not c:
            raise ConfigError("crosswalk row needs a 5-digit zip and a community",
                              where=f"{path}:{i}", hint="fix or remove the row")
        if z in out and out[z] != c:
            raise ConfigError(f"zip {z} is mapped to two communities", where=f"{path}:{i}",
                              hint="a ZIP belongs to one community")
        out[z] = c
    return out


def community_of(zip5: pd.Series, state: pd.Series, crosswalk: dict[str, str]) -> pd.Series:
    """Community per record from its ZIP5 (and its two-letter, upper-case state where the
    ZIP is unknown)."""
    # Work per distinct (ZIP, state) pair: a night has a few thousand of them.
    def flat(x: pd.Series) -> pa.Array:
        arr = pa.array(x, type=pa.string(), from_pandas=True)   # chunked if x was concatenated
        return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr

    pair = pc.dictionary_encode(pc.binary_join_element_wise(
        *(pc.fill_null(flat(x), "") for x in (zip5, state)), "|"))
    codes = pair.indices.to_numpy()
    d = pd.Series(pair.dictionary.to_pandas(), dtype="string").str.split(
        "|", expand=True, regex=False)
    d.columns = ["zip", "state"]
    d = d.replace("", pd.NA).astype("string")
    out = d["zip"].map(crosswalk).astype("string")
    z_state = zip_state(d["zip"])
    st = d["state"]
    known_state = z_state.fillna(st.where(st.str.fullmatch(r"[A-Z]{2}").fillna(False)))
    is_md = (known_state == "MD").fillna(False).to_numpy(dtype=bool)
    fallback = np.where(known_state.isna().to_numpy(), UNKNOWN,
                        np.where(is_md, OTHER_MARYLAND, OUT_OF_STATE))
    result = out.fillna(pd.Series(fallback, dtype="string")).to_numpy(dtype=object)
    return pd.Series(result[codes], index=zip5.index, dtype="string")

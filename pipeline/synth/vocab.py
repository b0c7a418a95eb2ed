"""Offline vocabularies for the synthetic generator.

Names come from the US Census frequency files shipped with the ``names``
package, ZIP codes and cities from the offline ``zipcodes`` package, and
nicknames from the ``nicknames`` package. Everything is cached per process.
"""

from __future__ import annotations

import os
from functools import cache, lru_cache

import numpy as np
import pandas as pd

#: DJS region by Maryland county (DJS's own six regions).
_REGION_BY_COUNTY = {
    "baltimore city": "Baltimore City",
    "baltimore county": "Central", "harford county": "Central", "howard county": "Central",
    "allegany county": "Western", "carroll county": "Western", "frederick county": "Western",
    "garrett county": "Western", "washington county": "Western",
    "montgomery county": "Metro", "prince george's county": "Metro",
    "anne arundel county": "Southern", "calvert county": "Southern",
    "charles county": "Southern", "st. mary's county": "Southern", "st mary's county": "Southern",
}

STREETS = np.array([
    "MAIN", "CHARLES", "PARK", "OAK", "MAPLE", "ELM", "CEDAR", "PINE", "WASHINGTON",
    "LIBERTY", "GREENMOUNT", "EDMONDSON", "BELAIR", "HARFORD", "YORK", "REISTERSTOWN",
    "FREDERICK", "EASTERN", "PATTERSON PARK", "MONUMENT", "NORTH", "FAYETTE", "BALTIMORE",
    "LOMBARD", "PRATT", "MADISON", "JEFFERSON", "MONROE", "LINCOLN", "FRANKLIN", "CHURCH",
    "MILL", "SPRING", "RIDGE", "HILLSIDE", "LAKE", "FOREST", "MEADOW", "GEORGIA", "UNIVERSITY",
    "COLESVILLE", "RANDOLPH", "CENTRAL", "OLD COURT", "LIBERTY HEIGHTS", "WABASH", "GARRISON",
    "PARK HEIGHTS", "LOCH RAVEN", "HILLEN", "ST PAUL", "CALVERT", "GAY", "HOLLINS", "POPLAR",
    "CHESTNUT", "WALNUT", "HICKORY", "WILLOW", "DOGWOOD", "SUNSET", "RIVER", "BAY", "SHORE",
    "MARKET", "HIGH", "SCHOOL", "STATION", "VALLEY", "GLEN", "ASHLAND", "ROLAND", "WILKENS",
], dtype=object)
#: street types as (full, abbreviation)
STYPES_FULL = np.array(["STREET", "AVENUE", "ROAD", "DRIVE", "LANE", "COURT", "BOULEVARD",
                        "WAY", "PLACE", "TERRACE", "CIRCLE"], dtype=object)
STYPES_ABBR = np.array(["ST", "AVE", "RD", "DR", "LN", "CT", "BLVD", "WAY", "PL", "TER", "CIR"],
                       dtype=object)
STYPE_P = np.array([30, 25, 15, 10, 6, 5, 3, 2, 2, 1, 1], dtype=float)
DIRS_ABBR = np.array(["", "N ", "S ", "E ", "W "], dtype=object)
DIRS_FULL = np.array(["", "NORTH ", "SOUTH ", "EAST ", "WEST "], dtype=object)

#: accented spellings (all characters exist in Windows-1252)
ACCENTS = {
    "JOSE": "JOSÉ", "MARIA": "MARÍA", "JESUS": "JESÚS", "RAMON": "RAMÓN", "ANGEL": "ÁNGEL",
    "RAUL": "RAÚL", "ANDRE": "ANDRÉ", "RENEE": "RENÉE", "RENE": "RENÉ", "SOFIA": "SOFÍA",
    "LUCIA": "LUCÍA", "MONICA": "MÓNICA", "VICTOR": "VÍCTOR", "HECTOR": "HÉCTOR",
    "MUNOZ": "MUÑOZ", "PENA": "PEÑA", "NUNEZ": "NÚÑEZ", "IBANEZ": "IBÁÑEZ",
    "HERNANDEZ": "HERNÁNDEZ", "MARTINEZ": "MARTÍNEZ", "RODRIGUEZ": "RODRÍGUEZ",
    "GONZALEZ": "GONZÁLEZ", "LOPEZ": "LÓPEZ", "PEREZ": "PÉREZ", "SANCHEZ": "SÁNCHEZ",
    "RAMIREZ": "RAMÍREZ", "GOMEZ": "GÓMEZ", "DIAZ": "DÍAZ", "JIMENEZ": "JIMÉNEZ",
    "ALVAREZ": "ÁLVAREZ", "GUTIERREZ": "GUTIÉRREZ", "FERNANDEZ": "FERNÁNDEZ",
    "VASQUEZ": "VÁSQUEZ", "VAZQUEZ": "VÁZQUEZ", "CASTANEDA": "CASTAÑEDA", "ORDONEZ": "ORDÓÑEZ",
}
#: punctuation / spacing variants of surnames
PUNCT = {
    "OBRIEN": ["O'BRIEN", "O BRIEN"], "OCONNOR": ["O'CONNOR", "O CONNOR"],
    "ONEAL": ["O'NEAL"], "ONEILL": ["O'NEILL"], "OBRYANT": ["O'BRYANT"],
    "MCDONALD": ["Mc Donald", "MC DONALD", "McDONALD"], "MCCOY": ["Mc Coy", "MC COY"],
    "MCNEIL": ["Mc Neil"], "MCKENZIE": ["Mc Kenzie"], "DANGELO": ["D'ANGELO"],
    "DESOUSA": ["DE SOUSA"], "LAROSE": ["LA ROSE"], "VANBUREN": ["VAN BUREN"],
}


def _read_census(kind: str) -> tuple[np.ndarray, np.ndarray]:
    import names

    path = os.path.join(os.path.dirname(names.__file__), f"dist.{kind}")
    df = pd.read_csv(path, sep=r"\s+", header=None, names=["NAME", "FREQ", "CUMFREQ", "RANK"],
                     keep_default_na=False, dtype={"NAME": str})
    df = df[df["FREQ"] > 0]
    p = df["FREQ"].to_numpy(float)
    return df["NAME"].to_numpy(object), np.cumsum(p / p.sum())


@cache
def census(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (names, cumulative probabilities) for ``last``, ``male`` or ``female``.

    Args:
        kind: ``"last"`` (``dist.all.last``), ``"male"`` or ``"female"`` (first names).
    """
    return _read_census({"last": "all.last", "male": "male.first", "female": "female.first"}[kind])


@cache
def _boosted(kind: str, top_n: int, mult: float) -> tuple[np.ndarray, np.ndarray]:
    """Census names with the top ``top_n`` names' shares multiplied by ``mult``."""
    names_, cum = census(kind)
    p = np.diff(np.concatenate([[0.0], cum]))
    p[:top_n] *= mult
    return names_, np.cumsum(p / p.sum())


def sample_names(rng: np.random.Generator, kind: str, n: int,
                 boost: tuple[int, float] | None = None) -> np.ndarray:
    """Sample ``n`` names by Census frequency (common names repeat a lot).

    ``boost=(top_n, mult)`` multiplies the share of the ``top_n`` commonest names by
    ``mult`` (a city's name concentration); the same draws are used either way.
    """
    names_, cum = census(kind) if boost is None else _boosted(kind, *boost)
    idx = np.searchsorted(cum, rng.random(n) * cum[-1], side="right")
    return names_[np.minimum(idx, len(names_) - 1)]


@cache
def zip_table(balt_weight: float = 8.0) -> pd.DataFrame:
    """ZIP table: zip, CITY, state, region, weight (Baltimore heavy, a few out of state).

    ``balt_weight`` is the weight of a Baltimore City ZIP against 1 for most Maryland
    ZIPs; it changes ``weight`` and ``cum`` only, never the rows or their order.
    """
    import zipcodes

    rows = []
    for z in zipcodes.filter_by(state="MD"):
        if z["zip_code_type"] != "STANDARD":
            continue
        county = z["county"].lower()
        balt = county == "baltimore city"
        w = balt_weight if balt else (2.0 if county in ("baltimore county", "prince george's county",
                                                "montgomery county") else 1.0)
        rows.append((z["zip_code"], z["city"].upper(), "MD",
                     _REGION_BY_COUNTY.get(county, "Eastern Shore"), w))
    md_total = sum(r[4] for r in rows)
    oos = []
    for st in ("DC", "VA", "PA", "DE"):
        zs = sorted((z for z in zipcodes.filter_by(state=st) if z["zip_code_type"] == "STANDARD"),
                    key=lambda z: z["zip_code"])[:15]
        oos += [(z["zip_code"], z["city"].upper(), st, "Metro", 1.0) for z in zs]
    # about 1.5 % of addresses out of state
    scale = 0.015 * md_total / max(len(oos), 1)
    rows += [(a, b, c, d, scale) for a, b, c, d, _ in oos]
    df = pd.DataFrame(rows, columns=["zip", "city", "state", "region", "weight"])
    df = df.sort_values("zip", kind="stable").reset_index(drop=True)
    df["cum"] = np.cumsum(df["weight"] / df["weight"].sum())
    return df


@lru_cache(maxsize=1)
def _namer():
    from nicknames import NickNamer

    return NickNamer()


@cache
def nicknames_of(name: str) -> tuple[str, ...]:
    """Sorted nicknames of a first name (upper case), possibly empty."""
    out = sorted(n.upper() for n in _namer().nicknames_of(name.lower()) if len(n) > 1)
    return tuple(out)

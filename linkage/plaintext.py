"""Plaintext comparison: the same comparisons and levels as :mod:`linkage.compare`, read off
the values themselves, to measure what linking on encodings costs (the privacy cost).

Only a benchmark may use it (``[linkage] comparison = "plaintext"``): the linkage side
never holds plaintext, and the nightly run refuses the setting. It sees what a plaintext
linker sees: string similarities by rapidfuzz (Jaro-Winkler, Levenshtein; computed pair
by pair in C over the arrays with ``process.cpdist``), phonetic agreement by jellyfish
(Metaphone), nickname keys and surname words as sets (intersection, which a balanced
filter cannot show). Blocking, model and clustering stay those of the encoded path.
"""

from __future__ import annotations

import jellyfish
import numpy as np
import pandas as pd
import pyarrow as pa
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler, Levenshtein

from .compare import (
    COMPARISON_NAMES,
    F_CLOSE,
    F_EXACT,
    F_KEY_DIFFERS,
    F_KEY_SHARED,
    F_SIMILAR,
    GENERATION_YEARS,
    L_CLOSE,
    L_EXACT,
    L_SIMILAR,
    L_WORD,
    OPTIONAL,
    _exact_class,
    _unswap,
    address_levels,
    dob_levels,
    relationship_levels,
)

VALUE_COLUMNS = ("first_name", "middle_name", "last_name", "name_pair", "first_keys",
                 "last_words", "dob", "sex", "suffix", "ssn", "street", "unit", "zip", "yob",
                 *OPTIONAL)


def plaintext_values(persons: pd.DataFrame) -> pd.DataFrame:
    """The strings each encoded field is built from, per record (benchmark side only)."""
    from hashing.values import field_values

    values = field_values(persons)
    return pd.DataFrame({c: values[c].to_pandas() for c in VALUE_COLUMNS})


def _pairs(values: pd.DataFrame, name: str, left: np.ndarray, right: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    col = values[name].to_numpy(dtype=object)
    a, b = col[left], col[right]
    known = pd.notna(a) & pd.notna(b)
    return np.where(known, a, ""), np.where(known, b, ""), known


def _scores(scorer, a: np.ndarray, b: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    if len(a) == 0:
        return np.empty(0, np.float32)
    return process.cpdist(list(a), list(b), scorer=scorer, workers=-1)


def _metaphone_equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Metaphone codes agree (jellyfish runs once per distinct value)."""
    codes, distinct = pd.factorize(np.concatenate([a, b]))
    phonetic = pd.Series([jellyfish.metaphone(v) if v else "" for v in distinct])
    per_row = phonetic.to_numpy(dtype=object)[codes]
    ca, cb = per_row[:len(a)], per_row[len(a):]
    return (ca == cb) & (ca != "")


def _sets_meet(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Space-separated word sets share a word."""
    sa = pd.Series(a).str.split(" ").explode().reset_index()
    sb = pd.Series(b).str.split(" ").explode().reset_index()
    both = sa.merge(sb, on=["index", 0])
    out = np.zeros(len(a), dtype=bool)
    out[both["index"][both[0] != ""].to_numpy()] = True
    return out


def compare_plaintext(records: pa.Table, values: pd.DataFrame, left: np.ndarray,
                      right: np.ndarray) -> np.ndarray:
    """Agreement levels of the pairs (as :func:`linkage.compare.compare`) from plaintext.

    Args:
        records: the night's encoded records (frequency classes, relationships).
        values: :func:`plaintext_values` of the same records, in the same order.
    """
    out = np.full((len(left), len(COMPARISON_NAMES)), -1, dtype=np.int8)

    def col(name: str) -> int:
        return COMPARISON_NAMES.index(name)

    a, b, known = _pairs(values, "first_name", left, right)
    jw = _scores(JaroWinkler.normalized_similarity, a, b)
    ka, kb, kk = _pairs(values, "first_keys", left, right)
    keys_meet = kk & _sets_meet(ka, kb)
    level = np.select([a == b, keys_meet, jw >= 0.94, _metaphone_equal(a, b), jw >= 0.85],
                      [F_EXACT, F_KEY_SHARED, F_CLOSE, F_KEY_DIFFERS, F_SIMILAR], 0)
    out[:, col("first_name")] = np.where(known, level, -1)
    out[:, col("first_name")] += _exact_class(records, "first_name", left, right,
                                              out[:, col("first_name")] == F_EXACT)

    a, b, known = _pairs(values, "middle_name", left, right)
    jw = _scores(JaroWinkler.normalized_similarity, a, b)
    sa, sb = pd.Series(a, dtype=object), pd.Series(b, dtype=object)
    initial = ((sa.str[:1] == sb.str[:1]) & ((sa.str.len() == 1) | (sb.str.len() == 1))) \
        .to_numpy()
    out[:, col("middle_name")] = np.where(known, np.select([a == b, (jw >= 0.9) | initial],
                                                           [2, 1], 0), -1)

    a, b, known = _pairs(values, "last_name", left, right)
    jw = _scores(JaroWinkler.normalized_similarity, a, b)
    wa, wb, wk = _pairs(values, "last_words", left, right)
    words_meet = wk & _sets_meet(wa, wb)
    lev = _scores(Levenshtein.distance, a, b)
    level = np.select([a == b, jw >= 0.94, words_meet, _metaphone_equal(a, b) | (lev <= 2)],
                      [L_EXACT, L_CLOSE, L_WORD, L_SIMILAR], 0)
    out[:, col("last_name")] = np.where(known, level, -1)
    out[:, col("last_name")] += _exact_class(records, "last_name", left, right,
                                             out[:, col("last_name")] == L_EXACT)

    a, b, known = _pairs(values, "name_pair", left, right)
    # close: one typo, as first_name's "close" level
    close = known & (_scores(JaroWinkler.normalized_similarity, a, b) >= 0.94)
    _unswap(out, known & (a == b), close, records, left, right)

    a, b, known = _pairs(values, "dob", left, right)          # YYYYMMDD
    sa, sb = pd.Series(a, dtype=object), pd.Series(b, dtype=object)
    ya, yb, ma, mb, da, db = (sa.str[:4], sb.str[:4], sa.str[4:6], sb.str[4:6], sa.str[6:8],
                              sb.str[6:8])
    same_md = (ma == mb) & (da == db)
    swapped = (ma == db) & (da == mb)
    one_part = (ya == yb) & ((ma == mb) | (da == db))
    level = np.select([a == b, same_md.to_numpy(), (swapped | one_part).to_numpy()],
                      [3, 2, 1], 0)
    gap = np.abs(pd.to_numeric(ya, errors="coerce") - pd.to_numeric(yb, errors="coerce"))
    year_gap = np.select([gap >= GENERATION_YEARS, gap >= 3, gap >= 1], [0, 1, 2], 3)
    out[:, col("dob")] = np.where(known, dob_levels(np.where(known, level, -1), year_gap), -1)

    for name in ("sex", "suffix"):
        a, b, known = _pairs(values, name, left, right)
        out[:, col(name)] = np.where(known, (a == b).astype(np.int8), -1)

    a, b, known = _pairs(values, "ssn", left, right)
    hamming = _scores(Levenshtein.distance, a, b)            # 9 digits: edits ~ digits off
    out[:, col("ssn")] = np.where(known, np.select([a == b, hamming <= 1, hamming <= 2],
                                                   [3, 2, 1], 0), -1)

    za, zb, zk = _pairs(values, "zip", left, right)
    zip3 = (pd.Series(za, dtype=object).str[:3] == pd.Series(zb, dtype=object).str[:3])
    zip_level = np.where(zk, np.select([za == zb, zip3.to_numpy()], [2, 1], 0), -1)
    sa_, sb_, sk = _pairs(values, "street", left, right)
    ratio = _scores(Levenshtein.normalized_similarity, sa_, sb_)
    ua, ub, _ = _pairs(values, "unit", left, right)
    same_unit = ua == ub                                   # both without a unit agree too
    street = np.where(sk, np.select([sa_ == sb_, ratio >= 0.9, ratio >= 0.8], [3, 2, 1], 0),
                      -1)
    out[:, col("address")] = address_levels(zip_level, street, same_unit)

    for name in OPTIONAL:                      # optional fields: missing where not encoded
        if f"enc_{name}" in records.column_names:
            a, b, known = _pairs(values, name, left, right)
            edits = _scores(Levenshtein.distance, a, b)
            out[:, col(name)] = np.where(known, np.select([a == b, edits <= 1], [2, 1], 0), -1)

    out[:, col("relationship")] = relationship_levels(records, left, right)
    return out

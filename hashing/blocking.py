"""Keyed blocking tokens: which records the linkage side should compare.

Several independent rules, so that a true pair with one or two corrupted fields still
shares a token under some rule. Each token is a keyed SipHash-2-4 (blocking subkey) of a
rule-tagged string, stored as uint64; the linkage side sees only which records share a
token, never what it stands for.

==============  ==============================================================================
rule            token made of
==============  ==============================================================================
ssn             SSN (real ones only: placeholders are missing)
dob_name        birth year + unordered month/day + Soundex of a last-name word or first name
name_yob        Soundex of a first-name key + Soundex of a last-name word + birth year
name_area       Metaphone of a last-name word + a nickname-tolerant first-name key + ZIP3
                (``*`` where there is no address: contacts)
address         house number + street name + ZIP5
==============  ==============================================================================

Last-name words include hyphen parts and DPSCS alias last names; first-name keys include
nickname canonical forms and alias first names (at most 4 keys and 3 words a record).
"""

from __future__ import annotations

import jellyfish
import numpy as np
import pandas as pd
import pyarrow as pa

from ._hardening import siphash

RULES: tuple[str, ...] = ("ssn", "dob_name", "name_yob", "name_area", "address")
MAX_KEYS = 4
MAX_WORDS = 3


def _phonetic(words: pd.Series, fn) -> pd.Series:
    codes, uniques = pd.factorize(words)
    table = np.array([fn(u) for u in uniques], dtype=object)
    return pd.Series(table[codes], index=words.index)


def _long(words: pd.Series, limit: int) -> pd.DataFrame:
    """One row per (record, word) of a space-joined words column, at most ``limit`` each."""
    s = words.str.split(" ").explode().dropna()
    s = s[s.str.len() > 0]
    df = pd.DataFrame({"rec": s.index.to_numpy(), "word": s.to_numpy()}).drop_duplicates()
    return df.groupby("rec", sort=False).head(limit)


def _lists(rec: np.ndarray, tokens: np.ndarray, n: int) -> pa.ListArray:
    """Group (record, token) pairs into one list<uint64> per record (dedup, sorted)."""
    df = pd.DataFrame({"rec": rec, "tok": tokens}).drop_duplicates().sort_values(["rec", "tok"])
    counts = np.bincount(df["rec"].to_numpy(), minlength=n)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(df["tok"].to_numpy(),
                                                                type=pa.uint64()))


def blocking_tokens(persons: pd.DataFrame, values: dict[str, pd.Series], subkey: bytes
                    ) -> dict[str, pa.ListArray]:
    """Keyed blocking tokens per rule for each person record (row order kept).

    Args:
        persons: a contract's person frame (``PERSON_COLUMNS``), default index.
        values: :func:`hashing.values.field_values` of the same frame.
        subkey: the blocking subkey (``Purpose.BLOCKING``).

    Returns:
        ``{"blk_<rule>": list<uint64> array}``, one list per record, empty where the rule
        has nothing to go on.
    """
    p = persons.reset_index(drop=True)
    n = len(p)
    dob = p["dob"]
    has_dob = dob.notna().to_numpy()
    ymd = dob.dt.strftime("%Y%m%d").where(dob.notna())
    y, m, d = ymd.str[:4], ymd.str[4:6], ymd.str[6:8]
    dobkey = (y + np.where(m <= d, m + d, d + m)).where(dob.notna())

    last = _long(values["last_words"], MAX_WORDS)
    first = _long(values["first_keys"], MAX_KEYS)
    last["sdx"] = _phonetic(last["word"], jellyfish.soundex).to_numpy()
    last["mph"] = _phonetic(last["word"], jellyfish.metaphone).to_numpy()
    first["sdx"] = _phonetic(first["word"], jellyfish.soundex).to_numpy()

    out: dict[str, tuple[np.ndarray, pd.Series]] = {}
    ok_ssn = (p["ssn_status"] == "ok").fillna(False).to_numpy(dtype=bool)
    out["ssn"] = (np.flatnonzero(ok_ssn), "S|" + p.loc[ok_ssn, "ssn"].astype(str))

    dk = dobkey.to_numpy(dtype=object)
    lw = last[has_dob[last["rec"]]]
    fw = first[has_dob[first["rec"]]]
    dob_rec = np.concatenate([lw["rec"].to_numpy(), fw["rec"].to_numpy()])
    dob_tok = pd.concat([
        "DL|" + pd.Series(dk[lw["rec"]], dtype=object) + "|" + lw["sdx"].to_numpy(),
        "DF|" + pd.Series(dk[fw["rec"]], dtype=object) + "|" + fw["sdx"].to_numpy()],
        ignore_index=True)
    out["dob_name"] = (dob_rec, dob_tok)

    pairs = first.merge(last, on="rec", suffixes=("_f", "_l"))
    year = y.to_numpy(dtype=object)
    py = pairs[has_dob[pairs["rec"]]]
    out["name_yob"] = (py["rec"].to_numpy(), "NY|" + py["sdx_f"] + "|" + py["sdx_l"] + "|"
                       + pd.Series(year[py["rec"]], index=py.index, dtype=object))
    zip3 = p["addr_zip5"].str[:3].astype(object).fillna("*").to_numpy()
    out["name_area"] = (pairs["rec"].to_numpy(), "NZ|" + pairs["mph"] + "|" + pairs["word_f"]
                        + "|" + pd.Series(zip3[pairs["rec"]], index=pairs.index, dtype=object))

    has_addr = (p["addr_number"].notna() & p["addr_street_name"].notna()
                & p["addr_zip5"].notna()).to_numpy()
    a = p.loc[has_addr]
    out["address"] = (np.flatnonzero(has_addr), "A|" + a["addr_number"].astype(str) + "|"
                      + a["addr_street_name"].astype(str) + "|" + a["addr_zip5"].astype(str))

    result = {}
    for rule in RULES:
        rec, strings = out[rule]
        tokens = siphash(pd.Series(np.asarray(strings, dtype=object)), subkey) \
            if len(rec) else np.empty(0, np.uint64)
        result[f"blk_{rule}"] = _lists(np.asarray(rec, dtype=np.int64), tokens, n)
    return result

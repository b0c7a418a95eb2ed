"""Keyed blocking tokens: which records the linkage side should compare.

Several independent rules, so that a true pair with one or two corrupted fields still
shares a token under some rule. A token is SipHash-2-4, keyed with the blocking subkey, of
a tuple of component codes (rule tag, then e.g. the birth-date key and a Soundex code);
the linkage side sees only which records share a token, never what it stands for.

==============  ==============================================================================
rule            token made of
==============  ==============================================================================
ssn             SSN (real ones only: placeholders are missing)
dob_name        birth year + unordered month/day + Soundex of a last-name word or of a
                first-name key (the same tag for both: first and last swapped still meet)
name_yob        Soundex of a first-name key + Soundex of a last-name word + birth year
name_area       a nickname-tolerant first-name key + Metaphone of a last-name word + ZIP3

                (a record without an address, like an emergency contact, takes the ZIP3 of
                its family group: a contact is most often local to the offender)
name            a nickname-tolerant first-name key + a last-name word, statewide (finds
                people who moved, when the name is not common; common names make blocks
                the linkage side caps)
address         house number + street name + ZIP5
dob_area        birth year + unordered month/day + ZIP5 (names corrupted, birth date intact;
                ZIP3 made 15 million pairs on a statewide night, as children born in one
                year crowd one area)
number_zip      house number + ZIP5 (street name misspelled or written another way)
==============  ==============================================================================

Last-name words include hyphen parts and DPSCS alias last names; first-name keys include
nickname canonical forms and alias first names (at most 4 keys and 3 words a record).
Everything is vectorized: words are split with pyarrow, phonetic codes are computed once
per distinct word, and the keyed hash runs compiled over arrays (:mod:`hashing._kernels`).
"""

from __future__ import annotations

import jellyfish
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._kernels import siphash24_rows, siphash_strings

RULES: tuple[str, ...] = ("ssn", "dob_name", "name_yob", "name_area", "name", "address",
                          "dob_area", "number_zip")
MAX_KEYS = 4
MAX_WORDS = 3
_TAG = {rule: np.uint64(i + 1) for i, rule in enumerate(RULES)}


def stable_code(values) -> np.ndarray:  # type: ignore[no-untyped-def]
    """A stable (unkeyed: public all-zero key) 64-bit code per string; the keyed hash is
    applied on top, over the tuple of codes."""
    return siphash_strings(bytes(16), values if isinstance(values, pa.Array)
                           else pa.array(np.asarray(values, dtype=object), type=pa.string()))


class _Words:
    """The words of a space-joined column, flattened: ``rec`` (record of each word) and, per
    word, its own code, Soundex code and Metaphone code (each computed per distinct word)."""

    def __init__(self, joined: pa.Array, limit: int) -> None:
        lists = pc.list_slice(pc.split_pattern(joined, " "), 0, limit)
        self.rec = pc.list_parent_indices(lists).to_numpy().astype(np.int64)
        flat = pc.list_flatten(lists)
        keep = pc.greater(pc.utf8_length(flat), 0).to_numpy(zero_copy_only=False)
        self.rec = self.rec[keep]
        encoded = pc.dictionary_encode(flat.filter(pa.array(keep)))
        idx = encoded.indices.to_numpy()
        distinct = encoded.dictionary.to_numpy(zero_copy_only=False)
        self.word = stable_code(encoded.dictionary)[idx]
        self.soundex = stable_code(np.array([jellyfish.soundex(w) for w in distinct],
                                            dtype=object))[idx]
        self.metaphone = stable_code(np.array([jellyfish.metaphone(w) for w in distinct],
                                              dtype=object))[idx]


def _digits(values: pd.Series) -> np.ndarray:
    """A column of digit strings as uint64 (0 where missing or not all digits)."""
    arr = pa.array(values, type=pa.string(), from_pandas=True)
    ok = pc.fill_null(pc.match_substring_regex(arr, r"^\d{1,18}$"), False)
    return pc.fill_null(pc.cast(pc.if_else(ok, arr, None), pa.uint64()), 0).to_numpy()


def dates(values: pd.Series) -> pa.Array:
    """A birth-date column as Arrow ``date32`` (timestamps are cut to their day; a
    ``date32`` column passes as it is, so dates before 1678, which pandas timestamps
    cannot hold, still encode)."""
    arr = pa.array(values, from_pandas=True)
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.date32())
    return arr if pa.types.is_date32(arr.type) else arr.cast(pa.date32())


def _pairs(a_rec: np.ndarray, b_rec: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into a and b) of every (a, b) pair of the same record; both sorted by rec."""
    ca = np.bincount(a_rec, minlength=n)
    cb = np.bincount(b_rec, minlength=n)
    oa = np.concatenate([[0], np.cumsum(ca)])
    ob = np.concatenate([[0], np.cumsum(cb)])
    per = ca * cb
    rec = np.repeat(np.arange(n), per)
    k = np.arange(per.sum()) - np.repeat(np.concatenate([[0], np.cumsum(per)])[:-1], per)
    cbr = cb[rec]
    return oa[rec] + k // np.maximum(cbr, 1), ob[rec] + k % np.maximum(cbr, 1)


def _lists(rec: np.ndarray, tokens: np.ndarray, n: int) -> pa.ListArray:
    """Group (record, token) pairs into one list<uint64> per record, in record order.
    A token may repeat within a record's list; the linkage side deduplicates pairs."""
    if len(rec) and (np.diff(rec) < 0).any():
        order = np.argsort(rec, kind="stable")
        rec, tokens = rec[order], tokens[order]
    offsets = np.concatenate([[0], np.cumsum(np.bincount(rec, minlength=n))]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(tokens, type=pa.uint64()))


def blocking_tokens(persons: pd.DataFrame, values: dict[str, pa.Array], subkey: bytes
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
    dob = dates(p["dob"])
    has_dob = dob.is_valid().to_numpy(zero_copy_only=False)
    year, month, day = (pc.fill_null(f(dob), 0).to_numpy().astype(np.int64)
                        for f in (pc.year, pc.month, pc.day))
    dobkey = (year * 10000 + np.minimum(month, day) * 100 + np.maximum(month, day)
              ).astype(np.uint64)
    zip5 = p["addr_zip5"]
    zip3 = _digits(zip5.str[:3])
    no_area = zip3 == 0
    if no_area.any():   # the family group's area (first record of the group that has one)
        group = pd.Series(pd.factorize(p["family_group"])[0])
        area = pd.Series(np.where(no_area, np.nan, zip3.astype(np.float64)))
        zip3 = np.where(no_area, area.groupby(group).transform("first").fillna(0),
                        zip3).astype(np.uint64)

    last = _Words(values["last_words"], MAX_WORDS)
    first = _Words(values["first_keys"], MAX_KEYS)
    fi, li = _pairs(first.rec, last.rec, n)
    pair_rec = first.rec[fi]
    u = np.uint64
    parts: dict[str, tuple[np.ndarray, list[np.ndarray]]] = {}

    ok_ssn = (p["ssn_status"] == "ok").fillna(False).to_numpy(dtype=bool)
    ssn = _digits(p["ssn"].where(ok_ssn))
    rec = np.flatnonzero(ok_ssn)
    parts["ssn"] = (rec, [ssn[rec]])

    lw = has_dob[last.rec]
    fw = has_dob[first.rec]
    rec = np.concatenate([last.rec[lw], first.rec[fw]])
    parts["dob_name"] = (rec, [dobkey[rec], np.concatenate([last.soundex[lw],
                                                             first.soundex[fw]])])
    pw = has_dob[pair_rec]
    rec = pair_rec[pw]
    parts["name_yob"] = (rec, [first.soundex[fi[pw]], last.soundex[li[pw]],
                               year[rec].astype(u)])
    parts["name_area"] = (pair_rec, [first.word[fi], last.metaphone[li], zip3[pair_rec]])
    parts["name"] = (pair_rec, [first.word[fi], last.word[li]])

    address_parts = [pa.array(p[c], type=pa.string(), from_pandas=True)
                     for c in ("addr_number", "addr_street_name", "addr_zip5")]
    has_addr = np.logical_and.reduce([a.is_valid().to_numpy(zero_copy_only=False)
                                      for a in address_parts])
    rec = np.flatnonzero(has_addr)
    address = pc.dictionary_encode(pc.binary_join_element_wise(
        *(a.filter(pa.array(has_addr)) for a in address_parts), "|"))
    parts["address"] = (rec, [stable_code(address.dictionary)[address.indices.to_numpy()]])
    zip5_code = _digits(zip5)
    rec = np.flatnonzero(has_dob & (zip5_code > 0))
    parts["dob_area"] = (rec, [dobkey[rec], zip5_code[rec]])
    has_number = address_parts[0].is_valid().to_numpy(zero_copy_only=False) & \
        address_parts[2].is_valid().to_numpy(zero_copy_only=False)
    rec = np.flatnonzero(has_number)
    number_zip = pc.dictionary_encode(pc.binary_join_element_wise(
        *(a.filter(pa.array(has_number)) for a in (address_parts[0], address_parts[2])), "|"))
    parts["number_zip"] = (rec, [stable_code(number_zip.dictionary)[
        number_zip.indices.to_numpy()]])

    out = {}
    for rule in RULES:
        rec, words = parts[rule]
        tag = np.full(len(rec), _TAG[rule], dtype=np.uint64)
        tokens = siphash24_rows(subkey, [tag, *words]) if len(rec) else np.empty(0, np.uint64)
        out[f"blk_{rule}"] = _lists(rec.astype(np.int64), tokens, n)
    return out

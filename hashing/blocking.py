"""Keyed blocking tokens: which records the linkage side should compare.

Several independent rules, so that a true pair with one or two corrupted fields still
shares a token under some rule. A token is SipHash-2-4, keyed with the blocking subkey, of
a tuple of component codes (rule tag, then e.g. the birth-date key and a Soundex code);
the linkage side sees only which records share a token, never what it stands for.

A rule is declared as the parts it combines (:data:`PARTS`, ``[encoding.blocking]``), so
the same engine blocks data with other fields (a UK postcode, no house numbers) by
configuration; the agency nights use :data:`DEFAULT_RULES`:

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

from data_contracts.encoded import MAX_BLOCKING_RULES

from ._kernels import siphash24_rows, siphash_strings

PARTS: dict[str, str] = {
    "ssn": "the SSN (real ones only: placeholders are missing)",
    "dob": "birth year + unordered month/day",
    "yob": "birth year (records with a birth date)",
    "first": "a nickname-tolerant first-name key (up to 4 a record)",
    "first_soundex": "Soundex of a first-name key",
    "first2": "the first two letters of a first-name key",
    "first3": "the first three letters of a first-name key",
    "last": "a last-name word (up to 3 a record)",
    "last_soundex": "Soundex of a last-name word",
    "last_metaphone": "Metaphone of a last-name word",
    "last2": "the first two letters of a last-name word",
    "last4": "the first four letters of a last-name word",
    "name_soundex": "Soundex of a last-name word or of a first-name key (first and last "
                    "swapped still meet)",
    "zip5": "the US ZIP5 (a postcode of digits only)",
    "zip3": "the ZIP5's first three digits; a record without one takes its family group's "
            "(a contact is most often local to the offender)",
    "postcode": "the postcode as written, any country's (a ZIP5, a UK postcode)",
    "postcode_area": "the postcode's first three characters (a ZIP3, a UK postcode's TQ1); a "
                     "record without one takes its family group's",
    "postcode3": "the postcode's first three characters, records with a postcode only (a "
                 "record without one meets none: Splink's substr(postcode, 1, 3))",
    "address": "house number + street name + postcode",
    "city": "the address's city as written (a data set may put a birth place there)",
    "number_postcode": "house number + postcode",
}
"""The parts a blocking rule combines. A rule's tokens are every combination of its parts'
values in one record (a record with two first-name keys and two last-name words has four
``first`` x ``last`` tokens); a record lacking a part has no token under that rule."""

DEFAULT_RULES: dict[str, tuple[str, ...]] = {
    "ssn": ("ssn",),
    "dob_name": ("dob", "name_soundex"),
    "name_yob": ("first_soundex", "last_soundex", "yob"),
    "name_area": ("first", "last_metaphone", "zip3"),
    "name": ("first", "last"),
    "address": ("address",),
    "dob_area": ("dob", "zip5"),
    "number_zip": ("number_postcode",),
}
"""The agency nights' rules (``[encoding.blocking]``): see the module docstring for why each."""
RULES: tuple[str, ...] = tuple(DEFAULT_RULES)
MAX_KEYS = 4
MAX_WORDS = 3
_TAG = {rule: np.uint64(i + 1) for i, rule in enumerate(RULES)}


def _tag(rule: str) -> np.uint64:
    """A rule's first token component: its number among the default rules, else a code of
    its name (tokens of two rules never meet)."""
    return _TAG[rule] if rule in _TAG else np.uint64(stable_code([rule])[0])


def stable_code(values) -> np.ndarray:  # type: ignore[no-untyped-def]
    """A stable (unkeyed: public all-zero key) 64-bit code per string; the keyed hash is
    applied on top, over the tuple of codes."""
    return siphash_strings(bytes(16), values if isinstance(values, pa.Array)
                           else pa.array(np.asarray(values, dtype=object), type=pa.string()))


class _Words:
    """The words of a space-joined column, flattened: ``rec`` (record of each word) and, per
    word, its own code, Soundex code and Metaphone code (each computed per distinct word),
    and on request a code of its first letters (:meth:`prefix`)."""

    def __init__(self, joined: pa.Array, limit: int) -> None:
        lists = pc.list_slice(pc.split_pattern(joined, " "), 0, limit)
        self.rec = pc.list_parent_indices(lists).to_numpy().astype(np.int64)
        flat = pc.list_flatten(lists)
        keep = pc.greater(pc.utf8_length(flat), 0).to_numpy(zero_copy_only=False)
        self.rec = self.rec[keep]
        encoded = pc.dictionary_encode(flat.filter(pa.array(keep)))
        idx = encoded.indices.to_numpy()
        distinct = encoded.dictionary.to_numpy(zero_copy_only=False)
        self.idx, self.distinct = idx, encoded.dictionary
        self.word = stable_code(encoded.dictionary)[idx]
        self.soundex = stable_code(np.array([jellyfish.soundex(w) for w in distinct],
                                            dtype=object))[idx]
        self.metaphone = stable_code(np.array([jellyfish.metaphone(w) for w in distinct],
                                              dtype=object))[idx]

    def prefix(self, length: int) -> np.ndarray:
        """Per word, a code of its first ``length`` characters (the whole word if shorter)."""
        return stable_code(pc.utf8_slice_codeunits(self.distinct, 0, length))[self.idx]


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


def rule_problems(rules: dict[str, list[str] | tuple[str, ...]]) -> list[str]:
    """Problems with a rule set, as ``rule: what is wrong`` strings."""
    problems = [] if 0 < len(rules) <= MAX_BLOCKING_RULES else [
        f"blocking: name 1 to {MAX_BLOCKING_RULES} rules (the linkage side keeps a bit per "
        "rule)"]
    for rule, parts in rules.items():
        if not rule.isidentifier():
            problems.append(f"blocking.{rule}: a rule name is letters, digits and _")
        if not parts:
            problems.append(f"blocking.{rule}: name at least one part")
        unknown = [part for part in parts if part not in PARTS]
        if unknown:
            problems.append(f"blocking.{rule}: unknown part {unknown[0]!r} (known: "
                            f"{', '.join(PARTS)})")
    return problems


class _Parts:
    """Each part's ``(record, code)`` arrays for a person frame, sorted by record, made
    on first use."""

    def __init__(self, persons: pd.DataFrame, values: dict[str, pa.Array]) -> None:
        self.p, self.values, self.n = persons, values, len(persons)
        self.made: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __getitem__(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        if part not in self.made:
            self.made[part] = getattr(self, f"_{part}")()
        return self.made[part]

    def _where(self, ok: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rec = np.flatnonzero(ok)
        return rec, codes[rec].astype(np.uint64)

    def _strings(self, *columns: str) -> tuple[np.ndarray, np.ndarray]:
        """Records with every column present, and a code of the columns joined."""
        arrays = [pa.array(self.p[c], type=pa.string(), from_pandas=True) for c in columns]
        ok = np.logical_and.reduce([a.is_valid().to_numpy(zero_copy_only=False)
                                    & (pc.fill_null(pc.utf8_length(a), 0).to_numpy() > 0)
                                    for a in arrays])
        joined = pc.dictionary_encode(pc.binary_join_element_wise(
            *(a.filter(pa.array(ok)) for a in arrays), "|"))
        codes = np.zeros(self.n, dtype=np.uint64)
        codes[ok] = stable_code(joined.dictionary)[joined.indices.to_numpy()]
        return self._where(ok, codes)

    def _date(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        dob = dates(self.p["dob"])
        year, month, day = (pc.fill_null(f(dob), 0).to_numpy().astype(np.int64)
                            for f in (pc.year, pc.month, pc.day))
        key = year * 10000 + np.minimum(month, day) * 100 + np.maximum(month, day)
        return dob.is_valid().to_numpy(zero_copy_only=False), year, key

    def _ssn(self) -> tuple[np.ndarray, np.ndarray]:
        ok = (self.p["ssn_status"] == "ok").fillna(False).to_numpy(dtype=bool)
        return self._where(ok, _digits(self.p["ssn"].where(ok)))

    def _dob(self) -> tuple[np.ndarray, np.ndarray]:
        ok, _, key = self._date()
        return self._where(ok, key)

    def _yob(self) -> tuple[np.ndarray, np.ndarray]:
        ok, year, _ = self._date()
        return self._where(ok, year)

    def _words(self, column: str, limit: int, code: str | int) -> tuple[np.ndarray, np.ndarray]:
        """Per word of ``column``, its record and ``code``: a :class:`_Words` code by name,
        or a code of its first ``code`` letters."""
        key = f"words:{column}"
        if key not in self.made:
            self.made[key] = _Words(self.values[column], limit)  # type: ignore[assignment]
        words: _Words = self.made[key]  # type: ignore[assignment]
        return words.rec, words.prefix(code) if isinstance(code, int) else getattr(words, code)

    def _first(self) -> tuple[np.ndarray, np.ndarray]:
        return self._words("first_keys", MAX_KEYS, "word")

    def _first_soundex(self) -> tuple[np.ndarray, np.ndarray]:
        return self._words("first_keys", MAX_KEYS, "soundex")

    def _first2(self) -> tuple[np.ndarray, np.ndarray]:
        return self._words("first_keys", MAX_KEYS, 2)

    def _first3(self) -> tuple[np.ndarray, np.ndarray]:
        return self._words("first_keys", MAX_KEYS, 3)

    def _last2(self) -> tuple[np.ndarray, np.ndarray]:
        return self._words("last_words", MAX_WORDS, 2)

    def _last4(self) -> tuple[np.ndarray, np.ndarray]:
        return self._words("last_words", MAX_WORDS, 4)

    def _last(self) -> tuple[np.ndarray, np.ndarray]:
        return self._words("last_words", MAX_WORDS, "word")

    def _last_soundex(self) -> tuple[np.ndarray, np.ndarray]:
        return self._words("last_words", MAX_WORDS, "soundex")

    def _last_metaphone(self) -> tuple[np.ndarray, np.ndarray]:
        return self._words("last_words", MAX_WORDS, "metaphone")

    def _name_soundex(self) -> tuple[np.ndarray, np.ndarray]:
        (lr, lc), (fr, fc) = self["last_soundex"], self["first_soundex"]
        rec = np.concatenate([lr, fr])
        order = np.argsort(rec, kind="stable")
        return rec[order], np.concatenate([lc, fc])[order]

    def _zip5(self) -> tuple[np.ndarray, np.ndarray]:
        codes = _digits(self.p["addr_zip5"])
        return self._where(codes > 0, codes)

    def _zip3(self) -> tuple[np.ndarray, np.ndarray]:
        return self._in_group(_digits(self.p["addr_zip5"].str[:3]))

    def _postcode(self) -> tuple[np.ndarray, np.ndarray]:
        return self._strings("addr_zip5")

    def _postcode_prefix(self) -> np.ndarray:
        """A code of the postcode's first three characters (0 where it is missing)."""
        prefix = pc.utf8_slice_codeunits(
            pa.array(self.p["addr_zip5"], type=pa.string(), from_pandas=True), 0, 3)
        has = pc.fill_null(pc.utf8_length(prefix), 0).to_numpy() > 0
        codes = np.zeros(self.n, dtype=np.uint64)
        codes[has] = stable_code(prefix.filter(pa.array(has)))
        return codes

    def _postcode_area(self) -> tuple[np.ndarray, np.ndarray]:
        return self._in_group(self._postcode_prefix())

    def _postcode3(self) -> tuple[np.ndarray, np.ndarray]:
        codes = self._postcode_prefix()
        return self._where(codes > 0, codes)

    def _in_group(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every record with an area code: its own, else its family group's first record's
        (0 where neither has one: such records still meet by area 0)."""
        has = codes > 0
        if not has.all():
            group = pd.factorize(self.p["family_group"])[0]
            first = pd.Series(np.where(has, np.arange(self.n), self.n)).groupby(
                group).transform("min").to_numpy()
            take = ~has & (first < self.n)
            codes = codes.copy()
            codes[take] = codes[first[take]]
        return np.arange(self.n, dtype=np.int64), codes.astype(np.uint64)

    def _address(self) -> tuple[np.ndarray, np.ndarray]:
        return self._strings("addr_number", "addr_street_name", "addr_zip5")

    def _number_postcode(self) -> tuple[np.ndarray, np.ndarray]:
        return self._strings("addr_number", "addr_zip5")

    def _city(self) -> tuple[np.ndarray, np.ndarray]:
        return self._strings("addr_city")


def _combine(parts: list[tuple[np.ndarray, np.ndarray]], n: int
             ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Every combination of the parts' values within one record: records and columns."""
    rec, columns = parts[0][0], [parts[0][1]]
    for part_rec, part_codes in parts[1:]:
        i, j = _pairs(rec, part_rec, n)
        rec, columns = rec[i], [c[i] for c in columns] + [part_codes[j]]
    return rec, columns


def blocking_tokens(persons: pd.DataFrame, values: dict[str, pa.Array], subkey: bytes,
                    rules: dict[str, tuple[str, ...]] | None = None
                    ) -> dict[str, pa.ListArray]:
    """Keyed blocking tokens per rule for each person record (row order kept).

    Args:
        persons: a contract's person frame (``PERSON_COLUMNS``), default index.
        values: :func:`hashing.values.field_values` of the same frame.
        subkey: the blocking subkey (``Purpose.BLOCKING``).
        rules: rule name -> parts (:data:`PARTS`); default :data:`DEFAULT_RULES`.

    Returns:
        ``{"blk_<rule>": list<uint64> array}``, one list per record, empty where the rule
        has nothing to go on.
    """
    p = persons.reset_index(drop=True)
    n = len(p)
    made = _Parts(p, values)
    out = {}
    for rule, parts in (DEFAULT_RULES if rules is None else rules).items():
        rec, words = _combine([made[part] for part in parts], n)
        tag = np.full(len(rec), _tag(rule), dtype=np.uint64)
        tokens = siphash24_rows(subkey, [tag, *words]) if len(rec) else np.empty(0, np.uint64)
        out[f"blk_{rule}"] = _lists(rec.astype(np.int64), tokens, n)
    return out

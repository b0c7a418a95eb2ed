"""Comparison of candidate pairs on the encodings: agreement levels per comparison.

A hardened filter hides its number of set bits (balancing) and carries record-level random
flips, so what two encodings of a field reveal is their Hamming distance, noise included.
:func:`token_distance` turns it into an estimate of the number of tokens (bigrams, words,
date parts, SSN digit positions) by which the two values differ: the expected flip noise
is taken off and the rest divided by the bits one token sets. That scale is the same for
every field and every filter size. Filters fill up (tokens share bits), so the estimate
runs below the true count as values differ more; the cut points were set from measured
distances of controlled variants (``tests/unit/test_linkage_model.py`` holds them):

* names: the same ~0, one typo ~2.5, two typos ~4.3, unrelated ~8 (5 % quantile 6.0);
* date of birth (year, month, day, unordered month/day): wrong year ~1.2, wrong day or
  swapped day/month ~2.4, unrelated ~4.4; the birth year's window (``yob``) adds how far
  apart the years are (:func:`dob_levels`);
* SSN (digits with positions): one wrong digit ~0.9, two ~1.9, unrelated ~6.6;
* ZIP (ZIP5 and ZIP3): same ZIP3 ~1.3, unrelated ~2.7; street: one typo or another house
  number ~2.3, another street ~15.

The *relationship* comparison applies to two derived persons of one agency only (the
relation each was named with: two guardians both named MOTHER at one address are one
mother, not two).

A given and family name swapped (FEBRL does it; so do clerks) count as agreeing on both
when the *name pair* (first and last name in alphabetical order) agrees exactly.

ZIP, street and unit form one *address* comparison (a unit agrees by chance across
buildings; a look-alike on another street of the same ZIP must not score as the ZIP says).

Names are compared as Splink does, one comparison per name part with graded levels, so
the exact spelling and its nickname-tolerant keys are not counted twice: *first name* uses
``first_name`` (bigrams) and ``first_keys`` (nickname keys and alias first names), *last
name* uses ``last_name`` and ``last_words`` (hyphen parts, maiden and alias surnames).

Levels are ``int8``: ``-1`` missing (its own level, never "disagree"), ``0`` for the
weakest agreement up to the exact agreement. Work is per field over arrays of pairs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from data_contracts.encoded import undiffused_distance

from . import _bits, _records
from .blocking import shares_token

KEY_RULE = "name"
"""The blocking rule whose tokens are a nickname-tolerant first-name key with a surname
word (:mod:`hashing.blocking`): sharing one means the first names share a nickname key."""



@dataclass(frozen=True)
class Comparison:
    """One compared attribute: its levels from ``0`` (disagree) up, named for the report,
    and the levels that are evidence against a match whatever a night's fit says
    (``against``: the model holds their Bayes factor at most one, and only they can be a
    clustering conflict), and the levels that are ordered by closeness, farthest first
    (``ordered``: the model holds their Bayes factors non-decreasing along it, as a closer
    agreement is never less evidence of a match than a farther one)."""

    name: str
    levels: tuple[str, ...]
    against: tuple[str, ...] = ()
    ordered: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = (set(self.against) | set(self.ordered)) - set(self.levels)
        if unknown:
            raise ValueError(f"{self.name}: against or ordered names no level {sorted(unknown)}")

    def ordered_levels(self) -> np.ndarray:
        """The ``ordered`` levels' indices, farthest first."""
        return np.array([self.levels.index(x) for x in self.ordered], dtype=np.int64)

    def against_levels(self) -> np.ndarray:
        """The ``against`` levels' indices."""
        return np.array([self.levels.index(x) for x in self.against], dtype=np.int64)

    @property
    def n_levels(self) -> int:
        return len(self.levels)


_EXACT = ("exact, very common name", "exact, common name", "exact, uncommon name",
          "exact, rare name")
"""Exact name agreement is split by the name's frequency class (``freq_<field>``, the
commoner of the two records'): Splink's term-frequency adjustment, as levels whose m and u
the model estimates like any other."""

OPTIONAL: tuple[str, ...] = ("place", "occupation")
"""Comparisons of the optional encoded fields (``[encoding] optional_fields``: birth place
and occupation): missing where a file does not carry them."""
_GRADED = ("different", "close (one typo)", "exact")
_ADDRESS = ("different ZIP3", "same ZIP3", "same ZIP5, other street",
            "same ZIP5, similar street (two typos)",
            "same ZIP5, close street (one typo or house number)",
            "same street, unit differs", "same street and unit",
            "same house number and street, other ZIP")
_GENERATION = "another generation (about 12 or more years apart)"
COMPARISONS: tuple[Comparison, ...] = (
    Comparison("first_name", ("different", "similar (two typos)", "one key differs",
                              "close (one typo)", "a nickname or alias key shared",
                              *_EXACT), against=("different",)),
    Comparison("middle_name", ("different", "close (one typo)", "exact"),
               ordered=("different", "close (one typo)", "exact")),
    Comparison("last_name", ("different", "similar (two typos)",
                             "shares a surname word (hyphen, maiden, alias)",
                             "close (one typo)", *_EXACT), against=("different",)),
    Comparison("dob", (_GENERATION, "different, 3 to 11 years apart",
                       "different, within 2 years",
                       "day or month differs, or the two swapped",
                       "year differs (under 12 years)", "exact"),
               against=(_GENERATION, "different, 3 to 11 years apart"),
               ordered=(_GENERATION, "different, 3 to 11 years apart",
                        "different, within 2 years", "exact")),
    Comparison("sex", ("different", "same"), against=("different",)),
    Comparison("ssn", ("different", "two digits differ", "one digit differs", "exact"),
               against=("different",),
               ordered=("different", "two digits differ", "one digit differs", "exact")),
    Comparison("address", _ADDRESS, ordered=_ADDRESS[:7]),
    Comparison("relationship", ("different", "same")),
    Comparison("suffix", ("different (JR and SR)", "same"), against=("different (JR and SR)",)),
    *(Comparison(name, _GRADED, ordered=_GRADED) for name in OPTIONAL),
)
COMPARISON_NAMES: tuple[str, ...] = tuple(c.name for c in COMPARISONS)


def level(name: str, label: str) -> int:
    """The index of a comparison's level, by the comparison's and the level's names: code
    reads levels by name, so that adding a level is a change in :data:`COMPARISONS`."""
    return COMPARISONS[COMPARISON_NAMES.index(name)].levels.index(label)


def exact_level(name: str) -> int:
    """The lowest level of a name comparison that is exact agreement (the frequency
    classes follow it)."""
    return level(name, _EXACT[0])


F_SIMILAR, F_KEY_DIFFERS, F_CLOSE, F_KEY_SHARED, F_EXACT = (level("first_name", x) for x in (
    "similar (two typos)", "one key differs", "close (one typo)",
    "a nickname or alias key shared", _EXACT[0]))
L_SIMILAR, L_WORD, L_CLOSE, L_EXACT = (level("last_name", x) for x in (
    "similar (two typos)", "shares a surname word (hyphen, maiden, alias)",
    "close (one typo)", _EXACT[0]))
"""The first- and last-name levels by name (``F_`` first, ``L_`` last name)."""

NAME_TOKEN_LEVELS: dict[str, int] = {"first_name": F_KEY_SHARED, "last_name": L_WORD}
"""The levels the KEY_RULE token grants: "a nickname or alias key shared" and "shares a
surname word". The token holds only when the other name agrees too, so among random pairs
these levels are about forty times rarer than the same agreement is among non-matches
whose other name agrees, which are the ones the model meets (:func:`linkage.model.fit`
estimates their ``u`` on such pairs)."""


SAME_STREET = level("address", "same street, unit differs")
"""Address levels from this one up mean the same street (in the same ZIP5, or the same
house number and street with another ZIP)."""
FIRST, LAST, ADDRESS, RELATIONSHIP, DOB = (COMPARISON_NAMES.index(n) for n in (
    "first_name", "last_name", "address", "relationship", "dob"))
DOB_GENERATION, DOB_YEARS, DOB_NEAR, DOB_DAY, DOB_YEAR, DOB_EXACT = (level("dob", x) for x in (
    _GENERATION, "different, 3 to 11 years apart", "different, within 2 years",
    "day or month differs, or the two swapped", "year differs (under 12 years)", "exact"))
"""The birth-date levels by name (:data:`COMPARISONS`): another generation, 3-11 years
apart, within 2 years, same year with day or month off, only the year off, exact."""
GENERATION_YEARS = 12
"""Birth years this far apart are another generation, not a typo: a father and a namesake
son, a youth and an adult offender. A year typo is one digit (1985 and 1986, 1958) or a
decade (1985 and 1975); a wholly wrong date is rare (below 1 % of records in published
audits of administrative data), so such pairs are what the model must learn as
non-matches."""

# Token-distance cut points of the single-field comparisons, ascending; level = number of
# cut points the distance stays under (so exact agreement is the highest level).
_CUTS: dict[str, tuple[float, ...]] = {
    "middle_name": (3.4, 0.8),
    "dob": (3.4, 1.85, 0.6),
    "sex": (0.5,),
    "suffix": (0.5,),
    "ssn": (3.5, 1.5, 0.3),
    **{name: (3.4, 0.8) for name in OPTIONAL},
}
_YEAR_CUTS = (13.5, 4.0, 0.6)
"""Token-distance cut points of ``yob`` (the years around the birth year; two birth years
``k`` apart differ in about ``2 k`` tokens, fewer as the filter fills): about 12 years or
more, 3-11, 1-2, the same year. Measured on encodings with the default hardening:
the same year 0-0.49, one year apart 0-2.7 (median 0.9), two 0.2-3.8, three 1.9-5.4,
eleven 10.6-16.1, twelve 11.6-17.2, twenty 20-28."""
_ZIP_CUTS = (2.0, 0.6)
_STREET_CUTS = (6.0, 3.4, 0.8)
_NAME_EXACT, _NAME_CLOSE, _NAME_SIMILAR = 0.8, 3.4, 6.0
"""Token-distance cut points of the name filters (first name, last name, name pair):
exact, one typo ("close"), two typos ("similar")."""


@dataclass(frozen=True)
class FieldCodec:
    """What the linkage side needs to read one encoded field (from the file metadata)."""

    bits: int
    hashes: int
    flips: int
    diffusion: int = 0

    @classmethod
    def from_encoding(cls, encoding: Mapping[str, Any], name: str) -> FieldCodec:
        bits = int(encoding["fields"][name]["bits"])
        hashes = int(encoding["filters"][name][1])
        flips = (int(round(float(encoding["flip_fraction"]) * bits))
                 if name in encoding.get("flip_fields", ()) else 0)
        return cls(bits=bits, hashes=hashes, flips=flips,
                   diffusion=int(encoding["fields"][name].get("diffusion", 0)))


def token_distance(records: pa.Table, name: str, codec: FieldCodec, left: np.ndarray,
                   right: np.ndarray) -> np.ndarray:
    """Estimated number of tokens by which each pair's values differ (float32; NaN where a
    side is missing).

    Two encodings of one value differ in about ``2 f (1 - f / bits)`` bits after each took
    ``f`` random flips; each token in the symmetric difference adds ``hashes`` bits to the
    underlying filter's distance, doubled by balancing, and a flip lands on one of them and
    cancels it with probability ``2 f / bits``. A diffused field's distance is first mapped
    back to its filters' distance before flips and diffusion
    (:func:`data_contracts.encoded.undiffused_distance`).
    """
    filters, valid = _bits.filter_words(records.column(f"enc_{name}"))
    h = _bits.hamming(filters, valid, left, right).astype(np.float32)
    f, bits = codec.flips, codec.bits
    if codec.diffusion:
        d = undiffused_distance(h, bits, codec.diffusion, f) / (2.0 * codec.hashes)
        return np.where(h < 0, np.nan, d).astype(np.float32)
    noise = 2.0 * f * (1.0 - f / bits)
    per_token = 2.0 * codec.hashes * (1.0 - 2.0 * f / bits)
    d = np.maximum(h - noise, 0.0) / per_token
    return np.where(h < 0, np.nan, d).astype(np.float32)


def _graded(d: np.ndarray, cuts: tuple[float, ...]) -> np.ndarray:
    level = (d[:, None] < np.asarray(cuts, dtype=np.float32)[None, :]).sum(axis=1)
    return np.where(np.isnan(d), -1, level)


def _exact_class(records: pa.Table, name: str, left: np.ndarray, right: np.ndarray,
                 exact: np.ndarray) -> np.ndarray:
    """Offset of an exact agreement's level: 0 very common .. 3 rare (the commoner of the
    two records' classes); 0 where not exact or where the file carries no classes."""
    column = f"freq_{name}"
    if column not in records.column_names:
        return np.zeros(len(left), dtype=np.int8)
    cls = records.column(column).to_numpy(zero_copy_only=False)
    cls = np.nan_to_num(cls.astype(np.float32), nan=3.0).astype(np.int8)
    return np.where(exact, np.minimum(cls[left], cls[right]), 0).astype(np.int8)


def _unswap(out: np.ndarray, pair_exact: np.ndarray, pair_close: np.ndarray,
            records: pa.Table, left: np.ndarray, right: np.ndarray) -> None:
    """Given and family name swapped (neither agrees, the name pair in alphabetical order
    does): both count as exact agreement, in place; swapped with a typo in one of them
    (the name pair one typo apart): both count as one typo apart, as it is not known
    which of the two carries it."""
    neither = (out[:, FIRST] >= 0) & (out[:, FIRST] <= F_SIMILAR) & \
        (out[:, LAST] >= 0) & (out[:, LAST] <= L_SIMILAR)
    swapped = neither & pair_exact
    if swapped.any():
        out[swapped, FIRST] = F_EXACT + _exact_class(records, "first_name", left, right,
                                                     swapped)[swapped]
        out[swapped, LAST] = L_EXACT + _exact_class(records, "last_name", left, right,
                                                    swapped)[swapped]
    typo = neither & ~pair_exact & pair_close
    out[typo, FIRST] = F_CLOSE
    out[typo, LAST] = L_CLOSE


def address_levels(zip_level: np.ndarray, street_level: np.ndarray, same_unit: np.ndarray
                   ) -> np.ndarray:
    """The address comparison from its parts: the ZIP level (``-1`` unknown, ``0`` other
    ZIP3, ``1`` same ZIP3, ``2`` same ZIP5) where the street is unknown or the ZIP5
    differs, else ``2`` + the street level (``0`` other street .. ``3`` same street), the
    same street split by whether the unit agrees (both without one agree); the same house
    number and street with another ZIP is a level of its own, ``7`` (a mistyped ZIP, or
    the same address in another town: the model weighs which)."""
    by_zip_level = np.where(zip_level >= 0, np.take(_BY_ZIP, np.clip(zip_level, 0, 2)), -1)
    on_street = np.where(street_level == 3, np.where(same_unit, _SAME_UNIT, SAME_STREET),
                         np.take(_ON_STREET, np.clip(street_level, 0, 2)))
    by_zip = (street_level < 0) | ((zip_level >= 0) & (zip_level < 2))
    named = np.where(by_zip, by_zip_level, on_street)
    other_zip = (street_level == 3) & (zip_level >= 0) & (zip_level < 2)
    return np.where(other_zip, _OTHER_ZIP, named).astype(np.int8)


_BY_ZIP = [level("address", x) for x in ("different ZIP3", "same ZIP3", "same ZIP5, other street")]
_ON_STREET = [level("address", x) for x in (
    "same ZIP5, other street", "same ZIP5, similar street (two typos)",
    "same ZIP5, close street (one typo or house number)")]
_SAME_UNIT = level("address", "same street and unit")
_OTHER_ZIP = level("address", "same house number and street, other ZIP")


def relationship_levels(records: pa.Table, left: np.ndarray, right: np.ndarray
                        ) -> np.ndarray:
    """Two derived persons of one agency named with the same relationship: the mother of
    two siblings is one person; a household rarely holds two mothers. (Across agencies the
    labels are relative to different people: a youth's MOTHER is an offender's SISTER.)
    ``1`` same, ``0`` different, ``-1`` not applicable."""
    derived = _records.derived(records)
    agency, _ = _records.codes(records, "agency")
    rel, _ = _records.codes(records, "relationship")
    known = derived[left] & derived[right] & (agency[left] == agency[right]) & \
        (rel[left] >= 0) & (rel[right] >= 0)
    return np.where(known, (rel[left] == rel[right]).astype(np.int8), -1).astype(np.int8)


def compare(records: pa.Table, left: np.ndarray, right: np.ndarray,
            encoding: Mapping[str, Any]) -> np.ndarray:
    """Agreement levels of the pairs, ``int8[pairs, comparisons]`` in COMPARISONS order.

    Args:
        records: encoded records (``enc_<field>`` columns).
        left, right: record indices of the candidate pairs.
        encoding: the encoding settings the files declare (filter sizes, flips).
    """
    def dist(name: str) -> np.ndarray:
        return token_distance(records, name, FieldCodec.from_encoding(encoding, name),
                              left, right)

    out = np.empty((len(left), len(COMPARISONS)), dtype=np.int8)
    fn, fk = dist("first_name"), dist("first_keys")
    keys_known = ~np.isnan(fk)
    # A Hamming distance sees how many nickname keys differ, not that some are shared
    # (WILLIAM and BILL differ by six); the name rule's tokens (a first-name key with a
    # surname word) show it, for any pair.
    shared = shares_token(records, KEY_RULE, left, right) \
        if f"blk_{KEY_RULE}" in records.column_names else np.zeros(len(left), dtype=bool)
    out[:, FIRST] = np.select(
        [np.isnan(fn), fn < _NAME_EXACT, (keys_known & (fk < 0.4)) | shared,
         fn < _NAME_CLOSE, keys_known & (fk < 1.2), fn < _NAME_SIMILAR],
        [-1, F_EXACT, F_KEY_SHARED, F_CLOSE, F_KEY_DIFFERS, F_SIMILAR], 0)
    out[:, FIRST] += _exact_class(records, "first_name", left, right,
                                  out[:, FIRST] == F_EXACT)
    # ZIP, street and unit are one comparison: conditional independence does not hold
    # between them (a unit number agrees by chance across buildings, and a look-alike in
    # the same ZIP on another street must not collect the ZIP's weight as if the street
    # did not matter).
    zl = _graded(dist("zip"), _ZIP_CUTS)
    sl = _graded(dist("street"), _STREET_CUTS)
    unit = dist("unit")
    _, unit_valid = _bits.filter_words(records.column("enc_unit"))
    same_unit = (~unit_valid[left] & ~unit_valid[right]) | (~np.isnan(unit) & (unit < 0.5))
    out[:, ADDRESS] = address_levels(zl, sl, same_unit)
    ln, lw = dist("last_name"), dist("last_words")
    # "shares a surname word" needs the name rule's exact token (a first-name key with that
    # word) as well: one shared word shows as a distance near 1 token and two unrelated
    # words near 2, but the spreads overlap (benchmarks/README.md, tuning notes)
    word = ~np.isnan(lw) & (lw < 1.2) & shared
    out[:, LAST] = np.select(
        [np.isnan(ln), ln < _NAME_EXACT, ln < _NAME_CLOSE, word, ln < _NAME_SIMILAR],
        [-1, L_EXACT, L_CLOSE, L_WORD, L_SIMILAR], 0)
    out[:, LAST] += _exact_class(records, "last_name", left, right, out[:, LAST] == L_EXACT)
    if "enc_name_pair" in records.column_names:
        pair = dist("name_pair")               # NaN (a name missing) compares False
        _unswap(out, pair < _NAME_EXACT, pair < _NAME_CLOSE, records, left, right)
    out[:, COMPARISON_NAMES.index("relationship")] = relationship_levels(records, left, right)
    for j, comp in enumerate(COMPARISONS):
        if comp.name in _CUTS:     # an optional field a file does not carry: missing
            out[:, j] = _graded(dist(comp.name), _CUTS[comp.name]) \
                if f"enc_{comp.name}" in records.column_names else -1
    out[:, DOB] = dob_levels(out[:, DOB], _graded(dist("yob"), _YEAR_CUTS))
    _checked_by_name_yob(out, records, left, right)
    return out


def dob_levels(date_level: np.ndarray, year_gap: np.ndarray) -> np.ndarray:
    """The birth-date comparison from its two parts: ``date_level`` (``-1`` missing, ``0``
    different, ``1`` day or month differs or swapped, ``2`` only the year differs, ``3``
    exact, from the date's own filter) and ``year_gap`` (``-1`` missing, ``0`` about 12
    years or more apart, ``1`` 3-11, ``2`` 1-2, ``3`` the same year). A date that differs
    beyond day and month is graded by how far apart the years are; the date's filter alone
    cannot tell a digit typo from a generation (both show as one year token differing). A
    day or month off needs the same year; an exact date needs the years close."""
    year_gap = np.where(year_gap < 0, 2, year_gap)     # no year window: take it as near
    gap_level = np.select([year_gap == 0, year_gap == 1], [DOB_GENERATION, DOB_YEARS],
                          DOB_NEAR)
    out = np.select(
        [date_level < 0,
         (date_level == 3) & (year_gap >= 2), (date_level == 3),
         (date_level == 2) & (year_gap >= 1), (date_level == 1) & (year_gap == 3)],
        [-1, DOB_EXACT, np.where(year_gap == 0, DOB_GENERATION, DOB_YEAR),
         DOB_YEAR, DOB_DAY], gap_level)
    return out.astype(np.int8)


SOUND_RULE = "name_yob"
"""The blocking rule whose tokens are Soundex of a first-name key with Soundex of a surname
word and the birth year: for two records with one surname and one birth date, sharing one
means their first names sound alike; for two with one first name and surname, that they
were born in the same year."""


FIRST_UNRELATED = F_KEY_DIFFERS
"""First-name levels up to which the filters do not tell related names from unrelated
ones: different, similar (two typos) and one nickname key differing. Two records of one
family group graded so are siblings unless they share a name-rule token
(:func:`linkage.cluster.siblings`); two with one surname and birth date need the name_yob
token above "different" (:func:`_checked_by_name_yob`)."""


def _checked_by_name_yob(out: np.ndarray, records: pa.Table, left: np.ndarray,
                         right: np.ndarray) -> None:
    """Two levels the filters grade too generously, asked of the SOUND_RULE token where it
    can answer (in place):

    * a first name only "similar (two typos)" or "one key differs" counts as different
      for two records with the same surname and birth date whose first names do not sound
      alike: bigram filters grade many unrelated first names "similar" (SAM and WILLIAM),
      which the plaintext's Jaro-Winkler does not;
    * a birth date "day or month differs" counts as different for two records with the
      same first name and surname born in different years: the filters let some dates
      differing in three or four parts under that level's cut; and an "exact" birth date
      of two such records that do not share the token is a year apart.

    What was measured behind both is in ``benchmarks/README.md`` (tuning notes).
    """
    if f"blk_{SOUND_RULE}" not in records.column_names:
        return
    exact_first, exact_last = exact_level("first_name"), exact_level("last_name")
    same_last = out[:, LAST] >= exact_last
    similar = (out[:, FIRST] >= F_SIMILAR) & (out[:, FIRST] <= FIRST_UNRELATED) & same_last & \
        (out[:, DOB] == DOB_EXACT)
    namesakes = same_last & (out[:, FIRST] >= exact_first)
    near_day = namesakes & (out[:, DOB] == DOB_DAY)
    same_day = namesakes & (out[:, DOB] == DOB_EXACT)
    idx = np.flatnonzero(similar | near_day | same_day)
    if len(idx):
        apart = ~shares_token(records, SOUND_RULE, left[idx], right[idx])
        out[idx[similar[idx] & apart], FIRST] = 0
        out[idx[near_day[idx] & apart], DOB] = DOB_NEAR
        out[idx[same_day[idx] & apart], DOB] = DOB_YEAR

"""Deterministic synthetic nightly extracts for DHS, DJS and DPSCS, with ground truth.

One *population* is defined by ``(seed, scale)`` alone: households (families)
with members, identifiers, an open date, maybe a close date and maybe a move.
A *night* is a snapshot of that population: the families active that night,
their address as each agency knows it that night, and activity dates on or
before the night. Every random draw is made for the whole population before
the night is applied, so a record keeps its id and its noise (typos,
nicknames, dirty-row injection ...) from one night to the next.

Families are generated in chunks (a chunk never splits a family); each chunk
has its own random stream ``default_rng([seed, chunk])`` and is streamed to
the three files (CSV/TXT appends, Parquet row groups) and to ``truth/``.

Family members are slots of a household (see ``_NS``). DJS guardians use every
relationship of the spec: mostly parents (MOTHER first), grandparents, an aunt/uncle
(a parent's sibling), an adult sibling (18-30), an unrelated household adult (OTHER) and
a few % FOSTER PARENTs, who are no kin: a one-person family of their own (another surname
and household, where the youth lives), sometimes known to DHS in their own case. About
10 % of DJS families have two youths in DJS with the same guardians on both rows. DPSCS
family contacts likewise cover spouse/partner, parents, children, siblings, a grandmother
and an aunt; sex and age always fit the relationship.

A *profile* (:mod:`pipeline.synth.profiles`: ``baseline``, ``city``, ``namesakes``,
``sparse``, ``messy``) sets the rates and knobs of the population: name concentration,
strangers who share a name (and birth date), namesakes, missing values, spelling and
birth-date errors. ``baseline`` is the population the model was tuned on and writes the
same bytes as before profiles existed; what other profiles add draws from a second random
stream, so the baseline stream is never disturbed.

The layouts follow ``/work/shared/specs/agency_extracts.md``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from . import vocab
from .profiles import BASELINE, Profile, get_profile

__all__ = ["generate_night", "SCALES", "DHS_COLUMNS", "DJS_COLUMNS", "DPSCS_SCHEMA",
           "TRAP_TAGS", "DIRTY_REASONS"]

#: families generated (over the whole timeline, ~55 % active on a night near 2026-11-25),
#: target multi-system families on a night, families per chunk. About 2.4 person records
#: per active family, so small/medium/large give ~20k/~200k/~2M records.
SCALES: dict[str, dict[str, int]] = {
    "small": {"families": 15_100, "multi": 50, "chunk": 15_100},
    "medium": {"families": 151_000, "multi": 200, "chunk": 50_400},
    "large": {"families": 1_510_000, "multi": 2_000, "chunk": 60_400},
}

DHS_COLUMNS = ["client_id", "case_id", "case_role", "first_name", "middle_name", "last_name",
               "name_suffix", "dob", "sex", "ssn", "addr_street", "addr_city", "addr_state",
               "addr_zip", "program", "last_activity_date"]
DJS_COLUMNS = ["youth_id", "youth_last_name", "youth_first_name", "youth_middle_initial",
               "birth_date", "gender", "home_address", "guardian1_name", "guardian2_name",
               "guardian1_relationship", "guardian2_relationship", "guardian1_birth_date",
               "guardian2_birth_date", "intake_date", "region"]
DPSCS_SCHEMA = pa.schema([
    ("sid", pa.string()), ("full_name", pa.string()), ("aliases", pa.list_(pa.string())),
    ("dob", pa.date32()), ("sex", pa.string()), ("ssn", pa.string()),
    ("address_street", pa.string()), ("address_city", pa.string()),
    ("address_state", pa.string()), ("address_zip", pa.string()), ("status", pa.string()),
    ("emergency_contact_name", pa.string()), ("emergency_contact_relationship", pa.string()),
    ("status_date", pa.timestamp("us")),
])
TRUTH_SCHEMA = pa.schema([
    ("agency", pa.string()), ("record_id", pa.string()), ("record_kind", pa.string()),
    ("person_key", pa.string()), ("family_key", pa.string()), ("systems", pa.string()),
    ("multi_system", pa.bool_()), ("traps", pa.string()),
])
TRAP_TAGS = ["nickname", "typo", "maiden", "hyphenated", "dob_swap", "placeholder_ssn",
             "shared_ssn", "moved", "twin", "namesake", "shared_address", "lookalike",
             "dhs_dup_id", "cp1252"]
#: trap tags only a profile plants (``baseline`` never does): a birth-date error other than
#: a day/month swap (digit typo, year off by one, wholly wrong)
_EXTRA_TAGS = ["dob_error"]
DIRTY_REASONS = ["bad_encoding", "wrong_column_count", "bad_id", "duplicate_id", "bad_date",
                 "future_date", "missing_name"]
AGENCIES = np.array(["DHS", "DJS", "DPSCS"], dtype=object)
KINDS = np.array(["primary", "guardian", "guardian", "contact"], dtype=object)

_EPOCH = np.datetime64("1970-01-01", "D")
_REF = int((np.datetime64("2026-11-25", "D") - _EPOCH).astype(int))  # population reference day
_NEVER = 10**6
_SHARED_SSN = "111111111"
_PLACEHOLDERS = np.array(["000000000", "123456789", "999999999", "000123456", "666014321",
                          "912345678", "987654320"], dtype=object)
#: member slots: 0 head, 1 spouse, 2-5 children (the DJS youth is 2, a second DJS youth 3),
#: 6 grandparent (a parent of the head), 7 other child, 8 aunt/uncle (a sibling of a parent),
#: 9 adult sibling of the children (18-30), 10 other adult (no kin; an ``OTHER`` guardian)
_NS = 11
_ROLES = np.array(["HEAD", "SPOUSE", "CHILD", "CHILD", "CHILD", "CHILD", "OTHER_ADULT",
                   "OTHER_CHILD", "OTHER_ADULT", "OTHER_ADULT", "OTHER_ADULT"], dtype=object)
#: DJS guardian arrangement of a youth: both/one parent, grandparent, aunt/uncle, adult
#: sibling, other adult, foster parent (no kin: a person of another household)
_G_CATS = ("parent", "grand", "aunt", "sib", "other", "foster")
_G_CAT_P = [0.77, 0.09, 0.045, 0.03, 0.025, 0.04]
_TWO_YOUTH = 0.10   # share of DJS families with two youths (siblings) in DJS
#: synthetic fam_global offsets of appended one-person families, per chunk (< 100k each):
#: look-alikes and foster households; kept small so every id scramble stays a bijection
_LOOKALIKE_BASE = 2_000_000
_FOSTER_BASE = 5_000_000
_STRANGER_BASE = 8_000_000  # profiles' same-name strangers (after 5M + 25 chunks of fosters)
_YOUTH2_ID = 5_000_000  # DJS youth number of a family's second youth: fam_global + this
_DIRTY_RATE = {0: 0.015, 1: 0.02, 2: 0.015}
_REASONS_BY_AGENCY = {0: DIRTY_REASONS, 1: DIRTY_REASONS,
                      2: ["bad_id", "duplicate_id", "bad_date", "future_date", "missing_name"]}
# bytes that decode neither as UTF-8 (stray continuation/lead) nor as cp1252 (undefined)
_BAD_HIGH = ["\udc81", "\udc8d", "\udc8f", "\udc90", "\udc9d"]
# ASCII controls; 0x1D/0x1E are internal sentinels and the splitlines() breakers are avoided
_BAD_CTRL = [chr(c) for c in (*range(0x01, 0x09), *range(0x0E, 0x1C), 0x1F, 0x7F)] + ["\x00"]


# --------------------------------------------------------------------------- helpers

def _insert_bad_bytes(frame: pd.DataFrame, j: int, columns: list[str], u: np.ndarray) -> None:
    """Plant a ``bad_encoding`` row: bytes that are neither UTF-8 nor Windows-1252 text, or
    a control character, inside one of ``columns`` of row ``j`` (choices from ``u``)."""
    col = columns[int(u[0] * len(columns))]
    s = frame.at[j, col]
    k = 1 + int(u[2] * max(len(s) - 1, 1))
    bad = (_BAD_HIGH + _BAD_CTRL)[int(u[3] * (len(_BAD_HIGH) + len(_BAD_CTRL)))]
    frame.at[j, col] = s[:k] + bad + s[k:]

def _ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split day numbers (days since 1970-01-01) into year, month, day arrays."""
    dt = np.asarray(days, dtype="int64").astype("datetime64[D]")
    y = dt.astype("datetime64[Y]")
    mo = dt.astype("datetime64[M]")
    return (y.astype(int) + 1970, (mo - y.astype("datetime64[M]")).astype(int) + 1,
            (dt - mo.astype("datetime64[D]")).astype(int) + 1)


def _z(a: np.ndarray, w: int) -> np.ndarray:
    """Zero-pad integers to width ``w`` as an object array of strings."""
    return pd.Series(a).astype(str).str.zfill(w).to_numpy(object)


def _fmt_dates(days: np.ndarray, style: str, swap: np.ndarray | None = None) -> np.ndarray:
    """Format day numbers as ``MM/DD/YYYY`` (``us``) or ``YYYY-MM-DD`` (``iso``).

    ``swap`` marks rows whose day and month are exchanged (legitimate noise).
    """
    if len(days) == 0:
        return np.array([], dtype=object)
    y, m, d = _ymd(days)
    if swap is not None:
        m, d = np.where(swap, d, m), np.where(swap, m, d)
    ys, ms, ds = _z(y, 4), _z(m, 2), _z(d, 2)
    return ms + "/" + ds + "/" + ys if style == "us" else ys + "-" + ms + "-" + ds


def _scramble(x: np.ndarray, mod: int, a: int, b: int) -> np.ndarray:
    """Bijection on ``[0, mod)`` used to turn sequential indices into ids."""
    return (np.asarray(x, dtype=np.int64) * a + b) % mod


def _typo(rng: np.random.Generator, s: str) -> str:
    """Return ``s`` with one typo: substitution, deletion, transposition or doubled letter."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    if len(s) < 3:
        return s + s[-1]
    op = rng.integers(4)
    i = int(rng.integers(1, len(s) - 1))
    if op == 0:
        c = letters[int(rng.integers(26))]
        if c == s[i]:
            c = "E" if s[i] != "E" else "A"
        return s[:i] + c + s[i + 1:]
    if op == 1 and len(s) > 3:
        return s[:i] + s[i + 1:]
    if op == 2 and s[i] != s[i + 1]:
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    return s[:i] + s[i] + s[i:]


def _case(names: np.ndarray, style: np.ndarray) -> np.ndarray:
    """Apply per-row case style: 0 upper, 1 Title, 2 lower."""
    s = pd.Series(names, dtype=object)
    out = s.str.upper()
    t = style == 1
    if t.any():
        out[t] = s[t].str.title()
    lo = style == 2
    if lo.any():
        out[lo] = s[lo].str.lower()
    return out.to_numpy(object)


# --------------------------------------------------------------------------- population
def _append_singleton_spans(F: dict, n: int, rng: np.random.Generator) -> None:
    """Open, close, move and reporting lags of ``n`` new one-person families (look-alikes,
    strangers), appended to the family arrays in place."""
    for key in ("open", "close", "move"):
        F[key] = np.asarray(F[key])
    F["open"] = np.concatenate([F["open"], _REF + rng.integers(-700, 120, n)])
    F["close"] = np.concatenate([F["close"], np.full(n, _NEVER)])
    F["move"] = np.concatenate([F["move"], np.full(n, _NEVER)])
    F["lag"] = np.concatenate([F["lag"], np.zeros((n, 3), int)])


def _chunk_population(seed: int, chunk: int, fam0: int, n: int, n_multi: int,
                      prof: Profile = BASELINE) -> dict:
    """Draw one chunk of the population (independent of the night).

    ``rng`` makes every draw of the baseline population; what a profile adds beyond it
    (strangers, grandfather namesakes, birth-date errors, guardians elsewhere) draws from
    a second stream ``xrng``, so the baseline stream, and its output, never change.
    """
    rng = np.random.default_rng([seed, chunk, 11])
    xrng = np.random.default_rng([seed, chunk, 13])

    def names(kind: str, k: int) -> np.ndarray:
        return vocab.sample_names(rng, kind, k, prof.name_boost(kind))

    F = {}
    rows_ = np.arange(n)
    mask = rng.choice(np.array([1, 2, 4]), n, p=[0.62, 0.13, 0.25])
    multi_idx = rng.choice(n, min(n_multi, n), replace=False)
    mask[multi_idx] = rng.choice(np.array([3, 5, 6, 7]), len(multi_idx),
                                 p=[0.35, 0.35, 0.15, 0.15])
    # some DHS+DJS families are instead a DJS family whose foster parent DHS knows in the
    # foster household's own case: multi-system through the foster parent alone
    bridge = (mask == 3) & (rng.random(n) < 0.2)
    mask[bridge] = 2
    dhs, djs, dp = (mask & 1) > 0, (mask & 2) > 0, (mask & 4) > 0
    # open within ~2 years before the reference night (or a few months after), 75 % close
    # again within ~2 years: about 55 % of families are active on a night near the
    # reference, and 4 nights later about 1.5 % of them have opened or closed
    F["open"] = _REF + rng.integers(-700, 120, n)
    F["close"] = np.where(rng.random(n) < 0.75, F["open"] + rng.integers(30, 700, n), _NEVER)
    # moves; families known to several agencies move more often and more recently, so that
    # agencies that update late still hold the old address on a given night
    multi = np.isin(mask, [3, 5, 6, 7]) | bridge
    move_day = np.where(multi, _REF + rng.integers(-700, 100, n), _REF + rng.integers(-900, 400, n))
    F["move"] = np.where(rng.random(n) < np.where(multi, 0.7, 0.35), move_day, _NEVER)
    lag = np.stack([rng.integers(0, 60, n), rng.integers(0, 400, n),
                    np.where(rng.random(n) < 0.3, _NEVER, rng.integers(0, 700, n))], axis=1)
    F["lag"] = lag
    # addresses: two per family (before / after a move)
    zt = vocab.zip_table(prof.balt_zip_weight)
    cum = zt["cum"].to_numpy()

    def addr(k: int) -> dict:
        return {
            "num": rng.integers(1, 9999, k),
            "dir": np.where(rng.random(k) < 0.25, rng.integers(1, 5, k), 0),
            "street": rng.integers(0, len(vocab.STREETS), k),
            "stype": rng.choice(len(vocab.STYPE_P), k, p=vocab.STYPE_P / vocab.STYPE_P.sum()),
            "unit": np.where(rng.random(k) < 0.25, rng.integers(1, 40, k), 0),
            "zip": np.minimum(np.searchsorted(cum, rng.random(k), side="right"), len(cum) - 1),
            "plus4": rng.integers(1, 9999, k),
        }

    A, B = addr(n), addr(n)
    # unrelated families sharing a building / street number (different or missing apt)
    shared = np.zeros(n, bool)
    k = max(2, int(0.03 * n))
    src, dst = rng.choice(n, k, replace=False), rng.choice(n, k, replace=False)
    ok = src != dst
    src, dst = src[ok], dst[ok]
    for key in ("num", "dir", "street", "stype", "zip", "plus4"):
        A[key][dst] = A[key][src]
    A["unit"][dst] = np.where(rng.random(len(dst)) < 0.5, 0, rng.integers(1, 40, len(dst)))
    A["unit"][src] = np.where(A["unit"][src] == 0, rng.integers(1, 40, len(src)), A["unit"][src])
    A["unit"][dst] = np.where(A["unit"][dst] == A["unit"][src], 0, A["unit"][dst])
    shared[src] = shared[dst] = True

    # ---- members (n, 8)
    present = np.zeros((n, _NS), bool)
    present[:, 0] = True
    female = np.zeros((n, _NS), bool)
    age = np.zeros((n, _NS))
    female[:, 0] = rng.random(n) < np.where(dp & ~djs, 0.35, 0.7)
    present[:, 1] = (rng.random(n) < 0.45) | (djs & dp)
    female[:, 1] = ~female[:, 0]
    youth_age = rng.uniform(10, 20.99, n)
    age[:, 0] = np.where(djs, youth_age + rng.uniform(18, 42, n), rng.uniform(19, 62, n))
    sp = age[:, 0] + rng.normal(0, 4, n)
    sp = np.where(djs, np.clip(sp, youth_age + 18, youth_age + 44), sp)
    age[:, 1] = np.maximum(sp, 18.2)
    nk = rng.choice(5, n, p=[0.25, 0.3, 0.25, 0.12, 0.08])
    nk = np.where(djs, np.maximum(nk, 1), nk)
    # ~10 % of DJS families have a second youth in DJS: the next child, 1.2-4.5 years
    # younger and at least 10 (only possible when the first youth is 11.2 or older)
    two = djs & (youth_age >= 11.3) & (rng.random(n) < _TWO_YOUTH / 0.88)
    nk = np.where(two, np.maximum(nk, 2), nk)
    mother_age = np.where(female[:, 0], age[:, 0], np.where(present[:, 1], age[:, 1], age[:, 0]))
    min_parent = np.where(present[:, 1], np.minimum(age[:, 0], age[:, 1]), age[:, 0])
    lo = np.maximum(0.0, mother_age - 45)
    hi = np.minimum(22.0, min_parent - 18)
    # siblings 1.2-4.5 years apart, the oldest first (the DJS youth is slot 2)
    oldest = np.where(djs, youth_age, lo + rng.random(n) * np.maximum(hi - lo, 0))
    gaps = rng.uniform(1.2, 4.5, (n, 3))
    gaps[:, 0] = np.where(two, 1.2 + (gaps[:, 0] - 1.2) / 3.3 * np.clip(youth_age - 10 - 1.2, 0, 3.3),
                          gaps[:, 0])
    kid_age = oldest[:, None] - np.cumsum(
        np.concatenate([np.zeros((n, 1)), gaps], axis=1), axis=1)
    for j in range(4):
        s = 2 + j
        present[:, s] = (nk > j) & ((hi > lo) | djs) & (kid_age[:, j] >= np.maximum(lo, 0.0))
        age[:, s] = kid_age[:, j]
        female[:, s] = rng.random(n) < 0.5
    present[:, 2] |= djs
    present[:, 3] |= two
    # guardian arrangement per DJS family (slots it needs are made present below)
    gcat = rng.choice(len(_G_CATS), n, p=_G_CAT_P)
    # adult sibling (slot 9): 18-30, older than the oldest child, >= 15 years after both parents
    sib_lo = np.maximum(18.0, oldest + 1.2)
    sib_hi = np.minimum(30.0, min_parent - 15)
    sib_ok = sib_hi > sib_lo + 0.1
    gcat = np.where((gcat == 3) & ~sib_ok, 0, gcat)
    # the youth of a DPSCS family is tied to the offender (the father) as a guardian, so no
    # foster placement there
    gcat = np.where(dp & (gcat == 5), 0, gcat)
    gcat = np.where(bridge, 5, gcat)
    gcat = np.where(djs, gcat, -1)
    present[:, 6] = (rng.random(n) < 0.15) | (gcat == 1)
    age6 = age[:, 0] + rng.uniform(18, 38, n)
    # a grandparent is 35-80 years older than each DJS youth (the second one is younger)
    y2_age = np.where(two, kid_age[:, 1], youth_age)
    age6 = np.where(djs, np.clip(age6, youth_age + 36, y2_age + 79), age6)
    age[:, 6] = np.minimum(age6, 98)
    female[:, 6] = rng.random(n) < 0.7
    present[:, 7] = rng.random(n) < 0.05
    age[:, 7] = rng.uniform(0, 17.5, n)
    female[:, 7] = rng.random(n) < 0.5
    # aunt/uncle (slot 8): a sibling of one parent (sib_of), within 10 years of that parent
    sib_of = np.where(present[:, 1] & (rng.random(n) < 0.5), 1, 0)
    present[:, 8] = (rng.random(n) < 0.12) | (gcat == 2)
    a8 = age[rows_, sib_of] + np.clip(rng.normal(0, 5, n), -10, 10)
    a8 = np.maximum(a8, 21.0)
    age[:, 8] = np.where(djs, np.maximum(a8, youth_age + 12), a8)
    female[:, 8] = rng.random(n) < 0.55
    # a DPSCS-only single mother's offender is often her grown son (slot 9), whose
    # grandmother and aunt are then around too
    young_off = (dp & ~djs & female[:, 0] & ~present[:, 1] & sib_ok & (rng.random(n) < 0.7))
    present[:, 9] = ((rng.random(n) < 0.1) | (gcat == 3) | young_off) & sib_ok
    age[:, 9] = sib_lo + rng.random(n) * np.maximum(sib_hi - sib_lo, 0)
    female[:, 9] = (rng.random(n) < 0.5) & ~young_off
    # other adult (slot 10): an unrelated adult of the household, e.g. a parent's partner
    present[:, 10] = (rng.random(n) < 0.03) | (gcat == 4)
    age[:, 10] = np.where(djs, youth_age + rng.uniform(15, 45, n), rng.uniform(21, 65, n))
    female[:, 10] = rng.random(n) < 0.5
    dob = _REF - (age * 365.25).astype(np.int64) - rng.integers(0, 2, (n, _NS))
    # twins
    twin = present[:, 2] & present[:, 3] & (rng.random(n) < 0.03)
    dob[twin, 3] = dob[twin, 2]
    female[twin, 3] = np.where(rng.random(twin.sum()) < 0.5, female[twin, 2], female[twin, 3])

    first = np.where(female, names("female", n * _NS).reshape(n, _NS),
                     names("male", n * _NS).reshape(n, _NS))
    middle = np.where(female, names("female", n * _NS).reshape(n, _NS),
                      names("male", n * _NS).reshape(n, _NS))
    # similar twin names sometimes (same first three letters)
    tw = np.flatnonzero(twin)
    for f in tw[rng.random(len(tw)) < 0.4]:
        pool = vocab.census("female" if female[f, 3] else "male")[0][:800]
        cand = [x for x in pool if x[:3] == first[f, 2][:3] and x != first[f, 2]]
        if cand:
            first[f, 3] = cand[int(rng.integers(len(cand)))]
    same = twin & (first[:, 3] == first[:, 2])
    first[same, 3] = first[same, 3] + "A"
    surname = names("last", n)
    last = np.repeat(surname[:, None], _NS, axis=1).astype(object)
    other = names("last", n * _NS).reshape(n, _NS)
    last[:, 2:6] = np.where(rng.random((n, 4)) < 0.12, other[:, 2:6], last[:, 2:6])
    last[:, 6] = np.where(rng.random(n) < 0.4, other[:, 6], last[:, 6])
    last[:, 7] = other[:, 7]
    maiden = np.full((n, _NS), "", dtype=object)
    married = np.zeros((n, _NS), bool)
    married[:, 0] = female[:, 0] & present[:, 1]
    married[:, 1] = female[:, 1] & present[:, 1]
    m_names = names("last", n * 2).reshape(n, 2)
    maiden[:, :2] = np.where(married[:, :2], m_names, "")
    # a parent's sibling carries that parent's maiden name, else the family surname; an
    # adult sibling the family surname (sometimes another, like the children); the other
    # adult a surname of their own
    last[:, 8] = np.where(married[rows_, sib_of], maiden[rows_, sib_of], last[:, 8])
    last[:, 9] = np.where(rng.random(n) < 0.12, other[:, 9], last[:, 9])
    last[:, 10] = np.where(other[:, 10] == surname, other[:, 7], other[:, 10])
    suffix = np.full((n, _NS), "", dtype=object)
    suffix[(~female) & (rng.random((n, _NS)) < prof.iii_rate) & (age > 25)] = "III"
    namesake = ((~female[:, 0]) & present[:, 2] & (~female[:, 2])
                & (rng.random(n) < prof.namesake_rate) & ~twin)
    first[namesake, 2] = first[namesake, 0]
    middle[namesake, 2] = np.where(rng.random(namesake.sum()) < prof.namesake_middle,
                                   middle[namesake, 0], middle[namesake, 2])
    last[namesake, 2] = last[namesake, 0]
    suffix[namesake, 0] = "SR"
    suffix[namesake, 2] = "JR"
    ns_mat = np.zeros((n, _NS), bool)  # persons who share first+last with a kin of theirs
    ns_mat[:, 0] = ns_mat[:, 2] = namesake
    # a male grandparent (the head's father) whose name the head carries: Sr., Jr. (III)
    grand = (~female[:, 0]) & present[:, 6] & (~female[:, 6]) & ~twin
    grand &= xrng.random(n) < prof.grand_namesake
    first[grand, 6] = first[grand, 0]
    last[grand, 6] = last[grand, 0]
    suffix[grand, 6] = "SR"
    suffix[grand, 0] = "JR"
    suffix[grand & namesake, 2] = "III"
    ns_mat[grand, 0] = ns_mat[grand, 6] = True
    # namesakes who never write a suffix at all
    bare = (namesake | grand) & (xrng.random(n) < prof.namesake_no_suffix)
    for s_ in (0, 2, 6):
        suffix[bare & ns_mat[:, s_], s_] = ""
    area = rng.integers(1, 899, (n, _NS))
    area = area + (area >= 666)
    ssn = area * 1_000_000 + rng.integers(1, 100, (n, _NS)) * 10_000 + rng.integers(1, 10000, (n, _NS))

    # ---- DJS guardians (youth = slot 2, a second youth slot 3; the same guardians for both)
    rows = rows_
    mother = np.where(female[:, 0], 0, np.where(present[:, 1], 1, -1))
    father = np.where(~female[:, 0], 0, np.where(present[:, 1], 1, -1))
    pr = np.where(mother >= 0, mother, father)
    pr_rel = np.where(mother >= 0, "MOTHER", "FATHER")
    other_parent = np.where(pr == mother, father, mother)
    op_rel = np.where(other_parent == mother, "MOTHER", "FATHER")
    gp_rel = np.where(female[:, 6], "GRANDMOTHER", "GRANDFATHER")
    au_rel = np.where(female[:, 8], "AUNT", "UNCLE")
    use_op = (other_parent >= 0) & ((rng.random(n) < 0.65) | dp)
    use_gp = ~use_op & present[:, 6] & (rng.random(n) < 0.6)
    use_au = ~use_op & ~use_gp & present[:, 8] & (rng.random(n) < 0.25)
    g2_par = np.where(use_op, other_parent, np.where(use_gp, 6, np.where(use_au, 8, -1)))
    g2_par_rel = np.where(use_op, op_rel, np.where(use_gp, gp_rel, au_rel))
    u2 = rng.random(n)
    g1 = np.select([gcat == 1, gcat == 2, gcat == 3, gcat == 4, gcat == 5],
                   [np.full(n, 6), np.full(n, 8), np.full(n, 9), np.full(n, 10), np.full(n, -2)], pr)
    g1_rel = np.select([gcat == 1, gcat == 2, gcat == 3, gcat == 4, gcat == 5],
                       [gp_rel, au_rel, np.full(n, "SIBLING"), np.full(n, "OTHER"),
                        np.full(n, "FOSTER PARENT")], pr_rel).astype(object)
    # second guardian: the other parent / a grandparent / an aunt or uncle with a parent,
    # a parent beside a kinship guardian sometimes, nobody beside a foster parent
    kin = (gcat >= 1) & (gcat <= 4)
    g2 = np.select([gcat == 0, kin & dp, kin & (u2 < 0.3)], [g2_par, father, pr], -1)
    g2_rel = np.select([gcat == 0, kin & dp], [g2_par_rel, np.full(n, "FATHER")],
                       pr_rel).astype(object)
    # foster parent: no kin, another surname and household (a one-person family appended in
    # _flatten); ~1/4 of those in multi-system families are known to DHS in their own case
    foster = gcat == 5
    f_female = rng.random(n) < 0.8
    f_age = youth_age + rng.uniform(18, 45, n)
    f_dob = _REF - (f_age * 365.25).astype(np.int64)
    f_first = np.where(f_female, names("female", n), names("male", n))
    f_middle = np.where(f_female, names("female", n), names("male", n))
    f_last = names("last", n)
    f_last = np.where(f_last == surname, other[:, 7], f_last)
    f_last = np.where(f_last == surname, "FOSTER", f_last)
    f_area = rng.integers(1, 899, n)
    f_ssn = ((f_area + (f_area >= 666)) * 1_000_000 + rng.integers(1, 100, n) * 10_000
             + rng.integers(1, 10000, n))
    f_open = rng.integers(30, 400, n)  # placed with the foster parent this long before the open
    f_dhs = foster & (bridge | (mask == 3) & (rng.random(n) < 0.3))
    # ---- DPSCS offender and contact
    adult_son = present[:, 2] & ~female[:, 2] & (age[:, 2] >= 18.5)
    off = np.where(djs, father,
                   np.where(~female[:, 0], 0, np.where(present[:, 1], 1,
                                                       np.where(young_off, 9,
                                                                np.where(adult_son, 2, 0)))))
    off = np.where(off < 0, 0, off)
    # an adult son living with his single mother: his grandmother / aunt are often around
    son = (off == 2) | (off == 9)
    son_off = dp & son
    present[:, 6] |= son_off & (rng.random(n) < 0.6)
    present[:, 8] |= son_off & (rng.random(n) < 0.5)
    c_slot = np.full(n, -1)
    c_rel = np.full(n, "", dtype=object)
    partner = np.where(off == 0, 1, np.where(off == 1, 0, -1))
    has_partner = (partner >= 0) & present[rows, np.maximum(partner, 0)]
    has_parent = np.where(off == 0, present[:, 6], son)
    par_slot = np.where(son, 0, 6)
    par_rel = np.where(female[rows, par_slot], "MOTHER", "FATHER")
    has_kid = (off <= 1) & present[:, 2] & (age[:, 2] >= 18)
    kid_rel = np.where(female[:, 2], "DAUGHTER", "SON")
    # a sibling: for a parent the aunt/uncle slot when it is that parent's sibling, for an
    # adult son the adult sibling or an adult younger brother/sister
    sib3 = present[:, 3] & (age[:, 3] >= 18)
    sib2 = present[:, 2] & (age[:, 2] >= 18)
    sib_slot = np.select([off == 2, off == 9], [np.where(present[:, 9], 9, 3), np.full(n, 2)], 8)
    has_sib = np.select([off == 2, off == 9], [present[:, 9] | sib3, sib2],
                        (sib_of == off) & present[:, 8])
    sib_rel = np.where(female[rows, sib_slot], "SISTER", "BROTHER")
    has_gm = son & present[:, 6] & female[:, 6]
    has_aunt = son & present[:, 8] & female[:, 8]
    # weighted random order of preference per offender (Efraimidis-Spirakis keys)
    w = np.array([5.0, 4.0, 2.5, 2.0, 3.0, 2.0])
    order = np.argsort(-(rng.random((n, len(w))) ** (1 / w)), axis=1, kind="stable")
    spouse_rel = np.where(rng.random(n) < 0.6, "SPOUSE", "PARTNER")
    options = (
        (0, has_partner, partner, spouse_rel),
        (1, has_parent, par_slot, par_rel),
        (2, has_kid, np.full(n, 2), kid_rel),
        (3, has_sib, sib_slot, sib_rel),
        (4, has_gm, np.full(n, 6), np.full(n, "GRANDMOTHER")),
        (5, has_aunt, np.full(n, 8), np.full(n, "AUNT")),
    )
    for step in range(len(w)):
        opt = order[:, step]
        for o, avail, slot, rel in options:
            take = (c_slot < 0) & (opt == o) & avail
            c_slot = np.where(take, slot, c_slot)
            c_rel = np.where(take, rel, c_rel)
    u = rng.random(n)
    friend = (c_slot < 0) | (u < 0.12)
    null_c = (u >= 0.12) & (u < prof.contact_null_hi) | ((c_slot < 0) & (u < 0.3))
    c_rel = np.where(friend, np.where(rng.random(n) < 0.6, "FRIEND", "OTHER"), c_rel)
    c_slot = np.where(friend, -1, c_slot)
    c_slot = np.where(null_c, -1, c_slot)
    c_rel = np.where(null_c, "", c_rel)
    friend_name = (names("male", n) + " " + names("last", n))
    # ---- DHS inclusion
    in_dhs = present & dhs[:, None]
    in_dhs[:, 6] &= rng.random(n) < 0.75
    in_dhs[:, 8] &= rng.random(n) < np.where(gcat == 2, 0.6, 0.25)
    in_dhs[:, 9] &= (rng.random(n) < np.where(gcat == 3, 0.6, 0.4)) | (off == 9)
    in_dhs[:, 10] &= rng.random(n) < 0.3

    F.update(mask=mask, A=A, B=B, shared=shared, twin=twin, namesake=namesake,
             fam_global=fam0 + rows)
    P = dict(present=present, female=female, dob=dob, first=first, middle=middle, last=last,
             maiden=maiden, married=married, suffix=suffix, ssn=ssn, in_dhs=in_dhs,
             g1=g1, g1_rel=g1_rel, g2=np.where(djs, g2, -1), g2_rel=g2_rel,
             off=np.where(dp, off, -1), c_slot=c_slot, c_rel=c_rel, friend_name=friend_name,
             djs=djs, two=two, foster=foster, f_dhs=f_dhs & foster,
             f_person=dict(female=f_female, dob=f_dob, first=f_first, middle=f_middle,
                           last=f_last, ssn=f_ssn, open=F["open"] - f_open),
             rng=rng, xrng=xrng, prof=prof, ns_mat=ns_mat)
    return {"F": F, "P": P, "n": n}


def _flatten(pop: dict, seed: int, chunk: int) -> dict:
    """Turn the slot matrices into a person table and a record table (night-independent)."""
    F, P, n = pop["F"], pop["P"], pop["n"]
    rng, xrng, prof = P["rng"], P["xrng"], P["prof"]
    fam_global = F["fam_global"]
    need = P["present"].copy()
    fidx, slot = np.nonzero(need)
    pid_of = np.full((n, _NS), -1)
    pid_of[fidx, slot] = np.arange(len(fidx))
    per = {
        "fam": fidx, "slot": slot,
        "female": P["female"][fidx, slot], "dob": P["dob"][fidx, slot],
        "first": P["first"][fidx, slot].astype(object), "middle": P["middle"][fidx, slot].astype(object),
        "last": P["last"][fidx, slot].astype(object), "maiden": P["maiden"][fidx, slot],
        "married": P["married"][fidx, slot], "suffix": P["suffix"][fidx, slot],
        "ssn": P["ssn"][fidx, slot], "pglobal": fam_global[fidx] * _NS + slot,
        "twin": F["twin"][fidx] & ((slot == 2) | (slot == 3)),
        "namesake": P["ns_mat"][fidx, slot],
        "lookalike": np.zeros(len(fidx), bool),
    }
    # ---- foster parents: one-person families of their own (another surname and household)
    ffam = np.flatnonzero(P["foster"])
    nf = len(ffam)
    fp = P["f_person"]
    f_pid = len(per["fam"]) + np.arange(nf)
    foster_pid = np.full(n, -1)
    foster_pid[ffam] = f_pid
    f_glob = _FOSTER_BASE + chunk * 100_000 + np.arange(nf)
    for key, val in (("fam", n + np.arange(nf)), ("slot", np.zeros(nf, int)),
                     ("female", fp["female"][ffam]), ("dob", fp["dob"][ffam]),
                     ("first", fp["first"][ffam].astype(object)),
                     ("middle", fp["middle"][ffam].astype(object)),
                     ("last", fp["last"][ffam].astype(object)),
                     ("maiden", np.full(nf, "", dtype=object)), ("married", np.zeros(nf, bool)),
                     ("suffix", np.full(nf, "", dtype=object)), ("ssn", fp["ssn"][ffam]),
                     ("pglobal", f_glob * _NS), ("twin", np.zeros(nf, bool)),
                     ("namesake", np.zeros(nf, bool)), ("lookalike", np.zeros(nf, bool))):
        per[key] = np.concatenate([per[key], val])
    # the foster household: placed before the youth's family opened, never closes, same ZIP
    F["open"] = np.concatenate([np.asarray(F["open"]), fp["open"][ffam]])
    F["close"] = np.concatenate([np.asarray(F["close"]), np.full(nf, _NEVER)])
    F["move"] = np.concatenate([np.asarray(F["move"]), np.full(nf, _NEVER)])
    F["lag"] = np.concatenate([F["lag"], np.zeros((nf, 3), int)])
    for AB in ("A", "B"):
        for key in F[AB]:
            F[AB][key] = np.concatenate([F[AB][key], F["A"][key][ffam]])
    f_num, f_street = rng.integers(1, 9999, nf), rng.integers(0, len(vocab.STREETS), nf)
    f_unit = np.where(rng.random(nf) < 0.25, rng.integers(1, 40, nf), 0)
    for AB in ("A", "B"):
        F[AB]["num"][n:] = f_num
        F[AB]["street"][n:] = f_street
        F[AB]["unit"][n:] = f_unit
    F["shared"] = np.concatenate([F["shared"], np.zeros(nf, bool)])
    F["mask"] = np.concatenate([F["mask"], P["f_dhs"][ffam].astype(int)])
    F["fam_global"] = np.concatenate([F["fam_global"], f_glob])
    # ---- records
    dflat = np.flatnonzero(P["in_dhs"][fidx, slot])
    d_person = dflat
    dup = d_person[rng.random(len(d_person)) < 0.006]
    fams = np.arange(n)
    # DJS youths: slot 2 of every DJS family, slot 3 too in two-youth families
    yfam = np.concatenate([fams[P["djs"]], fams[P["djs"] & P["two"]]])
    yslot = np.concatenate([np.full(P["djs"].sum(), 2), np.full((P["djs"] & P["two"]).sum(), 3)])
    y_person = pid_of[yfam, yslot]
    ofam = fams[P["off"] >= 0]
    o_person = pid_of[ofam, P["off"][ofam]]

    agency = np.concatenate([np.zeros(len(d_person) + len(dup), int), np.ones(len(y_person), int),
                             np.full(len(o_person), 2)])
    person = np.concatenate([d_person, dup, y_person, o_person])
    kind = np.zeros(len(person), int)
    isdup = np.concatenate([np.zeros(len(d_person), bool), np.ones(len(dup), bool),
                            np.zeros(len(y_person) + len(o_person), bool)])
    rel = np.full(len(person), "", dtype=object)
    owner = np.arange(len(person))
    y_rec0 = len(d_person) + len(dup)
    o_rec0 = y_rec0 + len(y_person)
    # guardians
    ext = []
    for k, (gs, gr) in enumerate(((P["g1"], P["g1_rel"]), (P["g2"], P["g2_rel"]))):
        g = gs[yfam]
        ok = (g >= 0) | (g == -2)
        gp = np.where(g == -2, foster_pid[yfam], pid_of[yfam, np.maximum(g, 0)])
        ext.append((np.ones(ok.sum(), int), np.full(ok.sum(), k + 1), gp[ok],
                    y_rec0 + np.flatnonzero(ok), gr[yfam[ok]].astype(object)))
    ok = P["c_slot"][ofam] >= 0
    ext.append((np.full(ok.sum(), 2), np.full(ok.sum(), 3), pid_of[ofam[ok], P["c_slot"][ofam[ok]]],
                o_rec0 + np.flatnonzero(ok), P["c_rel"][ofam[ok]].astype(object)))
    # foster parents DHS knows: the head of their own case
    fd = f_pid[P["f_dhs"][ffam]]
    ext.append((np.zeros(len(fd), int), np.zeros(len(fd), int), fd,
                len(person) + sum(len(e[0]) for e in ext) + np.arange(len(fd)),
                np.full(len(fd), "", dtype=object)))
    for a, k, p, o, r in ext:
        agency = np.concatenate([agency, a])
        kind = np.concatenate([kind, k])
        person = np.concatenate([person, p])
        owner = np.concatenate([owner, o])
        rel = np.concatenate([rel, r])
        isdup = np.concatenate([isdup, np.zeros(len(a), bool)])

    # ---- look-alikes: a DHS singleton family in the same ZIP with a guardian/contact's name
    deriv = np.flatnonzero(kind > 0)
    nla = min(len(deriv), max(5, int(prof.lookalike_rate * len(deriv))))
    targets = rng.choice(deriv, nla, replace=False) if nla else np.array([], int)
    t_person = person[targets]
    t_fam = per["fam"][t_person]
    nl = len(targets)
    nb = len(F["fam_global"])  # families so far (the chunk's and the foster households)
    la_fam = nb + np.arange(nl)
    la_pers = len(per["fam"]) + np.arange(nl)
    la_female = per["female"][t_person]
    la_dob = _REF - rng.integers(19 * 365, 70 * 365, nl)
    area = rng.integers(1, 899, nl)
    la_ssn = (area + (area >= 666)) * 1_000_000 + rng.integers(1, 100, nl) * 10_000 + rng.integers(1, 10000, nl)
    for key, val in (("fam", la_fam), ("slot", np.zeros(nl, int)), ("female", la_female),
                     ("dob", la_dob), ("first", per["first"][t_person]),
                     ("middle", vocab.sample_names(rng, "female", nl, prof.name_boost("female"))),
                     ("last", per["last"][t_person]),
                     ("maiden", np.full(nl, "", dtype=object)), ("married", np.zeros(nl, bool)),
                     ("suffix", np.full(nl, "", dtype=object)), ("ssn", la_ssn),
                     ("pglobal", (_LOOKALIKE_BASE + chunk * 100_000 + np.arange(nl)) * _NS),
                     ("twin", np.zeros(nl, bool)), ("namesake", np.zeros(nl, bool)),
                     ("lookalike", np.ones(nl, bool))):
        per[key] = np.concatenate([per[key], val])
    per["lookalike"][t_person] = True
    # extend family arrays for the look-alike families
    _append_singleton_spans(F, nl, rng)
    for AB in ("A", "B"):
        for key in F[AB]:
            F[AB][key] = np.concatenate([F[AB][key], F[AB][key][t_fam]])
    F["A"]["num"][nb:] = rng.integers(1, 9999, nl)
    F["A"]["street"][nb:] = rng.integers(0, len(vocab.STREETS), nl)
    F["B"]["num"][nb:] = F["A"]["num"][nb:]
    F["B"]["street"][nb:] = F["A"]["street"][nb:]
    F["shared"] = np.concatenate([F["shared"], np.zeros(nl, bool)])
    F["mask"] = np.concatenate([F["mask"], np.ones(nl, int)])
    F["fam_global"] = np.concatenate([F["fam_global"], _LOOKALIKE_BASE + chunk * 100_000 + np.arange(nl)])
    agency = np.concatenate([agency, np.zeros(nl, int)])
    kind = np.concatenate([kind, np.zeros(nl, int)])
    person = np.concatenate([person, la_pers])
    owner = np.concatenate([owner, len(owner) + np.arange(nl)])
    rel = np.concatenate([rel, np.full(nl, "", dtype=object)])
    isdup = np.concatenate([isdup, np.zeros(nl, bool)])
    # ---- strangers (profiles only): a DHS singleton family sharing a record's person's
    # first and last name, often the birth date too (city) or the ZIP (same-named cousins)
    cand = np.flatnonzero(~isdup & (xrng.random(len(person)) < prof.stranger_rate))
    if len(cand):
        _, first_rec = np.unique(person[cand], return_index=True)
        cand = cand[np.sort(first_rec)][:99_999]  # one stranger per person, ids stay unique
        s_person = person[cand]
        s_fam = per["fam"][s_person]
        ns = len(cand)
        nb = len(F["fam_global"])
        s_glob = _STRANGER_BASE + chunk * 100_000 + np.arange(ns)
        s_female = per["female"][s_person]
        same_dob = xrng.random(ns) < prof.stranger_same_dob
        shift = np.round(xrng.normal(0, prof.stranger_age_years * 365.25, ns)).astype(np.int64)
        shift = np.where(shift == 0, 1, shift)
        s_dob = np.where(same_dob, per["dob"][s_person], per["dob"][s_person] + shift)
        s_dob = np.minimum(s_dob, _REF - 2 * 365)
        s_dob = np.maximum(s_dob, _REF - 95 * 365)
        area = xrng.integers(1, 899, ns)
        s_ssn = ((area + (area >= 666)) * 1_000_000 + xrng.integers(1, 100, ns) * 10_000
                 + xrng.integers(1, 10000, ns))
        s_mid = np.where(s_female, vocab.sample_names(xrng, "female", ns, prof.name_boost("female")),
                         vocab.sample_names(xrng, "male", ns, prof.name_boost("male")))
        for key, val in (("fam", nb + np.arange(ns)), ("slot", np.zeros(ns, int)),
                         ("female", s_female), ("dob", s_dob),
                         ("first", per["first"][s_person]), ("middle", s_mid),
                         ("last", per["last"][s_person]),
                         ("maiden", np.full(ns, "", dtype=object)), ("married", np.zeros(ns, bool)),
                         ("suffix", np.full(ns, "", dtype=object)), ("ssn", s_ssn),
                         ("pglobal", s_glob * _NS), ("twin", np.zeros(ns, bool)),
                         ("namesake", np.zeros(ns, bool)), ("lookalike", np.ones(ns, bool))):
            per[key] = np.concatenate([per[key], val])
        per["lookalike"][s_person] = True
        _append_singleton_spans(F, ns, xrng)
        for AB in ("A", "B"):
            for key in F[AB]:
                F[AB][key] = np.concatenate([F[AB][key], F["A"][key][s_fam]])
        zcum = vocab.zip_table(prof.balt_zip_weight)["cum"].to_numpy()
        other_zip = np.minimum(np.searchsorted(zcum, xrng.random(ns), side="right"), len(zcum) - 1)
        F["A"]["zip"][nb:] = np.where(xrng.random(ns) < prof.stranger_same_zip,
                                      F["A"]["zip"][nb:], other_zip)
        # another address of that ZIP: its own number, street, type, direction and unit
        F["A"]["num"][nb:] = xrng.integers(1, 9999, ns)
        F["A"]["street"][nb:] = xrng.integers(0, len(vocab.STREETS), ns)
        F["A"]["stype"][nb:] = xrng.choice(len(vocab.STYPE_P), ns, p=vocab.STYPE_P / vocab.STYPE_P.sum())
        F["A"]["dir"][nb:] = np.where(xrng.random(ns) < 0.25, xrng.integers(1, 5, ns), 0)
        F["A"]["unit"][nb:] = np.where(xrng.random(ns) < 0.25, xrng.integers(1, 40, ns), 0)
        F["A"]["plus4"][nb:] = xrng.integers(1, 9999, ns)
        for key in F["A"]:
            F["B"][key][nb:] = F["A"][key][nb:]
        F["shared"] = np.concatenate([F["shared"], np.zeros(ns, bool)])
        F["mask"] = np.concatenate([F["mask"], np.ones(ns, int)])
        F["fam_global"] = np.concatenate([F["fam_global"], s_glob])
        s_pers = len(per["fam"]) - ns + np.arange(ns)
        agency = np.concatenate([agency, np.zeros(ns, int)])
        kind = np.concatenate([kind, np.zeros(ns, int)])
        person = np.concatenate([person, s_pers])
        owner = np.concatenate([owner, len(owner) + np.arange(ns)])
        rel = np.concatenate([rel, np.full(ns, "", dtype=object)])
        isdup = np.concatenate([isdup, np.zeros(ns, bool)])
    role = np.where(kind == 0, _ROLES[per["slot"][person]], "")
    # the family whose address a record shows: a fostered youth lives in the foster home,
    # and a guardian row shows its youth's address
    afam = per["fam"][person].copy()
    y_rec = y_rec0 + np.arange(len(y_person))
    fy = P["foster"][yfam]
    afam[y_rec[fy]] = per["fam"][foster_pid[yfam[fy]]]
    afam = np.where((kind == 1) | (kind == 2), afam[owner], afam)
    return {"F": F, "per": per, "agency": agency, "kind": kind, "person": person,
            "owner": owner, "rel": rel, "dup": isdup, "role": role, "afam": afam,
            "friend_name": P["friend_name"], "c_rel": P["c_rel"], "rng": rng, "xrng": xrng,
            "prof": prof}


def _record_noise(R: dict) -> dict:
    """Draw per-record name/ssn/date noise and dirty-row selection (night-independent)."""
    rng, prof, per = R["rng"], R["prof"], R["per"]
    m = len(R["person"])
    p = R["person"]
    ag = R["agency"]
    tags = {t: np.zeros(m, bool) for t in TRAP_TAGS}
    first = per["first"][p].astype(object).copy()
    last = per["last"][p].astype(object).copy()
    middle = per["middle"][p].astype(object).copy()
    # married women: married / maiden / hyphenated surname by agency
    mar = per["married"][p]
    u = rng.random(m)
    p_maiden = np.array(prof.maiden_p)[ag]
    p_hyph = np.array(prof.hyphen_p)[ag]
    use_m = mar & (u < p_maiden)
    use_h = mar & (u >= p_maiden) & (u < p_maiden + p_hyph)
    mdn = per["maiden"][p]
    last = np.where(use_m, mdn, last)
    last = np.where(use_h, mdn + "-" + per["last"][p].astype(object), last)
    tags["maiden"], tags["hyphenated"] = use_m, use_h
    # nicknames
    for i in np.flatnonzero(rng.random(m) < prof.nickname_rate):
        nn = vocab.nicknames_of(first[i])
        if nn:
            first[i] = nn[int(rng.integers(len(nn)))]
            tags["nickname"][i] = True
    # accents and punctuation variants (legitimate)
    acc_u = rng.random((m, 2))
    for arr, col in ((first, 0), (last, 1)):
        s = pd.Series(arr)
        a = s.map(vocab.ACCENTS)
        take = a.notna().to_numpy() & (acc_u[:, col] < 0.5)
        arr[take] = a[take].to_numpy(object)
    s = pd.Series(last)
    for i in np.flatnonzero(s.isin(list(vocab.PUNCT)).to_numpy() & (acc_u[:, 0] < 0.6)):
        v = vocab.PUNCT[last[i]]
        last[i] = v[int(rng.integers(len(v)))]
    # typos
    ty = np.flatnonzero(rng.random(m) < prof.typo_rate)
    which = rng.random(len(ty)) < 0.5
    for i, w in zip(ty, which):
        if w:
            first[i] = _typo(rng, first[i])
        else:
            last[i] = _typo(rng, last[i])
        tags["typo"][i] = True
    # stray punctuation (legitimate)
    sp = np.flatnonzero(rng.random(m) < 0.004)
    for i in sp:
        last[i] = last[i] + [".", ",", " ", "`"][int(rng.integers(4))]
    R["middle_mode"] = rng.choice(3, m, p=list(prof.middle_mode_p))  # blank / initial / full
    R["case"] = np.where(ag == 0, rng.choice(3, m, p=[0.58, 0.36, 0.06]),
                         np.where(ag == 1, rng.choice(3, m, p=[0.7, 0.3, 0.0]), 0))
    suffix = per["suffix"][p].astype(object).copy()
    suffix[(suffix == "SR") | (suffix == "JR")] = np.where(
        rng.random(((suffix == "SR") | (suffix == "JR")).sum()) < prof.suffix_drop, "",
        suffix[(suffix == "SR") | (suffix == "JR")])
    # dob swap (only where it stays a valid date)
    dob = per["dob"][p]
    yy, mo, dd = _ymd(dob)
    # swapped date must stay valid and in the past: only births before the reference year
    tags["dob_swap"] = ((rng.random(m) < prof.dob_swap) & (dd <= 12) & (dd != mo) & (R["kind"] == 0)
                        & (yy < _ymd(np.array([_REF]))[0][0]))
    # ssn per record
    ssn = pd.Series(per["ssn"][p]).astype(str).str.zfill(9).to_numpy(object)
    u = rng.random(m)
    blank = np.where(ag == 0, u < prof.ssn_blank[0], np.where(ag == 2, u < prof.ssn_blank[1], True))
    ph = ~blank & (u < np.where(ag == 0, prof.ssn_placeholder_hi[0], prof.ssn_placeholder_hi[1]))
    ssn = np.where(ph, _PLACEHOLDERS[rng.integers(0, len(_PLACEHOLDERS), m)], ssn)
    sh = (ag != 1) & (R["kind"] == 0) & (rng.random(m) < 0.0004)
    if (ag != 1).any() and sh.sum() < 10:  # enough that a small night shows several
        cand = np.flatnonzero((ag != 1) & (R["kind"] == 0))
        sh[rng.choice(cand, min(10, len(cand)), replace=False)] = True
    ssn = np.where(sh, _SHARED_SSN, ssn)
    blank &= ~sh
    ssn = np.where(blank, "", ssn)
    tags["placeholder_ssn"] = ph & ~sh & (R["kind"] == 0)
    tags["shared_ssn"] = sh
    tags["twin"] = per["twin"][p]
    tags["namesake"] = per["namesake"][p]
    tags["lookalike"] = per["lookalike"][p]
    tags["shared_address"] = R["F"]["shared"][per["fam"][p]]
    dupset = set(p[R["dup"]].tolist())
    tags["dhs_dup_id"] = (ag == 0) & pd.Series(p).isin(dupset).to_numpy()
    # cp1252 rows in the UTF-8 DHS file: rows whose names carry an accent
    nonascii = (pd.Series(first).str.contains(r"[^\x00-\x7f]", regex=True)
                | pd.Series(last).str.contains(r"[^\x00-\x7f]", regex=True)).to_numpy()
    cp = (ag == 0) & nonascii & (rng.random(m) < 0.08)
    if cp.sum() < 3:
        cand = np.flatnonzero((ag == 0) & (R["kind"] == 0) & ~cp)
        for i in rng.choice(cand, min(3, len(cand)), replace=False):
            first[i] = "MARÍA" if per["female"][p[i]] else "JOSÉ"
            cp[i] = True
    tags["cp1252"] = cp
    R.update(first=first, last=last, middle=middle, suffix=suffix, ssn=ssn, tags=tags,
             ssn_dash=rng.random(m) < 0.45, zip4=rng.random(m) < 0.3,
             addr_style=rng.integers(0, 1000, (m, 4)), comma=rng.random(m) < 0.1,
             u_act=rng.random(m), program=rng.integers(0, 4, m), alias_u=rng.random(m),
             status=rng.integers(0, 4, m), gdob_known=rng.random(m) < prof.guardian_dob_known,
             gname_style=rng.random(m) < 0.5, region_u=rng.random(m), gender_u=rng.random(m),
             status_secs=rng.integers(0, 86400, m))
    # dirty selection: primary records only, never cp1252 rows
    rate = np.array([_DIRTY_RATE[0], _DIRTY_RATE[1], _DIRTY_RATE[2]])[ag]
    dirty = (R["kind"] == 0) & ~cp & (rng.random(m) < rate)
    reason = np.full(m, "", dtype=object)
    for a in range(3):
        idx = np.flatnonzero(dirty & (ag == a))
        rs = np.resize(np.array(_REASONS_BY_AGENCY[a], dtype=object), len(idx))
        reason[idx] = rs[rng.permutation(len(idx))]
    R["reason"] = reason
    R["dirty_u"] = rng.random((m, 4))
    _profile_noise(R, dob)
    return R


def _profile_noise(R: dict, dob: np.ndarray) -> None:
    """Birth-date errors and guardians living elsewhere (profile knobs; none at baseline).

    Sets ``R["dob"]`` (the birth date each record shows; the true one at baseline), the
    ``dob_error`` tag, and ``R["alt"]`` (records that show another street of their ZIP:
    the DHS records of a DJS guardian who lives apart from the youth) with its number and
    street. Draws come from ``xrng`` only.
    """
    xrng, prof, p = R["xrng"], R["prof"], R["person"]
    m, kind = len(p), R["kind"]
    dob = dob.astype(np.int64).copy()
    yy, mo, dd = _ymd(dob)
    u = xrng.random(m)
    # the errors apply to primary records and guardians, never where a swap already is, and
    # only to people two or more years old (so a wrong date stays in the past)
    ok = (kind <= 2) & ~R["tags"]["dob_swap"] & (dob < _REF - 2 * 365)
    c1 = prof.dob_typo
    c2 = c1 + prof.dob_year
    c3 = c2 + prof.dob_wrong
    typo, year, wrong = ok & (u < c1), ok & (u >= c1) & (u < c2), ok & (u >= c2) & (u < c3)
    v = xrng.random((m, 3))
    # a digit typo: the year's last digit, or the day's units digit (kept a valid day)
    digit = (v[:, 1] * 9).astype(int) + 1
    ty_year = yy - yy % 10 + (yy % 10 + digit) % 10
    d_units = (dd % 10 + digit) % 10
    ty_day = np.where(dd - dd % 10 + d_units >= 1, dd - dd % 10 + d_units, dd + 1)
    ty_day = np.minimum(ty_day, 28)
    on_year = v[:, 0] < 0.5
    n_y = np.where(typo & on_year, ty_year, np.where(year, yy + np.where(v[:, 2] < 0.5, -1, 1), yy))
    n_d = np.where(typo & ~on_year, ty_day, dd)
    n_d = np.where((typo | year) & (mo == 2) & (n_d > 28), 28, n_d)
    ym = (n_y - 1970) * 12 + (mo - 1)
    new = (ym.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) + n_d - 1)
    new = np.where(wrong, dob + np.where(v[:, 2] < 0.5, -1, 1) * (365 + (v[:, 1] * 3300).astype(int)),
                   new)
    # a date that would land in the last two years mirrors to the other side of the truth
    new = np.where(new > _REF - 2 * 365, 2 * dob - new, new)
    err = (typo | year | wrong) & (new != dob)
    R["dob"] = np.where(err, new, dob)
    R["tags"]["dob_error"] = err
    # DJS guardians who live apart from the youth: their DHS records show another street
    # (and house number) of the same ZIP
    g = (kind == 1) | (kind == 2)
    apart = np.unique(p[g & (xrng.random(m) < prof.guardian_elsewhere)])
    alt = (R["agency"] == 0) & (kind == 0) & np.isin(p, apart)
    R["alt"] = alt
    R["alt_num"] = xrng.integers(1, 9999, m)
    R["alt_street"] = xrng.integers(0, len(vocab.STREETS), m)


# --------------------------------------------------------------------------- rendering
def _street(F: dict, fam: np.ndarray, useB: np.ndarray, style: np.ndarray, agency: int,
            comma: np.ndarray, alt: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
            ) -> np.ndarray:
    """Render street lines in the agency's style (DHS varies type, direction and unit forms).

    ``alt=(mask, number, street)`` puts the masked rows at another number and street of
    their ZIP (no unit).
    """
    def g(key):
        return np.where(useB, F["B"][key][fam], F["A"][key][fam])

    num, d, st, ty, unit = g("num"), g("dir"), g("street"), g("stype"), g("unit")
    if alt is not None and alt[0].any():
        mask = alt[0]
        num, st = np.where(mask, alt[1], num), np.where(mask, alt[2], st)
        unit = np.where(mask, 0, unit)
    if agency == 0:
        dirs = np.where(style[:, 0] < 800, vocab.DIRS_ABBR[d], vocab.DIRS_FULL[d])
        ts = style[:, 1]
        typ = np.where(ts < 450, vocab.STYPES_ABBR[ty],
                       np.where(ts < 800, vocab.STYPES_FULL[ty],
                                pd.Series(vocab.STYPES_ABBR[ty]).str.title().to_numpy(object) + "."))
        us = style[:, 2]
    else:
        dirs = vocab.DIRS_ABBR[d]
        typ = vocab.STYPES_ABBR[ty] if agency == 1 else np.where(
            style[:, 1] < 700, vocab.STYPES_ABBR[ty], vocab.STYPES_FULL[ty])
        us = style[:, 2] // 2
    u = pd.Series(unit).astype(str).to_numpy(object)
    sep = np.where(comma & (agency == 0), ", ", " ")
    unit_s = np.where(us < 500, sep + "APT " + u, np.where(us < 750, sep + "#" + u,
                                                          np.where(us < 900, sep + "UNIT " + u,
                                                                   sep + "APT #" + u)))
    unit_s = np.where(unit > 0, unit_s, "")
    return (pd.Series(num).astype(str).to_numpy(object) + " " + dirs + vocab.STREETS[st] + " "
            + typ + unit_s)


def _fmt_ssn(ssn: np.ndarray, dash: np.ndarray) -> np.ndarray:
    """Write 9-digit SSNs as ``NNN-NN-NNNN`` where ``dash`` is set; blanks stay blank."""
    s = pd.Series(ssn, dtype=object)
    d = s.str[:3] + "-" + s.str[3:5] + "-" + s.str[5:]
    return np.where(dash & (s.str.len() == 9).to_numpy(), d.to_numpy(object), ssn)


def _cp1252_row(values: list[str]) -> list[str]:
    """Mark the non-ASCII characters of a row so they are written as single cp1252 bytes.

    Each such character becomes a lone surrogate that ``surrogateescape`` encodes as
    its cp1252 byte, inside an otherwise UTF-8 file.
    """
    out = []
    for v in values:
        out.append("".join(c if ord(c) < 128 else chr(0xDC00 + c.encode("cp1252")[0]) for c in v))
    return out


def _night_chunk(R: dict, night_day: int) -> dict:
    """Apply a night to one chunk: active records, addresses, dates, dirty rows, rendering."""
    F, per = R["F"], R["per"]
    p, ag, kind, owner = R["person"], R["agency"], R["kind"], R["owner"]
    fam = per["fam"][p]
    active_f = (F["open"] <= night_day) & (night_day < F["close"])
    act = active_f[fam] & (per["dob"][p] <= night_day)
    act = act & act[owner]
    af = R["afam"]  # the family whose address the record shows
    useB = night_day >= F["move"][af] + F["lag"][af, ag]
    zt = vocab.zip_table()
    zip_idx = np.where(useB, F["B"]["zip"][af], F["A"]["zip"][af])
    addr_id = np.where(useB, F["fam_global"][af] * 2 + 1, F["fam_global"][af] * 2)
    addr_id = np.where(R["alt"], -1 - np.arange(len(p)), addr_id)  # a guardian living apart
    # activity dates in [max(open, night-365), night]
    lo = np.maximum(F["open"][fam], night_day - 365)
    act_day = lo + (R["u_act"] * (night_day - lo + 1)).astype(np.int64)
    act_day = np.minimum(act_day, night_day)
    out = {}
    legit = act & (R["reason"] == "")
    legit = legit & legit[owner]
    name_case = R["case"]
    first = _case(R["first"], name_case)
    last = _case(R["last"], name_case)
    middle = _case(R["middle"], name_case)
    du = R["dirty_u"]

    def bad_id(i, a):
        v = int(du[i, 1] * 4)
        if a == 0:
            return ["", "C" + "12345678", "123456789", "C12345678X"][v]
        if a == 1:
            return ["", "Y123456", "YY1234567", "y12345"][v]
        return [None, "", "S1234567", "12-3456"][v]

    # ------------------------------------------------------------------ DHS
    i = np.flatnonzero(act & (ag == 0))
    pg = per["pglobal"][p[i]]
    cid = "C" + _z(_scramble(pg * 2 + R["dup"][i], 10**9, 387_420_489, 104_729), 9)
    case = "K" + _z(_scramble(F["fam_global"][fam[i]], 10**8, 14_348_907, 7_919), 8)
    dob_s = _fmt_dates(R["dob"][i], "us", R["tags"]["dob_swap"][i])
    mid = np.where(R["middle_mode"][i] == 0, "",
                   np.where(R["middle_mode"][i] == 1, pd.Series(middle[i]).str[:1].to_numpy(object),
                            middle[i]))
    zips = zt["zip"].to_numpy(object)[zip_idx[i]]
    plus4 = _z(np.where(useB[i], F["B"]["plus4"][af[i]], F["A"]["plus4"][af[i]]), 4)
    city = zt["city"].to_numpy(object)[zip_idx[i]]
    city = np.where(name_case[i] == 1, pd.Series(city).str.title().to_numpy(object), city)
    progs = np.array(["SNAP", "TCA", "MA", "CW"], dtype=object)
    prog = progs[np.where((per["slot"][p[i]] >= 2) & (per["slot"][p[i]] <= 7), np.where(R["program"][i] == 0, 3, R["program"][i]),
                          np.where(R["program"][i] == 3, 0, R["program"][i]))]
    dhs = pd.DataFrame({
        "client_id": cid, "case_id": case, "case_role": R["role"][i],
        "first_name": first[i], "middle_name": mid, "last_name": last[i],
        "name_suffix": R["suffix"][i], "dob": dob_s,
        "sex": np.where(per["female"][p[i]], "F", "M"),
        "ssn": _fmt_ssn(R["ssn"][i], R["ssn_dash"][i]),
        "addr_street": _street(F, af[i], useB[i], R["addr_style"][i], 0, R["comma"][i],
                               (R["alt"][i], R["alt_num"][i], R["alt_street"][i])),
        "addr_city": city, "addr_state": zt["state"].to_numpy(object)[zip_idx[i]],
        "addr_zip": np.where(R["zip4"][i], zips + "-" + plus4, zips),
        "program": prog, "last_activity_date": _fmt_dates(act_day[i], "us"),
    })
    dhs["sex"] = np.where(R["gender_u"][i] < 0.004, "U", dhs["sex"])
    dhs_rid = dhs["client_id"].to_numpy(object).copy()
    extra = []
    for j in np.flatnonzero(R["reason"][i] != ""):
        rsn, r = R["reason"][i[j]], i[j]
        v = du[r, 0]
        if rsn == "bad_encoding":
            _insert_bad_bytes(dhs, j, ["first_name", "last_name", "addr_street"], du[r])
        elif rsn == "wrong_column_count":
            if v < 0.5:
                dhs.at[j, "program"] = "\x1d"
            else:
                dhs.at[j, "addr_state"] = dhs.at[j, "addr_state"] + "\x1e" + ("" if du[r, 2] < .5 else "SNAP")
        elif rsn == "bad_id":
            if v < 0.7:
                dhs.at[j, "client_id"] = bad_id(r, 0)
            else:
                dhs.at[j, "case_id"] = ["", "K1234567", "CASE1234", "K123456789"][int(du[r, 2] * 4)]
        elif rsn == "duplicate_id":
            extra.append(j)
        elif rsn == "bad_date":
            col = "dob" if v < 0.6 else "last_activity_date"
            dhs.at[j, col] = ["02/30/2001", "13/45/1990", "N/A", "1990-01-02", "04/31/1985",
                              "03/04/1899", "7/4/99x"][int(du[r, 2] * 7)]
        elif rsn == "future_date":
            col = "dob" if v < 0.5 else "last_activity_date"
            dhs.at[j, col] = _fmt_dates(np.array([night_day + 1 + int(du[r, 2] * 400)]), "us")[0]
        elif rsn == "missing_name":
            dhs.at[j, "first_name"] = ""
            dhs.at[j, "last_name"] = ""
    if extra:
        ex = dhs.iloc[extra].copy()
        ex["last_activity_date"] = _fmt_dates(act_day[i[extra]] - 3, "us")
        dhs = pd.concat([dhs, ex], ignore_index=True)
    rows_rec = np.concatenate([i, i[extra]]) if extra else i
    cpj = np.flatnonzero(R["tags"]["cp1252"][i])
    if len(cpj):
        for c in DHS_COLUMNS:
            col = dhs[c].to_numpy(object).copy()
            col[cpj] = _cp1252_row(list(col[cpj]))
            dhs[c] = col
    sort_key = np.concatenate([dhs_rid, dhs_rid[extra]]) if extra else dhs_rid
    order = np.lexsort((np.arange(len(dhs)), sort_key))
    out["DHS"] = (dhs.iloc[order].reset_index(drop=True), rows_rec[order])
    rid_all = np.full(len(p), "", dtype=object)
    rid_all[i] = dhs_rid

    # ------------------------------------------------------------------ DJS
    i = np.flatnonzero(act & (ag == 1) & (kind == 0))
    y2 = per["slot"][p[i]] == 3  # a family's second youth
    yid = "Y" + _z(_scramble(F["fam_global"][fam[i]] + np.where(y2, _YOUTH2_ID, 0), 10**7,
                             1_594_323, 12_347), 7)
    g_name, g_rel, g_dob = [], [], []
    gmap = {}
    for k in (1, 2):
        gi = np.flatnonzero(act & (kind == k))
        gmap[k] = gi
    djs_n = len(i)
    for k in (1, 2):
        nm = np.full(djs_n, "", dtype=object)
        rl = np.full(djs_n, "", dtype=object)
        db = np.full(djs_n, "", dtype=object)
        gi = gmap[k]
        if len(gi):
            jj = np.searchsorted(i, owner[gi])
            style = R["gname_style"][gi]
            f_, l_ = first[gi], last[gi]
            nm[jj] = np.where(style, l_ + ", " + f_, f_ + " " + l_)
            rl[jj] = R["rel"][gi]
            db[jj] = np.where(R["gdob_known"][gi], _fmt_dates(R["dob"][gi], "iso"), "")
        g_name.append(nm)
        g_rel.append(rl)
        g_dob.append(db)
    home = (_street(F, af[i], useB[i], R["addr_style"][i], 1, R["comma"][i]) + ", "
            + zt["city"].to_numpy(object)[zip_idx[i]] + ", " + zt["state"].to_numpy(object)[zip_idx[i]]
            + " " + zt["zip"].to_numpy(object)[zip_idx[i]])
    region = zt["region"].to_numpy(object)[zip_idx[i]]
    region = np.where(R["region_u"][i] < 0.1, pd.Series(region).str.upper().to_numpy(object), region)
    djs = pd.DataFrame({
        "youth_id": yid, "youth_last_name": last[i], "youth_first_name": first[i],
        "youth_middle_initial": np.where(R["middle_mode"][i] == 0, "",
                                         pd.Series(middle[i]).str[:1].to_numpy(object)),
        "birth_date": _fmt_dates(R["dob"][i], "iso", R["tags"]["dob_swap"][i]),
        "gender": np.where(R["gender_u"][i] < 0.005, "Unknown",
                           np.where(per["female"][p[i]], "Female", "Male")),
        "home_address": home, "guardian1_name": g_name[0], "guardian2_name": g_name[1],
        "guardian1_relationship": g_rel[0], "guardian2_relationship": g_rel[1],
        "guardian1_birth_date": g_dob[0], "guardian2_birth_date": g_dob[1],
        "intake_date": _fmt_dates(np.minimum(F["open"][fam[i]], night_day), "iso"),
        "region": region,
    })
    djs_rid = djs["youth_id"].to_numpy(object).copy()
    extra = []
    for j in np.flatnonzero(R["reason"][i] != ""):
        rsn, r = R["reason"][i[j]], i[j]
        v = du[r, 0]
        if rsn == "bad_encoding":
            _insert_bad_bytes(djs, j, ["youth_first_name", "youth_last_name", "home_address"],
                              du[r])
        elif rsn == "wrong_column_count":
            if v < 0.5:
                djs.at[j, "region"] = "\x1d"
            else:
                djs.at[j, "region"] = djs.at[j, "region"] + "\x1e"
        elif rsn == "bad_id":
            djs.at[j, "youth_id"] = bad_id(r, 1)
        elif rsn == "duplicate_id":
            extra.append(j)
        elif rsn == "bad_date":
            col = "birth_date" if v < 0.6 else "intake_date"
            djs.at[j, col] = ["2001-02-30", "1990-13-45", "N/A", "01/02/2009", "2008-04-31",
                              "1899-05-06", "20090704"][int(du[r, 2] * 7)]
        elif rsn == "future_date":
            col = "birth_date" if v < 0.5 else "intake_date"
            djs.at[j, col] = _fmt_dates(np.array([night_day + 1 + int(du[r, 2] * 400)]), "iso")[0]
        elif rsn == "missing_name":
            djs.at[j, "youth_first_name"] = ""
            djs.at[j, "youth_last_name"] = ""
    if extra:
        ex = djs.iloc[extra].copy()
        ex["intake_date"] = _fmt_dates(np.minimum(F["open"][fam[i[extra]]], night_day) - 30, "iso")
        djs = pd.concat([djs, ex], ignore_index=True)
    rows_rec = np.concatenate([i, i[extra]]) if extra else i
    sort_key = np.concatenate([djs_rid, djs_rid[extra]]) if extra else djs_rid
    order = np.lexsort((np.arange(len(djs)), sort_key))
    out["DJS"] = (djs.iloc[order].reset_index(drop=True), rows_rec[order])
    rid_all[i] = djs_rid

    # ------------------------------------------------------------------ DPSCS
    i = np.flatnonzero(act & (ag == 2) & (kind == 0))
    sid = _z(_scramble(F["fam_global"][fam[i]], 10**8, 40_353_607, 31_337), 8).astype(object)
    mid_d = np.where(R["middle_mode"][i] == 0, "",
                     " " + np.where(R["middle_mode"][i] == 1,
                                    pd.Series(middle[i]).str[:1].to_numpy(object), middle[i]))
    sfx = np.where(R["suffix"][i] != "", " " + R["suffix"][i], "")
    full = last[i] + sfx + ", " + first[i] + mid_d
    # aliases: nickname/maiden/base variants; empty for most
    base_first = pd.Series(per["first"][p[i]]).str.upper().to_numpy(object)
    base_last = pd.Series(per["last"][p[i]]).str.upper().to_numpy(object)
    au = R["alias_u"][i]
    n_alias = np.where(au < 0.6, 0, np.where(au < 0.9, 1, 2))
    a1 = np.where(per["married"][p[i]], pd.Series(per["maiden"][p[i]]).str.upper().to_numpy(object),
                  base_last) + ", " + base_first
    a2 = last[i] + ", " + pd.Series(first[i]).str[:1].to_numpy(object)
    vals = np.stack([a1, a2], axis=1)
    take = np.arange(2)[None, :] < n_alias[:, None]
    offsets = np.concatenate([[0], np.cumsum(n_alias)]).astype(np.int32)
    aliases = pa.ListArray.from_arrays(pa.array(offsets), pa.array(vals[take].tolist(), pa.string()))
    c_name = np.full(len(i), None, dtype=object)
    c_relv = np.full(len(i), None, dtype=object)
    # contact: person record or FRIEND/OTHER (owner-level)
    ofam = fam[i]
    ci = np.flatnonzero(act & (kind == 3))
    if len(ci):
        jj = np.searchsorted(i, owner[ci])
        c_name[jj] = first[ci] + " " + last[ci]
        c_relv[jj] = R["rel"][ci]
    c_rel_f = R["c_rel"]
    fr = np.isin(c_rel_f[np.minimum(ofam, len(c_rel_f) - 1)], ["FRIEND", "OTHER"]) & (ofam < len(c_rel_f))
    c_name[fr] = R["friend_name"][ofam[fr]]
    c_relv[fr] = c_rel_f[ofam[fr]]
    status = np.array(["INCARCERATED", "PAROLE", "PROBATION", "RELEASED"], dtype=object)[R["status"][i]]
    dp = {
        "sid": sid, "full_name": full, "dob": R["dob"][i].copy(),
        "sex": np.where(per["female"][p[i]], "F", "M"),
        "ssn": np.where(R["ssn"][i] == "", None, R["ssn"][i]),
        "address_street": _street(F, af[i], useB[i], R["addr_style"][i], 2, R["comma"][i]),
        "address_city": zt["city"].to_numpy(object)[zip_idx[i]],
        "address_state": zt["state"].to_numpy(object)[zip_idx[i]],
        "address_zip": zt["zip"].to_numpy(object)[zip_idx[i]],
        "status": status, "emergency_contact_name": c_name, "emergency_contact_relationship": c_relv,
        "status_date": act_day[i] * 86_400_000_000 + R["status_secs"][i] * 1_000_000,
    }
    dp_rid = sid.copy()
    extra = []
    for j in np.flatnonzero(R["reason"][i] != ""):
        rsn, r = R["reason"][i[j]], i[j]
        v = du[r, 0]
        if rsn == "bad_id":
            dp["sid"][j] = bad_id(r, 2)
        elif rsn == "duplicate_id":
            extra.append(j)
        elif rsn == "bad_date":
            dp["dob"][j] = -25_567 - 30 - int(du[r, 2] * 3000)  # before 1900-01-01
        elif rsn == "future_date":
            if v < 0.5:
                dp["dob"][j] = night_day + 1 + int(du[r, 2] * 400)
            else:
                dp["status_date"][j] = (night_day + 1 + int(du[r, 2] * 60)) * 86_400_000_000
        elif rsn == "missing_name":
            dp["full_name"][j] = None if v < 0.5 else ""
    n_rows = len(i) + len(extra)
    idx = np.concatenate([np.arange(len(i)), np.array(extra, int)])
    sort_key = np.concatenate([dp_rid, dp_rid[extra]]) if extra else dp_rid
    order = np.lexsort((np.arange(n_rows), sort_key))
    sel = idx[order]
    cols = {}
    for name in DPSCS_SCHEMA.names:
        if name == "aliases":
            cols[name] = aliases.take(pa.array(sel))
        elif name == "dob":
            cols[name] = pa.array(dp[name][sel].astype(np.int32), pa.int32()).cast(pa.date32())
        elif name == "status_date":
            cols[name] = pa.array(dp[name][sel].astype(np.int64), pa.int64()).cast(pa.timestamp("us"))
        else:
            cols[name] = pa.array(list(dp[name][sel]), pa.string())
    table = pa.table(cols, schema=DPSCS_SCHEMA)
    rows_rec = i[sel]
    out["DPSCS"] = (table, rows_rec)
    rid_all[i] = dp_rid
    return {"rid": rid_all, "out": out, "legit": legit, "act": act, "addr_id": addr_id, "useB": useB}


def _truth_chunk(R: dict, N: dict) -> pd.DataFrame:
    """Legitimate records of a chunk with person/family keys and trap tags."""
    per, p, ag, kind, owner = R["per"], R["person"], R["agency"], R["kind"], R["owner"]
    legit = N["legit"]
    idx = np.flatnonzero(legit)
    m = len(idx)
    # record ids
    sfx = np.array(["", "#guardian1", "#guardian2", "#contact"], dtype=object)
    rid = N["rid"][owner[idx]] + sfx[kind[idx]]
    # components: record nodes + person nodes + case (family) nodes for DHS
    pg = per["pglobal"][p[idx]]
    fam = per["fam"][p[idx]]
    _, pnode = np.unique(pg, return_inverse=True)
    _, cnode = np.unique(fam, return_inverse=True)
    n_p = pnode.max() + 1 if m else 0
    pos = np.full(len(legit), -1)
    pos[idx] = np.arange(m)
    src = [np.arange(m), np.arange(m)]
    dst = [m + pnode, pos[owner[idx]]]
    isdhs = ag[idx] == 0
    src.append(np.arange(m)[isdhs])
    dst.append(m + n_p + cnode[isdhs])
    s = np.concatenate(src)
    d = np.concatenate(dst)
    nn = m + n_p + (cnode.max() + 1 if m else 0)
    g = coo_matrix((np.ones(len(s)), (s, d)), shape=(nn, nn))
    _, lab = connected_components(g, directed=False)
    lab = lab[:m]
    fg = R["F"]["fam_global"][fam]
    ncomp = lab.max() + 1 if m else 0
    fmin = np.full(ncomp, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(fmin, lab, fg.astype(np.int64))
    bor = np.zeros(ncomp, dtype=np.int64)
    np.bitwise_or.at(bor, lab, (1 << ag[idx]).astype(np.int64))
    fkey, bits = fmin[lab], bor[lab]
    sys_names = np.array(["+".join(a for b, a in zip((1, 2, 4), AGENCIES) if mask & b)
                          for mask in range(8)], dtype=object)
    systems = sys_names[bits]
    multi = np.isin(bits, [3, 5, 6, 7])
    tags = {t: R["tags"][t][idx].copy() for t in TRAP_TAGS + _EXTRA_TAGS}
    # moved: same person, different address in different records (contacts carry no address)
    has_addr = kind[idx] != 3
    mv = pd.DataFrame({"pg": pg[has_addr], "a": N["addr_id"][idx][has_addr]})
    nun = mv.groupby("pg")["a"].nunique()
    moved_p = set(nun.index[nun > 1].tolist())
    tags["moved"] = has_addr & pd.Series(pg).isin(moved_p).to_numpy()
    tag_str = np.full(m, "", dtype=object)
    for t in TRAP_TAGS + _EXTRA_TAGS:
        tag_str = np.where(tags[t], tag_str + t + ",", tag_str)
    tag_str = pd.Series(tag_str).str.rstrip(",").to_numpy(object)
    R["trap_counts"] = {t: int(tags[t].sum()) for t in TRAP_TAGS + _EXTRA_TAGS}
    return pd.DataFrame({
        "agency": AGENCIES[ag[idx]], "record_id": rid, "record_kind": KINDS[kind[idx]],
        "person_key": "P" + _z(pg, 10), "family_key": "F" + _z(fkey, 9),
        "systems": systems, "multi_system": multi, "traps": tag_str,
    })


# --------------------------------------------------------------------------- writing
def _dhs_bytes(df: pd.DataFrame, header: bool) -> bytes:
    """Render DHS rows as UTF-8 CSV bytes (LF); sentinels drop or add a field."""
    text = df.to_csv(index=False, header=header, lineterminator="\n")
    text = text.replace(",\x1d", "").replace("\x1e", ",")
    return text.encode("utf-8", "surrogateescape")


def _djs_bytes(df: pd.DataFrame, header: bool) -> bytes:
    """Render DJS rows as pipe-delimited cp1252 bytes with CRLF, no quoting."""
    line = df[DJS_COLUMNS[0]].astype(str).to_numpy(object)
    for c in DJS_COLUMNS[1:]:
        line = line + "|" + df[c].astype(str).to_numpy(object)
    text = "\r\n".join(line.tolist())
    if len(line):
        text += "\r\n"
    if header:
        text = "|".join(DJS_COLUMNS) + "\r\n" + text
    text = text.replace("|\x1d", "").replace("\x1e", "|")
    return text.encode("cp1252", "surrogateescape")


def _parse_night(night: str) -> int:
    """``YYYYMMDD`` to a day number since 1970-01-01."""
    d = np.datetime64(f"{night[:4]}-{night[4:6]}-{night[6:8]}", "D")
    return int((d - _EPOCH).astype(int))


def generate_night(out_dir: Path, *, seed: int = 7, scale: str = "small", night: str = "20261125",
                   bom: bool | None = None, profile: str | Profile = "baseline") -> dict:
    """Write one synthetic night of the three agency extracts plus ground truth.

    Writes ``dhs_clients_<night>.csv`` (UTF-8, LF, optional BOM, a few legitimate
    cp1252 rows), ``djs_youth_<night>.txt`` (pipe-delimited, cp1252, CRLF),
    ``dpscs_offenders_<night>.parquet`` and ``truth/`` (``records.parquet``,
    ``dirty.csv``, ``summary.json``) into ``out_dir``.

    Args:
        out_dir: Output folder (created if needed).
        seed: Defines the population; the same seed and night give byte-identical files.
        scale: ``"small"``, ``"medium"`` or ``"large"`` (see :data:`SCALES`).
        night: Extract date ``YYYYMMDD``; selects a snapshot of the same population.
        bom: Force (True) or forbid (False) a UTF-8 BOM on the DHS file; by default
            an odd seed writes one.
        profile: Population profile (``baseline``, ``city``, ``namesakes``, ``sparse``,
            ``messy``; see :mod:`pipeline.synth.profiles`). ``baseline`` is the population
            the model was tuned on; the same seed gives the same families and files.

    Returns:
        A JSON-able summary: rows per file, legitimate person records per agency,
        multi-system families, dirty rows per agency and reason, trap counts, seconds.
    """
    t0 = time.perf_counter()
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose from {sorted(SCALES)}")
    prof = get_profile(profile)
    cfg = SCALES[scale]
    night_day = _parse_night(night)
    if bom is None:
        bom = seed % 2 == 1
    out_dir = Path(out_dir)
    (out_dir / "truth").mkdir(parents=True, exist_ok=True)
    p_dhs = out_dir / f"dhs_clients_{night}.csv"
    p_djs = out_dir / f"djs_youth_{night}.txt"
    p_dp = out_dir / f"dpscs_offenders_{night}.parquet"
    n_fam, per_chunk = cfg["families"], cfg["chunk"]
    n_chunks = -(-n_fam // per_chunk)
    # about 55 % of generated families are active on a given night; a few lose a tie to dirt
    multi_total = int(round(cfg["multi"] / 0.52))
    line = {"DHS": 1, "DJS": 1, "DPSCS": 0}
    rows = {"DHS": 0, "DJS": 0, "DPSCS": 0}
    dirty_all = []
    truth_writer = None
    dp_writer = None
    multi_fams = 0
    rec_counts = {"DHS": 0, "DJS": 0, "DPSCS": 0}
    trap_counts = {t: 0 for t in TRAP_TAGS + _EXTRA_TAGS}
    with open(p_dhs, "wb") as f_dhs, open(p_djs, "wb") as f_djs:
        if bom:
            f_dhs.write(b"\xef\xbb\xbf")
        for c in range(n_chunks):
            fam0 = c * per_chunk
            n = min(per_chunk, n_fam - fam0)
            n_multi = multi_total * (fam0 + n) // n_fam - multi_total * fam0 // n_fam
            pop = _chunk_population(seed, c, fam0, n, n_multi, prof)
            R = _record_noise(_flatten(pop, seed, c))
            N = _night_chunk(R, night_day)
            for ag_name, writer in (("DHS", _dhs_bytes), ("DJS", _djs_bytes)):
                df, recs = N["out"][ag_name]
                f = f_dhs if ag_name == "DHS" else f_djs
                f.write(writer(df, header=(c == 0)))
                idcol = "client_id" if ag_name == "DHS" else "youth_id"
                rs = R["reason"][recs]
                bad = np.flatnonzero(rs != "")
                for j in bad:
                    dirty_all.append((ag_name, line[ag_name] + 1 + j, df[idcol].iat[j], rs[j]))
                line[ag_name] += len(df)
                rows[ag_name] += len(df)
            table, recs = N["out"]["DPSCS"]
            if dp_writer is None:
                dp_writer = pq.ParquetWriter(p_dp, DPSCS_SCHEMA)
            dp_writer.write_table(table)
            rs = R["reason"][recs]
            sids = table.column("sid").to_pylist()
            for j in np.flatnonzero(rs != ""):
                dirty_all.append(("DPSCS", line["DPSCS"] + 1 + j, sids[j] or "", rs[j]))
            line["DPSCS"] += table.num_rows
            rows["DPSCS"] += table.num_rows
            T = _truth_chunk(R, N)
            if truth_writer is None:
                truth_writer = pq.ParquetWriter(out_dir / "truth" / "records.parquet", TRUTH_SCHEMA)
            truth_writer.write_table(pa.Table.from_pandas(T, schema=TRUTH_SCHEMA, preserve_index=False))
            multi_fams += T.loc[T["multi_system"], "family_key"].nunique()
            for k, v in T["agency"].value_counts().items():
                rec_counts[k] += int(v)
            for t in TRAP_TAGS + _EXTRA_TAGS:
                trap_counts[t] += R["trap_counts"][t]
            del pop, R, N, T
    if dp_writer is None:
        dp_writer = pq.ParquetWriter(p_dp, DPSCS_SCHEMA)
    dp_writer.close()
    if truth_writer is not None:
        truth_writer.close()
    dirty = pd.DataFrame(dirty_all, columns=["agency", "line_number", "record_id", "reason"])
    dirty.to_csv(out_dir / "truth" / "dirty.csv", index=False, lineterminator="\n")
    by_reason = {a: {r: int(((dirty["agency"] == a) & (dirty["reason"] == r)).sum())
                     for r in DIRTY_REASONS if ((dirty["agency"] == a) & (dirty["reason"] == r)).any()}
                 for a in ("DHS", "DJS", "DPSCS")}
    summary = {
        "seed": seed, "scale": scale, "night": night, "bom": bool(bom), "profile": prof.name,
        "files": {p_dhs.name: rows["DHS"], p_djs.name: rows["DJS"], p_dp.name: rows["DPSCS"]},
        "records_per_agency": rec_counts,
        "records_total": int(sum(rec_counts.values())),
        "multi_system_families": int(multi_fams),
        "multi_system_target": cfg["multi"],
        "dirty_rows": {a: int((dirty["agency"] == a).sum()) for a in ("DHS", "DJS", "DPSCS")},
        "dirty_by_reason": by_reason,
        "traps": {t: v for t, v in trap_counts.items() if t in TRAP_TAGS or v},
        "seconds": round(time.perf_counter() - t0, 2),
    }
    (out_dir / "truth" / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary

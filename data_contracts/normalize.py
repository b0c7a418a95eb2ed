"""Vectorized normalization of identifier fields (names, dates, SSN, ZIP, address, sex).

Every public function takes a pandas Series (object or ``string`` dtype; ``None``,
``NaN``, ``pd.NA`` and ``""`` all mean *missing*) and returns results aligned to the
input index. String outputs are plain ASCII uppercase in the pandas ``"string"`` dtype,
with ``pd.NA`` for missing.

Performance: the work is done once per *unique* value (``pd.factorize``) with
``pyarrow.compute`` (RE2 regexes, Unicode normalization) and mapped back with a
NumPy take, so a nightly 2M-row extract with the usual repetition costs seconds.
The only per-value Python loop is over unique first names in :func:`nickname_keys`
(the ``nicknames`` library is a per-name lookup).

Reference tables come from the field's own libraries: USPS Publication 28 street
types, directionals, unit designators and state names from ``scourgify``; titles
and surname particles validated against ``nameparser``; nicknames from
``nicknames``; ZIP -> state from the offline ``zipcodes`` data.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "PLACEHOLDER_SSNS",
    "SUFFIXES",
    "clean_name",
    "clean_text",
    "nickname_keys",
    "normalize_sex",
    "normalize_ssn",
    "normalize_street",
    "normalize_suffix",
    "parse_date",
    "parse_full_name",
    "split_one_line_address",
    "split_suffix",
    "zip5",
    "zip_state",
]

SUFFIXES = ("JR", "SR", "II", "III", "IV", "V")
PLACEHOLDER_SSNS = ("000000000", "123456789", "999999999")

_STRING = pd.StringDtype()

# --------------------------------------------------------------------------------------
# unique-value machinery
# --------------------------------------------------------------------------------------


def _factorize(s: pd.Series) -> tuple[np.ndarray, pa.StringArray]:
    """Codes (-1 = missing) and the unique non-missing values as a pyarrow string array."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    values = np.asarray(uniques, dtype=object)
    try:
        return codes, pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # non-string scalars (ints, floats)
        return codes, pa.array(values.astype(str), type=pa.string())


def _to_object(arr: pa.Array) -> np.ndarray:
    """pyarrow string array -> object ndarray with pd.NA for null and for ""."""
    out = np.asarray(arr.to_pandas(), dtype=object) if len(arr) else np.empty(0, dtype=object)
    if len(arr):
        mask = np.asarray(pc.fill_null(pc.equal(pc.utf8_length(arr), 0), True))
        out = out.copy()
        out[mask] = pd.NA
    return out


def _take_str(unique_out: pa.Array | np.ndarray, codes: np.ndarray, index: pd.Index) -> pd.Series:
    """Map per-unique string results back to rows as a ``string`` Series."""
    obj = unique_out if isinstance(unique_out, np.ndarray) else _to_object(unique_out)
    obj = np.append(obj, pd.NA)  # code -1 picks the trailing NA
    rows = obj[codes]
    return pd.Series(pd.array(rows, dtype=_STRING), index=index, copy=False)


def _per_unique(s: pd.Series, fn: Callable[[pa.StringArray], pa.Array]) -> pd.Series:
    codes, uniq = _factorize(s)
    return _take_str(fn(uniq) if len(uniq) else uniq, codes, s.index)


def _frame_per_unique(s: pd.Series, cols: list[str],
                      fn: Callable[[pa.StringArray], dict[str, np.ndarray]]) -> pd.DataFrame:
    """Run a several-column parser once per distinct value and spread it back over ``s``."""
    codes, uniq = _factorize(s)
    res = fn(uniq) if len(uniq) else {c: np.empty(0, dtype=object) for c in cols}
    return pd.DataFrame({c: _take_str(res[c], codes, s.index) for c in cols}, index=s.index)


def _map_dict(arr: pa.Array, table: dict[str, str]) -> np.ndarray:
    """Vectorized dict lookup on a pyarrow string array; unmapped -> pd.NA (object array)."""
    mapped = pd.Series(arr.to_pandas(), dtype=object).map(table)
    return mapped.astype(object).where(mapped.notna(), pd.NA).to_numpy(dtype=object)


def _gated_replace(arr: pa.Array, literal: str, pattern: str, repl: str) -> pa.Array:
    """``replace_substring_regex`` only on the values containing ``literal`` (cheap pre-filter)."""
    mask = pc.fill_null(pc.match_substring(arr, literal), False)
    hits = pc.sum(mask).as_py() or 0
    if hits == 0:
        return arr
    if hits == len(arr):
        return pc.replace_substring_regex(arr, pattern, repl)
    sub = pc.replace_substring_regex(pc.filter(arr, mask), pattern, repl)
    return pc.replace_with_mask(arr, mask, sub)


def _empty_to_null(arr: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(pc.utf8_length(arr), 0), pa.scalar(None, pa.string()), arr)


# --------------------------------------------------------------------------------------
# text cleaning
# --------------------------------------------------------------------------------------

# Letters that do not decompose under NFKD (so accent stripping would drop them).
_TRANSLIT = {
    "Ø": "O", "ø": "o", "Ł": "L", "ł": "l", "ß": "ss", "ẞ": "SS", "Æ": "AE", "æ": "ae",
    "Œ": "OE", "œ": "oe", "Đ": "D", "đ": "d", "Ð": "D", "ð": "d", "Þ": "TH", "þ": "th",
    "Ħ": "H", "ħ": "h", "ı": "i", "Ŋ": "NG", "ŋ": "ng", "Ŧ": "T", "ŧ": "t",
}
# Apostrophe look-alikes (removed, like ASCII ' and `).
_APOSTROPHES = "\u2018\u2019\u201b\u02bc\u02b9\u00b4\u2032\u0060'"


def _clean_arrow(arr: pa.Array, keep: str = "") -> pa.Array:
    """Core of :func:`clean_text` on unique values; ``keep`` = extra ASCII chars to keep."""
    if len(arr) == 0:
        return arr
    nonascii = pc.match_substring_regex(arr, r"[^\x00-\x7f]")
    if pc.any(nonascii).as_py():
        idx = pc.indices_nonzero(nonascii)
        sub = pc.take(arr, idx)
        sub = pc.replace_substring_regex(sub, "[" + _APOSTROPHES + "]", "")
        sub = pc.utf8_normalize(sub, "NFKC")
        for src, dst in _TRANSLIT.items():
            sub = pc.replace_substring(sub, src, dst)
        sub = pc.utf8_normalize(sub, "NFKD")
        sub = pc.replace_substring_regex(sub, r"[\p{M}\p{Cf}]+", "")
        arr = _scatter(arr, idx, sub)
        arr = pc.utf8_upper(arr)
    else:
        arr = pc.ascii_upper(arr)
    arr = pc.replace_substring_regex(arr, r"['`.]+", "")
    kept = re.escape(keep).replace("]", r"\]") if keep else ""
    arr = pc.replace_substring_regex(arr, "[^A-Z0-9 " + kept + "]+", " ")
    arr = _gated_replace(arr, "  ", " {2,}", " ")
    arr = pc.utf8_trim_whitespace(arr)
    return _empty_to_null(arr)


def _scatter(arr: pa.Array, idx: pa.Array, sub: pa.Array) -> pa.Array:
    obj = np.asarray(arr.to_pandas(), dtype=object)
    obj[np.asarray(idx)] = np.asarray(sub.to_pandas(), dtype=object)
    return pa.array(obj, type=pa.string())


def clean_text(s: pd.Series) -> pd.Series:
    """Normalize free text to plain uppercase ASCII words.

    NFKC (full-width letters, non-breaking spaces), accent stripping (NFKD minus
    combining marks), transliteration of non-decomposing letters (Ø, Ł, ß, Æ, Đ, ...),
    zero-width/format characters dropped, uppercase, apostrophes/backticks/periods
    removed, every other non-alphanumeric run (hyphen, comma, slash, non-Latin
    letters) -> one space, trimmed; empty -> NA.

    Args:
        s: Series of raw strings.

    Returns:
        ``string`` Series aligned to ``s.index``.

    Example:
        >>> clean_text(pd.Series(["José", "O'Brien-Smith", "St. Paul", " "])).tolist()
        ['JOSE', 'OBRIEN SMITH', 'ST PAUL', <NA>]
    """
    return _per_unique(s, _clean_arrow)


# --------------------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------------------

def _nameparser_constants():
    from nameparser.config import CONSTANTS

    return CONSTANTS


@functools.cache
def _titles() -> tuple[str, ...]:
    """Leading honorifics dropped from names (a conservative subset of nameparser titles).

    nameparser's 800+ titles include words that are common surnames (KING, BISHOP,
    DEAN, JUDGE, PRINCE); only unambiguous honorifics are dropped.
    """
    wanted = ("MR", "MRS", "MS", "MISS", "MX", "MSTR", "MASTER", "DR", "REV", "PROF", "HON", "SIR", "FR")
    titles = _nameparser_constants().titles
    # keep nameparser as the reference; MSTR is a common records abbreviation it lacks
    return tuple(t for t in wanted if t.lower() in titles or t == "MSTR")


_NAME_PLACEHOLDERS = frozenset({
    "UNKNOWN", "UNK", "NONE", "NA", "N A", "NULL", "FNU", "LNU", "MNU", "NFN", "NLN", "NMN",
    "NMI", "BABY BOY", "BABY GIRL", "BABYBOY", "BABYGIRL", "INFANT", "INFANT BOY",
    "INFANT GIRL", "TEST", "XXX", "XX", "X",
})

_SUFFIX_MAP = {
    "JR": "JR", "JNR": "JR", "JUNIOR": "JR",
    "SR": "SR", "SNR": "SR", "SENIOR": "SR",
    "II": "II", "2ND": "II", "2": "II",
    "III": "III", "3RD": "III", "3": "III",
    "IV": "IV", "4TH": "IV", "4": "IV",
    "V": "V", "5TH": "V", "5": "V",
}
# tokens recognized as a trailing suffix inside a name (bare digits excluded)
_SUFFIX_TOKENS = ("JUNIOR", "SENIOR", "JNR", "SNR", "JR", "SR", "III", "II", "IV", "2ND", "3RD", "4TH", "5TH", "V")


def _drop_titles(arr: pa.Array) -> pa.Array:
    pat = r"^(?:(?:" + "|".join(_titles()) + r")\s+)+"
    return pc.replace_substring_regex(arr, pat, "")


def _clean_name_arrow(arr: pa.Array, cleaned: bool = False) -> pa.Array:
    if not cleaned:
        arr = _clean_arrow(arr)
    arr = _drop_titles(arr)
    placeholder = pc.is_in(arr, value_set=pa.array(sorted(_NAME_PLACEHOLDERS)))
    arr = pc.if_else(pc.fill_null(placeholder, False), pa.scalar(None, pa.string()), arr)
    return _empty_to_null(arr)


def clean_name(s: pd.Series) -> pd.Series:
    """Clean a name field: :func:`clean_text`, drop leading titles, blank placeholders.

    Hyphenated names become space-separated tokens. Leading honorifics (MR, MRS, MS,
    MISS, DR, REV, PROF, HON, SIR, FR, ...) are dropped only when another token
    follows, so a surname ``"DR"`` alone survives. Placeholder values (UNKNOWN, UNK,
    NONE, NA, N/A, NULL, FNU, LNU, NFN, NMN, BABY BOY, BABY GIRL, ...) become NA.

    Args:
        s: Series of raw name strings.

    Returns:
        ``string`` Series aligned to ``s.index``.

    Example:
        >>> clean_name(pd.Series(["Dr. María García-López", "FNU", "o'neil"])).tolist()
        ['MARIA GARCIA LOPEZ', <NA>, 'ONEIL']
    """
    return _per_unique(s, _clean_name_arrow)


def _normalize_suffix_obj(arr: pa.Array) -> np.ndarray:
    return _map_dict(arr, _SUFFIX_MAP)


def normalize_suffix(s: pd.Series) -> pd.Series:
    """Normalize a generational suffix to one of :data:`SUFFIXES`.

    ``Jr.``/``jr``/``JUNIOR``/``JNR`` -> JR, ``Sr``/``SENIOR`` -> SR, ``2nd``/``II``
    -> II, ``3rd``/``III`` -> III, ``4th``/``IV`` -> IV, ``V``/``5th`` -> V; anything
    else (ESQ, MD, PHD, blank) -> NA.

    Args:
        s: Series of raw suffix strings.

    Returns:
        ``string`` Series aligned to ``s.index``.

    Example:
        >>> normalize_suffix(pd.Series(["Jr.", "3rd", "Esq"])).tolist()
        ['JR', 'III', <NA>]
    """
    def fn(arr: pa.Array) -> np.ndarray:
        cleaned = _clean_arrow(arr)
        return _normalize_suffix_obj(pc.fill_null(cleaned, ""))

    return _per_unique(s, fn)


def _split_suffix_arrow(arr: pa.Array, min_v_tokens: int = 1) -> tuple[pa.Array, np.ndarray]:
    """Split a trailing suffix token off cleaned names. Returns (name, normalized suffix obj)."""
    pat = r"^(?P<name>.*?\S)\s+(?P<suf>" + "|".join(_SUFFIX_TOKENS) + r")$"
    ex = pc.extract_regex(arr, pat)
    matched = pc.fill_null(pc.is_valid(ex), False)
    name = pc.struct_field(ex, "name")
    suf = pc.struct_field(ex, "suf")
    if min_v_tokens > 1:
        # a lone "V" after a single given name is more likely a middle initial
        ntok = pc.add(pc.count_substring(pc.fill_null(name, ""), " "), 1)
        bad_v = pc.and_(pc.equal(suf, "V"), pc.less(ntok, min_v_tokens))
        matched = pc.and_(matched, pc.invert(pc.fill_null(bad_v, False)))
    out_name = pc.if_else(matched, name, arr)
    suf_obj = _map_dict(pc.fill_null(pc.if_else(matched, suf, pa.scalar("", pa.string())), ""), _SUFFIX_MAP)
    return out_name, suf_obj


def split_suffix(name: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Split a trailing generational suffix off an already-cleaned name.

    Recognized trailing tokens: JR, SR, JNR, SNR, JUNIOR, SENIOR, II, III, IV, V,
    2ND, 3RD, 4TH, 5TH (returned normalized). A name that is only a suffix (``"V"``,
    ``"JR"``) is left as the name with an NA suffix.

    Args:
        name: ``string`` Series of cleaned names (see :func:`clean_name`).

    Returns:
        ``(name_without_suffix, suffix)``, both ``string`` Series aligned to the input.

    Example:
        >>> n, sfx = split_suffix(pd.Series(["SMITH JR", "JONES 3RD", "V"]))
        >>> n.tolist(), sfx.tolist()
        (['SMITH', 'JONES', 'V'], ['JR', 'III', <NA>])
    """
    codes, uniq = _factorize(name)
    if len(uniq) == 0:
        empty = _take_str(np.empty(0, dtype=object), codes, name.index)
        return empty, empty.copy()
    n, sfx = _split_suffix_arrow(uniq)
    return _take_str(n, codes, name.index), _take_str(sfx, codes, name.index)


@functools.cache
def _particles() -> tuple[str, ...]:
    """Surname particles (DE, LA, VAN, VON, ST, ...) from nameparser, ASCII only."""
    skip = {"bar", "bat", "bon", "do", "op", "ua", "vel", "heer", "het", "auf", "te", "tho",
            "thoe", "freiherr", "freiherrin", "aan", "aen", "af", "av"}
    out = set()
    for p in _nameparser_constants().prefixes:
        if p.isascii() and p.isalpha() and len(p) >= 2 and p not in skip:
            out.add(p.upper())
    return tuple(sorted(out, key=lambda x: (-len(x), x)))


def _struct_fields(ex: pa.Array, names: list[str]) -> dict[str, pa.Array]:
    return {n: _empty_to_null(pc.fill_null(pc.struct_field(ex, n), "")) for n in names}


def _dehyphen(arr: pa.Array) -> pa.Array:
    return _empty_to_null(pc.utf8_trim_whitespace(pc.replace_substring(arr, "-", " ")))


def _parse_full_name_arrow(arr: pa.Array, order: str) -> dict[str, np.ndarray]:
    n = len(arr)
    x = _clean_arrow(arr, keep=",-")
    x = pc.fill_null(x, "")
    # tidy separators: "A - B" -> "A-B", ", ," -> ",", no leading/trailing separators
    x = pc.replace_substring_regex(x, r"\s*-[\s-]*", "-")
    x = pc.replace_substring_regex(x, r"\s*,[\s,]*", ",")
    x = pc.replace_substring_regex(x, r"(?:^|\s)-+|-+(?:\s|$)", " ")
    x = pc.replace_substring_regex(x, r"^[,\s-]+|[,\s-]+$", "")
    x = pc.replace_substring_regex(x, r"(\S)-+(\S)", r"\1-\2")

    first = np.full(n, pd.NA, dtype=object)
    middle = first.copy()
    last = first.copy()
    suffix = first.copy()

    has_comma = pc.match_substring(x, ",")
    left = pc.fill_null(pc.struct_field(pc.extract_regex(x, r"^(?P<l>[^,]*),(?P<r>.*)$"), "l"), "")
    right_raw = pc.fill_null(pc.struct_field(pc.extract_regex(x, r"^(?P<l>[^,]*),(?P<r>.*)$"), "r"), "")
    right = pc.utf8_trim_whitespace(pc.replace_substring(right_raw, ",", " "))
    right_is_suffix = pc.match_substring_regex(
        right, r"^(?:(?:" + "|".join(_SUFFIX_TOKENS) + r")\s*)+$"
    )
    if order == "first_last":
        comma_mode = pa.array(np.zeros(n, dtype=bool))
    elif order in ("last_first", "auto"):
        comma_mode = pc.and_(pc.and_(has_comma, pc.invert(right_is_suffix)), pc.greater(pc.utf8_length(right), 0))
    else:
        raise ValueError(f"order must be 'auto', 'first_last' or 'last_first', not {order!r}")
    comma_mode_np = np.asarray(comma_mode.to_numpy(zero_copy_only=False), dtype=bool)
    flat = pc.utf8_trim_whitespace(pc.replace_substring(x, ",", " "))
    flat = _drop_titles(flat)

    parts = "|".join(_particles())

    # --- "LAST[ SUFFIX], [TITLE] FIRST MIDDLE[ SUFFIX]"
    if comma_mode_np.any():
        idx = np.flatnonzero(comma_mode_np)
        l_arr = pc.take(left, pa.array(idx))
        r_arr = _drop_titles(pc.take(right, pa.array(idx)))
        l_name, l_suf = _split_suffix_arrow(l_arr)
        r_name, r_suf = _split_suffix_arrow(r_arr, min_v_tokens=2)
        ex = pc.extract_regex(r_name, r"^(?P<first>\S+)(?:\s+(?P<middle>.+))?$")
        f = _struct_fields(ex, ["first", "middle"])
        last[idx] = _to_object(_dehyphen(pc.fill_null(l_name, "")))
        first[idx] = _to_object(_dehyphen(pc.fill_null(f["first"], "")))
        middle[idx] = _to_object(_dehyphen(pc.fill_null(f["middle"], "")))
        suffix[idx] = np.where(pd.isna(l_suf), r_suf, l_suf)

    # --- no usable comma: order decides
    rest = np.flatnonzero(~comma_mode_np)
    if rest.size:
        f_arr = pc.take(flat, pa.array(rest))
        core, suf = _split_suffix_arrow(f_arr, min_v_tokens=2)
        core = pc.fill_null(core, "")
        if order == "last_first":
            ex = pc.extract_regex(
                core,
                r"^(?P<last>(?:(?:" + parts + r")\s+)*\S+)(?:\s+(?P<first>\S+)(?:\s+(?P<middle>.+))?)?$",
            )
            f = _struct_fields(ex, ["first", "middle", "last"])
        else:
            ex = pc.extract_regex(
                core,
                r"^(?P<first>\S+)\s+(?:(?P<middle>.+?)\s+)??(?P<last>(?:(?:" + parts + r")\s+)*\S+)$",
            )
            f = _struct_fields(ex, ["first", "middle", "last"])
            single = pc.fill_null(pc.invert(pc.match_substring(core, " ")), False)
            # a single token (mononym) is recorded as the last name
            f["last"] = pc.if_else(single, _empty_to_null(core), f["last"])
        first[rest] = _to_object(_dehyphen(pc.fill_null(f["first"], "")))
        middle[rest] = _to_object(_dehyphen(pc.fill_null(f["middle"], "")))
        last[rest] = _to_object(_dehyphen(pc.fill_null(f["last"], "")))
        suffix[rest] = suf

    # final per-component cleaning: placeholders (LNU, FNU, UNKNOWN ...) -> NA
    out = {}
    for key, vals in (("first_name", first), ("middle_name", middle), ("last_name", last)):
        a = pa.array(np.where(pd.isna(vals), None, vals), type=pa.string())
        a = _clean_name_arrow(a, cleaned=True)
        out[key] = _to_object(pc.fill_null(a, ""))
    out["name_suffix"] = suffix
    return out


def parse_full_name(s: pd.Series, order: str = "auto") -> pd.DataFrame:
    """Split a full-name field into first, middle, last and suffix.

    Orders:
        * ``"last_first"``: ``"LAST[ SUFFIX], [TITLE] FIRST MIDDLE[ SUFFIX]"``; with no
          comma the first token(s) are the last name (``"SMITH JOHN A"``).
        * ``"first_last"``: ``"[TITLE] FIRST MIDDLE LAST[ SUFFIX]"``; commas are plain
          separators (``"JOHN SMITH, JR"``).
        * ``"auto"``: a comma means last_first, except when only a suffix follows the
          comma (``"JOHN SMITH, JR"`` is first_last).

    Surname particles from nameparser (DE, LA, DEL, VAN, VON, ST, AL, BIN, MC, ...)
    stay with the last name (``"MARIA DE LA CRUZ"`` -> last ``"DE LA CRUZ"``);
    hyphenated surnames stay together and come out space-separated
    (``"ANA GARCIA-LOPEZ"`` -> last ``"GARCIA LOPEZ"``). A single-token name is the
    last name. A trailing ``V`` after a lone given name is a middle initial, not a
    suffix (``"SMITH, JOHN V"``). All components are cleaned like :func:`clean_name`.

    Args:
        s: Series of raw full names.
        order: ``"auto"``, ``"last_first"`` or ``"first_last"``.

    Returns:
        DataFrame with ``string`` columns first_name, middle_name, last_name,
        name_suffix, indexed like ``s``.

    Example:
        >>> parse_full_name(pd.Series(["Smith Jr., John A."])).iloc[0].tolist()
        ['JOHN', 'A', 'SMITH', 'JR']
    """
    if order not in ("auto", "first_last", "last_first"):
        raise ValueError(f"order must be 'auto', 'first_last' or 'last_first', not {order!r}")
    codes, uniq = _factorize(s)
    cols = ["first_name", "middle_name", "last_name", "name_suffix"]
    if len(uniq) == 0:
        parts = {c: np.empty(0, dtype=object) for c in cols}
    else:
        parts = _parse_full_name_arrow(uniq, order)
    return pd.DataFrame({c: _take_str(parts[c], codes, s.index) for c in cols}, index=s.index)


@functools.lru_cache(maxsize=1)
def _nicknamer():
    from nicknames import NickNamer

    return NickNamer()


def nickname_keys(first: pd.Series) -> pd.Series:
    """Nickname-tolerant keys per cleaned first name.

    Each key set is the name itself plus its canonical forms according to the
    ``nicknames`` library, uppercase, as a sorted tuple; two first names are
    nickname-compatible when their key tuples intersect. Missing -> ``()``.

    Args:
        first: ``string`` Series of cleaned first names.

    Returns:
        object Series of tuples aligned to ``first.index``.

    Example:
        >>> "WILLIAM" in nickname_keys(pd.Series(["BILL"])).iloc[0]
        True
    """
    codes, uniq = _factorize(first)
    nn = _nicknamer()
    keys = np.empty(len(uniq) + 1, dtype=object)
    for i, name in enumerate(uniq.to_pylist()):  # per-name library lookup, unique names only
        canon = nn.canonicals_of(name.lower())
        keys[i] = tuple(sorted({name.upper(), *(c.upper() for c in canon)}))
    keys[-1] = ()
    return pd.Series(keys[codes], index=first.index, dtype=object)


# --------------------------------------------------------------------------------------
# dates, SSN, sex
# --------------------------------------------------------------------------------------


def parse_date(s: pd.Series, fmt: str, unit: str = "ns") -> tuple[pd.Series, pd.Series]:
    """Parse dates with a strict format.

    Leading/trailing whitespace is tolerated; blank/None is *missing* (NaT, not
    invalid); anything that does not match ``fmt`` exactly or is not a real calendar
    date (``02/30/2001``, ``13/45/1990``, ``N/A``) is *invalid* (NaT and flagged).

    ``datetime64[ns]`` holds only 1677-09-22 to 2262-04-11, so with the default unit a
    real date outside that range is invalid too (the contracts quarantine birth dates
    before ``ingest.earliest_dob`` anyway). ``unit="s"`` keeps such dates
    (``datetime64[s]``, years 1 to 9999), for historical data such as birth dates
    before 1678; the encoder reads either.

    Args:
        s: Series of raw date strings.
        fmt: strptime format, e.g. ``"%m/%d/%Y"`` or ``"%Y-%m-%d"``.
        unit: ``"ns"`` (default) or ``"s"``: the resolution of the returned dates.

    Returns:
        ``(dates, invalid)``: ``datetime64[<unit>]`` Series and a bool Series, both
        indexed like ``s``.

    Example:
        >>> d, bad = parse_date(pd.Series(["01/02/1990", "02/30/2001", ""]), "%m/%d/%Y")
        >>> d.dt.year.tolist(), bad.tolist()
        ([1990.0, nan, nan], [False, True, False])
    """
    if unit not in ("ns", "us", "ms", "s"):
        raise ValueError(f"parse_date: unit must be 'ns', 'us', 'ms' or 's', not {unit!r}")
    codes, uniq = _factorize(s)
    if len(uniq):
        stripped = pc.utf8_trim_whitespace(uniq)
        blank = np.asarray(pc.equal(pc.utf8_length(stripped), 0).to_numpy(zero_copy_only=False), dtype=bool)
        parsed = pd.to_datetime(pd.Series(stripped.to_pandas(), dtype=object), format=fmt, errors="coerce")
        parsed = parsed.to_numpy(dtype="datetime64[ns]").astype(f"datetime64[{unit}]")
        if unit != "ns":   # what pandas could not hold: Arrow at this unit, same format
            retry = np.flatnonzero(np.isnat(parsed) & ~blank)
            if len(retry):
                text = stripped.take(pa.array(retry))
                wide = pc.strptime(text, format=fmt, unit=unit, error_is_null=True)
                # Arrow rolls 1600-02-30 over to 1600-03-01: keep a value only if it
                # prints back as it was written
                exact = pc.fill_null(pc.equal(pc.strftime(wide, format=fmt), text), False)
                wide = pc.if_else(exact, wide, pa.scalar(None, wide.type))
                parsed[retry] = wide.to_numpy(zero_copy_only=False).astype(
                    f"datetime64[{unit}]")
        invalid = np.isnat(parsed) & ~blank
    else:
        parsed = np.empty(0, dtype=f"datetime64[{unit}]")
        invalid = np.empty(0, dtype=bool)
    parsed = np.append(parsed, np.datetime64("NaT", unit))
    invalid = np.append(invalid, False)
    return (
        pd.Series(parsed[codes], index=s.index, dtype=f"datetime64[{unit}]"),
        pd.Series(invalid[codes], index=s.index, dtype=bool),
    )


def normalize_ssn(s: pd.Series, placeholders=PLACEHOLDER_SSNS) -> tuple[pd.Series, pd.Series]:
    """Normalize SSNs and classify them.

    Dashes and whitespace are stripped. Status is ``"missing"`` (blank), ``"malformed"``
    (not exactly 9 digits after stripping), ``"placeholder"`` (one of ``placeholders``,
    or an SSA-impossible number: area 000, 666 or 900-999, group 00, serial 0000) or
    ``"ok"``. Only ``"ok"`` rows keep the SSN; the others are NA so that a shared
    placeholder can never link two people.

    Args:
        s: Series of raw SSN strings.
        placeholders: extra 9-digit values treated as placeholders.

    Returns:
        ``(ssn, status)``, two ``string`` Series indexed like ``s``.

    Example:
        >>> ssn, st = normalize_ssn(pd.Series(["123 45 6780", "666123456", "12-345"]))
        >>> ssn.tolist(), st.tolist()
        (['123456780', <NA>, <NA>], ['ok', 'placeholder', 'malformed'])
    """
    codes, uniq = _factorize(s)
    if len(uniq):
        digits = pc.replace_substring_regex(uniq, r"[\s\-\x{2010}-\x{2015}\x{2212}]+", "")
        blank = pc.equal(pc.utf8_length(digits), 0)
        wellformed = pc.match_substring_regex(digits, r"^[0-9]{9}$")
        impossible = pc.match_substring_regex(digits, r"^(?:000|666|9[0-9][0-9])|^[0-9]{3}00|0000$")
        listed = pc.is_in(digits, value_set=pa.array([str(p) for p in placeholders], type=pa.string()))
        is_ph = pc.and_(wellformed, pc.or_(impossible, listed))
        status = np.where(
            np.asarray(blank), "missing",
            np.where(~np.asarray(wellformed), "malformed", np.where(np.asarray(is_ph), "placeholder", "ok")),
        ).astype(object)
        ssn = _to_object(digits)
        ssn[status != "ok"] = pd.NA
    else:
        status = np.empty(0, dtype=object)
        ssn = np.empty(0, dtype=object)
    status = np.append(status, "missing")
    st = pd.Series(pd.array(status[codes], dtype=_STRING), index=s.index)
    return _take_str(ssn, codes, s.index), st


_SEX = {"M": "M", "MALE": "M", "MAN": "M", "F": "F", "FEMALE": "F", "WOMAN": "F"}


def normalize_sex(s: pd.Series) -> pd.Series:
    """Normalize sex codes to ``"M"``/``"F"``.

    ``M``/``Male``/``m``/``"  F "``/``Female`` map; ``U``, ``Unknown``, ``X``, blank
    and anything else -> NA.

    Args:
        s: Series of raw sex values.

    Returns:
        ``string`` Series aligned to ``s.index``.

    Example:
        >>> normalize_sex(pd.Series(["male", " f ", "U"])).tolist()
        ['M', 'F', <NA>]
    """
    return _per_unique(s, lambda a: _map_dict(pc.fill_null(_clean_arrow(a), ""), _SEX))


# --------------------------------------------------------------------------------------
# ZIP
# --------------------------------------------------------------------------------------


def _zip5_arrow(arr: pa.Array) -> pa.Array:
    t = pc.utf8_trim_whitespace(arr)
    five = pc.struct_field(pc.extract_regex(t, r"^(?P<z>[0-9]{5})(?:\s*-\s*[0-9]{4}|\s*[0-9]{4})?$"), "z")
    four = pc.struct_field(pc.extract_regex(t, r"^(?P<z>[0-9]{4})$"), "z")
    z = pc.coalesce(five, pc.binary_join_element_wise("0", four, ""))
    return pc.if_else(pc.fill_null(pc.equal(z, "00000"), False), pa.scalar(None, pa.string()), z)


def zip5(s: pd.Series) -> pd.Series:
    """Five-digit ZIP.

    ``"21217"``, ``"21217-1234"``, ``"212171234"``, ``" 21217 "`` -> ``"21217"``; a
    4-digit value (leading zero lost, ``"7030"``) -> ``"07030"``; ``"00000"`` and
    anything else -> NA.

    Args:
        s: Series of raw ZIP strings.

    Returns:
        ``string`` Series aligned to ``s.index``.

    Example:
        >>> zip5(pd.Series(["21217-1234", "7030", "ABCDE"])).tolist()
        ['21217', '07030', <NA>]
    """
    return _per_unique(s, _zip5_arrow)


@functools.lru_cache(maxsize=1)
def _zip_tables() -> tuple[dict[str, str], dict[str, str]]:
    import zipcodes

    rows = zipcodes.list_all()
    state = {z["zip_code"]: z["state"] for z in rows}
    city = {z["zip_code"]: z["city"].upper() for z in rows if z.get("city")}
    return state, city


def _zip_state_table() -> dict[str, str]:
    return _zip_tables()[0]


def zip_state(zip5: pd.Series) -> pd.Series:
    """Two-letter state of a 5-digit ZIP from the offline ``zipcodes`` data.

    Args:
        zip5: Series of 5-digit ZIPs (see :func:`zip5`).

    Returns:
        ``string`` Series aligned to the input, NA for unknown ZIPs.

    Example:
        >>> zip_state(pd.Series(["21217", "99999"])).tolist()
        ['MD', <NA>]
    """
    table = _zip_state_table()
    return _per_unique(zip5, lambda a: _map_dict(pc.utf8_trim_whitespace(a), table))


# --------------------------------------------------------------------------------------
# street addresses (USPS Publication 28 via scourgify)
# --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _pub28() -> dict:
    from scourgify import address_constants as ac

    dirs = dict(ac.DIRECTIONAL_REPLACEMENTS)
    dirs.update({v: v for v in ac.DIRECTIONAL_REPLACEMENTS.values()})
    types = dict(ac.STREET_TYPE_ABBREVIATIONS)
    types.update({v: v for v in ac.STREET_TYPE_ABBREVIATIONS.values()})
    occ = {k: v for k, v in ac.OCCUPANCY_TYPE_ABBREVIATIONS.items() if k != "#"}
    occ.update({v: v for v in occ.values()})
    occ.update({"APT": "APT", "UPPR": "UPPR", "UPPER": "UPPR"})  # Pub 28 C2: UPPER -> UPPR
    # designators that need an id after them, vs. those that stand alone (Pub 28 C2)
    alone = {"BSMT", "FRNT", "LBBY", "LOWR", "OFC", "PH", "REAR", "SIDE", "UPPR"}
    # designators that are also common street-name words: only after a street type
    weak = {"KEY", "LOT", "PIER", "SLIP", "STOP", "SPC", "FRNT", "REAR", "SIDE", "LOWR", "UPPR", "OFC", "LBBY"}
    states = {k: v for k, v in ac.STATE_ABBREVIATIONS.items()}
    states.update({v: v for v in ac.STATE_ABBREVIATIONS.values()})
    states.update({"PR": "PR", "PUERTO RICO": "PR", "VI": "VI", "GU": "GU", "AS": "AS", "MP": "MP"})
    return {"dirs": dirs, "types": types, "occ": occ, "alone": alone, "weak": weak, "states": states}


def _address_clean_arrow(arr: pa.Array, keep_comma: bool = False) -> pa.Array:
    """clean_text for address lines, keeping '#', digit/digit fractions and digit-digit ranges."""
    x = _clean_arrow(arr, keep="#/-," if keep_comma else "#/-")
    x = pc.fill_null(x, "")
    x = _gated_replace(x, "-", r"\b(NORTH|SOUTH)\s*-\s*(EAST|WEST)\b", r"\1\2")
    x = _gated_replace(x, "/", r"([0-9])\s*/\s*([0-9])", "\\1\x01\\2")
    x = _gated_replace(x, "-", r"([0-9])\s*-\s*([0-9])", "\\1\x02\\2")
    x = _gated_replace(x, "-", r"([0-9])-([A-Z])\b", r"\1\2")  # 4-B -> 4B
    x = _gated_replace(x, "-", r"\b([A-Z])-([0-9])", r"\1\2")  # B-2 -> B2
    x = _gated_replace(x, "-", r"-+", " ")
    x = _gated_replace(x, "/", r"/+", " ")
    x = _gated_replace(x, "\x01", "\x01", "/")
    x = _gated_replace(x, "\x02", "\x02", "-")
    x = _gated_replace(x, "#", r"\s*#+\s*", " # ")
    # glued designators: APT4 -> APT 4, STE200 -> STE 200
    x = pc.replace_substring_regex(
        x, r"\b(APT|APARTMENT|UNIT|STE|SUITE|RM|ROOM|BLDG|FL|LOT|SPC|TRLR)([0-9]+[A-Z]?)\b", r"\1 \2"
    )
    # P.O. Box variants -> PO BOX
    x = pc.replace_substring_regex(
        x, r"^(?:P\s*O|POST\s+OFFICE|POST|P\s*O\s*B|POB)\s*(?:BOX|BX)?\s*#?\s*([0-9A-Z]+)$", r"PO BOX \1"
    )
    x = pc.replace_substring_regex(x, r"^(?:P\s*O\s*BOX|POBOX|PO\s*BX|POST\s+OFFICE\s+BOX)\s*#?\s*", "PO BOX ")
    if keep_comma:
        x = _gated_replace(x, ",", r" ?,[ ,]*", ", ")
    x = _gated_replace(x, "  ", r" {2,}", " ")
    x = pc.utf8_trim_whitespace(x)
    return x


def _lists_to_str(n: int, parent: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Join tokens (already ordered by parent) into one string per parent; empty -> NA."""
    counts = np.bincount(parent, minlength=n)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    lst = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, type=pa.string()))
    return _to_object(pc.binary_join(lst, " "))


def _normalize_street_arrow(arr: pa.Array) -> dict[str, np.ndarray]:
    t = _pub28()
    x = _address_clean_arrow(arr)
    n = len(x)
    lists = pc.split_pattern(x, " ")
    lens = np.asarray(pc.list_value_length(lists).to_numpy(zero_copy_only=False))
    lens = np.where(np.asarray(pc.equal(pc.utf8_length(x), 0)), 0, lens)
    lists = pc.split_pattern(x, " ")
    flat_pa = pc.list_flatten(lists)
    parent_all = np.asarray(pc.list_parent_indices(lists))
    keep_tok = np.asarray(pc.greater(pc.utf8_length(flat_pa), 0))
    flat_pa = pc.filter(flat_pa, pa.array(keep_tok))
    parent = parent_all[keep_tok]
    # token features are computed once per distinct token, then gathered
    tcodes, tuniq = pd.factorize(np.asarray(flat_pa.to_pandas(), dtype=object))
    tok = pd.Series(tuniq.to_numpy(dtype=object) if hasattr(tuniq, "to_numpy") else tuniq, dtype=object)
    m = len(tcodes)
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(parent, minlength=n), out=starts[1:])
    lens = starts[1:] - starts[:-1]
    pos = np.arange(m) - starts[parent]

    def at(rel: np.ndarray, arr_: np.ndarray, valid: np.ndarray, default=False):
        """arr_ value of token at position rel (per record); default where invalid."""
        out = np.full(n, default, dtype=arr_.dtype)
        ok = valid & (rel >= 0) & (rel < lens)
        out[ok] = arr_[starts[:-1][ok] + rel[ok]]
        return out

    def feat(values) -> np.ndarray:
        return np.asarray(values, dtype=bool)[tcodes]

    occ_u = tok.map(t["occ"])
    is_dir = feat(tok.isin(t["dirs"].keys()))
    is_type = feat(tok.isin(t["types"].keys()))
    is_occ = feat(occ_u.notna())
    is_hash = feat(tok == "#")
    is_alone = feat(occ_u.isin(t["alone"]))
    is_weak = feat(occ_u.isin(t["weak"]))
    is_numtok = feat(tok.str.fullmatch(r"[0-9]+[A-Z]?|[0-9]+-[0-9]+").fillna(False))
    is_frac = feat(tok.str.fullmatch(r"[0-9]+/[0-9]+").fillna(False))
    is_idlike = feat(tok.str.fullmatch(r"[A-Z]?[0-9]+[A-Z]?|[0-9]+-[0-9]+|[A-Z]|[0-9]+/[0-9]+").fillna(False))
    tok_obj = tok.to_numpy(dtype=object)
    dirs_u = tok.map(t["dirs"]).to_numpy(dtype=object)
    types_u = tok.map(t["types"]).to_numpy(dtype=object)
    occ_u = occ_u.to_numpy(dtype=object)
    ones = np.ones(n, dtype=bool)
    zero = np.zeros(n, dtype=np.int64)

    # PO BOX lines
    is_po = np.asarray(pc.match_substring_regex(x, r"^PO BOX [0-9A-Z]+$"))

    # house number (+ fraction)
    num0 = at(zero, is_numtok, ones) & ~is_po & (lens >= 2)
    frac1 = at(zero + 1, is_frac, ones) & num0
    num_end = num0.astype(np.int64) + frac1.astype(np.int64)

    # first non-directional street token
    INF = np.iinfo(np.int64).max // 4
    nd_pos = np.where(~is_dir & (pos >= num_end[parent]), pos, INF)
    first_nondir = np.full(n, INF, dtype=np.int64)
    np.minimum.at(first_nondir, parent, nd_pos)
    # first street type after the first non-directional token
    ty_pos = np.where(is_type & (pos > first_nondir[parent]), pos, INF)
    first_type = np.full(n, INF, dtype=np.int64)
    np.minimum.at(first_type, parent, ty_pos)

    # unit designator candidates
    nxt_idlike = np.zeros(m, dtype=bool)
    nxt_idlike[:-1] = is_idlike[1:] & (parent[1:] == parent[:-1])
    nxt_exists = np.zeros(m, dtype=bool)
    nxt_exists[:-1] = parent[1:] == parent[:-1]
    nxt_occ = np.zeros(m, dtype=bool)
    nxt_occ[:-1] = (is_occ[1:] | is_hash[1:]) & (parent[1:] == parent[:-1])
    after_name = pos > first_nondir[parent]
    nxt_hash = np.zeros(m, dtype=bool)
    nxt_hash[:-1] = is_hash[1:] & (parent[1:] == parent[:-1])
    id_ok = np.where(
        is_alone, ~nxt_exists | nxt_occ | nxt_idlike, nxt_idlike | nxt_hash | (~nxt_exists & ~is_weak)
    )
    weak_ok = ~is_weak | (pos > first_type[parent])
    cand = ((is_occ & id_ok & weak_ok) | (is_hash & nxt_exists)) & after_name & ~is_po[parent]
    u_pos = np.where(cand, pos, INF)
    unit_start = np.full(n, INF, dtype=np.int64)
    np.minimum.at(unit_start, parent, u_pos)
    unit_start = np.minimum(unit_start, lens)

    # street part [num_end, unit_start)
    st_len = unit_start - num_end
    last_i = unit_start - 1
    postdir = (st_len >= 2) & at(last_i, is_dir, ones) & ~at(last_i - 1, is_dir, ones)
    core_end = unit_start - postdir.astype(np.int64)
    core_len = core_end - num_end
    after = core_len - 1
    predir = at(num_end, is_dir, ones) & ((after >= 2) | ((after == 1) & ~at(num_end + 1, is_type, ones)))
    core_start = num_end + predir.astype(np.int64)
    has_type = ((core_end - core_start) >= 2) & at(core_end - 1, is_type, ones)
    predir &= ~is_po
    postdir &= ~is_po
    has_type &= ~is_po

    # per-token roles and output text
    P = parent
    role = np.where(pos < num_end[P], 0, np.where(pos < unit_start[P], 1, 2))
    out_tok = tok_obj[tcodes]
    dir_tok = (predir[P] & (pos == num_end[P])) | (postdir[P] & (pos == core_end[P]))
    out_tok[dir_tok] = dirs_u[tcodes[dir_tok]]
    type_tok = has_type[P] & (pos == core_end[P] - 1)
    out_tok[type_tok] = types_u[tcodes[type_tok]]
    unit_occ = (role == 2) & is_occ
    out_tok[unit_occ] = occ_u[tcodes[unit_occ]]
    prev_occ = np.zeros(m, dtype=bool)
    prev_occ[1:] = (is_occ[:-1] | is_hash[:-1]) & (parent[1:] == parent[:-1]) & (role[:-1] == 2)
    drop = (role == 2) & is_hash & (prev_occ | ~nxt_exists)
    hash_apt = (role == 2) & is_hash & ~drop
    out_tok[hash_apt] = "APT"
    keep = ~drop & ~(is_hash & (role != 2))

    res = {}
    sel = keep & (role == 0)
    res["addr_number"] = _lists_to_str(n, P[sel], out_tok[sel])
    sel = keep & (role == 1)
    res["addr_street_name"] = _lists_to_str(n, P[sel], out_tok[sel])
    sel = keep & (role == 2)
    res["addr_unit"] = _lists_to_str(n, P[sel], out_tok[sel])
    res["addr_street"] = _lists_to_str(n, P[keep], out_tok[keep])
    # PO BOX: number = box id, street name = "PO BOX"
    if is_po.any():
        box = np.asarray(pc.replace_substring_regex(x, r"^PO BOX ", "").to_pandas(), dtype=object)
        res["addr_number"][is_po] = box[is_po]
        res["addr_street_name"][is_po] = "PO BOX"
        res["addr_unit"][is_po] = pd.NA
    return res


def normalize_street(s: pd.Series) -> pd.DataFrame:
    """Normalize street address lines to USPS Publication 28 form.

    Cleaning as :func:`clean_text`, but ``#``, fractions (``1/2``) and digit ranges
    (``12-14``) survive; ``4-B`` becomes ``4B``; ``APT4`` becomes ``APT 4``.
    Parsing (all vectorized over the tokens of the unique lines):

    * house number: a leading ``123``, ``12B`` or ``12-14`` token, plus a following
      fraction (``"123 1/2"``);
    * unit: from the first Pub 28 unit designator after the street name (APARTMENT
      -> APT, SUITE -> STE, UNIT, ROOM -> RM, FLOOR -> FL, BUILDING -> BLDG,
      ``#`` -> APT, ``APT #4`` -> ``APT 4``) to the end. Designators that need an id
      must be followed by one (``4``, ``B``, ``2A``); designators that are also
      street words (KEY, LOT, PIER, FRONT, REAR, ...) count only after a street type,
      so ``"100 KEY HWY"`` keeps KEY as the name;
    * pre/post directionals abbreviated (NORTH -> N, NORTHWEST -> NW) only when
      something else is the name: ``"100 NORTH AVE"`` -> name ``"NORTH AVE"``,
      ``"1600 N ST NW"`` -> ``"N ST NW"``;
    * the last name token is abbreviated as a street type (STREET -> ST, AVENUE ->
      AVE) only when another name token precedes it: ``"100 AVENUE C"`` and
      ``"10 PARKWAY"`` keep their words;
    * PO BOX variants (``P.O. Box``, ``POB``, ``Post Office Box``) -> ``"PO BOX 123"``
      with number ``123`` and street name ``"PO BOX"``.

    Args:
        s: Series of raw street lines (no city/state/ZIP; see
            :func:`split_one_line_address`).

    Returns:
        DataFrame with ``string`` columns addr_street (full normalized line),
        addr_number, addr_street_name, addr_unit; indexed like ``s``.

    Example:
        >>> normalize_street(pd.Series(["123 North Main Street Apt. 4"])).iloc[0].tolist()
        ['123 N MAIN ST APT 4', '123', 'N MAIN ST', 'APT 4']
    """
    return _frame_per_unique(s, ["addr_street", "addr_number", "addr_street_name",
                                 "addr_unit"], _normalize_street_arrow)


_UNIT_START = (
    r"^(?:#|APT|APARTMENT|UNIT|STE|SUITE|RM|ROOM|FL|FLOOR|BLDG|BUILDING|LOT|TRLR|TRAILER|"
    r"SPC|SPACE|DEPT|BSMT|BASEMENT|REAR|FRNT|FRONT|PH|PENTHOUSE|LOWR|LOWER|UPPR|UPPER|OFC|"
    r"OFFICE|SIDE|LBBY|LOBBY|HNGR|HANGER|PIER|SLIP|STOP|KEY)\b|^[0-9]+[A-Z]?$|^[A-Z]$"
)


def _split_address_arrow(arr: pa.Array) -> dict[str, np.ndarray]:
    t = _pub28()
    x = _address_clean_arrow(arr, keep_comma=True)
    states = sorted(t["states"], key=lambda k: (-len(k), k))
    st_alt = "|".join(re.escape(k) for k in states)

    # ZIP at the end
    ez = pc.extract_regex(
        x, r"^(?P<rest>.*?)[\s,]*(?P<zip>\b[0-9]{5}(?:\s*-\s*[0-9]{4}|[0-9]{4})?|\b[0-9]{4})$"
    )
    z_ok = pc.fill_null(pc.is_valid(ez), False)
    rest_z = pc.if_else(z_ok, pc.struct_field(ez, "rest"), x)
    zip_raw = pc.if_else(z_ok, pc.struct_field(ez, "zip"), pa.scalar(None, pa.string()))
    # state at the end of what remains
    es = pc.extract_regex(rest_z, r"^(?P<rest>.*?)(?P<sep>\s*,\s*|\s+)(?P<st>" + st_alt + r")$")
    es_only = pc.extract_regex(rest_z, r"^(?P<st>" + st_alt + r")$")
    s_ok = pc.fill_null(pc.is_valid(es), False)
    s_comma = pc.fill_null(pc.match_substring(pc.struct_field(es, "sep"), ","), False)
    s_rest = pc.fill_null(pc.struct_field(es, "rest"), "")
    s_accept = pc.and_(s_ok, pc.or_(pc.or_(s_comma, z_ok), pc.match_substring(s_rest, ",")))
    only_ok = pc.fill_null(pc.is_valid(es_only), False)
    state_raw = pc.if_else(
        s_accept, pc.struct_field(es, "st"),
        pc.if_else(only_ok, pc.struct_field(es_only, "st"), pa.scalar(None, pa.string())),
    )
    rest = pc.if_else(s_accept, s_rest, pc.if_else(only_ok, pa.scalar("", pa.string()), rest_z))
    # a trailing number without comma/state before it is not a ZIP ("PO BOX 21217")
    rest_has_comma = pc.match_substring(rest, ",")
    z_sep_comma = pc.match_substring_regex(x, r",\s*[0-9]{5}(?:\s*-\s*[0-9]{4}|[0-9]{4})?$")
    z_accept = pc.and_(z_ok, pc.or_(pc.or_(s_accept, only_ok), pc.or_(rest_has_comma, z_sep_comma)))
    # a 4-digit ZIP (leading zero lost) only right after a recognized state: "NJ 7030"
    four = pc.fill_null(pc.equal(pc.utf8_length(pc.fill_null(zip_raw, "")), 4), False)
    z_accept = pc.and_(z_accept, pc.or_(pc.invert(four), pc.or_(s_accept, only_ok)))
    zip_raw = pc.if_else(z_accept, zip_raw, pa.scalar(None, pa.string()))
    rest = pc.if_else(pc.and_(z_ok, pc.invert(z_accept)), x, rest)
    rest = pc.replace_substring_regex(rest, r"^[\s,]+|[\s,]+$", "")
    # city = last comma segment unless it looks like a unit ("APT 4", "REAR", "#4")
    ec = pc.extract_regex(rest, r"^(?P<street>.*),\s*(?P<city>[^,]*)$")
    c_ok = pc.fill_null(pc.is_valid(ec), False)
    city = pc.struct_field(ec, "city")
    city_is_unit = pc.fill_null(pc.match_substring_regex(city, _UNIT_START), False)
    c_accept = pc.and_(c_ok, pc.invert(city_is_unit))
    street = pc.if_else(c_accept, pc.struct_field(ec, "street"), rest)
    city = pc.if_else(c_accept, city, pa.scalar(None, pa.string()))
    street = pc.utf8_trim_whitespace(pc.replace_substring_regex(street, r"\s*,\s*", " "))
    street = _gated_replace(street, "# ", r"# ", "#")
    city = _clean_arrow(pc.fill_null(city, ""))
    state = _map_dict(pc.fill_null(state_raw, ""), t["states"])
    zips = _to_object(pc.fill_null(_zip5_arrow(pc.fill_null(zip_raw, "")), ""))
    street_o = _to_object(street)
    city_o = _to_object(pc.fill_null(city, ""))
    _city_from_zip(street_o, city_o, zips)
    return {"street": street_o, "city": city_o, "state": state, "zip": zips}


def _city_from_zip(street: np.ndarray, city: np.ndarray, zips: np.ndarray) -> None:
    """No comma before the state: peel the ZIP's primary city off the street's end (in place).

    ``"123 MAIN ST BALTIMORE MD 21217"``: the zipcodes city of 21217 is BALTIMORE and
    the street ends with it, so it moves to ``city``. Vectorized by city length.
    """
    need = pd.isna(city) & ~pd.isna(zips) & ~pd.isna(street)
    if not need.any():
        return
    idx = np.flatnonzero(need)
    cand = pd.Series(zips[idx], dtype=object).map(_zip_tables()[1])
    ok = cand.notna().to_numpy()
    idx, cand = idx[ok], cand[ok].to_numpy(dtype=object)
    if idx.size == 0:
        return
    st = pd.Series(street[idx], dtype=object)
    lens = np.fromiter((len(c) for c in cand), dtype=np.int64, count=len(cand))
    for L in np.unique(lens):  # a handful of distinct city lengths
        sel = np.flatnonzero(lens == L)
        tail = st.iloc[sel].str.slice(-(int(L) + 1))
        hit = (tail.to_numpy(dtype=object) == (" " + pd.Series(cand[sel], dtype=object)).to_numpy(dtype=object))
        rows = idx[sel[hit]]
        city[rows] = cand[sel[hit]]
        street[rows] = st.iloc[sel[hit]].str.slice(0, -(int(L) + 1)).str.strip().to_numpy(dtype=object)


def split_one_line_address(s: pd.Series) -> pd.DataFrame:
    """Split a one-line address into street, city, state and ZIP.

    ``"123 N Main St Apt 4, Baltimore, MD 21217-1234"`` -> street
    ``"123 N MAIN ST APT 4"``, city ``"BALTIMORE"``, state ``"MD"``, zip ``"21217"``.
    Rules: a trailing ZIP/ZIP+4; before it a state (2-letter code or a name/old
    abbreviation from scourgify, e.g. ``MARYLAND``, ``MASS``), accepted when a comma
    or a ZIP backs it up (so ``"100 MAIN ST NE"`` keeps NE as a directional); the
    last remaining comma segment is the city unless it looks like a unit
    (``"APT 4"``, ``"REAR"``, ``"#4"``), all other commas are joined into the
    street (``"APT 4, REAR"``). Without commas the city stays in the street
    piece, unless the street ends with the primary city of the ZIP (offline
    ``zipcodes`` data): ``"123 MAIN ST BALTIMORE MD 21217"`` still splits.

    The street is cleaned like :func:`clean_text` but keeps ``#``, fractions and
    digit ranges so :func:`normalize_street` can still read them; city via
    :func:`clean_text`; state as a 2-letter code; ZIP via :func:`zip5`.

    Args:
        s: Series of one-line addresses.

    Returns:
        DataFrame with ``string`` columns street, city, state, zip; indexed like ``s``.

    Example:
        >>> split_one_line_address(pd.Series(["1 Main St, Baltimore, MD 21217"])).iloc[0].tolist()
        ['1 MAIN ST', 'BALTIMORE', 'MD', '21217']
    """
    return _frame_per_unique(s, ["street", "city", "state", "zip"], _split_address_arrow)

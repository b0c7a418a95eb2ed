"""Unit tests for data_contracts.normalize (vectorized identifier normalization)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from data_contracts.normalize import (
    PLACEHOLDER_SSNS,
    SUFFIXES,
    clean_name,
    clean_text,
    nickname_keys,
    normalize_sex,
    normalize_ssn,
    normalize_street,
    normalize_suffix,
    parse_date,
    parse_full_name,
    split_one_line_address,
    split_suffix,
    zip5,
    zip_state,
)

NA = pd.NA


def one(fn, value, *args, **kwargs):
    """Apply a Series function to a single value and return the scalar (None for NA)."""
    out = fn(pd.Series([value], dtype=object), *args, **kwargs)
    v = out.iloc[0]
    return None if v is NA else v


def row(df: pd.DataFrame, i: int = 0) -> list:
    return [None if v is NA else v for v in df.iloc[i].tolist()]


# ----------------------------------------------------------------------------- clean_text


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("José", "JOSE"),
        ("JOSE", "JOSE"),
        ("Jose\u0301", "JOSE"),  # combining acute accent
        ("ＪＯＳＥ", "JOSE"),  # full-width letters
        ("jose", "JOSE"),
        ("Jo\u200bse", "JOSE"),  # zero-width space
        ("MARY\u00a0ANN", "MARY ANN"),  # non-breaking space
        ("  mary \t  ann  ", "MARY ANN"),
        ("O'Brien", "OBRIEN"),
        ("O’Brien", "OBRIEN"),  # typographic apostrophe
        ("O`Brien", "OBRIEN"),
        ("St. Paul", "ST PAUL"),
        ("Garcia-Lopez", "GARCIA LOPEZ"),
        ("Smith,John", "SMITH JOHN"),
        ("Søren Łukasz", "SOREN LUKASZ"),
        ("Straße", "STRASSE"),
        ("Æsa Đorđe", "AESA DORDE"),
        ("Zoë Ångström", "ZOE ANGSTROM"),
        ("", None),
        ("   ", None),
        ("---", None),
        (None, None),
        (np.nan, None),
    ],
)
def test_clean_text(raw, expected):
    assert one(clean_text, raw) == expected


def test_clean_text_dtype_and_index():
    s = pd.Series(["José", None, "b"], index=[10, 5, 7])
    out = clean_text(s)
    assert out.dtype == "string"
    assert list(out.index) == [10, 5, 7]
    assert out.loc[10] == "JOSE" and out.loc[5] is NA and out.loc[7] == "B"


def test_clean_text_string_dtype_input_and_empty():
    s = pd.Series(["a", pd.NA, ""], dtype="string")
    assert clean_text(s).tolist() == ["A", NA, NA]
    assert len(clean_text(pd.Series([], dtype=object))) == 0
    assert clean_text(pd.Series([None, None])).isna().all()


def test_clean_text_output_is_ascii_upper():
    s = pd.Series(["ＡＢＣ ﬁ ½ Ⅻ", "Привет мир", "北京 Li"])
    for v in clean_text(s).dropna():
        assert v.isascii() and v == v.upper()


# ----------------------------------------------------------------------------- clean_name


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Dr. María García-López", "MARIA GARCIA LOPEZ"),
        ("Garcia-Lopez", "GARCIA LOPEZ"),
        ("MR JOHN SMITH", "JOHN SMITH"),
        ("Mrs. Jane", "JANE"),
        ("Ms Jane", "JANE"),
        ("Rev Dr Martin", "MARTIN"),
        ("DR", "DR"),  # a lone title-like token is kept (could be a surname)
        ("King", "KING"),  # nameparser 'titles' that are surnames are not dropped
        ("o'neil", "ONEIL"),
        ("UNKNOWN", None),
        ("unk", None),
        ("None", None),
        ("NA", None),
        ("N/A", None),
        ("null", None),
        ("FNU", None),
        ("LNU", None),
        ("Baby Boy", None),
        ("BABY GIRL", None),
        ("", None),
        (None, None),
    ],
)
def test_clean_name(raw, expected):
    assert one(clean_name, raw) == expected


# ----------------------------------------------------------------------------- suffixes


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Jr.", "JR"), ("jr", "JR"), ("JUNIOR", "JR"), ("Jnr", "JR"),
        ("Sr", "SR"), ("SENIOR", "SR"), ("sr.", "SR"),
        ("2nd", "II"), ("II", "II"), ("ii", "II"),
        ("3rd", "III"), ("III", "III"),
        ("IV", "IV"), ("4th", "IV"),
        ("V", "V"),
        ("Esq", None), ("MD", None), ("", None), (None, None),
    ],
)
def test_normalize_suffix(raw, expected):
    assert one(normalize_suffix, raw) == expected
    if expected is not None:
        assert expected in SUFFIXES


@pytest.mark.parametrize(
    "name, base, suffix",
    [
        ("SMITH JR", "SMITH", "JR"),
        ("SMITH SR", "SMITH", "SR"),
        ("JONES JUNIOR", "JONES", "JR"),
        ("JONES SENIOR", "JONES", "SR"),
        ("JONES 2ND", "JONES", "II"),
        ("JONES 3RD", "JONES", "III"),
        ("JONES III", "JONES", "III"),
        ("JONES IV", "JONES", "IV"),
        ("JOHN SMITH II", "JOHN SMITH", "II"),
        ("DE LA CRUZ V", "DE LA CRUZ", "V"),
        ("V", "V", None),  # single-token name V stays
        ("JR", "JR", None),  # a name that is only a suffix stays
        ("SMITHJR", "SMITHJR", None),
        ("JUNIOR SMITH", "JUNIOR SMITH", None),  # only a trailing suffix counts
        (None, None, None),
    ],
)
def test_split_suffix(name, base, suffix):
    n, s = split_suffix(pd.Series([name], dtype=object))
    assert (None if n.iloc[0] is NA else n.iloc[0]) == base
    assert (None if s.iloc[0] is NA else s.iloc[0]) == suffix


def test_split_suffix_index_alignment():
    s = pd.Series(["A JR", None, "B"], index=["x", "y", "z"])
    n, sfx = split_suffix(s)
    assert list(n.index) == ["x", "y", "z"] and list(sfx.index) == ["x", "y", "z"]
    assert n.tolist() == ["A", NA, "B"] and sfx.tolist() == ["JR", NA, NA]


# ----------------------------------------------------------------------------- full names


@pytest.mark.parametrize(
    "raw, order, expected",
    [
        # [first, middle, last, suffix]
        ("Smith Jr., John A.", "auto", ["JOHN", "A", "SMITH", "JR"]),
        ("SMITH, JOHN A JR", "auto", ["JOHN", "A", "SMITH", "JR"]),
        ("SMITH,JOHN", "auto", ["JOHN", None, "SMITH", None]),
        ("Garcia-Lopez, Ana Maria", "auto", ["ANA", "MARIA", "GARCIA LOPEZ", None]),
        ("O'Brien, Seán", "auto", ["SEAN", None, "OBRIEN", None]),
        ("SMITH, DR JOHN", "auto", ["JOHN", None, "SMITH", None]),
        ("SMITH, JOHN V", "auto", ["JOHN", "V", "SMITH", None]),  # V is a middle initial here
        ("SMITH, JOHN A V", "auto", ["JOHN", "A", "SMITH", "V"]),
        ("John A. Smith III", "auto", ["JOHN", "A", "SMITH", "III"]),
        ("JOHN SMITH, JR", "auto", ["JOHN", None, "SMITH", "JR"]),  # comma only before suffix
        ("Mr. John Smith", "auto", ["JOHN", None, "SMITH", None]),
        ("Dr. Maria de la Cruz", "auto", ["MARIA", None, "DE LA CRUZ", None]),
        ("Ana Garcia-Lopez", "auto", ["ANA", None, "GARCIA LOPEZ", None]),
        ("Mary St John", "auto", ["MARY", None, "ST JOHN", None]),
        ("Ludwig van Beethoven", "auto", ["LUDWIG", None, "VAN BEETHOVEN", None]),
        ("John Paul Jones Smith 2nd", "auto", ["JOHN", "PAUL JONES", "SMITH", "II"]),
        ("JOHN SMITH V", "auto", ["JOHN", None, "SMITH", "V"]),
        ("Madonna", "auto", [None, None, "MADONNA", None]),
        ("LNU, JOHN", "auto", ["JOHN", None, None, None]),
        ("SMITH, FNU", "auto", [None, None, "SMITH", None]),
        ("", "auto", [None, None, None, None]),
        (None, "auto", [None, None, None, None]),
        ("SMITH JOHN A", "last_first", ["JOHN", "A", "SMITH", None]),
        ("SMITH JR, JOHN", "last_first", ["JOHN", None, "SMITH", "JR"]),
        ("DE LA CRUZ MARIA", "last_first", ["MARIA", None, "DE LA CRUZ", None]),
        ("JOHN A SMITH JR", "first_last", ["JOHN", "A", "SMITH", "JR"]),
        ("José Ø. Núñez", "first_last", ["JOSE", "O", "NUNEZ", None]),
    ],
)
def test_parse_full_name(raw, order, expected):
    df = parse_full_name(pd.Series([raw], dtype=object), order=order)
    assert list(df.columns) == ["first_name", "middle_name", "last_name", "name_suffix"]
    assert row(df) == expected


def test_parse_full_name_index_and_dtypes():
    s = pd.Series(["SMITH, JOHN", None, "JANE DOE", "SMITH, JOHN"], index=[9, 8, 7, 6])
    df = parse_full_name(s)
    assert list(df.index) == [9, 8, 7, 6]
    assert all(str(t) == "string" for t in df.dtypes)
    assert df.loc[9, "last_name"] == "SMITH" and df.loc[6, "first_name"] == "JOHN"
    assert df.loc[7, "last_name"] == "DOE"
    assert df.loc[8].isna().all()


def test_parse_full_name_bad_order():
    with pytest.raises(ValueError):
        parse_full_name(pd.Series(["A B"]), order="middle")


# ----------------------------------------------------------------------------- nicknames


@pytest.mark.parametrize(
    "a, b",
    [("BILL", "WILLIAM"), ("BOB", "ROBERT"), ("PEGGY", "MARGARET"), ("LIZ", "ELIZABETH"),
     ("DICK", "RICHARD"), ("JIM", "JAMES"), ("BILL", "WILLIAM")],
)
def test_nickname_pairs_share_a_key(a, b):
    ka, kb = nickname_keys(pd.Series([a, b])).tolist()
    assert set(ka) & set(kb)
    assert b in ka  # the canonical name is among the nickname's keys


def test_nickname_keys_shape():
    out = nickname_keys(pd.Series(["BILL", "WILLIAM", None, "ZZQX"], index=[3, 2, 1, 0]))
    assert list(out.index) == [3, 2, 1, 0]
    assert "WILLIAM" in out.loc[3] and "WILLIAM" in out.loc[2]
    assert out.loc[1] == ()
    assert out.loc[0] == ("ZZQX",)
    for t in out:
        assert isinstance(t, tuple) and list(t) == sorted(t) and all(k == k.upper() for k in t)


def test_nickname_keys_robert_bob():
    r, b = nickname_keys(pd.Series(["ROBERT", "BOB"])).tolist()
    assert "ROBERT" in r and "ROBERT" in b


# ----------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "raw, fmt, expected, invalid",
    [
        ("01/02/1990", "%m/%d/%Y", "1990-01-02", False),
        ("  01/02/1990 ", "%m/%d/%Y", "1990-01-02", False),
        ("02/29/2000", "%m/%d/%Y", "2000-02-29", False),
        ("02/29/1900", "%m/%d/%Y", None, True),  # 1900 is not a leap year
        ("02/30/2001", "%m/%d/%Y", None, True),
        ("13/45/1990", "%m/%d/%Y", None, True),
        ("N/A", "%m/%d/%Y", None, True),
        ("1990-01-02", "%m/%d/%Y", None, True),  # wrong format
        ("01/02/90", "%m/%d/%Y", None, True),
        ("1990-01-02", "%Y-%m-%d", "1990-01-02", False),
        ("01/02/1990", "%Y-%m-%d", None, True),
        ("1990-02-30", "%Y-%m-%d", None, True),
        ("19900102", "%Y-%m-%d", None, True),
        ("", "%m/%d/%Y", None, False),  # blank is missing, not invalid
        ("   ", "%m/%d/%Y", None, False),
        (None, "%m/%d/%Y", None, False),
        (np.nan, "%Y-%m-%d", None, False),
    ],
)
def test_parse_date(raw, fmt, expected, invalid):
    d, bad = parse_date(pd.Series([raw], dtype=object), fmt)
    assert d.dtype == "datetime64[ns]" and bad.dtype == bool
    if expected is None:
        assert pd.isna(d.iloc[0])
    else:
        assert d.iloc[0] == pd.Timestamp(expected)
    assert bool(bad.iloc[0]) is invalid


def test_parse_date_index_alignment():
    s = pd.Series(["01/02/1990", "x", None, "01/02/1990"], index=["a", "b", "c", "d"])
    d, bad = parse_date(s, "%m/%d/%Y")
    assert list(d.index) == list("abcd") and list(bad.index) == list("abcd")
    assert bad.tolist() == [False, True, False, False]
    assert d.loc["d"] == pd.Timestamp("1990-01-02")


# ----------------------------------------------------------------------------- SSN


@pytest.mark.parametrize(
    "raw, ssn, status",
    [
        ("123-45-6780", "123456780", "ok"),
        ("123 45 6780", "123456780", "ok"),
        (" 123456780 ", "123456780", "ok"),
        ("078-05-1121", "078051121", "ok"),
        ("000-00-0000", None, "placeholder"),
        ("123-45-6789", None, "placeholder"),
        ("999-99-9999", None, "placeholder"),
        ("000-12-3456", None, "placeholder"),  # area 000
        ("666-12-3456", None, "placeholder"),  # area 666
        ("900-12-3456", None, "placeholder"),  # area 900-999
        ("987-65-4321", None, "placeholder"),
        ("123-00-4567", None, "placeholder"),  # group 00
        ("123-45-0000", None, "placeholder"),  # serial 0000
        ("12345678", None, "malformed"),
        ("1234567890", None, "malformed"),
        ("12a-45-6789", None, "malformed"),
        ("XXX-XX-XXXX", None, "malformed"),
        ("", None, "missing"),
        ("  ", None, "missing"),
        (None, None, "missing"),
    ],
)
def test_normalize_ssn(raw, ssn, status):
    out, st = normalize_ssn(pd.Series([raw], dtype=object))
    assert (None if out.iloc[0] is NA else out.iloc[0]) == ssn
    assert st.iloc[0] == status


def test_normalize_ssn_custom_placeholders_and_index():
    s = pd.Series(["111-11-1111", "123-45-6789", None], index=[5, 6, 7])
    out, st = normalize_ssn(s, placeholders=("111111111",))
    assert list(out.index) == [5, 6, 7] and list(st.index) == [5, 6, 7]
    assert st.tolist() == ["placeholder", "ok", "missing"]
    assert out.loc[6] == "123456789"
    assert set(PLACEHOLDER_SSNS) == {"000000000", "123456789", "999999999"}


# ----------------------------------------------------------------------------- ZIP


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("21217", "21217"),
        ("21217-1234", "21217"),
        ("212171234", "21217"),
        (" 21217 ", "21217"),
        ("21217 - 1234", "21217"),
        ("7030", "07030"),
        ("123", None),
        ("2121", "02121"),
        ("ABCDE", None),
        ("21217-12", None),
        ("2121712345", None),
        ("00000", None),
        ("", None),
        (None, None),
    ],
)
def test_zip5(raw, expected):
    assert one(zip5, raw) == expected


@pytest.mark.parametrize(
    "z, state",
    [("21217", "MD"), ("20002", "DC"), ("07030", "NJ"), ("10001", "NY"), ("99999", None), (None, None)],
)
def test_zip_state(z, state):
    assert one(zip_state, z) == state


# ----------------------------------------------------------------------------- streets


@pytest.mark.parametrize(
    "raw, street, number, name, unit",
    [
        ("123 North Main Street Apt. 4", "123 N MAIN ST APT 4", "123", "N MAIN ST", "APT 4"),
        ("123 N MAIN ST #4", "123 N MAIN ST APT 4", "123", "N MAIN ST", "APT 4"),
        ("123 Main St Apt #4", "123 MAIN ST APT 4", "123", "MAIN ST", "APT 4"),
        ("123 Main St Apt4", "123 MAIN ST APT 4", "123", "MAIN ST", "APT 4"),
        ("12B Elm Avenue Suite 200", "12B ELM AVE STE 200", "12B", "ELM AVE", "STE 200"),
        ("12 Elm Ave Unit 4", "12 ELM AVE UNIT 4", "12", "ELM AVE", "UNIT 4"),
        ("7 Park Ave Apt 4-B", "7 PARK AVE APT 4B", "7", "PARK AVE", "APT 4B"),
        ("5 Main St Bldg 2 Apartment 7", "5 MAIN ST BLDG 2 APT 7", "5", "MAIN ST", "BLDG 2 APT 7"),
        ("9 Spring Garden Street Floor 2", "9 SPRING GARDEN ST FL 2", "9", "SPRING GARDEN ST", "FL 2"),
        ("100 Main St Rear", "100 MAIN ST REAR", "100", "MAIN ST", "REAR"),
        ("3 Elm St Lot 7", "3 ELM ST LOT 7", "3", "ELM ST", "LOT 7"),
        ("123 1/2 Main St", "123 1/2 MAIN ST", "123 1/2", "MAIN ST", None),
        ("12-14 Oak Road", "12-14 OAK RD", "12-14", "OAK RD", None),
        ("55 Main St Northwest", "55 MAIN ST NW", "55", "MAIN ST NW", None),
        ("1600 N St NW", "1600 N ST NW", "1600", "N ST NW", None),  # DC letter street
        ("100 NORTH ST", "100 NORTH ST", "100", "NORTH ST", None),  # directional IS the name
        ("100 North Avenue", "100 NORTH AVE", "100", "NORTH AVE", None),
        ("100 E North Ave", "100 E NORTH AVE", "100", "E NORTH AVE", None),
        ("55 Northwest Blvd", "55 NORTHWEST BLVD", "55", "NORTHWEST BLVD", None),
        ("44 South-East Blvd", "44 SOUTHEAST BLVD", "44", "SOUTHEAST BLVD", None),
        ("100 North Broadway", "100 N BROADWAY", "100", "N BROADWAY", None),
        ("100 Avenue C", "100 AVENUE C", "100", "AVENUE C", None),  # type word IS the name
        ("10 Parkway", "10 PARKWAY", "10", "PARKWAY", None),
        ("100 St. Paul Street", "100 ST PAUL ST", "100", "ST PAUL ST", None),
        ("100 Key Highway", "100 KEY HWY", "100", "KEY HWY", None),  # KEY is not a unit here
        ("100 Old Front St", "100 OLD FRONT ST", "100", "OLD FRONT ST", None),
        ("1 Lot St", "1 LOT ST", "1", "LOT ST", None),
        ("P.O. Box 123", "PO BOX 123", "123", "PO BOX", None),
        ("P O Box 123", "PO BOX 123", "123", "PO BOX", None),
        ("Post Office Box 9", "PO BOX 9", "9", "PO BOX", None),
        ("POB 77", "PO BOX 77", "77", "PO BOX", None),
        ("Main Street", "MAIN ST", None, "MAIN ST", None),
        ("１２３ Ｍａｉｎ Ｓｔ", "123 MAIN ST", "123", "MAIN ST", None),
        ("123\u00a0Main\u200b St", "123 MAIN ST", "123", "MAIN ST", None),
        ("", None, None, None, None),
        (None, None, None, None, None),
    ],
)
def test_normalize_street(raw, street, number, name, unit):
    df = normalize_street(pd.Series([raw], dtype=object))
    assert list(df.columns) == ["addr_street", "addr_number", "addr_street_name", "addr_unit"]
    assert row(df) == [street, number, name, unit]


def test_normalize_street_vector_index():
    s = pd.Series(["1 Main Street", None, "1 MAIN ST", "2 Oak Ave Apt 3"], index=[40, 30, 20, 10])
    df = normalize_street(s)
    assert list(df.index) == [40, 30, 20, 10]
    assert df.loc[40, "addr_street"] == df.loc[20, "addr_street"] == "1 MAIN ST"
    assert df.loc[30].isna().all()
    assert df.loc[10, "addr_unit"] == "APT 3"
    assert all(str(t) == "string" for t in df.dtypes)


# ----------------------------------------------------------------------------- one-line addresses


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("123 N MAIN ST APT 4, BALTIMORE, MD 21217", ["123 N MAIN ST APT 4", "BALTIMORE", "MD", "21217"]),
        ("123 n main st apt 4, reAR, Baltimore, MD 21217-1234",
         ["123 N MAIN ST APT 4 REAR", "BALTIMORE", "MD", "21217"]),
        ("123 Main St, Baltimore, MD", ["123 MAIN ST", "BALTIMORE", "MD", None]),
        ("123 Main St, Baltimore MD 21217", ["123 MAIN ST", "BALTIMORE", "MD", "21217"]),
        ("123 Main St, MD 21217", ["123 MAIN ST", None, "MD", "21217"]),
        ("123 Main St, Baltimore 21217", ["123 MAIN ST", "BALTIMORE", None, "21217"]),
        ("123 Main St, Baltimore, Maryland 212171234", ["123 MAIN ST", "BALTIMORE", "MD", "21217"]),
        ("123 Main St, Apt 4", ["123 MAIN ST APT 4", None, None, None]),
        ("123 Main St #4, Towson, MD", ["123 MAIN ST #4", "TOWSON", "MD", None]),
        ("5 Oak Ave,,Towson,,MD,,21204", ["5 OAK AVE", "TOWSON", "MD", "21204"]),
        ("100 Main St NE, Washington, DC 20002", ["100 MAIN ST NE", "WASHINGTON", "DC", "20002"]),
        ("123 Main St NE", ["123 MAIN ST NE", None, None, None]),  # NE stays a directional
        ("PO Box 21217", ["PO BOX 21217", None, None, None]),  # box number is not a ZIP
        ("123 Main St Baltimore MD 21217", ["123 MAIN ST", "BALTIMORE", "MD", "21217"]),
        ("1 Elm St, Hoboken, NJ 7030", ["1 ELM ST", "HOBOKEN", "NJ", "07030"]),
        ("1 Elm St, Hoboken 7030", ["1 ELM ST", "HOBOKEN 7030", None, None]),  # 4 digits need a state
        ("123 Main St", ["123 MAIN ST", None, None, None]),
        ("  ,  ", [None, None, None, None]),
        ("", [None, None, None, None]),
        (None, [None, None, None, None]),
    ],
)
def test_split_one_line_address(raw, expected):
    df = split_one_line_address(pd.Series([raw], dtype=object))
    assert list(df.columns) == ["street", "city", "state", "zip"]
    assert row(df) == expected


def test_split_then_normalize_street():
    parts = split_one_line_address(pd.Series(["123 North Main Street #4, Baltimore, MD 21217"]))
    df = normalize_street(parts["street"])
    assert row(df) == ["123 N MAIN ST APT 4", "123", "N MAIN ST", "APT 4"]


# ----------------------------------------------------------------------------- sex


@pytest.mark.parametrize(
    "raw, expected",
    [("M", "M"), ("F", "F"), ("Male", "M"), ("Female", "F"), ("m", "M"), ("f", "F"),
     ("  F ", "F"), ("MALE", "M"), ("U", None), ("Unknown", None), ("X", None), ("", None),
     (None, None)],
)
def test_normalize_sex(raw, expected):
    assert one(normalize_sex, raw) == expected


# ----------------------------------------------------------------------------- vectorization


def test_vectorized_200k_rows_is_fast():
    rng = np.random.default_rng(0)
    n = 200_000
    pick = lambda vals: pd.Series(np.asarray(vals, dtype=object)[rng.integers(0, len(vals), n)])  # noqa: E731
    names = pick([f"José-{i} O'Brien" for i in range(5000)] + [None, "", "FNU"])
    full = pick([f"Smith{i} Jr., John{i % 50} A" for i in range(5000)])
    dates = pick([f"{m:02d}/{d:02d}/19{y:02d}" for m in range(1, 13) for d in (1, 15, 30) for y in range(100)])
    ssns = pick([f"{a:03d}-45-{b:04d}" for a in range(1, 200) for b in range(1, 20)] + [None])
    zips = pick([f"{z}" for z in range(20600, 21930)] + ["21217-1234", "7030"])
    streets = pick([f"{i} North Main Street Apt {i % 9}" for i in range(5000)] + ["P.O. Box 5"])
    lines = pick([f"{i} Oak Ave #{i % 7}, Baltimore, MD 212{i % 100:02d}" for i in range(5000)])
    firsts = pick(["BILL", "WILLIAM", "BOB", "ROBERT", None] + [f"NAME{i}" for i in range(2000)])

    t0 = time.perf_counter()
    clean_text(names)
    clean_name(names)
    split_suffix(clean_name(names))
    normalize_suffix(pick(["Jr.", "III", "", None]))
    parse_full_name(full)
    nickname_keys(firsts)
    parse_date(dates, "%m/%d/%Y")
    normalize_ssn(ssns)
    zip_state(zip5(zips))
    out = normalize_street(streets)
    split_one_line_address(lines)
    normalize_sex(pick(["M", "f", "Female", None]))
    elapsed = time.perf_counter() - t0
    assert len(out) == n
    assert elapsed < 20, f"normalization of 200k rows took {elapsed:.1f}s"

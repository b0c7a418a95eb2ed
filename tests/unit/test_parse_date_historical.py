"""parse_date on historical birth dates (before 1678), which datetime64[ns] cannot hold.

Found running benchmarks/bench_public.py on Splink's historical_figures_with_errors_50k:
3,535 of its real birth dates (1600-01-01, 1200-01-01, ...) came out *invalid* and were
dropped, though the encoder reads dates of any year.
"""

from __future__ import annotations

import pandas as pd
import pytest

from data_contracts.normalize import parse_date


def _text(d: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in d.dt.strftime("%Y-%m-%d")]


def test_unit_s_keeps_dates_before_1678_and_still_rejects_unreal_ones():
    raw = pd.Series(["1600-01-01", " 1200-12-31 ", "1600-02-29", "1600-02-30", "1856-86-18",
                     "1990-05-17", "", None, "-085-01-01", "2263-05-01"],
                    index=range(10, 20), dtype=object)
    d, bad = parse_date(raw, "%Y-%m-%d", unit="s")
    assert d.dtype == "datetime64[s]"
    assert list(d.index) == list(raw.index)
    assert _text(d) == [
        "1600-01-01", "1200-12-31", "1600-02-29", None, None, "1990-05-17", None, None,
        None, "2263-05-01"]
    assert bad.tolist() == [False, False, False, True, True, False, False, False, True, False]


def test_unit_s_other_formats_are_just_as_strict():
    d, bad = parse_date(pd.Series(["02/29/1600", "02/30/1600", "01/02/1500"]), "%m/%d/%Y",
                        unit="s")
    assert _text(d) == ["1600-02-29", None, "1500-01-02"]
    assert bad.tolist() == [False, True, False]


def test_default_unit_unchanged():
    d, bad = parse_date(pd.Series(["1600-01-01", "1990-05-17"]), "%Y-%m-%d")
    assert d.dtype == "datetime64[ns]"
    assert d.isna().tolist() == [True, False]
    assert bad.tolist() == [True, False]


def test_bad_unit():
    with pytest.raises(ValueError, match="unit"):
        parse_date(pd.Series(["1990-05-17"]), "%Y-%m-%d", unit="D")


def test_encoder_reads_the_wide_dates():
    from hashing.values import field_values

    d, _ = parse_date(pd.Series(["1600-01-01", None]), "%Y-%m-%d", unit="s")
    n = 2
    none = pd.Series([None] * n, dtype="string")
    persons = pd.DataFrame({
        "dob": d, "first_name": none, "middle_name": none, "last_name": none,
        "first_name_keys": [[], []], "alias_first_names": [[], []],
        "alias_last_names": [[], []], "sex": none, "name_suffix": none, "ssn": none,
        "ssn_status": pd.Series(["missing"] * n, dtype="string"), "addr_number": none,
        "addr_street_name": none, "addr_unit": none, "addr_zip5": none})
    assert field_values(persons)["dob"].to_pylist() == ["16000101", None]

"""Property-based tests of the three contract readers (hypothesis).

Whatever bytes or rows an agency sends, a reader either fails on the file as a whole with a
one-line :class:`ContractError`, or returns; it never raises anything else. When it returns,
every data row ends either as a loaded person record or as a quarantine row, never both and
never neither: a row is never lost. Examples are bounded so the file takes well under 30 s.
"""

from __future__ import annotations

import csv
import io
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from data_contracts import ContractError, ContractResult, load_extract
from data_contracts.agencies import dhs, djs

NIGHT = date(2026, 11, 25)
BOUNDED = settings(max_examples=50, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _read(agency: str, name: str, data: bytes) -> ContractResult | None:
    """The reader on ``data``: its result, or None for a one-line file-level refusal."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            return load_extract(path, agency, NIGHT)
        except ContractError as exc:
            assert "\n" not in str(exc)
            return None


def _conserved(result: ContractResult) -> tuple[set[int], set[int]]:
    """Every row read is one loaded primary record or one quarantine row (not both);
    returns the line numbers of each."""
    primary = result.persons.loc[result.persons["record_kind"] == "primary", "line_number"]
    quarantined = result.quarantine["line_number"]
    assert primary.is_unique and quarantined.is_unique
    loaded, set_aside = set(primary.tolist()), set(quarantined.tolist())
    assert not loaded & set_aside
    assert result.rows_read == len(loaded) + len(set_aside)
    assert result.quarantine["reason"].notna().all()
    return loaded, set_aside


# --- values: mostly plausible, some of anything ---------------------------------------------

_TEXT = st.text(max_size=12)
_ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=20)
_NAMES = st.sampled_from(["", "Ann", "JOSÉ", "o'brien, jr.", "Smith-Jones", "  ", "N/A"])


def _pick(*plausible: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(*plausible, _ANY_TEXT)


def _us_date(fmt: str) -> st.SearchStrategy[str]:
    return _pick(st.dates(date(1850, 1, 1), date(2030, 12, 31)).map(lambda d: d.strftime(fmt)),
                 st.sampled_from(["", "02/30/2001", "2001-02-30", "13/45/1990", "0"]))


_DHS_FIELD = {
    "client_id": _pick(st.from_regex(r"C\d{9}", fullmatch=True),
                       st.sampled_from(["C000000001", "C000000002", "", "C12"])),
    "case_id": _pick(st.from_regex(r"K\d{8}", fullmatch=True), st.just("")),
    "first_name": _pick(_NAMES), "middle_name": _pick(_NAMES), "last_name": _pick(_NAMES),
    "dob": _us_date("%m/%d/%Y"), "last_activity_date": _us_date("%m/%d/%Y"),
    "ssn": _pick(st.from_regex(r"\d{3}-?\d{2}-?\d{4}", fullmatch=True)),
    "addr_zip": _pick(st.from_regex(r"\d{5}(-\d{4})?", fullmatch=True)),
}


def _row(layout: dict[str, st.SearchStrategy[str]], columns: tuple[str, ...]
         ) -> st.SearchStrategy[list[str]]:
    return st.tuples(*[layout.get(c, _pick(_TEXT)) for c in columns]).map(list)


def _dhs_file(rows: list[list[str]], crlf: bool) -> tuple[bytes, list[int]]:
    """The rows as a DHS file (RFC 4180 quoting) and the physical line each row starts on."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(dhs.COLUMNS)
    starts, line = [], 2
    for row in rows:
        before = buf.tell()
        writer.writerow(row)
        starts.append(line)
        line += buf.getvalue()[before:].count("\n")
    return buf.getvalue().encode("utf-8", "surrogatepass"), starts


# --- DHS ------------------------------------------------------------------------------------

@BOUNDED
@given(st.binary(max_size=600), st.booleans())
def test_dhs_reader_on_arbitrary_bytes(body: bytes, with_header: bool) -> None:
    head = (",".join(dhs.COLUMNS) + "\n").encode() if with_header else b""
    result = _read("DHS", "dhs_clients_20261125.csv", head + body)
    if result is not None:
        _conserved(result)


@BOUNDED
@given(st.lists(_row(_DHS_FIELD, dhs.COLUMNS), min_size=1, max_size=12), st.booleans())
def test_dhs_every_row_is_loaded_or_quarantined(rows: list[list[str]], crlf: bool) -> None:
    data, starts = _dhs_file(rows, crlf)
    result = _read("DHS", "dhs_clients_20261125.csv", data)
    assert result is not None
    loaded, set_aside = _conserved(result)
    assert set(starts) <= loaded | set_aside            # no row written is lost
    assert len(loaded) <= len(rows)


# --- DJS ------------------------------------------------------------------------------------

_DJS_FIELD = {
    "youth_id": _pick(st.from_regex(r"Y\d{7}", fullmatch=True),
                      st.sampled_from(["Y0000001", "Y0000002", ""])),
    "youth_first_name": _pick(_NAMES), "youth_last_name": _pick(_NAMES),
    "birth_date": _us_date("%Y-%m-%d"), "intake_date": _us_date("%Y-%m-%d"),
    "guardian1_birth_date": _us_date("%Y-%m-%d"), "guardian2_birth_date": _us_date("%Y-%m-%d"),
    "guardian1_name": _pick(st.sampled_from(["Mary Smith", "SMITH, MARY", ""])),
    "guardian1_relationship": _pick(st.sampled_from(["MOTHER", "AUNT", ""])),
}


def _djs_field_bytes(text: str, raw: bytes | None) -> bytes:
    return raw if raw is not None else text.encode("cp1252", "replace")


@BOUNDED
@given(st.binary(max_size=600), st.booleans())
def test_djs_reader_on_arbitrary_bytes(body: bytes, with_header: bool) -> None:
    head = ("|".join(djs.COLUMNS) + "\r\n").encode() if with_header else b""
    result = _read("DJS", "djs_youth_20261125.txt", head + body)
    if result is not None:
        _conserved(result)


@BOUNDED
@given(st.lists(st.tuples(_row(_DJS_FIELD, djs.COLUMNS),
                          st.lists(st.one_of(st.none(), st.binary(max_size=8)),
                                   min_size=len(djs.COLUMNS), max_size=len(djs.COLUMNS))),
                min_size=1, max_size=12))
def test_djs_every_line_is_loaded_or_quarantined(rows: list[tuple[list[str], list]]) -> None:
    lines = [b"|".join(_djs_field_bytes(t, r) for t, r in zip(text, raw))
             for text, raw in rows]
    data = b"\r\n".join([b"|".join(c.encode() for c in djs.COLUMNS), *lines]) + b"\r\n"
    result = _read("DJS", "djs_youth_20261125.txt", data)
    assume(result is not None)     # every line blank: a file with a header but no rows
    loaded, set_aside = _conserved(result)
    # no quoting in this layout: each non-blank physical line after the header is a row
    physical = data[:-2].split(b"\n")
    rows_expected = {i + 1 for i, line in enumerate(physical) if i and line.rstrip(b"\r")}
    assert loaded | set_aside == rows_expected


# --- DPSCS ----------------------------------------------------------------------------------

_DPSCS_SCHEMA = pa.schema([
    ("sid", pa.string()), ("full_name", pa.string()), ("aliases", pa.list_(pa.string())),
    ("dob", pa.date32()), ("sex", pa.string()), ("ssn", pa.string()),
    ("address_street", pa.string()), ("address_city", pa.string()),
    ("address_state", pa.string()), ("address_zip", pa.string()), ("status", pa.string()),
    ("emergency_contact_name", pa.string()), ("emergency_contact_relationship", pa.string()),
    ("status_date", pa.timestamp("us"))])
_MAYBE = lambda s: st.one_of(st.none(), s)                                  # noqa: E731
_DPSCS_VALUES = {
    "sid": _MAYBE(_pick(st.from_regex(r"\d{1,8}", fullmatch=True), st.just("0012345"))),
    "full_name": _MAYBE(_pick(st.sampled_from(["SMITH JR, JOHN A", "DOE, JANE", "", "X"]))),
    "aliases": _MAYBE(st.lists(_MAYBE(_pick(st.just("SMITH, JOHNNY"))), max_size=3)),
    "dob": _MAYBE(st.dates(date(1, 1, 1), date(9999, 12, 31))),
    "emergency_contact_name": _MAYBE(_pick(st.just("Mary Smith"))),
    "emergency_contact_relationship": _MAYBE(_pick(st.sampled_from(["MOTHER", "FRIEND"]))),
    "status_date": _MAYBE(st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30))),
}


def _dpscs_rows(n_max: int = 10) -> st.SearchStrategy[dict[str, list]]:
    column = {f.name: _DPSCS_VALUES.get(f.name, _MAYBE(_pick(_TEXT))) for f in _DPSCS_SCHEMA}
    return st.integers(1, n_max).flatmap(lambda n: st.fixed_dictionaries(
        {c: st.lists(s, min_size=n, max_size=n) for c, s in column.items()}))


def _parquet(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


@BOUNDED
@given(st.binary(max_size=600))
def test_dpscs_reader_on_arbitrary_bytes(data: bytes) -> None:
    result = _read("DPSCS", "dpscs_offenders_20261125.parquet", data)
    if result is not None:
        _conserved(result)


@BOUNDED
@given(_dpscs_rows(4), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                min_size=1, max_size=6))
def test_dpscs_reader_on_damaged_parquet(columns: dict[str, list],
                                         flips: list[tuple[int, int]]) -> None:
    data = bytearray(_parquet(pa.Table.from_pydict(columns, schema=_DPSCS_SCHEMA)))
    for at, byte in flips:
        data[at % len(data)] = byte
    result = _read("DPSCS", "dpscs_offenders_20261125.parquet", bytes(data))
    if result is not None:
        _conserved(result)


@BOUNDED
@given(_dpscs_rows(), st.sampled_from(["us", "ns", "ms"]), st.sampled_from([None, "UTC"]))
def test_dpscs_every_row_is_loaded_or_quarantined(columns: dict[str, list], unit: str,
                                                  tz: str | None) -> None:
    schema = _DPSCS_SCHEMA.set(_DPSCS_SCHEMA.get_field_index("status_date"),
                               pa.field("status_date", pa.timestamp(unit, tz)))
    if unit == "ns":   # nanoseconds hold 1677-2262 only
        lo, hi = datetime(1678, 1, 1), datetime(2262, 1, 1)
        columns["status_date"] = [None if d is None else min(max(d, lo), hi)
                                  for d in columns["status_date"]]
    table = pa.Table.from_pydict(columns, schema=schema)
    result = _read("DPSCS", "dpscs_offenders_20261125.parquet", _parquet(table))
    assert result is not None
    loaded, set_aside = _conserved(result)
    assert loaded | set_aside == set(range(1, table.num_rows + 1))
    # a date the contract cannot hold is quarantined, never loaded as a blank
    for line in loaded:
        for col in ("dob", "status_date"):     # (a day of slack: UTC against Maryland time)
            value = columns[col][line - 1]
            day = value.date() if isinstance(value, datetime) else value
            assert day is None or date(1899, 12, 31) <= day <= NIGHT + timedelta(1), (col, day)


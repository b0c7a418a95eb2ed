"""Each contract on small hand-made files: every dirty-row kind, nothing legitimate caught,
BOM/CRLF, and the file-level errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_contracts import ContractError, load_extract

NIGHT = date(2026, 11, 25)

DHS_HEADER = ("client_id,case_id,case_role,first_name,middle_name,last_name,name_suffix,dob,"
              "sex,ssn,addr_street,addr_city,addr_state,addr_zip,program,last_activity_date")


def dhs_rows() -> list[tuple[bytes, str | None]]:
    """(line bytes, expected reason or None for a legitimate row)."""
    ok = "K00000001,HEAD,{f},,{l},,01/02/1980,F,,12 Main Street,Baltimore,MD,21217,SNAP,11/01/2026"
    return [
        (("C000000001," + ok.format(f="José", l="Núñez")).encode("utf-8"), None),
        (("C000000002," + ok.format(f="Jos\u00e9", l="Mu\u00f1oz")).encode("cp1252"), None),
        (b"C000000003," + ok.format(f="Ann", l="Bad{}Bytes").encode().replace(b"{}", b"\x81"),
         "bad_encoding"),
        (b"C000000017," + ok.format(f="Ann", l="C1\x85Control").encode(), "bad_encoding"),
        (b"C000000004," + ok.format(f="Ann", l="Nul\x00Byte").encode(), "bad_encoding"),
        (b"C000000005,K00000001,HEAD,Ann,,Short", "wrong_column_count"),
        (("C000000006," + ok.format(f="Ann", l="Extra") + ",EXTRA").encode(),
         "wrong_column_count"),
        (("C12345," + ok.format(f="Ann", l="Lee")).encode(), "bad_id"),
        (("C000000007," + ok.format(f="Ann", l="Lee").replace("K00000001", "K1")).encode(),
         "bad_id"),
        (("C000000008," + ok.format(f="Ann", l="Dup")).encode(), "duplicate_id"),
        (("C000000008," + ok.format(f="Bob", l="Dup")).encode(), "duplicate_id"),
        (("C000000009," + ok.format(f="Ann", l="Lee").replace("01/02/1980", "02/30/2001")
          ).encode(), "bad_date"),
        (("C000000010," + ok.format(f="Ann", l="Lee").replace("01/02/1980", "1980-01-02")
          ).encode(), "bad_date"),
        (("C000000011," + ok.format(f="Ann", l="Lee").replace("01/02/1980", "01/02/1850")
          ).encode(), "bad_date"),
        (("C000000012," + ok.format(f="Ann", l="Lee").replace("11/01/2026", "12/25/2026")
          ).encode(), "future_date"),
        (("C000000013," + ok.format(f="", l=" ")).encode(), "missing_name"),
        # legitimate despite dirt: lower case, punctuation, suffix, blank dob/SSN, ZIP+4
        (b'C000000014,K00000002,CHILD,"o\'brien, jr.",,Smith-Jones,Jr.,,m,,'
         b'"12 n. main street apt. 4",baltimore,md,21217-1234,MA,11/01/2026', None),
        (("C000000015," + ok.format(f="Ann", l="Lee").replace(",,01/02/1980,F,,",
                                                               ",,01/02/1980,F,212-55-1234,")
          ).encode(), None),
        (("C000000016," + ok.format(f="Ann", l="Lee").replace(",,01/02/1980,F,,",
                                                               ",,01/02/1980,F,999999999,")
          ).encode(), None),
        # a field over 500 characters is dirt (the spec): set aside, never loaded
        (("C000000018," + ok.format(f="Ann", l="Lee").replace("12 Main Street",
                                                               "12 Main Street " + "X" * 600)
          ).encode(), "field_too_long"),
        (("C000000019," + ok.format(f="Ann", l="Lee").replace("12 Main Street",
                                                               "1" + "2" * 499)
          ).encode(), None),
    ]


def write_dhs(path: Path, *, bom: bool = False, crlf: bool = False) -> list:
    rows = dhs_rows()
    eol = b"\r\n" if crlf else b"\n"
    body = eol.join([DHS_HEADER.encode(), *[r for r, _ in rows]]) + eol
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + body)
    return rows


def expected_quarantine(rows: list) -> dict[int, str]:
    return {i + 2: reason for i, (_, reason) in enumerate(rows) if reason}


@pytest.mark.parametrize("bom,crlf", [(False, False), (True, False), (False, True),
                                      (True, True)])
def test_dhs_every_reason_and_nothing_legitimate(tmp_path: Path, bom: bool, crlf: bool) -> None:
    path = tmp_path / "dhs_clients_20261125.csv"
    rows = write_dhs(path, bom=bom, crlf=crlf)
    result = load_extract(path, "DHS", NIGHT)
    got = dict(zip(result.quarantine["line_number"], result.quarantine["reason"]))
    assert got == expected_quarantine(rows)
    assert list(result.quarantine.columns) == ["agency", "line_number", "record_id", "reason"]
    legit = {f"C0000000{n:02d}" for n in (1, 2, 14, 15, 16, 19)}      # 19: 500 characters
    assert set(result.persons["record_id"]) == legit
    assert result.rows_read == len(rows)
    p = result.persons.set_index("record_id")
    # UTF-8 and Windows-1252 rows of the same name normalize alike
    assert p.loc["C000000001", "first_name"] == p.loc["C000000002", "first_name"] == "JOSE"
    assert p.loc["C000000002", "last_name"] == "MUNOZ"
    assert p.loc["C000000014", "last_name"] == "SMITH JONES"
    assert p.loc["C000000014", "name_suffix"] == "JR"
    assert p.loc["C000000014", "addr_zip5"] == "21217"
    assert p.loc["C000000014", "addr_unit"] == "APT 4"
    assert pd.isna(p.loc["C000000014", "dob"])
    assert (p.loc["C000000015", "ssn"], p.loc["C000000015", "ssn_status"]) == ("212551234", "ok")
    assert pd.isna(p.loc["C000000016", "ssn"]) and p.loc["C000000016", "ssn_status"] == "placeholder"
    assert p.loc["C000000001", "family_group"] == "DHS:K00000001"


def test_dhs_quarantine_holds_no_other_field(tmp_path: Path) -> None:
    path = tmp_path / "dhs_clients_20261125.csv"
    write_dhs(path)
    q = load_extract(path, "DHS", NIGHT).quarantine
    text = q.to_csv(index=False)
    for value in ("Bad", "Short", "Dup", "1980", "Main", "21217"):
        assert value not in text


# Columns in another order than the spec's table: the contract matches them by name.
DJS_HEADER = ("youth_id|youth_last_name|youth_first_name|youth_middle_initial|birth_date|gender|"
              "home_address|guardian1_name|guardian1_relationship|guardian1_birth_date|"
              "guardian2_name|guardian2_relationship|guardian2_birth_date|intake_date|region")


def test_djs_youth_guardians_and_reasons(tmp_path: Path) -> None:
    base = ("{id}|{last}|Luis|A|2010-05-06|Male|123 N Main St Apt 4, Baltimore, MD 21217|"
            "{g1}|MOTHER|{g1dob}|{g2}|FATHER||2026-10-01|Central")
    rows = [
        (base.format(id="Y0000001", last="Peña", g1="PEÑA, MARIA", g1dob="1985-02-03",
                     g2="Jose Pena"), None),
        (base.format(id="Y0000002", last="Smith", g1="Mary Smith", g1dob="1985-02-30",
                     g2=""), None),
        (base.format(id="Y00002", last="Smith", g1="", g1dob="", g2=""), "bad_id"),
        (base.format(id="Y0000003", last="Smith", g1="", g1dob="", g2="").replace(
            "2010-05-06", "05/06/2010"), "bad_date"),
        (base.format(id="Y0000004", last="Smith", g1="", g1dob="", g2="").replace(
            "2026-10-01", "2027-01-01"), "future_date"),
        (base.format(id="Y0000005", last="Smith", g1="", g1dob="", g2="") + "|extra",
         "wrong_column_count"),
    ]
    path = tmp_path / "djs_youth_20261125.txt"
    path.write_bytes(("\r\n".join([DJS_HEADER, *[r for r, _ in rows]]) + "\r\n")
                     .encode("cp1252"))
    result = load_extract(path, "DJS", NIGHT)
    got = dict(zip(result.quarantine["line_number"], result.quarantine["reason"]))
    assert got == expected_quarantine(rows)
    p = result.persons.set_index("record_id")
    assert set(p.index) == {"Y0000001", "Y0000001#guardian1", "Y0000001#guardian2",
                            "Y0000002", "Y0000002#guardian1"}
    assert p.loc["Y0000001", "last_name"] == "PENA"
    g = p.loc["Y0000001#guardian1"]
    assert (g["first_name"], g["last_name"], g["sex"], g["relationship"]) == (
        "MARIA", "PENA", "F", "MOTHER")
    assert g["dob"] == pd.Timestamp("1985-02-03")
    assert g["addr_zip5"] == "21217" and g["family_group"] == "DJS:Y0000001"
    g2 = p.loc["Y0000001#guardian2"]
    assert (g2["first_name"], g2["last_name"], g2["sex"]) == ("JOSE", "PENA", "M")
    # an impossible guardian birth date is dropped and counted, the youth is kept
    assert pd.isna(p.loc["Y0000002#guardian1", "dob"])
    assert result.field_issues["guardian_dob_invalid"] == 1


def dpscs_table(**overrides) -> pa.Table:
    data = {
        "sid": ["0012345", "0012346", "12x", "0012347", "0012347", "0012348", "0012349"],
        "full_name": ["SMITH JR, JOHN A", "DOE, JANE", "DOE, JIM", "ROE, AL", "ROE, AL",
                      "", "POE, ED"],
        "aliases": [["SMITH, JOHNNY"], [], None, [], [], [], ["POE, EDDIE", "POE, EDWARD"]],
        "dob": [date(1980, 1, 2), date(1990, 3, 4), date(1990, 3, 4), date(1970, 1, 1),
                date(1970, 1, 1), date(1985, 1, 1), date(2030, 1, 1)],
        "sex": ["M", "F", "M", "M", "M", "M", "M"],
        "ssn": ["123-45-6789", None, None, "000000000", None, None, None],
        "address_street": ["12 Main St"] * 7, "address_city": ["Baltimore"] * 7,
        "address_state": ["MD"] * 7, "address_zip": ["21217"] * 7,
        "status": ["PAROLE"] * 7,
        "emergency_contact_name": ["Mary Smith", "Bob Doe", None, None, None, None, "Al Poe"],
        "emergency_contact_relationship": ["MOTHER", "FRIEND", None, None, None, None,
                                           "BROTHER"],
        "status_date": pd.to_datetime(["2026-11-20 14:00"] * 7),
    }
    data.update(overrides)
    schema = pa.schema([
        ("sid", pa.string()), ("full_name", pa.string()), ("aliases", pa.list_(pa.string())),
        ("dob", pa.date32()), ("sex", pa.string()), ("ssn", pa.string()),
        ("address_street", pa.string()), ("address_city", pa.string()),
        ("address_state", pa.string()), ("address_zip", pa.string()), ("status", pa.string()),
        ("emergency_contact_name", pa.string()),
        ("emergency_contact_relationship", pa.string()), ("status_date", pa.timestamp("us"))])
    return pa.Table.from_pydict(data, schema=schema)


def test_dpscs_offenders_contacts_and_reasons(tmp_path: Path) -> None:
    path = tmp_path / "dpscs_offenders_20261125.parquet"
    pq.write_table(dpscs_table(), path)
    result = load_extract(path, "DPSCS", NIGHT)
    got = dict(zip(result.quarantine["line_number"], result.quarantine["reason"]))
    assert got == {3: "bad_id", 4: "duplicate_id", 5: "duplicate_id", 6: "missing_name",
                   7: "future_date"}
    p = result.persons.set_index("record_id")
    # a FRIEND is not family: no person record; the leading zeros of a sid are kept
    assert set(p.index) == {"0012345", "0012345#contact", "0012346"}
    o = p.loc["0012345"]
    assert (o["first_name"], o["middle_name"], o["last_name"], o["name_suffix"]) == (
        "JOHN", "A", "SMITH", "JR")
    assert tuple(o["alias_first_names"]) == ("JOHNNY",)
    c = p.loc["0012345#contact"]
    assert (c["first_name"], c["last_name"], c["sex"], c["family_group"]) == (
        "MARY", "SMITH", "F", "DPSCS:0012345")


def test_dpscs_wrong_type_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "dpscs_offenders_20261125.parquet"
    t = dpscs_table()
    t = t.set_column(t.schema.get_field_index("dob"), "dob",
                     pa.array(["1980-01-02"] * t.num_rows))
    pq.write_table(t, path)
    with pytest.raises(ContractError, match="dob is string, expected date32"):
        load_extract(path, "DPSCS", NIGHT)


@pytest.mark.parametrize("agency,name", [("DHS", "dhs_clients_20261125.csv"),
                                         ("DJS", "djs_youth_20261125.txt"),
                                         ("DPSCS", "dpscs_offenders_20261125.parquet")])
def test_missing_and_empty_files(tmp_path: Path, agency: str, name: str) -> None:
    path = tmp_path / name
    with pytest.raises(ContractError, match="missing") as exc:
        load_extract(path, agency, NIGHT)
    assert "\n" not in str(exc.value) and name in str(exc.value)
    path.write_bytes(b"")
    with pytest.raises(ContractError, match="empty"):
        load_extract(path, agency, NIGHT)


def test_renamed_column_names_the_column(tmp_path: Path) -> None:
    path = tmp_path / "dhs_clients_20261125.csv"
    write_dhs(path)
    path.write_bytes(path.read_bytes().replace(b"last_name", b"surname", 1))
    with pytest.raises(ContractError) as exc:
        load_extract(path, "DHS", NIGHT)
    msg = str(exc.value)
    assert "missing last_name" in msg and "unexpected surname" in msg and "\n" not in msg
    assert msg.startswith(f"{path}:1:")


def test_header_only_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "dhs_clients_20261125.csv"
    path.write_text(DHS_HEADER + "\r\n\r\n")
    with pytest.raises(ContractError, match="header but no rows"):
        load_extract(path, "DHS", NIGHT)


def test_header_case_and_spaces_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "dhs_clients_20261125.csv"
    rows = write_dhs(path)
    header = ", ".join(c.upper() for c in DHS_HEADER.split(","))
    path.write_bytes(path.read_bytes().replace(DHS_HEADER.encode(), header.encode(), 1))
    result = load_extract(path, "DHS", NIGHT)
    assert dict(zip(result.quarantine["line_number"], result.quarantine["reason"])) == \
        expected_quarantine(rows)


def test_a_stray_quote_spoils_one_row_not_the_night(tmp_path: Path) -> None:
    path = tmp_path / "dhs_clients_20261125.csv"
    rows = write_dhs(path)
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b"Mu", b'M"u', 1)           # quote inside a field
    lines[18] = lines[18].replace(b"K00000001", b'"K00000001', 1)   # never closed (line 19)
    path.write_bytes(b"\n".join(lines))
    result = load_extract(path, "DHS", NIGHT)
    got = dict(zip(result.quarantine["line_number"], result.quarantine["reason"]))
    expected = expected_quarantine(rows)
    assert got.pop(19) in ("wrong_column_count", "bad_id")           # that row only
    assert got == expected
    assert {"C000000002", "C000000016"} <= set(result.persons["record_id"])  # read on


def test_quarantine_never_carries_a_value_that_is_not_an_id(tmp_path: Path) -> None:
    path = tmp_path / "dhs_clients_20261125.csv"
    write_dhs(path)
    with path.open("ab") as fh:
        fh.write(b"219-09-9999,K00000001,HEAD,Ann,,Lee,,01/02/1980,F,,1 A St,B,MD,21217,"
                 b"SNAP,11/01/2026\n")
        fh.write(b"SMITH JOHN,short\n")
    q = load_extract(path, "DHS", NIGHT).quarantine
    text = q.to_csv(index=False)
    assert "219-09-9999" not in text and "SMITH" not in text
    assert set(q["record_id"]) <= {"", *(f"C{n:09d}" for n in range(100))}


def test_dpscs_accepts_other_writers_types(tmp_path: Path) -> None:
    path = tmp_path / "dpscs_offenders_20261125.parquet"
    t = dpscs_table()
    t = t.set_column(t.schema.get_field_index("aliases"), "aliases",
                     t.column("aliases").cast(pa.large_list(pa.large_string())))
    t = t.set_column(t.schema.get_field_index("status"), "status",
                     t.column("status").dictionary_encode())
    t = t.set_column(t.schema.get_field_index("full_name"), "full_name",
                     t.column("full_name").cast(pa.large_string()))
    pq.write_table(t, path)
    result = load_extract(path, "DPSCS", NIGHT)
    p = result.persons.set_index("record_id")
    assert list(p.loc["0012345", "alias_first_names"]) == ["JOHNNY"]
    assert p.loc["0012345", "agency_status"] == "PAROLE"

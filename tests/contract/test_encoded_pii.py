"""What leaves an agency holds no identifier in the clear.

Encodes a small synthetic night and reads every byte of each encoded file (as written,
and as an uncompressed Arrow stream, so compression cannot hide a value) and of the logs
of the encoding, looking for the input's names, dates of birth, SSNs, streets and ZIPs in
several cases and formats.
"""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from data_contracts import find_extracts, load_extract, parse_night
from data_contracts.communities import load_crosswalk
from data_contracts.encoded import EncodedMeta, encoded_path, write_encoded
from hashing import LinkageKey, encode_extract
from pipeline.config import load_settings


def _variants(values, min_len: int) -> set[bytes]:
    out = set()
    for v in values:
        v = str(v).strip()
        if len(v) >= min_len:
            out |= {v.encode("utf-8", "ignore"), v.upper().encode("utf-8", "ignore"),
                    v.lower().encode("utf-8", "ignore"), v.title().encode("utf-8", "ignore")}
    return out


def _dates(values) -> set[bytes]:
    out = set()
    for d in pd.to_datetime(pd.Series(list(values)), errors="coerce").dropna().unique():
        d = pd.Timestamp(d)
        out |= {d.strftime(f).encode() for f in ("%Y-%m-%d", "%m/%d/%Y", "%Y%m%d",
                                                  "%d/%m/%Y")}
    return out


def input_identifiers(folder: Path) -> dict[str, set[bytes]]:
    """The night's identifiers, straight from the raw files (not through the contract)."""
    dhs = pd.read_csv(next(folder.glob("dhs_clients_*.csv")), dtype=str, keep_default_na=False,
                      encoding="utf-8", encoding_errors="replace", on_bad_lines="skip")
    djs = pd.read_csv(next(folder.glob("djs_youth_*.txt")), sep="|", dtype=str,
                      keep_default_na=False, encoding="cp1252", encoding_errors="replace",
                      on_bad_lines="skip", quoting=3)
    dpscs = pq.read_table(next(folder.glob("dpscs_offenders_*.parquet"))).to_pandas()
    names = [*dhs["first_name"], *dhs["last_name"], *djs["youth_first_name"],
             *djs["youth_last_name"], *djs["guardian1_name"], *dpscs["full_name"].dropna(),
             *dpscs["emergency_contact_name"].dropna()]
    names += [w for n in names for w in re.split(r"[ ,]+", str(n))]
    ssns = [s for s in [*dhs["ssn"], *dpscs["ssn"].dropna()] if s]
    ssns += [s.replace("-", "") for s in ssns]
    streets = [*dhs["addr_street"], *dpscs["address_street"].dropna(),
               *[a.split(",")[0] for a in djs["home_address"]]]
    raw_zips = [*dhs["addr_zip"], *dpscs["address_zip"].dropna()]
    zips = [z[:5] for z in raw_zips if len(z) >= 5] + [z for z in raw_zips if len(z) > 5]
    return {
        "name": _variants(names, 6),
        "dob": _dates([*pd.to_datetime(dhs["dob"], format="%m/%d/%Y", errors="coerce"),
                       *pd.to_datetime(djs["birth_date"], errors="coerce"),
                       *pd.to_datetime(dpscs["dob"], errors="coerce")]),
        "ssn": {s.encode() for s in ssns if len(s.replace("-", "")) == 9},
        "street": _variants(streets, 10),
        "zip": {z.encode() for z in zips if z.replace("-", "").isdigit()},
    }


_WORD = re.compile(rb"[A-Za-z0-9]+")
_DATE = re.compile(rb"\d\d/\d\d/\d{4}|\d{4}-\d\d-\d\d|\d{3}-\d\d-\d{4}")


def leaks(blob: bytes, needles: dict[str, set[bytes]], allowed: bytes) -> dict[str, list]:
    """Needles that stand in blob as values: a value stored in the clear is delimited by
    bytes that are not letters or digits, so blob is cut into its alphanumeric words and a
    needle is found when all its words are among them and it occurs verbatim. (A bare
    substring test would flag chance digit runs inside binary encodings, e.g. parquet
    offsets 0x32 0x30 0x32 0x31 ... reading "20212223".) Needles found in ``allowed``
    (record ids, the file's own metadata) are not leaks."""
    words = set(_WORD.findall(blob)) | set(_DATE.findall(blob))
    found: dict[str, list] = {}
    for kind, values in needles.items():
        hits = [n for n in values
                if all(w in words for w in _WORD.findall(n)) and (_DATE.fullmatch(n) is None
                                                                   or n in words)
                and n in blob and n not in allowed]
        if hits:
            found[kind] = sorted(hits)[:5]
    return found


def test_encoded_files_and_logs_hold_no_identifier(small_night: Path, tmp_path: Path,
                                                  caplog) -> None:
    settings = load_settings()
    key = LinkageKey.load()
    crosswalk = load_crosswalk(settings.communities.crosswalk_path)
    night, paths = find_extracts(small_night)
    needles = input_identifiers(small_night)
    frames = {a: load_extract(p, a, parse_night(night)).persons for a, p in paths.items()}
    for persons in frames.values():     # the normalized forms too (OBRIEN, GARCIA LOPEZ)
        needles["name"] |= _variants([*persons["first_name"].dropna(),
                                      *persons["last_name"].dropna()], 6)
        needles["street"] |= _variants(persons["addr_street"].dropna(), 10)
        needles["ssn"] |= {s.encode() for s in persons["ssn"].dropna()}
    assert all(len(v) > 50 for v in needles.values()), {k: len(v) for k, v in needles.items()}
    caplog.set_level(logging.DEBUG)
    for agency, persons in frames.items():
        table = encode_extract(persons, key, settings.encoding, crosswalk)
        out = write_encoded(table, EncodedMeta(key.key_id, agency, night,
                                               settings.encoding.describe(),
                                               settings.encoding.sha256()),
                            encoded_path(tmp_path, agency, night))
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema) as writer:      # uncompressed
            writer.write_table(table)
        meta = pq.read_schema(out).metadata or {}
        vocabulary = {v for c in ("agency", "record_kind", "relationship", "community")
                      for v in table[c].unique().to_pylist() if v}   # coarse, fixed lists
        allowed = b"\n".join([*(r.encode() for r in table["record_id"].to_pylist()),
                              *(c.encode() for c in table.column_names), *meta.values(),
                              *(v.encode() for v in vocabulary)])
        for what, blob in (("file", out.read_bytes()), ("arrow stream", sink.getvalue())):
            assert not leaks(blob, needles, allowed), f"{agency} {what}"
    assert not leaks(caplog.text.encode(), needles, b""), "logs"


def test_the_search_can_fail() -> None:
    """The search above finds an identifier wherever it sits."""
    needles = {"name": {b"GILLIAM"}, "dob": {b"1973-09-10"}, "ssn": {b"212551234"},
               "street": {b"2146 CALVERT WAY"}, "zip": {b"21239"}}
    blob = b"\x00\x01xx GILLIAM\x00 1973-09-10 2146 CALVERT WAY 212551234 21239"
    assert set(leaks(blob, needles, b"")) == set(needles)
    assert leaks(b"C021239000", {"zip": {b"21239"}}, b"") == {}        # inside an id
    assert leaks(b"\x0221239\x00", {"zip": {b"21239"}}, b"") == {"zip": [b"21239"]}
    assert leaks(b"x 21239 y", {"zip": {b"21239"}}, b"x 21239 y") == {}

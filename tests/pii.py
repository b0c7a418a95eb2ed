"""Searching what a run wrote for the input's identifying values (shared by the e2e tests)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from data_contracts.normalize import normalize_ssn

_TOKEN = re.compile(rb"[A-Z0-9/-]+")


def pii_values(extracts: Path) -> set[bytes]:
    """Distinctive identifying values of the night's input, as bytes to search for."""
    dhs = pd.read_csv(next(extracts.glob("dhs_clients_*.csv")), dtype=str,
                      keep_default_na=False, encoding="utf-8", encoding_errors="replace",
                      on_bad_lines="skip")
    dpscs = pq.read_table(next(extracts.glob("dpscs_offenders_*.parquet"))).to_pandas()
    values: set[str] = set()
    ssn, status = normalize_ssn(dhs["ssn"])          # real-looking SSNs, not placeholders
    values |= set(ssn[status == "ok"])
    values |= {s for s in dhs["dob"] if re.fullmatch(r"\d\d/\d\d/\d{4}", s)}
    values |= {s.upper() for s in dhs["last_name"] if len(s) >= 8 and s.isalpha()}
    values |= {s.upper() for s in dhs["addr_street"] if len(s) >= 12}
    values |= {str(d) for d in dpscs["dob"].dropna()}
    values |= {s.upper() for s in dpscs["full_name"].dropna() if len(s) >= 10}
    return {v.encode() for v in values}


_HEX = frozenset(b"0123456789ABCDEF")


def _occurs(needle: bytes, blob: bytes) -> bool:
    """Whether ``needle`` occurs in ``blob``; an all-digit needle (an SSN) only where it is
    not part of a longer run of hex digits: the outputs carry random hex ids (person and
    family ids, run and Prefect ids), and nine decimal digits turn up inside such a run
    by chance (the two-night test once failed on such a match in ``id_state.parquet``)."""
    if not needle.isdigit():
        return needle in blob
    at = blob.find(needle)
    while at >= 0:
        end = at + len(needle)
        if (at == 0 or blob[at - 1] not in _HEX) and (end == len(blob) or blob[end] not in _HEX):
            return True
        at = blob.find(needle, at + 1)
    return False


def found_in(needles: set[bytes], blob: bytes) -> list[bytes]:
    """Needles that occur in blob (:func:`_occurs`): a needle can only occur if each of its
    tokens does, so only those candidates are searched for in full (35k needles x MBs stay
    fast)."""
    present = set(_TOKEN.findall(blob))
    candidates = [n for n in needles if all(t in present for t in _TOKEN.findall(n))]
    return [n for n in candidates if _occurs(n, blob)]


def searchable(path: Path) -> bytes:
    """What to search in a written file: its bytes; for a Parquet file its schema and
    metadata and every cell decoded (its pages are compressed: a value in them need not
    appear as written, and compression cuts ids into pieces that look like anything)."""
    if path.suffix != ".parquet":
        return path.read_bytes()
    table = pq.read_table(path)
    cells = table.to_pandas().astype(str).to_numpy().ravel()
    meta = {k.decode("utf-8", "replace"): v.decode("utf-8", "replace")
            for k, v in (table.schema.metadata or {}).items()}
    return "\n".join([str(table.schema), str(meta), *cells]).encode("utf-8", "replace")


def prefect_database_files() -> list[Path]:
    """The Prefect test harness's SQLite database (and its WAL) after the run."""
    from prefect.settings import get_current_settings

    url = str(get_current_settings().server.database.connection_url.get_secret_value())
    db = Path(url.split(":///", 1)[1])
    return [p for p in (db, Path(f"{db}-wal")) if p.exists()]

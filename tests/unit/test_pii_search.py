"""The PII search the end-to-end tests rely on (``tests/pii.py``): it must find an input
value wherever a written file holds it, compressed Parquet cells included, and not
mistake nine decimal digits inside a random hex id (person, family and run ids) for an
SSN, as the two-night test once did on a fresh clone (a chance match in `id_state`)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pii import found_in, searchable

SSN = b"452317585"


def test_an_ssn_in_text_or_a_cell_is_found(tmp_path: Path) -> None:
    assert found_in({SSN}, b'{"ssn": "452317585"}')
    assert found_in({SSN}, b"452-31 452317585\n")
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": ["a", "452317585"] * 500}), path, compression="zstd")
    assert found_in({SSN}, searchable(path).upper())


def test_nine_digits_inside_a_hex_id_are_a_coincidence(tmp_path: Path) -> None:
    assert not found_in({SSN}, b"Pf6d0452317585e2db86")
    assert found_in({b"SMITHFIELD"}, b"xxSMITHFIELDxx")     # names are searched as before
    path = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"person_id": ["P0452317585f0e2db", "Pabc4493de95fe746"]}), path)
    assert not found_in({SSN}, searchable(path).upper())

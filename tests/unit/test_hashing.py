"""Keys, kernels and the encoder: known answers, twins held equal, determinism, key
separation, missing values and Unicode forms of one name."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from data_contracts import SstError
from data_contracts.errors import KeyFileError
from hashing import (
    EncodingSettings,
    LinkageKey,
    Purpose,
    _bloom,
    _hardening,
    _kernels,
    _siphash,
    encode_extract,
)

KEY = LinkageKey.from_bytes(bytes(range(32)))
OTHER_KEY = LinkageKey.from_bytes(bytes(range(1, 33)))
CROSSWALK = {"21217": "West Baltimore"}


# --- SipHash: reference vectors (Aumasson & Bernstein, key 00..0f, message 00..) ---------

def _words(n_bytes: int) -> list[np.ndarray]:
    msg = bytes(range(n_bytes))
    return [np.array([int.from_bytes(msg[i:i + 8], "little")], dtype=np.uint64)
            for i in range(0, n_bytes, 8)]


@pytest.mark.parametrize("fn", [_siphash.siphash24, _kernels.siphash24_rows])
@pytest.mark.parametrize("n_bytes,expected", [(8, 0x93F5F5799A932462),
                                              (16, 0x3F2ACC7F57C29BDB)])
def test_siphash_known_answers(fn, n_bytes: int, expected: int) -> None:
    assert int(fn(bytes(range(16)), _words(n_bytes))[0]) == expected


def test_siphash_kernel_equals_numpy_twin() -> None:
    rng = np.random.default_rng(1)
    words = [rng.integers(0, 2**63, 5000, dtype=np.uint64) for _ in range(3)]
    key = bytes(rng.integers(0, 256, 16, dtype=np.uint8))
    assert np.array_equal(_siphash.siphash24(key, words), _kernels.siphash24_rows(key, words))


# --- filters: compiled and numpy paths, balancing, flips -------------------------------

NAMES = np.array(["JOHN", "JON", "SMITH", "A", "MARY ANN", "O"], dtype=object)


@pytest.mark.parametrize("tokenizer", ["bigrams", "words", "positional"])
@pytest.mark.parametrize("balanced", [False, True])
def test_filter_kernel_equals_numpy_and_reference(monkeypatch, tokenizer: str,
                                                  balanced: bool) -> None:
    tok = _bloom.TOKENIZERS[tokenizer]
    perm = _hardening.secret_permutation(b"p" * 32, 512) if balanced else None
    fast = _bloom.build_filters(NAMES, tok, b"k" * 32, 256, 10, perm)
    monkeypatch.setattr(_kernels, "AVAILABLE", False)
    slow = _bloom.build_filters(NAMES, tok, b"k" * 32, 256, 10, perm, chunk_tokens=3)
    plain = _bloom.build_filters(NAMES, tok, b"k" * 32, 256, 10)
    assert np.array_equal(fast, slow)
    expected = _hardening.balance(plain, perm) if balanced else plain
    assert np.array_equal(fast, expected)
    if balanced:   # every balanced filter has exactly half its bits set
        assert set(np.unpackbits(fast, axis=1).sum(axis=1)) == {256}


def test_gather_flip_kernel_equals_numpy() -> None:
    rng = np.random.default_rng(2)
    filters = rng.integers(0, 256, (5, 64), dtype=np.uint8)
    codes = np.array([0, -1, 3, 3, 4, -1, 1])
    valid = codes >= 0
    seeds = rng.integers(0, 2**63, int(valid.sum()), dtype=np.uint64)
    fast = _kernels.gather_flip(codes, filters, seeds, 10)
    slow = np.zeros((len(codes), 64), np.uint8)
    slow[valid] = filters[codes[valid]]
    slow[valid] = _hardening.flip_bits(slow[valid], seeds, 10)
    assert np.array_equal(fast, slow)
    changed = np.unpackbits(fast[2] ^ filters[3]).sum()
    assert 0 < changed <= 10 and not fast[1].any()


def _dice(a: bytes, b: bytes) -> float:
    x, y = np.unpackbits(np.frombuffer(a, np.uint8)), np.unpackbits(np.frombuffer(b, np.uint8))
    return 2 * (x & y).sum() / (x.sum() + y.sum())


# --- keys -------------------------------------------------------------------------------

def test_keygen_mode_refusal_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    key = LinkageKey.generate(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert LinkageKey.load(path).key_id == key.key_id
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        LinkageKey.generate(path)
    secret_hex = path.read_text().strip().split(":")[1]
    for shown in (repr(key), str(key), key.key_id):
        assert secret_hex not in shown and secret_hex[:16] not in shown
    assert key.key_id.startswith("k1-") and key.key_id in repr(key)


def test_key_file_errors_name_the_file_not_the_content(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "k.key"
    LinkageKey.generate(path)
    secret = path.read_text()
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="accessible to others") as exc:
        LinkageKey.load(path)
    assert str(path) in str(exc.value) and "chmod 600" in str(exc.value)
    os.chmod(path, 0o600)
    path.write_text("sst-linkage-key-v1:" + "zz" * 32 + "\n")
    with pytest.raises(KeyFileError, match="not a linkage key file") as exc:
        LinkageKey.load(path)
    assert "zz" * 4 not in str(exc.value) and secret[20:40] not in str(exc.value)
    with pytest.raises(KeyFileError, match="missing"):
        LinkageKey.load(tmp_path / "nope.key")
    monkeypatch.delenv("SST_LINKAGE_KEY_FILE", raising=False)
    with pytest.raises(KeyFileError, match="SST_LINKAGE_KEY_FILE"):
        LinkageKey.load(None)


def test_every_purpose_gets_its_own_subkey() -> None:
    derived = {KEY.derive(p, d) for p in Purpose for d in ("", "first_name", "last_name")}
    assert len(derived) == len(Purpose) * 3
    assert KEY.derive(Purpose.FIELD, "x") != OTHER_KEY.derive(Purpose.FIELD, "x")
    assert KEY.derive(Purpose.FIELD, "x") == KEY.derive(Purpose.FIELD, "x")


# --- the encoder on hand-made person records --------------------------------------------

def persons(rows: list[dict]) -> pd.DataFrame:
    """A person frame in PERSON_COLUMNS, through the DHS contract's normalization."""
    from data_contracts import PERSON_COLUMNS
    from data_contracts import normalize as nz

    df = pd.DataFrame(rows)
    first = nz.clean_name(df["first"])
    out = pd.DataFrame({
        "agency": "DHS", "record_id": [f"C{i:09d}" for i in range(len(df))],
        "record_kind": "primary", "line_number": np.arange(2, len(df) + 2),
        "family_group": "DHS:K00000001", "relationship": "HEAD",
        "first_name": first, "middle_name": pd.NA, "last_name": nz.clean_name(df["last"]),
        "name_suffix": pd.NA, "first_name_keys": nz.nickname_keys(first).to_numpy(),
        "alias_first_names": [()] * len(df), "alias_last_names": [()] * len(df),
        "dob": pd.to_datetime(df["dob"]), "sex": "M", "ssn": df.get("ssn", pd.NA),
        "ssn_status": np.where(pd.Series(df.get("ssn", [None] * len(df))).notna(), "ok",
                               "missing"),
        "addr_street": "12 MAIN ST", "addr_number": "12", "addr_street_name": "MAIN ST",
        "addr_unit": pd.NA, "addr_city": "BALTIMORE", "addr_state": "MD",
        "addr_zip5": "21217", "activity_date": pd.Timestamp("2026-11-01"),
        "agency_status": "SNAP",
    })
    for c in PERSON_COLUMNS:
        if c not in ("line_number", "dob", "activity_date", "first_name_keys",
                     "alias_first_names", "alias_last_names"):
            out[c] = out[c].astype(pd.StringDtype("pyarrow"))
    return out[list(PERSON_COLUMNS)]


P = persons([
    {"first": "José", "last": "Núñez", "dob": "1980-01-02", "ssn": "212551234"},
    {"first": "JOSE", "last": "NUNEZ", "dob": "1980-01-02", "ssn": "212551234"},
    {"first": "Jose\u0301", "last": "Nun\u0303ez", "dob": "1980-01-02", "ssn": "212551234"},
    {"first": "Mary", "last": "Smith", "dob": None, "ssn": None},
])


def test_encoding_is_deterministic_and_key_dependent() -> None:
    a = encode_extract(P, KEY, EncodingSettings(), CROSSWALK)
    b = encode_extract(P, KEY, EncodingSettings(), CROSSWALK)
    c = encode_extract(P, OTHER_KEY, EncodingSettings(), CROSSWALK)
    assert a.equals(b)
    for col in ("enc_first_name", "enc_last_name", "enc_dob", "enc_street"):
        same = [_dice(x, y) for x, y in zip(a[col].to_pylist(), c[col].to_pylist())
                if x is not None]
        assert max(same) < 0.75, col            # balanced filters of unrelated input ~0.5
    for col in ("blk_ssn", "blk_dob_name", "blk_name_area", "blk_address"):
        ta = {t for lst in a[col].to_pylist() for t in lst}
        tc = {t for lst in c[col].to_pylist() for t in lst}
        assert ta and not ta & tc, col
    assert a["family_tie"].to_pylist() != c["family_tie"].to_pylist()


def test_unicode_forms_of_one_name_encode_alike() -> None:
    plain = encode_extract(P, KEY, EncodingSettings(flip_fraction=0.0), CROSSWALK)
    for col in ("enc_first_name", "enc_last_name", "enc_first_keys", "blk_name_area",
                "blk_dob_name"):
        values = plain[col].to_pylist()[:3]
        assert values[0] == values[1] == values[2], col
    flipped = encode_extract(P, KEY, EncodingSettings(), CROSSWALK)
    f = flipped["enc_first_name"].to_pylist()
    assert f[0] != f[1]                     # record-level flips: equal names, other bits
    assert _dice(f[0], f[1]) > 0.9          # ... yet clearly the same name


def test_missing_values_are_marked_not_encoded() -> None:
    t = encode_extract(P, KEY, EncodingSettings(), CROSSWALK)
    row = {c: t[c][3].as_py() for c in t.column_names}
    assert row["enc_dob"] is None and row["enc_ssn"] is None
    assert row["enc_middle_name"] is None and row["enc_unit"] is None
    assert row["blk_ssn"] == [] and row["blk_dob_name"] == [] and row["blk_name_yob"] == []
    assert row["enc_first_name"] is not None and row["blk_name_area"]
    assert t["community"].to_pylist() == ["West Baltimore"] * 4


def test_fields_use_separate_subkeys() -> None:
    same = persons([{"first": "SMITH", "last": "SMITH", "dob": "1980-01-02"}])
    t = encode_extract(same, KEY, EncodingSettings(flip_fraction=0.0, balance=False),
                       CROSSWALK)
    assert _dice(t["enc_first_name"][0].as_py(), t["enc_last_name"][0].as_py()) < 0.5


def test_encoded_schema_is_the_declared_format(tmp_path: Path) -> None:
    from data_contracts.encoded import EncodedMeta, read_encoded, write_encoded

    s = EncodingSettings()
    t = encode_extract(P, KEY, s, CROSSWALK)
    path = write_encoded(t, EncodedMeta(KEY.key_id, "DHS", "20261125", s.describe(),
                                        s.sha256()), tmp_path / "encoded_DHS_20261125.parquet")
    back, meta = read_encoded(path)
    assert back.num_rows == 4 and meta.key_id == KEY.key_id
    assert meta.encoding["fields"]["first_name"]["bits"] == 512
    assert t.schema.field("enc_first_name").type == pa.binary(64)
    bad = t.append_column("first_name", pa.array(["JOSE"] * 4))
    with pytest.raises(SstError, match="unexpected column first_name"):
        write_encoded(bad, EncodedMeta(KEY.key_id, "DHS", "20261125", {}, ""),
                      tmp_path / "x.parquet")


def test_key_file_in_upper_case_hex_is_read(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    key = LinkageKey.generate(path)
    path.write_text(path.read_text().upper().replace("SST-LINKAGE-KEY-V1", "sst-linkage-key-v1"))
    assert LinkageKey.load(path).key_id == key.key_id
    assert not list(tmp_path.glob(".*.tmp"))


def test_birth_dates_before_1678_encode_from_a_date32_column() -> None:
    """pandas timestamps end at 1677; the linkage core takes a ``date32`` birth-date column
    as it is (historical and genealogical sets hold such dates), and encodes a date the
    same whichever type carried it. The contracts' timestamp columns encode as before."""
    import datetime as dt

    from linkage.compare import COMPARISON_NAMES, DOB_EXACT, DOB_GENERATION, compare

    frame = persons([dict(first="THOMAS", last="CHUDLEIGH", dob="1985-08-01"),
                     dict(first="THOMAS", last="CHUDLEIGH", dob="1985-08-01"),
                     dict(first="THOMAS", last="CHUDLEIGH", dob="1985-08-01"),
                     dict(first="THOMAS", last="CHUDLEIGH", dob="1985-08-01")])
    stamped = encode_extract(frame, KEY, EncodingSettings(), CROSSWALK)
    days = [dt.date(1630, 8, 1), dt.date(1630, 8, 1), dt.date(1985, 8, 1), None]
    frame["dob"] = pd.Series(pa.array(days, pa.date32()).to_pandas(types_mapper=pd.ArrowDtype))
    wide = encode_extract(frame, KEY, EncodingSettings(), CROSSWALK)
    assert wide["enc_dob"].null_count == 1 and wide["enc_yob"].null_count == 1
    assert wide["blk_dob_name"][0].as_py() == wide["blk_dob_name"][1].as_py() != []
    # 1985 from a date32 column carries the same tokens as from a timestamp column
    assert wide["blk_dob_name"][2].as_py() == stamped["blk_dob_name"][2].as_py()
    dob = compare(wide, np.array([0, 0]), np.array([1, 2]), EncodingSettings().describe())[
        :, COMPARISON_NAMES.index("dob")]
    assert dob.tolist() == [DOB_EXACT, DOB_GENERATION]

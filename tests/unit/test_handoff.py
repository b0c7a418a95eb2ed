"""The encrypted roster handoff: HPKE-wrapped file key, STREAM chunks, recipient keys, CLI."""

from __future__ import annotations

import hashlib
import os
import random
import stat
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from data_contracts import SstError
from pipeline.cli import app
from pipeline.handoff import (
    MAGIC,
    PASSPHRASE_ENV,
    HandoffError,
    RecipientKeys,
    decrypt_file,
    encrypt_csv,
    encrypt_frame,
    generate_recipient,
    public_key_fingerprint,
    read_passphrase,
)

runner = CliRunner()
HEADER_LEN = 112
COLUMNS = ["first_name", "last_name", "dob", "street", "city", "note"]
NAMES = ["José Ñúñez", "Zoë O'Brien", "Nguyễn Thị Minh", "Søren Kierkegård", "D'Andre Smith",
         "Anne-Marie Lévêque", "Żaneta Łukasiewicz"]


def _roster(n: int = 3000, seed: int = 5) -> pd.DataFrame:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        first, last = rng.choice(NAMES).split(" ", 1)
        rows.append({
            "first_name": first,
            "last_name": last,
            "dob": f"{rng.randint(1940, 2020)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "street": rng.choice([f"{i} Main St, Apt 4", '12 "Old" Mill Rd', "", "1 Elm\nUnit B",
                                  "PO Box 7\r\nRear"]),
            "city": rng.choice(["Baltimore", "Silver Spring", "", "NA", "null"]),
            "note": rng.choice(["", " leading space", "tab\there", "comma, and \"quote\"",
                                "ünïcødé ✓"]),
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _chunks(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every length-prefixed chunk of an encrypted roster."""
    spans, pos = [], HEADER_LEN
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        spans.append((pos, pos + 4 + length))
        pos += 4 + length
    assert pos == len(data)
    return spans


@pytest.fixture()
def keys(tmp_path: Path) -> dict[str, RecipientKeys]:
    return {"alice": generate_recipient("alice", tmp_path / "keys"),
            "bob": generate_recipient("bob.smith-2", tmp_path / "keys")}


@pytest.fixture()
def encrypted(tmp_path: Path, keys: dict[str, RecipientKeys]) -> tuple[pd.DataFrame, Path]:
    """A 3000-row roster encrypted to alice and bob in many small chunks."""
    frame = _roster()
    encrypt_frame(frame, {name: k.public_path for name, k in keys.items()},
                  tmp_path / "run", chunk_rows=250, chunk_size=4096)
    return frame, tmp_path / "run"


def _no_output(out: Path) -> None:
    assert not out.exists()
    assert list(out.parent.iterdir()) == [], "a temporary file was left behind"


# -------------------------------------------------------------------------- round trip


def test_round_trip_two_recipients_many_chunks(tmp_path: Path,
                                               keys: dict[str, RecipientKeys]) -> None:
    frame = _roster()
    recipients = {name: k.public_path for name, k in keys.items()}
    summary = encrypt_frame(frame, recipients, tmp_path / "run", chunk_rows=250,
                            chunk_size=2048)
    assert set(summary) == {"alice", "bob"}
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "identified_roster.alice.enc", "identified_roster.bob.enc"]
    (tmp_path / "plain").mkdir()
    for name, k in keys.items():
        s = summary[name]
        enc = tmp_path / "run" / s["file"]
        data = enc.read_bytes()
        assert s["file"] == f"identified_roster.{name}.enc"
        assert s["bytes"] == len(data)
        assert s["sha256"] == hashlib.sha256(data).hexdigest()
        assert s["fingerprint"] == k.fingerprint
        assert s["rows"] == len(frame)
        assert data.startswith(MAGIC)
        assert data[16:24].hex() == k.fingerprint
        assert int.from_bytes(data[24:28], "big") == 2048
        assert len(_chunks(data)) > 80
        out = tmp_path / "plain" / f"{name}.csv"
        assert decrypt_file(enc, k.private_path, out) == len(frame)
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        back = _read_csv(out)
        assert list(back.columns) == COLUMNS
        pd.testing.assert_frame_equal(back, frame)
    # each recipient gets its own file key and ephemeral key: the files differ everywhere
    a, b = ((tmp_path / "run" / summary[n]["file"]).read_bytes() for n in ("alice", "bob"))
    assert a[30:112] != b[30:112] and a[200:400] != b[200:400]


def test_ciphertext_holds_no_plaintext(encrypted: tuple[pd.DataFrame, Path]) -> None:
    _, run = encrypted
    for enc in run.iterdir():
        data = enc.read_bytes()
        for needle in ("José", "Ñúñez", "Kierkegård", "Baltimore", "Main St", "first_name"):
            assert needle.encode("utf-8") not in data


def test_encrypt_csv_streams_without_plaintext_on_disk(tmp_path: Path,
                                                       keys: dict[str, RecipientKeys]) -> None:
    frame = _roster(1200)
    run = tmp_path / "run"
    seen: list[list[str]] = []

    def frames() -> Iterator[pd.DataFrame]:
        for start in range(0, len(frame), 300):
            # while streaming: only the two temporary ciphertexts exist, holding no names
            if start:
                seen.append(sorted(p.name for p in run.iterdir()))
                for p in run.iterdir():
                    assert b"Baltimore" not in p.read_bytes()
            yield frame.iloc[start:start + 300]

    summary = encrypt_csv(frames(), {n: k.public_path for n, k in keys.items()}, run,
                          columns=COLUMNS, chunk_size=1024)
    assert seen and all(names == ["identified_roster.alice.enc.tmp",
                                  "identified_roster.bob.enc.tmp"] for names in seen)
    assert summary["alice"]["rows"] == 1200
    out = tmp_path / "alice.csv"
    assert decrypt_file(run / "identified_roster.alice.enc", keys["alice"].private_path,
                        out) == 1200
    pd.testing.assert_frame_equal(_read_csv(out), frame)


def test_extra_columns_dropped_and_order_kept(tmp_path: Path,
                                              keys: dict[str, RecipientKeys]) -> None:
    frame = _roster(50)
    frame["ssn"] = "123-45-6789"
    encrypt_frame(frame, {"alice": keys["alice"].public_path}, tmp_path / "run",
                  columns=["last_name", "first_name"])
    out = tmp_path / "out.csv"
    decrypt_file(tmp_path / "run" / "identified_roster.alice.enc", keys["alice"].private_path,
                 out)
    back = _read_csv(out)
    assert list(back.columns) == ["last_name", "first_name"]
    pd.testing.assert_frame_equal(back, frame[["last_name", "first_name"]])


def test_empty_roster_round_trips_to_header_only(tmp_path: Path,
                                                 keys: dict[str, RecipientKeys]) -> None:
    recipients = {"alice": keys["alice"].public_path}
    encrypt_frame(pd.DataFrame(columns=COLUMNS), recipients, tmp_path / "a")
    encrypt_csv(iter(()), recipients, tmp_path / "b", columns=COLUMNS)
    for folder in ("a", "b"):
        out = tmp_path / f"{folder}.csv"
        rows = decrypt_file(tmp_path / folder / "identified_roster.alice.enc",
                            keys["alice"].private_path, out)
        assert rows == 0
        assert out.read_bytes() == (",".join(COLUMNS) + "\r\n").encode()
        back = _read_csv(out)
        assert list(back.columns) == COLUMNS and len(back) == 0


def test_exact_multiple_of_chunk_size_has_nonempty_final_chunk(
        tmp_path: Path, keys: dict[str, RecipientKeys]) -> None:
    frame = pd.DataFrame({"a": ["x" * 13] * 64})       # header "a\r\n" + 64 * 15 = 963 bytes
    frame.loc[0, "a"] = "x" * 10                        # 960 = 10 chunks of 96
    encrypt_frame(frame, {"alice": keys["alice"].public_path}, tmp_path / "run",
                  chunk_size=96)
    data = (tmp_path / "run" / "identified_roster.alice.enc").read_bytes()
    spans = _chunks(data)
    assert len(spans) == 10
    assert [e - s - 4 - 16 for s, e in spans] == [96] * 10
    out = tmp_path / "out.csv"
    assert decrypt_file(tmp_path / "run" / "identified_roster.alice.enc",
                        keys["alice"].private_path, out) == 64


# ---------------------------------------------------------------------- wrong key, tamper


def test_other_recipients_key_fails_and_leaves_nothing(
        encrypted: tuple[pd.DataFrame, Path], keys: dict[str, RecipientKeys],
        tmp_path: Path) -> None:
    _, run = encrypted
    out = tmp_path / "plain" / "roster.csv"
    out.parent.mkdir()
    with pytest.raises(HandoffError) as info:
        decrypt_file(run / "identified_roster.alice.enc", keys["bob"].private_path, out)
    message = str(info.value)
    assert "wrong key" in message and keys["alice"].fingerprint in message
    assert "\n" not in message
    assert isinstance(info.value, SstError)
    _no_output(out)


def _tamper(data: bytes, how: str) -> bytes:
    spans = _chunks(data)
    if how == "drop_last_chunk":
        return data[:spans[-1][0]]
    if how == "drop_middle_chunk":
        s, e = spans[3]
        return data[:s] + data[e:]
    if how == "cut_mid_chunk":
        s, e = spans[5]
        return data[:(s + e) // 2]
    if how == "cut_in_length_prefix":
        return data[:spans[5][0] + 2]
    if how == "header_only":
        return data[:HEADER_LEN]
    if how == "cut_in_header":
        return data[:70]
    if how == "swap_chunks":
        (s2, e2), (s3, e3) = spans[2], spans[3]
        return data[:s2] + data[s3:e3] + data[s2:e2] + data[e3:]
    if how == "swap_with_last":
        (s1, e1), (sl, el) = spans[1], spans[-1]
        return data[:s1] + data[sl:el] + data[e1:sl] + data[s1:e1]
    if how == "append_chunk":
        s, e = spans[-1]
        return data + data[s:e]
    if how == "append_bytes":
        return data + b"\x00\x00\x00"
    if how.startswith("flip_"):
        pos = {"flip_body": spans[4][0] + 40, "flip_last_chunk": spans[-1][1] - 1,
               "flip_length_prefix": spans[4][0] + 3}[how]
        return data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1:]
    raise AssertionError(how)


@pytest.mark.parametrize("how,expected", [
    ("drop_last_chunk", "truncated (final chunk missing"),
    ("drop_middle_chunk", "authentication failed at chunk 4"),
    ("cut_mid_chunk", "truncated (inside chunk 6)"),
    ("cut_in_length_prefix", "truncated (inside chunk 6)"),
    ("header_only", "truncated (no chunks"),
    ("cut_in_header", "truncated (inside its header)"),
    ("swap_chunks", "authentication failed at chunk 3"),
    ("swap_with_last", "tampered"),
    ("append_chunk", "data after the final chunk"),
    ("append_bytes", "data after the final chunk"),
    ("flip_body", "authentication failed at chunk 5"),
    ("flip_last_chunk", "authentication failed at chunk"),
    ("flip_length_prefix", "chunk 5 has an invalid length"),
])
def test_damaged_body_is_detected(encrypted: tuple[pd.DataFrame, Path],
                                  keys: dict[str, RecipientKeys], tmp_path: Path,
                                  how: str, expected: str) -> None:
    _, run = encrypted
    _decrypt_fails(_tamper((run / "identified_roster.alice.enc").read_bytes(), how),
                   keys["alice"], tmp_path, expected)


def _decrypt_fails(data: bytes, key: RecipientKeys, tmp_path: Path, expected: str) -> None:
    """Decrypting ``data`` fails with ``expected`` in the one-line error, and no output."""
    bad = tmp_path / "bad.enc"
    bad.write_bytes(data)
    out = tmp_path / "plain" / "roster.csv"
    out.parent.mkdir()
    with pytest.raises(HandoffError) as info:
        decrypt_file(bad, key.private_path, out)
    assert expected in str(info.value)
    _no_output(out)


@pytest.mark.parametrize("offset,expected", [
    (0, "not an encrypted roster"),
    (9, "unsupported encrypted-roster format version"),
    (11, "unsupported HPKE suite"),
    (15, "unsupported HPKE suite"),
    (20, "tampered with (recipient fingerprint altered)"),
    (26, "authentication failed at chunk 1"),      # chunk size: a header field, in the aad
    (24, "chunk size"),                             # 4096 -> beyond 2**24
    (29, "header is damaged"),
    (40, "cannot unwrap the file key"),             # encapsulated key
    (63, "header is damaged"),
    (80, "cannot unwrap the file key"),             # wrapped file key
    (111, "cannot unwrap the file key"),
])
def test_flipped_header_byte_is_detected(encrypted: tuple[pd.DataFrame, Path],
                                         keys: dict[str, RecipientKeys], tmp_path: Path,
                                         offset: int, expected: str) -> None:
    _, run = encrypted
    data = bytearray((run / "identified_roster.alice.enc").read_bytes())
    data[offset] ^= 0x01
    _decrypt_fails(bytes(data), keys["alice"], tmp_path, expected)


def test_not_an_encrypted_roster(tmp_path: Path, keys: dict[str, RecipientKeys]) -> None:
    plain = tmp_path / "roster.csv"
    plain.write_text("first_name,last_name\r\nJosé,Ñúñez\r\n", encoding="utf-8")
    out = tmp_path / "plain" / "x.csv"
    out.parent.mkdir()
    with pytest.raises(HandoffError, match="not an encrypted roster") as info:
        decrypt_file(plain, keys["alice"].private_path, out)
    assert "José" not in str(info.value)
    with pytest.raises(HandoffError, match="missing"):
        decrypt_file(tmp_path / "nope.enc", keys["alice"].private_path, out)
    _no_output(out)


def test_decrypt_never_overwrites(encrypted: tuple[pd.DataFrame, Path],
                                  keys: dict[str, RecipientKeys], tmp_path: Path) -> None:
    _, run = encrypted
    out = tmp_path / "existing.csv"
    out.write_text("keep me")
    with pytest.raises(HandoffError, match="already exists"):
        decrypt_file(run / "identified_roster.alice.enc", keys["alice"].private_path, out)
    assert out.read_text() == "keep me"


def test_public_key_given_as_private_key(encrypted: tuple[pd.DataFrame, Path],
                                         keys: dict[str, RecipientKeys], tmp_path: Path) -> None:
    _, run = encrypted
    with pytest.raises(HandoffError, match="this is a public key"):
        decrypt_file(run / "identified_roster.alice.enc", keys["alice"].public_path,
                     tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


# -------------------------------------------------------------------------- recipient keys


def test_passphrase_protected_private_key(tmp_path: Path) -> None:
    k = generate_recipient("carol", tmp_path / "keys", passphrase=b"correct horse")
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in k.private_path.read_bytes()
    frame = _roster(40)
    encrypt_frame(frame, {"carol": k.public_path}, tmp_path / "run")
    enc = tmp_path / "run" / "identified_roster.carol.enc"
    (tmp_path / "plain").mkdir()
    out = tmp_path / "plain" / "roster.csv"
    with pytest.raises(HandoffError, match="protected by a passphrase and none was given"):
        decrypt_file(enc, k.private_path, out)
    _no_output(out)
    with pytest.raises(HandoffError, match="wrong passphrase") as info:
        decrypt_file(enc, k.private_path, out, passphrase=b"wrong horse")
    assert "horse" not in str(info.value)
    _no_output(out)
    assert decrypt_file(enc, k.private_path, out, passphrase=b"correct horse") == 40
    pd.testing.assert_frame_equal(_read_csv(out), frame)


def test_key_files_modes_formats_and_fingerprint(tmp_path: Path) -> None:
    k = generate_recipient("dana", tmp_path / "new" / "keys")
    assert k.private_path == tmp_path / "new" / "keys" / "dana.private.pem"
    assert k.public_path == tmp_path / "new" / "keys" / "dana.public.pem"
    assert stat.S_IMODE(k.private_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(k.public_path.stat().st_mode) == 0o644
    assert k.private_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert k.public_path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    public = serialization.load_pem_public_key(k.public_path.read_bytes())
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert k.fingerprint == hashlib.sha256(raw).hexdigest()[:16]
    assert public_key_fingerprint(k.public_path) == k.fingerprint
    private = serialization.load_pem_private_key(k.private_path.read_bytes(), None)
    assert private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw) == raw


def test_private_key_mode_ignores_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        k = generate_recipient("eve", tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(k.private_path.stat().st_mode) == 0o600


def test_keygen_refuses_to_overwrite(tmp_path: Path) -> None:
    k = generate_recipient("frank", tmp_path)
    before = k.private_path.read_bytes()
    with pytest.raises(HandoffError, match="already exists"):
        generate_recipient("frank", tmp_path)
    assert k.private_path.read_bytes() == before
    (tmp_path / "gina.public.pem").write_text("someone else's")
    with pytest.raises(HandoffError, match="already exists"):
        generate_recipient("gina", tmp_path)
    assert not (tmp_path / "gina.private.pem").exists()
    assert (tmp_path / "gina.public.pem").read_text() == "someone else's"


@pytest.mark.parametrize("name", ["", "../evil", "a/b", ".hidden", "-dash", "x" * 65,
                                  "sp ace", "é"])
def test_bad_recipient_name_rejected(tmp_path: Path, name: str) -> None:
    with pytest.raises(HandoffError, match="invalid recipient name"):
        generate_recipient(name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_bad_recipient_name_rejected_on_encrypt(tmp_path: Path,
                                                keys: dict[str, RecipientKeys]) -> None:
    with pytest.raises(HandoffError, match="invalid recipient name"):
        encrypt_frame(_roster(5), {"../x": keys["alice"].public_path}, tmp_path / "run")


def test_encrypt_failures_leave_no_files(tmp_path: Path, keys: dict[str, RecipientKeys]) -> None:
    run = tmp_path / "run"
    recipients = {n: k.public_path for n, k in keys.items()}
    with pytest.raises(HandoffError, match="lacks column"):
        encrypt_csv([_roster(10), _roster(10).drop(columns=["dob"])], recipients, run,
                    columns=COLUMNS)
    assert list(run.iterdir()) == []
    with pytest.raises(HandoffError, match="not a public key"):
        encrypt_frame(_roster(5), {"alice": keys["alice"].private_path}, tmp_path / "r2")
    with pytest.raises(HandoffError, match="no recipients"):
        encrypt_frame(_roster(5), {}, tmp_path / "r3")
    with pytest.raises(HandoffError, match="public key file is missing"):
        encrypt_frame(_roster(5), {"x": tmp_path / "missing.pem"}, tmp_path / "r4")


def test_read_passphrase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "pass.txt"
    f.write_bytes(b"s3cret phrase\r\n")
    monkeypatch.setenv(PASSPHRASE_ENV, "from-env")
    assert read_passphrase(f) == b"s3cret phrase"
    assert read_passphrase(None) == b"from-env"
    assert read_passphrase(None, use_env=False) is None
    monkeypatch.delenv(PASSPHRASE_ENV)
    assert read_passphrase(None) is None
    f.write_bytes(b"\n")
    with pytest.raises(HandoffError, match="empty"):
        read_passphrase(f)


# -------------------------------------------------------------------------------- CLI


def test_cli_help() -> None:
    for command, option in (("recipient-keygen", "--passphrase-file"), ("decrypt", "--in")):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0 and option in result.output
    assert "recipient-keygen" in runner.invoke(app, ["--help"]).output


def test_cli_keygen_then_decrypt(tmp_path: Path) -> None:
    result = runner.invoke(app, ["recipient-keygen", "--name", "harriet",
                                 "--out", str(tmp_path / "keys")])
    assert result.exit_code == 0, result.output
    private = tmp_path / "keys" / "harriet.private.pem"
    public = tmp_path / "keys" / "harriet.public.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert public_key_fingerprint(public) in result.output
    assert "[handoff.recipients]" in result.output and str(public) in result.output

    frame = _roster(500)
    encrypt_frame(frame, {"harriet": public}, tmp_path / "run", chunk_rows=100)
    out = tmp_path / "roster.csv"
    result = runner.invoke(app, ["decrypt", "--in",
                                 str(tmp_path / "run" / "identified_roster.harriet.enc"),
                                 "--key", str(private), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "500 rows written" in result.output
    pd.testing.assert_frame_equal(_read_csv(out), frame)

    again = runner.invoke(app, ["recipient-keygen", "--name", "harriet",
                                "--out", str(tmp_path / "keys")])
    assert again.exit_code == 2 and "already exists" in again.stderr


def test_cli_decrypt_wrong_key_is_one_line_exit_2(encrypted: tuple[pd.DataFrame, Path],
                                                  keys: dict[str, RecipientKeys],
                                                  tmp_path: Path) -> None:
    _, run = encrypted
    out = tmp_path / "plain" / "roster.csv"
    out.parent.mkdir()
    result = runner.invoke(app, ["decrypt", "--in", str(run / "identified_roster.alice.enc"),
                                 "--key", str(keys["bob"].private_path), "--out", str(out)])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "wrong key" in lines[0] and keys["alice"].fingerprint in lines[0]
    assert str(keys["bob"].private_path) in lines[0]
    assert "Traceback" not in result.output
    _no_output(out)


def test_cli_passphrase_from_file_and_env(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    pass_file = tmp_path / "pass.txt"
    pass_file.write_text("open sesame\n")
    result = runner.invoke(app, ["recipient-keygen", "--name", "ivan", "--out",
                                 str(tmp_path / "keys"), "--passphrase-file", str(pass_file)])
    assert result.exit_code == 0, result.output
    private = tmp_path / "keys" / "ivan.private.pem"
    assert b"ENCRYPTED" in private.read_bytes()
    encrypt_frame(_roster(20), {"ivan": tmp_path / "keys" / "ivan.public.pem"}, tmp_path / "run")
    enc = str(tmp_path / "run" / "identified_roster.ivan.enc")

    result = runner.invoke(app, ["decrypt", "--in", enc, "--key", str(private),
                                 "--out", str(tmp_path / "a.csv")])
    assert result.exit_code == 2 and PASSPHRASE_ENV in result.stderr
    result = runner.invoke(app, ["decrypt", "--in", enc, "--key", str(private),
                                 "--out", str(tmp_path / "b.csv"),
                                 "--passphrase-file", str(pass_file)])
    assert result.exit_code == 0 and "20 rows written" in result.output
    monkeypatch.setenv(PASSPHRASE_ENV, "open sesame")
    result = runner.invoke(app, ["decrypt", "--in", enc, "--key", str(private),
                                 "--out", str(tmp_path / "c.csv")])
    assert result.exit_code == 0 and "20 rows written" in result.output
    monkeypatch.setenv(PASSPHRASE_ENV, "wrong")
    result = runner.invoke(app, ["decrypt", "--in", enc, "--key", str(private),
                                 "--out", str(tmp_path / "d.csv")])
    assert result.exit_code == 2 and "wrong passphrase" in result.stderr
    assert not (tmp_path / "a.csv").exists() and not (tmp_path / "d.csv").exists()

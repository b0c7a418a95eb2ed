"""Format version 2 of the encrypted roster: signed by the pipeline's Ed25519 key, carrying
its run and night. A recipient who pins the pipeline's public key refuses a forged, altered,
truncated, reordered or unsigned file with one line, and sees which night a file is from."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from pipeline.handoff import (
    HandoffError,
    decrypt_roster,
    encrypt_frame,
    generate_recipient,
    generate_signing_key,
    load_signer,
    signing_key_fingerprint,
)

ROSTER = pd.DataFrame({"first_name": ["ANA", "JOSÉ", "LI"] * 400,
                       "last_name": ["DIAZ", "NÚÑEZ", "WEI"] * 400,
                       "dob": ["1980-01-02", "1975-05-06", "2001-09-10"] * 400})


@pytest.fixture()
def setup(tmp_path: Path) -> dict:
    alice = generate_recipient("alice", tmp_path / "keys")
    signing, public, fp = generate_signing_key(tmp_path / "keys" / "pipeline.key")
    other, other_public, _ = generate_signing_key(tmp_path / "keys" / "intruder.key")
    return {"tmp": tmp_path, "alice": alice, "signing": signing, "public": public, "fp": fp,
            "other": other, "other_public": other_public}


def _encrypt(s: dict, out: str, key: Path | None, run_id: str = "20261125T020000-ab12",
             night: str = "20261125", chunk_size: int = 1000) -> Path:
    folder = s["tmp"] / out
    signer = load_signer(key, run_id, night) if key else None
    encrypt_frame(ROSTER, {"alice": s["alice"].public_path}, folder, chunk_rows=250,
                  chunk_size=chunk_size, signer=signer)
    return folder / "identified_roster.alice.enc"


def _decrypt(s: dict, path: Path, sender: Path | None, name: str = "out.csv"):
    return decrypt_roster(path, s["alice"].private_path, s["tmp"] / name, None, sender)


def test_signed_roster_round_trips_and_names_its_run(setup: dict) -> None:
    path = _encrypt(setup, "run", setup["signing"])
    got = _decrypt(setup, path, setup["public"])
    assert (got.rows, got.version, got.authenticated) == (len(ROSTER), 2, True)
    assert (got.night, got.run_id, got.recipient) == ("20261125", "20261125T020000-ab12",
                                                      "alice")
    assert got.signer == setup["fp"] == signing_key_fingerprint(setup["public"])
    back = pd.read_csv(setup["tmp"] / "out.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(back, ROSTER)
    assert stat.S_IMODE(os.stat(setup["signing"]).st_mode) == 0o600


def _refused(setup: dict, path: Path, sender: Path | None, match: str) -> None:
    with pytest.raises(HandoffError, match=match) as err:
        _decrypt(setup, path, sender, "refused.csv")
    assert "\n" not in str(err.value)
    assert not (setup["tmp"] / "refused.csv").exists()
    assert not [p for p in setup["tmp"].iterdir() if p.name.endswith(".tmp")]


def test_a_roster_signed_with_another_key_is_refused(setup: dict) -> None:
    forged = _encrypt(setup, "forged", setup["other"])
    _refused(setup, forged, setup["public"], "signed by another key")


def test_an_unsigned_roster_is_refused_once_the_pipeline_key_is_pinned(setup: dict) -> None:
    """Anyone holding alice's public key can make a version 1 file that decrypts."""
    unsigned = _encrypt(setup, "v1", None)
    _refused(setup, unsigned, setup["public"], "not signed")
    got = _decrypt(setup, unsigned, None, "old.csv")        # still readable, as such
    assert (got.version, got.authenticated, got.night) == (1, False, None)


def test_a_signed_roster_needs_the_pinned_key(setup: dict) -> None:
    _refused(setup, _encrypt(setup, "run", setup["signing"]), None, "pin its public key")


@pytest.mark.parametrize("damage, match", [
    ("flip_body", "tampered"),
    ("flip_signature", "signature does not verify"),
    ("swap_signature", "signature does not verify"),
    ("drop_signature", "truncated"),
    ("drop_last_chunk", "truncated|tampered"),
    ("reorder", "tampered"),
    ("append", "after the signature"),
    ("night_in_header", "tampered"),
])
def test_altered_truncated_or_reordered_files_are_refused(setup: dict, damage: str,
                                                          match: str) -> None:
    path = _encrypt(setup, "run", setup["signing"])
    data = bytearray(path.read_bytes())
    header_len = 112 + 10 + int.from_bytes(data[120:122], "big")
    spans, pos = [], header_len
    while data[pos:pos + 4] != b"\0\0\0\0":
        n = int.from_bytes(data[pos:pos + 4], "big")
        spans.append((pos, pos + 4 + n))
        pos += 4 + n
    trailer = pos
    assert len(spans) > 3 and len(data) == trailer + 4 + 2 + 64
    if damage == "flip_body":
        data[spans[1][0] + 10] ^= 1
    elif damage == "flip_signature":
        data[-1] ^= 1
    elif damage == "swap_signature":      # a valid signature of another file
        other = _encrypt(setup, "other", setup["signing"], run_id="20261124T020000-cd34")
        data[-64:] = other.read_bytes()[-64:]
    elif damage == "drop_signature":
        del data[trailer:]
    elif damage == "drop_last_chunk":
        del data[spans[-1][0]:trailer]
    elif damage == "reorder":
        a, b = spans[0], spans[1]
        data[a[0]:b[1]] = data[b[0]:b[1]] + data[a[0]:a[1]]
    elif damage == "append":
        data += b"more"
    elif damage == "night_in_header":
        i = data.index(b"20261125", 122)
        data[i:i + 8] = b"20261126"
    path.write_bytes(bytes(data))
    _refused(setup, path, setup["public"], match)


def test_a_replayed_older_night_shows_as_such(setup: dict) -> None:
    """A valid roster of an earlier night still verifies (it is genuine), and says which
    night and run it is from, so a recipient notices it is not tonight's."""
    old = _encrypt(setup, "old", setup["signing"], run_id="20261120T020000-0001",
                   night="20261120")
    got = _decrypt(setup, old, setup["public"])
    assert (got.night, got.run_id, got.authenticated) == ("20261120", "20261120T020000-0001",
                                                          True)


def test_signing_key_files_refuse_overwrite_and_loose_modes(setup: dict) -> None:
    with pytest.raises(HandoffError, match="already exists"):
        generate_signing_key(setup["signing"])
    os.chmod(setup["signing"], 0o644)
    with pytest.raises(HandoffError, match="readable by others"):
        load_signer(setup["signing"], "r", "n")
    with pytest.raises(HandoffError, match="not an Ed25519 signing key"):
        load_signer(setup["alice"].private_path, "r", "n")


def test_cli_keygen_signing_and_decrypt_say_who_signed_and_which_night(setup: dict) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app

    runner = CliRunner()
    made = runner.invoke(app, ["keygen", "--signing", "--out", str(setup["tmp"] / "p.key")])
    assert made.exit_code == 0 and "p.public.pem" in made.output
    assert (setup["tmp"] / "p.public.pem").is_file()
    path = _encrypt(setup, "run", setup["signing"])
    args = ["decrypt", "--in", str(path), "--key", str(setup["alice"].private_path)]
    ok = runner.invoke(app, [*args, "--out", str(setup["tmp"] / "a.csv"), "--sender-key",
                             str(setup["public"])])
    assert ok.exit_code == 0
    assert "signed by the pipeline" in ok.output and "night 20261125" in ok.output
    assert "run 20261125T020000-ab12" in ok.output
    wrong = runner.invoke(app, [*args, "--out", str(setup["tmp"] / "b.csv"), "--sender-key",
                                str(setup["other_public"])])
    assert wrong.exit_code == 2 and "signed by another key" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1
    old = runner.invoke(app, ["decrypt", "--in", str(_encrypt(setup, "v1", None)), "--key",
                              str(setup["alice"].private_path), "--out",
                              str(setup["tmp"] / "c.csv")])
    assert old.exit_code == 0 and "NOT AUTHENTICATED" in old.output

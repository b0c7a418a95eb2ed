"""Settings loading and the complete-or-absent run folder."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from data_contracts import ConfigError, RunFolderError
from pipeline.config import DEFAULT_CONFIG, load_settings
from pipeline.run_folder import RunFolder


def test_defaults_round_trip_and_override(tmp_path: Path) -> None:
    base = load_settings()
    assert base.ingest.quarantine_limit == 0.05
    cfg = tmp_path / "c.toml"
    cfg.write_text('[ingest]\nquarantine_limit = 0.1\nplaceholder_ssns = ["111111111"]\n')
    s = load_settings(cfg)
    assert s.ingest.quarantine_limit == 0.1
    assert s.ingest.placeholder_ssns == ("111111111",)
    assert s.ingest.earliest_dob == base.ingest.earliest_dob       # untouched keys stay
    assert json.loads(json.dumps(s.to_dict()))["ingest"]["quarantine_limit"] == 0.1
    assert s.sha256() != base.sha256()


@pytest.mark.parametrize("text,fragment", [
    ("[ingest]\nquarantin_limit = 0.1\n", "unknown setting ingest.quarantin_limit"),
    ("[ingets]\n", "unknown table [ingets]"),
    ('[ingest]\nquarantine_limit = "5%"\n', "ingest.quarantine_limit has the wrong type"),
    ("[ingest]\nquarantine_limit = 5\n", "between 0 and 1"),
    ("[ingest\n", "not valid TOML"),
    ("[handoff]\nchunk_rows = 1000.0\n", "handoff.chunk_rows must be a whole number"),
    ('[handoff.recipients]\nbob = "/nonexistent/bob.public.pem"\n',
     "handoff.recipients.bob: recipient 'bob': /nonexistent/bob.public.pem: public key file"),
    ('[handoff.recipients]\n"b o b" = "x.pem"\n', "invalid recipient name 'b o b'"),
])
def test_bad_config_is_one_clear_line(tmp_path: Path, text: str, fragment: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_settings(cfg)
    assert fragment in str(exc.value) and "\n" not in str(exc.value)


def test_every_default_setting_is_documented() -> None:
    lines = DEFAULT_CONFIG.read_text().splitlines()
    for table, values in load_settings().to_dict().items():
        for key, value in values.items():
            if isinstance(value, dict):          # a sub-table: header, comment, every key
                at = lines.index(f"[{table}.{key}]")
                assert lines[at + 1].startswith("#"), f"[{table}.{key}] has no comment"
                for sub in value:
                    assert any(l.startswith(f"{sub} =") for l in lines[at:]), f"{key}.{sub}"
                continue
            line = next(i for i, l in enumerate(lines) if l.startswith(f"{key} ="))
            assert lines[line - 1].startswith("#"), f"{table}.{key} has no comment"


def test_run_folder_is_complete_or_absent(tmp_path: Path) -> None:
    with pytest.raises(ZeroDivisionError):
        with RunFolder(tmp_path, "20261125") as run:
            (run.partial / "quarantine.csv").write_text("x\n")
            assert stat.S_IMODE(run.staging.stat().st_mode) == 0o700
            raise ZeroDivisionError("a stage failed")
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == []
    assert not list(tmp_path.glob(".*.partial"))
    with RunFolder(tmp_path, "20261125") as run:
        (run.partial / "quarantine.csv").write_text("x\n")
        final = run.commit({"run_id": run.run_id})
    assert final.name.startswith("20261125-") and (final / "manifest.json").exists()
    manifest = json.loads((final / "manifest.json").read_text())
    assert manifest["outputs"]["quarantine.csv"]["bytes"] == 2
    assert not run.staging.exists()


def test_second_run_into_same_root_is_refused(tmp_path: Path) -> None:
    with RunFolder(tmp_path, "20261125"):
        with pytest.raises(RunFolderError, match="another run is writing"):
            with RunFolder(tmp_path, "20261125", lock_wait_seconds=0.2):
                pass


def test_leftovers_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    stale = tmp_path / ".20261124-20261124T020000Z-abcdef.partial"
    stale.mkdir(parents=True)
    (stale / "quarantine.csv").write_text("x\n")
    with RunFolder(tmp_path, "20261125") as run:
        run.commit({})
    assert not stale.exists()


def test_newest_complete_night_is_chosen(tmp_path: Path) -> None:
    from data_contracts import find_extracts

    for name in ("dhs_clients_20261125.csv", "djs_youth_20261125.txt",
                 "dpscs_offenders_20261125.parquet", "dhs_clients_20261126.csv"):
        (tmp_path / name).write_text("x")
    night, paths = find_extracts(tmp_path)
    assert night == "20261125" and paths["DJS"].name == "djs_youth_20261125.txt"
    (tmp_path / "djs_youth_20261125.txt").unlink()
    assert find_extracts(tmp_path)[0] == "20261126"     # none complete: newest, named


def test_a_night_encoded_with_two_keys_is_refused() -> None:
    from data_contracts.errors import EncodedFormatError
    from pipeline.nightly import check_same_key

    check_same_key([{"agency": "DHS", "key_id": "k1-a"}, {"agency": "DJS", "key_id": "k1-a"}])
    with pytest.raises(EncodedFormatError, match="DJS k1-b"):
        check_same_key([{"agency": "DHS", "key_id": "k1-a"},
                        {"agency": "DJS", "key_id": "k1-b"}])


def test_agency_staging_is_private_outside_the_outbox_and_cleaned(tmp_path: Path) -> None:
    from pipeline.nightly import agency_staging

    outbox = tmp_path / "outbox"
    outbox.mkdir()
    stale = tmp_path / ".sst-agency-side" / "999999999-dead"
    stale.mkdir(parents=True)
    with agency_staging(outbox) as staging:
        assert staging.parent == tmp_path / ".sst-agency-side"
        assert stat.S_IMODE(staging.stat().st_mode) == 0o700
        assert not stale.exists()
    assert not staging.exists() and list(outbox.iterdir()) == []


def test_a_changed_linkage_key_stops_the_night_unless_the_rotation_is_declared(
        tmp_path: Path) -> None:
    """Encodings under another key cannot be compared with last night's; the run says so
    in one line naming both key ids, and goes on when the steward declares the rotation
    from the last run's key."""
    import json

    from data_contracts import RunFolderError
    from pipeline.nightly import check_key_continuity

    root = tmp_path / "runs"
    assert check_key_continuity(root, "20261125", "k1-aaaa") is None      # no root yet
    run = root / "20261124-20261125T070000Z-abc123"
    run.mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"linkage_key_id": "k1-aaaa"}))
    (root / "20261124-20261125T080000Z-partial").mkdir()                  # no manifest
    assert check_key_continuity(root, "20261125", "k1-aaaa") == "k1-aaaa"
    with pytest.raises(RunFolderError, match=r"linkage key changed since the last run "
                                             r"\(k1-aaaa -> k1-bbbb\)") as err:
        check_key_continuity(root, "20261125", "k1-bbbb")
    assert "--key-rotated-from k1-aaaa" in err.value.one_line()
    assert "\n" not in err.value.one_line()
    assert check_key_continuity(root, "20261125", "k1-bbbb", "k1-aaaa") == "k1-aaaa"
    with pytest.raises(RunFolderError, match="linkage key changed"):
        check_key_continuity(root, "20261125", "k1-bbbb", "k1-zzzz")      # the wrong old key
    with pytest.raises(RunFolderError, match="already used this key"):
        check_key_continuity(root, "20261125", "k1-aaaa", "k1-aaaa")

"""What a night delivers (roster, counts, encrypted handoff, manifest) over two nights, and
a run killed mid-way.

One module-scoped pair of runs (the small night and the same population three nights on)
feeds most tests: each run takes a few seconds on the session's Prefect test server.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from pii import found_in, pii_values, prefect_database_files, searchable

from data_contracts.communities import OTHER_MARYLAND, OUT_OF_STATE, UNKNOWN
from pipeline import handoff, suppression
from pipeline.nightly import published_communities
from pipeline.roster import ROSTER_SCHEMA
from pipeline.run_folder import ID_STATE, ROSTER

pytestmark = pytest.mark.e2e

NIGHTS = ("20261125", "20261128")
SEED = 11
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def two_nights(tmp_path_factory: pytest.TempPathFactory, prefect_harness) -> dict:
    """Two consecutive synthetic nights run into one output root, with two recipients."""
    from flows import nightly_linkage
    from pipeline.synth import generate_night

    base = tmp_path_factory.mktemp("two_nights")
    keys = base / "keys"
    keys.mkdir()
    staff = {n: handoff.generate_recipient(n, keys) for n in ("navigator_a", "navigator_b")}
    outsider = handoff.generate_recipient("outsider", keys)
    signing, pipeline_public, _ = handoff.generate_signing_key(keys / "pipeline.key")
    config = base / "config.toml"
    config.write_text(f'[handoff]\nchunk_rows = 100\nsigning_key = "{signing}"\n'
                      "[handoff.recipients]\n" + "".join(
                          f'{n} = "{k.public_path}"\n' for n, k in staff.items()))
    out = base / "runs"
    runs, extracts = {}, {}
    handler = _Capture()
    logging.getLogger().addHandler(handler)
    try:
        for night in NIGHTS:
            extracts[night] = base / night
            generate_night(extracts[night], seed=SEED, scale="small", night=night)
            runs[night] = Path(nightly_linkage(str(extracts[night]), str(out), night=night,
                                               config=str(config))["run_dir"])
    finally:
        logging.getLogger().removeHandler(handler)
    return {"runs": runs, "extracts": extracts, "staff": staff, "outsider": outsider,
            "out": out, "config": config, "logs": "\n".join(handler.lines).encode(),
            "pipeline_public": pipeline_public}


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def _truth(extracts: Path) -> pd.DataFrame:
    return pd.read_parquet(extracts / "truth" / "records.parquet")


def test_run_folder_holds_every_output(two_nights: dict) -> None:
    run = two_nights["runs"][NIGHTS[1]]
    assert sorted(p.name for p in run.iterdir()) == sorted([
        "community_counts.csv", ID_STATE, "identified_roster.navigator_a.enc",
        "identified_roster.navigator_b.enc", "linkage_model.json", "linkage_pairs.parquet",
        "linkage_records.parquet", "manifest.json", "match_quality.html", "match_quality.json",
        "quarantine.csv", ROSTER])
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["stages"] == ["ingest", "encode", "audit", "link", "publish", "handoff",
                                  "report"]
    assert manifest["outputs"]["match_quality.html"]["sha256"]
    for name in ("community_counts.csv", ROSTER, ID_STATE, "identified_roster.navigator_a.enc"):
        assert len(manifest["outputs"][name]["sha256"]) == 64
    assert manifest["linkage_key_id"].startswith("k1-")
    assert manifest["roster"]["previous_run"] == two_nights["runs"][NIGHTS[0]].name
    assert manifest["identified_roster"]["navigator_b"]["fingerprint"] == \
        handoff.public_key_fingerprint(two_nights["staff"]["navigator_b"].public_path)


def test_roster_is_the_multi_system_records(two_nights: dict) -> None:
    run = two_nights["runs"][NIGHTS[0]]
    roster = pq.read_table(run / ROSTER)
    assert roster.schema.remove_metadata() == ROSTER_SCHEMA
    r = roster.to_pandas()
    linked = pd.read_parquet(run / "linkage_records.parquet")
    multi = linked[linked["multi_system"]]
    assert sorted(zip(r["agency"], r["record_id"], strict=True)) == sorted(
        zip(multi["agency"], multi["record_id"], strict=True))
    assert r.groupby("family_id")["systems"].nunique().max() == 1
    assert set(r["systems"]) <= set(suppression.SYSTEMS_COMBINATIONS)
    assert r["link_probability"].between(0, 1).all()
    # the agencies' own ids, exact text (DPSCS sids keep their leading zeros)
    truth = _truth(two_nights["extracts"][NIGHTS[0]])
    assert set(zip(r["agency"], r["record_id"], strict=True)) <= set(
        zip(truth["agency"], truth["record_id"], strict=True))
    assert r["record_id"][r["agency"] == "DPSCS"].str.match(r"^0").any()
    # one person id never spans two families
    assert r.groupby("person_id")["family_id"].nunique().max() == 1


def test_family_ids_are_stable_from_night_to_night(two_nights: dict) -> None:
    frames = []
    for night in NIGHTS:
        r = pq.read_table(two_nights["runs"][night] / ROSTER).to_pandas()
        frames.append(r.merge(_truth(two_nights["extracts"][night])[
            ["agency", "record_id", "family_key"]], on=["agency", "record_id"]))
    both = frames[0].merge(frames[1], on=["agency", "record_id"], suffixes=("_1", "_2"))
    stay = both[both["family_key_1"] == both["family_key_2"]]
    assert len(stay) > 200
    kept = (stay["family_id_1"] == stay["family_id_2"]).mean()
    assert kept >= 0.98, f"only {kept:.3f} of the records that stayed kept their family_id"


def test_community_counts_are_suppressed_and_undeterminable(two_nights: dict) -> None:
    for night in NIGHTS:
        run = two_nights["runs"][night]
        csv = pd.read_csv(run / "community_counts.csv", dtype=str, keep_default_na=False)
        assert list(csv.columns) == ["community", "systems", "families", "suppressed"]
        published = csv[csv["suppressed"] == "false"]
        assert (published["families"].astype(int) >= 11).all()
        assert (csv.loc[csv["suppressed"] == "true", "families"] == "").all()
        # the true table from the roster: published cells are exact ...
        roster = pq.read_table(run / ROSTER).to_pandas().drop_duplicates("family_id")
        communities = published_communities(ROOT / "configs" / "communities.csv")
        assert communities[-3:] == [OTHER_MARYLAND, OUT_OF_STATE, UNKNOWN]
        table = suppression.community_table(roster, communities)
        # every community has its five rows, a fallback without families too
        assert set(csv["community"]) == set(communities) and len(csv) == 5 * len(communities)
        merged = csv.merge(table, on=["community", "systems"], suffixes=("", "_true"))
        assert len(merged) == len(csv) == len(table)
        pub = merged[merged["suppressed"] == "false"]
        assert (pub["families"].astype(int) == pub["families_true"]).all()
        # ... and no withheld cell can be worked out from them and the statewide totals
        withheld = suppression.suppress(table, 11)
        ranges = suppression.audit(withheld, suppression.statewide_totals(table))
        assert len(ranges) == int((csv["suppressed"] == "true").sum()) > 0
        assert (ranges["high"] - ranges["low"] >= 1).all()


def test_identified_roster_decrypts_for_each_recipient_only(two_nights: dict,
                                                            tmp_path: Path) -> None:
    run = two_nights["runs"][NIGHTS[0]]
    roster = pq.read_table(run / ROSTER).to_pandas()
    dhs = pd.read_csv(next(two_nights["extracts"][NIGHTS[0]].glob("dhs_clients_*.csv")),
                      dtype=str, keep_default_na=False, encoding="utf-8",
                      encoding_errors="replace", on_bad_lines="skip")
    manifest = json.loads((run / "manifest.json").read_text())
    for name, keys in two_nights["staff"].items():
        out = tmp_path / f"{name}.csv"
        got_file = handoff.decrypt_roster(run / f"identified_roster.{name}.enc",
                                          keys.private_path, out,
                                          sender_key_path=two_nights["pipeline_public"])
        rows = got_file.rows
        # signed by the pipeline, naming tonight's run, as the manifest says
        assert got_file.authenticated and got_file.night == NIGHTS[0]
        assert got_file.run_id == manifest["run_id"]
        assert manifest["identified_roster"][name]["signed_by"] == got_file.signer
        assert manifest["identified_roster"][name]["format_version"] == 2
        got = pd.read_csv(out, dtype=str, keep_default_na=False)
        assert rows == len(got) == len(roster)
        assert sorted(zip(got["family_id"], got["person_id"], got["agency"], got["record_id"],
                          strict=True)) == sorted(zip(
            roster["family_id"], roster["person_id"], roster["agency"], roster["record_id"],
            strict=True))
        assert (got["last_name"] != "").mean() > 0.95
        # the DHS rows carry the client's own birth date and surname from the extract
        d = got[got["agency"] == "DHS"].merge(dhs, left_on="record_id", right_on="client_id",
                                              suffixes=("", "_raw"))
        assert len(d) > 20
        assert (pd.to_datetime(d["dob_raw"], format="%m/%d/%Y", errors="coerce")
                .dt.strftime("%Y-%m-%d") == d["dob"]).mean() > 0.95
        assert (d["last_name_raw"].str.upper().str.replace(r"[^A-Z]", "", regex=True)
                == d["last_name"].str.replace(r"[^A-Z]", "", regex=True)).mean() > 0.8
    stranger = tmp_path / "stranger.csv"
    with pytest.raises(handoff.HandoffError):
        handoff.decrypt_file(run / "identified_roster.navigator_a.enc",
                             two_nights["outsider"].private_path, stranger)
    with pytest.raises(handoff.HandoffError):
        handoff.decrypt_file(run / "identified_roster.navigator_a.enc",
                             two_nights["staff"]["navigator_b"].private_path, stranger)
    assert not stranger.exists()


def test_no_input_value_in_outputs_logs_or_prefect_database(two_nights: dict) -> None:
    needles: set[bytes] = set()
    for night in NIGHTS:
        needles |= pii_values(two_nights["extracts"][night])
    assert len(needles) > 1000
    searched = [p for run in two_nights["runs"].values() for p in run.iterdir()
                if p.suffix != ".enc"]
    searched += [p for p in two_nights["out"].rglob("*") if p.is_file()
                 and p.suffix != ".enc" and p not in searched]
    searched += prefect_database_files()
    assert any(p.name == ROSTER for p in searched) and any(p.suffix == ".db" for p in searched)
    for path in searched:
        assert not found_in(needles, searchable(path).upper()), f"{path.name} holds input values"
    assert two_nights["logs"].count(b"\n") > 10
    assert not found_in(needles, two_nights["logs"].upper()), "the logs hold input values"
    # the encrypted files do hold them, but only as ciphertext
    enc = (two_nights["runs"][NIGHTS[0]] / "identified_roster.navigator_a.enc").read_bytes()
    assert not found_in(needles, enc.upper())


def _flow_process(extracts: Path, out: Path, config: Path, night: str) -> subprocess.Popen:
    """``sst-link run`` in its own process group, on the session's Prefect server (with
    --force: the night is already published)."""
    from prefect.settings import get_current_settings

    env = {**os.environ, "PREFECT_API_URL": str(get_current_settings().api.url)}
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "run", "--extracts", str(extracts), "--out",
         str(out), "--night", night, "--config", str(config), "--force"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def test_a_killed_run_leaves_nothing_finished_and_a_rerun_gives_the_same_roster(
        two_nights: dict) -> None:
    out, night = two_nights["out"], NIGHTS[1]
    before = {p.name for p in out.iterdir()}
    proc = _flow_process(two_nights["extracts"][night], out, two_nights["config"], night)
    deadline = time.monotonic() + 240
    partial = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = [p for p in out.glob(".*.partial") if (p / "linkage_records.parquet").exists()]
        if found:
            partial = found[0]
            break
        time.sleep(0.01)
    assert partial is not None and proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert {p.name for p in out.iterdir() if not p.name.startswith(".")} == {
        n for n in before if not n.startswith(".")}, "a killed run left a run folder"
    assert not (partial / "manifest.json").exists()

    proc = _flow_process(two_nights["extracts"][night], out, two_nights["config"], night)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()[-2000:]
    new = sorted({p.name for p in out.iterdir() if not p.name.startswith(".")} - before)
    assert len(new) == 1
    assert not list(out.glob(".*.partial"))                    # the killed run's leftovers
    assert not any((out / ".agency-side").iterdir())           # PII staging removed
    first = pq.read_table(two_nights["runs"][night] / ROSTER)
    again = pq.read_table(out / new[0] / ROSTER)
    assert again.equals(first)

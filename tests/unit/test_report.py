"""The match-quality report (pipeline/report.py) on two real small synthetic nights.

A module-scoped fixture runs the night's stages as plain functions (no Prefect), the way
the flow does, into one output root: the small night and the same population three nights
on. The report is written into the partial run folder before the manifest, as the flow
will do it, so the manifest fingerprints it.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from pii import found_in, pii_values
from stages import run_night

from pipeline import report as R

NIGHTS = ("20261125", "20261128")
SEED = 11                                       # the small_night fixture's seed


@pytest.fixture(scope="module")
def nights(small_night: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The small night and the same population three nights on, run into one root."""
    from pipeline.synth import generate_night

    base = tmp_path_factory.mktemp("report")
    second = base / NIGHTS[1]
    generate_night(second, seed=SEED, scale="small", night=NIGHTS[1])
    out = base / "runs"
    return {NIGHTS[0]: run_night(small_night, out, NIGHTS[0], small_night / "truth"),
            NIGHTS[1]: run_night(second, out, NIGHTS[1], second / "truth")}


@pytest.fixture(scope="module")
def model(nights: dict) -> dict:
    return json.loads((nights[NIGHTS[1]]["run_dir"] / "linkage_model.json").read_text())


# --------------------------------------------------------------------------- files, schema


def test_both_files_written_valid_and_fingerprinted(nights: dict) -> None:
    for n in nights.values():
        R.validate_report(n["report"])                  # raises when not valid
        assert n["report"]["report_version"] == R.REPORT_VERSION == 1
        assert n["report"]["run_id"] == n["manifest"]["run_id"]
        # written before the manifest, so the manifest fingerprints both files
        assert {R.REPORT_JSON, R.REPORT_HTML} <= set(n["manifest"]["outputs"])
        assert n["summary"]["files"] == [R.REPORT_JSON, R.REPORT_HTML]
        assert not list(n["run_dir"].glob(".match_quality*"))      # no temporary left
        assert "NaN" not in (n["run_dir"] / R.REPORT_JSON).read_text()


def test_schema_documents_every_field() -> None:
    from jsonschema import Draft202012Validator

    schema = R.load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert schema["properties"]["report_version"]["const"] == 1
    assert R.SCHEMA_PATH.is_file() and R.SCHEMA_PATH.parent.name == "schemas"

    def undocumented(node: object, path: str) -> list[str]:
        out = []
        if isinstance(node, dict):
            for name, sub in (node.get("properties") or {}).items():
                if not isinstance(sub, dict) or not {"description", "$ref"} & set(sub):
                    out.append(f"{path}/{name}")
            for k, v in node.items():
                out += undocumented(v, f"{path}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                out += undocumented(v, f"{path}/{i}")
        return out

    assert undocumented(schema, "") == []            # every field carries a description


def test_schema_violation_is_caught_and_nothing_written(nights: dict, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    good = nights[NIGHTS[1]]["report"]
    for break_it in (lambda r: r["headline"]["figures"].pop("persons"),
                     lambda r: r.pop("blocking"),
                     lambda r: r.__setitem__("report_version", 2),
                     lambda r: r.__setitem__("extra", 1),
                     lambda r: r["match_weights"]["threshold"].__setitem__("threshold", "0.5"),
                     lambda r: r["model"]["fields"][0]["levels"][0].__setitem__("m", 1.5)):
        bad = json.loads(json.dumps(good))
        break_it(bad)
        with pytest.raises(R.ReportError, match="does not match its schema"):
            R.validate_report(bad)
    # write_report validates before writing anything
    run = tmp_path / "run"
    shutil.copytree(nights[NIGHTS[1]]["run_dir"], run)
    for f in (R.REPORT_JSON, R.REPORT_HTML):
        (run / f).unlink()
    broken = json.loads(json.dumps(good))
    del broken["headline"]["figures"]["families"]
    monkeypatch.setattr(R, "build_report", lambda *a, **k: broken)
    with pytest.raises(R.ReportError):
        R.write_report(run, nights[NIGHTS[1]]["manifest"])
    assert not (run / R.REPORT_JSON).exists() and not (run / R.REPORT_HTML).exists()


# --------------------------------------------------------------------------- 1. headline


def test_headline_counts_equal_the_manifest(nights: dict) -> None:
    for n in nights.values():
        h, m = n["report"]["headline"], n["manifest"]
        c = m["linkage"]["counts"]
        f = h["figures"]
        for key in ("records", "persons", "families", "multi_system_families",
                    "multi_system_records"):
            assert f[key] == c[key], key
        assert f["by_systems"] == {k: c["by_systems"].get(k, 0) for k in R.SYSTEM_COMBINATIONS}
        assert sum(f["by_systems"].values()) == c["multi_system_families"]
        assert f["multi_system_persons"] == m["roster"]["persons"]
        assert f["links"] == m["linkage"]["pairs"]["kept"]
        assert f["rows_read"] == sum(a["rows_read"] for a in m["counts"].values())
        assert f["rows_quarantined"] == sum(a["rows_quarantined"] for a in m["counts"].values())
        for agency, a in m["counts"].items():
            for key in ("rows_read", "rows_quarantined", "quarantine_by_reason", "records_out",
                        "records_by_kind"):
                assert h["agencies"][agency][key] == a[key], (agency, key)
        assert n["summary"]["counts"]["persons"] == c["persons"]


def test_headline_change_since_the_previous_run(nights: dict) -> None:
    first, second = (nights[k]["report"]["headline"] for k in NIGHTS)
    assert first["previous"] is None and first["change"] is None
    assert second["previous"]["night"] == NIGHTS[0]
    assert second["previous"]["figures"] == first["figures"]
    for key in ("rows_read", "persons", "families", "multi_system_families"):
        assert second["change"]["figures"][key] == \
            second["figures"][key] - first["figures"][key]
    for agency, c in second["change"]["agencies"].items():
        assert c["rows_quarantined"] == second["agencies"][agency]["rows_quarantined"] - \
            first["agencies"][agency]["rows_quarantined"]
    md = R.headline_markdown(nights[NIGHTS[1]]["report"])
    assert "| DHS |" in md and f"previous ({NIGHTS[0]})" in md
    assert f"| persons | {second['figures']['persons']:,} |" in md


# --------------------------------------------------------------------------- 2. model


def test_model_m_u_match_linkage_model_json(nights: dict, model: dict) -> None:
    fields = nights[NIGHTS[1]]["report"]["model"]["fields"]
    comps = model["model"]["comparisons"]
    assert [f["field"] for f in fields] == list(comps)
    for f in fields:
        comp = comps[f["field"]]
        assert [lv["level"] for lv in f["levels"]] == comp["levels"]
        assert [lv["m"] for lv in f["levels"]] == pytest.approx(comp["m"], rel=1e-5)
        assert [lv["u"] for lv in f["levels"]] == pytest.approx(comp["u"], rel=1e-5)
        if comp.get("u_household") is not None:
            assert [lv["u_household"] for lv in f["levels"]] == \
                pytest.approx(comp["u_household"], rel=1e-5)
        for lv, m, u in zip(f["levels"], comp["m"], comp["u"], strict=True):
            if m > 0 and u > 0:
                assert lv["weight"] == pytest.approx(np.log2(m / u), abs=1e-4)
    sessions = nights[NIGHTS[1]]["report"]["model"]["sessions"]
    assert [s["name"] for s in sessions] == list(model["model"]["sessions"])
    for s in sessions:
        src = model["model"]["sessions"][s["name"]]
        assert (s["pairs"], s["iterations"], s["converged"]) == \
            (src["pairs"], src["iterations"], src["converged"])
        assert len(s["history"]) == len(src.get("history", []))


# --------------------------------------------------------------------------- 3. weights


def test_histogram_totals_equal_candidate_pairs(nights: dict, model: dict) -> None:
    w = nights[NIGHTS[1]]["report"]["match_weights"]
    h = w["histogram"]
    pairs = pq.read_table(nights[NIGHTS[1]]["run_dir"] / "linkage_pairs.parquet").to_pandas()
    assert h["source"] == "linkage_pairs.parquet"
    assert len(h["edges"]) == len(h["pairs"]) + 1
    # every pair the link stage scored: the blocking's candidates and the second pass's
    assert sum(h["pairs"]) == len(pairs) == model["pairs"]["scored"] \
        == w["pair_counts"]["scored"] >= model["pairs"]["candidates"]
    assert sum(h["linked"]) == model["pairs"]["above_threshold"]
    assert sum(h["ruled_out"]) == int((pairs["probability"] <= 0).sum()) == w["ruled_out_pairs"]
    # the same bins as the link stage's own histogram
    assert h["edges"] == model["weight_histogram"]["edges"]
    assert sum(model["weight_histogram"]["pairs"]) == sum(h["pairs"])
    assert all(a <= b for a, b in zip(h["linked"], h["pairs"]))


def test_threshold_table_contains_the_chosen_threshold(nights: dict, model: dict) -> None:
    report = nights[NIGHTS[1]]["report"]
    w = report["match_weights"]
    t = model["threshold"]["threshold"]
    assert w["threshold"]["threshold"] == pytest.approx(t, rel=1e-5)
    assert w["threshold"]["est_precision"] == pytest.approx(model["threshold"]["est_precision"],
                                                            rel=1e-5)
    chosen = [c for c in w["curve"] if c["chosen"]]
    assert len(chosen) == 1 and chosen[0]["threshold"] == pytest.approx(t, rel=1e-5)
    assert [c["threshold"] for c in w["curve"]] == \
        pytest.approx([c["threshold"] for c in model["curve"]], rel=1e-5)
    lower = [c["threshold"] for c in w["curve"] if c["threshold"] < t]
    higher = [c["threshold"] for c in w["curve"] if c["threshold"] > t]
    assert len(lower) >= 2 and len(higher) >= 2           # a few either side
    md = R.threshold_markdown(report)
    assert f"**{t:.3f}**" in md and "measured precision" in md
    assert f"{t:.3f} (chosen)" in nights[NIGHTS[1]]["html"]


# --------------------------------------------------------------------------- 4. clusters


def test_cluster_sizes_and_suspicious_counts(nights: dict) -> None:
    n = nights[NIGHTS[1]]
    c = n["report"]["clusters"]
    records = pd.read_parquet(n["run_dir"] / "linkage_records.parquet")
    persons = records.groupby("person").size()
    families = records.groupby("family").size()
    assert {r["records"]: r["persons"] for r in c["person_sizes"]} == \
        persons.value_counts().to_dict()
    assert {r["records"]: r["families"] for r in c["family_sizes"]} == \
        families.value_counts().to_dict()
    multi = records[records["multi_system"]].groupby("family").size()
    assert sum(r["multi_system_families"] for r in c["family_sizes"]) == len(multi)
    assert [f["records"] for f in c["largest_families"]] == \
        sorted(families, reverse=True)[:len(c["largest_families"])]
    s = c["suspicious"]
    assert s["large_persons"]["count"] == int((persons > 4).sum())
    assert s["large_families"]["count"] == int((families > 12).sum())
    low = records[records["multi_system"]].groupby("family")["link_probability"].first()
    assert s["weak_multi_system_families"]["count"] == int((low < 0.8).sum())
    assert [f["weakest_link"] for f in s["weak_multi_system_families"]["families"]] == \
        pytest.approx(sorted(low[low < 0.8])[:25], rel=1e-5)
    assert c["links_by_agency_pair"] == json.loads(
        (n["run_dir"] / "linkage_model.json").read_text())["links_by_agency_pair"]


def test_blocking_part(nights: dict, model: dict) -> None:
    b = nights[NIGHTS[1]]["report"]["blocking"]
    assert b["rules"] == model["blocking"]
    assert b["capped_rules"] == [r["rule"] for r in model["blocking"] if r["capped_blocks"]]
    assert b["candidate_pairs"] == model["pairs"]["candidates"]


# --------------------------------------------------------------------------- 6. nights


def _frame(records: list[int], families: list[str], multi: list[bool]) -> pd.DataFrame:
    return pd.DataFrame({"record": np.asarray(records, dtype=np.uint64), "family_id": families,
                         "multi_system": multi})


def test_night_over_night_on_hand_made_frames() -> None:
    # previous: A = {1, 2} multi, B = {3, 4}, C = {5, 6} multi, D = {7} multi, E = {8, 9}
    previous = _frame([1, 2, 3, 4, 5, 6, 7, 8, 9],
                      ["FA", "FA", "FB", "FB", "FC", "FC", "FD", "FE", "FE"],
                      [True, True, False, False, True, True, True, False, False])
    # tonight: A absorbs B (merge; B gone), C splits into C and X (X new), D's only record
    # left (gone), E is unchanged but became multi-system, N is a new family of new records
    current = _frame([1, 2, 3, 4, 5, 6, 8, 9, 10, 11],
                     ["FA", "FA", "FA", "FA", "FC", "FX", "FE", "FE", "FN", "FN"],
                     [True, True, True, True, False, False, True, True, True, True])
    got = R.night_over_night(current, previous)
    assert got["all"] == {
        "families_tonight": 5, "families_previous": 5, "new": 2, "gone": 2, "merged": 1,
        "split": 1, "records_tonight": 10, "records_previous": 9, "records_both": 8,
        "records_arrived": 2, "records_left": 1, "records_family_changed": 3}
    assert got["multi_system"] == {
        "families_tonight": 3, "families_previous": 3, "new": 1, "gone": 1, "entered": 1,
        "left": 1, "merged": 1, "split": 1, "records_family_changed": 3}
    # the same night twice: nothing moved
    same = R.night_over_night(previous, previous)
    assert (same["all"]["new"], same["all"]["gone"], same["all"]["merged"],
            same["all"]["split"], same["all"]["records_family_changed"]) == (0, 0, 0, 0, 0)


def test_night_over_night_on_the_real_runs(nights: dict) -> None:
    first, second = (nights[k] for k in NIGHTS)
    assert first["report"]["night_over_night"]["available"] is False
    assert "no previous run" in first["report"]["night_over_night"]["note"]
    assert "No previous run" in first["html"]
    n = second["report"]["night_over_night"]
    assert n["available"] and n["previous_run"] == first["run_dir"].name
    assert second["report"]["previous_run"] == first["run_dir"].name
    ids = second["manifest"]["roster"]["family_ids"]
    # the publish stage's own carry-over counts agree with the join on the pseudonym
    assert (n["all"]["new"], n["all"]["gone"]) == (ids["new"], ids["retired"])
    assert n["all"]["families_tonight"] == second["manifest"]["linkage"]["counts"]["families"]
    assert n["multi_system"]["families_tonight"] == \
        second["manifest"]["linkage"]["counts"]["multi_system_families"]
    assert n["all"]["records_both"] + n["all"]["records_arrived"] == n["all"]["records_tonight"]
    # an explicit previous run gives the same
    again = R.build_report(second["run_dir"], second["manifest"],
                           previous_run=first["run_dir"])
    assert again["night_over_night"]["all"] == n["all"]


# --------------------------------------------------------------------------- 7. truth


def test_estimated_vs_measured_with_truth(nights: dict, model: dict) -> None:
    n = nights[NIGHTS[1]]
    t = n["report"]["truth"]
    at = t["at_threshold"]
    w = n["report"]["match_weights"]
    assert at["threshold"] == w["threshold"]["threshold"]
    assert at["est_precision"] == w["threshold"]["est_precision"]
    assert at["links"] == w["pair_counts"]["above_threshold"]
    # measured by hand from the pairs and the truth
    run = n["run_dir"]
    records = pd.read_parquet(run / "linkage_records.parquet", columns=["agency", "record_id"])
    truth = pd.read_parquet(n["extracts"] / "truth" / "records.parquet",
                            columns=["agency", "record_id", "person_key"])
    key = records.merge(truth, on=["agency", "record_id"], how="left")["person_key"].to_numpy()
    pairs = pd.read_parquet(run / "linkage_pairs.parquet")
    same = key[pairs["left"]] == key[pairs["right"]]
    # the threshold is a pair's probability: compare with it unrounded, as the report does
    above = pairs["probability"].to_numpy() >= np.float32(model["threshold"]["threshold"])
    assert t["candidate_pairs"]["true_matches"] == int(same.sum())
    assert at["true_links"] == int((same & above).sum())
    assert at["measured_precision"] == pytest.approx((same & above).sum() / above.sum(),
                                                     rel=1e-5)
    assert at["measured_recall"] == pytest.approx((same & above).sum() / same.sum(), rel=1e-5)
    assert at["precision_abs_diff"] == pytest.approx(
        abs(at["est_precision"] - at["measured_precision"]), abs=2e-6)
    assert len(t["curve"]) == len(w["curve"])
    for row, c in zip(t["curve"], w["curve"], strict=True):
        assert row["threshold"] == c["threshold"] and row["est_recall"] == c["est_recall"]
        assert row["links"] == c["links"]
    for level in ("record", "person_pair", "family_pair"):
        assert set(t["linkage"][level]) >= {"precision", "recall", "f1"}
    assert n["summary"]["measured"]["measured_precision"] == at["measured_precision"]
    assert "Estimated vs measured" in n["html"]


def test_measured_pair_quality_by_hand() -> None:
    prob = np.array([0.9, 0.8, 0.6, 0.4, 0.0], dtype=np.float32)
    true = np.array([True, False, True, True, False])
    got = R.measured_pair_quality(prob, true, [0.5, 0.85, 0.95])
    assert [(g["links"], g["true_links"]) for g in got] == [(3, 2), (1, 1), (0, 0)]
    assert got[0]["measured_precision"] == pytest.approx(2 / 3)
    assert got[0]["measured_recall"] == pytest.approx(2 / 3)
    assert got[2]["measured_precision"] is None and got[2]["measured_recall"] == 0.0


def test_without_truth_the_part_is_absent(nights: dict) -> None:
    n = nights[NIGHTS[1]]
    report = R.build_report(n["run_dir"], n["manifest"])
    R.validate_report(report)
    assert report["truth"] is None
    assert "measured" not in R.threshold_markdown(report)
    html = R.render_html(report)
    assert "No ground truth for this night" in html and "Estimated vs measured" not in html


def test_an_old_run_without_the_pairs_file(nights: dict, tmp_path: Path) -> None:
    run = tmp_path / nights[NIGHTS[1]]["run_dir"].name
    shutil.copytree(nights[NIGHTS[1]]["run_dir"], run)
    (run / "linkage_pairs.parquet").unlink()
    report = R.build_report(run, nights[NIGHTS[1]]["manifest"],
                            truth=nights[NIGHTS[1]]["extracts"] / "truth")
    R.validate_report(report)
    assert report["match_weights"]["histogram"]["source"] == "linkage_model.json"
    assert report["match_weights"]["histogram"]["ruled_out"] is None
    assert report["truth"]["at_threshold"] is None and report["truth"]["linkage"]
    assert report["night_over_night"]["available"] is False   # previous run not beside it
    with pytest.raises(R.ReportError, match="file missing"):
        R.build_report(tmp_path / "nowhere", nights[NIGHTS[1]]["manifest"])


# --------------------------------------------------------------------------- PII, HTML


def test_no_identifier_or_input_value_in_the_report(nights: dict) -> None:
    for n in nights.values():
        run = n["run_dir"]
        needles = set(pii_values(n["extracts"]))
        records = pd.read_parquet(run / "linkage_records.parquet", columns=["record_id"])
        state = pq.read_table(run / "id_state.parquet").to_pandas()
        needles |= {str(v).encode() for v in records["record_id"]}
        needles |= {str(v).encode() for v in state["person_id"]}
        needles |= {str(v).encode() for v in state["family_id"]}
        needles |= {str(v).encode() for v in state["record"]}
        needles |= {e["file"].encode() for e in n["manifest"]["inputs"].values()}
        assert len(needles) > 20_000
        for name in (R.REPORT_JSON, R.REPORT_HTML):
            blob = (run / name).read_bytes()
            assert found_in(needles, blob) == [], name
            assert found_in(needles, blob.upper()) == [], name


def test_html_is_self_contained(nights: dict) -> None:
    html = nights[NIGHTS[1]]["html"]
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html
    assert "@import" not in html and "url(http" not in html
    assert re.findall(r'(?:src|href)="([^"#][^"]*)"', html) == []
    assert html.count("<svg") >= 5
    assert html.count("How to read this.") == 8
    for heading in ("1. Headline", "2. The fitted model", "3. Match weights and the threshold",
                    "4. Persons and families", "5. Blocking", "6. Night over night",
                    "7. Against the synthetic truth", "8. Privacy audit"):
        assert f"{heading}</h2>" in html

"""The run's audit stage without running it: its settings, the manifest's audit section
(schema, worst first, shares only), the strict stop's one line and the artifact's table."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from data_contracts import ConfigError, RunFolderError
from hashing.audit import PrivacyLimitError
from hashing.audit.settings import AuditSettings
from hashing.audit.stage import audit_markdown, check_run_limit, over_limit_line, summarize


def _result(first: float = 0.9, zip_share: float = 0.004, limit: float = 0.01) -> dict:
    """What :func:`hashing.audit.audit_night` returns, for two fields and one rule."""
    def field(records: int, values: int, share: float, attack: str) -> dict:
        return {"records": records, "values": values,
                "attacks": {"frequency_exact": {"night": {"records": 0.0, "values": 0.0,
                                                          "guessed": 0.0}},
                            attack: {"night": {"records": share, "values": 0.3,
                                               "guessed": 0.9}}},
                "worst": {"attack": attack, "reference": "night", "records": share,
                          "values": 0.3}, "over_limit": share > limit}
    return {"limit": limit, "strict": False, "records": 10000,
            "attacks": ["frequency", "pattern_mining"], "references": ["night"],
            "candidate_pairs": None, "seconds": 4.2,
            "fields": {"first_name": field(9990, 2000, first, "pattern_mining"),
                       "zip": field(9400, 480, zip_share, "frequency_denoising"),
                       "ssn": {"records": 0, "values": 0, "attacks": {}, "worst": None,
                               "over_limit": False}},
            "blocking": {"number_zip": {
                "records": 180000, "tokens": 90000,
                "attacks": {"frequency_tokens": {"night": {"records": 0.02, "values": 0.001,
                                                           "guessed": None}}},
                "worst": {"attack": "frequency_tokens", "reference": "night",
                          "records": 0.02, "values": 0.001}, "over_limit": True}}}


def test_run_settings_default_to_a_bounded_stage_and_bad_values_name_the_key(
        tmp_path: Path) -> None:
    from pipeline.config import load_settings

    audit = load_settings(None).audit
    assert audit == AuditSettings()            # configs/default.toml and the dataclass agree
    assert audit.every_run and audit.run_records == 10000
    run = audit.for_run()
    assert run.attacks == ("frequency", "pattern_mining") and run.references == ("night",)
    assert run.sample_records == audit.run_sample_records and run.limit == audit.limit
    cfg = tmp_path / "c.toml"
    for text, key in (('run_attacks = ["dictionary"]', "audit.run_attacks"),
                      ("run_records = 50", "audit.run_records"),
                      ("every_run = 1", "audit.every_run")):
        cfg.write_text(f"[audit]\n{text}\n")
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_settings(cfg)
    cfg.write_text("[audit]\nevery_run = false\nrun_records = 0\n")
    assert not load_settings(cfg).audit.every_run


def test_summary_keeps_shares_worst_first_and_fits_the_manifest_schema() -> None:
    from pipeline import nightly
    from pipeline.config import load_settings

    s = summarize(_result(), night_records=20690, seconds=5.25)
    assert s["records_attacked"] == 10000 and s["night_records"] == 20690
    assert s["seconds"] == 5.25
    assert [(o["kind"], o["name"]) for o in s["over_limit"]] == [
        ("field", "first_name"), ("blocking rule", "number_zip")]
    assert s["fields"]["first_name"]["by_attack"] == {"frequency_exact": 0.0,
                                                      "pattern_mining": 0.9}
    assert s["fields"]["first_name"]["distinct_values"] == 2000
    assert s["blocking"]["number_zip"]["tokens"] == 90000
    assert s["fields"]["ssn"]["worst"] is None and not s["fields"]["ssn"]["over_limit"]
    settings = load_settings(None)
    manifest = nightly.build_manifest(
        run_id="20261125-20261126T020000Z-abcdef", night="20261125",
        started=datetime.now(UTC), settings=settings, summaries=[],
        stages={"ingest": 1.0, "encode": 1.0, "audit": 5.25}, audit=s)
    assert manifest["audit"] == s                       # validated against the schema
    broken = json.loads(json.dumps(manifest))
    broken["audit"]["fields"]["first_name"]["worst"]["share_records"] = 1.5
    with pytest.raises(RunFolderError, match="manifest.json at audit/fields/first_name"):
        nightly.validate_manifest(broken)
    broken = json.loads(json.dumps(manifest))
    broken["audit"]["fields"]["first_name"]["value"] = "JAMES"     # nothing but shares
    with pytest.raises(RunFolderError, match="does not match its schema"):
        nightly.validate_manifest(broken)
    assert nightly.stage_counts("audit", s) == {"records attacked": 10000,
                                                "fields and rules": 4, "over the limit": 2}


def test_over_the_limit_is_one_warning_line_or_with_strict_one_error_line() -> None:
    s = summarize(_result())
    line = over_limit_line(s)
    assert line == ("privacy audit over the 1.00 % limit on 2 field(s) or rule(s): field "
                    "first_name 90.00 % (pattern mining), blocking rule number_zip 2.00 % "
                    "(token frequency)")
    assert check_run_limit(s, strict=False) == [
        "field first_name 90.00 % (pattern mining)",
        "blocking rule number_zip 2.00 % (token frequency)"]
    with pytest.raises(PrivacyLimitError) as err:
        check_run_limit(s, strict=True)
    text = err.value.one_line()
    assert "\n" not in text
    assert text.startswith("audit.limit: the privacy audit re-identifies more than 1.00 % "
                           "of records on field first_name 90.00 % (pattern mining) and 1 "
                           "more field(s) or rule(s)")
    calm = summarize(_result(first=0.005, limit=0.01) | {"blocking": {}})
    assert over_limit_line(calm) is None and check_run_limit(calm, strict=True) == []


def test_artifact_table_names_every_field_and_rule() -> None:
    md = audit_markdown(summarize(_result(), night_records=20690), "20261125")
    assert md.startswith("# Privacy audit 20261125\n")
    assert "10,000 of 20,690 records attacked" in md
    assert "| first_name | pattern mining | night | 90.00 % | 30.00 % | **OVER** |" in md
    assert "| zip | denoising frequency | night | 0.40 % | 30.00 % | no |" in md
    assert "| ssn | - | - | - | - | no |" in md
    assert "| rule number_zip | token frequency | night | 2.00 % | 0.10 % | **OVER** |" in md

"""Unit tests for the synthetic night generator (``pipeline.synth``), small scale only.

The contract checks here are an independent re-implementation of the dirty-row
rules in the brief, so the generator's ``truth/dirty.csv`` is checked against
what is actually written, line by line.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.synth import (
    DHS_COLUMNS,
    DIRTY_REASONS,
    DJS_COLUMNS,
    SCALES,
    TRAP_TAGS,
    generate_night,
)

NIGHT = "20261125"
LATER = "20261129"
NIGHT_DATE = dt.date(2026, 11, 25)
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FAMILY_CONTACT = {"MOTHER", "FATHER", "SPOUSE", "PARTNER", "SISTER", "BROTHER", "DAUGHTER",
                   "SON", "GRANDMOTHER", "AUNT"}


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synth") / "a"
    return out, generate_night(out, seed=7, scale="small", night=NIGHT)


@pytest.fixture(scope="module")
def later(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synth") / "later"
    return out, generate_night(out, seed=7, scale="small", night=LATER)


def _files(out: Path, night: str = NIGHT) -> tuple[Path, Path, Path]:
    return (out / f"dhs_clients_{night}.csv", out / f"djs_youth_{night}.txt",
            out / f"dpscs_offenders_{night}.parquet")


def _decode(raw: bytes) -> str | None:
    """Decode a line as UTF-8 or cp1252; None if neither works or a control char is inside."""
    for enc in ("utf-8", "cp1252"):
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            continue
        return None if _CTRL.search(text) else text
    return None


def _read_dhs(path: Path) -> pd.DataFrame:
    """Read the DHS file like a tolerant reader: per line UTF-8, else cp1252; skip broken rows."""
    lines = path.read_bytes().removeprefix(b"\xef\xbb\xbf").split(b"\n")[:-1]
    text = "\n".join(t for t in map(_decode, lines) if t is not None)
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, on_bad_lines="skip")


def _parse_date(s: str, fmt: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(s, fmt).date() if re.fullmatch(r"[\d/\-]+", s) else None
    except ValueError:
        return None


def _date_reason(values: list[str], fmt: str, night_date: dt.date) -> str | None:
    worst = None
    for v in values:
        if v == "":
            continue
        d = _parse_date(v, fmt)
        if d is None or d < dt.date(1900, 1, 1) or len(v) != 10:
            return "bad_date"
        if d > night_date:
            worst = "future_date"
    return worst


def _check_text(lines: list[bytes], ncol: int, delim: str, id_ok, dates, names) -> dict[int, str]:
    """Reason per 1-based physical line (header = line 1) by the contract's precedence."""
    reasons: dict[int, str] = {}
    parsed = {}
    for n, raw in enumerate(lines[1:], start=2):
        text = _decode(raw)
        if text is None:
            reasons[n] = "bad_encoding"
            continue
        fields = next(csv.reader([text], delimiter=delim)) if delim == "," else text.split(delim)
        if len(fields) != ncol:
            reasons[n] = "wrong_column_count"
            continue
        parsed[n] = fields
    ids = Counter(f[0] for f in parsed.values())
    for n, f in parsed.items():
        if not id_ok(f):
            reasons[n] = "bad_id"
        elif ids[f[0]] > 1:
            reasons[n] = "duplicate_id"
        elif (r := dates(f)) is not None:
            reasons[n] = r
        elif names(f):
            reasons[n] = "missing_name"
    return reasons


def _expected_dirty(out: Path, night: str = NIGHT, night_date: dt.date = NIGHT_DATE
                    ) -> dict[tuple[str, int], str]:
    p_dhs, p_djs, p_dp = _files(out, night)
    raw = p_dhs.read_bytes().removeprefix(b"\xef\xbb\xbf")
    dhs_lines = raw.split(b"\n")[:-1]
    exp = {("DHS", n): r for n, r in _check_text(
        dhs_lines, 16, ",",
        lambda f: bool(re.fullmatch(r"C\d{9}", f[0]) and re.fullmatch(r"K\d{8}", f[1])),
        lambda f: _date_reason([f[7], f[15]], "%m/%d/%Y", night_date),
        lambda f: f[3].strip() == "" and f[5].strip() == "").items()}
    djs_lines = p_djs.read_bytes().split(b"\r\n")[:-1]
    exp.update({("DJS", n): r for n, r in _check_text(
        djs_lines, 15, "|",
        lambda f: bool(re.fullmatch(r"Y\d{7}", f[0])),
        lambda f: _date_reason([f[4], f[13]], "%Y-%m-%d", night_date),
        lambda f: f[1].strip() == "" and f[2].strip() == "").items()})
    dp = pq.read_table(p_dp).to_pandas()
    sid_counts = Counter(dp["sid"])
    for n, row in enumerate(dp.itertuples(index=False), start=1):
        if row.sid is None or not re.fullmatch(r"\d+", row.sid):
            r = "bad_id"
        elif sid_counts[row.sid] > 1:
            r = "duplicate_id"
        elif row.dob < dt.date(1900, 1, 1):
            r = "bad_date"
        elif row.dob > night_date or row.status_date.date() > night_date:
            r = "future_date"
        elif not (row.full_name or "").strip():
            r = "missing_name"
        else:
            continue
        exp[("DPSCS", n)] = r
    return exp


# ----------------------------------------------------------------------------- tests
def test_deterministic_bytes(night, tmp_path):
    out, _ = night
    generate_night(tmp_path, seed=7, scale="small", night=NIGHT)
    for name in [p.name for p in _files(out)] + ["truth/records.parquet", "truth/dirty.csv"]:
        a = hashlib.sha256((out / name).read_bytes()).hexdigest()
        b = hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        assert a == b, name


def test_layouts_parse(night):
    out, summary = night
    p_dhs, p_djs, p_dp = _files(out)
    raw = p_dhs.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") == summary["bom"]
    assert b"\r\n" not in raw
    dhs = _read_dhs(p_dhs)
    assert list(dhs.columns) == DHS_COLUMNS
    assert dhs["case_role"].isin(["HEAD", "SPOUSE", "CHILD", "OTHER_ADULT", "OTHER_CHILD"]).all()
    assert dhs["program"].isin(["SNAP", "TCA", "MA", "CW"]).mean() > 0.98
    assert dhs["sex"].isin(["M", "F", "U"]).mean() > 0.98
    ok_zip = dhs["addr_zip"].str.fullmatch(r"\d{5}(-\d{4})?")
    assert ok_zip.mean() > 0.98 and dhs["addr_zip"].str.contains("-").any()
    ssn = dhs["ssn"]
    assert ssn.str.fullmatch(r"\d{3}-\d{2}-\d{4}").any() and ssn.str.fullmatch(r"\d{9}").any()
    assert (ssn == "").mean() > 0.2
    traw = p_djs.read_bytes()
    assert traw.count(b"\r\n") == traw.count(b"\n")
    djs = pd.read_csv(p_djs, sep="|", dtype=str, keep_default_na=False, encoding="cp1252",
                      encoding_errors="replace", quoting=csv.QUOTE_NONE, on_bad_lines="skip")
    assert list(djs.columns) == DJS_COLUMNS
    assert djs["gender"].isin(["Male", "Female", "Unknown"]).all()
    assert djs["home_address"].str.fullmatch(r"\d+ .+, [A-Z .']+, [A-Z]{2} \d{5}").mean() > 0.97
    rels = set(djs["guardian1_relationship"]) | set(djs["guardian2_relationship"])
    assert rels <= {"", "MOTHER", "FATHER", "GRANDMOTHER", "GRANDFATHER", "AUNT", "UNCLE",
                    "SIBLING", "FOSTER PARENT", "OTHER"}
    assert (djs["guardian2_name"] == "").any() and (djs["guardian1_birth_date"] == "").mean() > 0.5
    t = pq.read_table(p_dp)
    assert t.schema.field("aliases").type == pa.list_(pa.string())
    assert t.schema.field("dob").type == pa.date32()
    assert pa.types.is_timestamp(t.schema.field("status_date").type)
    assert t.schema.field("sid").type == pa.string()
    df = t.to_pandas()
    assert df["aliases"].map(len).eq(0).any() and df["aliases"].map(len).gt(0).any()
    assert set(df["emergency_contact_relationship"].dropna()) >= {"FRIEND", "SPOUSE"}


def test_dirty_csv_matches_contract(night):
    out, summary = night
    dirty = pd.read_csv(out / "truth" / "dirty.csv", dtype=str, keep_default_na=False)
    got = {(a, int(n)): r for a, n, r in zip(dirty["agency"], dirty["line_number"], dirty["reason"])}
    assert len(got) == len(dirty)
    exp = _expected_dirty(out)
    assert got == exp
    assert set(dirty["reason"]) == set(DIRTY_REASONS)
    for agency, n_rows in zip(("DHS", "DJS", "DPSCS"), summary["files"].values()):
        share = (dirty["agency"] == agency).sum() / n_rows
        assert 0.005 < share < 0.05, (agency, share)


def test_truth_covers_clean_rows(night):
    out, _ = night
    p_dhs, p_djs, p_dp = _files(out)
    truth = pd.read_parquet(out / "truth" / "records.parquet")
    assert not truth.duplicated(["agency", "record_id"]).any()
    dirty = pd.read_csv(out / "truth" / "dirty.csv", dtype=str, keep_default_na=False)
    bad = {(a, int(n)) for a, n in zip(dirty["agency"], dirty["line_number"])}
    exp = set()
    for n, raw in enumerate(p_dhs.read_bytes().removeprefix(b"\xef\xbb\xbf").split(b"\n")[1:-1], 2):
        if ("DHS", n) not in bad:
            exp.add(("DHS", next(csv.reader([_decode(raw)]))[0]))
    for n, raw in enumerate(p_djs.read_bytes().split(b"\r\n")[1:-1], 2):
        if ("DJS", n) not in bad:
            f = raw.decode("cp1252").split("|")
            exp.add(("DJS", f[0]))
            for k, col in ((1, 7), (2, 8)):
                if f[col]:
                    exp.add(("DJS", f"{f[0]}#guardian{k}"))
    dp = pq.read_table(p_dp).to_pandas()
    for n, row in enumerate(dp.itertuples(index=False), 1):
        if ("DPSCS", n) not in bad:
            exp.add(("DPSCS", row.sid))
            if row.emergency_contact_name and row.emergency_contact_relationship in _FAMILY_CONTACT:
                exp.add(("DPSCS", f"{row.sid}#contact"))
    assert set(zip(truth["agency"], truth["record_id"])) == exp
    assert set(truth["record_kind"]) == {"primary", "guardian", "contact"}
    # a family with records in >= 2 agencies is exactly the multi-system flag
    fam_sys = truth.groupby("family_key")["agency"].nunique()
    assert (truth["multi_system"] == truth["family_key"].map(fam_sys).ge(2)).all()
    assert (truth["systems"] == truth["family_key"].map(
        truth.groupby("family_key")["agency"].agg(lambda s: "+".join(sorted(set(s)))))).all()


def test_traps_and_counts(night):
    out, summary = night
    truth = pd.read_parquet(out / "truth" / "records.parquet")
    tags = Counter(t for s in truth["traps"] for t in s.split(",") if t)
    assert set(tags) == set(TRAP_TAGS), set(TRAP_TAGS) - set(tags)
    assert tags == Counter(summary["traps"]) + Counter()
    target = SCALES["small"]["multi"]
    fams = truth.loc[truth["multi_system"], "family_key"].nunique()
    assert fams == summary["multi_system_families"]
    assert 0.6 * target <= fams <= 1.4 * target
    assert 15_000 <= summary["records_total"] <= 26_000
    # the same person_key across agencies exists (that's what linkage must find)
    assert truth.groupby("person_key")["agency"].nunique().gt(1).sum() >= 20
    # shared junk SSN on several unrelated records
    dhs = _read_dhs(_files(out)[0])
    dp = pd.read_parquet(_files(out)[2])
    assert (dhs["ssn"] == "111111111").sum() + (dp["ssn"] == "111111111").sum() >= 3


def test_cp1252_rows_are_legit(night):
    out, _ = night
    truth = pd.read_parquet(out / "truth" / "records.parquet")
    cp_ids = set(truth.loc[truth["traps"].str.contains("cp1252"), "record_id"])
    assert cp_ids
    lines = _files(out)[0].read_bytes().removeprefix(b"\xef\xbb\xbf").split(b"\n")
    n_cp = 0
    for raw in lines[1:]:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = raw.decode("cp1252")
            except UnicodeDecodeError:
                continue
            if not _CTRL.search(text) and text.split(",")[0] in cp_ids:
                n_cp += 1
    assert n_cp == len(cp_ids)


def test_later_night_is_stable(night, later):
    (a, _), (b, _) = night, later
    ta = pd.read_parquet(a / "truth" / "records.parquet")
    tb = pd.read_parquet(b / "truth" / "records.parquet")
    ka = set(zip(ta["agency"], ta["record_id"]))
    kb = set(zip(tb["agency"], tb["record_id"]))
    kept = ka & kb
    assert len(kept) / len(ka) > 0.95
    assert ka - kb and kb - ka  # some closed, some new
    m = ta.merge(tb, on=["agency", "record_id"], suffixes=("_a", "_b"))
    assert (m["person_key_a"] == m["person_key_b"]).all()
    assert (m["family_key_a"] == m["family_key_b"]).mean() > 0.98
    # same record, same noise: names on kept DHS rows identical night to night
    da = _read_dhs(_files(a)[0]).drop_duplicates("client_id", keep=False)
    db = _read_dhs(_files(b, LATER)[0]).drop_duplicates("client_id", keep=False)
    j = da.merge(db, on="client_id", suffixes=("_a", "_b"))
    for col in ("first_name", "last_name", "dob", "ssn"):
        assert (j[f"{col}_a"] == j[f"{col}_b"]).mean() > 0.99, col
    moved = (j["addr_street_a"] != j["addr_street_b"]).sum()
    assert 0 < moved < 0.05 * len(j)
    # the later night is itself contract-consistent
    got = pd.read_csv(b / "truth" / "dirty.csv", dtype=str, keep_default_na=False)
    exp = _expected_dirty(b, LATER, dt.date(2026, 11, 29))
    assert {(x, int(n)): r for x, n, r in zip(got["agency"], got["line_number"], got["reason"])} == exp


def test_bom_switch(tmp_path):
    s = generate_night(tmp_path / "nobom", seed=8, scale="small", night=NIGHT, bom=False)
    assert not s["bom"]
    assert not (tmp_path / "nobom" / f"dhs_clients_{NIGHT}.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert s["multi_system_families"] > 0


# ----------------------------------------------------------------------------- relationships
_GUARDIAN_RELS = {"MOTHER", "FATHER", "GRANDMOTHER", "GRANDFATHER", "AUNT", "UNCLE", "SIBLING",
                  "FOSTER PARENT", "OTHER"}
_CONTACT_RELS = _FAMILY_CONTACT | {"FRIEND", "OTHER"}
_FEMALE_RELS = {"MOTHER", "GRANDMOTHER", "AUNT", "SISTER", "DAUGHTER"}
_MALE_RELS = {"FATHER", "GRANDFATHER", "UNCLE", "BROTHER", "SON"}
#: years the guardian / contact is older than the youth / offender (negative: younger)
_AGE_GAP = {"MOTHER": (15, 50), "FATHER": (15, 60), "GRANDMOTHER": (35, 80),
            "GRANDFATHER": (35, 80), "DAUGHTER": (-50, -15), "SON": (-60, -15),
            "FOSTER PARENT": (18, 70), "AUNT": (4.5, 60), "UNCLE": (4.5, 60), "SIBLING": (0.5, 20),
            "SISTER": (-25, 25), "BROTHER": (-25, 25), "SPOUSE": (-25, 25), "PARTNER": (-25, 25),
            "OTHER": (10, 60)}


def _read_djs(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="|", dtype=str, keep_default_na=False, encoding="cp1252",
                       encoding_errors="replace", quoting=csv.QUOTE_NONE, on_bad_lines="skip")


def test_every_relationship_occurs(night):
    out, _ = night
    _, p_djs, p_dp = _files(out)
    djs = _read_djs(p_djs)
    djs = djs[djs["youth_id"].str.fullmatch(r"Y\d{7}")]
    g1 = djs["guardian1_relationship"].value_counts()
    both = pd.concat([djs["guardian1_relationship"], djs["guardian2_relationship"]])
    both = both[both != ""].value_counts()
    assert set(both.index) == _GUARDIAN_RELS
    assert g1.idxmax() == "MOTHER" and g1["MOTHER"] > 0.5 * len(djs)
    assert both["GRANDMOTHER"] > 0.04 * len(djs)          # common
    assert 0.01 * len(djs) < g1["FOSTER PARENT"] < 0.08 * len(djs)  # a few %
    for rel in ("AUNT", "UNCLE", "SIBLING", "OTHER", "GRANDFATHER"):
        assert both[rel] >= 10, rel
    dp = pq.read_table(p_dp).to_pandas()
    c = dp["emergency_contact_relationship"].dropna().value_counts()
    assert set(c.index) == _CONTACT_RELS
    for rel in ("SISTER", "BROTHER", "GRANDMOTHER", "AUNT"):
        assert c[rel] >= 5, rel


def test_relationship_sex_and_age_are_plausible(night):
    """Every guardian/contact record of a population chunk: sex and age fit the relationship;
    a foster parent is no kin (another family and surname); FRIEND/OTHER are no records."""
    from pipeline.synth import generate as G

    cfg = G.SCALES["small"]
    pop = G._chunk_population(7, 0, 0, cfg["families"], cfg["multi"] * 2)
    R = G._flatten(pop, 7, 0)
    per, p, own, kind, rel = R["per"], R["person"], R["owner"], R["kind"], R["rel"]
    m = kind > 0
    gp, op = p[m], p[own[m]]
    df = pd.DataFrame({"rel": rel[m], "kind": kind[m], "female": per["female"][gp],
                       "gap": (per["dob"][op] - per["dob"][gp]) / 365.25,
                       "same_fam": per["fam"][gp] == per["fam"][op],
                       "same_last": per["last"][gp] == per["last"][op]})
    assert set(df.loc[df["kind"] < 3, "rel"]) == _GUARDIAN_RELS
    assert set(df.loc[df["kind"] == 3, "rel"]) == _FAMILY_CONTACT
    assert df.loc[df["rel"].isin(_FEMALE_RELS), "female"].all()
    assert not df.loc[df["rel"].isin(_MALE_RELS), "female"].any()
    for r, (lo, hi) in _AGE_GAP.items():
        gap = df.loc[df["rel"] == r, "gap"]
        assert len(gap) and gap.between(lo, hi).all(), (r, gap.min(), gap.max())
    foster = df[df["rel"] == "FOSTER PARENT"]
    assert not foster["same_fam"].any() and not foster["same_last"].any()
    assert df.loc[df["rel"] != "FOSTER PARENT", "same_fam"].all()
    # adult siblings are 18-30, a youth is 10-21
    yd = per["dob"][p[(R["agency"] == 1) & (kind == 0)]]
    sib = per["dob"][p[m][df["rel"].to_numpy() == "SIBLING"]]
    ref = G._REF
    assert ((ref - yd) / 365.25).min() > 9.99 and ((ref - yd) / 365.25).max() < 22
    assert ((ref - sib) / 365.25).min() > 17.99 and ((ref - sib) / 365.25).max() <= 30.1


def test_two_youth_families(night):
    out, _ = night
    truth = pd.read_parquet(out / "truth" / "records.parquet")
    djs = truth[truth["agency"] == "DJS"]
    youths = djs[djs["record_kind"] == "primary"]
    per_fam = youths.groupby("family_key").size()
    share = (per_fam >= 2).mean()
    assert 0.05 < share < 0.16, share
    # the same guardian person on two youths' rows, as <y1>#guardian1 and <y2>#guardian1
    g = djs[djs["record_id"].str.endswith("#guardian1")]
    rows_per_person = g.groupby("person_key")["record_id"].agg(list)
    shared = rows_per_person[rows_per_person.map(len) >= 2]
    assert len(shared) >= 0.6 * (per_fam >= 2).sum()
    fam_of = dict(zip(youths["record_id"], youths["family_key"]))
    for ids in shared.head(50):
        ys = [i.split("#")[0] for i in ids]
        assert len(set(ys)) == len(ys) and len({fam_of.get(y) for y in ys} - {None}) <= 1
    # both youths' rows carry the guardian's relationship (the file, not only the truth)
    f = _read_djs(_files(out)[1]).set_index("youth_id")
    pairs = [ids for ids in shared if all(i.split("#")[0] in f.index for i in ids)]
    assert pairs
    for ids in pairs[:50]:
        rels = {f.at[i.split("#")[0], "guardian1_relationship"] for i in ids}
        assert len(rels) == 1, ids


# ----------------------------------------------------------------------------- profiles
_PROFILES = ("city", "namesakes", "sparse", "messy")


@pytest.fixture(scope="module")
def profile_nights(tmp_path_factory, night) -> dict[str, Path]:
    """One small night per profile on the same seed as ``night`` (baseline)."""
    root = tmp_path_factory.mktemp("profiles")
    out = {"baseline": night[0]}
    for name in _PROFILES:
        generate_night(root / name, seed=7, scale="small", night=NIGHT, profile=name)
        out[name] = root / name
    return out


def _dhs_people(out: Path) -> pd.DataFrame:
    """Clean DHS rows with their true person key, names upper-cased."""
    dhs = _read_dhs(_files(out)[0])
    truth = pd.read_parquet(out / "truth" / "records.parquet")
    df = dhs.merge(truth[truth["agency"] == "DHS"][["record_id", "person_key"]],
                   left_on="client_id", right_on="record_id")
    for c in ("first_name", "last_name"):
        df[c] = df[c].str.upper()
    return df


def _same_name_strangers(df: pd.DataFrame, keys: list[str]) -> int:
    """Pairs of different persons sharing ``first_name``, ``last_name`` and ``keys``."""
    people = df.drop_duplicates("person_key")
    n = people.groupby(["first_name", "last_name", *keys]).size()
    return int((n * (n - 1) // 2).sum())


def test_baseline_profile_is_the_default(night, tmp_path):
    """``profile="baseline"`` writes the very bytes the generator wrote before profiles
    existed (pinned for seed 7, small: the DHS and DJS files and dirty.csv)."""
    out, _ = night
    generate_night(tmp_path, seed=7, scale="small", night=NIGHT, profile="baseline")
    pinned = {
        f"dhs_clients_{NIGHT}.csv": "53d26b236b73b23aa025e098b6efe470f564e0943827d96ee5ed057706e0a6a9",
        f"djs_youth_{NIGHT}.txt": "5953ea2c37ec721043257452bd7f698f5b3cf20a275965fed99dc82954302130",
        "truth/dirty.csv": "bd9771f4646c7d4a3696299d45440951ffb9f49338568dcf6a853032e2a42e99",
    }
    for name, digest in pinned.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == digest, name
    for name in (f"dpscs_offenders_{NIGHT}.parquet", "truth/records.parquet"):
        assert (out / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_unknown_profile(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    with pytest.raises(ValueError, match="unknown profile"):
        generate_night(tmp_path, seed=7, scale="small", profile="rural")
    result = CliRunner().invoke(app, ["synth", "--out", str(tmp_path), "--profile", "rural"])
    assert result.exit_code == 2
    assert "unknown profile 'rural'" in result.output
    help_text = CliRunner().invoke(app, ["synth", "--help"]).output
    for name in ("baseline", *_PROFILES):
        assert name in help_text


@pytest.mark.parametrize("name", _PROFILES)
def test_profile_nights_keep_the_contract(profile_nights, name):
    """Every profile writes the same files and truth/; the contracts quarantine exactly the
    planted dirty rows and keep exactly the truth's records."""
    from data_contracts import find_extracts, load_extract, parse_night

    out = profile_nights[name]
    night_, paths = find_extracts(out)
    dirty = pd.read_csv(out / "truth" / "dirty.csv")
    truth = pd.read_parquet(out / "truth" / "records.parquet")
    assert json.loads((out / "truth" / "summary.json").read_text())["profile"] == name
    for agency, path in paths.items():
        loaded = load_extract(path, agency, parse_night(night_))
        assert len(loaded.persons) == (truth["agency"] == agency).sum(), agency
        assert len(loaded.quarantine) == (dirty["agency"] == agency).sum(), agency


def test_city_concentrates_names(profile_nights):
    base, city = _dhs_people(profile_nights["baseline"]), _dhs_people(profile_nights["city"])

    def top10(df: pd.DataFrame) -> float:
        return df["last_name"].value_counts(normalize=True).head(10).sum()

    assert top10(city) > 1.5 * top10(base), (top10(city), top10(base))
    # strangers with the same first name, last name and birth date
    assert _same_name_strangers(city, ["dob"]) > 3 * max(_same_name_strangers(base, ["dob"]), 5)


def test_namesakes_share_names_in_households_and_zips(profile_nights):
    base = _dhs_people(profile_nights["baseline"])
    ns = _dhs_people(profile_nights["namesakes"])
    # different persons with the same first+last name in one household (DHS case)
    in_case_b, in_case_n = (_same_name_strangers(d, ["case_id"]) for d in (base, ns))
    assert in_case_n > 2 * in_case_b, (in_case_n, in_case_b)
    # same-named relatives in the same ZIP
    for d in (base, ns):
        d["zip5"] = d["addr_zip"].str[:5]
    assert _same_name_strangers(ns, ["zip5"]) > 2 * _same_name_strangers(base, ["zip5"])
    # the son's JR is missing on more namesake records than at baseline
    truth = {k: pd.read_parquet(profile_nights[k] / "truth" / "records.parquet")
             for k in ("baseline", "namesakes")}

    def bare_share(k: str, d: pd.DataFrame) -> float:
        t = truth[k]
        ids = set(t.loc[t["traps"].str.contains("namesake"), "record_id"])
        sub = d[d["client_id"].isin(ids)]
        return float((sub["name_suffix"] == "").mean())

    assert bare_share("namesakes", ns) > bare_share("baseline", base) + 0.15


def test_sparse_has_more_missing_values(profile_nights):
    def djs_guardian_dob_blank(out: Path) -> float:
        djs = _read_djs(_files(out)[1])
        named = djs["guardian1_name"] != ""
        return float((djs.loc[named, "guardian1_birth_date"] == "").mean())

    base, sparse = profile_nights["baseline"], profile_nights["sparse"]
    assert djs_guardian_dob_blank(sparse) > djs_guardian_dob_blank(base) + 0.1
    assert djs_guardian_dob_blank(sparse) > 0.9
    b, s = _dhs_people(base), _dhs_people(sparse)
    assert (s["ssn"] == "").mean() > (b["ssn"] == "").mean() + 0.1
    assert (s["middle_name"] == "").mean() > (b["middle_name"] == "").mean() + 0.1
    # guardians living apart: more records of one person at two addresses
    moved = {k: pd.read_parquet(profile_nights[k] / "truth" / "records.parquet")["traps"]
             .str.contains("moved").sum() for k in ("baseline", "sparse")}
    assert moved["sparse"] > moved["baseline"]


def test_messy_has_more_dob_and_name_errors(profile_nights):
    def traps(k: str) -> Counter:
        t = pd.read_parquet(profile_nights[k] / "truth" / "records.parquet")
        return Counter(x for s in t["traps"] for x in s.split(",") if x)

    base, messy = traps("baseline"), traps("messy")
    assert base["dob_error"] == 0 and messy["dob_error"] > 0
    for tag in ("dob_swap", "nickname", "typo", "maiden"):
        assert messy[tag] > 1.4 * base[tag], tag
    # DOB errors show in the files: a person's DHS records disagree on the birth date
    def dob_conflicts(k: str) -> int:
        d = _dhs_people(profile_nights[k])
        return int((d.groupby("person_key")["dob"].nunique() > 1).sum())

    # (DHS duplicates are rare, so compare across agencies too)
    t = {k: pd.read_parquet(profile_nights[k] / "truth" / "records.parquet")
         for k in ("baseline", "messy")}
    share = {k: float(t[k]["traps"].str.contains("dob_").mean()) for k in t}
    assert share["messy"] > 2 * share["baseline"]
    assert dob_conflicts("messy") >= dob_conflicts("baseline")

"""The match-quality report of a run: ``match_quality.json`` and ``match_quality.html``.

Analysts have no ground truth on a real night; this report is how they judge whether to
trust tonight's roster and whether a threshold or an agency's data needs attention. It is
built from the run folder's de-identified outputs only (``linkage_model.json``,
``linkage_records.parquet``, ``linkage_pairs.parquet``, ``id_state.parquet``) and the
manifest's counts, and it holds counts, probabilities and sizes only: no record id, no
person or family id, no value of an input.

Parts (the JSON's keys; the HTML shows the same figures, one section each):

1. ``headline``: rows read and quarantined per agency (and by reason), persons, families,
   multi-system families by combination of systems, and the same figures of the previous
   run with the change; each agency's rows over recent nights (``volume``: from the
   manifests in the same output root) and tonight's delivery checks.
2. ``model``: m and u probabilities per compared field and level, the match weight each
   level adds, and how each EM training session converged.
3. ``match_weights``: the distribution of the candidate pairs' match weights (all, linked,
   ruled out by a constraint), the threshold and the model's estimated precision and
   recall at it and at thresholds either side.
4. ``clusters``: links by agency pair, person and family sizes, the largest families and
   the clusters worth a look (very large persons and families, multi-system families held
   together by a weak link).
5. ``blocking``: candidate pairs per blocking rule, largest and capped blocks.
6. ``night_over_night``: families new, gone, merged and split since the previous run, and
   records whose family changed (all families, and multi-system families).
7. ``truth`` (synthetic nights only): measured precision, recall and F1 at record,
   person-pair and family level, and the measured precision and recall of the candidate
   pairs at each threshold beside the model's estimates.
8. ``privacy_audit``: the run's audit stage as the manifest keeps it (share of records and
   of values each attack on the encodings re-identifies, per field and blocking rule, and
   which are over ``audit.limit``); null for a run without the stage. A field or rule over
   the limit is named, with its share, in a warning box at the top of the HTML.

The JSON is versioned (``report_version``) and described by ``SCHEMA_PATH`` (JSON Schema
2020-12); :func:`write_report` validates before writing. Charts are drawn with matplotlib
into inline SVG, so the HTML is one self-contained file that opens offline.

Everything is vectorized (numpy / pandas) and reads only the parquet columns it needs:
a night of 2 M records and 14 M candidate pairs is reported on in seconds.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from data_contracts import SstError

from .run_folder import (
    ID_STATE,
    LINKAGE_MODEL,
    LINKAGE_PAIRS,
    LINKAGE_RECORDS,
    MANIFEST,
    software_version,
)
from .suppression import SYSTEMS_COMBINATIONS

REPORT_VERSION = 1
"""Version of the report's JSON layout (``report_version``); bumped on any breaking change."""
REPORT_JSON = "match_quality.json"
REPORT_HTML = "match_quality.html"
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "match_quality.schema.json"
"""The JSON Schema (Draft 2020-12) that every ``match_quality.json`` satisfies."""
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE = "match_quality.html.j2"

SYSTEM_COMBINATIONS = SYSTEMS_COMBINATIONS
"""Combinations of systems of a multi-system family, always listed (zero when none)."""

SUSPICION_RULES: dict[str, float] = {
    "person_records_over": 4,           # a person with more records than this
    "person_agency_records_over": 2,    # ... or more records than this in one agency
    "family_records_over": 12,          # a family with more records than this
    "weak_link_below": 0.8,             # a multi-system family whose weakest link is below
}
"""When a cluster is listed as worth a look (written into the report with the counts)."""

LARGEST_FAMILIES = 10
WEAK_FAMILIES_LISTED = 25
TARGET_DIFFERENCE = 0.03
"""Target of |estimated - measured| precision and recall at the threshold (synthetic)."""


class ReportError(SstError):
    """The report could not be built (a missing input) or does not match its schema."""


# --------------------------------------------------------------------------- helpers


def _clean(value: Any) -> Any:
    """JSON-able copy: numpy scalars to Python, NaN and infinities to None, floats to six
    significant digits."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_clean(v) for v in value.tolist()]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        x = float(value)
        if not math.isfinite(x):
            return None
        return float(f"{x:.6g}")
    return value


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ReportError("file missing", where=str(path),
                          hint="the report needs the link stage's outputs") from None


def _log2_ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or a <= 0 or b <= 0:
        return None
    return math.log2(a / b)


def _logit2(p: float) -> float | None:
    """Match weight (log2 odds) of a probability; None at 0 and 1."""
    if not 0.0 < p < 1.0:
        return None
    return math.log2(p / (1.0 - p))


def _size_table(sizes: np.ndarray, key: str, count: str) -> list[dict[str, int]]:
    """``[{key: size, count: how many}]`` for each size that occurs, ascending."""
    dist = np.bincount(sizes) if len(sizes) else np.zeros(0, dtype=np.int64)
    return [{key: int(s), count: int(n)} for s, n in enumerate(dist) if n and s]


# --------------------------------------------------------------------------- inputs


def _read_records(run_dir: Path) -> pd.DataFrame:
    """The run's records, only the columns the report needs (no record id)."""
    path = run_dir / LINKAGE_RECORDS
    if not path.exists():
        raise ReportError("file missing", where=str(path),
                          hint="the report needs the link stage's outputs")
    cols = ["agency", "record_kind", "person", "family", "systems", "multi_system",
            "link_probability"]
    table = pq.read_table(path, columns=cols,
                          read_dictionary=["agency", "record_kind", "systems"])
    return table.to_pandas()


def _read_pairs(run_dir: Path) -> pd.DataFrame | None:
    """Candidate pairs (left, right, probability, weight), or None for a run written
    before ``linkage_pairs.parquet`` existed."""
    path = run_dir / LINKAGE_PAIRS
    if not path.exists():
        return None
    return pq.read_table(path, columns=["left", "right", "probability", "weight"]).to_pandas()


def _previous_dir(run_dir: Path, manifest: dict[str, Any],
                  previous_run: Path | None) -> Path | None:
    if previous_run is not None:
        return Path(previous_run)
    name = (manifest.get("roster") or {}).get("previous_run")
    if name and (run_dir.parent / name).is_dir():
        return run_dir.parent / name
    return None


# --------------------------------------------------------------------------- 1. headline


def _agencies(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for agency, c in (manifest.get("counts") or {}).items():
        out[agency] = {"rows_read": int(c["rows_read"]),
                       "rows_quarantined": int(c["rows_quarantined"]),
                       "quarantined_share": float(c["quarantined_share"]),
                       "quarantine_by_reason": {str(k): int(v) for k, v in
                                                c.get("quarantine_by_reason", {}).items()},
                       "records_out": int(c["records_out"]),
                       "records_by_kind": {str(k): int(v) for k, v in
                                           c.get("records_by_kind", {}).items()}}
    return out


def _figures(manifest: dict[str, Any]) -> dict[str, Any]:
    """The headline's figures of one run, from its manifest."""
    counts = manifest.get("counts") or {}
    link = manifest.get("linkage") or {}
    lc = link.get("counts") or {}
    roster = manifest.get("roster") or {}
    pairs = link.get("pairs") or {}
    by = lc.get("by_systems") or {}
    return {
        "rows_read": sum(int(c["rows_read"]) for c in counts.values()),
        "rows_quarantined": sum(int(c["rows_quarantined"]) for c in counts.values()),
        "records": int(lc.get("records", 0)),
        "persons": int(lc.get("persons", 0)),
        "families": int(lc.get("families", 0)),
        "multi_system_families": int(lc.get("multi_system_families", 0)),
        "multi_system_records": int(lc.get("multi_system_records", 0)),
        "multi_system_persons": int(roster.get("persons", 0)),
        "links": int(pairs.get("kept", (link.get("threshold") or {}).get("links", 0))),
        "by_systems": {k: int(by.get(k, 0)) for k in SYSTEM_COMBINATIONS},
    }


def _difference(now: Any, before: Any) -> Any:
    if isinstance(now, dict):
        return {k: _difference(v, (before or {}).get(k)) for k, v in now.items()}
    if before is None:
        return None
    return now - before


def _headline(manifest: dict[str, Any], prev_manifest: dict[str, Any] | None,
              prev_name: str | None) -> dict[str, Any]:
    agencies = _agencies(manifest)
    figures = _figures(manifest)
    previous = change = None
    if prev_manifest is not None:
        prev_agencies = _agencies(prev_manifest)
        previous = {"run_id": prev_manifest.get("run_id", prev_name),
                    "night": prev_manifest.get("night"),
                    "agencies": prev_agencies, "figures": _figures(prev_manifest)}
        keys = ("rows_read", "rows_quarantined", "records_out")
        change = {"agencies": {a: {k: (c[k] - prev_agencies[a][k]) if a in prev_agencies
                                   else None for k in keys} for a, c in agencies.items()},
                  "figures": _difference(figures, previous["figures"])}
    return {"agencies": agencies, "figures": figures, "previous": previous, "change": change,
            "quarantine_limit": (manifest.get("config") or {}).get("ingest", {})
            .get("quarantine_limit")}


def _volume(run_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Rows per agency over recent nights: the earlier nights from the manifests in the
    run's output root (``run_dir.parent``), tonight from its own, with tonight's delivery
    checks (a drop the steward accepted, control files)."""
    from .delivery import volume_history

    config = (manifest.get("config") or {}).get("delivery") or {}
    limit = config.get("history_nights", 7)
    night = manifest.get("night")
    nights = volume_history(run_dir.parent, night, int(limit) - 1) if night else []
    tonight = {a: c["rows_read"] for a, c in _agencies(manifest).items()}
    nights.append({"night": night, "run_id": manifest.get("run_id"), "rows": tonight})
    before = nights[-2]["rows"] if len(nights) > 1 else {}
    checked = (manifest.get("delivery") or {}).get("agencies") or {}
    return {"nights": nights,
            "change": {a: (n - before[a]) / before[a] if before.get(a) else None
                       for a, n in tonight.items()},
            "max_drop": (manifest.get("delivery") or config).get("max_drop"),
            "accepted": sorted(a for a, e in checked.items() if e.get("accepted")),
            "control_files": {a: bool(checked[a].get("control_file")) if a in checked
                              else None for a in tonight}}


# --------------------------------------------------------------------------- 2. model


def _model(model_json: dict[str, Any]) -> dict[str, Any]:
    m = model_json.get("model") or {}
    fields = []
    for name, comp in (m.get("comparisons") or {}).items():
        uh = comp.get("u_household")
        levels = []
        for i, label in enumerate(comp["levels"]):
            mi, ui = comp["m"][i], comp["u"][i]
            uhi = uh[i] if uh is not None else None
            levels.append({"level": label, "m": mi, "u": ui, "u_household": uhi,
                           "weight": _log2_ratio(mi, ui),
                           "weight_household": _log2_ratio(mi, uhi)})
        fields.append({"field": name, "levels": levels})
    sessions = []
    for name, s in (m.get("sessions") or {}).items():
        sessions.append({"name": name, "rule": s.get("rule"), "pairs": int(s.get("pairs", 0)),
                         "estimated": list(s.get("estimated", [])),
                         "iterations": int(s.get("iterations", 0)),
                         "converged": bool(s.get("converged", False)),
                         "match_share": s.get("match_share"),
                         "household_share": s.get("household_share"),
                         "implausible": list(s.get("implausible", [])),
                         "history": list(s.get("history", []))})
    namesakes = (m.get("sessions") or {}).get("namesakes") or {}
    dob = (m.get("comparisons") or {}).get("dob") or {}
    return {"log2_prior_match": m.get("log2_prior_match"),
            "log2_prior_household": m.get("log2_prior_household"),
            "expected_matches": m.get("expected_matches"),
            "log2_prior_match_by_dob": m.get("log2_prior_match_by_dob"),
            "namesake_birth_dates": {
                "pairs": int(namesakes.get("pairs", 0)),
                "u_exact_by_rarity": namesakes.get("u_exact_by_rarity"),
                "u_exact_chance": (dob.get("u") or [None])[-1]},
            "fields": fields, "sessions": sessions}


# --------------------------------------------------------------------------- 3. weights


def _histogram(model_json: dict[str, Any], pairs: pd.DataFrame | None,
               threshold: float) -> dict[str, Any]:
    """Candidate pairs per match-weight bin: all, linked (probability at or above the
    threshold) and ruled out (probability 0: a constraint forbids the link)."""
    stored = model_json.get("weight_histogram") or {"edges": [], "pairs": [], "linked": []}
    if pairs is None:
        return {"source": "linkage_model.json", "edges": stored["edges"],
                "pairs": stored["pairs"], "linked": stored["linked"], "ruled_out": None}
    weight = pairs["weight"].to_numpy()
    prob = pairs["probability"].to_numpy()
    finite = np.isfinite(weight)
    if not finite.all():                       # the link stage clips; an old run may not
        weight, prob = weight[finite], prob[finite]
    edges = np.asarray(stored["edges"], dtype=np.float64)
    if len(edges) < 2 and len(weight):
        lo, hi = np.floor(float(weight.min())), np.ceil(float(weight.max())) + 1.0
        edges = np.arange(lo, hi + 0.5, 1.0)
    if len(edges) < 2:
        return {"source": LINKAGE_PAIRS, "edges": [], "pairs": [], "linked": [],
                "ruled_out": []}
    bins = len(edges) - 1
    if np.allclose(np.diff(edges), edges[1] - edges[0]):
        # one pass in the weights' own float32 (np.histogram's bins, last one closed)
        step = np.float32(edges[1] - edges[0])
        idx = ((weight - np.float32(edges[0])) / step).astype(np.int32)
        np.clip(idx, 0, bins - 1, out=idx)
    else:  # pragma: no cover - the link stage writes 1-bit bins
        idx = np.clip(np.searchsorted(edges, weight, side="right") - 1, 0, bins - 1)

    def count(mask: np.ndarray | None = None) -> list[int]:
        return np.bincount(idx if mask is None else idx[mask], minlength=bins).tolist()

    return {"source": LINKAGE_PAIRS, "edges": edges.tolist(), "pairs": count(),
            "linked": count(prob >= np.float32(threshold)), "ruled_out": count(prob <= 0)}


def _match_weights(model_json: dict[str, Any], pairs: pd.DataFrame | None) -> dict[str, Any]:
    t = model_json["threshold"]
    chosen = float(t["threshold"])
    curve = [{"threshold": float(c["threshold"]), "weight": _logit2(float(c["threshold"])),
              "links": int(c["links"]), "est_precision": c["est_precision"],
              "est_recall": c["est_recall"],
              "chosen": math.isclose(float(c["threshold"]), chosen, rel_tol=0, abs_tol=1e-12)}
             for c in model_json.get("curve", [])]
    counts = {k: int(v) for k, v in (model_json.get("pairs") or {}).items()}
    return {
        "pair_counts": counts,
        "ruled_out_pairs": int((pairs["probability"].to_numpy() <= 0).sum())
        if pairs is not None else None,
        "threshold": {"threshold": chosen, "weight": _logit2(chosen),
                      "est_precision": t.get("est_precision"),
                      "est_recall": t.get("est_recall"), "est_f1": t.get("est_f1"),
                      "links": int(t.get("links", 0)), "chosen": t.get("chosen", "automatic")},
        "curve": curve,
        "histogram": _histogram(model_json, pairs, chosen),
    }


# --------------------------------------------------------------------------- 4. clusters


def _clusters(records: pd.DataFrame, pairs: pd.DataFrame | None, model_json: dict[str, Any],
              threshold: float) -> dict[str, Any]:
    rules = SUSPICION_RULES
    agency_cat = records["agency"].astype("category")
    agencies = [str(a) for a in agency_cat.cat.categories]
    code = agency_cat.cat.codes.to_numpy(np.int64)
    na = max(len(agencies), 1)
    person = records["person"].to_numpy(np.int64)
    family = records["family"].to_numpy(np.int64)
    n_person = int(person.max()) + 1 if len(person) else 0
    n_family = int(family.max()) + 1 if len(family) else 0

    person_size = np.bincount(person, minlength=n_person)
    person_agency = np.bincount(person * na + code, minlength=n_person * na).reshape(-1, na)
    person_in_one = person_agency.max(axis=1) if n_person else np.zeros(0, np.int64)
    family_size = np.bincount(family, minlength=n_family)
    family_agency = np.bincount(family * na + code, minlength=n_family * na).reshape(-1, na)
    family_of_person = np.zeros(n_person, dtype=np.int64)
    family_of_person[person] = family
    persons_in_family = np.bincount(family_of_person[person_size > 0], minlength=n_family)
    multi = np.zeros(n_family, dtype=bool)
    multi[family] = records["multi_system"].to_numpy(bool)
    systems_cat = records["systems"].astype("category")
    system_names = np.asarray([str(s) for s in systems_cat.cat.categories], dtype=object)
    family_systems = np.zeros(n_family, dtype=np.int64)
    family_systems[family] = systems_cat.cat.codes.to_numpy(np.int64)
    weakest = np.full(n_family, np.nan)
    weakest[family] = records["link_probability"].to_numpy(np.float64)

    # cross-agency links inside each family (candidate pairs at or above the threshold;
    # clustering may have dropped a few of them as conflicting)
    cross_links = None
    if pairs is not None and "left" in pairs:
        prob = pairs["probability"].to_numpy()
        keep = prob >= np.float32(threshold)
        left = pairs["left"].to_numpy(np.int64)[keep]
        right = pairs["right"].to_numpy(np.int64)[keep]
        inside = (family[left] == family[right]) & (code[left] != code[right])
        cross_links = np.bincount(family[left[inside]], minlength=n_family)

    fam_dist = np.bincount(family_size) if n_family else np.zeros(0, np.int64)
    multi_dist = np.bincount(family_size[multi], minlength=len(fam_dist)) if n_family \
        else np.zeros(0, np.int64)
    family_sizes = [{"records": int(s), "families": int(n), "multi_system_families":
                     int(multi_dist[s])} for s, n in enumerate(fam_dist) if n and s]

    def family_row(f: int) -> dict[str, Any]:
        w = weakest[f]
        return {"records": int(family_size[f]), "persons": int(persons_in_family[f]),
                "systems": str(system_names[family_systems[f]]),
                "records_by_agency": {a: int(family_agency[f, i])
                                      for i, a in enumerate(agencies) if family_agency[f, i]},
                "weakest_link": None if np.isnan(w) else float(w),
                "cross_agency_links": None if cross_links is None else int(cross_links[f])}

    order = np.lexsort((-persons_in_family, -family_size))[:LARGEST_FAMILIES] \
        if n_family else []
    large_person = person_size > rules["person_records_over"]
    many_in_one = person_in_one > rules["person_agency_records_over"]
    large_family = family_size > rules["family_records_over"]
    weak = multi & (weakest < rules["weak_link_below"])
    weak_ids = np.flatnonzero(weak)
    weak_ids = weak_ids[np.argsort(weakest[weak_ids], kind="stable")]
    single = None if cross_links is None else int((weak & (cross_links <= 1)).sum())
    by_combo = {k: 0 for k in SYSTEM_COMBINATIONS}
    for s, n in zip(*np.unique(family_systems[weak], return_counts=True)):
        by_combo[str(system_names[s])] = int(n)

    return {
        "links_by_agency_pair": {str(k): int(v) for k, v in
                                 (model_json.get("links_by_agency_pair") or {}).items()},
        "person_sizes": _size_table(person_size[person_size > 0], "records", "persons"),
        "family_sizes": family_sizes,
        "largest_families": [family_row(int(f)) for f in order],
        "suspicious": {
            "rules": dict(rules),
            "large_persons": {"count": int(large_person.sum()), "sizes": _size_table(
                person_size[large_person], "records", "persons")},
            "persons_many_records_in_one_agency": {
                "count": int(many_in_one.sum()),
                "by_agency": {a: int((person_agency[many_in_one, i]
                                      > rules["person_agency_records_over"]).sum())
                              for i, a in enumerate(agencies)},
                "sizes": _size_table(person_in_one[many_in_one], "records_in_one_agency",
                                     "persons")},
            "large_families": {"count": int(large_family.sum()), "sizes": _size_table(
                family_size[large_family], "records", "families")},
            "weak_multi_system_families": {
                "count": int(weak.sum()), "single_cross_agency_link": single,
                "by_systems": by_combo,
                "families": [family_row(int(f)) for f in weak_ids[:WEAK_FAMILIES_LISTED]]},
        },
    }


# --------------------------------------------------------------------------- 5. blocking


def _blocking(model_json: dict[str, Any]) -> dict[str, Any]:
    rules = [{k: (str(v) if k == "rule" else int(v)) for k, v in b.items()}
             for b in model_json.get("blocking", [])]
    return {"rules": rules, "pairs_before_deduplication": sum(r["pairs"] for r in rules),
            "candidate_pairs": int((model_json.get("pairs") or {}).get("candidates", 0)),
            "capped_rules": [r["rule"] for r in rules if r["capped_blocks"]],
            "largest_block": max((r["largest_block"] for r in rules), default=0)}


def _privacy_audit(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """Part 8: the manifest's ``audit`` (aggregate shares only), or None."""
    audit = manifest.get("audit")
    return json.loads(json.dumps(audit)) if audit else None


# --------------------------------------------------------------------------- 6. nights


def night_over_night(current: pd.DataFrame, previous: pd.DataFrame) -> dict[str, Any]:
    """How families changed between two nights, joined on the stable record pseudonym.

    Args:
        current: tonight's records: ``record`` (pseudonym), ``family_id``, ``multi_system``.
        previous: the previous run's records, same columns.

    Returns:
        ``all``: families tonight and before; ``new`` (ids not in the previous run),
        ``gone`` (previous ids absent tonight), ``merged`` (tonight's families holding
        records of two or more previous families), ``split`` (previous families whose
        records tonight are in two or more families); records tonight, before, in both,
        arrived, left, and in both with another ``family_id``. ``multi_system``: the same
        for multi-system families (the roster's): ``new`` and ``gone`` count ids new or
        gone altogether, ``entered`` and ``left`` ids that exist on both nights but became
        or stopped being multi-system; ``merged`` / ``split`` are multi-system families
        tonight / before that merged / split (with any family); records whose family
        changed counts records in a multi-system family on either night.
    """
    codes, _ = pd.factorize(np.concatenate([current["family_id"].to_numpy(object),
                                             previous["family_id"].to_numpy(object)]))
    return _compare_nights(current["record"].to_numpy(np.uint64), codes[:len(current)],
                           current["multi_system"].to_numpy(bool),
                           previous["record"].to_numpy(np.uint64), codes[len(current):],
                           previous["multi_system"].to_numpy(bool))


def _compare_nights(cur_rec: np.ndarray, cur_f: np.ndarray, cur_m: np.ndarray,
                    prev_rec: np.ndarray, prev_f: np.ndarray, prev_m: np.ndarray
                    ) -> dict[str, Any]:
    """:func:`night_over_night` on arrays: record pseudonyms, family codes (one code per
    family id across both nights) and multi-system flags of each night's records."""
    cur_f, prev_f = cur_f.astype(np.int64), prev_f.astype(np.int64)
    n = int(max(cur_f.max(initial=-1), prev_f.max(initial=-1))) + 1
    in_cur = np.zeros(n, bool)
    in_cur[cur_f] = True
    in_prev = np.zeros(n, bool)
    in_prev[prev_f] = True
    multi_cur = np.zeros(n, bool)
    multi_cur[cur_f[cur_m]] = True
    multi_prev = np.zeros(n, bool)
    multi_prev[prev_f[prev_m]] = True

    # records on both nights: tonight's row -> the previous night's row
    try:
        where = pd.Index(prev_rec).get_indexer(cur_rec)           # hash look-up
    except pd.errors.InvalidIndexError:                          # pragma: no cover
        order = np.argsort(prev_rec, kind="stable")              # duplicate pseudonyms
        at = np.minimum(np.searchsorted(prev_rec[order], cur_rec), len(prev_rec) - 1)
        where = np.where(prev_rec[order][at] == cur_rec, order[at], -1)
    a_rows = np.flatnonzero(where >= 0)
    b_rows = where[a_rows]
    both_cur, both_prev = cur_f[a_rows], prev_f[b_rows]
    key = np.sort(both_cur * n + both_prev)
    links = key[np.r_[True, key[1:] != key[:-1]]] if len(key) else key   # distinct pairs
    prev_per_cur = np.bincount(links // n, minlength=n)     # previous families per family
    cur_per_prev = np.bincount(links % n, minlength=n)      # tonight's families per family
    merged = in_cur & (prev_per_cur >= 2)
    split = in_prev & (cur_per_prev >= 2)
    changed = both_cur != both_prev
    touched = cur_m[a_rows] | prev_m[b_rows]
    return {
        "all": {"families_tonight": int(in_cur.sum()), "families_previous": int(in_prev.sum()),
                "new": int((in_cur & ~in_prev).sum()), "gone": int((in_prev & ~in_cur).sum()),
                "merged": int(merged.sum()), "split": int(split.sum()),
                "records_tonight": len(cur_rec), "records_previous": len(prev_rec),
                "records_both": len(a_rows), "records_arrived": len(cur_rec) - len(a_rows),
                "records_left": len(prev_rec) - len(a_rows),
                "records_family_changed": int(changed.sum())},
        "multi_system": {
            "families_tonight": int(multi_cur.sum()), "families_previous": int(multi_prev.sum()),
            "new": int((multi_cur & ~in_prev).sum()), "gone": int((multi_prev & ~in_cur).sum()),
            "entered": int((multi_cur & in_prev & ~multi_prev).sum()),
            "left": int((multi_prev & in_cur & ~multi_cur).sum()),
            "merged": int((merged & multi_cur).sum()), "split": int((split & multi_prev).sum()),
            "records_family_changed": int((changed & touched).sum())},
    }


def _night_state(run: Path, multi_system: np.ndarray | None = None
                 ) -> tuple[np.ndarray, pa.Array, np.ndarray] | None:
    """A run's record pseudonyms, family ids (Arrow) and multi-system flags, or None."""
    state = run / ID_STATE
    if not state.exists() or not (run / LINKAGE_RECORDS).exists():
        return None
    table = pq.read_table(state, columns=["record", "family_id"])
    if multi_system is None:
        multi_system = pq.read_table(run / LINKAGE_RECORDS, columns=["multi_system"]) \
            .column("multi_system").to_numpy()
    return (table.column("record").to_numpy(), table.column("family_id").combine_chunks(),
            np.asarray(multi_system, dtype=bool))


def _nights(run_dir: Path, manifest: dict[str, Any], prev_dir: Path | None,
            records: pd.DataFrame) -> dict[str, Any]:
    roster = manifest.get("roster") or {}
    carry = {k: roster[k] for k in ("family_ids", "person_ids") if k in roster} or None
    base = {"previous_run": prev_dir.name if prev_dir else None, "carry_over": carry,
            "all": None, "multi_system": None}
    if prev_dir is None:
        named = roster.get("previous_run")
        return {**base, "available": False, "note": (
            f"the previous run {named} is not beside this run folder" if named else
            "no previous run in this output root: this is the first night, so there is "
            "nothing to compare with")}
    current = _night_state(run_dir, records["multi_system"].to_numpy(bool))
    previous = _night_state(prev_dir)
    if current is None or previous is None:
        return {**base, "available": False,
                "note": "the id state of this run or of the previous run is missing"}
    # one code per family id over both nights (Arrow's hash encoding: fast at millions)
    codes = pa.concat_arrays([current[1], previous[1]]).dictionary_encode().indices \
        .to_numpy(zero_copy_only=False)
    k = len(current[0])
    return {**base, "available": True, "note": "",
            **_compare_nights(current[0], codes[:k], current[2],
                              previous[0], codes[k:], previous[2])}


# --------------------------------------------------------------------------- 7. truth


def measured_pair_quality(prob: np.ndarray, true: np.ndarray, thresholds: list[float]
                          ) -> list[dict[str, Any]]:
    """Measured precision and recall of the candidate pairs at each threshold.

    Args:
        prob: each candidate pair's probability (after constraints).
        true: whether the pair's two records are the same true person.
        thresholds: probability thresholds.

    Returns:
        Per threshold: ``links`` (pairs at or above it), ``true_links``,
        ``measured_precision`` (true links / links; None without links) and
        ``measured_recall`` (true links / true matches among all candidate pairs; None
        without true matches).
    """
    total_true = int(true.sum())
    if len(thresholds):                      # one pass over all pairs, then the few left
        head = prob >= np.float32(min(thresholds))
        prob, true = prob[head], true[head]
    out = []
    for t in thresholds:
        above = prob >= np.float32(t)
        links = int(above.sum())
        hits = int((above & true).sum())
        out.append({"threshold": float(t), "links": links, "true_links": hits,
                    "measured_precision": hits / links if links else None,
                    "measured_recall": hits / total_true if total_true else None})
    return out


def _truth_rows(run_dir: Path, truth: pa.Table) -> np.ndarray:
    """For each record row of the run, its row in the truth table (-1: not in the truth),
    by a hash join on ``agency`` and ``record_id`` (in Arrow: fast at millions of rows)."""
    ids = pq.read_table(run_dir / LINKAGE_RECORDS, columns=["agency", "record_id"])
    ids = ids.append_column("_row", pa.array(np.arange(ids.num_rows, dtype=np.int64)))
    keys = truth.select(["agency", "record_id"]).append_column(
        "_truth_row", pa.array(np.arange(truth.num_rows, dtype=np.int64)))
    joined = ids.join(keys, keys=["agency", "record_id"], join_type="left outer")
    rows = np.full(ids.num_rows, -1, dtype=np.int64)
    rows[joined.column("_row").to_numpy()] = \
        joined.column("_truth_row").fill_null(-1).to_numpy()
    return rows


def _codes(column: pa.ChunkedArray) -> np.ndarray:
    """Integer codes of a string column (equal strings, equal codes; null -1)."""
    enc = column.combine_chunks().dictionary_encode()
    return enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _truth(run_dir: Path, records: pd.DataFrame, pairs: pd.DataFrame | None, truth_dir: Path,
           weights: dict[str, Any]) -> dict[str, Any]:
    from pipeline.evaluate import linkage_vs_truth

    path = Path(truth_dir) / "records.parquet"
    if not path.exists():
        raise ReportError("truth file missing", where=str(path),
                          hint="pass the synthetic night's truth/ folder")
    truth = pq.read_table(path, columns=["agency", "record_id", "person_key", "family_key",
                                         "multi_system", "traps"], read_dictionary=["traps"])
    rows = _truth_rows(run_dir, truth)
    found = np.flatnonzero(rows >= 0)
    person_key, family_key = _codes(truth.column("person_key")), \
        _codes(truth.column("family_key"))
    # pipeline.evaluate joins result and truth on (agency, record_id): give it integer keys
    # (the record's row) and integer person and family keys, same figures, much faster
    agency = records["agency"].cat.codes.to_numpy(np.int64)
    result = pd.DataFrame({"agency": agency, "record_id": np.arange(len(records)),
                           "record_kind": records["record_kind"],
                           "person": records["person"].to_numpy(),
                           "family": records["family"].to_numpy(),
                           "multi_system": records["multi_system"].to_numpy(bool)})
    keyed = pd.DataFrame({"agency": agency[found], "record_id": found,
                          "person_key": person_key[rows[found]],
                          "family_key": family_key[rows[found]],
                          "multi_system": truth.column("multi_system").to_numpy()[rows[found]],
                          "traps": truth.column("traps").to_pandas().take(rows[found])
                          .reset_index(drop=True)})
    measured = linkage_vs_truth(result, keyed)
    linkage = {k: measured[k] for k in ("record", "person_pair", "family_pair",
                                         "guardian_record", "contact_record")}
    linkage["multi_system_families"] = measured["multi_system_families"]
    traps = {"trap_records": measured["trap_records"],
             "trap_records_wrongly_in": measured["trap_records_wrongly_in"]}

    # the true person of each record row (-1: not in the truth)
    codes = np.where(rows >= 0, person_key[np.maximum(rows, 0)], -1)
    person_key_sizes = np.bincount(codes[codes >= 0])
    true_pairs_all = int((person_key_sizes * (person_key_sizes - 1) // 2).sum())

    candidates = at = None
    curve: list[dict[str, Any]] = []
    if pairs is not None:
        left = pairs["left"].to_numpy(np.int64)
        right = pairs["right"].to_numpy(np.int64)
        true = (codes[left] == codes[right]) & (codes[left] >= 0)
        prob = pairs["probability"].to_numpy()
        possible = prob > 0
        candidates = {"pairs": len(pairs), "true_matches": int(true.sum()),
                      "true_matches_ruled_out": int((true & ~possible).sum()),
                      "expected_matches": float(prob.sum(dtype=np.float64)),
                      "true_same_person_pairs": true_pairs_all,
                      "blocking_recall": int(true.sum()) / true_pairs_all
                      if true_pairs_all else None}
        est = {round(c["threshold"], 12): c for c in weights["curve"]}
        th = weights["threshold"]
        thresholds = [c["threshold"] for c in weights["curve"]]
        rows = measured_pair_quality(prob, true, [th["threshold"], *thresholds])

        def side_by_side(m: dict[str, Any], e: dict[str, Any]) -> dict[str, Any]:
            row = {"threshold": m["threshold"], "links": m["links"],
                   "true_links": m["true_links"],
                   "est_precision": e["est_precision"],
                   "measured_precision": m["measured_precision"],
                   "est_recall": e["est_recall"], "measured_recall": m["measured_recall"]}
            for k in ("precision", "recall"):
                a, b = row[f"est_{k}"], row[f"measured_{k}"]
                row[f"{k}_abs_diff"] = abs(a - b) if a is not None and b is not None else None
            return row

        at = side_by_side(rows[0], th)
        true_possible = int((true & possible).sum())
        at["measured_recall_excluding_ruled_out"] = \
            at["true_links"] / true_possible if true_possible else None
        at["within_target"] = bool(at["precision_abs_diff"] is not None
                                   and at["recall_abs_diff"] is not None
                                   and at["precision_abs_diff"] <= TARGET_DIFFERENCE
                                   and at["recall_abs_diff"] <= TARGET_DIFFERENCE)
        curve = [side_by_side(m, est[round(m["threshold"], 12)]) for m in rows[1:]]
    return {"target_abs_diff": TARGET_DIFFERENCE, "linkage": linkage, "traps": traps,
            "candidate_pairs": candidates, "at_threshold": at, "curve": curve}


# --------------------------------------------------------------------------- flags


def _flags(report: dict[str, Any]) -> list[dict[str, str]]:
    """Short notes for the analyst: what in tonight's figures deserves a look."""
    flags = []
    h = report["headline"]
    limit = h.get("quarantine_limit")
    for agency, c in h["agencies"].items():
        if limit and c["quarantined_share"] >= limit / 2:
            flags.append({"part": "headline", "message":
                          f"{agency} quarantined {100 * c['quarantined_share']:.1f} % of its "
                          f"rows (the run stops at {100 * limit:.0f} %)."})
    if h["change"]:
        before = h["previous"]["figures"]["multi_system_families"]
        now = h["figures"]["multi_system_families"]
        if before and abs(now - before) > 0.1 * before:
            flags.append({"part": "headline", "message":
                          f"Multi-system families changed from {before:,} to {now:,} "
                          "since the previous run (more than 10 %)."})
    v = h["volume"]
    warn = (v["max_drop"] if v["max_drop"] is not None else 0.2) / 2
    for agency, change in v["change"].items():
        if change is not None and change <= -warn:
            now, before = v["nights"][-1], v["nights"][-2]
            flags.append({"part": "headline", "message":
                          f"{agency} delivered {100 * -change:.1f} % fewer rows than on "
                          f"{before['night']} ({now['rows'][agency]:,} against "
                          f"{before['rows'][agency]:,})" + (
                              "; the steward accepted the drop." if agency in v["accepted"]
                              else ".")})
    for s in report["model"]["sessions"]:
        if not s["converged"]:
            flags.append({"part": "model", "message":
                          f"EM session '{s['name']}' did not converge."})
        for x in s.get("implausible", []):
            used = x.get("used", x.get("u"))
            why = ("cannot be evidence for a match that strongly" if x["m"] > used else
                   "would make it stronger evidence against a match than a farther level")
            flags.append({"part": "model", "message":
                          f"The model estimated m = {x['m']:.4f} for {x['comparison']} "
                          f"'{x['level']}', which {why}; it used {used:.4f}."})
    sus = report["clusters"]["suspicious"]
    for key, what in (("large_persons", "Persons with more than "
                       f"{sus['rules']['person_records_over']:g} records"),
                      ("persons_many_records_in_one_agency", "Persons with more than "
                       f"{sus['rules']['person_agency_records_over']:g} records in one agency"),
                      ("large_families", "Families with more than "
                       f"{sus['rules']['family_records_over']:g} records"),
                      ("weak_multi_system_families", "Multi-system families whose weakest "
                       f"cross-agency link is below {sus['rules']['weak_link_below']:g}")):
        if sus[key]["count"]:
            flags.append({"part": "clusters", "message": f"{what}: {sus[key]['count']:,}."})
    if report["blocking"]["capped_rules"]:
        flags.append({"part": "blocking", "message": "Blocks were capped in rule(s) "
                      + ", ".join(report["blocking"]["capped_rules"]) + "."})
    a = report.get("privacy_audit")
    if a and a["over_limit"]:
        flags.append({"part": "privacy_audit", "message":
                      f"The privacy audit re-identifies more than {100 * a['limit']:.2f} % of "
                      f"records on {len(a['over_limit'])} field(s) or blocking rule(s), worst "
                      + ", ".join(f"{o['name']} {100 * o['share_records']:.1f} %"
                                  for o in a["over_limit"][:3]) + " (part 8)."})
    t = report.get("truth")
    if t and t["at_threshold"] and not t["at_threshold"]["within_target"]:
        flags.append({"part": "truth", "message": "The model's estimated precision or recall "
                      "at the threshold is more than "
                      f"{t['target_abs_diff']:g} away from the measured one."})
    return flags


# --------------------------------------------------------------------------- public API


def build_report(run_dir: Path, manifest: dict[str, Any], truth: Path | None = None,
                 previous_run: Path | None = None) -> dict[str, Any]:
    """The match-quality report of a run, as a JSON-able dict (no NaN: null).

    Args:
        run_dir: the run folder (or the flow's partial folder) holding the link and
            publish stages' outputs.
        manifest: the run's manifest as a dict (the flow builds the report before it
            writes ``manifest.json``; for an old run pass ``RUN/manifest.json`` read).
        truth: a synthetic night's ``truth/`` folder: adds the measured quality and the
            measured precision and recall of the candidate pairs beside the estimates.
        previous_run: the previous night's run folder; default
            ``run_dir.parent / manifest["roster"]["previous_run"]`` when that exists.

    Returns:
        The report (see the module docstring and ``SCHEMA_PATH``).

    Raises:
        ReportError: an input file the report needs is missing.
    """
    run_dir = Path(run_dir)
    model_json = _read_json(run_dir / LINKAGE_MODEL)
    records = _read_records(run_dir)
    pairs = _read_pairs(run_dir)
    prev_dir = _previous_dir(run_dir, manifest, previous_run)
    prev_manifest = None
    if prev_dir is not None and (prev_dir / MANIFEST).exists():
        prev_manifest = _read_json(prev_dir / MANIFEST)
    weights = _match_weights(model_json, pairs)
    report: dict[str, Any] = {
        "report_version": REPORT_VERSION,
        "run_id": manifest.get("run_id"),
        "night": manifest.get("night"),
        # ISO 8601 basic format, like the run id (no YYYY-MM-DD that reads as a date)
        "generated_at": f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}",
        "software": software_version(),
        "previous_run": prev_dir.name if prev_dir else None,
        "headline": {**_headline(manifest, prev_manifest, prev_dir.name if prev_dir else None),
                     "volume": _volume(run_dir, manifest)},
        "model": _model(model_json),
        "match_weights": weights,
        "clusters": _clusters(records, pairs, model_json, weights["threshold"]["threshold"]),
        "blocking": _blocking(model_json),
        "night_over_night": _nights(run_dir, manifest, prev_dir, records),
        "truth": _truth(run_dir, records, pairs, Path(truth), weights)
        if truth is not None else None,
        "privacy_audit": _privacy_audit(manifest),
    }
    report["flags"] = _flags(report)
    return _clean(report)


def load_schema() -> dict[str, Any]:
    """The report's JSON Schema (``SCHEMA_PATH``)."""
    return json.loads(SCHEMA_PATH.read_text())


def validate_report(report: dict[str, Any]) -> None:
    """Check a report against its JSON Schema (Draft 2020-12).

    Raises:
        ReportError: the report does not match the schema (the first error, with its
            JSON path).
    """
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(load_schema())
    errors = sorted(validator.iter_errors(report), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        raise ReportError(f"match-quality report does not match its schema: {e.message}",
                          where=f"{REPORT_JSON} at {where}",
                          hint=f"{len(errors)} error(s); the schema is {SCHEMA_PATH.name}")


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(run_dir: Path, manifest: dict[str, Any], truth: Path | None = None,
                 previous_run: Path | None = None) -> dict[str, Any]:
    """Build, validate and write ``match_quality.json`` and ``match_quality.html``.

    Both files are written atomically (a temporary name, then ``os.replace``) into
    ``run_dir``; the JSON is validated against ``SCHEMA_PATH`` first, so nothing is written
    when it does not match.

    Args:
        run_dir, manifest, truth, previous_run: as for :func:`build_report`.

    Returns:
        A small summary for the log: ``files``, the headline ``counts``, the threshold with
        its estimated precision and recall, and (with truth) the measured ones at the
        threshold with the absolute differences.

    Raises:
        ReportError: an input is missing or the report does not match its schema.
    """
    run_dir = Path(run_dir)
    report = build_report(run_dir, manifest, truth=truth, previous_run=previous_run)
    validate_report(report)
    html = render_html(report)
    _write_atomic(run_dir / REPORT_JSON, json.dumps(report, indent=1, allow_nan=False) + "\n")
    _write_atomic(run_dir / REPORT_HTML, html)
    f, t = report["headline"]["figures"], report["match_weights"]["threshold"]
    summary: dict[str, Any] = {
        "files": [REPORT_JSON, REPORT_HTML],
        "counts": {k: f[k] for k in ("records", "persons", "families",
                                     "multi_system_families")},
        "threshold": t["threshold"], "est_precision": t["est_precision"],
        "est_recall": t["est_recall"], "flags": len(report["flags"]),
    }
    at = (report.get("truth") or {}).get("at_threshold")
    if at:
        summary["measured"] = {k: at[k] for k in (
            "measured_precision", "measured_recall", "precision_abs_diff", "recall_abs_diff",
            "within_target")}
    return summary


def _md_num(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, int):
        return f"{x:,}"
    return f"{x:.3f}"


def _md_change(x: Any) -> str:
    return "-" if x is None else f"{x:+,}"


def headline_markdown(report: dict[str, Any]) -> str:
    """The headline as markdown tables (a Prefect artifact): per agency rows read and
    quarantined, then the night's figures with the previous run's and the change."""
    h = report["headline"]
    prev = h["previous"]
    lines = [f"# Match quality {report['night']}", "",
             "| agency | rows read | quarantined | share | person records |",
             "|---|---:|---:|---:|---:|"]
    for a, c in h["agencies"].items():
        lines.append(f"| {a} | {c['rows_read']:,} | {c['rows_quarantined']:,} | "
                     f"{100 * c['quarantined_share']:.2f} % | {c['records_out']:,} |")
    lines += ["", f"| figure | tonight | previous ({prev['night'] if prev else 'none'}) "
              "| change |", "|---|---:|---:|---:|"]
    change = (h["change"] or {}).get("figures", {})
    pf = prev["figures"] if prev else {}
    for key, label in _FIGURE_LABELS:
        if key.startswith("by_systems."):
            k = key.split(".", 1)[1]
            now, before = h["figures"]["by_systems"][k], (pf.get("by_systems") or {}).get(k)
            diff = (change.get("by_systems") or {}).get(k)
        else:
            now, before, diff = h["figures"][key], pf.get(key), change.get(key)
        lines.append(f"| {label} | {_md_num(now)} | {_md_num(before)} | {_md_change(diff)} |")
    if report["flags"]:
        lines += ["", "**To look at:**", *[f"- {f['message']}" for f in report["flags"]]]
    return "\n".join(lines) + "\n"


def threshold_markdown(report: dict[str, Any]) -> str:
    """The threshold table as markdown (a Prefect artifact): estimated precision and
    recall at the chosen threshold and either side, with the measured ones on a
    synthetic night."""
    w = report["match_weights"]
    t = report["truth"]
    measured = {round(r["threshold"], 6): r for r in (t or {}).get("curve", [])}
    head = "| threshold | links | est. precision | est. recall |"
    rule = "|---:|---:|---:|---:|"
    if measured:
        head += " measured precision | measured recall |"
        rule += "---:|---:|"
    lines = [f"Threshold {w['threshold']['threshold']:.3f} ({w['threshold']['chosen']}): "
             f"{w['threshold']['links']:,} links of "
             f"{w['pair_counts'].get('scored', w['pair_counts'].get('candidates', 0)):,} "
             "scored pairs.", "", head, rule]
    for c in w["curve"]:
        mark = "**" if c["chosen"] else ""
        row = (f"| {mark}{c['threshold']:.3f}{mark} | {c['links']:,} | "
               f"{_md_num(c['est_precision'])} | {_md_num(c['est_recall'])} |")
        m = measured.get(round(c["threshold"], 6))
        if measured:
            row += (f" {_md_num(m and m['measured_precision'])} | "
                    f"{_md_num(m and m['measured_recall'])} |")
        lines.append(row)
    return "\n".join(lines) + "\n"


_FIGURE_LABELS: tuple[tuple[str, str], ...] = (
    ("rows_read", "rows read"), ("rows_quarantined", "rows quarantined"),
    ("records", "records linked"), ("persons", "persons"), ("families", "families"),
    ("links", "links kept"), ("multi_system_families", "multi-system families"),
    ("multi_system_persons", "persons in multi-system families"),
    ("multi_system_records", "records in multi-system families"),
    *((f"by_systems.{k}", f"families {k}") for k in SYSTEM_COMBINATIONS))


# --------------------------------------------------------------------------- charts

_BLUE, _ORANGE, _RED, _GREEN, _GREY, _PURPLE = ("#0072B2", "#E69F00", "#D55E00", "#009E73",
                                                "#9a9a9a", "#CC79A7")
_RC = {"svg.fonttype": "path", "svg.hashsalt": "sst-match-quality", "font.size": 9,
       "axes.titlesize": 10, "axes.labelsize": 9, "axes.spines.top": False,
       "axes.spines.right": False, "legend.fontsize": 8, "legend.frameon": False}


def _svg(fig: Any, n: int) -> str:
    """The figure as inline ``<svg>`` markup: no XML prolog, doctype or metadata, and ids
    prefixed so that several charts can share one page."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    prefix = f"c{n}-"
    text = re.sub(r'\bid="', f'id="{prefix}', text)
    text = text.replace("url(#", f"url(#{prefix}").replace('href="#', f'href="#{prefix}')
    return text.replace("<svg ", '<svg class="chart" role="img" ', 1)


def _chart_convergence(report: dict[str, Any], fig: Any) -> bool:
    sessions = [s for s in report["model"]["sessions"] if len(s["history"]) > 1]
    if not sessions:
        return False
    axes = fig.subplots(1, len(sessions), squeeze=False)[0]
    fig.set_size_inches(2.6 * len(sessions) + 0.6, 2.3)
    for ax, s in zip(axes, sessions):
        hist = s["history"]
        ax.plot(range(1, len(hist) + 1), hist, color=_BLUE, lw=1.5)
        ax.set_title(s["name"], fontsize=9)
        ax.set_xlabel("EM iteration")
        if len(hist) > 50:
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("match share")
    return True


def _chart_weights(report: dict[str, Any], fig: Any) -> bool:
    h = report["match_weights"]["histogram"]
    if len(h["edges"]) < 2:
        return False
    ruled = h["ruled_out"]
    fig.set_size_inches(9, 4.4 if ruled is not None else 3.4)
    if ruled is not None:
        ax, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2.6, 1]})
    else:
        ax, ax2 = fig.subplots(), None
    edges = np.asarray(h["edges"], dtype=float)
    left, width = edges[:-1], np.diff(edges)
    ax.bar(left, h["pairs"], width=width, align="edge", color=_GREY,
           label="all candidate pairs")
    ax.bar(left, h["linked"], width=width, align="edge", color=_BLUE,
           label="linked (probability at or above the threshold)")
    if ax2 is not None:
        ax2.bar(left, ruled, width=width, align="edge", color=_RED, alpha=0.8,
                label="ruled out by a constraint (probability 0: can never link)")
    t = report["match_weights"]["threshold"]
    for a in (ax, ax2):
        if a is None:
            continue
        a.set_yscale("log")
        a.set_ylim(bottom=0.7, top=max(max(h["pairs"], default=1), 1) * 2.5)
        a.grid(axis="y", alpha=0.3)
        if t["weight"] is not None:
            a.axvline(t["weight"], color="black", ls="--", lw=1)
    if t["weight"] is not None:
        ax.annotate(f"threshold p = {t['threshold']:.3f}\n(weight {t['weight']:.1f})",
                    (t["weight"], 1), xycoords=("data", "axes fraction"),
                    xytext=(4, -2), textcoords="offset points", va="top", fontsize=8)
    ax.set_ylabel("candidate pairs (log)")
    ax.legend(loc="upper left")
    ax.set_title("Match weights of the candidate pairs")
    bottom = ax
    if ax2 is not None:
        ax2.set_ylabel("ruled out (log)")
        ax2.legend(loc="upper left")
        bottom = ax2
    bottom.set_xlabel("match weight (log2 odds that the two records are one person)")
    return True


def _chart_curve(report: dict[str, Any], fig: Any) -> bool:
    curve = report["match_weights"]["curve"]
    if not curve:
        return False
    fig.set_size_inches(9, 3.2)
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    x = [c["threshold"] for c in curve]
    ax.plot(x, [c["est_precision"] for c in curve], "o-", color=_BLUE, ms=3,
            label="estimated precision")
    ax.plot(x, [c["est_recall"] for c in curve], "s-", color=_ORANGE, ms=3,
            label="estimated recall")
    t = report.get("truth")
    if t and t["curve"]:
        mx = [r["threshold"] for r in t["curve"]]
        ax.plot(mx, [r["measured_precision"] for r in t["curve"]], "o--", color=_BLUE,
                mfc="white", ms=4, label="measured precision (truth)")
        ax.plot(mx, [r["measured_recall"] for r in t["curve"]], "s--", color=_ORANGE,
                mfc="white", ms=4, label="measured recall (truth)")
    chosen = report["match_weights"]["threshold"]["threshold"]
    for a in (ax, ax2):
        a.axvline(chosen, color="black", ls="--", lw=1)
        a.set_xlabel("probability threshold")
        a.grid(alpha=0.3)
        a.set_xlim(0, 1)
    ax.set_ylabel("precision / recall")
    ax.set_title("Precision and recall if the threshold were moved")
    ax.legend(loc="lower left")
    ax2.plot(x, [c["links"] for c in curve], "o-", color=_GREEN, ms=3)
    ax2.set_ylabel("pairs at or above")
    ax2.set_title("Links at each threshold")
    return True


def _chart_sizes(report: dict[str, Any], fig: Any) -> bool:
    c = report["clusters"]
    if not c["family_sizes"]:
        return False
    fig.set_size_inches(9, 3)
    ax, ax2 = fig.subplots(1, 2)
    ps = c["person_sizes"]
    ax.bar([r["records"] for r in ps], [r["persons"] for r in ps], color=_BLUE)
    ax.set_yscale("log")
    ax.set_xlabel("records per person")
    ax.set_ylabel("persons (log scale)")
    ax.set_title("Person sizes")
    fs = c["family_sizes"]
    x = np.asarray([r["records"] for r in fs], dtype=float)
    ax2.bar(x - 0.2, [r["families"] for r in fs], width=0.4, color=_GREY, label="all families")
    ax2.bar(x + 0.2, [r["multi_system_families"] for r in fs], width=0.4, color=_BLUE,
            label="multi-system families")
    ax2.set_yscale("log")
    ax2.set_xlabel("records per family")
    ax2.set_ylabel("families (log scale)")
    ax2.set_title("Family sizes")
    ax2.legend(loc="upper right")
    for a in (ax, ax2):
        a.xaxis.get_major_locator().set_params(integer=True)
        a.grid(axis="y", alpha=0.3)
    return True


def _chart_volume(report: dict[str, Any], fig: Any) -> bool:
    nights = report["headline"]["volume"]["nights"]
    if len(nights) < 2:
        return False
    fig.set_size_inches(6.5, 2.6)
    ax = fig.subplots()
    agencies = sorted({a for n in nights for a in n["rows"]})
    for agency, color in zip(agencies, (_BLUE, _ORANGE, _GREEN, _PURPLE, _GREY)):
        rows = np.array([n["rows"].get(agency, np.nan) for n in nights], dtype=float)
        top = np.nanmax(rows) if np.isfinite(rows).any() and np.nanmax(rows) > 0 else 1.0
        ax.plot(range(len(nights)), 100 * rows / top, "o-", color=color, ms=4, label=agency)
    drop = report["headline"]["volume"]["max_drop"]
    if drop is not None:
        ax.axhline(100 * (1 - drop), color="black", ls="--", lw=0.8)
    ax.set_xticks(range(len(nights)), [n["night"] or "" for n in nights], fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("% of its largest night")
    ax.set_title("Rows delivered per agency, night by night (tonight last)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    return True


def _barh(fig: Any, names: list[str], values: list[int], colors: list[str], xlabel: str,
          title: str) -> Any:
    """A horizontal bar per name, first at the top (the report's list-like charts)."""
    fig.set_size_inches(6, 0.35 * len(names) + 0.9)
    ax = fig.subplots()
    ax.barh(names, values, color=colors)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return ax


def _chart_agency_pairs(report: dict[str, Any], fig: Any) -> bool:
    links = report["clusters"]["links_by_agency_pair"]
    if not links:
        return False
    names = list(links)
    ax = _barh(fig, names, [links[n] for n in names],
               [_BLUE if len(set(n.split("+"))) > 1 else _GREY for n in names],
               "links kept", "Links by agency pair (blue: across agencies)")
    for i, n in enumerate(names):
        ax.annotate(f"{links[n]:,}", (links[n], i), xytext=(3, 0), textcoords="offset points",
                    va="center", fontsize=8)
    return True


def _chart_blocking(report: dict[str, Any], fig: Any) -> bool:
    rules = report["blocking"]["rules"]
    if not rules:
        return False
    ax = _barh(fig, [r["rule"] for r in rules], [max(r["pairs"], 0) for r in rules],
               [_RED if r["capped_blocks"] else _BLUE for r in rules],
               "candidate pairs the rule produced (log scale; before de-duplication)",
               "Pairs per blocking rule (red: some blocks capped)")
    ax.set_xscale("log")
    return True


_CHARTS = {"volume": _chart_volume, "convergence": _chart_convergence, "weights": _chart_weights,
           "curve": _chart_curve, "sizes": _chart_sizes, "agency_pairs": _chart_agency_pairs,
           "blocking": _chart_blocking}


def render_charts(report: dict[str, Any]) -> dict[str, str]:
    """The report's charts as inline SVG markup, by name (a chart without data is left
    out): ``volume``, ``convergence``, ``weights``, ``curve``, ``sizes``, ``agency_pairs``,
    ``blocking``."""
    import matplotlib
    from matplotlib.figure import Figure

    out = {}
    with matplotlib.rc_context(_RC):
        for n, (name, draw) in enumerate(_CHARTS.items()):
            fig = Figure(layout="constrained")
            if draw(report, fig):
                out[name] = _svg(fig, n)
    return out


# --------------------------------------------------------------------------- HTML


def _fmt_num(x: Any) -> str:
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    return f"{x:,.3f}"


def _fmt_prob(x: Any, digits: int = 3) -> str:
    if x is None:
        return "—"
    if 0 < abs(x) < 10 ** -digits:
        return f"{x:.1e}"
    return f"{x:.{digits}f}"


def _fmt_pct(x: Any) -> str:
    return "—" if x is None else f"{100 * x:.2f} %"


def _fmt_change(x: Any) -> str:
    if x is None:
        return "—"
    return f"{x:+,}" if x else "0"


def render_html(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG charts, no script,
    nothing fetched from the network).

    Args:
        report: a report from :func:`build_report`.
    """
    from jinja2 import Environment, FileSystemLoader, StrictUndefined
    from markupsafe import Markup

    env = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=_fmt_num, prob=_fmt_prob, pct=_fmt_pct, change=_fmt_change)
    drawn = render_charts(report)
    charts = {k: Markup(drawn.get(k, "")) for k in _CHARTS}   # "" : chart without data
    reasons = sorted({k for a in report["headline"]["agencies"].values()
                      for k in a["quarantine_by_reason"]})
    from hashing.audit.stage import ATTACK_LABELS

    return env.get_template(TEMPLATE).render(
        r=report, charts=charts, figure_labels=_FIGURE_LABELS, reasons=reasons,
        audit_labels=ATTACK_LABELS)

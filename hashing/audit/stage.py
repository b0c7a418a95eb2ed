"""The privacy audit as a stage of every nightly run (``[audit] every_run``).

The run's agency side holds what scoring needs: the night's staged person frames (the
plaintext the contracts made, in the run's private staging folder) and the encoded
extracts it has just written. :func:`run_audit` attacks those encoded extracts as the
linkage side could and scores the attacks against the person frames, in memory; it writes
nothing and returns aggregate shares only (:func:`summarize`: per field and blocking rule
the share of records and of distinct values re-identified, the worst attack, whether it
is over ``[audit] limit``). No value, record id or token leaves it.

The stage is bounded so that it costs a fraction of a run: the fields are attacked on two
uniform samples of ``run_records`` records of the night (:data:`RUN_DRAWS`, the better
result per field) with ``run_attacks`` (default the
frequency attacks and pattern mining, the strongest on this encoding), against the night's
own ranking (the strongest reference), reading back ``run_sample_records`` records, with
a smaller alignment behind pattern mining (:data:`RUN_ATTACK_SIZE`); the blocking rules'
token frequencies on the whole night. ``sst-link audit`` (every attack, both references,
all records) remains the reference figure; the stage is its nightly estimate.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import PrivacyLimitError, audit_night

__all__ = ["audit_markdown", "check_run_limit", "over_limit_line", "run_audit", "summarize"]

ATTACK_LABELS: dict[str, str] = {
    "frequency_exact": "exact frequency", "frequency_denoising": "denoising frequency",
    "pattern_mining": "pattern mining", "graph": "graph matching",
    "frequency_tokens": "token frequency"}
"""How each reported attack is named in the report, the artifact and the terminal."""


RUN_ATTACK_SIZE: dict[str, Any] = {"restarts": 4, "max_pool": 300, "graph_values": 600,
                                   "candidates": 3000, "alignment": {"anchors": 200}}
"""The stage's pattern-mining attack, smaller than ``sst-link audit``'s (500 recovered
filters aligned with 1,000 reference values by their similarities to 500 anchors, four
starts, read back against 5,000 values): 300 filters, 600 values, 200 anchors, four
starts, 3,000 candidates. The alignment is a search that fails now and then: with one
start first names read back 0.4 % on one seed and 96 % on the next; with two, last names
on a small night read back 1.7-4.4 % under four keys of six and 70 % under the others
(and once first names 2.6 %); with four, 0.60-0.75 under seven keys of eight, first names
0.89-0.94 under all eight (1.3-1.8 s on a 10,000-record sample)."""


RUN_DRAWS = 2
"""Independent samples of the night the stage attacks; per field the better result counts,
as an attacker would retry. The alignment's failures follow the sample, not the key: on a
small night under ten keys one draw read first or last names back at 1.5-3.9 % (the others
61-94 %) in 5 of 20 field-draws, never both draws of one field."""


def _plain_values(persons: Mapping[str, Path], ids: pa.Table) -> dict[str, pa.Array]:
    """Per field, the plaintext of the records ``ids`` (agency, record_id), in that order,
    from the staged person frames (rows of other records are dropped before conversion)."""
    from hashing import _pandas_type
    from hashing.values import field_values

    want = ids.to_pandas()
    parts, keys = [], []
    for agency, path in persons.items():
        rid = want.loc[want["agency"] == agency, "record_id"]
        table = pq.read_table(path)
        table = table.filter(pc.is_in(table["record_id"], pa.array(
            rid.to_numpy(dtype=object), type=pa.string())))
        frame = table.to_pandas(types_mapper=_pandas_type)
        del table
        parts.append(field_values(frame))
        keys.append(pd.DataFrame({"agency": agency,
                                  "record_id": frame["record_id"].astype(str).to_numpy()}))
    keys_all = pd.concat(keys, ignore_index=True)
    keys_all["row"] = np.arange(len(keys_all))
    where = want.merge(keys_all, on=["agency", "record_id"], how="left")["row"]
    take = pa.array(where.astype("Int64").to_numpy(dtype=object, na_value=None),
                    type=pa.int64())
    def whole(a: pa.Array | pa.ChunkedArray) -> pa.Array:
        return a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a

    return {k: pa.concat_arrays([whole(p[k]) for p in parts]).take(take) for k in parts[0]}


def run_audit(persons: Mapping[str, Path], encoded: Mapping[str, Path], settings: Any,
              fields: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The run's audit stage on the agency side.

    Args:
        persons: agency -> staged person frame (``persons_<agency>_<night>.parquet``).
        encoded: agency -> the encoded extract the run wrote for it.
        settings: the run settings (:class:`pipeline.config.Settings`): ``[audit]``, and
            ``[linkage]`` for the candidate pairs of a graph attack.
        fields: the fields to attack (default: as :func:`audit_night`).

    Returns:
        :func:`summarize` of the audit: aggregate shares only.
    """
    from linkage.inputs import read_night

    started = time.perf_counter()
    cfg = settings.audit
    night = read_night({a: Path(p) for a, p in encoded.items()})
    records = night.records
    total = records.num_rows
    if cfg.run_records and total > cfg.run_records:
        samples = [np.sort(np.random.default_rng(cfg.seed + draw).choice(
            total, cfg.run_records, replace=False)) for draw in range(RUN_DRAWS)]
    else:
        samples = [np.arange(total)]
    # the staged frames are read once, for the records of every draw
    union = np.unique(np.concatenate(samples))
    plain_union = _plain_values(persons, records.take(pa.array(union)).select(
        ["agency", "record_id"]))
    result: dict[str, Any] | None = None
    for draw, rows in enumerate(samples):
        at = pa.array(np.searchsorted(union, rows))
        plain = {name: values.take(at) for name, values in plain_union.items()}
        sample = records.take(pa.array(rows)) if len(samples) > 1 else records
        got = audit_night(sample, night.encoding, plain, cfg.for_run(), settings.linkage,
                          fields, blocking_records=records, blocking=draw == 0,
                          draw=draw, **RUN_ATTACK_SIZE)
        if result is None:
            result = got
            continue
        for name, field in got["fields"].items():   # per field the better attack counts
            if _worst_share(field) > _worst_share(result["fields"][name]):
                result["fields"][name] = field
    assert result is not None
    return summarize(result, night_records=total, seconds=time.perf_counter() - started)


def _worst_share(field: Mapping[str, Any]) -> float:
    worst = field.get("worst")
    return float(worst["records"]) if worst and worst.get("attack") else 0.0


def _entry(kind: str, name: str, r: Mapping[str, Any], limit: float) -> dict[str, Any]:
    w = r.get("worst")
    return {
        "records": int(r["records"]),
        **({"distinct_values": int(r["values"])} if kind == "field"
           else {"tokens": int(r["tokens"])}),
        "by_attack": {a: round(max(s["records"] for s in per.values()), 5)
                      for a, per in r.get("attacks", {}).items() if per},
        "worst": None if not w or not w.get("attack") else {
            "attack": w["attack"], "reference": w["reference"],
            "share_records": round(float(w["records"]), 5),
            "share_values": round(float(w["values"]), 5)},
        "over_limit": bool(w and w["records"] > limit),
    }


def summarize(result: Mapping[str, Any], *, night_records: int | None = None,
              seconds: float | None = None) -> dict[str, Any]:
    """The aggregate figures of an audit (:func:`hashing.audit.audit_night`) as the
    manifest and the report keep them (``audit`` in ``manifest.json``).

    Per field and blocking rule: records attacked (with a value, or a token), distinct
    values (fields) or tokens (rules), the share of records each attack re-identifies
    beyond chance (worst reference), the worst attack with its shares of records and of
    values, and whether it is over the limit. ``over_limit`` lists them worst first.
    """
    limit = float(result["limit"])
    out: dict[str, Any] = {
        "limit": limit, "strict": bool(result["strict"]),
        "night_records": int(night_records if night_records is not None
                             else result["records"]),
        "records_attacked": int(result["records"]),
        "attacks": list(result["attacks"]), "references": list(result["references"]),
        "candidate_pairs": result.get("candidate_pairs"),
        "seconds": round(float(seconds if seconds is not None else result["seconds"]), 2),
        "fields": {n: _entry("field", n, r, limit) for n, r in result["fields"].items()},
        "blocking": {n: _entry("blocking", n, r, limit)
                     for n, r in result["blocking"].items()},
    }
    over = [{"kind": kind, "name": name, **e["worst"]}
            for kind, table in (("field", out["fields"]), ("blocking rule", out["blocking"]))
            for name, e in table.items() if e["over_limit"]]
    out["over_limit"] = sorted(over, key=lambda o: -o["share_records"])
    return out


def _item(o: Mapping[str, Any]) -> str:
    return (f"{o['kind']} {o['name']} {100 * o['share_records']:.2f} % "
            f"({ATTACK_LABELS.get(o['attack'], o['attack'])})")


def over_limit_line(summary: Mapping[str, Any]) -> str | None:
    """One line naming every field and rule over the limit with its share (None: none)."""
    over = summary.get("over_limit") or []
    if not over:
        return None
    return (f"privacy audit over the {100 * summary['limit']:.2f} % limit on {len(over)} "
            f"field(s) or rule(s): " + ", ".join(_item(o) for o in over))


def check_run_limit(summary: Mapping[str, Any], strict: bool) -> list[str]:
    """The over-limit items as short strings; with ``strict`` and any of them, a stop.

    Raises:
        PrivacyLimitError: one line naming the worst field or rule and its share.
    """
    over = summary.get("over_limit") or []
    if over and strict:
        raise PrivacyLimitError(
            f"the privacy audit re-identifies more than {100 * summary['limit']:.2f} % of "
            f"records on {_item(over[0])}"
            + (f" and {len(over) - 1} more field(s) or rule(s)" if len(over) > 1 else ""),
            where="audit.limit", hint="no run folder was published; harden the encoding "
            "([encoding] flip_fraction, blocking rules) or, knowingly, raise audit.limit or "
            "set audit.strict = false")
    return [_item(o) for o in over]


def audit_markdown(summary: Mapping[str, Any], night: str) -> str:
    """The audit as markdown (the run's Prefect artifact): what was attacked, the fields
    and rules over the limit, and a table of every field and rule."""
    lines = [f"# Privacy audit {night}", "",
             f"{summary['records_attacked']:,} of {summary['night_records']:,} records "
             f"attacked ({', '.join(summary['attacks'])}; reference "
             f"{', '.join(summary['references'])}) in {summary['seconds']:.1f} s; blocking "
             f"rules on all records. Limit {100 * summary['limit']:.2f} % of records"
             + (" (strict: over it stops the run)." if summary["strict"] else "."), ""]
    over = summary.get("over_limit") or []
    if over:
        lines += [f"**Over the limit ({len(over)}):** " + ", ".join(
            _item(o) for o in over) + ".", ""]
    else:
        lines += ["No field or blocking rule over the limit.", ""]
    lines += ["| field / rule | worst attack | reference | records re-identified | "
              "values named | over the limit |", "|---|---|---|---:|---:|---|"]
    for kind, table in (("", summary["fields"]), ("rule ", summary["blocking"])):
        for name, e in table.items():
            w = e["worst"]
            if w is None:
                lines.append(f"| {kind}{name} | - | - | - | - | no |")
                continue
            lines.append(f"| {kind}{name} | {ATTACK_LABELS.get(w['attack'], w['attack'])} | "
                         f"{w['reference']} | {100 * w['share_records']:.2f} % | "
                         f"{100 * w['share_values']:.2f} % | "
                         f"{'**OVER**' if e['over_limit'] else 'no'} |")
    lines += ["", "Shares beyond chance; no value, record or token is shown."]
    return "\n".join(lines) + "\n"

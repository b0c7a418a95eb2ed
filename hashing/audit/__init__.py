"""``sst-link audit``: how much of a night's encodings an attacker could re-identify.

The attacker holds what the linkage side holds (the three agencies' encoded files: every
filter, frequency class and blocking token, the candidate pairs it computes and the
encoding settings the files declare) and a reference population, never the key or a
plaintext value. Three attacks (:mod:`hashing.audit.attacks`) run on every encoded field
whose values can be ranked (names, nickname keys, last-name words, birth date and year,
SSN, street, ZIP) and a frequency attack on every blocking rule's tokens:

* ``frequency``: exact (identical filters) and denoising (identical samples of 8 to 32
  bits, 25 samples, or records clustered around the recovered filters of frequent values)
  alignment of group sizes with the reference ranking;
* ``pattern_mining``: bit positions of frequent tokens learnt from the recovered filters,
  every filter read back into its tokens and matched with reference values (Christen et
  al.);
* ``graph``: the similarity graph of the recovered filters matched with the reference
  values' by structure, and neighbourhood signatures in the candidate-pair graph matched
  with those of a plaintext copy of the population (Vidanage et al.).

**Scoring needs the plaintext, so the audit runs on the agency side** (where the extracts
are: the single-site run's agency side, or a steward on the extracts), right after
encoding, and writes only aggregate shares. Per field and attack: the share of records
whose value the attacker names correctly beyond chance, and the share of distinct values
it can name (right at least half the times it names them); per blocking rule, the same
for tokens. The attacker is strong on purpose: the ``night`` reference is the night's own
value ranking (an upper bound on what public statistics give), the graph attack's copy is
the night's own population, and the denoising attack keeps its best sample by score.

A field or rule over ``[audit] limit`` (default 1 %) is listed in ``over_limit``:
:func:`check_limit` raises :class:`PrivacyLimitError` when ``strict``.

**Random streams.** Every random choice of an attack (ties, bit samples, the records read
back, the alignment's jitter) comes from a stream of its own (:func:`stream`): derived from
``[audit] seed`` and stable names (the draw, the field, the attack, the reference), never
from a generator shared with other fields or attacks. A field's figures therefore do not
depend on which other fields are audited, in what order, or which other attacks and
references run. (The blocking rules' token attack draws nothing.)
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data_contracts.encoded import block_rules
from data_contracts.errors import SstError

from ..settings import FIELDS, OPTIONAL_FIELDS
from .reference import (
    NO_SCORE,
    PUBLIC_FIELDS,
    Score,
    night_truth,
    public_reference,
    score,
    to_truth_codes,
)
from .settings import AuditSettings

__all__ = ["AUDITED_FIELDS", "AuditSettings", "PrivacyLimitError", "audit_extracts",
           "audit_night", "check_limit", "format_table", "stream"]

AUDITED_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS
                                        if f.name not in ("sex", "suffix", "unit"))
"""Fields audited: all but sex, suffix and unit (a handful of values each, none of which
names anyone; the audit of a field with two values would only measure its base rate)."""


VARIANTS: dict[str, tuple[str, ...]] = {
    "frequency_exact": ("exact",),
    "frequency_denoising": ("bit_samples", "clusters"),
    "pattern_mining": ("pattern_mining",),
    "graph": ("graph_values", "graph_pairs"),
}
"""Each reported attack is the best of its variants (``variants`` in the result)."""
SETTING = {"frequency_exact": "frequency", "frequency_denoising": "frequency",
           "pattern_mining": "pattern_mining", "graph": "graph"}
"""The ``[audit] attacks`` entry that turns each reported attack on."""


def _stable_int(name: str) -> int:
    """A 64-bit integer of a name, the same in every process (unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def stream(seed: int, *names: str | int) -> np.random.Generator:
    """An independent random stream for one use, from the run's ``seed`` and stable
    ``names`` (e.g. ``draw, "field", name, "frequency", reference``): the same names give
    the same stream, other names a statistically independent one (numpy's
    ``SeedSequence`` spawn keys), whatever else was drawn before."""
    key = tuple(_stable_int(str(n)) for n in names)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


class PrivacyLimitError(SstError):
    """An attack re-identifies more than ``[audit] limit`` on a field or blocking rule."""


def _best(named: dict[str, dict[str, Score]]) -> tuple[str, str, Score]:
    """The attack and reference with the most records re-identified."""
    best = ("", "", NO_SCORE)
    for attack, per_ref in named.items():
        for ref, s in per_ref.items():
            if s.records > best[2].records:
                best = (attack, ref, s)
    return best


def audit_field(name: str, column: pa.ChunkedArray | pa.Array, plain: pa.Array,
                encoding: Mapping[str, Any], settings: AuditSettings,
                pairs: tuple[np.ndarray, np.ndarray] | None, restarts: int = 4, *,
                draw: int = 0, **options: Any) -> dict[str, Any]:
    """Every attack on one encoded field, scored against its plaintext ``plain`` (one value
    per record, null where missing); ``restarts``: of the graph alignment the pattern-mining
    attack starts from; ``draw``: which sample of the night this is (the run's stage
    attacks two; it keys the random streams); ``options``: further keyword arguments of
    :func:`attacks.value_attacks` (the run's stage makes it smaller).

    Each random choice comes from its own stream (:func:`stream`) keyed by ``settings.seed``,
    ``draw``, the field and the attack (and reference), so the figures of a field are the
    same whichever other fields, attacks or references are audited with it."""
    from .._bloom import TOKENIZERS
    from . import attacks as A

    spec = next(f for f in FIELDS + OPTIONAL_FIELDS if f.name == name)
    tokenizer = TOKENIZERS[spec.tokenizer]
    packed_all, valid = A.filter_bytes(column)
    has_plain = plain.is_valid().to_numpy(zero_copy_only=False)
    valid = valid & has_plain
    packed = packed_all[valid]

    def rng(*names: str) -> np.random.Generator:
        return stream(settings.seed, draw, "field", name, *names)

    truth, night_ref = night_truth(plain.filter(pa.array(valid)), rng("night_truth"))
    n = truth.records
    refs = [night_ref]
    if "public" in settings.references and name in PUBLIC_FIELDS:
        refs.append(public_reference(name))
    hashes = int(encoding["filters"][name][1])
    balanced = bool(encoding.get("balance", False))
    flips = float(encoding.get("flip_fraction", 0)) if name in encoding.get(
        "flip_fields", ()) else 0.0
    scores: dict[str, dict[str, Score]] = {}
    detail: dict[str, dict[str, Score]] = {}
    seconds: dict[str, float] = {}
    if n == 0:
        return {"records": 0, "values": 0, "attacks": {}, "worst": None}

    def scored(guess_ref: np.ndarray, to_truth: np.ndarray, rows: np.ndarray | None = None
               ) -> Score:
        guess = np.where(guess_ref >= 0, to_truth[np.maximum(guess_ref, 0)], -1)
        codes = truth.codes if rows is None else truth.codes[rows]
        return score(guess, codes, truth.shares, len(truth.values))

    for ref in refs:
        to_truth = to_truth_codes(ref, truth)
        if "frequency" in settings.attacks:
            t0 = time.perf_counter()
            freq = A.frequency_guesses(packed, ref, rng("frequency", ref.name))
            for kind, guesses in freq.items():
                best = max((scored(g, to_truth) for g in guesses), key=lambda s: s.records)
                detail.setdefault("bit_samples" if kind == "denoising" else kind,
                                  {})[ref.name] = best
            seconds["frequency"] = seconds.get("frequency", 0) + time.perf_counter() - t0
        if {"pattern_mining", "graph"} & set(settings.attacks):
            t0 = time.perf_counter()
            # one stream for the records read back and the attacks on them (clusters,
            # graph values and pattern mining come out of one recovery of the filters)
            vrng = rng("value_attacks", ref.name)
            targets = np.sort(vrng.choice(n, min(n, settings.sample_records), replace=False))
            guesses = A.value_attacks(packed, ref, tokenizer, hashes, balanced, flips, vrng,
                                      targets, restarts=restarts, **options)
            for variant, guess in guesses.items():
                detail.setdefault(variant, {})[ref.name] = scored(guess, to_truth, targets)
            seconds["value_attacks"] = seconds.get("value_attacks", 0) + \
                time.perf_counter() - t0
    if "graph" in settings.attacks and pairs is not None:
        t0 = time.perf_counter()
        left, right = pairs
        row_of = np.full(len(valid), -1, np.int64)
        row_of[valid] = np.arange(n)
        both = (row_of[left] >= 0) & (row_of[right] >= 0)
        l, r = row_of[left[both]], row_of[right[both]]
        enc_sim = A.encoded_dice(packed, l, r)
        plain_sim = A.token_dice(truth.codes, truth.values, tokenizer, l, r)
        guess = A.graph_matching(n, l, r, enc_sim, plain_sim, truth.codes, truth.shares)
        detail["graph_pairs"] = {"night": score(guess, truth.codes, truth.shares,
                                                len(truth.values))}
        seconds["graph_pairs"] = time.perf_counter() - t0
    for attack, variants in VARIANTS.items():
        if SETTING[attack] not in settings.attacks:
            continue
        for variant in variants:
            for ref_name, s in detail.get(variant, {}).items():
                have = scores.setdefault(attack, {}).get(ref_name)
                if have is None or s.records > have.records:
                    scores[attack][ref_name] = s
    attack, ref_name, worst = _best(scores)
    return {"records": n, "values": len(truth.values),
            "attacks": {a: {r: s.as_dict() for r, s in per.items()}
                        for a, per in scores.items()},
            "variants": {v: {r: s.as_dict() for r, s in per.items()}
                         for v, per in detail.items()},
            "worst": {"attack": attack, "reference": ref_name, "records": round(worst.records, 5),
                      "values": round(worst.values, 5)},
            "seconds": {k: round(v, 2) for k, v in seconds.items()}}


def audit_night(records: pa.Table, encoding: Mapping[str, Any],
                plain: Mapping[str, pa.Array], settings: AuditSettings | None = None,
                linkage: Any = None, fields: tuple[str, ...] | None = None,
                *, blocking_records: pa.Table | None = None, restarts: int = 4,
                blocking: bool = True, draw: int = 0, **options: Any) -> dict[str, Any]:
    """Run the audit on one night's encoded records.

    Args:
        records: the three agencies' encoded records (what the linkage side reads).
        encoding: the encoding settings the files declare (``EncodedMeta.encoding``).
        plain: per field, the plaintext value of each record in ``records``' order
            (:func:`hashing.values.field_values`), for scoring only.
        settings: ``[audit]``.
        linkage: ``[linkage]`` settings (the blocking caps of the candidate pairs); default
            settings when None.
        fields: the fields to audit; default :data:`AUDITED_FIELDS` and the optional
            fields the records carry.
        blocking_records: the records whose blocking tokens are attacked (default
            ``records``; the run's stage passes the whole night when ``records`` is a
            sample, as a token's count in a sample says little of its count in the night).
        restarts: of the graph alignment behind pattern mining (the run's stage: 4).
        blocking: attack the blocking rules' tokens too (a second draw of the stage skips
            them: they are the whole night's either way).
        draw: which sample of the night ``records`` is (the run's stage: 0, 1); with
            ``settings.seed``, the field and the attack it keys each random stream
            (:func:`stream`), so draws are independent and a field's figures do not depend
            on the other fields audited or their order.
        options: further keyword arguments of :func:`attacks.value_attacks`.

    Returns:
        A JSON-able dict of aggregate figures (no value, no record id).
    """
    from . import attacks as A

    settings = settings or AuditSettings()
    if fields is None:      # and the optional fields (birth place, ...) the files carry
        fields = AUDITED_FIELDS + tuple(f.name for f in OPTIONAL_FIELDS
                                        if f"enc_{f.name}" in records.column_names)
    # the rules the agencies encoded (the linkage side blocks on the same columns)
    rules = block_rules(records)
    started = time.perf_counter()
    pairs = None
    if "graph" in settings.attacks:
        from linkage.blocking import candidate_pairs
        from linkage.settings import LinkageSettings

        link = linkage or LinkageSettings()
        cand = candidate_pairs(records, rules, link.max_block, link.rule_max_block)
        pairs = (cand.left, cand.right)
    out: dict[str, Any] = {
        "limit": settings.limit, "strict": settings.strict, "records": records.num_rows,
        "attacks": list(settings.attacks), "references": list(settings.references),
        "candidate_pairs": len(pairs[0]) if pairs is not None else None,
        "fields": {}, "blocking": {}}
    for name in fields:
        column = records.column(f"enc_{name}")
        out["fields"][name] = audit_field(name, column, plain[name], encoding, settings,
                                          pairs, restarts, draw=draw, **options)
    if "frequency" in settings.attacks and blocking:
        for rule in rules:
            column = (records if blocking_records is None else blocking_records
                      ).column(f"blk_{rule}")
            p_record, expected, distinct = A.token_frequency(column)
            holders = int((pc.list_value_length(column).to_numpy(
                zero_copy_only=False) > 0).sum())
            out["blocking"][rule] = {
                "records": holders, "tokens": distinct,
                "attacks": {"frequency_tokens": {"night": {
                    "records": round(float(p_record.sum()) / max(holders, 1), 5),
                    "values": round(expected / max(distinct, 1), 5), "guessed": None}}},
                "worst": {"attack": "frequency_tokens", "reference": "night",
                          "records": round(float(p_record.sum()) / max(holders, 1), 5),
                          "values": round(expected / max(distinct, 1), 5)}}
    over = []
    for kind, table in (("field", out["fields"]), ("blocking rule", out["blocking"])):
        for name, r in table.items():
            w = r.get("worst")
            r["over_limit"] = bool(w and w["records"] > settings.limit)
            if r["over_limit"]:
                over.append(f"{kind} {name}: {100 * w['records']:.2f} % of records "
                            f"({w['attack']}, {w['reference']} reference)")
    out["over_limit"] = over
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def check_limit(result: Mapping[str, Any], settings: AuditSettings) -> list[str]:
    """The warnings of an audit (one per field or rule over the limit).

    Raises:
        PrivacyLimitError: with ``strict``, when any is over the limit (one line).
    """
    over = list(result.get("over_limit", []))
    if over and settings.strict:
        raise PrivacyLimitError(
            f"the privacy audit re-identifies more than {100 * settings.limit:.2f} % of "
            f"records on {len(over)} field(s) or rule(s): {over[0]}"
            + (f" and {len(over) - 1} more" if len(over) > 1 else ""),
            where="audit.limit", hint="harden the encoding ([encoding] flip_fraction, "
            "blocking rules) or, knowingly, raise audit.limit or set audit.strict = false")
    return over


def format_table(result: Mapping[str, Any]) -> str:
    """The audit as a plain-text table: per field and rule, each attack's share of records
    re-identified (worst reference), the worst and whether it is over the limit."""
    attacks = ["frequency_exact", "frequency_denoising", "pattern_mining", "graph",
               "frequency_tokens"]
    present = [a for a in attacks if any(a in r["attacks"] for t in ("fields", "blocking")
                                         for r in result[t].values())]
    head = f"{'field / rule':22}" + "".join(f"{a.replace('frequency_', 'freq '):>18}"
                                           for a in present) + f"{'values':>9}  limit"
    lines = [head]
    for kind in ("fields", "blocking"):
        for name, r in result[kind].items():
            cells = []
            for a in present:
                per = r["attacks"].get(a)
                cells.append(f"{100 * max(s['records'] for s in per.values()):>16.2f} %"
                             if per else f"{'':>18}")
            w = r.get("worst") or {"values": 0}
            label = name if kind == "fields" else f"blk {name}"
            lines.append(f"{label:22}" + "".join(cells) + f"{100 * w['values']:>7.2f} %  "
                         + ("OVER" if r.get("over_limit") else "ok"))
    lines.append(f"share of records re-identified beyond chance (worst reference); values: "
                 f"share of distinct values named; limit {100 * result['limit']:.2f} %")
    return "\n".join(lines)


def audit_extracts(extracts: Path, night: str | None, settings: Any,
                   encoded: Path | None = None) -> dict[str, Any]:
    """The audit of a night's three extracts on the agency side.

    The extracts go through their contracts; their records are encoded with the linkage
    key and ``[encoding]`` of ``settings`` (in memory), or, with ``encoded``, the
    encoded files the agencies sent are read from that folder and matched to the
    extracts' records by agency and record id. Only aggregate figures come out.

    Args:
        extracts: the folder of the three agency extracts.
        night: ``YYYYMMDD``; default the newest complete night in ``extracts``.
        settings: the run settings (:class:`pipeline.config.Settings`).
        encoded: a folder of ``encoded_<agency>_<night>.parquet``, or None.
    """
    from data_contracts import find_extracts, load_extract, parse_night
    from data_contracts.communities import load_crosswalk
    from data_contracts.encoded import encoded_path

    from .. import LinkageKey, encode_extract
    from ..values import field_values

    night, paths = find_extracts(Path(extracts), night)
    frames = {a: load_extract(p, a, parse_night(night), settings.ingest.contract()).persons
              for a, p in paths.items()}
    if encoded is None:
        key = LinkageKey.load(settings.encoding.key_file or None)
        crosswalk = load_crosswalk(settings.communities.crosswalk_path)
        tables = [encode_extract(f, key, settings.encoding, crosswalk)
                  for f in frames.values()]
        records = pa.concat_tables(tables)
        encoding = settings.encoding.describe()
        plain_parts = [field_values(f) for f in frames.values()]
        plain = {k: pa.concat_arrays([p[k] for p in plain_parts]) for k in plain_parts[0]}
    else:
        from linkage.inputs import read_night

        enc = read_night({a: encoded_path(Path(encoded), a, night) for a in paths})
        records, encoding = enc.records, enc.encoding
        ids = records.select(["agency", "record_id"]).to_pandas()
        plain = {}
        person = pd.concat([f[["agency", "record_id"]] for f in frames.values()],
                           ignore_index=True)
        person["row"] = np.arange(len(person))
        where = ids.merge(person, on=["agency", "record_id"], how="left")["row"]
        values = [field_values(f) for f in frames.values()]
        take = pa.array(where.astype("Int64").to_numpy(dtype=object, na_value=None),
                        type=pa.int64())
        for k in values[0]:
            plain[k] = pa.concat_arrays([v[k] for v in values]).take(take)
    result = audit_night(records, encoding, plain, settings.audit, settings.linkage)
    result["night"] = night
    return result

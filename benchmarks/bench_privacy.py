"""Encoding choice: what each hardening setting costs in linkage signal and buys against a
frequency attack.

Usage::

    .venv/bin/python benchmarks/bench_privacy.py [--scale small|medium] [--seed 5]

For each configuration (plain keyed filters; balanced; balanced + record-level flips at
several rates) it encodes a synthetic night and measures:

* **Signal**, per field: on candidate pairs (pairs sharing a ``name_area`` blocking token,
  as the linkage side will see them) the AUC of the field's Dice similarity separating
  true pairs (same true person) from the others, beside the same AUC for the plaintext
  bigram Dice of the normalized values (what an unencoded q-gram comparison gets).
* **Frequency attack** on every field a frequency ranking exists for (first and last name,
  nickname keys, last-name words, birth date, ZIP, street): the attacker holds the encoded
  file (not the key) and the public frequency ranking of the values. (a) *exact*: group
  identical filters, rank groups by size, give the i-th group the i-th most common name;
  (b) *denoising*: the same on a sample of 8 to 32 bit positions (robust to a few flipped
  bits), the best of 25 samples. Reported: share of records whose name the attacker gets right
  (the attacker is given the true frequency ranking of this very population: an upper
  bound on what public statistics give). Signal and attack are measured on the same
  encodings.

Prints a table and writes ``benchmarks/results/privacy_<scale>.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import synthetic_night, write_result  # noqa: E402

CONFIGS = {
    "plain": dict(balance=False, flip_fraction=0.0),
    "balanced": dict(balance=True, flip_fraction=0.0),
    "balanced+flip2%": dict(balance=True, flip_fraction=0.02),
    "balanced+flip5% (default)": dict(balance=True, flip_fraction=0.05),
    "balanced+flip10%": dict(balance=True, flip_fraction=0.10),
}
FIELDS = ("first_name", "last_name", "dob", "ssn", "street", "zip")
ATTACKED = ("first_name", "last_name", "first_keys", "last_words", "dob", "zip", "street")


def _bits(col) -> tuple[np.ndarray, np.ndarray]:
    """A fixed_size_binary column as a uint8 bit matrix and its validity."""
    valid = col.is_valid().to_numpy(zero_copy_only=False)
    width = col.type.byte_width
    buf = np.frombuffer(col.combine_chunks().buffers()[1], dtype=np.uint8)[:len(col) * width]
    return np.unpackbits(buf.reshape(len(col), width), axis=1), valid


def _dice(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    inter = (a & b).sum(axis=1)
    return 2 * inter / np.maximum(a.sum(axis=1) + b.sum(axis=1), 1)


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Probability that a random true pair scores above a random false one (ties 1/2)."""
    ranks = pd.Series(scores).rank().to_numpy()
    pos = labels.sum()
    neg = len(labels) - pos
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg)) if pos and neg else float("nan")


def _plain_bigram_dice(a: pd.Series, b: pd.Series) -> np.ndarray:
    def grams(s):
        return None if s is None or s != s else {s2 for s2 in
                                                 (("_" + s + "_")[i:i + 2] for i in range(len(s) + 1))}
    out = np.full(len(a), np.nan)
    for i, (x, y) in enumerate(zip(a, b)):
        gx, gy = grams(x), grams(y)
        if gx and gy:
            out[i] = 2 * len(gx & gy) / (len(gx) + len(gy))
    return out


def candidate_pairs(table, truth: pd.DataFrame, rng: np.random.Generator, limit: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of records sharing a blocking token under any rule (sampled; blocks of more
    than 50 records left out), and whether they are the same true person."""
    parts = []
    for rule in ("ssn", "dob_name", "name_yob", "name_area", "address"):
        tok = table[f"blk_{rule}"].to_pandas().explode().dropna()
        parts.append(pd.DataFrame({"rec": tok.index.to_numpy(),
                                   "tok": tok.to_numpy().astype(np.uint64)}))
    df = pd.concat(parts, ignore_index=True)
    df = df[df.groupby("tok")["rec"].transform("size").between(2, 50)]
    pairs = df.merge(df, on="tok")
    pairs = pairs[pairs["rec_x"] < pairs["rec_y"]].drop_duplicates(["rec_x", "rec_y"])
    if len(pairs) > limit:
        pairs = pairs.iloc[rng.choice(len(pairs), limit, replace=False)]
    l, r = pairs["rec_x"].to_numpy(), pairs["rec_y"].to_numpy()
    pk = truth["person_key"].to_numpy()
    return l, r, pk[l] == pk[r]


def _row_keys(bits: np.ndarray) -> np.ndarray:
    """A 64-bit key per row of a 0/1 matrix (the audit's, on the packed rows)."""
    from hashing.audit.attacks import row_keys

    return row_keys(np.packbits(bits, axis=1))


def frequency_attack(bits: np.ndarray, valid: np.ndarray, truth: np.ndarray,
                     rng: np.random.Generator) -> dict[str, float]:
    """Share of records whose value the frequency attacker recovers (see module doc)."""
    b, truth_values = bits[valid], truth[valid]
    ranking = pd.Series(truth_values).value_counts().index.to_numpy()

    def align(keys: np.ndarray) -> float:
        codes, _ = pd.factorize(keys)
        sizes = np.bincount(codes)
        order = np.argsort(-sizes, kind="stable")
        guess = np.full(len(sizes), None, dtype=object)
        top = min(len(order), len(ranking))
        guess[order[:top]] = ranking[:top]
        return float((guess[codes] == truth_values).mean())

    exact = align(_row_keys(b))
    best = 0.0
    for width in (8, 16, 24, 32):
        for _ in range(4):
            cols = rng.choice(b.shape[1], width, replace=False)
            best = max(best, align(_row_keys(b[:, cols])))
    return {"exact": exact, "denoising": best}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", default="small", choices=["small", "medium"])
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--pairs", type=int, default=200_000)
    args = ap.parse_args()

    from data_contracts import find_extracts, load_extract, parse_night
    from data_contracts.communities import load_crosswalk
    from hashing import EncodingSettings, LinkageKey, encode_extract
    from hashing.values import field_values

    folder = synthetic_night(args.scale, args.seed)
    night, paths = find_extracts(folder)
    truth = pd.read_parquet(folder / "truth" / "records.parquet")
    persons = pd.concat([load_extract(p, a, parse_night(night)).persons
                         for a, p in paths.items()], ignore_index=True)
    persons = persons.merge(truth[["agency", "record_id", "person_key"]],
                            on=["agency", "record_id"], how="left")
    key = LinkageKey.from_bytes(bytes(range(32)))
    crosswalk = load_crosswalk(ROOT / "configs" / "communities.csv")
    rng = np.random.default_rng(args.seed)

    plain_values = {f: v.to_pandas() for f, v in field_values(persons).items()}
    results = {}
    pairs = None
    for name, overrides in CONFIGS.items():
        settings = EncodingSettings(**overrides)
        t0 = time.perf_counter()
        tables = [encode_extract(g.drop(columns="person_key").reset_index(drop=True), key,
                                 settings, crosswalk)
                  for _, g in persons.groupby("agency", sort=False)]
        table = pa.concat_tables(tables)
        order = pd.concat([g for _, g in persons.groupby("agency", sort=False)])
        seconds = time.perf_counter() - t0
        if pairs is None:
            pairs = candidate_pairs(table, order.reset_index(drop=True), rng, args.pairs)
            l, r, is_true = pairs
            plain_auc = {}
            for f in FIELDS:
                vals = plain_values[f].reindex(order.index).reset_index(drop=True)
                d = _plain_bigram_dice(vals.iloc[l].tolist(), vals.iloc[r].tolist())
                ok = ~np.isnan(d)
                plain_auc[f] = _auc(d[ok], is_true[ok])
            results["plaintext bigram Dice"] = {"signal_auc": plain_auc}
        l, r, is_true = pairs
        auc = {}
        for f in FIELDS:
            bits, valid = _bits(table[f"enc_{f}"])
            ok = valid[l] & valid[r]
            auc[f] = _auc(_dice(bits[l[ok]], bits[r[ok]]), is_true[ok])
        attack = {}
        truth_values = {f: v.reindex(order.index).reset_index(drop=True).astype(object)
                        .to_numpy() for f, v in plain_values.items()}
        for f in ATTACKED:
            bits, valid = _bits(table[f"enc_{f}"])
            attack[f] = frequency_attack(bits, valid, truth_values[f], rng)
        results[name] = {"signal_auc": auc, "attack": attack, "encode_seconds": round(seconds, 2)}

    print(f"encoding choice, {args.scale} synthetic night (seed {args.seed}), "
          f"{len(pairs[0]):,} candidate pairs ({int(pairs[2].sum()):,} true)")
    print("signal: AUC of each field's Dice on candidate pairs")
    print(f"{'configuration':28} " + " ".join(f"{f:>10}" for f in FIELDS))
    for name, res in results.items():
        print(f"{name:28} " + " ".join(f"{res['signal_auc'][f]:>10.4f}" for f in FIELDS))
    print("frequency attack: share of records whose value is recovered (exact / denoising)")
    print(f"{'configuration':28} " + " ".join(f"{f:>15}" for f in ATTACKED))
    for name, res in results.items():
        if "attack" in res:
            print(f"{name:28} " + " ".join(
                f"{res['attack'][f]['exact']:>6.1%} / {res['attack'][f]['denoising']:<6.1%}"
                for f in ATTACKED))
    out = write_result(f"privacy_{args.scale}", {"benchmark": "privacy", "scale": args.scale,
                                                 "seed": args.seed, "results": results})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Splink's public labelled set ``historical_figures_with_errors_50k`` through the product's
encode + link path and through Splink 5's own documented example model, side by side.

Usage::

    make bench-deps        # once: Splink and its companions into .venv (benchmarks only)
    .venv/bin/python benchmarks/bench_public.py

The data (50,578 records of 5,156 people from Wikidata with errors added; MIT licence)
is not shipped: put ``data/historical_figures_with_errors_50k.parquet`` of the GitHub
repository ``moj-analytical-services/splink_datasets`` at
``benchmarks/data/historical_figures_with_errors_50k.parquet``.

*Product*: the columns go into the contracts' person frame as in ``bench_febrl.py``
(first name, surname, date of birth, sex from gender, the UK postcode in the ZIP field,
birth place in the city field, which the encoder does not read), are encoded with a test
key exactly as an agency would (hardening on) and linked by ``linkage.link.link_records``
as one file with duplicates (``unique_ids=()``); nothing is tuned to this data.

*Splink*: the example ``docs/demos/examples/duckdb/deduplicate_50k_synthetic`` of the
Splink repository on DuckDB, step for step: its ten blocking rules, its five comparisons,
the prior from three deterministic rules at recall 0.6, ``u`` by random sampling (10
million pairs), EM on first name + surname and on date of birth, ``predict()`` and
connected components at match probability 0.95.

Both are scored the same way: precision, recall and F1 of the record pairs in one
predicted person (cluster) against the pairs in one true ``cluster``, counted from group
sizes. Writes ``benchmarks/results/public_historical_50k.json``.
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

from benchmarks._common import DATA, write_result  # noqa: E402

FILE = "historical_figures_with_errors_50k.parquet"
SOURCE = ("github.com/moj-analytical-services/splink_datasets, file "
          "data/historical_figures_with_errors_50k.parquet (MIT licence)")


# --------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------

def _pairs(sizes: np.ndarray) -> int:
    sizes = sizes.astype(np.int64)
    return int((sizes * (sizes - 1) // 2).sum())


def pair_scores(predicted: pd.Series, truth: pd.Series) -> dict:
    """Pairwise precision, recall and F1 of a clustering, from group sizes only.

    Args:
        predicted: predicted cluster of each record.
        truth: true cluster of each record, aligned with ``predicted``.

    A pair is predicted when its two records share a predicted cluster, true when they
    share a true cluster; true positives are the pairs inside each (predicted, true)
    group.
    """
    p = pd.factorize(predicted.to_numpy())[0]
    t = pd.factorize(truth.to_numpy())[0]
    if (p < 0).any() or (t < 0).any():
        raise ValueError("every record needs a predicted and a true cluster")
    both = pd.DataFrame({"p": p, "t": t}).value_counts().to_numpy()
    tp = _pairs(both)
    n_pred = _pairs(np.bincount(p))
    n_true = _pairs(np.bincount(t))
    precision = tp / max(n_pred, 1)
    recall = tp / max(n_true, 1)
    return {"predicted_pairs": n_pred, "true_pairs": n_true, "true_positive_pairs": tp,
            "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / max(precision + recall, 1e-12)}


# --------------------------------------------------------------------------------------
# product
# --------------------------------------------------------------------------------------

def person_frame(df: pd.DataFrame, agency: str = "A") -> pd.DataFrame:
    """historical_50k columns -> the contracts' person frame (the fields the encoder reads).

    The data has no house numbers, SSNs or middle names; its postcodes are British, so
    the cleaned postcode (``TQ13 8DF``) stands in the ZIP field; birth place goes in the
    city field. Birth dates are parsed at second resolution: a quarter of the people
    were born before 1678, which ``datetime64[ns]`` cannot hold.
    """
    from data_contracts import normalize as nz

    n = len(df)
    str_ = pd.StringDtype("pyarrow")
    none = pd.Series([None] * n, dtype=str_)
    first = nz.clean_name(df["first_name"])
    dob, _ = nz.parse_date(df["dob"], "%Y-%m-%d", unit="s")
    ids = df["unique_id"].astype(str)
    return pd.DataFrame({
        "agency": pd.Series([agency] * n, dtype=str_),
        "record_id": pd.Series(ids.to_numpy(), dtype=str_),
        "record_kind": pd.Series(["primary"] * n, dtype=str_),
        "family_group": pd.Series((agency + ":" + ids).to_numpy(), dtype=str_),
        "relationship": none,
        "first_name": first.astype(str_).to_numpy(),
        "middle_name": none,
        "last_name": nz.clean_name(df["surname"]).astype(str_).to_numpy(),
        "name_suffix": none,
        "first_name_keys": nz.nickname_keys(first).to_numpy(),
        "alias_first_names": [()] * n, "alias_last_names": [()] * n,
        "dob": dob.to_numpy(),
        "sex": nz.normalize_sex(df["gender"]).astype(str_).to_numpy(),
        "ssn": none,
        "ssn_status": pd.Series(["missing"] * n, dtype=str_),
        "addr_number": none,
        "addr_street_name": none,
        "addr_unit": none,
        "addr_city": nz.clean_text(df["birth_place"]).astype(str_).to_numpy(),
        "addr_zip5": nz.clean_text(df["postcode_fake"]).astype(str_).to_numpy(),
        "addr_state": none,
        "activity_date": pd.NaT,
        # optional fields (hashing.settings.OPTIONAL_FIELDS): ``place``, ``occupation``
        "birth_place": nz.clean_text(df["birth_place"]).astype(str_).to_numpy(),
        "occupation": nz.clean_text(df["occupation"]).astype(str_).to_numpy(),
    }).reset_index(drop=True)


HIST_BLOCKING: dict[str, list[str]] = {
    "name": ["first", "last"],
    "name_prefix": ["first3", "last4"],
    "last_dob": ["last", "dob"],
    "first_dob": ["first", "dob"],
    "postcode_first": ["postcode", "first"],
    "postcode_last": ["postcode", "last"],
    "dob_city": ["dob", "city"],
    "area_dob": ["postcode3", "dob"],
    "area_first": ["postcode3", "first"],
    "area_last": ["postcode3", "last"],
    "prefix_yob": ["first2", "last2", "yob"],
}
"""The blocking (``[encoding.blocking]``) for this data: Splink's example rules (see
:func:`run_splink`), one for one, in the product's parts, plus the product's ``name``
rule, which the model's training sessions use. In order: the first 3 letters of the first
name and 4 of the surname; surname + birth date; first name + birth date; postcode + first
name; postcode + surname; birth date + birth place (in the city field); postcode area
(its first three characters; ``postcode3``, not ``postcode_area``: as in Splink, a record
without a postcode meets none under these rules, where ``postcode_area`` would block
such records on the other part alone) + birth date, + first name, + surname; the first
2 letters of each name + birth year. Where the parts differ from Splink's columns: first
names are the nickname-tolerant keys, surnames each word of the surname, birth dates the
year with an unordered month/day. The default rules read US ZIP codes, SSNs and house
numbers, which this data does not have."""


PUBLIC_OPTIONAL: tuple[str, ...] = ("place", "occupation")
"""The optional fields this data has (``[encoding] optional_fields``): birth place and
occupation, two of the five comparisons of Splink's example."""


def run_product(df: pd.DataFrame) -> dict:
    """Encode as an agency would, blocking with :data:`HIST_BLOCKING`, and link as one
    file with duplicates; score persons."""
    from hashing import EncodingSettings, LinkageKey, encode_extract
    from linkage.inputs import EncodedNight
    from linkage.link import link_records
    from linkage.settings import LinkageSettings

    frame = person_frame(df)
    key = LinkageKey.from_bytes(bytes(range(32)))
    settings = EncodingSettings(blocking=HIST_BLOCKING, optional_fields=PUBLIC_OPTIONAL)
    t0 = time.perf_counter()
    records = encode_extract(frame, key, settings, {})
    t_encode = time.perf_counter() - t0
    night = EncodedNight(records=records, key_id=key.key_id, encoding=settings.describe(),
                         night="historical_50k", agencies=("A",))
    t0 = time.perf_counter()
    result = link_records(night, LinkageSettings(unique_id_agencies=()))
    t_link = time.perf_counter() - t0
    persons = result.records.set_index("record_id")["person"]
    truth = df.set_index(df["unique_id"].astype(str))["cluster"]
    scores = pair_scores(persons.reindex(truth.index), truth)
    return {"records": records.num_rows, "candidate_pairs": result.pairs["candidates"],
            **scores, **dict(result.threshold.items()),
            "dob_parsed": int(frame["dob"].notna().sum()),
            "encode_seconds": round(t_encode, 2), "link_seconds": round(t_link, 2),
            "seconds": round(t_encode + t_link, 2)}


# --------------------------------------------------------------------------------------
# Splink's example
# --------------------------------------------------------------------------------------

def run_splink(table: pa.Table, without: tuple[str, ...] = ()) -> dict:
    """Splink 5's example deduplicate_50k_synthetic on DuckDB, as documented; ``without``:
    of its exact-match comparisons (``birth_place``, ``occupation``), those to leave out
    (an ablation: what the model gets from them)."""
    import splink
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    t0 = time.perf_counter()
    db_api = DuckDBAPI()
    blocking_rules = [
        block_on("substr(first_name,1,3)", "substr(surname,1,4)"),
        block_on("surname", "dob"),
        block_on("first_name", "dob"),
        block_on("postcode_fake", "first_name"),
        block_on("postcode_fake", "surname"),
        block_on("dob", "birth_place"),
        block_on("substr(postcode_fake,1,3)", "dob"),
        block_on("substr(postcode_fake,1,3)", "first_name"),
        block_on("substr(postcode_fake,1,3)", "surname"),
        block_on("substr(first_name,1,2)", "substr(surname,1,2)", "substr(dob,1,4)"),
    ]
    settings = SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=blocking_rules,
        comparisons=[
            cl.ForenameSurnameComparison(
                "first_name", "surname",
                forename_surname_concat_col_name="first_name_surname_concat",
            ),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.PostcodeComparison("postcode_fake"),
            *(cl.ExactMatch(c).configure(term_frequency_adjustments=True)
              for c in ("birth_place", "occupation") if c not in without),
        ],
        retain_intermediate_calculation_columns=True,
    )
    # the example's column for term frequencies of the full name
    rel = db_api.duckdb_con.from_arrow(table).project(
        "*, first_name || ' ' || surname as first_name_surname_concat")
    linker = Linker(db_api.register(rel), settings, log_level="WARNING")
    linker.training.estimate_probability_two_random_records_match(
        [
            block_on("first_name", "surname", "dob"),
            block_on("substr(first_name,1,2)", "surname", "substr(postcode_fake,1,2)"),
            block_on("dob", "postcode_fake"),
        ],
        recall=0.6,
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("first_name", "surname"), estimate_without_term_frequencies=True)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("dob"), estimate_without_term_frequencies=True)
    t_train = time.perf_counter() - t0
    df_predict = linker.inference.predict()
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        df_predict, threshold_match_probability=0.95)
    seconds = time.perf_counter() - t0
    scored = df_predict.query_sql(
        f"select count(*) as n from {df_predict.physical_name}").as_record_list()[0]["n"]
    got = clusters.as_pyarrow_table().select(["unique_id", "cluster_id"]).to_pandas()
    truth = pd.Series(table["cluster"].to_numpy(zero_copy_only=False),
                      index=table["unique_id"].to_numpy(zero_copy_only=False))
    predicted = got.set_index("unique_id")["cluster_id"].reindex(truth.index)
    return {"version": splink.__version__, "records": table.num_rows,
            "candidate_pairs": int(scored), **pair_scores(predicted, truth),
            "threshold_match_probability": 0.95,
            "train_seconds": round(t_train, 2), "seconds": round(seconds, 2)}


# --------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA / FILE, help="the parquet file")
    ap.add_argument("--only", choices=("product", "splink"), help="run one model only")
    ap.add_argument("--ablate", action="store_true",
                    help="also run Splink's example without birth place, without occupation "
                         "and without both (what those comparisons give it)")
    args = ap.parse_args(argv)
    if not args.data.is_file():
        print(f"bench_public: {args.data} not found; get it from {SOURCE} and place it "
              f"there (or pass --data)", file=sys.stderr)
        return 2
    if args.only != "product":
        try:
            import splink  # noqa: F401
        except ImportError:
            print("bench_public: Splink is not installed; run `make bench-deps` (installs "
                  "requirements-bench.txt into .venv) or pass --only product",
                  file=sys.stderr)
            return 2
    import pyarrow.parquet as pq

    table = pq.read_table(args.data)
    df = table.to_pandas()
    results: dict[str, dict] = {}
    ablated: dict[str, str] = {}
    if args.only != "splink":
        results["product"] = run_product(df)
    if args.only != "product":
        results["splink"] = run_splink(table)
        if args.ablate:
            for without in (("birth_place",), ("occupation",), ("birth_place", "occupation")):
                key = "splink_without_" + "_".join(without)
                results[key] = run_splink(table, without)
                ablated[key] = "Splink without " + " and ".join(without)
    truth = results[next(iter(results))]
    print(f"historical_figures_with_errors_50k: {len(df):,} records, "
          f"{df['cluster'].nunique():,} people, {truth['true_pairs']:,} true pairs; "
          "pairs of records in one predicted person:")
    print(f"{'model':36} {'candidates':>10} {'pairs':>9} {'precision':>9} {'recall':>7} "
          f"{'F1':>7} {'seconds':>8}")
    names = {"product": "product (encodings, auto threshold)",
             "splink": f"Splink {results.get('splink', {}).get('version', '')} example (p>=0.95)"}
    for name, r in results.items():
        print(f"{names.get(name) or ablated[name]:36} {r['candidate_pairs']:>10,} {r['predicted_pairs']:>9,} "
              f"{r['precision']:>9.4f} {r['recall']:>7.4f} {r['f1']:>7.4f} "
              f"{r['seconds']:>8.1f}")
    path = write_result("public_historical_50k",
                        {"benchmark": "public_historical_50k", "data": str(args.data.name),
                         "source": SOURCE, **results})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

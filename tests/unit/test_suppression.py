"""Small-count suppression: no small count published, none recoverable by an LP attacker."""

from __future__ import annotations

import io
import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from pipeline.suppression import (
    SYSTEMS_COMBINATIONS,
    audit,
    community_table,
    statewide_totals,
    suppress,
    to_csv_frame,
)

COLUMNS = (*SYSTEMS_COMBINATIONS, "ALL")
THRESHOLDS = (11, 5, 20, 11, 2)


def long_table(interior: np.ndarray, names: list[str] | None = None) -> pd.DataFrame:
    """The long table for a communities x 4 matrix of counts (ALL added as the row sums)."""
    interior = np.asarray(interior, dtype=np.int64)
    names = names or [f"community {i}" for i in range(len(interior))]
    matrix = np.column_stack([interior, interior.sum(axis=1)])
    return pd.DataFrame({
        "community": np.repeat(names, len(COLUMNS)),
        "systems": np.tile(COLUMNS, len(names)),
        "families": matrix.ravel(),
    })


def random_interior(seed: int) -> np.ndarray:
    """3-12 communities; counts a mix of small (0-15) and large (10-300); some empty rows."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 13))
    small = rng.random((n, 4)) < rng.uniform(0.2, 0.8)
    interior = np.where(small, rng.integers(0, 16, (n, 4)), rng.integers(10, 301, (n, 4)))
    interior[rng.random(n) < 0.08] = 0  # a community with no families at all
    return interior


def withhold(table: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """``table`` as suppress would return it, with exactly the cells in ``mask`` withheld."""
    out = table.copy()
    families = pd.array(table["families"].to_numpy(), dtype="Int64")
    families[mask] = pd.NA
    out["families"] = families
    out["suppressed"] = np.asarray(mask, dtype=bool)
    return out


def reference_bounds(table: pd.DataFrame, mask: np.ndarray) -> list[tuple[int, int]]:
    """An independent formulation: every cell a variable, published ones fixed by bounds."""
    values = table["families"].to_numpy(dtype=float).reshape(-1, len(COLUMNS))
    n_rows = len(values)
    fixed = mask.reshape(n_rows, len(COLUMNS))
    size = values.size
    equations, rhs = [], []
    for i in range(n_rows):  # interior minus ALL is zero
        eq = np.zeros(size)
        eq[i * 5:i * 5 + 4] = 1.0
        eq[i * 5 + 4] = -1.0
        equations.append(eq)
        rhs.append(0.0)
    for j in range(len(COLUMNS)):  # public column totals
        eq = np.zeros(size)
        eq[j::5] = 1.0
        equations.append(eq)
        rhs.append(values[:, j].sum())
    bounds = [(0, None) if w else (v, v) for v, w in zip(values.ravel(), fixed.ravel())]
    out = []
    for k in np.flatnonzero(fixed.ravel()):
        ends = []
        for sign in (1.0, -1.0):
            c = np.zeros(size)
            c[k] = sign
            res = linprog(c, A_eq=np.vstack(equations), b_eq=rhs, bounds=bounds,
                          method="highs")
            assert res.status == 0, res.message
            ends.append(round(sign * res.fun))
        out.append((ends[0], ends[1]))
    return out


# --------------------------------------------------------------------------- community_table


def test_community_table_counts_zeros_all_and_order() -> None:
    families = pd.DataFrame({
        "community": ["B", "B", "A", "Zed", "B", "Out of state"],
        "systems": ["DHS+DJS", "DHS+DJS", "DJS+DPSCS", "DHS+DJS+DPSCS", "DHS+DPSCS",
                    "DHS+DJS"],
    })
    table = community_table(families, ["B", "A", "Empty"])

    assert list(table.columns) == ["community", "systems", "families"]
    assert table["families"].dtype == np.int64
    # listed communities in order, then unlisted ones sorted ("O" < "Z")
    expected_order = ["B", "A", "Empty", "Out of state", "Zed"]
    assert list(table["community"]) == [c for c in expected_order for _ in COLUMNS]
    assert list(table["systems"]) == list(COLUMNS) * len(expected_order)

    counts = table.set_index(["community", "systems"])["families"]
    assert counts[("B", "DHS+DJS")] == 2
    assert counts[("B", "DHS+DPSCS")] == 1
    assert counts[("B", "DJS+DPSCS")] == 0
    assert counts[("B", "ALL")] == 3
    assert counts[("A", "DJS+DPSCS")] == 1 and counts[("A", "ALL")] == 1
    assert (counts.loc["Empty"] == 0).all()
    assert counts[("Zed", "DHS+DJS+DPSCS")] == 1 and counts[("Zed", "ALL")] == 1
    assert counts[("Out of state", "ALL")] == 1
    # every ALL row is the sum of its community's combinations
    matrix = table["families"].to_numpy().reshape(-1, 5)
    assert (matrix[:, :4].sum(axis=1) == matrix[:, 4]).all()
    assert matrix[:, 4].sum() == len(families)


def test_community_table_rejects_unknown_combination() -> None:
    families = pd.DataFrame({"community": ["A"], "systems": ["DHS"]})
    with pytest.raises(ValueError, match="unknown systems"):
        community_table(families, ["A"])


# --------------------------------------------------------------------------- the audit itself


def leaky_table() -> pd.DataFrame:
    """Four communities; "Leak" has one small count (3) and a published ALL of 123."""
    return long_table([[3, 50, 40, 30], [120, 45, 60, 33], [80, 70, 25, 90],
                       [64, 12, 300, 41]], ["Leak", "North", "South", "West"])


def test_audit_catches_a_lone_withheld_cell_and_suppress_fixes_it() -> None:
    table = leaky_table()
    totals = statewide_totals(table)
    primary = (table["families"] < 11).to_numpy()
    assert primary.sum() == 1  # only Leak / DHS+DJS

    # Primary suppression alone: the published ALL minus the other three gives it away.
    leaked = audit(withhold(table, primary), totals)
    assert leaked[["community", "systems"]].values.tolist() == [["Leak", "DHS+DJS"]]
    assert leaked.loc[0, "low"] == leaked.loc[0, "high"] == 3

    protected = suppress(table)
    found = audit(protected, totals)
    assert len(found) >= 4  # at least a 2 x 2 cycle
    assert ((found["high"] - found["low"]) >= 1).all(), found
    leak = found[(found["community"] == "Leak") & (found["systems"] == "DHS+DJS")]
    assert len(leak) == 1
    assert int(leak["high"].iloc[0] - leak["low"].iloc[0]) >= math.ceil(11 / 2)
    assert leak["low"].iloc[0] <= 3 <= leak["high"].iloc[0]


def test_audit_catches_a_leak_the_pairing_rule_misses() -> None:
    # Two small cells in each of two rows and two columns: every line holding a withheld
    # cell holds two, yet "Zero"'s pair sums to 0 under a published ALL, so both are pinned,
    # and the column totals then pin "Small"'s pair.
    table = long_table([[0, 0, 50, 60], [3, 4, 70, 80], [90, 95, 30, 40], [44, 55, 66, 77]],
                       ["Zero", "Small", "C", "D"])
    primary = (table["families"] < 11).to_numpy()
    grid = primary.reshape(-1, 5)
    assert set(grid.sum(axis=1)) <= {0, 2} and set(grid.sum(axis=0)) <= {0, 2}

    leaked = audit(withhold(table, primary), statewide_totals(table))
    assert (leaked["low"] == leaked["high"]).all(), leaked
    assert leaked["low"].tolist() == [0, 0, 3, 4]

    found = audit(suppress(table), statewide_totals(table))
    assert ((found["high"] - found["low"]) >= 1).all(), found


def test_audit_matches_an_independent_lp_formulation() -> None:
    for seed in range(12):
        table = long_table(random_interior(1000 + seed))
        rng = np.random.default_rng(seed)
        mask = rng.random(len(table)) < 0.4
        got = audit(withhold(table, mask), statewide_totals(table))
        assert list(zip(got["low"], got["high"])) == reference_bounds(table, mask), seed


def test_audit_bounds_are_the_integer_bounds() -> None:
    """Brute force over every integer table: the LP bounds are exact (total unimodularity)."""
    rng = np.random.default_rng(7)
    for case in range(25):
        n = int(rng.integers(2, 4))
        interior = rng.integers(0, 3, (n, 4))
        table = long_table(interior)
        mask = np.zeros((n, 5), dtype=bool)
        cells = rng.choice(n * 5, size=int(rng.integers(2, 7)), replace=False)
        mask.ravel()[cells] = True
        if mask[:, :4].sum() > 5:
            continue
        values = table["families"].to_numpy().reshape(n, 5)
        col_totals = values.sum(axis=0)

        free = np.argwhere(mask[:, :4])
        top = [int(col_totals[j]) for _, j in free]
        found: dict[tuple[int, int], list[int]] = {tuple(c): [] for c in np.argwhere(mask)}
        for combo in itertools.product(*(range(t + 1) for t in top)):
            trial = np.where(mask, 0, values)
            for (i, j), v in zip(free, combo):
                trial[i, j] = v
            # withheld ALL cells follow from their row; published ones must agree
            row_sums = trial[:, :4].sum(axis=1)
            if (row_sums[~mask[:, 4]] != values[~mask[:, 4], 4]).any():
                continue
            trial[:, 4] = row_sums
            if (trial.sum(axis=0) != col_totals).any():
                continue
            for cell in found:
                found[cell].append(int(trial[cell]))

        expected = [(min(found[tuple(c)]), max(found[tuple(c)])) for c in np.argwhere(mask)]
        got = audit(withhold(table, mask.ravel()), statewide_totals(table))
        assert list(zip(got["low"], got["high"])) == expected, (case, interior, mask)


def test_audit_under_full_suppression_is_zero_to_the_column_total() -> None:
    table = long_table(random_interior(3))
    totals = statewide_totals(table)
    found = audit(withhold(table, np.ones(len(table), dtype=bool)), totals)
    assert (found["low"] == 0).all()
    assert found["high"].tolist() == [totals[s] for s in found["systems"]]


def test_audit_needs_totals_and_rejects_inconsistent_ones() -> None:
    table = leaky_table()
    bare = withhold(table, (table["families"] < 11).to_numpy())
    with pytest.raises(ValueError, match="statewide totals"):
        audit(bare)
    wrong = statewide_totals(table)
    wrong["DHS+DJS"] -= 10  # less than the published cells of that column
    wrong.pop("ALL")
    with pytest.raises(ValueError, match="inconsistent"):
        audit(bare, wrong)
    # suppress keeps the public totals, so its output audits on its own
    assert audit(suppress(table)).equals(audit(suppress(table), statewide_totals(table)))


# --------------------------------------------------------------------------- suppress


@pytest.mark.parametrize("seed", range(300))
def test_random_tables_are_protected(seed: int) -> None:
    interior = random_interior(seed)
    table = long_table(interior)
    threshold = THRESHOLDS[seed % len(THRESHOLDS)]
    primary_range = None if seed % 3 else 1
    need_primary = primary_range or max(1, math.ceil(threshold / 2))
    where = f"seed {seed}, threshold {threshold}, primary_range {primary_range}"

    out = suppress(table, threshold, primary_range=primary_range)
    values = table["families"].to_numpy()
    flags = out["suppressed"].to_numpy()
    published = ~flags

    assert out["families"].dtype == "Int64" and out["suppressed"].dtype == bool
    assert out[["community", "systems"]].equals(table[["community", "systems"]])
    # (a) every count below the threshold is withheld; nothing published is small
    assert (flags[values < threshold]).all(), where
    assert (out["families"][published] >= threshold).all(), where
    # (c) published cells are the input; withheld ones are NA
    assert (out["families"][published].to_numpy() == values[published]).all(), where
    assert out["families"][flags].isna().all(), where
    # the necessary condition: no row or column holds exactly one withheld cell
    grid = flags.reshape(-1, 5)
    assert 1 not in set(grid.sum(axis=1)) | set(grid.sum(axis=0)), where

    totals = statewide_totals(table)
    found = audit(out, totals)
    truth = values[flags]
    width = (found["high"] - found["low"]).to_numpy()
    # only a combination with statewide total 0 pins its cells; nothing can hide those
    unprotectable = np.asarray([totals[s] == 0 for s in found["systems"]], dtype=bool)
    small = truth < threshold
    # (d) the true value is inside the attacker's interval
    bad = (truth < found["low"]) | (truth > found["high"])
    assert not bad.any(), f"{where}: true value outside [low, high]\n{found[bad]}"
    # (b) no withheld cell is pinned; primary cells need the wider range
    pinned = (width < 1) & ~unprotectable
    assert not pinned.any(), f"{where}: withheld cells pinned\n{found[pinned]}"
    cap = np.asarray([totals[s] for s in found["systems"]], dtype=np.int64)
    narrow = small & (width < np.minimum(need_primary, cap))
    assert not narrow.any(), f"{where}: primary cells too narrow\n{found[narrow]}"


def test_suppress_is_deterministic_and_keeps_the_input_rows() -> None:
    table = long_table(random_interior(42))
    table.index = table.index * 3 + 7
    first = suppress(table)
    second = suppress(table.copy())
    assert first.equals(second)
    assert first.index.equals(table.index)
    assert table["families"].dtype == np.int64  # the input is untouched


def test_every_count_below_threshold_withholds_everything() -> None:
    table = long_table([[1, 2, 0, 3], [0, 1, 1, 0], [2, 0, 0, 1]])
    out = suppress(table)
    assert out["suppressed"].all() and out["families"].isna().all()
    found = audit(out, statewide_totals(table))
    assert (found["high"] - found["low"] >= 1).all(), found


def test_a_community_with_no_families_is_withheld() -> None:
    families = pd.DataFrame({"community": ["A"] * 40 + ["B"] * 44,
                             "systems": ["DHS+DJS"] * 15 + ["DHS+DPSCS"] * 25
                             + ["DHS+DJS"] * 12 + ["DJS+DPSCS"] * 18
                             + ["DHS+DJS+DPSCS"] * 14})
    table = community_table(families, ["A", "Empty", "B"])
    out = suppress(table)
    assert out.loc[out["community"] == "Empty", "suppressed"].all()
    found = audit(out, statewide_totals(table))
    assert len(found) > 0 and (found["high"] - found["low"] >= 1).all(), found


def test_a_tiny_grand_total_never_raises() -> None:
    # Two families in the whole state: everything is withheld; only the combinations with
    # statewide total 0 stay pinned (at 0), which the public totals already say.
    table = long_table([[1, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0], [40, 0, 0, 0]])
    out = suppress(table)
    totals = statewide_totals(table)
    found = audit(out, totals)
    assert (out.loc[table["families"].to_numpy() < 11, "suppressed"]).all()
    for row in found.itertuples():
        assert row.low <= row.high
        if totals[row.systems] > 0:
            assert row.high - row.low >= 1, row
        else:
            assert row.low == row.high == 0, row


def test_a_single_community_is_its_own_total() -> None:
    table = long_table([[25, 3, 0, 40]], ["Only"])
    out = suppress(table)
    assert out["suppressed"].tolist() == [False, True, True, False, False]


def test_suppress_rejects_an_inconsistent_all_row() -> None:
    table = leaky_table()
    table.loc[4, "families"] += 1
    with pytest.raises(ValueError, match="ALL"):
        suppress(table)


# --------------------------------------------------------------------------- CSV


def test_to_csv_frame_blanks_withheld_counts() -> None:
    out = suppress(leaky_table())
    frame = to_csv_frame(out)
    assert list(frame.columns) == ["community", "systems", "families", "suppressed"]
    flags = out["suppressed"].to_numpy()
    assert (frame["families"][flags] == "").all()
    assert frame["families"][~flags].tolist() == [str(int(n)) for n in out["families"][~flags]]
    assert set(frame["suppressed"]) == {"true", "false"}
    assert (frame["suppressed"] == np.where(flags, "true", "false")).all()

    text = frame.to_csv(index=False)
    assert "Leak,DHS+DJS,,true" in text
    back = pd.read_csv(io.StringIO(text))
    assert back["families"].isna().tolist() == flags.tolist()
    # the CSV form audits the same as the frame it came from
    totals = statewide_totals(leaky_table())
    assert audit(frame, totals).equals(audit(out, totals))

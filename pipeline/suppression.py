"""Small-count suppression, with complementary suppression, for ``community_counts.csv``.

The published table has one row per community and per combination of systems, plus one row
per community for all combinations together (``systems`` = ``ALL``). Seen as a matrix it has
one line per community and five columns: the four :data:`SYSTEMS_COMBINATIONS` (the
*interior* cells) and ``ALL``, their sum.

Attacker model
--------------
The attacker knows

* every published cell exactly;
* that every withheld cell is an integer >= 0;
* every row identity: a community's interior cells sum to its ``ALL`` cell, whether that
  ``ALL`` cell is published or not;
* the statewide totals: the sum over all communities of each combination, and the grand
  total (the sum of the ``ALL`` column). Rows such as "Other Maryland" or "Out of state" are
  ordinary rows of the table, so these totals cover them. The totals are treated as public
  and exact.

From this the attacker can bound each withheld cell by two linear programmes (its minimum
and maximum over every nonnegative table that agrees with all of the above). That is what
:func:`audit` computes. It covers every differencing attack on this table, e.g. a lone
withheld interior cell in a row whose ``ALL`` is published, or a lone withheld cell in a
column, since the statewide total gives it away.

Protection rule
---------------
``threshold`` (default 11) is the smallest count that may be published. A count of 0 is
below it too and is withheld.

* *Primary suppression*: every cell, interior or ``ALL``, whose count is below ``threshold``.
* *Every withheld cell* must have a feasible interval of width ``high - low >= 1``, so no
  withheld value is pinned.
* *Every primary cell* must have ``high - low >= primary_range``, where ``primary_range``
  defaults to ``ceil(threshold / 2)`` (6 for the default threshold of 11). So the attacker
  cannot narrow a small count to fewer than ``primary_range + 1`` candidate values ("0 or 1"
  is not an acceptable answer for a count of 0).
* Both requirements are capped at the width the public totals allow even when *every* cell
  is withheld: ``[0, T_j]`` for an interior cell whose combination has statewide total
  ``T_j``, and ``[0, grand total]`` for an ``ALL`` cell, when there are at least two
  communities. A cell in a combination with statewide total 0 is pinned at 0 by the public
  totals alone, and with one community the table *is* the totals. No suppression can
  protect those cells; they are still withheld if they are below the threshold.

Method
------
1. Primary suppression.
2. Necessary condition, with no LP: every row (the ``ALL`` cell counts as part of its row)
   and every column that holds a withheld cell must hold at least two. A lone withheld cell
   gets a partner from its line: preferably one whose other line already holds exactly one
   withheld cell (that fixes two lines at once), then one whose other line holds any, then
   the smallest count, then the first by table position. Repeat until no line has a lone
   withheld cell.
3. LP audit loop. This condition is necessary but not sufficient, so each withheld cell is
   checked with ``scipy.optimize.linprog`` (HiGHS). Withholding more cells only widens
   feasible intervals, because the old solutions stay feasible, so a cell that passes is
   never checked again. The first cell that fails gets one more complementary cell: the
   smallest published count in its row or column, preferring one whose other line already
   holds a withheld cell, so that a cycle can close. If the row and column are fully
   withheld, the candidates widen to the lines that meet withheld cells of that row and
   column, then to every published cell. Then back to step 2.

The loop ends because every round withholds at least one more cell, and the fully withheld
table meets the capped requirements. At worst, as when the grand total is tiny, whole rows
and columns, or the whole table, end up withheld. The method never raises for a
well-formed table. Every tie is broken by table position, so the same input always gives
the same output. Tables are small (about 15 rows by 5 columns), so a greedy loop is cheap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import linprog

__all__ = [
    "ALL",
    "SYSTEMS_COMBINATIONS",
    "audit",
    "community_table",
    "statewide_totals",
    "suppress",
    "to_csv_frame",
]

SYSTEMS_COMBINATIONS: tuple[str, ...] = ("DHS+DJS", "DHS+DPSCS", "DJS+DPSCS", "DHS+DJS+DPSCS")
"""The combinations of systems a multi-system family can be in, in publication order."""

ALL = "ALL"
"""The ``systems`` value of a community's row for all combinations together."""

_COLUMNS: tuple[str, ...] = (*SYSTEMS_COMBINATIONS, ALL)
_N_COLS = len(_COLUMNS)
_ALL_COL = _N_COLS - 1


# --------------------------------------------------------------------------- building


def community_table(families: pd.DataFrame, communities: Sequence[str]) -> pd.DataFrame:
    """Count multi-system families per community and combination, as the long table.

    Args:
        families: One row per multi-system family, with string columns ``community`` and
            ``systems`` (one of :data:`SYSTEMS_COMBINATIONS`).
        communities: The communities to publish, in order. Every one gets its rows, even
            with no families. A community that appears in ``families`` but not here is
            appended after them, in sorted order.

    Returns:
        Columns ``community``, ``systems`` and ``families`` (int64). Communities come in the
        order above. Each has one row per combination, in the order of
        :data:`SYSTEMS_COMBINATIONS` (zeros included), then its ``ALL`` row.

    Raises:
        ValueError: A column is missing, a value is null, or ``systems`` holds an unknown
            combination.
    """
    missing = {"community", "systems"} - set(families.columns)
    if missing:
        raise ValueError(f"families lacks column(s) {sorted(missing)}")
    if families["community"].isna().any() or families["systems"].isna().any():
        raise ValueError("families has a null community or systems value")
    unknown = sorted(set(families["systems"]) - set(SYSTEMS_COMBINATIONS))
    if unknown:
        raise ValueError(f"unknown systems combination(s) {unknown}; "
                         f"expected one of {list(SYSTEMS_COMBINATIONS)}")

    order = list(dict.fromkeys(communities))
    listed = set(order)
    order += sorted({c for c in families["community"].unique() if c not in listed})

    counts = families.groupby(["community", "systems"], observed=True).size()
    grid = pd.MultiIndex.from_product([order, SYSTEMS_COMBINATIONS])
    interior = counts.reindex(grid, fill_value=0).to_numpy(dtype=np.int64)
    interior = interior.reshape(len(order), len(SYSTEMS_COMBINATIONS))
    matrix = np.column_stack([interior, interior.sum(axis=1)])

    return pd.DataFrame({
        "community": np.repeat(np.asarray(order, dtype=object), _N_COLS),
        "systems": np.tile(np.asarray(_COLUMNS, dtype=object), len(order)),
        "families": matrix.ravel().astype(np.int64),
    })


def statewide_totals(table: pd.DataFrame) -> dict[str, int]:
    """The public statewide totals of an *unsuppressed* table.

    Args:
        table: The long table from :func:`community_table`, with every count present.

    Returns:
        The sum over all communities for each combination, and the grand total under
        ``"ALL"``.

    Raises:
        ValueError: The table is malformed or has a missing count.
    """
    _, _, values = _grid(table)
    if np.isnan(values).any():
        raise ValueError("statewide totals need the unsuppressed table; a count is missing")
    _check_counts(values)
    sums = values.sum(axis=0).astype(np.int64)
    return {name: int(total) for name, total in zip(_COLUMNS, sums, strict=True)}


# --------------------------------------------------------------------------- suppression


def suppress(table: pd.DataFrame, threshold: int = 11, *,
             primary_range: int | None = None) -> pd.DataFrame:
    """Withhold small counts, and enough other counts that none can be recovered.

    The module docstring gives the attacker model, the protection rule and the method.

    Args:
        table: The long table from :func:`community_table`: columns ``community``,
            ``systems`` and ``families``, with every count present. For each community the
            ``ALL`` count must equal the sum of the four combination counts.
        threshold: The smallest count that may be published.
        primary_range: The smallest feasible-interval width ``high - low`` allowed for a
            primary (below-threshold) cell. Default ``ceil(threshold / 2)``, and at least 1.
            Every complementary cell needs width 1. Both are capped at what the public
            totals allow.

    Returns:
        A copy of ``table``, with the same rows in the same order. ``families`` is nullable
        ``Int64``, NA where withheld. A boolean ``suppressed`` column is added. The public
        totals are kept in ``attrs["statewide_totals"]``, so :func:`audit` can use them.

    Raises:
        ValueError: The table is malformed, since that is a contract violation. A
            well-formed table never raises, however small its counts.
    """
    if primary_range is None:
        primary_range = max(1, math.ceil(threshold / 2))
    elif primary_range < 1:
        raise ValueError(f"primary_range must be at least 1, not {primary_range}")

    communities, positions, raw = _grid(table)
    if np.isnan(raw).any():
        raise ValueError("suppress needs every count; a families value is missing")
    _check_counts(raw)
    values = raw.astype(np.int64)
    totals = values.sum(axis=0)

    primary = values < threshold
    required = np.where(primary, primary_range, 1)
    required = np.minimum(required, _full_suppression_width(totals, len(communities)))
    withheld = _protect(values, totals, primary.copy(), required)

    out = table.copy()
    flags = withheld[positions[:, 0], positions[:, 1]]
    published = values[positions[:, 0], positions[:, 1]]
    families = pd.array(published, dtype="Int64")
    families[flags] = pd.NA
    out["families"] = families
    out["suppressed"] = flags.astype(bool)
    out.attrs["statewide_totals"] = {
        name: int(total) for name, total in zip(_COLUMNS, totals, strict=True)}
    return out


def _full_suppression_width(totals: np.ndarray, n_rows: int) -> np.ndarray:
    """Each cell's feasible width when every cell is withheld: the most any rule can ask.

    With everything withheld, only the row identities and the public column totals
    remain. The rows then decouple, since each ``ALL`` cell is just its row's sum. An
    interior cell ranges over ``[0, T_j]`` and an ``ALL`` cell over ``[0, grand total]``.
    With one community every cell equals its total and is pinned.
    """
    if n_rows < 2:
        return np.zeros((n_rows, _N_COLS), dtype=np.int64)
    return np.broadcast_to(totals, (n_rows, _N_COLS)).astype(np.int64)


def _protect(values: np.ndarray, totals: np.ndarray, withheld: np.ndarray,
             required: np.ndarray) -> np.ndarray:
    """The greedy loop: pair lone cells, audit, add one complement, repeat."""
    verified = np.zeros_like(withheld)
    # The smallest and largest value each cell takes in the feasible tables seen so far:
    # the true table, then every LP solution. A table stays feasible when more cells are
    # withheld (each newly withheld cell keeps its published value), so these carry over.
    seen_low = values.astype(float)
    seen_high = values.astype(float)
    while True:
        _pair_lone_cells(values, withheld)
        failing = _first_failing(values, totals, withheld, verified, required,
                                 seen_low, seen_high)
        complement = None if failing is None else _choose_complement(values, withheld, failing)
        if complement is None:  # every cell passes, or every cell is already withheld
            return withheld
        withheld[complement] = True


def _pair_lone_cells(values: np.ndarray, withheld: np.ndarray) -> None:
    """Withhold partners until no row or column holds exactly one withheld cell."""
    n_rows = values.shape[0]
    while True:
        row_counts = withheld.sum(axis=1)
        col_counts = withheld.sum(axis=0)
        lone_rows = np.flatnonzero(row_counts == 1)
        lone_cols = np.flatnonzero(col_counts == 1)
        if lone_rows.size:
            i = int(lone_rows[0])
            cols = np.flatnonzero(~withheld[i])
            keys = [(_line_rank(col_counts[j]), values[i, j], j) for j in cols]
            withheld[i, min(keys)[2]] = True
        elif lone_cols.size and n_rows > 1:
            j = int(lone_cols[0])
            rows = np.flatnonzero(~withheld[:, j])
            keys = [(_line_rank(row_counts[i]), values[i, j], i) for i in rows]
            withheld[min(keys)[2], j] = True
        else:
            return


def _line_rank(count: int) -> int:
    """How good a line is to put a partner in: one lone cell (0), any cells (1), none (2)."""
    if count == 1:
        return 0
    return 1 if count > 1 else 2


def _first_failing(values: np.ndarray, totals: np.ndarray, withheld: np.ndarray,
                   verified: np.ndarray, required: np.ndarray, seen_low: np.ndarray,
                   seen_high: np.ndarray) -> tuple[int, int] | None:
    """The first withheld cell whose feasible interval is too narrow, in table order.

    Cells that pass are marked in ``verified`` and never checked again. Withholding more
    only widens intervals, so a pass is final. Two feasible tables already seen that differ
    by ``need`` in a cell prove its width without an LP, since ``seen_low >= low`` and
    ``seen_high <= high``.
    """
    todo = np.argwhere(withheld & ~verified)
    if todo.size == 0:
        return None
    lp = _LinearProgramme(np.where(withheld, np.nan, values), withheld, totals,
                          seen_low, seen_high)
    for i, j in todo:
        need = int(required[i, j])
        if need <= 0 or seen_high[i, j] - seen_low[i, j] >= need:
            verified[i, j] = True
            continue
        high = lp.extreme(i, j, maximise=True)
        if high - seen_low[i, j] < need and high - lp.extreme(i, j, maximise=False) < need:
            return int(i), int(j)
        verified[i, j] = True
    return None


def _choose_complement(values: np.ndarray, withheld: np.ndarray,
                       cell: tuple[int, int]) -> tuple[int, int] | None:
    """The published cell to withhold next, so that ``cell``'s interval can widen.

    None when nothing is published any more. That cannot happen for a failing cell, since
    the requirements are capped at what full suppression gives, but the loop stops safely.
    """
    i, j = cell
    row_counts = withheld.sum(axis=1)
    col_counts = withheld.sum(axis=0)
    published = ~withheld

    # First choice: the same row or column. Prefer a cell whose other line already holds a
    # withheld cell, so that a cycle through ``cell`` can close. Then take the smallest count.
    keys = [(0 if col_counts[c] > 0 else 1, values[i, c], i, c)
            for c in np.flatnonzero(published[i])]
    keys += [(0 if row_counts[r] > 0 else 1, values[r, j], r, j)
             for r in np.flatnonzero(published[:, j])]
    if keys:
        _, _, r, c = min(keys)
        return int(r), int(c)

    # Row and column fully withheld: try the lines that meet their withheld cells.
    rows = np.flatnonzero(withheld[:, j])
    cols = np.flatnonzero(withheld[i])
    near = np.zeros_like(withheld)
    near[rows, :] = True
    near[:, cols] = True
    for mask in (near & published, published):
        cells = np.argwhere(mask)
        if cells.size:
            r, c = min(cells, key=lambda rc: (values[rc[0], rc[1]], rc[0], rc[1]))
            return int(r), int(c)
    return None


# --------------------------------------------------------------------------- audit


def audit(table_with_suppression: pd.DataFrame,
          column_totals: Mapping[str, int] | None = None) -> pd.DataFrame:
    """The attacker's feasible range for every withheld cell.

    For each withheld cell, two linear programmes, solved with ``scipy.optimize.linprog``
    (method ``"highs"``), give its minimum and maximum over every nonnegative table that
    agrees with the published cells, the row identities (interior cells sum to ``ALL``)
    and the public statewide totals. The withheld values themselves are never used.

    The constraint matrix is totally unimodular. Every variable appears once in its row
    identity (+1 for interior cells, -1 for ``ALL``) and once in its column total (+1).
    Negate the ``ALL`` column's equation and split the rows into {row identities} and
    {column totals}. By the Heller-Tompkins criterion, every vertex of the feasible
    polytope is then integral, so the LP bounds are integers: exactly the bounds an
    attacker gets by reasoning over integer tables.

    An LP is skipped when a feasible table found by an earlier LP already proves the
    bound. A value of 0 (or, for a withheld ``ALL``, its row's published interior sum) is
    the minimum, and a value equal to the right-hand side of an equation whose
    coefficients are all +1 is the maximum. The result is the same, with fewer solves.

    Args:
        table_with_suppression: The output of :func:`suppress`, or its CSV form from
            :func:`to_csv_frame`. A cell counts as withheld when ``suppressed`` is true or
            ``families`` is missing.
        column_totals: The public statewide totals, one per combination, from
            :func:`statewide_totals` called by the caller on the *unsuppressed* table.
            ``"ALL"`` may be left out, since it is their sum. Default: the totals
            :func:`suppress` left in ``attrs["statewide_totals"]``.

    Returns:
        Columns ``community``, ``systems``, ``low`` and ``high`` (int64), with one row per
        withheld cell, in table order.

    Raises:
        ValueError: The table is malformed, the totals are missing or inconsistent, or the
            published cells contradict the totals.
    """
    table = table_with_suppression
    if column_totals is None:
        column_totals = table.attrs.get("statewide_totals")
        if column_totals is None:
            raise ValueError("audit needs the public statewide totals: pass column_totals "
                             "(statewide_totals of the unsuppressed table)")
    totals = _totals_vector(column_totals)

    _, positions, values = _grid(table)
    withheld = np.isnan(values)
    if "suppressed" in table.columns:
        flags = _as_bool(table["suppressed"])
        withheld[positions[flags, 0], positions[flags, 1]] = True
    values = np.where(withheld, np.nan, values)
    if (values[~withheld] < 0).any():
        raise ValueError("families holds a negative count")

    seen_low = np.where(withheld, np.inf, values)
    seen_high = np.where(withheld, -np.inf, values)
    lp = _LinearProgramme(values, withheld, totals, seen_low, seen_high)
    rows = []
    for position, (i, j) in enumerate(positions):
        if not withheld[i, j]:
            continue
        # An LP solution already seen can prove a bound when it attains a trivial bound:
        # 0 (or a withheld ALL's published interior sum) for the minimum, an all-+1
        # equation's right-hand side for the maximum. Otherwise solve for it.
        floor, cap = lp.trivial_bounds(i, j)
        high = int(cap) if seen_high[i, j] == cap else lp.extreme(i, j, maximise=True)
        low = int(floor) if seen_low[i, j] == floor else lp.extreme(i, j, maximise=False)
        rows.append((position, low, high))
    order = [r[0] for r in rows]
    return pd.DataFrame({
        "community": table["community"].to_numpy()[order],
        "systems": table["systems"].to_numpy()[order],
        "low": np.asarray([r[1] for r in rows], dtype=np.int64),
        "high": np.asarray([r[2] for r in rows], dtype=np.int64),
    })


class _LinearProgramme:
    """The attacker's equality system over the withheld cells, for repeated bound queries.

    Every solution found is an integral, feasible table (a vertex, by total unimodularity,
    checked before use). It widens ``seen_low``/``seen_high``, the matrices the caller
    passes in, which are updated in place.
    """

    def __init__(self, values: np.ndarray, withheld: np.ndarray, totals: np.ndarray,
                 seen_low: np.ndarray, seen_high: np.ndarray) -> None:
        self.withheld = withheld
        self.seen_low = seen_low
        self.seen_high = seen_high
        n_vars = int(withheld.sum())
        self.index = np.full(withheld.shape, -1, dtype=np.int64)
        self.index[withheld] = np.arange(n_vars)
        known = np.where(withheld, 0.0, values)
        sign = np.ones(_N_COLS)
        sign[_ALL_COL] = -1.0  # interior cells minus ALL is zero in every row

        equations: list[np.ndarray] = []
        rhs: list[float] = []
        # For each variable, the smallest right-hand side of an equation in which every
        # coefficient is +1: a trivial upper bound, since all variables are >= 0.
        self.caps = np.full(n_vars, np.inf)
        # And a trivial lower bound: 0, or for a withheld ALL its row's published interior sum.
        self.floors = np.zeros(n_vars)
        for i in np.flatnonzero(withheld.any(axis=1)):
            eq = np.zeros(n_vars)
            eq[self.index[i, withheld[i]]] = sign[withheld[i]]
            equations.append(eq)
            rhs.append(-float(known[i] @ sign))
            if withheld[i, _ALL_COL]:
                self.floors[self.index[i, _ALL_COL]] = max(0.0, -rhs[-1])
            else:
                members = self.index[i, withheld[i]]
                self.caps[members] = np.minimum(self.caps[members], rhs[-1])
        for j in np.flatnonzero(withheld.any(axis=0)):
            eq = np.zeros(n_vars)
            members = self.index[withheld[:, j], j]
            eq[members] = 1.0
            equations.append(eq)
            rhs.append(float(totals[j] - known[:, j].sum()))
            self.caps[members] = np.minimum(self.caps[members], rhs[-1])
        self.a_eq = np.vstack(equations) if equations else np.zeros((0, n_vars))
        self.b_eq = np.asarray(rhs)

    def trivial_bounds(self, i: int, j: int) -> tuple[float, float]:
        """Bounds on cell ``(i, j)`` read off single equations: exact when a solution hits them."""
        k = self.index[i, j]
        return float(self.floors[k]), float(self.caps[k])

    def extreme(self, i: int, j: int, *, maximise: bool) -> int:
        """The minimum or maximum of withheld cell ``(i, j)`` over the feasible tables.

        The bound is an integer, by total unimodularity (see :func:`audit`).
        """
        c = np.zeros(self.a_eq.shape[1])
        c[self.index[i, j]] = -1.0 if maximise else 1.0
        # Presolve off: these LPs are tiny, and presolve costs more than it saves. HiGHS
        # copes with the redundant equation (the column totals sum to the grand total).
        result = linprog(c, A_eq=self.a_eq, b_eq=self.b_eq, bounds=(0, None),
                         method="highs", options={"presolve": False})
        if result.status != 0:
            raise ValueError("the published cells and the statewide totals are inconsistent "
                             f"(linprog: {result.message})")
        point = np.round(result.x)
        if (np.abs(point - result.x).max(initial=0.0) < 1e-7
                and np.array_equal(self.a_eq @ point, self.b_eq) and (point >= 0).all()):
            rows, cols = np.nonzero(self.withheld)
            solution = point[self.index[rows, cols]]
            self.seen_low[rows, cols] = np.minimum(self.seen_low[rows, cols], solution)
            self.seen_high[rows, cols] = np.maximum(self.seen_high[rows, cols], solution)
        return round(-result.fun if maximise else result.fun)


def _totals_vector(column_totals: Mapping[str, int]) -> np.ndarray:
    missing = [name for name in SYSTEMS_COMBINATIONS if name not in column_totals]
    if missing:
        raise ValueError(f"column_totals lacks {missing}")
    interior = [int(column_totals[name]) for name in SYSTEMS_COMBINATIONS]
    grand = sum(interior)
    if ALL in column_totals and int(column_totals[ALL]) != grand:
        raise ValueError(f"column_totals['ALL'] = {column_totals[ALL]} but the "
                         f"combinations sum to {grand}")
    return np.asarray([*interior, grand], dtype=np.int64)


# --------------------------------------------------------------------------- CSV


def to_csv_frame(suppressed: pd.DataFrame) -> pd.DataFrame:
    """The published form of a suppressed table, ready for ``to_csv(index=False)``.

    Args:
        suppressed: The output of :func:`suppress`.

    Returns:
        Columns ``community``, ``systems``, ``families`` and ``suppressed``, all strings.
        ``families`` is blank where withheld, and ``suppressed`` is ``"true"`` or
        ``"false"``.
    """
    flags = _as_bool(suppressed["suppressed"])
    counts = suppressed["families"].astype("Int64")
    families = ["" if flag or pd.isna(n) else str(int(n)) for flag, n in zip(flags, counts)]
    return pd.DataFrame({
        "community": suppressed["community"].to_numpy(),
        "systems": suppressed["systems"].to_numpy(),
        "families": pd.Series(families, dtype=object).to_numpy(),
        "suppressed": np.where(flags, "true", "false").astype(object),
    }, index=suppressed.index)


# --------------------------------------------------------------------------- helpers


def _grid(table: pd.DataFrame) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Validate the long table and lay its counts out as a communities x 5 matrix.

    Returns the communities (in order of first appearance), each table row's
    (community, column) position, and the matrix as float with NaN where a count is missing.
    """
    missing = {"community", "systems", "families"} - set(table.columns)
    if missing:
        raise ValueError(f"table lacks column(s) {sorted(missing)}")
    communities = list(pd.unique(table["community"]))
    rows = pd.Index(communities).get_indexer(table["community"])
    cols = pd.Index(_COLUMNS).get_indexer(table["systems"])
    if (cols < 0).any():
        bad = sorted(set(table["systems"][cols < 0].astype(str)))
        raise ValueError(f"unknown systems value(s) {bad}; expected one of {list(_COLUMNS)}")
    positions = np.column_stack([rows, cols]).astype(np.int64)
    flat = rows * _N_COLS + cols
    if len(np.unique(flat)) != len(flat):
        raise ValueError("table has a duplicated (community, systems) row")
    if len(flat) != len(communities) * _N_COLS:
        raise ValueError("table must have every combination and ALL for every community")
    counts = pd.to_numeric(table["families"], errors="coerce").astype("Float64")
    values = np.full((len(communities), _N_COLS), np.nan)
    values[rows, cols] = counts.to_numpy(dtype=float, na_value=np.nan)
    return communities, positions, values


def _check_counts(values: np.ndarray) -> None:
    """Counts must be nonnegative integers, and each row's interior must sum to its ALL."""
    if (values < 0).any() or (values != np.round(values)).any():
        raise ValueError("families must hold nonnegative integer counts")
    bad = values[:, :_ALL_COL].sum(axis=1) != values[:, _ALL_COL]
    if bad.any():
        raise ValueError(f"{int(bad.sum())} community row(s) whose ALL is not the sum of "
                         "the combinations")


def _as_bool(flags: pd.Series) -> np.ndarray:
    """A suppressed column as booleans: accepts bool, or the CSV strings "true"/"false"."""
    if flags.dtype == object or pd.api.types.is_string_dtype(flags):
        return flags.astype(str).str.strip().str.lower().eq("true").to_numpy()
    return flags.fillna(False).astype(bool).to_numpy()

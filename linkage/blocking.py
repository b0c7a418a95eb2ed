"""Candidate pairs from the keyed blocking tokens, several rules unioned.

For each rule (``blk_<rule>`` list column of the encoded records) records sharing a token
form a block; every pair inside a block is a candidate. A block larger than ``max_block``
(a common name statewide, a large apartment building, a placeholder SSN shared by many) is
not expanded: it is counted and reported, never allowed to go quadratic; the other rules
still propose its true pairs. Pairs from all rules are unioned, each with a bit mask of the
rules that proposed it. Work is per block, so it partitions by token (e.g. by token hash)
for a distributed engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_contracts.encoded import MAX_BLOCKING_RULES

from ._bits import njit


@dataclass(frozen=True)
class BlockingStats:
    """What one rule did (for the match-quality report and the logs)."""

    rule: str
    records_with_tokens: int
    blocks: int
    pairs: int
    capped_blocks: int
    capped_records: int
    largest_block: int


@dataclass(frozen=True)
class CandidatePairs:
    """Candidate record pairs, ``left < right`` (indices into the night's records), sorted.

    Attributes:
        left, right: int64 record indices.
        rules: uint16 bit mask per pair, bit ``i`` set when rule ``i`` proposed it.
        rule_names: the rules, in bit order.
        stats: one :class:`BlockingStats` per rule.
    """

    left: np.ndarray
    right: np.ndarray
    rules: np.ndarray
    rule_names: tuple[str, ...]
    stats: tuple[BlockingStats, ...]

    def __len__(self) -> int:
        return len(self.left)


def block_pairs(rec: np.ndarray, tok: np.ndarray, max_block: int
                ) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """All pairs of records sharing a token, blocks over ``max_block`` left out (a
    blocking rule's blocks; the second pass's families)."""
    if len(rec) == 0:
        empty = np.empty(0, np.int64)
        return empty, empty, {"blocks": 0, "capped_blocks": 0, "capped_records": 0,
                              "largest_block": 0}
    # rec comes ascending (list parent indices), so a stable sort by token keeps it
    # ascending within a block: one radix-friendly sort instead of a two-key lexsort
    order = np.argsort(tok, kind="stable") if np.all(rec[1:] >= rec[:-1]) else \
        np.lexsort((rec, tok))
    rec, tok = rec[order], tok[order]
    keep = np.concatenate([[True], (tok[1:] != tok[:-1]) | (rec[1:] != rec[:-1])])
    rec, tok = rec[keep], tok[keep]
    starts = np.flatnonzero(np.concatenate([[True], tok[1:] != tok[:-1]]))
    sizes = np.diff(np.concatenate([starts, [len(tok)]]))
    ok = (sizes >= 2) & (sizes <= max_block)
    capped = sizes > max_block
    info = {"blocks": int(ok.sum()), "capped_blocks": int(capped.sum()),
            "capped_records": int(sizes[capped].sum()), "largest_block": int(sizes.max())}
    # For position p in an expanded block ending at e: pairs (p, p+1), ..., (p, e-1).
    block_of = np.repeat(np.arange(len(starts)), sizes)
    ends = (starts + sizes)[block_of]
    pos = np.arange(len(tok))
    counts = np.where(ok[block_of], ends - pos - 1, 0)
    total = int(counts.sum())
    left_pos = np.repeat(pos, counts)
    offset = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    right_pos = left_pos + 1 + offset
    a, b = rec[left_pos], rec[right_pos]
    return np.minimum(a, b), np.maximum(a, b), info


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """Distinct values, sorted (a sort and a mask: numpy's hash-based ``unique`` took 2 s
    per call on tens of millions of pair keys)."""
    a = np.sort(a)
    return a[np.concatenate([[True], a[1:] != a[:-1]])] if len(a) else a


def candidate_pairs(records: pa.Table, rules: Sequence[str], max_block: int = 200,
                    rule_max_block: Mapping[str, int] | None = None) -> CandidatePairs:
    """Union of the blocking rules' candidate pairs.

    Args:
        records: encoded records (``blk_<rule>`` columns of list<uint64>).
        rules: rule names to use (at most ``MAX_BLOCKING_RULES``), e.g. ``("ssn", "dob_name")``.
        max_block: largest block expanded into pairs.
        rule_max_block: a smaller cap for some rules (a statewide name rule: its blocks
            grow with the state, and its pairs quadratically).

    Returns:
        The candidate pairs with their rule masks and per-rule statistics.
    """
    if len(rules) > MAX_BLOCKING_RULES:
        raise ValueError(f"at most {MAX_BLOCKING_RULES} blocking rules (one bit each)")
    n = records.num_rows
    keys, bits, stats = [], [], []
    for i, rule in enumerate(rules):
        column = records.column(f"blk_{rule}").combine_chunks()
        rec = pc.list_parent_indices(column).to_numpy().astype(np.int64)
        tok = pc.list_flatten(column).to_numpy()
        cap = (rule_max_block or {}).get(rule, max_block)
        left, right, info = block_pairs(rec, tok, cap)
        key = _sorted_unique(left * n + right)
        keys.append(key)
        bits.append(np.full(len(key), 1 << i, dtype=np.uint16))
        stats.append(BlockingStats(rule=rule, records_with_tokens=int(len(_sorted_unique(rec))),
                                   pairs=len(key), **info))
    key = np.concatenate(keys) if keys else np.empty(0, np.int64)
    bit = np.concatenate(bits) if bits else np.empty(0, np.uint16)
    order = np.argsort(key, kind="stable")
    key, bit = key[order], bit[order]
    starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]])) if len(key) else \
        np.empty(0, np.int64)
    mask = np.bitwise_or.reduceat(bit, starts) if len(key) else bit
    unique = key[starts]
    return CandidatePairs(left=unique // n if n else unique, right=unique % n if n else unique,
                          rules=mask.astype(np.uint16), rule_names=tuple(rules),
                          stats=tuple(stats))





@njit
def _shares_sorted(offsets, values, left, right):  # type: ignore[no-untyped-def]
    """Per pair, whether two records' sorted token lists meet (a merge walk)."""
    out = np.zeros(len(left), np.bool_)
    for k in range(len(left)):
        i, i_end = offsets[left[k]], offsets[left[k] + 1]
        j, j_end = offsets[right[k]], offsets[right[k] + 1]
        while i < i_end and j < j_end:
            if values[i] == values[j]:
                out[k] = True
                break
            if values[i] < values[j]:
                i += 1
            else:
                j += 1
    return out


def shares_token(records: pa.Table, rule: str, left: np.ndarray, right: np.ndarray
                 ) -> np.ndarray:
    """Per pair, whether the two records share a ``blk_<rule>`` token. The test is on the
    tokens themselves, so it holds for any pair (random ones included) and ignores caps.
    Each record's tokens are sorted once; pairs are then a compiled merge walk (no
    per-pair arrays: on a statewide night the pairs are tens of millions)."""
    column = records.column(f"blk_{rule}").combine_chunks()
    offsets = column.offsets.to_numpy().astype(np.int64) - column.offsets[0].as_py()
    values = column.values.to_numpy()[column.offsets[0].as_py():][:offsets[-1]]
    parent = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    values = values[np.lexsort((values, parent))]
    return _shares_sorted(offsets, values, np.asarray(left, dtype=np.int64),
                          np.asarray(right, dtype=np.int64))

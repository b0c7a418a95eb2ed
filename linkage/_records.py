"""Per-record codes of the encoded records' label columns, for fast pair tests.

Comparing object strings pair by pair cost seconds on a statewide night (14 million pairs);
each column is factorized once per record and pairs compare small integers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa


def codes(records: pa.Table, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer code per record (-1 where null) and the distinct labels."""
    values = records.column(column).to_numpy(zero_copy_only=False)
    code, labels = pd.factorize(values, use_na_sentinel=True)
    return code.astype(np.int32), np.asarray(labels, dtype=object)


def is_any(records: pa.Table, column: str, labels: set[str] | frozenset[str]) -> np.ndarray:
    """Per record, whether its value is one of ``labels``."""
    code, distinct = codes(records, column)
    hit = np.array([v in labels for v in distinct] + [False], dtype=bool)
    return hit[code]                       # code -1 reads the trailing False


def flag(records: pa.Table, column: str) -> np.ndarray:
    """Per record, a boolean column's value (null reads False)."""
    return records.column(column).fill_null(False).to_numpy(zero_copy_only=False).astype(bool)


def derived(records: pa.Table) -> np.ndarray:
    """Per record, whether it is a derived person (a guardian or a contact)."""
    return ~is_any(records, "record_kind", {"primary"})

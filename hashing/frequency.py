"""Frequency classes of names: how common a record's first and last name are in its own
agency's extract, in four coarse classes (Splink's term-frequency adjustment, made safe
to send).

Agreement on a common name (JAMES, SMITH) says much less than agreement on a rare one, and
a hardened filter cannot show which names are common (that is what the hardening is for).
So the agency side, which holds the names, counts them and sends only a class per record:
``0`` very common (1 % or more of the agency's records), ``1`` common (0.1-1 %), ``2``
uncommon (0.01-0.1 %), ``3`` rare; null where the name is missing. Four classes of
hundreds of names each leave a frequency attack nothing to rank.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

FREQUENCY_FIELDS: tuple[str, ...] = ("first_name", "last_name")
CLASS_SHARES: tuple[float, ...] = (1e-2, 1e-3, 1e-4)
"""Share of the agency's named records at or above which a name is in class 0, 1, 2."""
N_CLASSES = len(CLASS_SHARES) + 1


def frequency_class(values: pa.Array) -> pa.Array:
    """Class per record (uint8, null where the value is missing)."""
    encoded = pc.dictionary_encode(values)
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    named = codes >= 0
    counts = np.bincount(codes[named], minlength=len(encoded.dictionary))
    share = counts / max(int(named.sum()), 1)
    per_value = np.full(len(share), len(CLASS_SHARES), dtype=np.uint8)
    for cls, bound in reversed(list(enumerate(CLASS_SHARES))):
        per_value[share >= bound] = cls
    out = np.where(named, per_value[np.maximum(codes, 0)], 0).astype(np.uint8)
    return pa.array(out, type=pa.uint8(), mask=~named)

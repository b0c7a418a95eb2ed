"""What an agency's records are, declared by its contract and sent in the encoded extract.

Each agency module (``data_contracts/agencies/<agency>.py``) declares one
:class:`RecordRoles`: the role of its records (``youth``, ``child``, ``adult``, ``parent``
or ``unknown``, :data:`data_contracts.encoded.ROLES`) by record kind and relationship,
whether its primary ids each name one person, whether a family group lists each person
once, and how its addresses rank as a family's residence. :func:`declared_columns` turns a
person frame into the encoded extract's ``role``, ``id_unique``, ``group_distinct`` and
``address_priority`` columns, so that the linkage side reads what a record is from the
record and never from the name of the agency that sent it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from .encoded import ROLES

PARENTAL: Mapping[str, str] = {r: "parent" for r in (
    "MOTHER", "FATHER", "GRANDMOTHER", "GRANDFATHER", "FOSTER PARENT")}
"""A guardian or contact named with one of these relationships is a generation above the
person whose record names it (a youth's or an offender's parent)."""


@dataclass(frozen=True)
class RecordRoles:
    """An agency's declaration of what its records are.

    Attributes:
        roles: per record kind (``primary``, ``guardian``, ``contact``), the role of every
            record of that kind, or a map from relationship to role (a relationship
            missing from the map is ``unknown``). A kind not named is ``unknown``.
        primary_ids_unique: each primary id names one person and one person never holds
            two (a DJS youth id, a DPSCS sid; not a DHS client id, which is unique only in
            intent): two such records are never one person.
        groups_distinct: a family group lists each person once (a youth and the guardians
            named on the youth's record; not a DHS case, which may list a person twice).
        address_priority: rank of the agency's addresses as a family's residence when
            two addresses of one family are equally recent; the higher wins.
    """

    roles: Mapping[str, str | Mapping[str, str]] = field(default_factory=dict)
    primary_ids_unique: bool = False
    groups_distinct: bool = False
    address_priority: int = 0

    def __post_init__(self) -> None:
        for kind, role in self.roles.items():
            for r in ([role] if isinstance(role, str) else role.values()):
                if r not in ROLES:
                    raise ValueError(f"role {r!r} of {kind} records is not one of {ROLES}")
        if not 0 <= self.address_priority <= 255:
            raise ValueError("address_priority must be 0..255")


UNDECLARED = RecordRoles()
"""An agency without a declaration (a benchmark's file): roles unknown, nothing unique."""


def declared_columns(persons: pd.DataFrame, declarations: Mapping[str, RecordRoles]
                     ) -> dict[str, pa.Array]:
    """The encoded extract's declared columns for a person frame.

    Args:
        persons: a contract's person frame (``agency``, ``record_kind``, ``relationship``).
        declarations: agency -> its :class:`RecordRoles` (:data:`UNDECLARED` if absent).

    Returns:
        ``role``, ``id_unique``, ``group_distinct``, ``address_priority`` as Arrow arrays.
    """
    n = len(persons)
    agency = persons["agency"].astype(object).to_numpy()
    kind = persons["record_kind"].astype(object).to_numpy()
    relationship = pd.Series(persons["relationship"].astype(object).to_numpy())
    role = np.full(n, "unknown", dtype=object)
    unique = np.zeros(n, dtype=bool)
    distinct = np.zeros(n, dtype=bool)
    priority = np.zeros(n, dtype=np.uint8)
    for name in pd.unique(agency):
        decl = declarations.get(name, UNDECLARED)
        mine = agency == name
        for k, declared in decl.roles.items():
            rows = mine & (kind == k)
            if isinstance(declared, str):
                role[rows] = declared
            else:
                role[rows] = relationship[rows].map(declared).fillna("unknown").to_numpy()
        unique[mine & (kind == "primary")] = decl.primary_ids_unique
        distinct[mine] = decl.groups_distinct
        priority[mine] = decl.address_priority
    return {"role": pa.array(role, type=pa.string()),
            "id_unique": pa.array(unique, type=pa.bool_()),
            "group_distinct": pa.array(distinct, type=pa.bool_()),
            "address_priority": pa.array(priority, type=pa.uint8())}

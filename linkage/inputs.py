"""What the linkage side reads: the three agencies' encoded extracts of one night.

Only :func:`data_contracts.encoded.read_encoded` is used; the linkage side never opens a
raw extract. The three files must come from the same night, the same key (key id) and the
same encoding settings, or their filters would not be comparable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from data_contracts.encoded import EncodedMeta, read_encoded
from data_contracts.errors import EncodedFormatError


@dataclass(frozen=True)
class EncodedNight:
    """One night's encoded records, all agencies in one table.

    Attributes:
        records: the agencies' encoded tables concatenated (in the order of the paths
            given); a record's position in it is its index everywhere on the linkage side.
            What each record is (``role``, ``id_unique``, ``group_distinct``,
            ``address_priority``) is in its columns, as its agency's contract declared it.
        key_id: the key id the three files share.
        encoding: the encoding settings they share (filter sizes, hardening).
        night: ``YYYYMMDD``.
        agencies: the agencies present, in order.
    """

    records: pa.Table
    key_id: str
    encoding: dict[str, Any]
    night: str
    agencies: tuple[str, ...]


def read_night(paths: dict[str, Path]) -> EncodedNight:
    """Read and check the encoded extracts of one night.

    Args:
        paths: agency -> ``encoded_<agency>_<night>.parquet``.

    Returns:
        The concatenated records and what the files declare in common.

    Raises:
        EncodedFormatError: a file is missing or not in the declared format, or the files
            differ in night, key id or encoding settings (named, with what to do).
    """
    tables: list[pa.Table] = []
    metas: list[tuple[str, EncodedMeta]] = []
    for agency, path in paths.items():
        table, meta = read_encoded(Path(path))
        if meta.agency != agency:
            raise EncodedFormatError(f"file declares agency {meta.agency}, expected {agency}",
                                     where=str(path), hint="check which agency sent it")
        tables.append(table)
        metas.append((str(path), meta))
    if not metas:
        raise EncodedFormatError("no encoded extract given",
                                 hint="pass the three agencies' encoded files")
    first_path, first = metas[0]
    for path, meta in metas[1:]:
        for what, mine, theirs, hint in (
                ("night", meta.night, first.night, "link files of one night"),
                ("key id", meta.key_id, first.key_id,
                 "all agencies must encode with the same linkage key (after a rotation, "
                 "every agency re-encodes)"),
                ("encoding settings", meta.encoding_sha256, first.encoding_sha256,
                 "all agencies must encode with the same [encoding] settings")):
            if mine != theirs:
                raise EncodedFormatError(f"{what} differs from {Path(first_path).name}",
                                         where=path, hint=hint)
    schema = tables[0].schema.remove_metadata()
    records = pa.concat_tables([t.replace_schema_metadata(None).cast(schema) for t in tables])
    return EncodedNight(records=records, key_id=first.key_id, encoding=first.encoding,
                        night=first.night, agencies=tuple(paths))

"""Reading delimited text extracts row-exactly, whatever their bytes.

The agencies' text files are mostly one encoding with exceptions: the DHS file is UTF-8
with some legitimate Windows-1252 rows, the DJS file is Windows-1252. Both may start with
a byte-order mark and end lines with CRLF. This module turns such a file into a table of
string columns plus, for every row, its physical line number, and sets aside the rows that
cannot be text (``bad_encoding``) or have the wrong number of fields
(``wrong_column_count``). It never fails on a row; it fails (``ContractError``) only on the
file as a whole: missing, unreadable, empty, or a header that is not the layout's.

Decoding is per line and only for lines that hold a byte >= 0x80 (a few per cent): such a
line is read as UTF-8 if it is valid UTF-8, else as Windows-1252 if every byte is defined
there, else it is ``bad_encoding``; so is a line holding a C0 control (other than TAB) or,
once decoded, a C1 control (U+0080-U+009F, the trace of text decoded the wrong way). Everything else is located with numpy over the whole
buffer, and parsing is pyarrow's CSV reader.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from .errors import ContractError
from .reasons import QuarantineReason

BOM = b"\xef\xbb\xbf"
# Bytes that are never part of a text field: C0 controls except TAB/LF/CR, and DEL.
_CONTROL = np.zeros(256, dtype=bool)
_CONTROL[[*range(0, 9), 11, 12, *range(14, 32), 127]] = True


@dataclass(frozen=True)
class DelimitedRows:
    """What :func:`read_delimited` returns.

    Attributes:
        frame: one row per parsed data row, one ``string[pyarrow]`` column per layout
            column, empty fields as ``""``.
        line_number: physical 1-based line of each row of ``frame`` (header is line 1).
        quarantine: rows set aside while reading: ``line_number``, ``record_id`` (first
            field, best effort), ``reason``.
        rows_read: data rows in the file (parsed plus set aside).
        sha256: fingerprint of the bytes read.
    """

    frame: pd.DataFrame
    line_number: np.ndarray
    quarantine: pd.DataFrame
    rows_read: int
    sha256: str = ""


def read_bytes(path: Path) -> bytes:
    """Read a whole extract, turning OS failures into one-line contract errors."""
    if not path.exists():
        raise ContractError("extract file is missing", where=str(path),
                            hint="check the extracts folder and the night")
    try:
        return path.read_bytes()
    except FileNotFoundError:   # deleted or moved since the folder was listed
        raise ContractError("extract file is missing (it vanished while the run read it)",
                            where=str(path), hint="check the extracts folder and rerun once "
                            "the delivery is complete") from None
    except OSError as exc:
        raise ContractError(f"extract file is unreadable ({exc.strerror})", where=str(path),
                            hint="check the file's permissions") from None


def _first_field(line: bytes, delimiter: bytes) -> str:
    """Best-effort record id of a line that could not be parsed (no other field is kept)."""
    head = line.split(delimiter, 1)[0].strip().strip(b'"')
    return head.decode("ascii", errors="replace")[:40]


_C1 = re.compile("[\x80-\x9f]")


def _decode_line(line: bytes) -> str | None:
    """UTF-8 if valid, else Windows-1252 if every byte is defined; C1 controls are not text."""
    for encoding in ("utf-8", "cp1252"):
        try:
            text = line.decode(encoding)
        except UnicodeDecodeError:
            continue
        return None if _C1.search(text) else text
    return None


def _parse(clean: bytes, record_lines: np.ndarray, names: list[str], delimiter: str, *,
           quoted: bool, multiline: bool
           ) -> tuple[pa.Table, np.ndarray, list[tuple[int, bytes]]] | None:
    """Parse the cleaned buffer; map each parsed row and each rejected row to its physical
    line. None when the parser's records do not line up with ``record_lines``."""
    invalid: list[tuple[int, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append((row.number, row.text))
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(clean),
            read_options=pacsv.ReadOptions(use_threads=False, block_size=1 << 26,
                                           column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, quote_char='"' if quoted else False,
                newlines_in_values=multiline, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in names}, strings_can_be_null=False,
                quoted_strings_can_be_null=False))
    except pa.ArrowInvalid:
        return None
    # pyarrow numbers records from 1 (the header) over non-blank records.
    numbers = np.array([n for n, _ in invalid], dtype=np.int64)
    if table.num_rows + len(invalid) != len(record_lines) or (
            len(numbers) and numbers.max() - 2 >= len(record_lines)):
        return None
    keep = ~np.isin(np.arange(2, len(record_lines) + 2), numbers)
    rejected = [(int(record_lines[n - 2]), t.encode("utf-8", "replace")) for n, t in invalid]
    return table, record_lines[keep], rejected


def _parse_by_line(clean: bytes, blank: np.ndarray, not_bad: np.ndarray, names: list[str],
                   delimiter: str, quoted: bool
                   ) -> tuple[pa.Table, np.ndarray, list[tuple[int, bytes]]] | None:
    """One physical line per record, for files whose quotes do not balance: a stray quote
    (``O"BRIEN``) or one never closed spoils at most its own line, never the lines after.
    Lines with an odd number of quotes are read one by one with the ``csv`` module (quote
    only at a field's start, as RFC 4180 says); the rest by pyarrow."""
    lines = clean.split(b"\n")[:len(blank)]       # the buffer ends with a newline
    odd = np.array([line.count(b'"') % 2 == 1 for line in lines]) \
        if quoted else np.zeros(len(blank), dtype=bool)
    is_line = ~blank & not_bad
    is_line[0] = False
    regular = is_line & ~odd
    kept = [line if regular[i] or i == 0 else b"" for i, line in enumerate(lines)]
    parsed = _parse(b"\n".join(kept) + b"\n", np.flatnonzero(regular) + 1, names, delimiter,
                    quoted=quoted, multiline=False)
    if parsed is None:
        return None
    table, line_number, rejected = parsed
    extra_rows, extra_lines = [], []
    for i in np.flatnonzero(is_line & odd):
        text = lines[i].rstrip(b"\r").decode("utf-8", "replace")
        fields = next(csv.reader([text], delimiter=delimiter), [])
        if len(fields) == len(names):
            extra_rows.append(fields)
            extra_lines.append(i + 1)
        else:
            rejected.append((int(i + 1), lines[i]))
    if extra_rows:
        extra = pa.table({c: pa.array([r[k] for r in extra_rows], pa.string())
                          for k, c in enumerate(names)})
        table = pa.concat_tables([table, extra])
        line_number = np.concatenate([line_number, np.array(extra_lines, dtype=np.int64)])
        order = np.argsort(line_number, kind="stable")
        table, line_number = table.take(pa.array(order)), line_number[order]
    return table, line_number, rejected


def read_delimited(path: Path, *, columns: tuple[str, ...], delimiter: str,
                   quoted: bool, id_pattern: str | None = None) -> DelimitedRows:
    """Read a delimited text extract into string columns with row-exact quarantine.

    Args:
        path: the extract.
        columns: the layout's columns; the header must name exactly these, in any order
            (the frame comes back in this order).
        delimiter: field separator (``","`` or ``"|"``).
        quoted: whether fields may be double-quoted (RFC 4180).
        id_pattern: the layout's record-id format; a set-aside row's first field is kept
            as its ``record_id`` only if it matches (else blank: no other value leaves).

    Returns:
        The parsed rows, their line numbers and the rows set aside.

    Raises:
        ContractError: the file is missing, unreadable, empty, or its header is not the
            layout's (a renamed, missing or extra column).
    """
    data = read_bytes(path)
    sha256 = hashlib.sha256(data).hexdigest()
    if data.startswith(BOM):
        data = data[len(BOM):]
    if not data.strip():
        raise ContractError("extract file is empty", where=str(path),
                            hint="ask the agency to resend tonight's extract")
    if not data.endswith(b"\n"):
        data += b"\n"
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)                      # index of each line's LF
    starts = np.concatenate(([0], ends[:-1] + 1))
    n_lines = len(starts)

    header = _decode_line(data[starts[0]:ends[0]].rstrip(b"\r")) or ""
    found = [h.strip().strip('"').strip().lower() for h in header.split(delimiter)]
    if sorted(found) != sorted(columns):   # any order, but exactly the layout's names
        missing = [c for c in columns if c not in found]
        extra = [c for c in found if c not in columns]
        twice = sorted({c for c in found if found.count(c) > 1})
        detail = "; ".join(filter(None, [
            f"missing {', '.join(missing)}" if missing else "",
            f"unexpected {', '.join(extra)}" if extra else "",
            f"repeated {', '.join(twice)}" if twice else ""]))
        raise ContractError(f"header does not match the layout ({detail})",
                            where=f"{path}:1",
                            hint="the file must use the columns of specs/agency_extracts.md")

    # Which lines start a record: non-blank, and (when quoting is allowed) not inside a
    # quoted field that spans lines (an even number of quotes precedes the line).
    line_len = ends - starts
    cr = (line_len > 0) & (buf[np.maximum(ends - 1, 0)] == 13)
    blank = (line_len - cr) == 0
    is_record = ~blank
    if quoted:
        quotes_before = np.searchsorted(np.flatnonzero(buf == 34), starts)
        is_record &= (quotes_before % 2) == 0
    is_record[0] = False                                  # header

    # Lines needing a look at their bytes: controls anywhere, or any byte >= 0x80.
    odd_ctrl = np.unique(np.searchsorted(ends, np.flatnonzero(_CONTROL[buf])))
    high = np.unique(np.searchsorted(ends, np.flatnonzero(buf >= 0x80)))
    bad = set(odd_ctrl.tolist())
    replaced: dict[int, bytes] = {}
    for i in high.tolist():
        if i in bad:
            continue
        text = _decode_line(data[starts[i]:ends[i]])
        if text is None:
            bad.add(i)
        else:
            replaced[i] = text.encode("utf-8")

    quarantine: list[tuple[int, str, str]] = []
    for i in sorted(bad):
        if i == 0:
            raise ContractError("header has bytes that are not text", where=f"{path}:1",
                                hint="the file must be UTF-8 or Windows-1252 text")
        quarantine.append((i + 1, _first_field(data[starts[i]:ends[i]], delimiter.encode()),
                           QuarantineReason.BAD_ENCODING.value))
    # Rebuild the buffer: bad lines become blank (pyarrow skips them), decoded lines UTF-8.
    pieces: list[bytes] = []
    pos = 0
    for i in sorted(bad | set(replaced)):
        pieces.append(data[pos:starts[i]])
        pieces.append(replaced.get(i, b"") + b"\n")
        pos = ends[i] + 1
    pieces.append(data[pos:])
    clean = b"".join(pieces) if len(pieces) > 1 else data
    not_bad = ~np.isin(np.arange(n_lines), list(bad))
    parsed = None
    if quoted:     # records may span lines inside quotes
        parsed = _parse(clean, np.flatnonzero(is_record & not_bad) + 1, found, delimiter,
                        quoted=True, multiline=True)
    if parsed is None:
        parsed = _parse_by_line(clean, blank, not_bad, found, delimiter, quoted)
        if parsed is None:  # pragma: no cover - one line per record cannot go out of step
            raise ContractError("row numbering went out of step while reading",
                                where=str(path), hint="report this file to the pipeline team")
    table, line_number, invalid = parsed
    table = table.select(list(columns))
    quarantine += [(line, _first_field(text, delimiter.encode()),
                    QuarantineReason.WRONG_COLUMN_COUNT.value) for line, text in invalid]
    quarantine = [(line, rid if id_pattern is None or re.fullmatch(id_pattern, rid) else "",
                   reason) for line, rid, reason in quarantine]

    if table.num_rows + len(quarantine) == 0:
        raise ContractError("extract file has a header but no rows", where=str(path),
                            hint="a nightly extract is a full snapshot; ask for a resend")
    frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get)
    q = pd.DataFrame(quarantine, columns=["line_number", "record_id", "reason"])
    q = q.sort_values("line_number", kind="stable").reset_index(drop=True)
    return DelimitedRows(frame=frame, line_number=line_number, quarantine=q,
                         rows_read=table.num_rows + len(q), sha256=sha256)

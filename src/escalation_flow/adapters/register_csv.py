"""Reading a register CSV into string columns, column-wise (pyarrow), keeping each row's line.

The fast path assumes one record per line (quoted values may not hold newlines), which is what
MIS exports write. Blank lines and rows with the wrong number of fields are allowed through as
problems; only then do we walk the file line by line to keep every line number right.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

from escalation_flow.adapters.csv_safety import excerpt
from escalation_flow.errors import Problem, RegisterError

_BOM = b"\xef\xbb\xbf"


@dataclass
class CsvColumns:
    """The known columns of one CSV file, and where each row came from."""

    path: Path
    header: tuple[str, ...]
    table: pa.Table
    sha256: str
    raw: bytes = b""
    #: Rows pyarrow could not split into the header's fields: (line, problem).
    malformed: list[tuple[int, Problem]] = field(default_factory=list)
    #: Whether the columns kept the types asked for (else every column is a string).
    typed: bool = False
    _lines: npt.NDArray[np.int64] | None = None
    #: Rows of ``table`` (kept when ``release`` lets the table go).
    n_rows: int = -1

    def __post_init__(self) -> None:
        if self.n_rows < 0:
            self.n_rows = self.table.num_rows

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def lines(self) -> npt.NDArray[np.int64]:
        """1-based line number of each row of ``table`` (the header is line 1).

        Only messages need them, so they are worked out on first use.
        """
        if self._lines is None:
            raw = self.text()
            if _one_row_per_line(raw, self.n_rows):
                self._lines = np.arange(2, self.n_rows + 2, dtype=np.int64)
            else:
                self._lines, _ = _locate_lines(raw, self.name, self.n_rows, [])
        return self._lines

    def release(self, table: bool = True) -> None:
        """Let go of the file's bytes (a trust's year is 500 MB of text) and, once the columns
        are checked, of the parsed ``table``: messages that need the bytes read the file again."""
        self.raw = b""
        if table:
            self.table = self.table.schema.empty_table()
        pa.default_memory_pool().release_unused()

    def text(self) -> bytes:
        """The file's bytes: those read, or (after ``release``) read again, and refused if the
        file changed since (its lines would not be the rows checked)."""
        if self.raw:
            return self.raw
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise RegisterError(f"cannot read {self.name} again: {exc.strerror}") from exc
        if hashlib.sha256(raw).hexdigest() != self.sha256:
            raise RegisterError(
                f"{self.name} changed while it was being imported",
                [Problem(self.name, None, None, "the file changed while it was read; try again")],
            )
        return raw

    def column(self, name: str) -> pa.ChunkedArray | None:
        return self.table.column(name) if name in self.table.column_names else None

    def raw_rows(self, lines: Sequence[int]) -> dict[int, dict[str, str]]:
        """The original fields of the given lines, by header name (for the rejected file)."""
        if not lines:
            return {}
        raw = self.text()
        text = raw[len(_BOM) :] if raw.startswith(_BOM) else raw
        starts = np.concatenate(([0], np.flatnonzero(np.frombuffer(text, np.uint8) == 10) + 1))
        out: dict[int, dict[str, str]] = {}
        for line in lines:
            begin = int(starts[line - 1])
            end = int(starts[line]) if line < len(starts) else len(text)
            raw_line = text[begin:end].decode("utf-8", errors="replace").rstrip("\r\n")
            try:
                fields = next(csv.reader([raw_line]), [])
            except csv.Error:  # a stray carriage return inside the line: keep the text as it is
                fields = raw_line.split(",")
            out[line] = {
                h: (fields[i] if i < len(fields) else "") for i, h in enumerate(self.header)
            }
        return out


def read_columns(
    path: Path,
    known: Sequence[str],
    required: Sequence[str],
    error: type[RegisterError],
    types: Mapping[str, pa.DataType] | None = None,
    threads: bool = True,
) -> CsvColumns:
    """Read ``path``. A missing required column is an error at line 1.

    ``threads=False`` parses in this thread only: for a short-lived command, so that no worker
    of pyarrow's thread pool is still alive when the interpreter exits (one that is makes the
    C++ runtime abort: "terminate called without an active exception", exit 134).

    Columns are read as ``types`` says (a dictionary type for repetitive text, numbers, times)
    when every value converts; if one does not, the file is read again with every column as
    text, so that the checks can name each bad value.
    """
    f = str(path)
    header = _checked_header(_first_line(path, f, error), f, required, error)
    present = [c for c in known if c in header]
    table, typed, digest = None, False, ""
    bad_rows: list[_BadRow] = []
    if types:
        try:
            wanted = {c: types.get(c, pa.string()) for c in present}
            table, bad_rows, digest = _parse(path, present, wanted, f, error, threads)
            typed = True
        except _ConversionError:
            pass
    if table is None:
        as_text = {c: pa.string() for c in present}
        table, bad_rows, digest = _parse(path, present, as_text, f, error, threads)
    columns = CsvColumns(path, tuple(header), table, digest, typed=typed)
    if bad_rows:
        raw = columns.text()
        columns._lines, columns.malformed = _locate_lines(raw, f, table.num_rows, bad_rows)
    return columns


def _first_line(path: Path, f: str, error: type[RegisterError]) -> bytes:
    try:
        with path.open("rb") as file:
            return file.readline()
    except OSError as exc:
        raise error(f"cannot read {f}: {exc.strerror}") from exc


class _Hashed:
    """The file as pyarrow reads it, front to back, hashed on the way: the sha256 is of the
    very bytes parsed, and the whole file is never held in memory at once."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._sha = hashlib.sha256()
        self._at = 0
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(size)
        self._sha.update(chunk)  # releases the GIL for a block
        self._at += len(chunk)
        return chunk

    def tell(self) -> int:
        return self._at

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


class _ConversionError(Exception):
    """A value did not convert to its column's type."""


#: A row left out of the table: its text (as ``_locate_lines`` decodes it), field and message.
_BadRow = tuple[str, str | None, str]


def _parse(
    path: Path,
    present: list[str],
    types: dict[str, pa.DataType],
    f: str,
    error: type[RegisterError],
    threads: bool = True,
    block_size: int | None = None,
    without: dict[int, _BadRow] | None = None,
) -> tuple[pa.Table, list[_BadRow], str]:
    """The table, the rows left out of it (of the wrong width; ``without``: lines left out by
    number, with their problem), and the sha256 of the file's bytes."""
    bad_rows: list[_BadRow] = list((without or {}).values())

    def on_invalid(row: pv.InvalidRow) -> str:
        message = (
            f"expected {row.expected_columns} fields as in the header, found {row.actual_columns}"
        )
        bad_rows.append((row.text, None, message))
        return "skip"

    try:
        file: BinaryIO = path.open("rb") if without is None else _lines_left_out(path, without)
    except OSError as exc:
        raise error(f"cannot read {f}: {exc.strerror}") from exc
    stream = _Hashed(file)
    try:
        table = pv.read_csv(
            stream,
            read_options=_read_options(threads, block_size),
            parse_options=pv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pv.ConvertOptions(
                include_columns=present,
                column_types=types,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        if "straddling" in str(exc) and block_size is None:
            # a line longer than pyarrow's block (1 MiB): read in one block, so that the checks
            # can name the row instead of the file failing as a whole
            whole = path.stat().st_size + 1
            return _parse(path, present, types, f, error, threads, whole, without)
        if "conversion error" in str(exc) and any(
            not pa.types.is_string(t) for t in types.values()
        ):
            raise _ConversionError(str(exc)) from exc
        if "invalid UTF8" in str(exc) and without is None:
            # each such line left out and named, as a row of the wrong width is: refused with
            # the file unless the rest is asked to go through (``--skip-invalid``)
            found = _not_utf8(path, present)
            if found:
                table, bad, _ = _parse(path, present, types, f, error, threads, block_size, found)
                return table, bad, _sha256(path)
        # pyarrow's message may quote the row: its start is enough
        reason = excerpt(str(exc), 200)
        raise error(f"{f} cannot be read as CSV", [Problem(f, None, None, reason)]) from exc
    except UnicodeDecodeError as exc:
        raise error(f"{f} cannot be read as CSV", [Problem(f, None, None, str(exc))]) from exc
    except OSError as exc:
        raise error(f"cannot read {f}: {exc.strerror}") from exc
    finally:
        file.close()
    return table, bad_rows, stream.hexdigest()


def _not_utf8(path: Path, present: list[str]) -> dict[int, _BadRow]:
    """Each line with a field that is not UTF-8, by number; the file's bytes read again only
    when pyarrow refused them."""
    raw = path.read_bytes()
    text = raw[len(_BOM) :] if raw.startswith(_BOM) else raw
    lines = text.split(b"\n")
    header = _header(lines[0], str(path), RegisterError) if lines else []
    out: dict[int, _BadRow] = {}
    for number, line in enumerate(lines[1:], start=2):
        try:
            line.decode("utf-8")
            continue
        except UnicodeDecodeError:
            pass
        decoded = line.rstrip(b"\r").decode("utf-8", errors="replace")
        fields = next(csv.reader([decoded]), [])
        bad = [h for h, v in zip(header, fields, strict=False) if "\ufffd" in v]
        field = next((h for h in bad if h in present), bad[0] if bad else None)
        out[number] = (decoded, field, "is not UTF-8 (save the export as UTF-8)")
    return out


def _lines_left_out(path: Path, without: Mapping[int, _BadRow]) -> BinaryIO:
    """The file's bytes without the lines ``without`` numbers (its header is line 1)."""
    lines = path.read_bytes().split(b"\n")
    kept = [line for number, line in enumerate(lines, start=1) if number not in without]
    return io.BytesIO(b"\n".join(kept))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _read_options(threads: bool, block_size: int | None) -> pv.ReadOptions:
    options = pv.ReadOptions(use_threads=threads)
    if block_size is not None:
        options.block_size = block_size
    return options


def _checked_header(
    raw: bytes, f: str, required: Sequence[str], error: type[RegisterError]
) -> list[str]:
    header = _header(raw, f, error)
    missing = [c for c in required if c not in header]
    duplicated = sorted(h for h, n in Counter(header).items() if n > 1)
    problems = [
        Problem(f, 1, None, f"missing required column {c!r} (the header has: {', '.join(header)})")
        for c in missing
    ] + [Problem(f, 1, None, f"column {h!r} appears more than once") for h in duplicated]
    if problems:
        raise error(f"{f} has a bad header line", problems)
    return header


def _header(raw: bytes, f: str, error: type[RegisterError]) -> list[str]:
    start = len(_BOM) if raw.startswith(_BOM) else 0
    end = raw.find(b"\n", start)
    first = raw[start : end if end >= 0 else len(raw)].rstrip(b"\r")
    try:
        decoded = first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{f} is not UTF-8", [Problem(f, 1, None, "the header is not UTF-8")]) from exc
    try:
        header = [h.strip() for h in next(csv.reader([decoded]), [])]
    except csv.Error as exc:  # e.g. a carriage return inside the line
        raise error(f"{f} has a bad header line", [Problem(f, 1, None, str(exc))]) from None
    if not any(header):
        raise error(f"{f} has no header", [Problem(f, 1, None, "expected a header line")])
    return header


def _one_row_per_line(raw: bytes, n_rows: int) -> bool:
    """True when every line after the header is a row (no blank lines): counting is cheap."""
    lines = raw.count(b"\n") + (0 if raw.endswith(b"\n") else 1)
    return lines == n_rows + 1


def _locate_lines(
    raw: bytes, f: str, n_rows: int, bad_rows: list[_BadRow]
) -> tuple[npt.NDArray[np.int64], list[tuple[int, Problem]]]:
    """Line numbers of the rows pyarrow kept, and the malformed rows, by walking the lines."""
    text = raw[len(_BOM) :] if raw.startswith(_BOM) else raw
    pending = Counter(t for t, _, _ in bad_rows)
    problem = {t: (field, message) for t, field, message in bad_rows}
    kept: list[int] = []
    malformed: list[tuple[int, Problem]] = []
    for number, line in enumerate(text.split(b"\n")[1:], start=2):
        stripped = line.rstrip(b"\r")
        if not stripped:
            continue
        decoded = stripped.decode("utf-8", errors="replace")
        if pending.get(decoded, 0) > 0:
            pending[decoded] -= 1
            field, message = problem[decoded]
            malformed.append((number, Problem(f, number, field, message)))
        else:
            kept.append(number)
    if len(kept) != n_rows:  # pragma: no cover - a quoted newline we could not follow
        raise RegisterError(
            f"{f} cannot be read line by line",
            [Problem(f, None, None, "a quoted value spans lines; export one record per line")],
        )
    return np.array(kept, dtype=np.int64), malformed


def encode(column: pa.ChunkedArray) -> tuple[npt.NDArray[np.int32], list[str]]:
    """Dictionary-encode a string column: an index per row and the distinct values (stripped).

    Values are compared after stripping surrounding spaces, so ``" AM"`` is ``"AM"``.
    """
    if pa.types.is_dictionary(column.type):
        encoded = column.unify_dictionaries().combine_chunks()
    else:
        encoded = pc.dictionary_encode(column).combine_chunks()
    indices = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    values = [str(v).strip() for v in encoded.dictionary.to_pylist()]
    distinct: dict[str, int] = {}
    remap = np.array([distinct.setdefault(v, len(distinct)) for v in values], dtype=np.int32)
    if len(distinct) == len(values):
        return indices, values
    return remap[indices] if len(indices) else indices, list(distinct)

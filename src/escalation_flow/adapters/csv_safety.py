"""Values that come from files and go back out: short excerpts for messages, identifiers that
are safe as names, and CSV cells a spreadsheet will not run.

- ``excerpt``: an error quotes at most the start of a bad value (a 2 MB field was once printed
  whole, into the terminal and the inbox's reasons file).
- ``id_problem``: pupil and school ids end up in file names, URLs and spreadsheets, so they may
  not hold path separators, ``..``, control characters (NUL, newlines) or start like a formula.
- ``neutralise`` / ``safe_row``: every CSV the service writes passes its cells through here; a
  text cell that starts with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) gets a
  leading ``'`` so that Excel and LibreOffice show it instead of evaluating it (OWASP's "CSV
  injection"). Plain numbers such as ``-3`` are left as they are.
- ``file_part``: a value made safe to be one component of a file name.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

#: How much of a bad value an error message quotes.
EXCERPT_CHARS = 40
#: The longest identifier accepted (pupil and school ids are short codes in every MIS).
MAX_ID_CHARS = 64
#: What a spreadsheet takes as the start of a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """``repr`` of the value, or of its first ``limit`` characters and "..." when longer."""
    text = value if isinstance(value, str) else str(value)
    return repr(text if len(text) <= limit else f"{text[:limit]}...")


def id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a pupil or school id, or None when it can."""
    if not value:
        return "is empty"
    if len(value) > MAX_ID_CHARS:
        return f"{excerpt(value)} is longer than {MAX_ID_CHARS} characters"
    if _CONTROL.search(value):
        return f"{excerpt(value)} holds a control character (a NUL, tab or line break)"
    # (ASCII holds no such character but the controls just refused: every id of a day's
    # import is checked, and asking each character's category was most of it)
    if not value.isascii() and any(
        unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") for ch in value
    ):
        # a right-to-left override or a zero-width character makes one id look like another
        return f"{excerpt(value)} holds an invisible or direction-changing character"
    if "/" in value or "\\" in value or ".." in value:
        return f"{excerpt(value)} holds a path separator or '..'"
    if value.startswith(FORMULA_START):
        return f"{excerpt(value)} starts with {value[0]!r}, which a spreadsheet takes as a formula"
    return None


def neutralise(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text; non-text values and plain numbers unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [neutralise(v) for v in values]


def file_part(value: str) -> str:
    """``value`` as one component of a file name: only letters, digits, ``.``, ``_`` and ``-``,
    never ``.`` or ``..`` or a leading dot, so that a path built from it stays in its folder."""
    cleaned = re.sub(r"\.{2,}", "_", _UNSAFE_FILE_CHARS.sub("_", value))
    return cleaned.lstrip(".") or "_"


class RejectedLine(Protocol):
    """A row an import left out: its line, its original fields and why."""

    @property
    def line(self) -> int: ...
    @property
    def values(self) -> Mapping[str, str]: ...
    @property
    def reasons(self) -> Sequence[str]: ...


def write_rejected_rows(
    target: Path, header: Sequence[str], rejected: Iterable[RejectedLine]
) -> Path:
    """The rejected rows as CSV (original columns, then ``line`` and ``reasons``), every cell
    neutralised (a name like ``=HYPERLINK(...)`` is shown, not run, by a spreadsheet)."""
    with target.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(safe_row([*header, "line", "reasons"]))
        for row in rejected:
            values = [row.values.get(h, "") for h in header]
            writer.writerow(safe_row([*values, row.line, "; ".join(row.reasons)]))
    return target

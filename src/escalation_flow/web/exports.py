"""A page's table as a download, CSV or Excel ``.xlsx``, recorded in the staff audit log.

The page that offers the download builds the ``Table`` from what its viewer may see (the same
access rules as the page: the table is never wider than the page), and this module writes it.
Every text cell passes through ``csv_safety.neutralise`` in both formats: a pupil called
``=HYPERLINK(...)`` is shown by Excel, never run (openpyxl too stores a string starting with
``=`` as a formula). Each download is one ``exported`` entry in the staff audit log, naming what
was exported, in which format, with how many rows and which filters.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from escalation_flow.adapters.csv_safety import file_part, neutralise
from escalation_flow.core.access import Principal
from escalation_flow.web.security import client_address
from escalation_flow.web.webapp import WebApp

_LONDON = ZoneInfo("Europe/London")
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class Table:
    """What a download holds: a name for the file, a sheet title, a header and the rows."""

    name: str  # the file's stem, e.g. ``tasks-2025-10-10``
    title: str  # the sheet's title (Excel allows 31 characters)
    header: tuple[str, ...]
    rows: Sequence[Sequence[Any]]


def export_format(request: Request) -> str:
    """The format the route's ``{fmt}`` asks for; 404 for any other."""
    fmt = str(request.path_params.get("fmt", ""))
    if fmt not in FORMATS:
        raise HTTPException(404)
    return fmt


def csv_bytes(table: Table) -> bytes:
    """UTF-8 with a byte-order mark, so that Excel reads names with accents as they are."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in table.header])
    for row in table.rows:
        writer.writerow([_csv_cell(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return neutralise(value)


def xlsx_bytes(table: Table) -> bytes:
    """One sheet: a bold, frozen header with filters, dates as dates, numbers as numbers."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(table.title[:31] or "Export")
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for h in table.header:
        cell = WriteOnlyCell(sheet, value=neutralise(h))
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in table.rows:
        sheet.append([_xlsx_cell(v) for v in row])
    if table.header:
        last = _column_letter(len(table.header))
        sheet.auto_filter.ref = f"A1:{last}{len(table.rows) + 1}"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_cell(value: Any) -> Any:
    if isinstance(value, datetime):
        # Excel has no time zones: the moment as a clock in England read it
        return value.astimezone(_LONDON).replace(tzinfo=None)
    if isinstance(value, str):
        return neutralise(value)
    return value


def _column_letter(n: int) -> str:
    letters = ""
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def download(
    request: Request,
    web: WebApp,
    user: Principal,
    table: Table,
    fmt: str,
    *,
    what: str,
    school: str | None = None,
    filters: str = "",
) -> Response:
    """The table in ``fmt`` as an attachment, its download recorded in the staff audit log."""
    body = csv_bytes(table) if fmt == "csv" else xlsx_bytes(table)
    detail = f"{what} as {fmt}, {len(table.rows)} rows" + (f" ({filters})" if filters else "")
    web.staff.audit(
        user.username, "exported", web.now(), school=school, detail=detail,
        ip=client_address(request),
    )  # fmt: skip
    name = f"{file_part(table.name)}.{fmt}"
    return Response(
        body,
        media_type=FORMATS[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


def report_file(data: bytes, fmt: str, name: str) -> Response:
    """A report's CSV or PDF as an attachment named ``name``."""
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/pdf"
    return Response(
        data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )

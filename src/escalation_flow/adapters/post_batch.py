"""A school's letters for the post on one day as one print-ready PDF: a cover list (which letter
goes to which household at which address, for whoever folds and stuffs the envelopes), then
each letter, every one starting on a fresh sheet when printed on both sides (a blank page is
added after a letter of an odd number of pages), so no family's letter shares a sheet with
another's."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pypdf import PdfReader, PdfWriter

from escalation_flow.adapters.pdf_pages import FONT, finish, start, table


@dataclass(frozen=True)
class CoverLine:
    letter_id: int
    pupil: str
    addressees: str
    postal_address: str


def cover_list(school: str, day: date, lines: Sequence[CoverLine]) -> bytes:
    made = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    title = f"{school}: letters for the post, {day:%-d %B %Y}"
    pdf = start("P", f"{school} letters for the post {day.isoformat()}", title, made)
    pdf.set_font(FONT, "B", size=13)
    pdf.multi_cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=9)
    pdf.multi_cell(
        0, 5,
        f"{len(lines)} letter(s) follow, in this order, each starting on a new sheet. "
        "Check each against this list as it goes into its envelope.",
        new_x="LMARGIN", new_y="NEXT",
    )  # fmt: skip
    pdf.ln(2)
    rows = [
        (str(n), str(line.letter_id), line.pupil, line.addressees, line.postal_address)
        for n, line in enumerate(lines, start=1)
    ]
    table(pdf, ("#", "letter", "pupil", "to", "address"), rows, (8, 14, 40, 52, 72), size=8)
    return finish(pdf)


def post_batch(school: str, day: date, lines: Sequence[CoverLine], letters: Sequence[bytes]) -> bytes:
    """The cover list, then ``letters`` in the same order (``lines[i]`` is ``letters[i]``)."""
    writer = PdfWriter()
    for part in (cover_list(school, day, lines), *letters):
        _append_sheetwise(writer, part)
    writer.add_metadata({"/Title": f"{school}: letters for the post, {day.isoformat()}"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _append_sheetwise(writer: PdfWriter, pdf: bytes) -> None:
    reader = PdfReader(io.BytesIO(pdf))
    for page in reader.pages:
        writer.add_page(page)
    if len(reader.pages) % 2:
        last = reader.pages[-1].mediabox
        writer.add_blank_page(width=float(last.width), height=float(last.height))

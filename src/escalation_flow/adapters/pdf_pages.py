"""The A4 pages the service's own PDFs share (the case file, the reports): DejaVu fonts from
matplotlib's data, a footer with page numbers, plain tables, and fonts closed after output."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from fpdf import FPDF, FontFace
from fpdf.fonts import TTFFont

from escalation_flow.errors import EscalationFlowError

FONT = "dejavu"
GREY = (230, 230, 230)


class PdfFontsError(EscalationFlowError):
    """The fonts the PDFs are set in are not installed (they come with matplotlib)."""


class PagedPdf(FPDF):
    def __init__(self, orientation: str, footer_text: str) -> None:
        super().__init__(orientation=orientation, unit="mm", format="A4")
        self.footer_text = footer_text
        for style, path in _fonts().items():
            self.add_font(FONT, style, str(path))

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font(FONT, size=7)
        self.cell(0, 4, f"{self.footer_text} — page {self.page_no()} of {{nb}}", align="C")


def start(orientation: str, footer: str, title: str, made: datetime) -> PagedPdf:
    """A document on its first page, dated by the day it was made (so the bytes repeat)."""
    pdf = PagedPdf(orientation, footer)
    day = made.astimezone(UTC)
    pdf.set_creation_date(datetime(day.year, day.month, day.day, tzinfo=UTC))
    pdf.set_title(title)
    pdf.set_author("escalation-flow")
    pdf.set_lang("en-GB")
    pdf.set_margins(left=12, top=12, right=12)
    pdf.set_auto_page_break(auto=True, margin=14)
    pdf.add_page()
    return pdf


def table(
    pdf: FPDF,
    head: Sequence[str] | None,
    rows: Sequence[Sequence[str]],
    widths: Sequence[float],
    *,
    size: float,
) -> None:
    pdf.set_font(FONT, size=size)
    pdf.set_draw_color(90)
    with pdf.table(
        col_widths=tuple(widths),
        width=sum(widths),
        line_height=size * 0.5,
        text_align="LEFT",
        first_row_as_headings=head is not None,
        headings_style=FontFace(emphasis="BOLD", fill_color=GREY),
        padding=0.8,
        align="LEFT",
    ) as grid:
        if head is not None:
            row = grid.row()
            for text in head:
                row.cell(text)
        for values in rows:
            row = grid.row()
            for text in values:
                row.cell(text)


def finish(pdf: FPDF) -> bytes:
    """The document's bytes; the font files it opened are closed either way."""
    try:
        return bytes(pdf.output())
    finally:
        for font in pdf.fonts.values():
            if isinstance(font, TTFFont):
                font.close()


@lru_cache(maxsize=1)
def _fonts() -> dict[str, Path]:
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    paths = {"": folder / "DejaVuSans.ttf", "B": folder / "DejaVuSans-Bold.ttf"}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise PdfFontsError(f"fonts not found: {', '.join(missing)}")
    return paths

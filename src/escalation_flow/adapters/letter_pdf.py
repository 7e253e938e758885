"""A4 PDF from a letter's HTML body, with fpdf2: pure Python, no browser, no system libraries.

fpdf2 reads a subset of HTML (p, b, h1-h6, ul/ol/li, table, br, hr, font) and ignores CSS,
so the templates use ``align`` attributes and plain tables where layout matters.

Fonts: a letter whose every character is in Windows-1252 (English, and most Western European
names) uses Helvetica, one of the standard PDF fonts every reader has: nothing to embed, about
a tenth of the time. A letter with any other character (Łucja, Ștefan, Ğül, Дмитрий) embeds
DejaVu Sans, shipped inside matplotlib (already a dependency), so the name prints as written.
"""

from __future__ import annotations

import html
import importlib.util
import re
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path

from fpdf import FPDF, Align, FontFace, TextStyle
from fpdf.fonts import TTFFont
from fpdf.html import HTML2FPDF

from escalation_flow.errors import EscalationFlowError

CORE_FONT = "helvetica"
EMBEDDED_FONT = "dejavu"
#: What the standard PDF fonts can print: fpdf2 declares them WinAnsiEncoding, i.e. cp1252.
_CORE_ENCODING = "cp1252"
# Regular and bold only: the letters use no italics (plain letters read better without), and
# each font costs about 0.1 s to load. A template using <i> fails its render test.
_FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
_BLACK = "#000000"
# fpdf2 gives a paragraph a whole blank line above when its top margin is 0; a hair avoids it.
_HAIR = 0.01
_LINE_HEIGHT = 1.15
#: Room a heading needs below it (mm) for itself and two lines of what it heads.
_KEEP_WITH_HEADING = 22


@lru_cache(maxsize=2)
def _tag_styles(family: str) -> dict[str, TextStyle | FontFace]:
    return {
        "h1": TextStyle(font_family=family, font_size_pt=16, font_style="B", color=_BLACK,
                        t_margin=_HAIR, b_margin=0.3),
        "h2": TextStyle(font_family=family, font_size_pt=12, font_style="B", color=_BLACK,
                        t_margin=3, b_margin=0.5),
        "h3": TextStyle(font_family=family, font_size_pt=11, font_style="B", color=_BLACK,
                        t_margin=2, b_margin=0.3),
        "p": TextStyle(t_margin=1.5, b_margin=1),
        "ul": TextStyle(t_margin=_HAIR, b_margin=2),
        "li": TextStyle(l_margin=6, t_margin=1),
    }  # fmt: skip


#: Whitespace between two tags where either is a block: a browser ignores it, fpdf2 writes it as
#: an empty line (a gap after every table and list).
_BLOCK = r"/?(?:p|h[1-6]|ul|ol|li|table|tr|td|th|hr|br)\b"
_GAP_BETWEEN_BLOCKS = re.compile(rf"(<{_BLOCK}[^>]*>)\s+(?=<)|(?<=>)\s+(?=<{_BLOCK})")


class LetterPdfError(EscalationFlowError):
    """The PDF could not be made (the bundled font is missing: a broken install)."""


class _LetterHtml(HTML2FPDF):
    """fpdf2's HTML reader, less the blank line it adds after every table, plus a small gap
    after a list (it ignores the next paragraph's top margin there), and headings kept with
    what follows them (never alone at the foot of a page)."""

    _closing_table = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("h2", "h3"):
            self._end_paragraph()  # lay out what came before, so the page position is true
            if self.pdf.will_page_break(_KEEP_WITH_HEADING):
                # fpdf2's own break (as its HTML code uses): it leaves and re-enters the
                # graphics state write_html runs in; add_page() here corrupts the PDF.
                self.pdf._perform_page_break()
        super().handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        self._closing_table = tag == "table"
        try:
            super().handle_endtag(tag)
        finally:
            self._closing_table = False
        if tag in ("ul", "ol"):
            self._ln(1.5)

    def _new_paragraph(
        self,
        align: float | Align | None = None,
        line_height: float | None = 1.0,
        top_margin: float = 0,
        bottom_margin: float = 0,
        indent: float | Align = 0,
        bullet: str = "",
    ) -> None:
        # A little more air between lines than fpdf2's 1.0: easier for a parent to read.
        spaced = _LINE_HEIGHT if line_height in (None, 1.0) else line_height
        super()._new_paragraph(align, spaced, top_margin, bottom_margin, indent, bullet)

    def _ln(self, h: float | None = None) -> None:
        if not self._closing_table:
            super()._ln(h)


class _LetterPdf(FPDF):
    HTML2FPDF_CLASS = _LetterHtml

    def __init__(self, family: str, footer_text: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.core_fonts_encoding = _CORE_ENCODING
        self.letter_font = family
        self.footer_text = footer_text
        if family == EMBEDDED_FONT:
            for style, path in _font_paths().items():
                self.add_font(EMBEDDED_FONT, style, str(path))

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(self.letter_font, size=8)
        self.set_draw_color(0)
        self.line(self.l_margin, self.get_y() - 1, self.w - self.r_margin, self.get_y() - 1)
        self.multi_cell(0, 3.5, self.footer_text, align="C")
        self.cell(0, 3.5, f"Page {self.page_no()} of {{nb}}", align="C")


def html_to_pdf(body: str, *, title: str, author: str, footer: str, created: date) -> bytes:
    """Lay out ``body`` (fpdf2's HTML subset) on A4 pages, each with ``footer`` at the bottom."""
    family = font_for(html.unescape(body) + footer)
    pdf = _LetterPdf(family, footer)
    # The letter's own date, not the clock: the same letter gives the same bytes.
    pdf.set_creation_date(datetime(created.year, created.month, created.day, tzinfo=UTC))
    pdf.set_title(title)
    pdf.set_author(author)
    pdf.set_lang("en-GB")
    pdf.set_margins(left=20, top=16, right=20)
    pdf.set_auto_page_break(auto=True, margin=22)
    pdf.add_page()
    pdf.set_font(family, size=11)
    pdf.write_html(
        _GAP_BETWEEN_BLOCKS.sub(r"\1", body),
        font_family=family,
        tag_styles=_tag_styles(family),
        ul_bullet_char="•",
        li_prefix_color=_BLACK,
        table_line_separators=True,
    )
    try:
        return bytes(pdf.output())
    finally:
        for font in pdf.fonts.values():
            if isinstance(font, TTFFont):
                font.close()


def font_for(text: str) -> str:
    """The standard font when it can print every character of ``text``, else the embedded one."""
    try:
        text.encode(_CORE_ENCODING)
    except UnicodeEncodeError:
        return EMBEDDED_FONT
    return CORE_FONT


@lru_cache(maxsize=1)
def _font_paths() -> dict[str, Path]:
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        raise LetterPdfError("matplotlib is not installed: its DejaVu fonts are used for letters")
    folder = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"
    paths = {style: folder / name for style, name in _FONT_FILES.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise LetterPdfError(f"letter fonts not found: {', '.join(missing)}")
    return paths

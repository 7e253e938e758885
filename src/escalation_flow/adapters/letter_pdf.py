"""A4 PDF from a letter's HTML body, with fpdf2: pure Python, no browser, no system libraries.

fpdf2 reads a subset of HTML (p, b, h1-h6, ul/ol/li, table, br, hr, font) and ignores CSS,
so the templates use ``align`` attributes and plain tables where layout matters.

Fonts: a letter whose every character is in Windows-1252 (English, and most Western European
names) uses Helvetica, one of the standard PDF fonts every reader has: nothing to embed, about
a tenth of the time. A letter with any other character (Łucja, Ștefan, Ğül, Дмитрий) embeds
DejaVu Sans, shipped inside matplotlib (already a dependency), so the name prints as written.

The first page of each copy is laid out for a DL window envelope (an A4 sheet folded in three):
the school's name and address top right, and the addressee in the window, 20 mm from the left
edge and 50 mm from the top, 90 mm by 35 mm, with a one-line return address above it. The
letter's text starts below the fold line's window area. Each copy (one per household) starts
on a new page and numbers its own pages ("Page 1 of 2").

A paragraph or list item that would be split across pages by a page break, and is shorter than
a third of a page, starts on the next page instead: a parent never turns over to read the last
line or two of a sentence.
"""

from __future__ import annotations

import html
import importlib.util
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar

from fpdf import FPDF, Align, FontFace, TextStyle
from fpdf.fonts import TTFFont
from fpdf.html import HTML2FPDF
from fpdf.line_break import Fragment
from fpdf.text_region import TextColumns

from escalation_flow.adapters.pdf_columns import MeasuringColumns, pending_height
from escalation_flow.adapters.pdf_text_widths import measured
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
#: A paragraph taller than this (mm, a third of the page) may run over a page break.
_KEEP_TOGETHER_UP_TO = 80
_LEFT, _TOP, _RIGHT = 20.0, 16.0, 20.0
#: The DL window (mm from the sheet's top-left corner): where the address must sit.
WINDOW_X, WINDOW_Y, WINDOW_W, WINDOW_H = 20.0, 50.0, 90.0, 35.0
#: Where the letter's text starts on a copy's first page: below the window.
_BODY_TOP = WINDOW_Y + WINDOW_H + 6


@dataclass(frozen=True)
class Letterhead:
    """What a copy's first page prints outside the HTML body."""

    #: the school's name, then its address lines, telephone and email (top right)
    school: tuple[str, ...]
    #: the return address above the window, one short line
    return_line: str
    #: the addressee, a line at a time: names, then the postal address
    window: tuple[str, ...]
    #: the letter's date as written
    date: str
    #: a draft (never sent): marked so on every page
    draft: bool = False


@dataclass(frozen=True)
class Copy:
    """One household's copy: its letterhead and its body (fpdf2's HTML subset)."""

    letterhead: Letterhead
    body: str


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

    def _end_paragraph(self) -> None:
        if self._paragraph is not None and self.pdf.y > self.pdf.t_margin + 1:
            height = self._height_of_pending()
            if self._introduces_what_follows():
                height += _KEEP_WITH_HEADING  # "... the support:" stays with its list or table
            if height <= _KEEP_TOGETHER_UP_TO and self.pdf.will_page_break(height):
                self.pdf._perform_page_break()
        super()._end_paragraph()

    def _introduces_what_follows(self) -> bool:
        """The paragraph ends in a colon: what it introduces comes next."""
        fragments = self._paragraph._text_fragments if self._paragraph else []
        text = "".join("".join(f.characters) for f in fragments)
        return text.rstrip().endswith(":")

    def _height_of_pending(self) -> float:
        """The height the paragraph about to be laid out will take."""
        column = self._column
        if isinstance(column, MeasuringColumns):
            return column.pending_height()
        return pending_height(column)

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
    #: Lay out with widths kept as a line grows and the lines kept from measuring a paragraph
    #: (``pdf_text_widths``, ``pdf_columns``: a third of the time, the same bytes); False: as
    #: fpdf2 alone lays out, which the tests hold the PDFs to.
    kept_layout: ClassVar[bool] = True

    def __init__(self, family: str, footer_text: str, pages_of_copies: Sequence[int]) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.core_fonts_encoding = _CORE_ENCODING
        self.letter_font = family
        self.footer_text = footer_text
        self.draft = False
        #: each copy's page count, when known (a first layout counts them)
        self.pages_of_copies = tuple(pages_of_copies)
        self.copy_first_pages: list[int] = []
        if family == EMBEDDED_FONT:
            for style, path in _font_paths().items():
                self.add_font(EMBEDDED_FONT, style, str(path))

    def text_columns(self, *args: Any, **kwargs: Any) -> TextColumns:
        if not self.kept_layout or args or set(kwargs) - {"skip_leading_spaces"}:
            return super().text_columns(*args, **kwargs)
        # what write_html asks for: one column
        skip = bool(kwargs.get("skip_leading_spaces"))
        return MeasuringColumns.of(self, skip_leading_spaces=skip)

    def _parse_chars(
        self,
        text: str,
        markdown: bool,
        *,
        _initial_emphasis: tuple[bool, bool, bool, bool] | None = None,
    ) -> Iterator[Fragment]:
        # every fragment fpdf2 lays out is made here: each keeps its width as a line grows
        fragments = super()._parse_chars(text, markdown, _initial_emphasis=_initial_emphasis)
        if not self.kept_layout:
            yield from fragments
            return
        for fragment in fragments:
            yield measured(fragment)

    def header(self) -> None:
        if self.draft:
            self.set_font(self.letter_font, "B", size=9)
            self.set_xy(self.l_margin, 6)
            self.cell(0, 4, "DRAFT: NOT TO BE SENT", align="C")
            self.set_xy(self.l_margin, self.t_margin)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(self.letter_font, size=8)
        self.set_draw_color(0)
        self.line(self.l_margin, self.get_y() - 1, self.w - self.r_margin, self.get_y() - 1)
        self.multi_cell(0, 3.5, self.footer_text, align="C")
        copy = len(self.copy_first_pages) - 1
        page = self.page_no() - self.copy_first_pages[copy] + 1
        # one copy (or the counting layout): the whole document's count, filled in at the end
        of = self.pages_of_copies[copy] if copy < len(self.pages_of_copies) else "{nb}"
        self.cell(0, 3.5, f"Page {page} of {of}", align="C")

    def first_page(self, head: Letterhead) -> None:
        """A copy's first page: letterhead top right, addressee in the envelope's window."""
        self.draft = head.draft
        self.add_page()
        self.copy_first_pages.append(self.page_no())
        self.set_xy(self.w / 2, _TOP)
        self.set_font(self.letter_font, "B", size=14)
        self.multi_cell(self.w / 2 - _RIGHT, 6, head.school[0], align="R")
        self.set_font(self.letter_font, size=9)
        for line in head.school[1:]:
            self.set_x(self.w / 2)
            self.multi_cell(self.w / 2 - _RIGHT, 4, line, align="R")
        self.set_xy(WINDOW_X, WINDOW_Y)
        self.set_font(self.letter_font, size=7)
        self.cell(WINDOW_W, 3.5, head.return_line)
        self.set_font(self.letter_font, size=10.5)
        self.set_xy(WINDOW_X, WINDOW_Y + 6)
        for line in head.window:
            self.set_x(WINDOW_X)
            self.multi_cell(WINDOW_W, 4.6, line)
        self.set_font(self.letter_font, size=11)
        self.set_xy(self.l_margin, WINDOW_Y + WINDOW_H - 5)
        self.cell(0, 5, head.date, align="R")
        self.set_xy(self.l_margin, _BODY_TOP)


def html_to_pdf(
    copies: Sequence[Copy], *, title: str, author: str, footer: str, created: date
) -> bytes:
    """Lay out each copy on A4 pages (each copy from a new page, its first page for a window
    envelope), every page with ``footer`` at the bottom. Laid out twice when there is more
    than one copy: the first time to count each copy's pages for "Page 1 of N"."""
    texts = [html.unescape(c.body) + " ".join((*c.letterhead.school, *c.letterhead.window))
             for c in copies]  # fmt: skip
    family = font_for(" ".join(texts) + footer)
    counts: list[int] = []
    if len(copies) > 1:
        first = _laid_out(copies, family, footer, ())
        starts = [*first.copy_first_pages, first.page_no() + 1]
        counts = [b - a for a, b in pairwise(starts)]
        _close(first)
    pdf = _laid_out(copies, family, footer, counts)
    # The letter's own date, not the clock: the same letter gives the same bytes.
    pdf.set_creation_date(datetime(created.year, created.month, created.day, tzinfo=UTC))
    pdf.set_title(title)
    pdf.set_author(author)
    pdf.set_lang("en-GB")
    try:
        return bytes(pdf.output())
    finally:
        _close(pdf)


def _laid_out(
    copies: Sequence[Copy], family: str, footer: str, counts: Sequence[int]
) -> _LetterPdf:
    pdf = _LetterPdf(family, footer, counts)
    pdf.set_margins(left=_LEFT, top=_TOP, right=_RIGHT)
    pdf.set_auto_page_break(auto=True, margin=22)
    for copy in copies:
        pdf.first_page(copy.letterhead)
        pdf.set_font(family, size=11)
        pdf.write_html(
            _GAP_BETWEEN_BLOCKS.sub(r"\1", copy.body),
            font_family=family,
            tag_styles=_tag_styles(family),
            ul_bullet_char="•",
            li_prefix_color=_BLACK,
            table_line_separators=True,
        )
    return pdf


def _close(pdf: FPDF) -> None:
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

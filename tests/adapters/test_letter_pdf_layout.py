"""A letter's PDF laid out with the widths and lines it keeps (``pdf_text_widths``,
``pdf_columns``) is, byte for byte, the PDF fpdf2 alone lays out."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import date

import pytest
from fpdf import FPDF
from fpdf.line_break import Fragment, TotalPagesSubstitutionFragment
from fpdf.text_region import ImageParagraph, LineWrapper, Paragraph

from escalation_flow.adapters import letter_pdf
from escalation_flow.adapters.letter_pdf import Copy, Letterhead, html_to_pdf
from escalation_flow.adapters.letter_rendering import render_pdf, template_variants
from escalation_flow.adapters.pdf_columns import MeasuringColumns
from escalation_flow.adapters.pdf_text_widths import MeasuredFragment, measured
from escalation_flow.letters.addressing import Household
from escalation_flow.letters.context import LetterContext, Pupil
from escalation_flow.letters.sample import preview_context

VARIANTS = template_variants()
IDS = [name if flow is None else f"{flow}/{name}" for flow, name in VARIANTS]
MOTHER = Household(
    ("C-1",), ("Mrs Sara Khan",), "4 Orchard Close, Oakfield, Kent ME1 3CD", ("sara@example.org",)
)
FATHER = Household(("C-2",), ("Mr Imran Khan",), "Flat 2, 9 High Street, Maidstone ME14 1AA", ())


def _both(make: Callable[[], bytes]) -> tuple[bytes, bytes]:
    """The PDF as laid out with what it keeps, and as fpdf2 alone lays it out."""
    kept = make()
    letter_pdf._LetterPdf.kept_layout = False
    try:
        alone = make()
    finally:
        letter_pdf._LetterPdf.kept_layout = True
    return kept, alone


@pytest.mark.parametrize(("flow", "name"), VARIANTS, ids=IDS)
def test_every_letter_is_the_pdf_fpdf2_alone_lays_out(flow: str | None, name: str) -> None:
    ctx = preview_context(name, flow)
    kept, alone = _both(lambda: render_pdf(name, ctx, flow=flow))
    assert kept == alone


@pytest.mark.parametrize(
    "change",
    [
        {"addressees": (MOTHER, FATHER)},  # laid out twice: to count pages, then to print
        {"pupil": Pupil(forename="Łucja", surname="Wiśniewska", year_group="Year 2")},  # DejaVu
        {"draft": True},
    ],
    ids=["two copies", "embedded font", "draft"],
)
def test_a_letter_of_two_copies_another_font_or_a_draft_is_the_same_pdf(
    change: dict[str, object],
) -> None:
    ctx: LetterContext = replace(preview_context("letter_n"), **change)  # type: ignore[arg-type]
    kept, alone = _both(lambda: render_pdf("letter_n", ctx))
    assert kept == alone


_WORDS = ["attendance", "a", "to", "Wednesday", "sessions", "97.4%", "£160", "O'Brien",
          "supercalifragilisticexpialidocious" * 3, "re\u00adview", "10\u00a0March", "<b>meet</b>",
          "Seán", "(unauthorised)", "—", "and/or", "well-being"]  # fmt: skip


def _random_body(rng: random.Random) -> str:
    """Paragraphs, lists, headings and tables of words of every kind the letters print, some
    too long for a line, some joined by a soft hyphen or a no-break space."""

    def words(most: int, markup: bool = True) -> str:
        chosen = [rng.choice(_WORDS) for _ in range(rng.randint(1, most))]
        return " ".join(w if markup else w.replace("<b>", "").replace("</b>", "") for w in chosen)

    blocks = []
    for _ in range(rng.randint(4, 16)):
        kind = rng.choice(["p", "p", "p", "ul", "h2", "table"])
        if kind == "ul":
            blocks.append(f"<ul><li>{words(80)}</li><li>{words(20)}</li></ul>")
        elif kind == "table":
            cells = f"<td>{words(8, False)}</td><td>{words(12, False)}</td>"
            blocks.append(f"<table><tr>{cells}</tr><tr>{cells}</tr></table>")
        else:
            blocks.append(f"<{kind}>{words(90 if kind == 'p' else 6)}</{kind}>")
    return "".join(blocks)


@pytest.mark.parametrize("seed", range(12))
def test_random_text_breaks_into_the_same_lines_and_pages(seed: int) -> None:
    rng = random.Random(seed)
    head = Letterhead(("School", "1 Lane"), "School, 1 Lane", ("Mr A Parent", "2 Road"), "Today")
    copies = [Copy(head, _random_body(rng)) for _ in range(rng.randint(1, 2))]

    def make() -> bytes:
        return html_to_pdf(copies, title="t", author="a", footer="f", created=date(2026, 3, 16))

    kept, alone = _both(make)
    assert kept == alone


def test_a_paragraph_is_broken_into_lines_once_not_to_measure_it_and_again_to_print_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: Counter[int] = Counter()
    build = Paragraph.build_lines

    def counting(self: Paragraph, print_sh: bool) -> list[LineWrapper]:
        if self._text_fragments:
            built[id(self)] += 1
        return build(self, print_sh)

    monkeypatch.setattr(Paragraph, "build_lines", counting)
    ctx = preview_context("third_warning_letter")
    render_pdf("third_warning_letter", ctx)
    kept = sorted(built.values())
    built.clear()
    monkeypatch.setattr(letter_pdf._LetterPdf, "kept_layout", False)
    render_pdf("third_warning_letter", ctx)
    alone = sorted(built.values())
    assert len(kept) == len(alone) > 10
    assert sum(alone) >= 1.8 * len(alone)  # measured, then broken again
    assert sum(kept) <= 1.1 * len(kept)  # again only after a page break moved the line start


def _fragment(text: str, family: str = "helvetica", size: float = 11) -> Fragment:
    pdf = FPDF()
    pdf.set_font(family, "B", size)
    (fragment,) = pdf._parse_chars(text, False)
    return fragment


def test_a_fragment_growing_and_trimmed_measures_what_fpdf2_measures() -> None:
    rng = random.Random(7)
    for size in (7, 9.5, 10.5, 11, 14, 16):
        plain = _fragment("x", size=size).clone(characters="")
        kept = measured(_fragment("x", size=size)).clone(characters="")
        assert isinstance(kept, MeasuredFragment)
        for _ in range(150):
            for _ in range(rng.randint(0, 6)):  # a few changes between two measures
                if rng.random() < 0.1 and plain.characters:
                    cut = rng.randrange(len(plain.characters))
                    plain.trim(cut)
                    kept.trim(cut)
                else:
                    c = rng.choice("abc XYZ,.'£é\u00a0\u00ad-W")
                    plain.characters.append(c)
                    kept.characters.append(c)
            assert kept.get_width() == plain.get_width()
            assert kept.get_width(initial_cs=False) == plain.get_width(initial_cs=False)
            for c in ("W", "i", " ", "\u00ad"):
                for sh in (False, True):
                    assert kept.get_character_width(c, sh) == plain.get_character_width(c, sh)
        if plain.characters:
            assert kept.get_width(1, 3) == plain.get_width(1, 3)


def test_a_spaced_or_stretched_fragment_is_measured_by_fpdf2() -> None:
    unspaced = measured(_fragment("Attendance matters")).get_width()
    plain = _fragment("Attendance matters")
    kept = measured(_fragment("Attendance matters"))
    for state in (plain.graphics_state, kept.graphics_state):
        state.char_spacing = 1.5
    assert kept.get_width() == plain.get_width() > unspaced
    for state in (plain.graphics_state, kept.graphics_state):
        state.char_spacing, state.font_stretching = 0, 80
    assert kept.get_width() == plain.get_width()


def test_the_page_counts_placeholder_is_left_as_fpdf2_made_it() -> None:
    pdf = FPDF()
    pdf.set_font("helvetica", size=9)
    fragments = [measured(f) for f in pdf._parse_chars("Page 1 of {nb}", False)]
    assert [type(f) for f in fragments] == [MeasuredFragment, TotalPagesSubstitutionFragment]


def _column(text: str) -> tuple[FPDF, MeasuringColumns, Paragraph]:
    pdf = FPDF(unit="mm", format="A4")
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    column = MeasuringColumns.of(pdf, skip_leading_spaces=True)
    paragraph = column.paragraph()
    paragraph.write(text)
    column.end_paragraph()
    return pdf, column, paragraph


def _texts(lines: list[ImageParagraph | LineWrapper]) -> list[str]:
    wrappers = [w for w in lines if isinstance(w, LineWrapper)]
    return ["".join(f.string for f in w.line.fragments) for w in wrappers]


SENTENCE = "We are still worried about attendance, and would like to meet you to talk. " * 6


def test_lines_measured_from_further_across_are_broken_again_where_the_line_starts() -> None:
    pdf, column, _ = _column(SENTENCE)
    left = pdf.x
    pdf.x = left + 60  # measured mid-line: narrower lines
    narrow = column.pending_height()
    pdf.x = left  # as a page break leaves it
    printed = _texts(column.collect_lines())
    _, fresh, _ = _column(SENTENCE)
    assert printed == _texts(fresh.collect_lines())
    assert narrow > column.pending_height() == 0  # nothing left pending once printed


def test_text_written_after_measuring_is_printed() -> None:
    _, column, paragraph = _column(SENTENCE)
    column.pending_height()
    paragraph.write(" And one more thing.")
    printed = _texts(column.collect_lines())
    assert printed[-1].endswith("And one more thing.")


def test_measured_lines_are_printed_as_measured() -> None:
    _, column, _ = _column(SENTENCE)
    column.pending_height()
    kept = next(iter(column._measured.values())).lines
    assert column.collect_lines() == kept

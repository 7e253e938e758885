"""A paragraph's height before it is laid out, and its lines laid out once (issue 13: the day's
letters).

A letter keeps a short paragraph whole by asking, before fpdf2 lays it out, how tall it will
be (``adapters/letter_pdf.py``): breaking it into lines answers that, and fpdf2 then broke it
into lines a second time to print it. ``MeasuringColumns`` keeps the lines a paragraph was
measured with and prints those, when breaking it again would give the same lines: the
paragraph's text unchanged, and the same room across it (the column's extents and the
position a line starts from, which is all ``TextRegion.get_width`` reads for a column; a
page break between measuring and printing moves that position, and the paragraph is then
broken again). Breaking lines was most of a letter's time; this halves it, and the PDF's bytes
are the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fpdf import FPDF, Align
from fpdf.enums import WrapMode
from fpdf.line_break import Fragment
from fpdf.text_region import ImageParagraph, LineWrapper, Paragraph, TextColumns

#: What a paragraph's lines are worked out from besides its text: the column's left and right,
#: where the next line starts across, and whether a soft hyphen prints.
Room = tuple[float, float, float, bool]


def pending_height(column: TextColumns) -> float:
    """The height the column's paragraphs not yet laid out will take, as fpdf2 would lay them
    out now (building a paragraph's lines consumes its text: it is put back)."""
    height = 0.0
    for paragraph in column._paragraphs:
        if not isinstance(paragraph, Paragraph):
            continue
        text = paragraph._text_fragments
        if not text:  # laid out already (the column keeps its paragraphs)
            continue
        lines = paragraph.build_lines(column.print_sh)
        paragraph._text_fragments = text
        height += paragraph.top_margin + paragraph.bottom_margin
        height += sum(wrapper.line.height for wrapper in lines)
    return height


class MeasuringColumns(TextColumns):
    """fpdf2's text column, printing a paragraph from the lines it was measured with."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._measured: dict[int, _Measured] = {}

    @classmethod
    def of(cls, pdf: FPDF, *, skip_leading_spaces: bool) -> MeasuringColumns:
        """One column as ``FPDF.text_columns`` makes it by default (it wraps by word, where a
        column left to itself wraps by character)."""
        return cls(
            pdf,
            text_align=Align.L,
            line_height=1,
            print_sh=False,
            wrapmode=WrapMode.WORD,
            skip_leading_spaces=skip_leading_spaces,
        )

    def pending_height(self) -> float:
        """``pending_height``, keeping each paragraph's lines for ``collect_lines``."""
        height = 0.0
        room = self._room()
        for paragraph in self._paragraphs:
            if not isinstance(paragraph, Paragraph):
                continue
            text = paragraph._text_fragments
            if not text:
                continue
            lines = paragraph.build_lines(self.print_sh)
            paragraph._text_fragments = text
            self._measured[id(paragraph)] = _Measured(paragraph, text, len(text), room, lines)
            height += paragraph.top_margin + paragraph.bottom_margin
            height += sum(wrapper.line.height for wrapper in lines)
        return height

    def collect_lines(self) -> list[ImageParagraph | LineWrapper]:
        """``TextRegion.collect_lines``, taking the kept lines where they still hold."""
        measured, self._measured = self._measured, {}
        room = self._room()
        text_lines: list[ImageParagraph | LineWrapper] = []
        for paragraph in self._paragraphs:
            if isinstance(paragraph, ImageParagraph):
                text_lines.append(paragraph.build_line())
                continue
            kept = measured.get(id(paragraph))
            if kept is not None and kept.holds(paragraph, room):
                paragraph._text_fragments = []  # as building its lines leaves it
                text_lines.extend(kept.lines)
            else:
                text_lines.extend(paragraph.build_lines(self.print_sh))
        return text_lines

    def _room(self) -> Room:
        left, right = self.current_x_extents(self.pdf.y, 0)
        return (left, right, self.pdf.x, self.print_sh)


@dataclass(frozen=True)
class _Measured:
    """A paragraph's lines as they were built to measure it, and what they were built from."""

    paragraph: Paragraph
    text: list[Fragment]
    length: int
    room: Room
    lines: list[LineWrapper]

    def holds(self, paragraph: Paragraph, room: Room) -> bool:
        """Breaking ``paragraph`` now would give these lines."""
        text = paragraph._text_fragments
        return (
            paragraph is self.paragraph
            and text is self.text
            and len(text) == self.length
            and room == self.room
        )

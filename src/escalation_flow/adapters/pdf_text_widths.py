"""fpdf2's text fragments with their widths kept as a line grows (issue 13: the day's letters).

fpdf2 breaks a paragraph into lines a character at a time, and before adding each character it
asks the width of the line so far, which sums the width of every character on it again: the
work grows with the square of a line's length, and it was most of a letter's PDF. A
``MeasuredFragment`` keeps the sum of its characters' widths (in the font's units, whole
numbers) for the characters it has already counted and adds only the ones appended since, so a
line's width costs the same whichever its length.

The width it returns is the very number fpdf2 computes (the units added in the same order, then
scaled by the same expression), so every line breaks where it did and the PDF's bytes are the
same. It answers for the standard fonts, unstretched and unspaced (every letter in Windows-1252),
and hands anything else (an embedded font, character spacing, a slice) to fpdf2.
"""

from __future__ import annotations

from fpdf.fonts import CoreFont
from fpdf.line_break import HYPHEN, SOFT_HYPHEN, Fragment


class MeasuredFragment(Fragment):
    """A ``Fragment`` that keeps the width units of the characters it has counted."""

    #: (the characters list counted, the font's widths table, how many counted, their units)
    _counted: tuple[list[str], dict[str, int], int, int] | None = None

    def get_width(
        self,
        start: int = 0,
        end: int | None = None,
        chars: str | None = None,
        initial_cs: bool = True,
    ) -> float:
        widths = self._plain_widths()
        if widths is None or (chars is None and (start or end is not None)):
            return super().get_width(start, end, chars, initial_cs)
        if chars is not None:
            units = sum(widths[c] for c in chars)
        else:
            characters = self.characters
            counted = self._counted
            if (
                counted is not None
                and counted[0] is characters
                and counted[1] is widths
                and counted[2] <= len(characters)
            ):
                done, units = counted[2], counted[3]
            else:
                done, units = 0, 0
            count = len(characters)
            if done != count:
                # fpdf2 only appends to a fragment's characters or replaces the list (a trim)
                last = characters[-1]
                if done + 1 == count and len(last) == 1:  # one more character: the usual case
                    units += widths[last]
                else:
                    units += sum(widths[c] for c in "".join(characters[done:]))
                self._counted = (characters, widths, count, units)
        # fpdf2's expression, in its order: CoreFont.get_text_width, then Fragment.get_width
        return units * self.font_size_pt * 0.001 / self.k

    def get_character_width(
        self, character: str, print_sh: bool = False, initial_cs: bool = True
    ) -> float:
        widths = self._plain_widths()
        if widths is None:
            return super().get_character_width(character, print_sh, initial_cs)
        if character == SOFT_HYPHEN and not print_sh:
            character = HYPHEN  # what fpdf2 measures (and prints) for a soft hyphen
        return widths[character] * self.font_size_pt * 0.001 / self.k

    def has_same_style(self, other: Fragment) -> bool:
        # A line's fragments are clones sharing their original's state: the same object is
        # equal to itself, without comparing its two dozen fields
        if self.graphics_state is other.graphics_state:
            return self.k == other.k and self.__class__ == other.__class__
        return super().has_same_style(other)

    def _plain_widths(self) -> dict[str, int] | None:
        """The standard font's widths table, when nothing else changes a width (character
        spacing, stretching); None for anything fpdf2 should measure itself."""
        state = self.graphics_state
        font = state.current_font
        if type(font) is not CoreFont or state.font_stretching != 100 or state.char_spacing:
            return None
        return font.cw


def measured(fragment: Fragment) -> Fragment:
    """``fragment`` as a ``MeasuredFragment`` (a fragment of one of fpdf2's subclasses, such
    as the page count's placeholder, is left as it is)."""
    if type(fragment) is not Fragment:
        return fragment
    return MeasuredFragment(fragment.characters, fragment.graphics_state, fragment.k,
                            fragment.link)  # fmt: skip

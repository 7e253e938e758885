"""A prepared letter read at a terminal: its words, paragraph by paragraph, without markup."""

from __future__ import annotations

import pytest

from escalation_flow.adapters.letter_rendering import render_html, template_variants
from escalation_flow.letters.plain_text import letter_text
from escalation_flow.letters.sample import sample_context

VARIANTS = template_variants()


@pytest.mark.parametrize(
    ("flow", "name"), VARIANTS, ids=[n if f is None else f"{f}/{n}" for f, n in VARIANTS]
)
def test_every_letter_reads_as_text_with_no_markup_style_or_footer(
    flow: str | None, name: str
) -> None:
    context = sample_context()
    text = letter_text(render_html(name, context, flow=flow))
    assert "<" not in text and "{" not in text, "no tag and no style sheet"
    assert context.pupil.full_name in text
    assert text.count(context.school.name) >= 1
    assert "\n\n\n" not in text and not text.startswith("\n")
    assert "Yours sincerely," in text


def test_paragraphs_bullets_and_the_figures_table_keep_their_shape() -> None:
    html = (
        "<html><head><title>T</title><style>p { margin: 0 }</style></head><body>"
        "<h2>Attendance</h2><p>Dear  parent,\n  we write</p>"
        "<ul><li>one</li><li>two &amp; three</li></ul>"
        "<table><tr><td>Attendance</td><td class='value'>86.0%</td></tr></table>"
        "<p>Yours,<br>Sam</p><footer>School · Street</footer></body></html>"
    )
    assert letter_text(html) == (
        "Attendance\n\nDear parent, we write\n\n  - one\n  - two & three\n\n"
        "  Attendance: 86.0%\n\nYours,\nSam\n"
    )

"""Letters ready for the post: strict rendering, one copy per household in a window-envelope
layout, no placeholder anywhere, whole paragraphs on a page, the title its heading."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalation_flow.adapters.letter_pdf import Copy, Letterhead, html_to_pdf
from escalation_flow.adapters.letter_rendering import (
    letter_heading,
    render_html,
    render_pdf,
    template_variants,
)
from escalation_flow.letters.addressing import Household
from escalation_flow.letters.context import LetterContext, LetterTemplateError, year_label
from escalation_flow.letters.kept import addressees_of, context_from_json, context_to_json
from escalation_flow.letters.sample import preview_context

VARIANTS = template_variants()
IDS = [name if flow is None else f"{flow}/{name}" for flow, name in VARIANTS]
MOTHER = Household(
    ("C-1",), ("Mrs Sara Khan",), "4 Orchard Close, Oakfield, Kent ME1 3CD", ("sara@example.org",)
)
FATHER = Household(("C-2",), ("Mr Imran Khan",), "Flat 2, 9 High Street, Maidstone ME14 1AA", ())
#: what once stood in for a missing detail, and what a template leaks when a value is missing
PLACEHOLDERS = ("the school office", "None", "{{", "}}", "{%", "your child", "not recorded",
                "not in the trust file", "undefined", "Undefined")  # fmt: skip
_MONTH = "January|February|March|April|May|June|July|August|September|October|November|December"


def _pdftotext(pdf: bytes, *args: str) -> str:
    tool = shutil.which("pdftotext")
    if tool is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    done = subprocess.run([tool, *args, "-", "-"], input=pdf, capture_output=True, check=True)
    return done.stdout.decode("utf-8")


def _words(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)).replace("\u00a0", " ")


@pytest.mark.parametrize(("flow", "name"), VARIANTS, ids=IDS)
def test_no_letter_holds_a_placeholder_or_a_missing_value(flow: str | None, name: str) -> None:
    ctx = preview_context(name, flow)
    html_text = _words(render_html(name, ctx, flow=flow))
    pdf_text = _words(_pdftotext(render_pdf(name, ctx, flow=flow)))
    for text in (html_text, pdf_text):
        found = [p for p in PLACEHOLDERS if p in text]
        assert found == [], f"{name}: {found}"
        assert "Mrs Sara Khan" in text and "01634 000 111" in text and "Mr D. Okafor" in text


@pytest.mark.parametrize(("flow", "name"), VARIANTS, ids=IDS)
def test_every_date_in_a_letter_carries_its_year(flow: str | None, name: str) -> None:
    text = _words(_pdftotext(render_pdf(name, preview_context(name, flow), flow=flow)))
    dates = re.findall(rf"\b\d{{1,2}} (?:{_MONTH})\b(?: \d{{4}})?", text)
    assert dates, "a letter is dated"
    assert [d for d in dates if not re.search(r"\d{4}$", d)] == []


@pytest.mark.parametrize(("flow", "name"), VARIANTS, ids=IDS)
def test_the_pdf_title_is_the_letters_heading(flow: str | None, name: str) -> None:
    tool = shutil.which("pdfinfo")
    if tool is None:
        pytest.skip("pdfinfo (poppler-utils) is not installed")
    ctx = preview_context(name, flow)
    pdf = render_pdf(name, ctx, flow=flow)
    info = subprocess.run([tool, "-"], input=pdf, capture_output=True, check=True).stdout
    title = re.search(r"^Title:\s+(.*)$", info.decode("utf-8"), re.M)
    heading = letter_heading(name, ctx, flow=flow)
    assert title is not None and title.group(1) == heading
    page = render_html(name, ctx, flow=flow)
    assert f"<title>{heading}" in page.replace("&#39;", "'")
    assert heading in _words(page.replace("&#39;", "'"))


def test_a_template_that_reaches_a_missing_value_refuses_naming_it_and_the_template(
    tmp_path: Path,
) -> None:
    source = Path(render_html.__code__.co_filename).parents[1] / "letters" / "templates"
    for part in ("_base.html.j2", "_parts.html.j2"):
        (tmp_path / part).write_text((source / part).read_text("utf-8"), encoding="utf-8")
    (tmp_path / "faxed.html.j2").write_text(
        '{% extends "_base.html.j2" %}{% block subject %}Fax{% endblock %}'
        "{% block body %}<p>Fax us on {{ school.fax }}.</p>{% endblock %}",
        encoding="utf-8",
    )
    with pytest.raises(LetterTemplateError) as caught:
        render_html("faxed", preview_context("first_reminder_letter"), directory=tmp_path)
    [problem] = caught.value.problems
    assert problem.file == "faxed.html.j2" and "fax" in problem.message


def test_each_household_gets_its_own_copy_with_its_own_address_in_the_window() -> None:
    ctx = replace(preview_context("third_warning_letter"), addressees=(MOTHER, FATHER))
    pdf = render_pdf("third_warning_letter", ctx)
    pages = _pdftotext(pdf).split("\f")[:-1]
    first_pages = [i for i, page in enumerate(pages) if "Page 1 of" in page]
    assert len(first_pages) == 2  # each copy from its own first page, numbered on its own
    mother, father = (_window(pdf, i + 1) for i in first_pages)
    assert mother == ["Mrs Sara Khan", "4 Orchard Close", "Oakfield", "Kent ME1 3CD"]
    assert father == ["Mr Imran Khan", "Flat 2", "9 High Street", "Maidstone ME14 1AA"]
    # one household's copy alone (its email) says nothing of the other's address
    alone = _words(_pdftotext(render_pdf("third_warning_letter", ctx, copy=1)))
    assert "Mr Imran Khan" in alone and "Orchard Close" not in alone and "Sara" not in alone
    assert "Dear Mr Imran Khan," in alone


def _window(pdf: bytes, page: int) -> list[str]:
    """The text inside the DL window (20 mm from the left, 50 mm down, 90 x 35 mm), at 72 dpi
    (a point a pixel), less the small return-address line at its top."""
    mm = 72 / 25.4
    box = [str(round(v * mm)) for v in (20, 50, 90, 35)]
    text = _pdftotext(pdf, "-f", str(page), "-l", str(page), "-r", "72", "-x", box[0], "-y",
                      box[1], "-W", box[2], "-H", box[3])  # fmt: skip
    lines = [line.strip() for line in text.splitlines() if line.strip() and line != "\f"]
    return [line for line in lines if "School Lane" not in line and "Station Road" not in line]


def test_a_pupil_with_no_contact_with_parental_responsibility_gets_a_copy_for_the_office_to_address(
) -> None:
    ctx = replace(preview_context("first_reminder_letter"), addressees=())
    assert ctx.needs_addressing and ctx.copies == (Household(),)
    pdf = render_pdf("first_reminder_letter", ctx)
    assert _window(pdf, 1) == ["To the parent or carer of Amira Khan"]
    assert "Dear parent or carer of Amira Khan," in _words(_pdftotext(pdf))
    # kept with the letter for the sender and the office: one copy, flagged
    [copy] = addressees_of(context_to_json(ctx))
    assert copy.needs_address and copy.names == ()


def test_a_letters_households_are_kept_with_it_for_the_sender() -> None:
    ctx = replace(preview_context("first_reminder_letter"), addressees=(MOTHER, FATHER))
    kept = context_to_json(ctx)
    assert addressees_of(kept) == (MOTHER, FATHER)
    assert context_from_json(kept) == ctx


def test_a_draft_is_marked_on_every_page_and_kept_as_a_draft() -> None:
    ctx = replace(preview_context("third_warning_letter"), draft=True)
    pages = _pdftotext(render_pdf("third_warning_letter", ctx)).split("\f")[:-1]
    assert len(pages) >= 2 and all("DRAFT: NOT TO BE SENT" in page for page in pages)
    assert context_from_json(context_to_json(ctx)).draft is True
    assert "DRAFT: NOT TO BE SENT" in render_html("third_warning_letter", ctx)


def test_a_paragraph_is_never_split_across_pages_for_a_few_lines() -> None:
    sentences = [f"Paragraph {k} begins. " + "This sentence runs on. " * 30 + f"End {k}."
                 for k in range(14)]  # fmt: skip
    body = "".join(f"<p>{s}</p>" for s in sentences)
    head = Letterhead(("School", "1 Lane"), "School, 1 Lane", ("Mrs A",), "Monday 3 November 2025")
    pdf = html_to_pdf([Copy(head, body)], title="t", author="a", footer="f",
                      created=date(2025, 11, 3))  # fmt: skip
    pages = [_words(p) for p in _pdftotext(pdf).split("\f")[:-1]]
    assert len(pages) >= 3
    for k in range(14):
        [where] = [i for i, p in enumerate(pages) if f"Paragraph {k} begins" in p]
        assert f"End {k}." in pages[where], f"paragraph {k} runs over a page"


@given(st.integers(min_value=1, max_value=14))
def test_a_numbered_year_group_reads_year_n(n: int) -> None:
    assert year_label(str(n)) == year_label(f"Y{n}") == year_label(f"Year {n}") == f"Year {n}"


@pytest.mark.parametrize(
    ("given_", "shown"), [("R", "Reception"), ("N", "Nursery"), ("Sixth Form", "Sixth Form")]
)
def test_other_year_groups_read_as_words(given_: str, shown: str) -> None:
    assert year_label(given_) == shown


def test_a_copy_that_does_not_exist_is_refused() -> None:
    ctx: LetterContext = preview_context("first_reminder_letter")
    with pytest.raises(LetterTemplateError):
        render_pdf("first_reminder_letter", ctx, copy=1)

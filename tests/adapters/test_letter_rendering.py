"""Letters render from their templates to HTML and PDF, with the pupil's own figures."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from dataclasses import replace
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from escalation_flow.adapters.letter_rendering import (
    TEMPLATES_DIR,
    available_templates,
    render_html,
    render_pdf,
    template_variants,
)
from escalation_flow.adapters.yaml_source import read_yaml, to_plain
from escalation_flow.errors import InputError
from escalation_flow.letters.context import (
    CaseHistory,
    LetterContext,
    LetterTemplateError,
    PenaltyNotices,
    Pupil,
)
from escalation_flow.letters.sample import sample_context

FLOWS_DIR = Path(__file__).resolve().parents[2] / "flows"
VARIANTS = template_variants()
IDS = [name if flow is None else f"{flow}/{name}" for flow, name in VARIANTS]
#: Letters that are a legal step: only for pupils of compulsory school age.
LEGAL = ("notice_to_improve", "penalty_notice_warning", "enforcement_letter_1")


@cache
def _html(flow: str | None, name: str) -> str:
    return render_html(name, sample_context(), flow=flow)


def _text(page: str) -> str:
    """The words of the letter's body as a parent reads them (tags gone, entities decoded)."""
    body = re.sub(r"</?b>", "", page[page.index("<body>") :])  # inline: no space
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


def test_there_is_a_letter_for_each_plan() -> None:
    assert len(VARIANTS) >= 20
    assert "attendance_reminder_letter" in available_templates()
    assert "letter_2" not in available_templates()  # two plans mean different letters by it
    assert "letter_2" in available_templates("who-does-what-and-when")


@pytest.mark.parametrize(("flow", "name"), VARIANTS, ids=IDS)
def test_every_letter_renders_as_html_with_the_pupils_own_figures(
    flow: str | None, name: str
) -> None:
    page = _html(flow, name)
    text = _text(page)
    assert page.startswith("<!DOCTYPE html>")
    assert "Dear Mrs Sara Khan," in text  # the household the copy is for
    assert "Amira Khan, Year 4" in text  # "Year 4", never a bare "(4)"
    assert "Mr D. Okafor Head Teacher" in text  # signed by the trust file's signatory
    assert "01634 000 111" in text
    if name != "in2win_award":  # an award shows the term's attendance, not the figures table
        assert "90.3%" in text
        assert "114 (57 school days)" in text  # possible sessions
        assert "11 (5½ school days)" in text  # sessions missed
        assert "unauthorised 6" in text
        assert "Wednesday 3 September 2025 to Friday 24 October 2025" in text
    assert "Monday 3 November 2025" in text  # the letter's date


@pytest.mark.parametrize(("flow", "name"), VARIANTS, ids=IDS)
def test_every_letter_renders_as_an_a4_pdf(flow: str | None, name: str) -> None:
    pdf = render_pdf(name, sample_context(), flow=flow)
    assert pdf.startswith(b"%PDF-")
    assert b"/MediaBox [0 0 595.28 841.89]" in pdf  # A4 in points
    pages = len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))
    assert 1 <= pages <= 2, "a letter home should fit on two sides of A4"


@pytest.mark.parametrize(("flow", "name"), VARIANTS, ids=IDS)
def test_no_sentence_runs_into_the_next(flow: str | None, name: str) -> None:
    """Template whitespace control can eat a space: '2025.If' or 'again(on' must not print."""
    text = re.sub(r"\S+@\S+", "EMAIL", _text(_html(flow, name)))
    joined = re.findall(r"\w[.,;:!?][A-Za-z]|\w\(|\s[.,;:]|\d{4}[A-Za-z]", text)
    assert not joined, joined


def test_no_template_line_lets_a_block_tag_eat_the_space_before_the_next_word() -> None:
    """A line of text ending in ``{% endif %}`` loses its newline (trim_blocks), so the next
    line's first word would stick to the last one on this line."""
    offenders = []
    for path in sorted(TEMPLATES_DIR.rglob("*.html.j2")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, (line, following) in enumerate(pairwise(lines), 1):
            # What the line prints: an expression is a word, a block tag prints nothing.
            printed = re.sub(r"\{%.*?%\}|\{#.*?#\}", "", re.sub(r"\{\{.*?\}\}", "x", line))
            if (
                line.rstrip().endswith("%}")
                and printed.strip()
                and not printed.endswith(" ")
                and re.match(r"\s*[\w(]", following)
            ):
                offenders.append(f"{path.relative_to(TEMPLATES_DIR)}:{number}")
    assert not offenders


def test_a_letter_that_states_the_review_date_is_sent_from_a_state_that_sets_one() -> None:
    """A template that needs ``next_review`` (the notice to improve's improvement period) can be
    prepared only when its task's state arms a timer: else the letter is never prepared."""
    from escalation_flow.adapters.flow_files import load_flow

    needs = {
        path.name.removesuffix(".html.j2")
        for path in TEMPLATES_DIR.rglob("*.html.j2")
        if "require(next_review" in path.read_text(encoding="utf-8")
    }
    assert needs  # the notice to improve
    offenders = []
    for path in sorted(FLOWS_DIR.glob("*.yaml")):
        flow = load_flow(path)
        for stage in flow.definition.stages:
            for sid, state in stage.states.items():
                letters = [t for t in state.tasks if t.template in needs]
                if letters and not state.timers:
                    offenders += [f"{path.name}: {stage.key}.{sid}: {t.id}" for t in letters]
    assert offenders == []


def test_a_meeting_letter_shows_the_day_time_and_place() -> None:
    text = _text(_html(None, "stage_3_meeting_request"))
    assert "Tuesday 11 November 2025" in text
    assert "3:30pm" in text
    assert "the meeting room" in text
    assert "Monday 1 December 2025" in text  # the review date


def test_without_a_meeting_set_the_letter_says_we_will_agree_a_time() -> None:
    text = _text(render_html("stage_3_meeting_request", sample_context(meeting=None)))
    assert "agree a day and time that suits you" in text


@pytest.mark.parametrize(
    ("name", "changes", "needs"),
    [
        ("did_not_attend_letter", {"meeting": None}, "the meeting that was missed"),
        ("notice_to_improve", {"next_review": None}, "the end of the improvement period"),
    ],
)
def test_a_letter_missing_what_it_needs_is_refused(
    name: str, changes: dict[str, Any], needs: str
) -> None:
    with pytest.raises(LetterTemplateError) as caught:
        render_html(name, sample_context(**changes))
    (problem,) = caught.value.problems
    assert needs in problem.message
    assert problem.file == f"{name}.html.j2" and problem.line is not None


def test_a_field_the_context_lacks_is_an_error_not_a_blank(tmp_path: Path) -> None:
    (tmp_path / "_base.html.j2").write_text("{% block body %}{% endblock %}")
    (tmp_path / "odd.html.j2").write_text(
        '{% extends "_base.html.j2" %}\n{% block body %}\nDear {{ pupil.nickname }}\n{% endblock %}'
    )
    with pytest.raises(LetterTemplateError) as caught:
        render_html("odd", sample_context(), directory=tmp_path)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line) == ("odd.html.j2", 3)
    assert "nickname" in problem.message
    assert isinstance(caught.value, InputError)


def test_an_extra_value_a_template_insists_on_must_be_given(tmp_path: Path) -> None:
    (tmp_path / "needs_extra.html.j2").write_text("Target: {{ extra.target }}")
    with pytest.raises(LetterTemplateError, match="target"):
        render_html("needs_extra", sample_context(), directory=tmp_path)
    page = render_html("needs_extra", sample_context(extra={"target": "96%"}), directory=tmp_path)
    assert page == "Target: 96%"


def test_names_are_escaped_not_read_as_markup() -> None:
    pupil = Pupil(forename="Seán", surname="O'Brien <script>alert(1)</script>", year_group="5")
    ctx = sample_context(pupil=pupil)
    page = render_html("attendance_reminder_letter", ctx)
    assert "<script>" not in page
    assert "O&#39;Brien &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert render_pdf("attendance_reminder_letter", ctx).startswith(b"%PDF-")


@pytest.mark.parametrize("name", LEGAL)
def test_a_legal_letter_is_refused_for_a_pupil_below_compulsory_school_age(name: str) -> None:
    ctx = _below_school_age(sample_context())
    with pytest.raises(LetterTemplateError, match="compulsory school age"):
        render_html(name, ctx)


@pytest.mark.parametrize(
    ("flow", "name"),
    [v for v in VARIANTS if v[1] not in LEGAL],
    ids=[i for i, v in zip(IDS, VARIANTS, strict=True) if v[1] not in LEGAL],
)
def test_other_letters_leave_the_law_out_below_compulsory_school_age(
    flow: str | None, name: str
) -> None:
    young = _text(render_html(name, _below_school_age(sample_context()), flow=flow)).lower()
    said = [
        w for w in ("£", "penalty", "legal", "enforcement", "court action", "by law") if w in young
    ]
    assert not said


@pytest.mark.parametrize(("flow", "name"), VARIANTS, ids=IDS)
def test_penalty_notices_are_stated_as_the_law_has_them(flow: str | None, name: str) -> None:
    text = _text(_html(flow, name))
    if "£" not in text:
        return
    assert "The first one is £160, to be paid within 28 days" in text
    assert "reduced to £80 if paid within 21 days" in text
    assert "A second one within three years is £160" in text
    assert "If a penalty notice is not paid" in text and "section 444" in text
    # Who issues is the local authority's rule (s.444A): never "the local authority, not the school".
    assert "not the school" not in text
    assert "where the local authority's code of conduct allows, by the head teacher" in text or (
        "In our area" in text
    )
    # Support comes before consequences: help is offered before any penalty, court or fine.
    body = text[text.index("Dear ") :].lower()
    first_help = min(body.find(w) for w in ("help", "support") if w in body)
    first_law = min(body.find(w) for w in ("penalty", "£", "court", "legal") if w in body)
    assert first_help < first_law


def test_an_unknown_letter_names_the_ones_there_are() -> None:
    with pytest.raises(LetterTemplateError, match="attendance_reminder_letter"):
        render_html("no_such_letter", sample_context())


def test_a_letter_written_per_flow_needs_the_flow() -> None:
    with pytest.raises(LetterTemplateError, match="who-does-what-and-when"):
        render_html("letter_2", sample_context())
    text_003 = _text(_html("academy-staged-intervention", "letter_2"))
    text_004 = _text(_html("who-does-what-and-when", "letter_2"))
    assert "Child & Family Support Worker" in text_003
    assert "targets" in text_004


def test_a_flow_without_its_own_version_gets_the_shared_letter() -> None:
    shared = render_html("notice_to_improve", sample_context())
    assert render_html("notice_to_improve", sample_context(), flow="leigh-academy-oaks") == shared


def test_the_same_letter_gives_the_same_pdf_bytes() -> None:
    ctx = sample_context()
    assert render_pdf("letter_n", ctx) == render_pdf("letter_n", replace(ctx))


def test_the_pdf_holds_the_words_of_the_letter() -> None:
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    pdf = render_pdf("third_warning_letter", sample_context())
    done = subprocess.run([pdftotext, "-", "-"], input=pdf, capture_output=True, check=True)
    text = re.sub(r"\s+", " ", done.stdout.decode("utf-8"))
    for words in ("Dear Mrs Sara Khan,", "90.3%", "£160", "Tuesday 11 November 2025"):
        assert words in text


@pytest.mark.parametrize(
    ("forename", "surname", "embedded"),
    [
        ("Amira", "Khan", False),
        ("Seán", "O'Brien", False),  # Windows-1252 has it: the standard font prints it
        ("Łucja", "Wiśniewska", True),
        ("Дмитрий", "Петров", True),
    ],
)
def test_a_name_the_standard_fonts_lack_is_printed_with_an_embedded_font(
    forename: str, surname: str, embedded: bool
) -> None:
    ctx = sample_context(pupil=Pupil(forename=forename, surname=surname, year_group="Year 2"))
    pdf = render_pdf("letter_n", ctx)
    assert (b"DejaVuSans" in pdf) is embedded
    assert (b"/BaseFont /Helvetica" in pdf) is not embedded
    pdftotext = shutil.which("pdftotext")
    if pdftotext is not None:
        done = subprocess.run([pdftotext, "-", "-"], input=pdf, capture_output=True, check=True)
        assert f"{forename} {surname}" in done.stdout.decode("utf-8")


def _flow_letters() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for path in sorted(FLOWS_DIR.glob("*.yaml")):
        data = to_plain(read_yaml(path).data)
        found.extend((str(data["flow"]), name) for name in _templates_in(data))
    return found


def _templates_in(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [str(node["template"])] if "template" in node else []
        return own + [t for v in node.values() for t in _templates_in(v)]
    if isinstance(node, list):
        return [t for v in node for t in _templates_in(v)]
    return []


def test_every_letter_a_flow_names_has_a_template() -> None:
    letters = _flow_letters()
    if not letters:
        pytest.skip("no flows in flows/ name a letter yet")
    missing = [(f, n) for f, n in letters if n not in available_templates(f)]
    assert not missing


def _below_school_age(ctx: LetterContext) -> LetterContext:
    return replace(ctx, pupil=replace(ctx.pupil, compulsory_school_age=False))


# -- a letter tells the truth about the case (domain rule 6) -------------------------------------

#: (flow, letter, words stated only with the history that makes them true, that history)
HISTORY_CLAIMS = [
    (None, "third_warning_letter", "This is our third letter",
     CaseHistory(letters_sent=("first_reminder_letter", "second_warning_letter"))),
    (None, "third_warning_letter", "We will review Amira's attendance plan",
     CaseHistory(tasks_done=("individual_attendance_plan",))),
    (None, "second_warning_letter", "We wrote to you before",
     CaseHistory(letters_sent=("first_reminder_letter",))),
    (None, "second_attendance_letter", "Our second letter",
     CaseHistory(letters_sent=("first_concern_letter",))),
    (None, "attendance_panel_invitation", "We have written to you before",
     CaseHistory(letters_sent=("letter_2",))),
    (None, "stage_3_meeting_request", "We wrote to you recently",
     CaseHistory(letters_sent=("attendance_reminder_letter",))),
    (None, "stage_4_plan_review_request", "Thank you for working with us on Amira's attendance plan",
     CaseHistory(tasks_done=("individual_attendance_plan",))),
    ("academy-staged-intervention", "letter_2", "our second letter",
     CaseHistory(letters_sent=("letter_n",))),
    ("academy-staged-intervention", "letter_3", "I wrote to you recently",
     CaseHistory(letters_sent=("letter_2",))),
    ("who-does-what-and-when", "letter_2", "since our last letter",
     CaseHistory(letters_sent=("letter_1_and_leaflet",))),
]


@pytest.mark.parametrize(("flow", "name", "claim", "history"), HISTORY_CLAIMS)
def test_a_letter_states_a_history_only_when_the_case_has_it(
    flow: str | None, name: str, claim: str, history: CaseHistory
) -> None:
    without = _text(render_html(name, sample_context(history=CaseHistory()), flow=flow))
    with_it = _text(render_html(name, sample_context(history=history), flow=flow))
    assert claim not in without
    assert claim in with_it


def test_a_third_warning_after_one_letter_says_we_have_written_before() -> None:
    history = CaseHistory(letters_sent=("second_warning_letter",))
    text = _text(render_html("third_warning_letter", sample_context(history=history)))
    assert "third letter" not in text
    assert "We have written to you before" in text


@pytest.mark.parametrize(("flow", "name"), VARIANTS, ids=IDS)
def test_no_penalty_wording_without_unauthorised_absence(flow: str | None, name: str) -> None:
    if name in LEGAL:  # legal letters rest on unauthorised absence: flows check keeps them so
        return
    ctx = sample_context()
    figures = replace(
        ctx.figures, unauthorised_sessions=0, unauthorised_sessions_last_10_school_weeks=0
    )
    text = _text(render_html(name, replace(ctx, figures=figures), flow=flow))
    assert "£" not in text and "penalty notice" not in text.lower()


@pytest.mark.parametrize(
    ("notices", "said"),
    [
        (PenaltyNotices(), "or, where the local authority's code of conduct allows, by the head teacher"),
        (PenaltyNotices(issued_by="local_authority", local_code="Kent's code"),
         "In our area penalty notices are issued by the local authority (the council), under its code of conduct (Kent's code)"),
        (PenaltyNotices(issued_by="head_teacher_or_local_authority"),
         "In our area the head teacher or the local authority (the council) may issue a penalty notice"),
    ],
)
def test_who_issues_penalty_notices_is_the_schools_local_rule(
    notices: PenaltyNotices, said: str
) -> None:
    for name in ("penalty_notice_warning", "notice_to_improve"):
        text = _text(render_html(name, sample_context(penalty_notices=notices)))
        assert said in text, name


def test_an_unknown_penalty_issuer_is_refused() -> None:
    with pytest.raises(InputError, match="head_teacher_or_local_authority"):
        PenaltyNotices(issued_by="head_teacher")


def test_a_letter_added_just_after_its_folder_was_listed_is_found(tmp_path: Path) -> None:
    """The listing is kept by the folder's modification time, which moves in ticks: a letter
    added (or a flow's own one) within the tick of the last listing must still be found."""
    (tmp_path / "reminder.html.j2").write_text("a")
    (tmp_path / "oaks").mkdir()
    listed = [(p, p.stat().st_mtime_ns) for p in (tmp_path, tmp_path / "oaks")]
    assert available_templates("oaks", directory=tmp_path) == ["reminder"]
    (tmp_path / "warning.html.j2").write_text("b")
    (tmp_path / "oaks" / "reminder.html.j2").write_text("c")
    for folder, stamp in listed:  # within the tick of the listing, as two writes often are
        os.utime(folder, ns=(stamp, stamp))
    assert available_templates("oaks", directory=tmp_path) == ["reminder", "warning"]
    assert template_variants(tmp_path) == [
        (None, "reminder"), (None, "warning"), ("oaks", "reminder")
    ]  # fmt: skip


def test_a_settled_folder_is_listed_once_while_it_does_not_change(tmp_path: Path) -> None:
    (tmp_path / "reminder.html.j2").write_text("a")
    os.utime(tmp_path, ns=(10**18, 10**18))  # changed long ago (2001)
    assert available_templates(directory=tmp_path) == ["reminder"]
    (tmp_path / "warning.html.j2").write_text("b")
    os.utime(tmp_path, ns=(10**18, 10**18))  # as if within the same tick: the listing kept
    assert available_templates(directory=tmp_path) == ["reminder"]
    os.utime(tmp_path, ns=(10**18 + 1, 10**18 + 1))
    assert available_templates(directory=tmp_path) == ["reminder", "warning"]

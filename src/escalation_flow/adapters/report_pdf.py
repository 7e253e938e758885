"""The two reports of issue 16 (parts 4-5) as A4 PDFs, drawn with fpdf2 as the case file is
(``audit/case_pdf``): a heading, what the list rests on, and one table.

DejaVu Sans (shipped inside matplotlib) is embedded: pupils' names and agreed actions are typed
by people and may hold any character.
"""

from __future__ import annotations

from collections.abc import Sequence

from fpdf import FPDF

from escalation_flow.adapters.pdf_pages import FONT, finish, start, table
from escalation_flow.adapters.report_files import actions_text, case_text, number, yes_no
from escalation_flow.report_views import LaMonthlyReport, TargetingReport

_TARGETING_HEAD = (
    "Pupil", "Listed because", "Att. %", "Trend pp", "Projected %", "At risk", "Case and stage",
    "Siblings", "Agreed last term", "Agreed this term",
)  # fmt: skip
_TARGETING_WIDTHS = (34, 30, 13, 13, 17, 12, 34, 28, 46, 46)  # mm, 273 in all (landscape)
_LA_HEAD = ("Pupil", "Year", "Reason", "Detail", "Sent")
_LA_WIDTHS = (40, 12, 46, 54, 34)  # mm, 186 in all (portrait)

PROJECTION_NOTE = (
    "Projected year end: the year so far, with every school day left in the year attended at the "
    "rate of the last 4 school weeks. At risk: not persistently absent now (above 90%), "
    "projected to end the year at 90% or less."
)
LA_NOTE = (
    "10 consecutive school days: a run of school days with both sessions unauthorised (G, N, O, "
    "U) that reached 10 days in the month. Expected to miss 15 school days through illness: "
    "sessions marked I this academic year, plus the rate of I over the last 10 school days "
    "continued to the end of the term, reach 30 sessions."
)


def targeting_pdf(report: TargetingReport) -> bytes:
    title = f"Termly targeting meeting: {report.school_name}, {report.term}"
    pdf = start("landscape", title, title, report.known_at)
    _intro(pdf, title, (
        f"School {report.school}. Attendance as of {report.as_of.isoformat()}, the register as "
        f"known at {report.known_at.isoformat(timespec='seconds')}. {len(report.rows)} pupils: "
        "persistently (90% or less) or severely (50% or less) absent this year, at risk of "
        "becoming persistently absent by the end of the year, or with actions agreed last term "
        f"({report.previous_term or 'none'}). {PROJECTION_NOTE}"
    ))  # fmt: skip
    rows = [
        (
            f"{r.pupil} {r.name}".strip() + (f"\nyear {r.year_group}" if r.year_group else ""),
            r.listed, number(r.attendance_pct), number(r.trend), number(r.projected_pct),
            yes_no(r.at_risk), case_text(r), r.siblings,
            actions_text(r.agreed_last_term).replace(" | ", "\n"),
            actions_text(r.agreed_this_term).replace(" | ", "\n"),
        )
        for r in report.rows
    ]  # fmt: skip
    _table(pdf, _TARGETING_HEAD, rows, _TARGETING_WIDTHS, size=7)
    return finish(pdf)


def la_monthly_pdf(report: LaMonthlyReport) -> bytes:
    title = f"Notification to the local authority: {report.school_name}, {report.month}"
    pdf = start("portrait", title, title, report.known_at)
    sent = "; ".join(
        f"recorded as sent {s.at.isoformat(timespec='seconds')} by {s.by}" for s in report.sent
    )
    _intro(pdf, title, (
        f"School {report.school}. School days of {report.month} to {report.as_of.isoformat()}, "
        f"the register as known at {report.known_at.isoformat(timespec='seconds')}. "
        f"{len(report.rows)} pupils. {sent or 'Not yet recorded as sent.'} {LA_NOTE}"
    ))  # fmt: skip
    rows = [
        (
            f"{r.pupil} {r.name}".strip(), r.year_group, r.reason, r.detail,
            f"{r.sent_at.date().isoformat()} by {r.sent_by}" if r.sent_at else "not yet sent",
        )
        for r in report.rows
    ]  # fmt: skip
    _table(pdf, _LA_HEAD, rows, _LA_WIDTHS, size=8)
    return finish(pdf)


def _intro(pdf: FPDF, title: str, text: str) -> None:
    pdf.set_font(FONT, "B", 14)
    pdf.cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=8)
    pdf.multi_cell(0, 4, text)
    pdf.ln(2)


def _table(
    pdf: FPDF, head: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float],
    *, size: float,
) -> None:  # fmt: skip
    if not rows:
        pdf.set_font(FONT, size=9)
        pdf.multi_cell(0, 5, "No pupil is on this list.")
        return
    table(pdf, head, rows, widths, size=size)

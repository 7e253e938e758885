"""The case file as an A4 PDF, drawn with fpdf2 (the library the letters use): the summary, the
chart (PNG), then the chronology, the register amendments and the support offered as tables.

DejaVu Sans (shipped inside matplotlib) is embedded: chronology lines carry arrows and quotes
the standard PDF fonts cannot print.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from fpdf import FPDF

from escalation_flow.adapters.pdf_pages import FONT, finish, start, table
from escalation_flow.audit.case_words import (
    clock_time,
    generated_line,
    person,
    recorded_text,
    session_words,
    short_date,
    when,
)
from escalation_flow.audit.chronology import CaseFile, Entry

_CHRONOLOGY_WIDTHS = (17, 12, 17, 62, 20, 39, 19)  # mm, 186 in all
_CHRONOLOGY_HEAD = ("Date", "Time", "Kind", "What", "Who", "Facts it rested on", "Att. then (now)")


def case_file_pdf(
    cf: CaseFile, chart_png: bytes, zone: ZoneInfo, status: str, contacts: int
) -> bytes:
    pdf = start(
        "portrait",
        f"Attendance case file: {cf.pupil_name or cf.pupil} ({cf.school_name or cf.school})",
        f"Attendance case file: {cf.pupil} ({cf.school})",
        cf.generated_at,
    )
    _heading(pdf, "Attendance case file", 15)
    pdf.set_font(FONT, size=8)
    pdf.multi_cell(0, 4, f"From the service's own history. {generated_line(cf.generated_at, zone)}")
    pdf.ln(1)
    _summary(pdf, cf, status, contacts)
    _verdict(pdf, cf)
    _family(pdf, cf)
    _heading(pdf, "Attendance over the year", 11)
    pdf.image(io.BytesIO(chart_png), w=186)
    pdf.set_font(FONT, size=7)
    pdf.multi_cell(
        0, 3.5,
        "Solid line: attendance this academic year to date per school day, as the register "
        "stands now. Dashed lines: the plan's percentage thresholds. Shaded, hatched bands: the "
        "stages of the case.",
    )  # fmt: skip
    _heading(pdf, "Chronology", 11)
    staff = dict(cf.staff_names)
    _table(pdf, _CHRONOLOGY_HEAD, [_chronology_row(e, zone, staff) for e in cf.entries],
           _CHRONOLOGY_WIDTHS, size=6.5)  # fmt: skip
    _amendments(pdf, cf, zone)
    _support(pdf, cf)
    pdf.set_font(FONT, size=7)
    pdf.ln(2)
    pdf.multi_cell(
        0, 3.5,
        f"To check this file against the service's records: escalation-flow audit verify "
        f"--school {cf.school}; escalation-flow replay {cf.school} {cf.pupil}.",
    )  # fmt: skip
    return finish(pdf)


def _heading(pdf: FPDF, text: str, size: float) -> None:
    pdf.set_font(FONT, "B", size)
    pdf.ln(1.5)
    pdf.cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(0.5)


def _summary(pdf: FPDF, cf: CaseFile, status: str, contacts: int) -> None:
    now = "unknown" if cf.attendance_now is None else f"{cf.attendance_now:.1f}%"
    rows = [
        ("Pupil", cf.pupil_line()),
        ("School", cf.school_line()),
        ("Plan", f"{cf.flow_title} (flow {cf.flow}, version {cf.flow_version[:12]})"),
        ("Case", cf.case_line(status)),
        ("Attendance this year", f"{now} (as known now)"),
        ("Contacts logged", f"{contacts} completed (letters, calls, meetings, visits, referrals)"),
    ]
    _table(pdf, None, rows, (42, 144), size=8.5)


def _verdict(pdf: FPDF, cf: CaseFile) -> None:
    chain = (
        "the hash chain is intact: no record was edited, deleted or reordered"
        if cf.chain_intact
        else "THE HASH CHAIN IS BROKEN: see escalation-flow audit verify"
    )
    text = f"History: {chain}."
    if cf.replay_summary:
        text += f"\nReplay: {cf.replay_summary}"
    pdf.ln(1.5)
    pdf.set_font(FONT, size=8.5)
    pdf.multi_cell(0, 4.2, text, border=1, padding=2)


def _chronology_row(e: Entry, zone: ZoneInfo, staff: dict[str, str]) -> tuple[str, ...]:
    return (
        short_date(e.on), clock_time(e.at, zone), e.category, e.what, person(e.who, staff),
        e.facts, e.attendance_text(),
    )  # fmt: skip


def _amendments(pdf: FPDF, cf: CaseFile, zone: ZoneInfo) -> None:
    _heading(pdf, "Register amendments", 11)
    if not cf.amendments:
        pdf.set_font(FONT, size=8)
        pdf.multi_cell(0, 4, "No mark of this pupil was amended.")
        return
    importers = dict(cf.importers)
    staff = dict(cf.staff_names)
    rows = []
    for versions in cf.amendments:
        first = versions[0]
        recorded = "\n".join(recorded_text(v, i, zone) for i, v in enumerate(versions))
        imported = "\n".join(
            (when(v.imported_at, zone) if v.imported_at else "")
            + (f" by {person(importers[v.import_id], staff)}" if v.import_id in importers else "")
            for v in versions
        )
        chain = " → ".join(v.code for v in versions)
        rows.append((session_words(first.day, first.session), chain, recorded, imported))
    _table(pdf, ("Session", "Marks, oldest first", "Recorded (MIS)", "Imported"), rows,
           (26, 30, 60, 70), size=7)  # fmt: skip
    pdf.set_font(FONT, size=7)
    pdf.multi_cell(
        0,
        3.5,
        "Recorded: when the MIS recorded each version and, where the register export says, by "
        "which MIS user (a login that is the MIS's or a server's own, such as root, is shown as a "
        "system account: no person is named). Imported: when it reached the service and who "
        "imported it.",
    )


def _family(pdf: FPDF, cf: CaseFile) -> None:
    """Everyone with parental responsibility, and the siblings and their schools."""
    if not cf.parents and not cf.siblings:
        return
    _heading(pdf, "Family", 11)
    rows = [("Parental responsibility", line) for line in cf.parents]
    rows += [("Sibling", line) for line in cf.siblings]
    _table(pdf, None, rows, (42, 144), size=8)


def _support(pdf: FPDF, cf: CaseFile) -> None:
    _heading(pdf, "Support offered", 11)
    if not cf.support:
        pdf.set_font(FONT, size=8)
        pdf.multi_cell(0, 4, "No support task was part of this case.")
        return
    staff = dict(cf.staff_names)
    rows = [
        (
            short_date(s.offered_on),
            s.task.replace("_", " "),
            s.kind,
            s.role.replace("_", " "),
            s.status,
            f"{(s.outcome or '').replace('_', ' ')} ({person(s.by or '', staff)}, "
            f"{short_date(s.done_on)})"
            if s.outcome and s.done_on
            else "",
        )
        for s in cf.support
    ]
    _table(pdf, ("Offered", "Support", "Kind", "Role", "Status", "Outcome"), rows,
           (18, 48, 18, 34, 20, 48), size=7)  # fmt: skip


def _table(
    pdf: FPDF,
    head: Sequence[str] | None,
    rows: Sequence[Sequence[str]],
    widths: Sequence[float],
    *,
    size: float,
) -> None:
    table(pdf, head, rows, widths, size=size)
    pdf.ln(1)

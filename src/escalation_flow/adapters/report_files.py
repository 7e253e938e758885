"""The two reports of issue 16 (parts 4-5) as CSV (the contract's columns) and as text.

Every cell passes through ``csv_safety.safe_row``: names and agreed actions are typed by people.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from escalation_flow.adapters.csv_safety import safe_row
from escalation_flow.report_ports import AgreedAction
from escalation_flow.report_views import (
    LaMonthlyReport,
    LaMonthlyRow,
    TargetingReport,
    TargetingRow,
)

TARGETING_COLUMNS = (
    "school", "term", "as_of", "pupil", "name", "year_group", "listed_because",
    "attendance_pct", "trend_pp", "projected_year_end_pct", "at_risk", "persistent", "severe",
    "case", "stage", "siblings", "actions_agreed_this_term", "actions_agreed_last_term",
)  # fmt: skip
LA_MONTHLY_COLUMNS = (
    "school", "month", "as_of", "pupil", "name", "year_group", "reason", "detail", "sent_at",
    "sent_by",
)  # fmt: skip


def number(value: float | None, places: int = 1) -> str:
    """A percentage or points to ``places`` decimals; blank when unknown."""
    return "" if value is None else f"{value:.{places}f}"


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def actions_text(actions: Sequence[AgreedAction]) -> str:
    """Agreed actions in one cell: "date by: action", separated by " | "."""
    return " | ".join(f"{a.at.date().isoformat()} {a.by}: {a.action}" for a in actions)


def case_text(row: TargetingRow) -> str:
    if row.case_status == "none":
        return "no case"
    stage = f" at stage {row.stage}" if row.stage is not None else ""
    return f"{row.case_status}{stage}" + (f" ({row.state})" if row.state else "")


def targeting_values(report: TargetingReport, row: TargetingRow) -> list[str]:
    return [
        report.school, report.term, report.as_of.isoformat(), row.pupil, row.name,
        row.year_group, row.listed, number(row.attendance_pct), number(row.trend),
        number(row.projected_pct), yes_no(row.at_risk), yes_no(row.persistent),
        yes_no(row.severe), row.case_status, "" if row.stage is None else str(row.stage),
        row.siblings, actions_text(row.agreed_this_term), actions_text(row.agreed_last_term),
    ]  # fmt: skip


def la_values(report: LaMonthlyReport, row: LaMonthlyRow) -> list[str]:
    return [
        report.school, report.month, report.as_of.isoformat(), row.pupil, row.name,
        row.year_group, row.reason, row.detail,
        row.sent_at.isoformat(timespec="seconds") if row.sent_at else "", row.sent_by or "",
    ]  # fmt: skip


def targeting_csv(report: TargetingReport) -> bytes:
    return _csv(TARGETING_COLUMNS, [targeting_values(report, r) for r in report.rows])


def la_monthly_csv(report: LaMonthlyReport) -> bytes:
    return _csv(LA_MONTHLY_COLUMNS, [la_values(report, r) for r in report.rows])


def targeting_text(report: TargetingReport) -> str:
    lines = [
        f"Termly targeting meeting: {report.school_name} ({report.school}), {report.term}",
        f"as of {report.as_of.isoformat()}, register as known at "
        f"{report.known_at.isoformat(timespec='seconds')}; {len(report.rows)} pupils",
        "",
    ]
    if not report.rows:
        lines.append("No pupil is persistently or severely absent or at risk of it.")
    for r in report.rows:
        who = f"{r.pupil} {r.name}".strip() + (f" (year {r.year_group})" if r.year_group else "")
        lines.append(f"{who}: {r.listed}")
        lines.append(
            f"  attendance {number(r.attendance_pct) or 'unknown'}%, trend "
            f"{number(r.trend) or 'unknown'} pp, projected year end "
            f"{number(r.projected_pct) or 'unknown'}%, at risk {yes_no(r.at_risk)}; "
            f"{case_text(r)}; siblings {r.siblings}"
        )
        for label, actions in (("agreed last term", r.agreed_last_term),
                               ("agreed this term", r.agreed_this_term)):  # fmt: skip
            for a in actions:
                lines.append(f"  {label}: {a.action} ({a.by}, {a.at.date().isoformat()})")
    return "\n".join(lines) + "\n"


def _csv(head: Sequence[str], rows: Sequence[Sequence[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(head)
    writer.writerows(safe_row(r) for r in rows)
    return out.getvalue().encode("utf-8")

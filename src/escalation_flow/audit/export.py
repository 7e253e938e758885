"""The case file in four forms: CSV (one row per chronology entry), JSON, HTML (print CSS, the
chart inline as SVG) and PDF (fpdf2, as the letters are made; the chart as PNG).

Times are shown in the school's zone; the JSON keeps UTC instants as well.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from escalation_flow.adapters.csv_safety import file_part, safe_row
from escalation_flow.audit.case_words import (
    clock_time,
    generated_line,
    long_date,
    person,
    recorded_text,
    session_words,
    short_date,
    when,
)
from escalation_flow.audit.chart import render
from escalation_flow.audit.chronology import CaseFile
from escalation_flow.errors import InputError

FORMATS = ("csv", "json", "html", "pdf")
_CONTACT_KINDS = frozenset({"letter", "call", "meeting", "visit", "referral", "discussion"})
CSV_COLUMNS = (
    "date", "time", "category", "what", "who", "facts", "attendance_then", "attendance_now", "seq",
)  # fmt: skip


def export(cf: CaseFile, fmt: str, *, timezone: str = "Europe/London") -> bytes:
    if fmt == "csv":
        return to_csv(cf, timezone).encode("utf-8")
    if fmt == "json":
        return to_json(cf).encode("utf-8")
    if fmt == "html":
        return to_html(cf, timezone).encode("utf-8")
    if fmt == "pdf":
        return to_pdf(cf, timezone)
    raise InputError(f"unknown format {fmt!r} (choose {', '.join(FORMATS)})")


def to_csv(cf: CaseFile, timezone: str = "Europe/London") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    zone = ZoneInfo(timezone)
    for e in cf.entries:
        writer.writerow(
            safe_row(
                [
                    e.on.isoformat(),
                    e.at.astimezone(zone).strftime("%H:%M"),
                    e.category,
                    e.what,
                    e.who,
                    e.facts,
                    _num(e.attendance_then),
                    _num(e.attendance_now),
                    "" if e.seq is None else e.seq,
                ]
            )
        )
    return buffer.getvalue()


def default_name(school: str, pupil: str, fmt: str) -> Path:
    """The case file's name in the current folder; ids cannot lead it out (``../``, ``/``)."""
    return Path(f"{file_part(school)}-{file_part(pupil)}-case-file.{file_part(fmt)}")


def to_json(cf: CaseFile) -> str:
    document = asdict(cf)
    document["case"] = {
        "status": _status(cf),
        "stage": cf.case.stage,
        "state": cf.case.state,
        "opened_on": cf.case.opened_on,
        "closed_on": cf.case.closed_on,
        "flow_version": cf.case.flow_version,
        "records": cf.case.length,
    }
    return json.dumps(document, default=_plain, ensure_ascii=False, indent=1) + "\n"


def to_html(cf: CaseFile, timezone: str = "Europe/London") -> str:
    zone = ZoneInfo(timezone)
    svg = render(cf.chart, "svg", title=_chart_title(cf)).decode("utf-8")
    svg = svg[svg.index("<svg") :]  # inline: without the XML prologue and doctype
    return str(
        _template().render(
            cf=cf,
            status=_status(cf),
            contacts=_contacts(cf),
            chart_svg=svg,
            importers=_importers(cf),
            pct=lambda v: "unknown" if v is None else f"{v:.1f}%",
            local=lambda at: clock_time(at, zone),
            att=lambda e: e.attendance_text(),
            day=short_date,
            long_day=long_date,
            session=session_words,
            when=lambda at: when(at, zone),
            who=lambda login: person(login, dict(cf.staff_names)),
            recorded=lambda v, i: recorded_text(v, i, zone),
            generated=generated_line(cf.generated_at, zone),
        )
    )


def to_pdf(cf: CaseFile, timezone: str = "Europe/London") -> bytes:
    from escalation_flow.audit.case_pdf import case_file_pdf  # fpdf2: loaded only for a PDF

    png = render(cf.chart, "png", title=_chart_title(cf))
    return case_file_pdf(cf, png, ZoneInfo(timezone), _status(cf), _contacts(cf))


# -- shared pieces ---------------------------------------------------------------------------------


def _status(cf: CaseFile) -> str:
    case = cf.case
    if case.is_open:
        return f"open, stage {case.stage} ({case.state})"
    return "closed" if case.closed_on else "no case"


def _contacts(cf: CaseFile) -> int:
    """Letters sent, calls made, meetings held...: the contacts an LA counts before acting."""
    return sum(1 for e in cf.entries if e.type == "task_completed" and e.category in _CONTACT_KINDS)


def _chart_title(cf: CaseFile) -> str:
    name = cf.pupil_name or cf.pupil
    return f"{name}, {cf.school_name or cf.school}: attendance this year and the stages of the case"


def _importers(cf: CaseFile) -> dict[int, str]:
    return dict(cf.importers)


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


@lru_cache(maxsize=1)
def _template() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    folder = Path(__file__).resolve().parent.parent / "templates" / "audit"
    env = Environment(
        loader=FileSystemLoader(str(folder)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("case_file.html.j2")

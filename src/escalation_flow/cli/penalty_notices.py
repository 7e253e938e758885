"""``escalation-flow penalty-notices record|update|list|show|check``: the penalty-notice register.

Recording checks the national rules (``core.penalty_notices``) and refuses, saying why, a
notice they forbid (exit status 2, nothing written). Only the school's attendance lead,
headteacher or the trust's attendance team record or change a notice (``cli.acting``).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import TYPE_CHECKING

import click

from escalation_flow.cli import acting, main, root
from escalation_flow.cli.today import today_option
from escalation_flow.core.notice_grounds import ChildGrounds
from escalation_flow.core.penalty_notices import (
    Kind,
    NoticeVersion,
    Offence,
    ParentStanding,
    Session,
    Status,
)
from escalation_flow.errors import InputError

if TYPE_CHECKING:
    from escalation_flow.core.calendar import SchoolCalendar

_BY_HELP = "Who records it: a staff id (made with `users add`); the school's attendance lead, headteacher or the trust's attendance team."


@main.group("penalty-notices")
def penalty_notices_group() -> None:
    """The penalty-notice register: notices to parents, checked against the national rules."""


@penalty_notices_group.command("record")
@click.argument("school")
@click.argument("pupil")
@click.option("--parent", required=True, help="The parent's contact id (from the contacts CSV).")
@click.option(
    "--offence",
    required=True,
    type=click.Choice([o.value for o in Offence]),
    help="What the notice is for.",
)
@click.option(
    "--session",
    "sessions",
    multiple=True,
    required=True,
    help="A session it rests on: DATE:AM, DATE:PM, DATE (both) or FROM..TO (every school day "
    "between, both sessions). Repeat for more.",
)
@click.option("--issued", "issued", required=True, help="The date it was issued (YYYY-MM-DD).")
@click.option(
    "--kind",
    type=click.Choice([k.value for k in Kind]),
    default=Kind.PENALTY_NOTICE.value,
    show_default=True,
    help="A penalty notice, or the notice to improve that comes before one.",
)
@click.option("--by", "--as", "by", required=True, help=_BY_HELP)
@click.option("--note", default="", help="A note kept with the notice.")
def record(
    school: str,
    pupil: str,
    parent: str,
    offence: str,
    sessions: tuple[str, ...],
    issued: str,
    kind: str,
    by: str,
    note: str,
) -> None:
    """Record a notice to PARENT for PUPIL at SCHOOL (refused, saying why, if the rules forbid it)."""
    with root().service() as service:
        calendar = service.setup(school).calendar
        acting.require(
            service, by, school, "record a penalty notice", acting.leads(school), acting.LEADERS
        )
        version = service.penalty_notices.record(
            school,
            pupil,
            parent,
            kind=Kind(kind),
            offence=Offence(offence),
            sessions=parse_sessions(sessions, calendar),
            issued_on=_date(issued, "--issued"),
            by=by,
            note=note,
        )
    click.echo(f"recorded {notice_line(version)}")


@penalty_notices_group.command("update")
@click.argument("notice", type=int)
@click.option(
    "--status",
    required=True,
    type=click.Choice([s.value for s in Status if s is not Status.ISSUED]),
    help="Its new status.",
)
@click.option("--by", "--as", "by", required=True, help=_BY_HELP)
@click.option("--note", default="", help="Why (kept with the new version).")
def update(notice: int, status: str, by: str, note: str) -> None:
    """Change NOTICE's status (a new version; the earlier ones are kept)."""
    with root().service() as service:
        school = service.penalty_notices.notice(notice).draft.school
        acting.require(
            service, by, school, f"change penalty notice {notice}", acting.leads(school),
            acting.LEADERS,
        )  # fmt: skip
        version = service.penalty_notices.update(notice, Status(status), by=by, note=note)
    click.echo(f"updated {notice_line(version)}")


@penalty_notices_group.command("list")
@click.option("--school", default=None, help="Only this school's notices.")
@click.option("--pupil", default=None, help="Only this pupil's (with --school).")
@click.option("--known-at", default=None, help="The register as known at this ISO instant.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per notice.")
def list_notices(
    school: str | None, pupil: str | None, known_at: str | None, as_json: bool
) -> None:
    """The register: each notice's latest version (as known now, or at --known-at)."""
    instant = _instant(known_at) if known_at else None
    with root().service() as service:
        found = service.penalty_notices.notices(school, pupil, known_at=instant)
    if as_json:
        for v in found:
            click.echo(json.dumps(notice_json(v), sort_keys=True))
        return
    click.echo("\n".join(notice_line(v) for v in found) if found else "no notices recorded")


@penalty_notices_group.command("show")
@click.argument("notice", type=int)
def show(notice: int) -> None:
    """Every version of NOTICE: what was recorded, each change, who and when."""
    with root().service() as service:
        versions = service.penalty_notices.history(notice)
    latest = versions[-1]
    click.echo(notice_line(latest))
    click.echo("  sessions: " + ", ".join(
        f"{s} ({code})" for s, code in zip(latest.draft.sessions, latest.codes, strict=True)
    ))  # fmt: skip
    for v in versions:
        note = f": {v.note}" if v.note else ""
        click.echo(
            f"  v{v.version} {v.status.value} recorded {v.recorded_at:%Y-%m-%d %H:%M} UTC "
            f"by {v.recorded_by}{note}"
        )


@penalty_notices_group.command("check")
@click.argument("school")
@click.argument("pupil")
@click.option(
    "--on", "on", default=None, help="The issue date asked about (default: today, or --today)."
)
@today_option("penalty-notices check")
def check(school: str, pupil: str, on: str | None) -> None:
    """May a penalty notice be considered for PUPIL at all (compulsory school age, the national
    threshold over sessions of that age), and then, for each parent with parental
    responsibility, may one be issued to them (two in three years)?"""
    day = _date(on, "--on") if on else None
    with root().service() as service:
        grounds = service.penalty_notices.grounds(school, pupil, day)
        found = service.penalty_notices.standings(school, pupil, day)
    click.echo(standings_text(found, grounds))


def standings_text(found: list[ParentStanding], grounds: ChildGrounds | None = None) -> str:
    """The lines ``case show`` and ``penalty-notices check`` print: the child's conditions
    first (where known), then each parent's standing."""
    lines = []
    if grounds is not None:
        lines.append(f"penalty notices: {grounds.verdict()}:")
        lines += [f"  {r}" for r in grounds.reasons()]
    child_may = grounds is None or grounds.may_consider
    if not found:
        lines.append(
            "penalty notices: no one with parental responsibility is recorded in the contacts; "
            "establish who before any notice"
        )
        return "\n".join(lines)
    lines.append("penalty notices, by parent with parental responsibility:")
    lines += [f"  {s.line(child_may)}" for s in found]
    return "\n".join(lines)


def notice_line(v: NoticeVersion) -> str:
    d = v.draft
    what = "notice to improve" if d.kind is Kind.NOTICE_TO_IMPROVE else "penalty notice"
    amounts = f"; {v.amounts.words()}" if v.amounts else ""
    return (
        f"{what} {v.notice}: {d.school} {d.pupil}, parent {d.parent}, "
        f"{d.offence.value.replace('_', ' ')}, {len(d.sessions)} session(s), issued "
        f"{d.issued_on.isoformat()}, {v.status.value}{amounts} (v{v.version}, {v.recorded_by})"
    )


def notice_json(v: NoticeVersion) -> dict[str, object]:
    d = v.draft
    return {
        "notice": v.notice,
        "version": v.version,
        "kind": d.kind.value,
        "school": d.school,
        "pupil": d.pupil,
        "parent": d.parent,
        "offence": d.offence.value,
        "sessions": [
            {"date": s.on.isoformat(), "session": s.half, "mark": code}
            for s, code in zip(d.sessions, v.codes, strict=True)
        ],
        "issued_on": d.issued_on.isoformat(),
        "status": v.status.value,
        "amount_reduced": v.amounts.reduced if v.amounts else None,
        "amount_full": v.amounts.full if v.amounts else None,
        "recorded_by": v.recorded_by,
        "recorded_at": v.recorded_at.isoformat(),
        "note": v.note,
    }


def parse_sessions(texts: tuple[str, ...], calendar: SchoolCalendar) -> list[Session]:
    """``DATE:AM``, ``DATE:PM``, ``DATE`` (both) or ``FROM..TO`` (each school day, both)."""
    out: list[Session] = []
    for text in texts:
        text = text.strip()
        if ".." in text:
            first, _, last = text.partition("..")
            start, end = _date(first, "--session"), _date(last, "--session")
            days = [d for d in calendar.school_days if start <= d <= end]
            if not days:
                raise InputError(f"--session {text!r}: no school day between those dates")
            out += [Session(d, half) for d in days for half in ("AM", "PM")]
            continue
        day, _, half = text.partition(":")
        half = half.upper()
        if half not in ("", "AM", "PM"):
            raise InputError(f"--session {text!r}: the session is AM or PM (e.g. 2025-10-06:AM)")
        on = _date(day, "--session")
        out += [Session(on, h) for h in ((half,) if half else ("AM", "PM"))]
    return out


def _date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{option} {text!r} is not a date (YYYY-MM-DD)") from None


def _instant(text: str) -> datetime:
    from escalation_flow.cli.contacts import _instant as instant

    return instant(text)

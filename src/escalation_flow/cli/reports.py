"""``escalation-flow report targeting|targeting-action|la-monthly``: the termly targeting
meeting's list and the local authority's monthly notifications (issue 16, parts 4-5)."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

import click

from escalation_flow.cli import main, root
from escalation_flow.cli.today import today_option


@main.group("report")
def report_group() -> None:
    """Reports for the local authority: the termly targeting meeting and monthly notifications."""


def _as_of(value: datetime | None) -> date | None:
    return None if value is None else value.date()


def _emit(data: bytes, out: Path | None) -> None:
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        out.write_bytes(data)
        click.echo(f"wrote {out}", err=True)


_AS_OF = click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Figures at the end of this school day (default: today, or the period's last day).",
)
_OUT = click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Write here.")


@report_group.command("targeting")
@today_option("report targeting")
@click.option("--school", required=True, help="The school's id (or URN).")
@click.option(
    "--term", required=True, help="The term: its season and the year it starts (autumn-2025)."
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "csv", "pdf"]), default="text", show_default=True
)
@_OUT
@_AS_OF
def report_targeting(
    school: str, term: str, fmt: str, out: Path | None, as_of: datetime | None
) -> None:
    """Pupils persistently or severely absent, or at risk of it by the year's end: attendance,
    trend, projected year-end attendance, case and stage, siblings, actions agreed."""
    from escalation_flow.adapters.report_files import targeting_csv, targeting_text
    from escalation_flow.adapters.report_pdf import targeting_pdf
    from escalation_flow.bootstrap import report_desk

    with root().service() as service:
        report = report_desk(service).targeting(school, term, _as_of(as_of))
    if fmt == "text":
        _emit(targeting_text(report).encode("utf-8"), out)
    else:
        _emit(targeting_csv(report) if fmt == "csv" else targeting_pdf(report), out)


@report_group.command("targeting-action")
@click.option("--school", required=True, help="The school's id (or URN).")
@click.option("--term", required=True, help="The meeting's term (autumn-2025).")
@click.option("--pupil", required=True, help="The pupil's id in the MIS.")
@click.option("--action", "action", required=True, help="What was agreed, in a sentence.")
@click.option("--by", required=True, help="The member of staff recording it.")
def report_targeting_action(school: str, term: str, pupil: str, action: str, by: str) -> None:
    """Record an action agreed for a pupil at the termly targeting meeting."""
    from escalation_flow.bootstrap import report_desk
    from escalation_flow.cli import acting

    with root().service() as service:
        acting.require(
            service, by, school, "record a targeting action", acting.writes, acting.ANY_WRITER
        )
        agreed = report_desk(service).record_action(school, term, pupil, action, by)
    click.echo(
        f"recorded for {agreed.pupil} ({agreed.school}, {agreed.term}) by {agreed.by} at "
        f"{agreed.at.isoformat(timespec='seconds')}: {agreed.action}"
    )


@report_group.command("la-monthly")
@today_option("report la-monthly")
@click.option("--school", required=True, help="The school's id (or URN).")
@click.option("--month", required=True, help="The month, YYYY-MM.")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "pdf"]), default="csv", show_default=True
)
@_OUT
@_AS_OF
@click.option("--record-sent", is_flag=True, help="Record this notification as sent (needs --by).")
@click.option("--by", default=None, help="The member of staff who sent it.")
def report_la_monthly(
    school: str,
    month: str,
    fmt: str,
    out: Path | None,
    as_of: datetime | None,
    record_sent: bool,
    by: str | None,
) -> None:
    """Pupils with 10 consecutive school days of unauthorised absence in the month, and pupils
    expected to miss 15 school days through illness; --record-sent --by STAFF records it sent."""
    from escalation_flow.adapters.report_files import la_monthly_csv
    from escalation_flow.adapters.report_pdf import la_monthly_pdf
    from escalation_flow.bootstrap import report_desk
    from escalation_flow.errors import InputError

    if record_sent and not by:
        raise InputError("--record-sent needs --by STAFF: who sent it")
    from escalation_flow.cli import acting

    with root().service() as service:
        if record_sent and by:
            acting.require(
                service, by, school, "record the local authority's monthly notification sent",
                acting.records_for_the_local_authority(school),
                "it is recorded by its attendance lead, headteacher or the trust's attendance "
                "team (auditors change nothing)",
            )  # fmt: skip
        desk = report_desk(service)
        report = desk.la_monthly(school, month, _as_of(as_of))
        csv_bytes = la_monthly_csv(report)
        _emit(csv_bytes if fmt == "csv" else la_monthly_pdf(report), out)
        if record_sent and by:
            sent = desk.record_sent(report, csv_bytes, by)
            click.echo(
                f"recorded as sent: {report.school} {report.month}, {len(sent.pupils)} pupils, "
                f"by {sent.by} at {sent.at.isoformat(timespec='seconds')}",
                err=True,
            )

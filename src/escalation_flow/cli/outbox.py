"""``escalation-flow letters send|outbox|print``: approved letters out of the service, by email
through the outbox, or printed for the post (issue 15 part 2)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from escalation_flow.actors import is_system_actor
from escalation_flow.cli import root
from escalation_flow.cli.letters import letters_group
from escalation_flow.errors import ActionError, InputError


@letters_group.command("send")
@click.option("--limit", type=int, default=None, help="Try at most this many emails now.")
def letters_send(limit: int | None) -> None:
    """Queue approved letters and email what is due, now (the daemon does this every cycle).
    Needs ESCALATION_FLOW_SMTP_HOST and ESCALATION_FLOW_SMTP_FROM; exit 1 when the server
    cannot be reached or any email failed for good."""
    run = root()
    settings = run.settings()
    sender = run.letter_sender(settings)
    with run.service(settings) as service:
        service.outbox.emails = sender is not None
        queued = service.outbox.queue()
        click.echo(_queued_line(queued))
        if sender is None:
            raise InputError(
                "no SMTP server configured (ESCALATION_FLOW_SMTP_HOST): the approved letters are "
                "for the post; print them with `escalation-flow letters print --school S --date D "
                "--out F.pdf --by STAFF`"
            )
        done = service.outbox.drain(sender, limit=limit)
    click.echo(
        f"emailed {done.sent}; to retry {done.retrying}; failed for good {done.failed}"
        + (f"; set aside {done.set_aside} (contacts changed since the letter was prepared: "
           "see `escalation-flow letters outbox`)" if done.set_aside else "")
    )  # fmt: skip
    if done.unavailable:
        click.echo(f"not sent: {done.unavailable}", err=True)
    if done.unavailable or done.failed:
        raise SystemExit(1)


@letters_group.command("outbox")
@click.option("--status", default=None, help="Only rows in this state (queued, sending, sent, "
              "failed, for_post, printed, no_address, draft_only, cancelled, "
              "needs_readdressing).")  # fmt: skip
@click.option("--school", default=None, help="Only this school's letters.")
@click.option("--letter", "letter_id", type=int, default=None, help="Only this letter's rows.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a row.")
def letters_outbox(
    status: str | None, school: str | None, letter_id: int | None, as_json: bool
) -> None:
    """The outbox: each approved letter's copy per household, and where it stands."""
    with root().service() as service:
        rows = service.outbox.outbox.rows(status=status, school=school, letter=letter_id)
    if as_json:
        for r in rows:
            click.echo(json.dumps(_plain(r), sort_keys=True))
        return
    if not rows:
        click.echo("the outbox is empty" + (" for that choice" if status or school else ""))
        return
    for r in rows:
        click.echo(_line(r))


@letters_group.command("print")
@click.option("--school", required=True, help="The school whose letters for the post to print.")
@click.option(
    "--date", "day", required=True, type=click.DateTime(["%Y-%m-%d"]),
    help="The day the letters were approved and queued (the school's local date).",
)  # fmt: skip
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--by", "by", required=True, help="Who prints them: a staff id.")
def letters_print(school: str, day: datetime, out: Path, by: str) -> None:
    """One print-ready PDF of SCHOOL's letters for the post queued on DATE: a cover list, then
    each letter on a fresh sheet; recorded in each case's history as printed by BY."""
    composition = root()
    with composition.service() as service:
        if school not in service.schools():
            raise ActionError(f"no school {school!r} in the trust file")
        # without an email sender every household's copy is for the post
        service.outbox.emails = composition.letter_sender(composition.settings()) is not None
        service.outbox.queue()
        who = service.letters.actors.check(by)
        if is_system_actor(who):
            raise ActionError(f"{who!r} is a system actor: letters are printed by a named member of staff")
        run = service.outbox.print_day(school, _date(day), who)
    out.write_bytes(run.pdf)
    click.echo(
        f"{run.letters} letter(s) for the post at {school} on {_date(day)} written to {out} "
        f"({run.newly_printed} printed for the first time)"
    )


def _date(value: datetime) -> date:
    return value.date()


def _queued_line(q: Any) -> str:
    return (
        f"queued {q.letters} approved letter(s): {q.email} by email, {q.post} for the post, "
        f"{q.no_address} with no address, {q.draft_only} held (draft-only school); "
        f"{q.cancelled} cancelled (superseded, erased, or to a contact no longer to be contacted)"
        + (f"; {q.needs_readdressing} held: contacts changed since the letter was prepared, "
           "prepare it again" if q.needs_readdressing else "")
    )  # fmt: skip


def _line(r: Any) -> str:
    emails, address = ", ".join(json.loads(r.emails)), r.postal_address.replace("\n", ", ")
    # where this copy goes: a copy for the post to its address, though the household has email
    to = (address or emails if r.channel == "post" else emails or address) or "-"
    state = r.status
    if r.status in ("cancelled", "needs_readdressing") and r.last_reply:
        state += f" ({r.last_reply})"  # why it was set aside, not a server's reply
    elif r.last_code is not None or r.last_reply:
        state += f" ({r.last_code or 'no reply'} {r.last_reply or ''})".rstrip()
    if r.status == "queued" and r.next_attempt_at is not None:
        state += f", next try {r.next_attempt_at:%Y-%m-%d %H:%M} UTC"
    return (
        f"letter {r.letter_id} {r.school} {r.pupil} [{r.channel}] to {to}: {state}; "
        f"attempts {r.attempts}"
    )


def _plain(r: Any) -> dict[str, Any]:
    out = {}
    for k, v in r._mapping.items():
        out[k] = v.isoformat() if isinstance(v, datetime) else v
    out["names"], out["emails"] = json.loads(r.names), json.loads(r.emails)
    return out

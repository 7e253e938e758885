"""``escalation-flow letters show|approve``: prepared letters, read and approved by a named person."""

from __future__ import annotations

from pathlib import Path

import click

from escalation_flow.cli import main, root


@main.group("letters")
def letters_group() -> None:
    """Letters prepared for letter tasks. Nothing is ever sent by the service."""


@letters_group.command("show")
@click.argument("letter_id", type=int)
@click.option(
    "--pdf",
    "pdf_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the letter as PDF here.",
)
def letters_show(letter_id: int, pdf_out: Path | None) -> None:
    """Show letter LETTER_ID: who it is for, its state, and its text (HTML)."""

    with root().service() as service:
        view = service.letter(letter_id)
        data = service.letter_pdf(letter_id) if pdf_out else None
    approved = (
        f"approved by {view.approved_by} at {view.approved_at:%Y-%m-%d %H:%M} UTC"
        if view.approved_by
        else ("approval needed" if view.approval_needed else "no approval needed")
    )
    click.echo(
        f"letter {view.id}: {view.template} for {view.school} {view.pupil} (task {view.task_id}, case {view.case_id})"
    )
    click.echo(f"status: {view.status}; prepared {view.prepared_at:%Y-%m-%d %H:%M} UTC; {approved}")
    if view.sent_by:
        click.echo(f"sent by {view.sent_by} at {view.sent_at:%Y-%m-%d %H:%M} UTC")
    if pdf_out is not None and data is not None:
        pdf_out.write_bytes(data)
        click.echo(f"PDF written to {pdf_out}")
    else:
        click.echo("")
        click.echo(view.html)


@letters_group.command("approve")
@click.argument("letter_id", type=int)
@click.option("--by", "by", required=True, help="Who approves it: a staff id (made with `users add`).")
def letters_approve(letter_id: int, by: str) -> None:
    """Approve letter LETTER_ID; its task can then be completed with outcome `sent`."""

    with root().service() as service:
        view = service.approve_letter(letter_id, by)
    click.echo(
        f"letter {view.id} approved by {view.approved_by}; record it sent with: escalation-flow tasks done {view.task_id} --outcome sent --by STAFF"
    )

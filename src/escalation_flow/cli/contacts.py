"""``escalation-flow import contacts`` and ``contacts show``: pupils' parents and carers.

A contacts file with bad rows is refused whole (exit status 2, every problem named by file, line
and field) and nothing is written, unless ``--skip-invalid`` asks for the good rows to go in and
the bad ones to be written beside the file.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from escalation_flow.audit.case_words import when
from escalation_flow.cli import main, root
from escalation_flow.cli.registers import _login, import_group
from escalation_flow.cli.today import today_option
from escalation_flow.core.access import Principal
from escalation_flow.core.contacts import ContactVersion
from escalation_flow.core.siblings import Sibling
from escalation_flow.errors import InputError

if TYPE_CHECKING:
    from escalation_flow.audit.chronology import CaseFile
    from escalation_flow.service import Service

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@import_group.command("contacts")
@click.argument("file", type=_FILE)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Import the good rows and write the bad ones to FILE's .rejected.csv beside it.",
)
@click.option("--trust", "trust_path", type=_FILE, default=None, help="The trust file.")
@click.option("--by", default=None, help="Who is importing (default: the login name).")
def import_contacts(
    file: Path, skip_invalid: bool, trust_path: Path | None, by: str | None
) -> None:
    """Import a contacts CSV: each pupil's parents and carers (docs/contacts.md).

    Changes are kept: a contact whose details changed gets a new version, and every question
    can be asked "as known at" a time (`contacts show --known-at`)."""
    from escalation_flow.adapters.contact_files import read_contacts, write_rejected
    from escalation_flow.adapters.trust_files import load_trust
    from escalation_flow.logs import get_logger
    from escalation_flow.settings import load_settings

    settings = load_settings()
    trust = load_trust(trust_path or settings.trust_file)
    with root().store(settings) as store:
        clock = root().clock
        now = clock.now().astimezone(UTC)
        result = read_contacts(
            file, set(trust.schools), now=now, aliases=trust.aliases, skip_invalid=skip_invalid
        )
        store.upsert_schools(trust)
        summary = store.import_contacts(result, now=now, by=by or _login(), clock=clock)
    line = summary.line()
    if result.rejected:
        line += f"; rejected rows written to {write_rejected(result)}"
    get_logger(__name__).info(
        "contacts_imported",
        file=str(file),
        import_id=summary.import_id,
        rows=summary.rows_read,
        imported=summary.imported,
        already_known=summary.already_known,
        rejected=summary.rejected,
    )
    click.echo(line)


@main.group("contacts")
def contacts_group() -> None:
    """Pupils' parents and carers, and the families they make across the trust."""


@contacts_group.command("show")
@today_option("contacts show")
@click.argument("school")
@click.argument("pupil")
@click.option(
    "--known-at",
    default=None,
    help="An ISO instant with its offset: the contacts as they were known then (default: now).",
)
def contacts_show(school: str, pupil: str, known_at: str | None) -> None:
    """The contacts of PUPIL at SCHOOL, with parental responsibility first, as known now (or
    at --known-at)."""
    instant = _instant(known_at) if known_at else None
    with root().service() as service:
        contacts = service.families.contacts(school, pupil, known_at=instant)
    click.echo(contacts_text(contacts))


def contacts_text(contacts: list[ContactVersion]) -> str:
    if not contacts:
        return "no contacts known"
    return "\n".join(contact_line(c) for c in contacts)


def contact_line(c: ContactVersion, zone: ZoneInfo | None = None) -> str:
    """One line for a person: who, what to them, and how to reach them; with ``zone``, when
    the MIS recorded it in words (the case file), else as a UTC stamp (the terminal)."""
    pr = "parental responsibility" if c.parental_responsibility else "no parental responsibility"
    lives = {True: "lives with the pupil", False: "lives elsewhere", None: ""}[c.lives_with_pupil]
    may = {True: "", False: "DO NOT CONTACT", None: ""}[c.may_be_contacted]
    reach = ", ".join(x for x in (c.telephone, c.email, c.address) if x)
    parts = [f"{c.name} ({c.relationship}, {c.contact})", pr, lives, may, reach]
    prio = f"[{c.priority}] " if c.priority is not None else ""
    recorded = (
        f"recorded on {when(c.recorded_at, zone)}"
        if zone is not None
        else f"recorded {c.recorded_at:%Y-%m-%d %H:%M} UTC"
    )
    return prio + "; ".join(p for p in parts if p) + f"  ({recorded})"


def siblings_text(siblings: list[Sibling]) -> str:
    """The siblings block of ``case show``."""
    if not siblings:
        return "siblings: none known (from the contacts with parental responsibility)"
    return "\n".join(["siblings:", *(f"  {s.line()}" for s in siblings)])


def with_family(cf: CaseFile, service: Service, viewer: str | None) -> CaseFile:
    """The case file with its pupil's parents (parental responsibility) and siblings, as
    ``viewer`` (a staff id; None: in full) may see them."""
    principal = reader(service, viewer, cf.school, cf.pupil) if viewer else None
    contacts = service.families.contacts(cf.school, cf.pupil)
    siblings = service.families.siblings(cf.school, cf.pupil, viewer=principal)
    zone = ZoneInfo(service.trust.timezone)
    return replace(
        cf,
        parents=tuple(contact_line(c, zone) for c in contacts if c.parental_responsibility),
        siblings=tuple(s.line() for s in siblings),
    )


def reader(service: Service, username: str, school: str, pupil: str) -> Principal:
    """The member of staff ``username``, if they may read ``pupil`` at ``school``; else
    InputError (a class teacher reads only the year groups they teach)."""
    principal = staff_principal(service, username)
    key = service.setup(school).school
    record = service.store.load_roster(key).pupils.get(pupil)
    if not principal.can_read_pupil(key, record.year_group if record else None):
        raise InputError(f"{username} may not read pupil {pupil} at {key}")
    return principal


def staff_principal(service: Service, username: str) -> Principal:
    """The member of staff called ``username``, with their grants; InputError if none."""
    from escalation_flow.adapters.store.staff_store import StaffStore

    record = StaffStore(service.store.engine).by_username(username)
    if record is None or not record.active:
        raise InputError(f"--as {username!r} is not a member of staff (`escalation-flow users add`)")
    return record.principal()


def _instant(text: str) -> datetime:
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--known-at {text!r} is not an ISO instant") from None
    if instant.tzinfo is None:
        raise InputError(f"--known-at {text!r} needs its UTC offset (e.g. 2025-10-06T17:00+01:00)")
    return instant.astimezone(UTC)

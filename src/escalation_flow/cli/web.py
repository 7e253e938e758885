"""``escalation-flow serve`` (the staff pages) and ``escalation-flow users ...`` (their accounts)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

import click

from escalation_flow.cli import main, root
from escalation_flow.cli.today import HELP as TODAY_HELP
from escalation_flow.cli.today import TODAY_COMMANDS
from escalation_flow.errors import InputError, Problem

if TYPE_CHECKING:
    from escalation_flow.adapters.store import Store
    from escalation_flow.adapters.trust_files import Trust
    from escalation_flow.clock import Clock
    from escalation_flow.core.access import Grant


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--today",
    type=click.DateTime(["%Y-%m-%d"]),
    help=f"{TODAY_HELP} Also ESCALATION_FLOW_WEB_TODAY.",
)
@click.option(
    "--proxy-headers",
    is_flag=True,
    help="Trust X-Forwarded-Proto/For from a reverse proxy (then cookies are Secure over https).",
)
def serve(host: str, port: int, today: datetime | None, proxy_headers: bool) -> None:
    """Serve the staff pages (worklists, cases, letters, dashboards) on the configured database.

    Staff log in with accounts made by `escalation-flow users add`.
    """
    import uvicorn

    from escalation_flow.clock import ShiftedClock
    from escalation_flow.settings import load_settings
    from escalation_flow.web import serving
    from escalation_flow.web.app import create_app
    from escalation_flow.web.oidc_config import sign_in_provider
    from escalation_flow.web.settings import load_web_settings
    from escalation_flow.web.warm_up import warm_up

    settings = load_settings()
    web_settings = load_web_settings()
    sign_in_provider(web_settings)  # wrong sign-on settings stop here, each named
    day = today.date() if today else web_settings.today
    if day is not None:
        web_settings = web_settings.model_copy(update={"today": day})
    run = root()
    trust = run.trust(settings)
    clock: Clock = run.clock if day is None else ShiftedClock(run.clock, day, trust.timezone)
    backends, _close = run.page_backends(settings, clock)
    app = create_app(backends, web_settings, clock=clock)
    warmed = warm_up(app.state.web)  # before READY=1: the first page after a start is warm
    shown = f" as if today were {day.isoformat()}" if day else ""
    if warmed:
        click.echo(f"read every school's flow, roster and worklist in {warmed:.1f} s", err=True)
    click.echo(f"staff pages on http://{host}:{port}/ ({settings.database_url}){shown}", err=True)
    config = uvicorn.Config(
        app, host=host, port=port, proxy_headers=proxy_headers, log_level="warning"
    )
    serving.serve(config)  # uvicorn.run, and READY=1 to systemd once listening


#: its own --today (the pages also read ESCALATION_FLOW_WEB_TODAY), with the shared help
TODAY_COMMANDS.append("serve")


@main.group("users")
def users() -> None:
    """Staff accounts for the pages: who they are and their roles at which schools."""


@users.command("add")
@click.argument("username")
@click.option("--name", required=True, help="The person's name as colleagues know it.")
@click.option(
    "--role",
    "roles",
    required=True,
    multiple=True,
    help="class_teacher, attendance_lead, admin_staff, headteacher, family_liaison_officer, "
    "designated_safeguarding_lead, ... ; attendance_team (a school's; with no --school the "
    "trust's central team); auditor (read only; no --school: every school); "
    "data_protection_officer (subject access and retention; no --school: every school).",
)
@click.option(
    "--school", "schools", multiple=True, help="A school's id or URN; repeat for several."
)
@click.option(
    "--year-group",
    "year_groups",
    multiple=True,
    help="Class teachers: a year group they teach, as the roster writes it; repeat.",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option(
    "--email",
    help="Their school email: single sign-on matches them by it at their first sign-in.",
)
@click.option(
    "--no-password",
    is_flag=True,
    help="No password: they sign in only through the trust's identity provider (needs --email).",
)
def users_add(
    username: str,
    name: str,
    roles: tuple[str, ...],
    schools: tuple[str, ...],
    year_groups: tuple[str, ...],
    password_stdin: bool,
    email: str | None,
    no_password: bool,
) -> None:
    """Add a member of staff with ROLE at each --school (every school: attendance_team)."""
    from escalation_flow.actors import new_username
    from escalation_flow.adapters.store.staff_store import StaffStore
    from escalation_flow.web.passwords import hash_password

    _check_email(email)
    if no_password and email is None:
        raise InputError(
            "--no-password needs --email: without either nobody could log in as them",
            [Problem("--no-password", None, None, "give --email too")],
        )
    with _store_and_trust() as (store, trust):
        staff = StaffStore(store.engine)
        existing = [s.username for s in staff.all_staff()]
        if username not in existing:  # re-adding someone is reported by the store, as before
            new_username(username, existing)
        grants = _grants(trust, roles, schools, year_groups)
        hashed = NO_PASSWORD if no_password else hash_password(_password(password_stdin))
        now = root().clock.now()
        staff.add_staff(username, name, hashed, grants, now, email=email)
    with_email = f" <{email.strip().lower()}>" if email else ""
    click.echo(f"added {username}{with_email}: " + "; ".join(g.describe() for g in grants))


#: Stored in place of a hash when a person has no password: argon2 verifies nothing against it.
NO_PASSWORD = "!no-password: single sign-on only"


@users.command("email")
@click.argument("username")
@click.argument("email", required=False)
@click.option("--clear", is_flag=True, help="Remove their email (they log in by password only).")
def users_email(username: str, email: str | None, clear: bool) -> None:
    """Set USERNAME's school EMAIL (or --clear it).

    Their single sign-on link is undone too: the next person to sign in with this email (as
    the identity provider vouches for it) is linked to this record afresh. Use it when someone's
    address changes, or when a record was linked to the wrong account."""
    from escalation_flow.adapters.store.staff_store import StaffStore

    if (email is None) == (not clear):
        raise InputError(
            "give an EMAIL or --clear (not both)",
            [Problem("EMAIL", None, None, "e.g. `users email s.jones s.jones@school.example`")],
        )
    _check_email(email)
    with _store_and_trust() as (store, _):
        StaffStore(store.engine).set_email(username, email)
    if email is None:
        click.echo(f"{username} has no email now (single sign-on cannot match them)")
    else:
        click.echo(f"{username}'s email is {email.strip().lower()}; they link at their next sign-in")


def _check_email(email: str | None) -> None:
    from escalation_flow.web.oidc_match import email_problem

    problem = None if email is None else email_problem(email)
    if problem:
        raise InputError("not an email address", [Problem("--email", None, None, problem)])


@users.command("password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_password(username: str, password_stdin: bool) -> None:
    """Set a new password for USERNAME."""
    from escalation_flow.adapters.store.staff_store import StaffStore
    from escalation_flow.web.passwords import hash_password

    with _store_and_trust() as (store, _):
        password = _password(password_stdin)
        StaffStore(store.engine).set_password(username, hash_password(password), root().clock.now())
    click.echo(f"password changed for {username}")


@users.command("unlock")
@click.argument("username")
def users_unlock(username: str) -> None:
    """Let USERNAME log in again at once: their wrong passwords stop counting.

    Logins are never locked, only slowed (each wrong password after the first few makes the next
    try wait longer, at most 15 minutes): this ends the wait for a member of staff who asks. The
    wrong passwords stay in the audit log; the unlock is written there too."""
    import getpass

    from escalation_flow.adapters.store.staff_store import StaffStore
    from escalation_flow.errors import NotFoundError

    with _store_and_trust() as (store, _):
        staff = StaffStore(store.engine)
        if staff.by_username(username) is None:
            raise NotFoundError(f"no member of staff {username!r} (see `escalation-flow users list`)")
        forgotten = staff.forget_failures(username)
        try:
            admin = getpass.getuser()
        except (KeyError, OSError):  # no login name in a bare container
            admin = "unknown"
        now = root().clock.now()
        staff.audit(admin, "login_unlocked", now, detail=f"{username}: {forgotten} wrong passwords")
    click.echo(
        f"{username} can log in again now ({forgotten} wrong password"
        f"{'s' if forgotten != 1 else ''} no longer count)"
    )


@users.command("list")
def users_list() -> None:
    """Every member of staff with their roles."""
    from escalation_flow.adapters.store.staff_store import StaffStore

    with _store_and_trust() as (store, _):
        everyone = StaffStore(store.engine).all_staff()
    if not everyone:
        click.echo("no staff yet: add them with `escalation-flow users add`")
    for person in everyone:
        state = "" if person.active else " (disabled)"
        grants = "; ".join(g.describe() for g in person.grants)
        email = ""
        if person.email:
            linked = ", signed in" if person.oidc_subject else ""
            email = f" <{person.email}{linked}>"
        click.echo(f"{person.username:<16} {person.name}{email}{state}: {grants}")


@contextmanager
def _store_and_trust() -> Iterator[tuple[Store, Trust]]:
    """The configured store (the trust's schools added) and trust, through the root."""
    from escalation_flow.settings import load_settings

    settings = load_settings()
    run = root()
    trust = run.trust(settings)
    with run.store(settings) as store:
        store.upsert_schools(trust)
        yield store, trust


def _grants(
    trust: Trust, roles: tuple[str, ...], schools: tuple[str, ...], year_groups: tuple[str, ...]
) -> list[Grant]:
    from escalation_flow.core.access import HELD_ROLES, Grant, check_grant, staff_role
    from escalation_flow.core.definition import Role

    problems: list[Problem] = []
    keys: list[str] = []
    for school in schools:
        try:
            keys.append(trust.resolve_school(school))
        except Exception as exc:
            problems.append(Problem("--school", None, None, str(exc)))
    grants: list[Grant] = []
    for role_name in roles:
        try:
            role = staff_role(role_name)
        except ValueError:
            known = ", ".join(r.value for r in HELD_ROLES)
            problems.append(Problem("--role", None, None, f"{role_name!r}: not one of {known}"))
            continue
        years = frozenset(year_groups) if role is Role.CLASS_TEACHER else None
        # No --school: a trust-wide grant; schools given but unknown are reported above.
        places: list[str | None] = list(keys) if schools else [None]
        for place in places:
            grant = Grant(role, place, years)
            why = check_grant(grant)
            if why:
                problems.append(Problem("--role", None, None, f"{role_name}: {why}"))
            else:
                grants.append(grant)
    if year_groups and Role.CLASS_TEACHER.value not in roles:
        problems.append(Problem("--year-group", None, None, "only class teachers take year groups"))
    if problems:
        raise InputError("cannot add this member of staff", sorted(set(problems)))
    return grants


def _password(from_stdin: bool) -> str:
    from escalation_flow.web.passwords import weak_password

    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = weak_password(password)
    if problem:
        raise InputError(problem)
    return password

"""The auditor's commands: ``audit verify``, ``audit seal``, ``replay``, ``case export`` and
``case migrate``. They read the store named by the settings (``ESCALATION_FLOW_DATABASE_URL``)
and the trust file (``--trust`` or ``ESCALATION_FLOW_TRUST_FILE``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from escalation_flow.cli import main, root
from escalation_flow.cli.cases import case_group
from escalation_flow.errors import InputError

if TYPE_CHECKING:
    from escalation_flow.adapters.store import Store
    from escalation_flow.audit.chronology import CaseFile
    from escalation_flow.audit.inputs import AuditSource
    from escalation_flow.service import Service

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_TRUST_HELP = "The trust file naming the schools, their flows and calendars (default: settings)."


#: The exit status when a check finds what it looks for: tampering, or decisions that do not
#: follow (input errors exit 2, store errors 3).
FOUND = 1


@contextmanager
def _source(trust_path: Path | None) -> Iterator[AuditSource]:
    from escalation_flow.adapters.trust_files import load_trust
    from escalation_flow.audit.inputs import AuditSource
    from escalation_flow.settings import load_settings

    settings = load_settings()
    trust = load_trust(trust_path or settings.trust_file)
    with root().store(settings) as store:
        yield AuditSource(store, trust)


def _staff_member(store: Store, by: str) -> str:
    """``by`` as a member of staff of the store's staff table (or a system actor), or refused
    naming it and how to add it."""
    from escalation_flow.actors import Actors
    from escalation_flow.adapters.store.staff_store import StaffStore

    return Actors(StaffStore(store.engine)).check(by)


#: Where ``case export`` writes unless told otherwise (ignored by git: case files name children).
EXPORTS = Path("var/exports")


def _now() -> datetime:
    return root().clock.now()


# -- audit -----------------------------------------------------------------------------------------


@main.group("audit")
def audit_group() -> None:
    """Tamper evidence: check the hash-chained history and the sealed register marks."""


@audit_group.command("verify")
@click.option("--school", default=None, help="Check one school only (default: every school).")
@click.option(
    "--against", "against", type=_FILE, default=None,
    help="A checkpoint file (`audit checkpoint`): also name everything it saw that is gone or "
    "changed since.",
)  # fmt: skip
@click.option(
    "--restored-from", "restored_from", type=_FILE, default=None, metavar="BACKUP_CHECKPOINT",
    help="With --against, after a restore: the checkpoint of the backup restored "
    "(FILE.checkpoint.json, kept by the auditor); what the --against checkpoint saw beyond it "
    "is reported as missing by restore, not as a problem.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def audit_verify(
    school: str | None, against: Path | None, restored_from: Path | None, as_json: bool
) -> None:
    """Check every case's history chain, every case row, every seal over the marks and every
    stored flow text, and letters, tasks, timers and the audit log against their chains (format
    2); name each record edited, deleted or reordered. With --against, also every
    case, record, seal, mark count, letter, task completion and chain of later records the
    checkpoint saw that is gone or changed. Exit 1 if anything was."""
    from escalation_flow.audit.checkpoint import check_against, read_checkpoint
    from escalation_flow.audit.report import verify_json, verify_text
    from escalation_flow.audit.store_check import verify_store
    from escalation_flow.backups.restored import explain_restores, read_backup_checkpoint
    from escalation_flow.settings import load_settings

    if restored_from is not None and against is None:
        raise click.UsageError("--restored-from goes with --against CHECKPOINT")
    checkpoint = read_checkpoint(against) if against is not None else None
    backup = read_backup_checkpoint(restored_from) if restored_from is not None else None
    with root().store(load_settings()) as store:
        report = verify_store(store.engine, school)
        if checkpoint is not None:
            report.against = str(checkpoint["made_at"])
            found = check_against(store.engine, checkpoint, school)
            # records a restore took back are named as such (warnings), never to hide tampering
            report.breaches += explain_restores(
                store.engine, checkpoint, found, report.warnings, school, backup
            )
            report.breaches.sort(key=lambda b: (b.where, b.seq or 0, b.kind, b.message))
    if as_json:
        click.echo(json.dumps(verify_json(report) | {"against": report.against}, indent=1))
    else:
        click.echo(verify_text(report), nl=False)
    if not report.ok:
        sys.exit(FOUND)


@audit_group.command("checkpoint")
@click.option(
    "--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the checkpoint (JSON); keep a copy outside the database's reach.",
)  # fmt: skip
def audit_checkpoint(out: Path) -> None:
    """Write what the store holds now (every case's history length and head hash, every
    school's seals and mark count, a digest of every letter and task completion) for
    `audit verify --against` to check later: a rewrite of a chain's own end, a case or a
    school's marks deleted whole, show only against a copy kept elsewhere."""
    from escalation_flow.audit.checkpoint import checkpoint_text, make_checkpoint
    from escalation_flow.settings import load_settings

    with root().store(load_settings()) as store:
        document = make_checkpoint(store.engine, _now())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(checkpoint_text(document), encoding="utf-8")
    click.echo(
        f"{out}: checkpoint of {len(document['cases'])} cases, {len(document['schools'])} "
        f"schools, {len(document['letters'])} letters, {len(document['tasks'])} tasks "
        f"(sha256 {document['sha256'][:12]})"
    )


@audit_group.command("seal")
@click.option(
    "--force", is_flag=True,
    help="Also seal imports that were not imported --no-seal (their seal was deleted): only "
    "when their marks are known good; recorded with --by and --reason.",
)  # fmt: skip
@click.option("--by", default=None, help="With --force: who decided it (a staff id).")
@click.option("--reason", default=None, help="With --force: why the marks are known good.")
def audit_seal(force: bool, by: str | None, reason: str | None) -> None:
    """Seal every import of marks imported --no-seal and not sealed yet (a back-fill). An
    import sealed at import whose seal is gone is refused: sealing it would seal an edit."""
    from escalation_flow.adapters.store.audit_store import Forced, seal_imports
    from escalation_flow.settings import load_settings

    if force and not (by and reason):
        raise click.UsageError("--force needs --by STAFF and --reason TEXT (both are recorded)")
    if not force and (by or reason):
        raise click.UsageError("--by and --reason go with --force")
    forced = Forced(by, reason) if force and by and reason else None
    with root().store(load_settings()) as store, store.engine.begin() as conn:
        sealed = seal_imports(conn, _now(), forced)
    for school, import_id, rows in sealed:
        click.echo(f"{school}: import {import_id} sealed ({rows} marks)")
    click.echo(f"{len(sealed)} seal(s) added" + (f" (forced by {by})" if forced else ""))


# -- replay ----------------------------------------------------------------------------------------


@main.command("replay")
@click.argument("school", required=False)
@click.argument("pupil", required=False)
@click.option("--as-of", "as_of", default=None, help="A date or ISO instant: the case as it stood.")
@click.option(
    "--all", "every", is_flag=True, help="Replay every case of --school (no school: of every one)."
)
@click.option("--school", "school_option", default=None, help="The school, with --all.")
@click.option("--json", "as_json", is_flag=True, help="Print the replay as JSON.")
@click.option("--trust", "trust_path", type=_FILE, default=None, help=_TRUST_HELP)
def replay_command(
    school: str | None,
    pupil: str | None,
    as_of: str | None,
    every: bool,
    school_option: str | None,
    as_json: bool,
    trust_path: Path | None,
) -> None:
    """Rebuild a case from its history and re-run its flow, decision by decision, on the
    register as known when each was taken (and as known now). Exit 1 when a decision does not
    follow (overrides by staff are reported, not counted against it)."""
    from escalation_flow.audit import casework, report

    if every:
        target = school_option or school
        if pupil is not None:
            raise InputError("give --all with --school SCHOOL (or no school: every school)")
        with _source(trust_path) as source:
            schools = [target] if target else sorted(source.trust.schools)
            results = [casework.replay_school(source, s) for s in schools]
        if as_json:
            documents = [report.school_json(r) for r in results]
            _print(documents[0] if target else {"schools": documents})
        else:
            _print("".join(report.school_text(r) for r in results))
        if not all(r.agrees for r in results):
            sys.exit(FOUND)
        return
    if school is None or pupil is None:
        raise InputError("give SCHOOL PUPIL (or --all [--school SCHOOL])")
    with _source(trust_path) as source:
        key = source.trust.resolve_school(school)
        calendar = source.trust.calendar(key)
        zone = ZoneInfo(calendar.timezone)
        instant = _instant(as_of, zone) if as_of else None
        case = source.case(key, pupil)
        from escalation_flow.audit.replay import replay_case

        result = replay_case(case.replay_inputs(), as_of=instant)
        from escalation_flow.audit.casework import chain_intact

        intact = chain_intact(source, case)
        if as_json:
            _print(report.replay_json(result) | {"chain_intact": intact})
        else:
            if not intact:
                _print(
                    "WARNING: this case's hash chain is broken: a record was changed after it "
                    "was written (audit verify names it). The replay below shows the records as "
                    "they stand now, not as they were written.\n"
                )
            _print(report.replay_text(result, zone))
            if instant is not None:
                flow = case.flows.get(result.case.flow_version) or case.current_flow
                minimum = flow.definition.min_possible_sessions
                _print(report.as_of_text(result, case.register, calendar, minimum))
    if not result.agrees or not intact:
        sys.exit(FOUND)


def _instant(text: str, zone: ZoneInfo) -> datetime:
    """A date means the end of that day in the school's zone; an instant needs its offset."""
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text).date()
            end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
            return (end - timedelta(microseconds=1)).astimezone(UTC)
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--as-of {text!r} is not a date (YYYY-MM-DD) or an ISO instant") from None
    if instant.tzinfo is None:
        raise InputError(f"--as-of {text!r} needs its UTC offset (e.g. 2025-10-06T17:00+01:00)")
    return instant.astimezone(UTC)


def _print(value: object) -> None:
    from escalation_flow.audit.report import jsonable

    if isinstance(value, str):
        click.echo(value, nl=False)
    else:
        click.echo(json.dumps(value, indent=1, default=jsonable, ensure_ascii=False))


# -- case ------------------------------------------------------------------------------------------


@case_group.command("export")
@click.argument("school")
@click.argument("pupil")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json", "html", "pdf"]), default="pdf",
    show_default=True, help="csv: one row per entry; html/pdf: with the chart, for print.",
)  # fmt: skip
@click.option(
    "--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Write it to this file instead ('-': standard output).",
)  # fmt: skip
@click.option(
    "--out-dir", "out_dir", type=click.Path(file_okay=False, path_type=Path),
    default=EXPORTS, show_default=True,
    help="The folder it is written into, as SCHOOL-PUPIL-case-file.FORMAT (made if missing).",
)  # fmt: skip
@click.option("--trust", "trust_path", type=_FILE, default=None, help=_TRUST_HELP)
@click.option(
    "--as", "viewer", default=None, metavar="STAFF",
    help="For this member of staff: siblings they cannot read are named only as such.",
)  # fmt: skip
def case_export(
    school: str, pupil: str, fmt: str, out: Path | None, out_dir: Path, trust_path: Path | None,
    viewer: str | None,
) -> None:  # fmt: skip
    """The chronology a local authority asks for: every trigger with its facts, every letter,
    call, meeting, outcome, referral and override with who and when, the register amendments,
    the attendance at each point and the support offered. PUPIL is the pupil's id or the start
    of it or of their name. Written into --out-dir (var/exports/, kept out of git: it names a
    child), and the command says where."""
    from escalation_flow.audit.casework import case_file
    from escalation_flow.audit.export import default_name, export
    from escalation_flow.cli.contacts import with_family
    from escalation_flow.cli.pupils import resolve

    with _source(trust_path) as source:
        key = source.trust.resolve_school(school)
        service = root().build_service(source.store, source.trust)
        found = resolve(service, key, pupil)
        cf = case_file(source, key, found, _now())
        cf = with_family(cf, service, viewer)
        cf = with_register_notices(cf, source, service)
        data = export(cf, fmt, timezone=source.trust.calendar(key).timezone)
    if out is not None and str(out) == "-":
        sys.stdout.buffer.write(data)
        return
    path = out or out_dir / default_name(key, found, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    who = f"{found} ({cf.pupil_name})" if cf.pupil_name else found
    click.echo(
        f"case file of {who} at {cf.school_line()} written to {path.resolve()} "
        f"({len(cf.entries)} entries, {fmt})"
    )


def with_register_notices(cf: CaseFile, source: AuditSource, service: Service) -> CaseFile:
    """The case file with the penalty-notice register's steps for its pupil among its entries,
    and the names of the staff who recorded them (issue 15)."""
    from dataclasses import replace

    from escalation_flow.audit.casework import staff_names
    from escalation_flow.audit.chronology import with_notices

    steps = service.penalty_notices.steps(cf.school, cf.pupil)
    zone = ZoneInfo(source.trust.calendar(cf.school).timezone)
    out = with_notices(cf, steps, zone)
    names = dict(cf.staff_names) | staff_names(source, {s.by for s in steps})
    return replace(out, staff_names=tuple(sorted(names.items())))


@case_group.command("migrate")
@click.argument("school")
@click.argument("pupil", required=False)
@click.option(
    "--to-version",
    "to_version",
    required=True,
    help="A stored flow version (8 or more characters of it), or 'current': the school's flow "
    "file now.",
)
@click.option("--all", "every", is_flag=True, help="Every open case of SCHOOL on another version.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="With --all: say what would move and what would stay; write nothing.",
)
@click.option("--by", required=True, help="Who decided it: a staff id (made with `users add`).")
@click.option("--reason", required=True, help="Why the cases move to that version.")
@click.option("--trust", "trust_path", type=_FILE, default=None, help=_TRUST_HELP)
def case_migrate(
    school: str,
    pupil: str | None,
    to_version: str,
    every: bool,
    dry_run: bool,
    by: str,
    reason: str,
    trust_path: Path | None,
) -> None:
    """Move an open case (or with --all every open case of SCHOOL) onto another version of its
    flow, recorded in its history. Open cases otherwise stay on the version they were opened
    under when the school changes its flow file; `status` counts them."""
    from escalation_flow.audit.migration import migrate_case, migrate_school

    if (pupil is None) == (not every):
        raise click.UsageError("name a PUPIL, or give --all for every open case of SCHOOL")
    if dry_run and not every:
        raise click.UsageError("--dry-run goes with --all")
    with _source(trust_path) as source:
        by = _staff_member(source.store, by)
        if pupil is not None:
            d = migrate_case(
                source, school, pupil, to_version=to_version, by=by, reason=reason, now=_now()
            )
            click.echo(
                f"{school}/{pupil}: moved from flow version {d.from_version[:12]} to "
                f"{d.to_version[:12]} by {d.by}"
            )
            return
        report = migrate_school(
            source, school, to_version=to_version, by=by, reason=reason, now=_now(),
            dry_run=dry_run,
        )  # fmt: skip
    moved = "would move" if dry_run else "moved"
    click.echo(
        f"{report.school}: {len(report.moved)} open case{'s' if len(report.moved) != 1 else ''} "
        f"{moved} to flow version {report.to_version[:12]} by {by}"
        + (" (dry run: nothing written)" if dry_run else "")
    )
    for moved, d in zip(report.pupils, report.moved, strict=True):
        click.echo(f"  {moved}: from {d.from_version[:12]}")
    if report.left:
        click.echo(f"{len(report.left)} {'would stay' if dry_run else 'left'} where they are:")
        for left, why in report.left.items():
            click.echo(f"  {left}: {why}")

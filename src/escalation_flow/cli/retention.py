"""``escalation-flow retention due|apply|hold|release|holds|runs``: the retention policy.

``due`` says what the trust file's ``retention:`` policy makes due for erasure today, and what
is kept and why; ``apply`` erases it (``--dry-run``: says what it would, and records that it
was asked). Only a data protection officer of the whole trust applies a policy; a hold may be
placed or released by a data protection officer of the pupil's school or the trust's. Every
run and hold is recorded (``docs/data-protection.md``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from escalation_flow.cli import main, root
from escalation_flow.cli.today import today_option
from escalation_flow.errors import ActionError

if TYPE_CHECKING:
    from escalation_flow.core.retention import RetentionPlan
    from escalation_flow.service import Service
    from escalation_flow.service.retention import Retention

#: Where ``retention apply`` writes the checkpoint it takes before erasing (kept out of git).
CHECKPOINTS = Path("var/checkpoints")

_BY_HELP = (
    "Who does it: a staff id (made with `users add`) holding the data_protection_officer role."
)


@contextmanager
def _desk() -> Iterator[tuple[Retention, Service]]:
    from escalation_flow.errors import StoreError
    from escalation_flow.service.retention import retention_of

    with root().service() as service:
        desk = retention_of(service)
        if desk is None:
            raise StoreError("retention needs the SQL store")
        yield desk, service


def _officer(service: Service, by: str, school: str | None, action: str) -> str:
    """``by`` as a data protection officer (of ``school``; None: of the whole trust), or refused
    naming who may."""
    from escalation_flow.actors import Actors
    from escalation_flow.adapters.store import Store
    from escalation_flow.adapters.store.staff_store import StaffStore
    from escalation_flow.cli.acting import principal_of

    assert isinstance(service.store, Store)
    Actors(StaffStore(service.store.engine)).check(by)  # an unknown name: how to add them
    person = principal_of(service, by)
    if person is None or not person.is_data_protection_officer(school):
        where = "the whole trust" if school is None else f"{school} or the whole trust"
        raise ActionError(
            f"{by} may not {action}: only a data protection officer of {where} may "
            "(`users add --role data_protection_officer`); nothing was changed"
        )
    return person.username


@main.group("retention")
def retention_group() -> None:
    """The retention policy: what is due for erasure, erasing it, and legal holds."""


@retention_group.command("due")
@today_option("retention due")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def retention_due(as_json: bool) -> None:
    """What the trust's retention policy makes due for erasure today, and what is kept and why."""
    with _desk() as (desk, service):
        if service.trust.retention is None:  # nothing is ever due: say so, and how to set one
            click.echo(
                f"no retention policy in {service.trust.path}: nothing is due for erasure; add "
                "`retention: {registers_years: 6, closed_cases_years: N}` "
                "(docs/data-protection.md)"
            )
            return
        found = desk.due()
    if as_json:
        click.echo(json.dumps(plan_json(found), indent=1))
    else:
        click.echo(plan_text(found), nl=False)


@retention_group.command("apply")
@click.option("--dry-run", is_flag=True, help="Only say what would be erased (still recorded).")
@click.option("--by", "--as", "by", required=True, help=_BY_HELP)
@click.option(
    "--checkpoint-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the checkpoint taken before erasing (default: "
    "var/checkpoints/before-retention-<time>.json); keep a copy outside the database's reach.",
)
def retention_apply(dry_run: bool, by: str, checkpoint_out: Path | None) -> None:
    """Erase what the retention policy makes due today (on the real clock), as one recorded
    run that `audit verify` accepts. A checkpoint is written first: it is what lets `audit
    verify --against` show the run erased only what was due."""
    with _desk() as (desk, service):
        who = _officer(service, by, None, "apply the retention policy")
        written = None if dry_run else _checkpoint_before(service, checkpoint_out)
        result = desk.apply(who, dry_run=dry_run)
    if result.dry_run:
        click.echo("dry run: nothing erased; the request is recorded in the audit log")
        click.echo(plan_text(result.plan), nl=False)
        return
    record = result.record or {}
    counts = ", ".join(f"{v} {k}" for k, v in record.get("counts", {}).items())
    click.echo(f"checkpoint before the run: {written}")
    click.echo(f"retention run {record.get('run')}: erased {counts}")
    click.echo(
        f"keep {written} outside the database's reach (it is what proves the run erased only "
        "what was due: `escalation-flow audit verify --against` it), and a checkpoint after "
        "the run too: escalation-flow audit checkpoint --out FILE"
    )
    click.echo("and restart a running daemon: it keeps the marks it has read in memory")


def _checkpoint_before(service: Service, out: Path | None) -> Path:
    """Write a checkpoint of the store as it is before the run (nothing is erased if this
    cannot be written)."""
    from escalation_flow.adapters.store import Store
    from escalation_flow.audit.checkpoint import checkpoint_text, make_checkpoint
    from escalation_flow.errors import InputError

    assert isinstance(service.store, Store)
    now = service.clock.now().astimezone(UTC)
    path = out or _unused(CHECKPOINTS / f"before-retention-{now.strftime('%Y%m%dT%H%M%SZ')}")
    document = make_checkpoint(service.store.engine, now)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(checkpoint_text(document), encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"{path}: the checkpoint could not be written ({exc}); nothing was erased"
        ) from exc
    return path


def _unused(stem: Path) -> Path:
    """``stem``.json, or -2, -3 ... after it: an earlier run's checkpoint is never replaced."""
    path, n = stem.with_name(f"{stem.name}.json"), 1
    while path.exists():
        n += 1
        path = stem.with_name(f"{stem.name}-{n}.json")
    return path


@retention_group.command("hold")
@click.argument("school")
@click.argument("pupil")
@click.option("--reason", required=True, help="Why the records must be kept (recorded).")
@click.option("--by", "--as", "by", required=True, help=_BY_HELP)
def retention_hold(school: str, pupil: str, reason: str, by: str) -> None:
    """Keep everything of PUPIL at SCHOOL past its term until the hold is released."""
    with _desk() as (desk, service):
        school = service.trust.resolve_school(school)
        who = _officer(service, by, school, f"place a hold at {school}")
        hold_id = desk.hold(school, pupil, reason, who)
    click.echo(f"hold {hold_id} on {school}/{pupil} placed by {who}")


@retention_group.command("release")
@click.argument("hold", type=int)
@click.option("--reason", required=True, help="Why the hold ends (recorded).")
@click.option("--by", "--as", "by", required=True, help=_BY_HELP)
def retention_release(hold: int, reason: str, by: str) -> None:
    """Release HOLD: its pupil's records follow the policy again."""
    with _desk() as (desk, service):
        standing = {h.id: h for h in desk.holds()}
        school = standing[hold].school if hold in standing else None
        who = _officer(service, by, school, f"release hold {hold}")
        found = desk.release(hold, reason, who)
    click.echo(f"hold {found.id} on {found.school}/{found.pupil} released by {who}")


@retention_group.command("holds")
@click.option("--all", "every", is_flag=True, help="Released holds too.")
def retention_holds(every: bool) -> None:
    """The legal holds standing (or every hold)."""
    with _desk() as (desk, _):
        found = desk.holds(standing=not every)
    for h in found:
        state = "standing" if h.released_at is None else f"released by {h.released_by}"
        click.echo(
            f"{h.id}\t{h.school}/{h.pupil}\t{h.held_at.date().isoformat()} by {h.held_by}\t"
            f"{state}\t{h.reason}"
        )
    if not found:
        click.echo("no holds")


@retention_group.command("runs")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
def retention_runs(as_json: bool) -> None:
    """Every retention run recorded, newest first: who, when, the policy and what it erased."""
    with _desk() as (desk, _):
        found = desk.runs()
    if as_json:
        click.echo(json.dumps(found, indent=1))
        return
    for r in found:
        counts = ", ".join(f"{v} {k}" for k, v in r["counts"].items())
        click.echo(f"run {r['run']}\t{r['at']}\tby {r['by']}\tas of {r['today']}\t{counts}")
    if not found:
        click.echo("no retention runs")


def plan_json(found: RetentionPlan) -> dict[str, Any]:
    return {
        "today": found.today.isoformat(),
        "policy": found.policy.as_dict(),
        "register_cutoff": found.register_cutoff.isoformat(),
        "case_cutoff": found.case_cutoff.isoformat(),
        "counts": found.counts(),
        "schools": found.by_school(),
        "cases_due": [
            {
                "school": c.school,
                "pupil": c.pupil,
                "case": c.case_id,
                "closed_on": None if c.closed_on is None else c.closed_on.isoformat(),
            }
            for c in found.cases_due
        ],
        "kept": [
            {"school": k.school, "pupil": k.pupil, "what": k.what, "why": k.why} for k in found.kept
        ],
    }


def plan_text(found: RetentionPlan) -> str:
    p = found.policy
    lines = [
        f"retention as of {found.today.isoformat()}: registers kept {p.registers_years} years "
        f"from each entry, closed cases {p.closed_cases_years} years from closing",
        f"due: marks dated before {found.register_cutoff.isoformat()}, cases closed before "
        f"{found.case_cutoff.isoformat()}",
    ]
    for school, n in found.by_school().items():
        lines.append(
            f"  {school}: {n['marks']} marks, {n['cases']} closed cases, {n['pupils']} pupils' "
            "roster rows and contacts"
        )
    if not found.by_school():
        lines.append("  nothing is due")
    for k in found.kept:
        lines.append(f"  kept: {k.school}/{k.pupil} {k.what}: {k.why}")
    return "\n".join(lines) + "\n"

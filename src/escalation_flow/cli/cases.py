"""``escalation-flow case show|override``, ``event record``, ``import actions``: a pupil's case,
and what staff did about it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from escalation_flow.cli import main, root
from escalation_flow.cli.pupils import Names, pupil_option
from escalation_flow.cli.registers import import_group
from escalation_flow.cli.today import today_option
from escalation_flow.core.decisions import Decision
from escalation_flow.core.definition import Flow
from escalation_flow.core.notice_story import NoticeStep, interleave
from escalation_flow.errors import InputError
from escalation_flow.service import Service
from escalation_flow.service.views import CaseLine, CaseView, HistoryEntry


@main.group("case")
def case_group() -> None:
    """A pupil's case: its stage, its history and why each step happened."""


@case_group.command("show")
@click.argument("school")
@click.argument("pupil", required=False)
@pupil_option
@click.option(
    "--as",
    "viewer",
    default=None,
    metavar="STAFF",
    help="Show it as this member of staff may see it (a staff id): siblings at schools or in "
    "year groups they cannot read are named only as such. Default: in full.",
)
@today_option("case show")
def case_show(school: str, pupil: str | None, pupil_query: str | None, viewer: str | None) -> None:
    """Show the case of PUPIL at SCHOOL: stage, history with the reasons, open tasks, timers,
    and the pupil's siblings across the trust. PUPIL (or --pupil) is the pupil's id or the
    start of it or of their name, any case: when it finds several pupils they are listed."""
    from escalation_flow.cli.contacts import reader, siblings_text
    from escalation_flow.cli.penalty_notices import standings_text
    from escalation_flow.cli.pupils import Names, resolve

    query = pupil_query if pupil_query is not None else pupil
    if query is None:
        raise click.UsageError("give PUPIL or --pupil NAME|ID")
    with root().service() as service:
        found = resolve(service, school, query)
        principal = reader(service, viewer, school, found) if viewer else None
        view = service.case(school, found)
        siblings = service.families.siblings(view.school, found, viewer=principal)
        # without any contacts imported, case show reads as it always has
        family = "\n" + siblings_text(siblings) if service.families.versions() else ""
        notices = service.penalty_notices.for_case(
            view.school, found, view.flow_version, [t.task for t in view.open_tasks]
        )
        if notices is not None:  # a step proposes a penalty notice: may one be issued, to whom
            grounds = service.penalty_notices.grounds(view.school, found)
            family += "\n" + standings_text(notices, grounds)
        who = _who(service, view.school, found, Names(service))
        steps = service.penalty_notices.steps(view.school, found)
        flow = service.setup_at(view.school, view.flow_version).flow
    click.echo(case_text(view, who, steps, _otherwise_words(flow)) + family)


def _who(service: Service, school: str, pupil: str, names: Names) -> str:
    """The case's first line's subject: "Leigh Academy Oaks (school-01): S01-P0001 Ava Wood"."""
    name = names.of(school, pupil)
    return f"{service.trust.school(school).name} ({school}): {pupil}" + (f" {name}" if name else "")


@case_group.command("list")
@click.argument("school")
@click.option(
    "--status", type=click.Choice(["open", "closed"]), default=None, help="Only these cases."
)
@pupil_option
def case_list(school: str, status: str | None, pupil_query: str | None) -> None:
    """List the cases of SCHOOL, open ones first, highest stage first: where each stands, when
    it opened, its flow version, and how many times it was opened (a closed case re-opens on its
    own record)."""

    from escalation_flow.cli.pupils import Names
    from escalation_flow.core.pupil_search import Named, search

    with root().service() as service:
        key = service.setup(school).school
        lines = service.case_lines(key, status)
        names = Names(service)
        named = [names.of(key, c.pupil) for c in lines]
    if pupil_query is not None:
        keep = {n.pupil for n in search(pupil_query, (Named(c.pupil, n) for c, n in zip(lines, named, strict=True)))}
        kept = [(c, n) for c, n in zip(lines, named, strict=True) if c.pupil in keep]
        lines, named = [c for c, _ in kept], [n for _, n in kept]
    click.echo(case_list_text(lines, named))


def case_list_text(lines: list[CaseLine], names: list[str] | None = None) -> str:
    if not lines:
        return "no cases"
    head = (
        "pupil", "name", "status", "stage", "state", "opened", "closed", "times opened", "flow",
        "records",
    )  # fmt: skip
    shown = names if names is not None else [""] * len(lines)
    rows = [head] + [_case_row(c, n) for c, n in zip(lines, shown, strict=True)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    text = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    opened = sum(1 for c in lines if c.status == "open")
    return "\n".join([*text, f"{len(lines)} cases, {opened} open"])


def _case_row(c: CaseLine, name: str) -> tuple[str, ...]:
    stage = str(c.stage) if c.status == "open" else ""
    opened, closed = str(c.opened_on or ""), str(c.closed_on or "")
    return (
        c.pupil, name, c.status, stage, c.state, opened, closed, str(c.openings),
        c.flow_version[:12], str(c.records),
    )  # fmt: skip


@case_group.command("override")
@click.argument("school")
@click.argument("pupil")
@click.option("--stage", type=int, required=True, help="The stage to put the case in; 0 closes it.")
@click.option("--reason", required=True, help="Why (kept in the case's history).")
@click.option("--by", "by", required=True, help="Who decided: a staff id (made with `users add`).")
def case_override(school: str, pupil: str, stage: int, reason: str, by: str) -> None:
    """Record a professional judgement: move the case to --stage (0: close it)."""

    from escalation_flow.cli import acting

    with root().service() as service:
        acting.require(
            service, by, school, f"override {pupil}'s case", acting.leads(school), acting.LEADERS
        )
        decisions = service.override(school, pupil, stage, reason, by)
    _echo_decisions(decisions)


@main.group("event")
def event_group() -> None:
    """Manual events of a pupil's flow (safeguarding_concern, medical_evidence_received, ...)."""


@event_group.command("record")
@click.argument("school")
@click.argument("pupil")
@click.argument("event")
@click.option("--by", "by", required=True, help="Who recorded it: a staff id (made with `users add`).")
@click.option("--outcome", default=None, help="The outcome, where the event has several.")
@click.option("--note", default=None, help="A note kept with the event.")
def event_record(
    school: str, pupil: str, event: str, by: str, outcome: str | None, note: str | None
) -> None:
    """Record EVENT for PUPIL at SCHOOL, and whatever the flow does on it."""

    from escalation_flow.cli import acting

    with root().service() as service:
        year = acting.year_group(service, school, pupil)
        acting.require(
            service, by, school, f"record {event} for {pupil}",
            lambda p: p.can_read_pupil(school, year), acting.ANY_WRITER,
        )  # fmt: skip
        decisions = service.record_event(school, pupil, event, by, outcome, note)
    _echo_decisions(decisions)


@import_group.command("actions")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Apply the other rows when some name someone who is not a member of staff (those rows "
    "are listed, and the command exits 2).",
)
def import_actions(file: Path, skip_invalid: bool) -> None:
    """Apply a staff actions CSV (contract.md, "Staff actions"); retried rows count once.

    Every `by` must be a member of staff made with `escalation-flow users add` (or a system
    actor such as `auto`): a file naming anyone else is refused whole, naming the file, line
    and field, and nothing is applied, unless --skip-invalid."""

    with root().service() as service:
        report = service.apply_actions(file, skip_invalid=skip_invalid)
    click.echo(
        f"{file}: {report.applied} actions applied, {report.already_recorded} already recorded, {len(report.problems)} refused"
    )
    if report.problems:
        raise InputError(
            f"{len(report.problems)} action(s) of {file} were refused", list(report.problems)
        )


def _echo_decisions(decisions: list[Decision]) -> None:
    if not decisions:
        click.echo("recorded; nothing changed")
    for d in decisions:
        click.echo(f"{d.on} {_describe(d.to_event())}")


def case_text(
    view: CaseView,
    who: str | None = None,
    notices: Sequence[NoticeStep] = (),
    words: GuardWords | None = None,
) -> str:
    """The case as text; ``who``: its subject as a person reads it (school and pupil by name),
    else the ids; ``notices``: the penalty-notice register's steps, told among the history
    by date (issue 15); ``words``: a guard in words, where one is said so (``otherwise``)."""
    if view.status == "open":
        status = f"open since {view.opened_on}"
    elif view.opened_on is None:
        status = "no case was ever opened (events recorded only)"
    else:
        status = f"closed on {view.closed_on}"
    lines = [
        f"{who or f'{view.school} {view.pupil}'}: case {view.case_id}, {status}",
        f"stage {view.stage} ({view.state}); flow {view.flow} version {view.flow_version[:12]}",
        "",
        "history (why each step happened):",
    ]
    told = [((e.on, e.at), _entry(e, words)) for e in view.history]
    told = interleave(told, [((n.on, n.placed), _notice_entry(n)) for n in notices], _key)
    for _, entry_lines in told:
        lines.extend(entry_lines)
    lines.append("")
    lines.append("open tasks:" if view.open_tasks else "open tasks: none")
    for t in view.open_tasks:
        late = f", {t.overdue_days} school days overdue" if t.overdue_days else ""
        approval = ", approval needed" if t.approval else ""
        lines.append(f"  task {t.id}: {t.task} ({t.role}), due {t.due}{late}{approval}")
    lines.append("pending timers:" if view.pending_timers else "pending timers: none")
    for timer in view.pending_timers:
        lines.append(
            f"  {timer.timer} due {timer.due} (fires {timer.fire_at.isoformat()}; {timer.rule})"
        )
    if view.broken_chain:
        lines.append(
            f"WARNING: the history's hash chain does not hold at records {list(view.broken_chain)}"
        )
    return "\n".join(lines)


#: A guard in words, given the facts its decision recorded (None: no words for it).
GuardWords = Callable[[str, Mapping[str, Any]], "str | None"]


def _otherwise_words(flow: Flow) -> GuardWords:
    """Words for a step taken because no other condition held (recorded as the formula
    ``otherwise: not (...)``); any other rule stays the plan's own formula, as written."""
    from escalation_flow.web.guard_words import OTHERWISE, guard_sentence

    def say(guard: str, facts: Mapping[str, Any]) -> str | None:
        return guard_sentence(flow, guard, facts) if guard.startswith(OTHERWISE) else None

    return say


def _key(told: tuple[tuple[date, datetime], list[str]]) -> tuple[date, datetime]:
    return told[0]


def _notice_entry(step: NoticeStep) -> list[str]:
    """A step of the penalty-notice register, marked ``PN`` where a record has its number."""
    v = step.version
    return [
        f"   PN  {step.on}  {step.text(date.isoformat)} [by {v.recorded_by}, recorded "
        f"{v.recorded_at:%Y-%m-%d %H:%M} UTC]"
    ]


def _entry(entry: HistoryEntry, words: GuardWords | None = None) -> list[str]:
    event = dict(entry.event)
    who = "" if entry.actor == "engine" else f" [by {entry.actor}]"
    out = [f"  {entry.seq:>3}  {entry.on}  {_describe(event)}{who}"]
    reason = event.get("reason")
    if isinstance(reason, dict) and reason:
        facts = ", ".join(f"{k} = {v}" for k, v in reason.items())
        out.append(f"         because: {facts}")
    if event.get("guard"):
        guard = str(event["guard"])
        said = words(guard, reason if isinstance(reason, dict) else {}) if words else None
        out.append(f"         rule: {said or guard}")
    if event.get("quote"):
        out.append(f'         plan: "{event["quote"]}"')
    return out


def _describe(event: dict[str, object]) -> str:
    kind = str(event.get("type"))
    e = event.get
    described = {
        "case_opened": lambda: f"case opened ({e('flow')})",
        "stage_entered": lambda: (
            f"entered stage {e('stage')} ({e('state')}) from stage {e('from_stage')}, on {e('trigger')}"
        ),
        "state_entered": lambda: f"moved to {e('state')}, on {e('trigger')}",
        "task_created": lambda: (
            f"task {e('task')} for {e('role')}, due {e('due')}"
            + (" (approval needed)" if e("approval") else "")
        ),
        "task_completed": lambda: (
            f"task {e('task')} done: {e('outcome')}" + (f" ({e('note')})" if e("note") else "")
        ),
        "task_superseded": lambda: f"task {e('task')} superseded: {e('why')}",
        "timer_armed": lambda: f"review {e('timer')} set for {e('due')} ({e('rule')})",
        "timer_fired": lambda: f"review {e('timer')} came due",
        "timer_cancelled": lambda: f"review {e('timer')} cancelled: {e('why')}",
        "event_recorded": lambda: (
            f"{e('event')} recorded"
            + (f": {e('outcome')}" if e("outcome") else "")
            + (f" ({e('note')})" if e("note") else "")
        ),
        "stage_overridden": lambda: (
            f"stage overridden to {e('stage')} (from {e('from_stage')}) by {e('by')}: {e('reason_text')}"
        ),
        "case_closed": lambda: f"case closed, on {e('trigger')}",
    }.get(kind)
    return described() if described else kind.replace("_", " ")

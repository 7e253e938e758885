"""The worklist across schools as light rows: whose it is, filtered, sorted and cut into pages.

A trust of 30 schools has tens of thousands of open tasks; the page shows fifty. So the whole
scope is held as small rows (the service's ``TaskView`` with the pupil's name, year group and
the case's stage), filtered and sorted there, and only the rows of the page asked for become
full task cards (``worklist.task_item``: the plan's words, buttons, acknowledgements).

Whose tasks: every open task the viewer may record (``Principal.may_complete``): their own
roles' tasks, and at a school they lead (attendance lead, headteacher, the trust's attendance
team everywhere) every task of the school, which is what the command line's ``tasks`` counts.
A safeguarding task someone may not see is left out unless it is for their own role: that a
pupil has one is itself a safeguarding detail.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache, partial
from typing import Any

from escalation_flow.core.access import Principal, role_title
from escalation_flow.ports import OpenCase
from escalation_flow.service.views import TaskView
from escalation_flow.web.filters import humanize
from escalation_flow.web.plan_words import stage_name
from escalation_flow.web.safeguarding import is_safeguarding_task, safeguarding_states
from escalation_flow.web.school_data import flow_of, roster_of, school_name
from escalation_flow.web.task_query import MINE, TaskQuery
from escalation_flow.web.webapp import WebApp


@dataclass(frozen=True)
class WorkRow:
    """One open task as the worklist filters and sorts it (no plan text, no buttons yet)."""

    view: TaskView
    school_name: str
    pupil_name: str
    sort_name: str  # surname then forename, lower case
    year_group: str
    stage: int | None  # None: no open case, or a stage this viewer may not see
    stage_label: str
    case_version: str
    title: str
    mine: bool  # for one of the viewer's own roles (not only theirs to record as a leader)
    hidden: bool  # a safeguarding task whose details this viewer may not see

    @property
    def overdue(self) -> bool:
        return self.view.overdue_days > 0


@dataclass(frozen=True)
class Facets:
    """How many tasks of the viewer's whole scope each filter value would show."""

    schools: list[tuple[str, str, int]]  # (id, name, count)
    years: list[tuple[str, int]]
    stages: list[tuple[int, str, int]]
    roles: list[tuple[str, str, int]]
    kinds: list[tuple[str, int]]
    overdue: int
    mine: int
    total: int


@dataclass(frozen=True)
class WorkPage:
    rows: list[WorkRow]
    matched: int  # tasks the filters select, every page
    page: int
    pages: int
    first: int  # 1-based position of the page's first row (0 when empty)
    facets: Facets
    query: TaskQuery = field(default_factory=TaskQuery)

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0


@dataclass(frozen=True)
class _Base:
    """A task as every viewer's row starts (cached per school until the work stamp changes)."""

    view: TaskView
    pupil_name: str
    sort_name: str
    year_group: str
    case: OpenCase | None
    title: str
    safeguarding: bool


@dataclass(frozen=True)
class Scope:
    """One viewer's whole worklist, in due order, with its filter counts."""

    rows: list[WorkRow]
    facets: Facets


def scope_rows(web: WebApp, user: Principal, today: date) -> list[WorkRow]:
    """Every open task this person may record, at every school they read, in due order."""
    return scope(web, user, today).rows


def scope(web: WebApp, user: Principal, today: date) -> Scope:
    """The viewer's worklist, built again only where the store changed: each school's rows are
    kept under that school's stamp (``PageReads.work_stamps``) and the import stamp, once for
    everyone and once per viewer's grants, and the viewer's whole list under the stamps of
    their schools. At 26,000 open tasks building the rows is the expensive part; a page of
    them, filtered and sorted, is cheap; a completion at one school rebuilds one school. The
    rows read the roster (names, year groups), never the marks: an import of marks alone
    leaves them standing (the evening that follows it changes the schools' stamps)."""
    imported = web.reads.roster_stamp()
    stamps = web.reads.work_stamps()
    schools = [s for s in user.readable_schools(web.service.trust.schools) if user.can_write(s)]
    key = (imported, today, tuple(stamps.get(s, ()) for s in schools))
    return web.stamped(("work-scope", user.grants), key,
                       partial(_build_scope, web, user, today, schools, imported, stamps))  # fmt: skip


def _build_scope(
    web: WebApp,
    user: Principal,
    today: date,
    schools: list[str],
    imported: int,
    stamps: Mapping[str, tuple[int, ...]],
) -> Scope:
    rows: list[WorkRow] = []
    for school in schools:
        stamp = (imported, today, stamps.get(school, ()))
        base = web.stamped(
            ("work-base", school), stamp, partial(_school_base, web, school, imported)
        )
        rows.extend(
            web.stamped(("work-rows", school, user.grants), stamp,
                        partial(_row_list, web, user, school, base))
        )  # fmt: skip
    rows.sort(key=_SORT_KEYS["due"])
    return Scope(rows, facets(rows))


def _school_base(web: WebApp, school: str, imported: int) -> list[_Base]:
    roster = roster_of(web, school, imported)
    cases = {c.pupil: c for c in web.reads.open_cases(school)}
    out: list[_Base] = []
    for v in web.service.tasks(school=school):
        record = roster.pupils.get(v.pupil)
        forename, surname = (record.forename, record.surname) if record else ("", "")
        out.append(
            _Base(
                view=v,
                pupil_name=f"{forename} {surname}".strip() or v.pupil,
                sort_name=f"{surname} {forename} {v.pupil}".strip().lower(),
                year_group=record.year_group if record else "",
                case=cases.get(v.pupil),
                title=_title(v.template or v.task, v.kind),
                safeguarding=is_safeguarding_task(v.role, v.task),
            )
        )
    return out


def _row_list(web: WebApp, user: Principal, school: str, base: list[_Base]) -> list[WorkRow]:
    return list(_school_rows(web, user, school, base))


def _school_rows(web: WebApp, user: Principal, school: str, base: list[_Base]) -> Iterable[WorkRow]:
    flow = flow_of(web, school)
    sees = user.sees_safeguarding(school)
    leader = user.is_leader(school)
    hidden_states = frozenset() if sees else safeguarding_states(flow)
    name = school_name(web, school)
    mine = _memo(lambda role, year: user.is_mine(school, role, year))
    readable = _memo(lambda year: user.can_read_pupil(school, year))
    labels = _memo(lambda stage: f"case at {stage_name(flow, stage)}")
    for b in base:
        v = b.view
        year = b.year_group
        if v.pupil and not readable(year or None):
            continue
        own = mine(v.role, year or None)
        hidden = not sees and b.safeguarding
        if not own and (not leader or hidden):
            continue
        case = b.case
        stage: int | None = None
        if case is None:
            label = "no open case"
        elif case.state in hidden_states:
            label = "restricted stage"
        else:
            stage, label = case.stage, labels(case.stage)
        yield WorkRow(
            view=v,
            school_name=name,
            pupil_name=b.pupil_name,
            sort_name=b.sort_name,
            year_group=year,
            stage=stage,
            stage_label=label,
            case_version=case.flow_version if case is not None else "",
            title="Safeguarding task" if hidden else b.title,
            mine=own,
            hidden=hidden,
        )


def _memo(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Per-school answers that repeat for thousands of rows (one per role and year group)."""
    return lru_cache(maxsize=None)(fn)


@lru_cache(maxsize=2048)
def _title(name: str, kind: str) -> str:
    title = humanize(name)
    if kind == "letter" and "letter" not in title.lower():
        title += " (letter)"
    return title


def _year_number(year: str) -> tuple[int, str]:
    return (int(year), year) if year.isdigit() else (99, year)


_SORT_KEYS: dict[str, Callable[[WorkRow], Any]] = {
    "due": lambda r: (r.view.due, r.school_name, r.sort_name, r.view.id),
    "school": lambda r: (r.school_name, r.view.due, r.sort_name, r.view.id),
    "pupil": lambda r: (r.sort_name, r.view.due, r.view.id),
    "year": lambda r: (_year_number(r.year_group), r.view.due, r.sort_name, r.view.id),
    "stage": lambda r: (r.stage or 0, r.view.due, r.sort_name, r.view.id),
    "task": lambda r: (r.title, r.view.due, r.sort_name, r.view.id),
    "role": lambda r: (role_title(r.view.role), r.view.due, r.sort_name, r.view.id),
}


def matches(row: WorkRow, query: TaskQuery) -> bool:
    """Whether the row passes every filter of the query."""
    v = row.view
    return (
        (not query.school or v.school == query.school)
        and (not query.year or row.year_group == query.year)
        and (not query.stage or row.stage == int(query.stage))
        and (not query.role or (row.mine if query.role == MINE else v.role == query.role))
        and (not query.kind or v.kind == query.kind)
        and (not query.overdue or row.overdue)
    )


def select(rows: list[WorkRow], query: TaskQuery) -> list[WorkRow]:
    """The rows the query's filters select, in the query's order (every page)."""
    chosen = [r for r in rows if matches(r, query)]
    if query.sort != "due" or query.desc:
        chosen.sort(key=_SORT_KEYS[query.sort], reverse=query.desc)
    return chosen


def facets(rows: list[WorkRow]) -> Facets:
    schools: dict[str, tuple[str, int]] = {}
    years: Counter[str] = Counter()
    stages: dict[int, tuple[str, int]] = {}
    stage_labels: dict[int, set[str]] = {}
    roles: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    overdue = mine = 0
    for r in rows:
        name, n = schools.get(r.view.school, (r.school_name, 0))
        schools[r.view.school] = (name, n + 1)
        if r.year_group:
            years[r.year_group] += 1
        if r.stage is not None:
            label, n = stages.get(r.stage, (r.stage_label.removeprefix("case at "), 0))
            stages[r.stage] = (label, n + 1)
            stage_labels.setdefault(r.stage, set()).add(r.stage_label.removeprefix("case at "))
        roles[r.view.role] += 1
        kinds[r.view.kind] += 1
        overdue += r.overdue
        mine += r.mine
    return Facets(
        schools=sorted(((s, n, c) for s, (n, c) in schools.items()), key=lambda t: t[1]),
        years=sorted(years.items(), key=lambda t: _year_number(t[0])),
        # schools' plans name their stages differently: then only the number is common
        stages=sorted(
            (s, label if len(stage_labels[s]) == 1 else f"Stage {s}", c)
            for s, (label, c) in stages.items()
        ),
        roles=sorted(((r, role_title(r), c) for r, c in roles.items()), key=lambda t: t[1]),
        kinds=sorted(kinds.items()),
        overdue=overdue,
        mine=mine,
        total=len(rows),
    )


def work_page(whole: Scope, query: TaskQuery) -> WorkPage:
    """The page of the selection the query asks for (the last page when it asks beyond it)."""
    chosen = select(whole.rows, query)
    pages = max(1, -(-len(chosen) // query.size))
    page = min(query.page, pages)
    start = (page - 1) * query.size
    shown = chosen[start : start + query.size]
    return WorkPage(
        rows=shown,
        matched=len(chosen),
        page=page,
        pages=pages,
        first=start + 1 if shown else 0,
        facets=whole.facets,
        query=query,
    )

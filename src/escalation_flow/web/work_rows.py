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

import gc
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import cache, lru_cache, partial
from typing import Any, NamedTuple

from escalation_flow.core.access import Principal, role_title
from escalation_flow.ports import WorkTask
from escalation_flow.service.views import TaskView
from escalation_flow.web.filters import humanize
from escalation_flow.web.plan_words import stage_name
from escalation_flow.web.safeguarding import is_safeguarding_task, safeguarding_states
from escalation_flow.web.school_data import flow_of, school_name
from escalation_flow.web.task_query import MINE, TaskQuery
from escalation_flow.web.webapp import WebApp


class WorkRow(NamedTuple):
    """One open task as the worklist filters and sorts it (no plan text, no buttons yet): a
    tuple over the store's row, since a trust's scope holds 26,000 and a page shows fifty; the
    service's ``TaskView`` is made only for the rows that need it (``view``)."""

    task: WorkTask
    overdue_days: int  # school days past due, as ``Service.tasks`` counts them
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
    #: where the task's view is kept once made, shared by every viewer's row of the task
    slot: ViewSlot | None = None

    @property
    def overdue(self) -> bool:
        return self.overdue_days > 0

    @property
    def view(self) -> TaskView:
        """The task as ``Service.tasks`` gives it, made when first asked for (a page's fifty
        rows, a bulk action's selection) rather than for every open task of the trust."""
        slot = self.slot
        if slot is None:
            return task_view(self.task, self.overdue_days)
        if slot.view is None:  # two threads may both make it: the same value
            slot.view = task_view(self.task, self.overdue_days)
        return slot.view


class ViewSlot:
    """A task's ``TaskView``, once made (kept with the school's base rows)."""

    __slots__ = ("view",)

    def __init__(self) -> None:
        self.view: TaskView | None = None


def task_view(w: WorkTask, overdue_days: int) -> TaskView:
    """The ``TaskView`` ``Service.tasks`` makes of the same row (a test holds them equal)."""
    return TaskView(
        id=w.id, school=w.school, pupil=w.pupil, task=w.task, role=w.role, kind=w.kind, due=w.due,
        status=w.status, approval=w.approval, created_on=w.created_on, case_id=w.case_id,
        key=w.key, template=w.template, overdue_days=overdue_days, completed_by=w.completed_by,
        completed_at=w.completed_at, outcome=w.outcome, note=w.note, letter_id=w.letter_id,
        letter_status=w.letter_status, covers=tuple(filter(None, (w.covers or "").split(","))),
    )  # fmt: skip


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


class _Base(NamedTuple):
    """A task as every viewer's row starts (cached per school until the work stamp changes)."""

    task: WorkTask
    overdue_days: int
    pupil_name: str
    sort_name: str
    year_group: str
    title: str
    safeguarding: bool
    slot: ViewSlot


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
    with _no_collection():
        return _scope_of(web, user, today, schools, imported, stamps)


@contextmanager
def _no_collection() -> Iterator[None]:
    """The garbage collector paused while a scope is built: its rows are tuples of strings,
    numbers and shared objects (no cycles to collect), but tens of thousands of them made at
    once set off full collections over the whole heap, a third of a rebuild's time after an
    import. Turned back on after, unless something else had it off."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _scope_of(
    web: WebApp,
    user: Principal,
    today: date,
    schools: list[str],
    imported: int,
    stamps: Mapping[str, tuple[int, ...]],
) -> Scope:
    keys = {school: (imported, today, stamps.get(school, ())) for school in schools}
    bases = _bases(web, keys)
    rows: list[WorkRow] = []
    for school in schools:
        rows.extend(
            web.stamped(("work-rows", school, user.grants), keys[school],
                        partial(_row_list, web, user, school, bases[school]))
        )  # fmt: skip
    rows.sort(key=_SORT_KEYS["due"])
    return Scope(rows, facets(rows))


class _Kept:
    """A school's base rows as kept under its stamp; ``rows`` None until read (the schools
    whose stamps changed are read together, in one query, after every school was looked up)."""

    rows: list[_Base] | None = None


def _bases(web: WebApp, keys: Mapping[str, Hashable]) -> dict[str, list[_Base]]:
    """Each school's base rows: kept ones where the school's stamp is unchanged; the others read
    in one go (one query for every school after an import, one school's after a completion)."""
    kept = {school: web.stamped(("work-base", school), key, _Kept) for school, key in keys.items()}
    stale = [school for school, k in kept.items() if k.rows is None]
    if stale:
        read = _read_bases(web, stale)
        for school in stale:
            kept[school].rows = read.get(school, [])
    return {school: k.rows or [] for school, k in kept.items()}


def _read_bases(web: WebApp, schools: list[str]) -> dict[str, list[_Base]]:
    late = _late_counter(web)
    return {
        school: [_base(w, late) for w in found]
        for school, found in web.reads.work_tasks(schools).items()
    }


def _base(w: WorkTask, late: Callable[[str, date], int]) -> _Base:
    forename, surname = w.forename or "", w.surname or ""
    return _Base(
        w,
        late(w.school, w.due),
        f"{forename} {surname}".strip() or w.pupil,
        f"{surname} {forename} {w.pupil}".strip().lower(),
        w.year_group or "",
        _title(w.template or w.task, w.kind),
        _safeguarding(w.role, w.task),
        ViewSlot(),
    )


def _late_counter(web: WebApp) -> Callable[[str, date], int]:
    """School days past due, as ``Service.tasks`` counts a task's ``overdue_days`` (the service's
    clock, the school's calendar and zone; a test holds the two to the same views): once per
    school and due day, of which 26,000 open tasks have a few hundred."""
    now = web.service.now()

    @cache
    def late(school: str, due: date) -> int:
        setup = web.service.setup(school)
        today = setup.local_date(now)
        if today <= due:
            return 0
        # due on a day that has passed: at least one school day late, even over a weekend
        return max(1, setup.calendar.school_days_between(due, today))

    return late


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
        v = b.task
        year = b.year_group
        if v.pupil and not readable(year or None):
            continue
        own = mine(v.role, year or None)
        hidden = not sees and b.safeguarding
        if not own and (not leader or hidden):
            continue
        stage: int | None = None
        if v.case_state is None:  # the pupil has no open case (or the task no pupil)
            label = "no open case"
        elif v.case_state in hidden_states:
            label = "restricted stage"
        else:
            stage, label = v.case_stage, labels(v.case_stage)
        version = v.case_version or ""
        title = "Safeguarding task" if hidden else b.title
        yield WorkRow(v, b.overdue_days, name, b.pupil_name, b.sort_name, year, stage, label,
                      version, title, own, hidden, b.slot)  # fmt: skip


def _memo(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Per-school answers that repeat for thousands of rows (one per role and year group)."""
    return lru_cache(maxsize=None)(fn)


@lru_cache(maxsize=2048)
def _safeguarding(role: str, task: str) -> bool:
    """``is_safeguarding_task``, asked once per role and task name (a trust's plans have a few
    hundred) rather than once per open task."""
    return is_safeguarding_task(role, task)


@lru_cache(maxsize=2048)
def _title(name: str, kind: str) -> str:
    title = humanize(name)
    if kind == "letter" and "letter" not in title.lower():
        title += " (letter)"
    return title


def _year_number(year: str) -> tuple[int, str]:
    return (int(year), year) if year.isdigit() else (99, year)


_SORT_KEYS: dict[str, Callable[[WorkRow], Any]] = {
    "due": lambda r: (r.task.due, r.school_name, r.sort_name, r.task.id),
    "school": lambda r: (r.school_name, r.task.due, r.sort_name, r.task.id),
    "pupil": lambda r: (r.sort_name, r.task.due, r.task.id),
    "year": lambda r: (_year_number(r.year_group), r.task.due, r.sort_name, r.task.id),
    "stage": lambda r: (r.stage or 0, r.task.due, r.sort_name, r.task.id),
    "task": lambda r: (r.title, r.task.due, r.sort_name, r.task.id),
    "role": lambda r: (role_title(r.task.role), r.task.due, r.sort_name, r.task.id),
}


def matches(row: WorkRow, query: TaskQuery) -> bool:
    """Whether the row passes every filter of the query."""
    v = row.task
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
        name, n = schools.get(r.task.school, (r.school_name, 0))
        schools[r.task.school] = (name, n + 1)
        if r.year_group:
            years[r.year_group] += 1
        if r.stage is not None:
            label, n = stages.get(r.stage, (r.stage_label.removeprefix("case at "), 0))
            stages[r.stage] = (label, n + 1)
            stage_labels.setdefault(r.stage, set()).add(r.stage_label.removeprefix("case at "))
        roles[r.task.role] += 1
        kinds[r.task.kind] += 1
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

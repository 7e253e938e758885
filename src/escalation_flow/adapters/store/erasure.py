"""Erasure under the retention policy, as a recorded, chained run that ``audit verify`` reads.

A run deletes what the plan (``core.retention``) made due: marks dated before the register
cutoff, closed cases with their history, tasks, timers, letters and outbox copies, and the
roster rows and contacts of pupils of whom nothing remains. In the same transaction it appends
one ``retention_run`` record to the ``retention`` chain (``chain_records``): who, when, the
policy and cutoffs, the counts, and exactly what it took away, by number rather than by name:

- ``seals``: each sealed import it took marks from, with how many rows it erased and the
  digest of the rows it left (a re-seal): verify checks the import's rows against that digest
  from then on, and the seal itself stays as written (its chain is untouched);
- ``cases``: each case id with its history's length, head hash and closing day;
- ``letters`` and ``tasks``: their ids (their later records hold digests only, and stay).

Nothing is erased whose seal or chain is already broken (that would launder an edit): the run
is refused first. Pupils' names and MIS ids are not written into the run.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select, tuple_
from sqlalchemy import case as when

from escalation_flow.adapters.store import records
from escalation_flow.adapters.store.audit_models import MarkSealRow
from escalation_flow.adapters.store.audit_store import mark_rows
from escalation_flow.adapters.store.cases import CASES, EVENTS, LETTERS, SCHOOLS, TASKS, TIMERS
from escalation_flow.adapters.store.cases import history as case_history
from escalation_flow.adapters.store.contact_models import Contact
from escalation_flow.adapters.store.models import Mark, Pupil, table_of
from escalation_flow.adapters.store.outbox import OUTBOX
from escalation_flow.adapters.store.report_models import LaNotification, MeetingAction
from escalation_flow.adapters.store.seals import MarkRow, mark_digest
from escalation_flow.adapters.store.staff_models import TaskAck
from escalation_flow.core.chain import broken_links
from escalation_flow.core.retention import CaseDates, RetentionPlan
from escalation_flow.errors import InputError

RETENTION_CHAIN = "retention"
RETENTION_RUN, RETENTION_HOLD, RETENTION_RELEASE = (
    "retention_run", "retention_hold", "retention_release",
)  # fmt: skip

MARKS, PUPILS, SEALS = table_of(Mark), table_of(Pupil), table_of(MarkSealRow)
CONTACTS, ACKS = table_of(Contact), table_of(TaskAck)
MEETING_ACTIONS, LA_NOTIFICATIONS = table_of(MeetingAction), table_of(LaNotification)

#: Every table a run deletes from or rewrites: what is vacuumed after it.
ERASED_TABLES = tuple(
    t.name
    for t in (MARKS, CASES, EVENTS, TASKS, ACKS, TIMERS, LETTERS, OUTBOX, CONTACTS, PUPILS,
              MEETING_ACTIONS, LA_NOTIFICATIONS)
)  # fmt: skip


@dataclass(frozen=True)
class Retired:
    """A seal's import after a run took rows from it: the rows and digest it holds now."""

    run: int  # the run record's seq on the retention chain
    erased: int  # rows erased from it, by every run so far
    kept: int
    kept_sha256: str


@dataclass
class Erasures:
    """Everything the recorded runs took away, as ``audit verify`` needs it."""

    seals: dict[tuple[str, int], Retired] = field(default_factory=dict)  # (school, import)
    imports: dict[int, int] = field(default_factory=dict)  # import id -> rows erased
    cases: dict[int, tuple[int, str]] = field(default_factory=dict)  # id -> (length, head)
    letters: set[int] = field(default_factory=set)
    tasks: set[int] = field(default_factory=set)
    runs: list[tuple[int, datetime, dict[str, Any]]] = field(default_factory=list)
    case_runs: dict[int, int] = field(default_factory=dict)  # case id -> the run that erased it

    def run_body(self, seq: int) -> dict[str, Any]:
        """The body of run ``seq`` (on the retention chain)."""
        return next(body for s, _, body in self.runs if s == seq)

    def marks_erased_after(self, instant: datetime) -> dict[str, int]:
        """Marks erased per school by the runs recorded after ``instant``."""
        out: dict[str, int] = defaultdict(int)
        for _, at, body in self.runs:
            if at > instant:
                for s in body.get("seals", []):
                    out[str(s["school"])] += int(s["erased"])
        return dict(out)


def erasures_of(rows: Iterable[records.StoredRecord]) -> Erasures:
    """The runs on the retention chain, folded (oldest first)."""
    out = Erasures()
    for r in rows:
        if r.kind != RETENTION_RUN:
            continue
        body = json.loads(r.body)
        out.runs.append((r.seq, r.recorded_at, body))
        for s in body.get("seals", []):
            key = (str(s["school"]), int(s["import"]))
            out.imports[key[1]] = out.imports.get(key[1], 0) + int(s["erased"])
            if s.get("seal") is not None:
                before = out.seals[key].erased if key in out.seals else 0
                out.seals[key] = Retired(
                    r.seq, before + int(s["erased"]), int(s["kept"]), str(s["kept_sha256"])
                )
        for c in body.get("cases", []):
            out.cases[int(c["case"])] = (int(c["length"]), str(c["head"]))
            out.case_runs[int(c["case"])] = r.seq
        out.letters |= {int(i) for i in body.get("letters", [])}
        out.tasks |= {int(i) for i in body.get("tasks", [])}
    return out


def retention_records(conn: Connection) -> list[records.StoredRecord]:
    """The retention chain's records, in ``seq`` order (not every chain's: a trust has many)."""
    r = records.RECORDS.c
    query = (
        select(r.chain, r.seq, r.kind, r.subject, r.body, r.at, r.recorded_at, r.prev_hash, r.hash)
        .where(r.chain == RETENTION_CHAIN)
        .order_by(r.seq)
    )
    return [records.StoredRecord(**row._asdict()) for row in conn.execute(query)]


def erasures(conn: Connection) -> Erasures:
    return erasures_of(retention_records(conn))


# -- the run -------------------------------------------------------------------------------------


def erase(conn: Connection, plan: RetentionPlan, by: str, now: datetime) -> dict[str, Any]:
    """Erase what ``plan`` made due and chain the run, in the connection's transaction; the
    run's record body. Refused (InputError, nothing erased) where a seal or a case's chain it
    would erase from no longer holds."""
    records.lock_chains(conn, [RETENTION_CHAIN])
    ids = {str(r.key): int(r.id) for r in conn.execute(select(SCHOOLS.c.key, SCHOOLS.c.id))}
    done = erasures(conn)
    seals = []
    for school in sorted({s for s, _ in plan.marks_due}):
        seals += _erase_marks(conn, school, ids[school], plan, done)
    cases, letters, tasks = _erase_cases(conn, plan.cases_due)
    pupils = _erase_pupils(conn, ids, plan.pupils_due)
    counts = {"marks": sum(int(s["erased"]) for s in seals), "cases": len(cases),
              "letters": len(letters), "tasks": len(tasks), "pupils": pupils}  # fmt: skip
    body: dict[str, Any] = {
        "by": by,
        "today": plan.today.isoformat(),
        "policy": plan.policy.as_dict(),
        "register_cutoff": plan.register_cutoff.isoformat(),
        "case_cutoff": plan.case_cutoff.isoformat(),
        "counts": counts,
        "seals": seals,
        "cases": cases,
        "letters": letters,
        "tasks": tasks,
    }  # fmt: skip
    seq = len(retention_records(conn)) + 1  # the record's own seq: the run's number
    records.append(
        conn, [records.NewRecord(RETENTION_CHAIN, RETENTION_RUN, f"run {seq}", body, now)], now
    )
    detail = ", ".join(f"{v} {k}" for k, v in counts.items())
    records.insert_audit(
        conn, {"at": now, "actor": by[:64], "action": "retention_run", "detail": detail}, now
    )
    return body | {"run": seq}


def _erase_marks(
    conn: Connection, school: str, school_id: int, plan: RetentionPlan, done: Erasures
) -> list[dict[str, Any]]:
    m = MARKS.c
    cutoff = plan.register_cutoff
    held = {p for (s, p) in plan.held if s == school}
    held_ids = _pupil_ids(conn, school_id, held)
    old = select(m.import_id).where(m.school_id == school_id, m.date < cutoff).distinct()
    imports = sorted(int(i) for (i,) in conn.execute(old))
    rows = mark_rows(conn, school_id, imports)
    sealed = {
        int(r.import_id): (int(r.seq), int(r.rows), str(r.digest))
        for r in conn.execute(select(SEALS).where(SEALS.c.school_id == school_id))
    }
    out: list[dict[str, Any]] = []
    for import_id in imports:
        now_rows = rows.get(import_id, [])
        _check_sealed(school, import_id, now_rows, sealed.get(import_id), done)
        kept = [r for r in now_rows if r.day >= cutoff or r.pupil in held]
        seal = sealed.get(import_id)
        out.append({
            "school": school, "import": import_id, "seal": None if seal is None else seal[0],
            "erased": len(now_rows) - len(kept), "kept": len(kept),
            "kept_sha256": mark_digest(kept),
        })  # fmt: skip
    gone = delete(MARKS).where(m.school_id == school_id, m.date < cutoff, m.import_id.in_(imports))
    if held_ids:
        gone = gone.where(m.pupil_id.not_in(sorted(held_ids)))
    erased = conn.execute(gone).rowcount
    if erased != sum(int(e["erased"]) for e in out):
        raise InputError(f"{school}: the marks changed while they were being erased; nothing was")
    return [e for e in out if e["erased"]]


def _check_sealed(
    school: str,
    import_id: int,
    rows: Sequence[MarkRow],
    seal: tuple[int, int, str] | None,
    done: Erasures,
) -> None:
    """Refuse to erase from an import whose rows are not what it was sealed (or last
    re-sealed by a run) with: ``audit verify`` names what changed."""
    if seal is None:
        return
    retired = done.seals.get((school, import_id))
    count, digest = (retired.kept, retired.kept_sha256) if retired else (seal[1], seal[2])
    if len(rows) != count or mark_digest(rows) != digest:
        raise InputError(
            f"the marks of {school}'s import {import_id} are not as they were sealed: run "
            "`escalation-flow audit verify`; nothing was erased"
        )


def _pupil_ids(conn: Connection, school_id: int, pupils: Collection[str]) -> set[int]:
    if not pupils:
        return set()
    p = PUPILS.c
    query = select(p.id).where(p.school_id == school_id, p.mis_id.in_(sorted(pupils)))
    return {int(i) for (i,) in conn.execute(query)}


def _erase_cases(
    conn: Connection, cases: Sequence[CaseDates]
) -> tuple[list[dict[str, Any]], list[int], list[int]]:
    out, letters, tasks = [], [], []
    for case in cases:
        _check_chain(conn, case)
        cid = case.case_id
        task_ids = [
            int(i) for (i,) in conn.execute(select(TASKS.c.id).where(TASKS.c.case_id == cid))
        ]
        letter_ids = [
            int(i) for (i,) in conn.execute(select(LETTERS.c.id).where(LETTERS.c.case_id == cid))
        ]
        if letter_ids:
            conn.execute(delete(OUTBOX).where(OUTBOX.c.letter_id.in_(letter_ids)))
            conn.execute(delete(LETTERS).where(LETTERS.c.id.in_(letter_ids)))
        if task_ids:
            conn.execute(delete(ACKS).where(ACKS.c.task_id.in_(task_ids)))
            conn.execute(delete(TASKS).where(TASKS.c.id.in_(task_ids)))
        conn.execute(delete(TIMERS).where(TIMERS.c.case_id == cid))
        conn.execute(delete(EVENTS).where(EVENTS.c.case_id == cid))
        gone = conn.execute(
            delete(CASES).where(CASES.c.id == cid, CASES.c.status == "closed",
                                CASES.c.length == case.length)
        ).rowcount  # fmt: skip
        if gone != 1:
            raise InputError(f"case {cid} changed while it was being erased; nothing was erased")
        out.append({"case": cid, "length": case.length, "head": case.head,
                    "closed_on": None if case.closed_on is None else case.closed_on.isoformat()})  # fmt: skip
        letters += letter_ids
        tasks += task_ids
    return out, sorted(letters), sorted(tasks)


def _check_chain(conn: Connection, case: CaseDates) -> None:
    name = f"{case.school}/{case.pupil}"  # as the history chains it (``core.chain``)
    rows = case_history(conn, case.case_id)
    broken = broken_links((r.link(name), r.hash) for r in rows)
    if broken or len(rows) != case.length or (rows and rows[-1].hash != case.head):
        raise InputError(
            f"the history of case {case.case_id} does not verify: run `escalation-flow audit "
            "verify`; nothing was erased"
        )


def _erase_pupils(
    conn: Connection, ids: Mapping[str, int], pupils: Sequence[tuple[str, str]]
) -> int:
    """Roster rows and contacts of pupils of whom nothing remains."""
    if not pupils:
        return 0
    keys = [(ids[s], p) for s, p in pupils]
    c, p, a = CONTACTS.c, PUPILS.c, MEETING_ACTIONS.c
    count = 0
    for start in range(0, len(keys), 500):
        part = keys[start : start + 500]
        conn.execute(delete(CONTACTS).where(tuple_(c.school_id, c.pupil).in_(part)))
        named = list(pupils[start : start + 500])
        conn.execute(delete(MEETING_ACTIONS).where(tuple_(a.school, a.pupil).in_(named)))
        count += conn.execute(
            delete(PUPILS).where(tuple_(p.school_id, p.mis_id).in_(part))
        ).rowcount
    _unname_in_returns(conn, pupils)
    return int(count)


def _unname_in_returns(conn: Connection, pupils: Sequence[tuple[str, str]]) -> None:
    """Take erased pupils' ids out of the monthly returns' lists of pupils named. The row stays
    (the month, who sent it, when, and the digest of the CSV the local authority holds): that a
    return was sent is the school's record, and the local authority keeps its own copy."""
    gone: dict[str, set[str]] = defaultdict(set)
    for school, pupil in pupils:
        gone[school].add(pupil)
    n = LA_NOTIFICATIONS.c
    for school, ids in sorted(gone.items()):
        for row_id, named in conn.execute(select(n.id, n.pupils).where(n.school == school)):
            lines = str(named).splitlines()
            kept = [line for line in lines if line.strip() not in ids]
            if len(kept) != len(lines):
                conn.execute(
                    LA_NOTIFICATIONS.update()
                    .where(n.id == row_id)
                    .values(pupils="\n".join(kept))
                )


# -- what the plan reads ---------------------------------------------------------------------------


def case_dates(conn: Connection) -> list[CaseDates]:
    c, s = CASES.c, SCHOOLS.c
    query = select(s.key, c.pupil, c.id, c.status, c.closed_on, c.length, c.head_hash).join(
        SCHOOLS, s.id == c.school_id
    )
    return [
        CaseDates(str(r.key), str(r.pupil), int(r.id), r.status != "closed", r.closed_on,
                  int(r.length), str(r.head_hash))
        for r in conn.execute(query)
    ]  # fmt: skip


def pupil_marks(conn: Connection, cutoff: date) -> list[tuple[str, str, int, date | None]]:
    """Each pupil with marks: (school, pupil, marks dated before ``cutoff``, newest mark's day)."""
    m, p, s = MARKS.c, PUPILS.c, SCHOOLS.c
    old = func.sum(when((m.date < cutoff, 1), else_=0))
    counted = (
        select(m.school_id, m.pupil_id, old.label("old"), func.max(m.date).label("newest"))
        .group_by(m.school_id, m.pupil_id)
        .subquery()
    )
    query = (
        select(s.key, p.mis_id, counted.c.old, counted.c.newest)
        .join(PUPILS, p.id == counted.c.pupil_id)
        .join(SCHOOLS, s.id == counted.c.school_id)
    )
    return [(str(r[0]), str(r[1]), int(r[2] or 0), r[3]) for r in conn.execute(query)]


# -- what a checkpoint holds of retention ----------------------------------------------------------


def case_states(conn: Connection) -> dict[int, tuple[str, date | None]]:
    """Each case id's status and closing day, as a checkpoint anchors them: a later run may
    erase only a case the checkpoint saw closed before the run's case cutoff."""
    c = CASES.c
    return {
        int(r.id): (str(r.status), r.closed_on)
        for r in conn.execute(select(c.id, c.status, c.closed_on))
    }


def marks_by_day(conn: Connection) -> dict[int, dict[date, int]]:
    """Stored mark versions per school id and register day: a later run may take marks only
    from days before its register cutoff."""
    m = MARKS.c
    query = select(m.school_id, m.date, func.count()).group_by(m.school_id, m.date)
    out: dict[int, dict[date, int]] = defaultdict(dict)
    for sid, day, n in conn.execute(query):
        out[int(sid)][day if isinstance(day, date) else date.fromisoformat(str(day))] = int(n)
    return dict(out)

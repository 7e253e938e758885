"""Writing what the engine decided: history records, case rows, tasks and timers, in bulk.

Everything a school day (or one staff action, or one timer) decided is written by one call, in
the caller's transaction, as a handful of ``executemany`` statements (Core, not ORM objects):
a day of a trust is tens of thousands of records.

On PostgreSQL the many-row inserts go by ``COPY`` (``pg_rows``), with the ids the caller needs
drawn from the table's sequence first, and the case rows' many updates are one ``UPDATE`` from
arrays; the other updates (a few rows a school day) stay ``executemany``.

Concurrency: a case row is updated only if its history is still as long as when it was read,
and a history record's ``(case_id, seq)`` is unique, so two writers appending to the same case
cannot both succeed; a task or timer changes only from ``open``/``pending``. Any of these
failing raises ``ConflictError`` and the caller's transaction is rolled back whole.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from escalation_flow.adapters.store import pg_rows, sqlite_rows
from escalation_flow.adapters.store.case_statements import CASE_COLUMNS, LETTER, statements
from escalation_flow.adapters.store.cases import (
    CASES,
    EVENT_COLUMNS,
    EVENTS,
    SCHOOL_DAYS,
    TASKS,
    TIMERS,
)
from escalation_flow.adapters.store.snapshots import case_to_json
from escalation_flow.core.chain import body_of, instant_text, link_hash
from escalation_flow.core.decisions import (
    ActionUndone,
    TaskCompleted,
    TaskCreated,
    TaskSuperseded,
    TimerArmed,
    TimerCancelled,
    TimerFired,
)
from escalation_flow.core.marks import to_micros
from escalation_flow.core.school_day import UniversalTask
from escalation_flow.core.undo import reversed_rows, superseded_why
from escalation_flow.errors import ConflictError
from escalation_flow.stored import (
    CLOSED,
    OPEN,
    TASK_LAPSED,
    TASK_OPEN,
    TIMER_PENDING,
    CaseChange,
    CreatedTask,
    Written,
)


class HistoryWriter:
    """Writes changes for one school, in the connection's transaction, stamped ``now``."""

    def __init__(
        self,
        conn: Connection,
        *,
        school_id: int,
        school: str,
        flow: str,
        flow_version: str,
        now: datetime,
        worker: str,
    ) -> None:
        self.conn = conn
        self.school_id = school_id
        self.school = school
        self.flow = flow
        self.flow_version = flow_version
        self.now = now
        self.worker = worker
        self._instants: dict[datetime, str] = {}

    def write(
        self, changes: Sequence[CaseChange], *, claimed: Collection[tuple[str, str]] = ()
    ) -> Written:
        """``claimed``: (pupil, timer key) of timers already flipped to fired by their claim."""
        changes = [c for c in changes if c.decisions]
        chains = [self._chain(c) for c in changes]
        try:
            case_ids = self._cases(changes, chains)
            records = self._history(changes, chains, case_ids)
            tasks = self._tasks(changes, case_ids)
            self._timers(changes, case_ids, claimed)
            self._undo(changes, case_ids)
        except IntegrityError as exc:
            raise ConflictError(
                f"school {self.school}: another worker changed these cases at the same time; "
                "nothing was written, try again"
            ) from exc
        heads = {c.after.pupil: chain[-1]["hash"] for c, chain in zip(changes, chains, strict=True)}
        return Written(case_ids, tasks, records, heads)

    # -- cases and their history ---------------------------------------------------------------

    def _case_values(self, change: CaseChange, head: str) -> dict[str, Any]:
        after = change.after
        return {
            "flow": after.flow or self.flow,
            "flow_version": after.flow_version or self.flow_version,
            "status": OPEN if after.is_open else CLOSED,
            "stage": after.stage if after.is_open else 0,
            "state": after.state,
            "opened_on": after.opened_on,
            "closed_on": after.closed_on,
            "updated_at": self.now,
            "length": after.length,
            "head_hash": head,
            "snapshot": case_to_json(after),
        }

    def _cases(
        self, changes: Sequence[CaseChange], chains: Sequence[list[dict[str, Any]]]
    ) -> dict[str, int]:
        ids: dict[str, int] = {}
        new_rows, updates = [], []
        for change, chain in zip(changes, chains, strict=True):
            values = self._case_values(change, chain[-1]["hash"])
            if change.before.id is None:
                new_rows.append(
                    {"school_id": self.school_id, "pupil": change.after.pupil, **values}
                )
            else:
                ids[change.after.pupil] = change.before.id
                updates.append(
                    {"b_id": change.before.id, "b_length": change.before.length, **values}
                )
        if new_rows and pg_rows.many(self.conn, new_rows):
            made = pg_rows.copy_with_ids(self.conn, CASES, new_rows)
            ids |= dict(zip((r["pupil"] for r in new_rows), made, strict=True))
        elif new_rows:
            for row in self.conn.execute(statements().new_cases, new_rows):
                ids[row.pupil] = row.id
        if pg_rows.many(self.conn, updates):  # one statement, not a bind and execute a row
            match = {"id": "b_id", "length": "b_length"}
            columns = [k for k in updates[0] if k not in match.values()]
            changed = pg_rows.update_rows(self.conn, CASES, match, columns, updates)
            self._expect(changed, len(updates))
        elif sqlite_rows.many(self.conn, updates):
            rows = ([u[c] for c in CASE_COLUMNS] + [u["b_id"], u["b_length"]] for u in updates)
            changed = sqlite_rows.update_rows(self.conn, CASES, CASE_COLUMNS, ("id", "length"), rows)
            self._expect(changed, len(updates))
        elif updates:
            self._expect(self.conn.execute(statements().case, updates).rowcount, len(updates))
        return ids

    def _chain(self, change: CaseChange) -> list[dict[str, Any]]:
        """The history rows of a change, hashed onto its case's chain."""
        rows = []
        previous, seq = change.before.head_hash, change.before.length
        name = f"{self.school}/{change.after.pupil}"
        flow_version, actor, now = self.flow_version, change.actor, self.now
        for d in change.decisions:
            seq += 1
            kind, body = d.type, body_of(d)
            # ``ChainLink.hash`` of these fields, without a frozen dataclass built per record
            # and the same instants' text worked out again for each
            digest = link_hash(
                name, seq, d.on.isoformat(), self._instant(d.at), kind, body, flow_version,
                actor, self._instant(now), previous,
            )  # fmt: skip
            rows.append(
                {
                    "case": name, "seq": seq, "on": d.on, "at": d.at, "type": kind, "body": body,
                    "flow_version": flow_version, "actor": actor, "recorded_at": now,
                    "prev_hash": previous, "hash": digest,
                }
            )  # fmt: skip
            previous = digest
        return rows

    def _instant(self, instant: datetime) -> str:
        """``instant_text``, once per instant a write meets (a day's records share a few)."""
        text = self._instants.get(instant)
        if text is None:
            text = self._instants[instant] = instant_text(instant)
        return text

    def _history(
        self,
        changes: Sequence[CaseChange],
        chains: Sequence[list[dict[str, Any]]],
        case_ids: dict[str, int],
    ) -> int:
        count = sum(len(chain) for chain in chains)
        if pg_rows.many(self.conn, range(count)):
            # tuples straight from the chain, the instants as UtcDateTime binds them: a day
            # writes tens of thousands of these
            rows = (
                _event_row(case_ids[change.after.pupil], r)
                for change, chain in zip(changes, chains, strict=True)
                for r in chain
            )
            pg_rows.copy_rows(self.conn, EVENTS, EVENT_COLUMNS, rows)
            return count
        if sqlite_rows.many(self.conn, range(count)):
            rows = (
                (case_ids[change.after.pupil], *(r[c] for c in EVENT_COLUMNS[1:]))
                for change, chain in zip(changes, chains, strict=True)
                for r in chain
            )
            sqlite_rows.insert_rows(self.conn, EVENTS, EVENT_COLUMNS, rows)
            return count
        dicts = []
        for change, chain in zip(changes, chains, strict=True):
            case_id = case_ids[change.after.pupil]
            for row in chain:
                values = {k: v for k, v in row.items() if k != "case"}
                dicts.append({"case_id": case_id, **values})
        if dicts:
            self.conn.execute(insert(EVENTS), dicts)
        return len(dicts)

    # -- tasks, timers, letters ----------------------------------------------------------------

    def _tasks(self, changes: Sequence[CaseChange], case_ids: dict[str, int]) -> list[CreatedTask]:
        created: list[tuple[int, CaseChange, TaskCreated]] = []
        completed, superseded, letters_sent, letters_dropped = [], [], [], []
        for change in changes:
            case_id = case_ids[change.after.pupil]
            kinds = {t.key: t.kind for t in change.before.case.tasks}
            for d in change.decisions:
                if isinstance(d, TaskCreated):
                    created.append((case_id, change, d))
                    kinds[d.task_key] = d.kind
                elif isinstance(d, TaskCompleted):
                    completed.append(
                        {"b_case": case_id, "b_key": d.task_key, "b_at": d.at, "b_by": d.by,
                         "b_outcome": d.outcome, "b_note": d.note}
                    )  # fmt: skip
                    if kinds.get(d.task_key) == LETTER:  # any outcome: the letter has gone
                        letters_sent.append(
                            {"b_case": case_id, "b_key": d.task_key, "b_by": d.by, "b_at": d.at}
                        )
                elif isinstance(d, TaskSuperseded):
                    superseded.append({"b_case": case_id, "b_key": d.task_key, "b_why": d.why})
                    if kinds.get(d.task_key) == LETTER:
                        letters_dropped.append({"b_case": case_id, "b_key": d.task_key})
        out = self._insert_tasks(created)
        built = statements()
        for statement, rows in (
            (built.complete, completed),
            (built.supersede, superseded),
        ):
            if rows:
                self._expect(self.conn.execute(statement, rows).rowcount, len(rows))
        if letters_sent:
            self.conn.execute(built.letter_sent, letters_sent)
        if letters_dropped:
            self.conn.execute(built.letter_superseded, letters_dropped)
        return out

    def _insert_tasks(
        self, created: list[tuple[int, CaseChange, TaskCreated]]
    ) -> list[CreatedTask]:
        if not created:
            return []
        rows = [
            {
                "case_id": case_id,
                "school_id": self.school_id,
                "pupil": change.after.pupil,
                "key": d.task_key,
                "task": d.task,
                "role": d.role,
                "kind": d.kind,
                "template": d.template,
                "approval": d.approval,
                "status": TASK_OPEN,
                "due": d.due,
                "created_on": d.on,
                "created_at": d.at,
            }
            for case_id, change, d in created
        ]
        if pg_rows.many(self.conn, rows):
            ids = pg_rows.copy_with_ids(self.conn, TASKS, rows)
        else:
            ids = [row.id for row in self.conn.execute(statements().new_tasks, rows)]
        return [
            CreatedTask(task_id, case_id, change.after.pupil, d, change.after)
            for task_id, (case_id, change, d) in zip(ids, created, strict=True)
        ]

    def _timers(
        self,
        changes: Sequence[CaseChange],
        case_ids: dict[str, int],
        claimed: Collection[tuple[str, str]],
    ) -> None:
        armed, fired, cancelled = [], [], []
        for change in changes:
            case_id = case_ids[change.after.pupil]
            for d in change.decisions:
                if isinstance(d, TimerArmed):
                    armed.append(
                        {
                            "case_id": case_id,
                            "school_id": self.school_id,
                            "key": d.timer_key,
                            "timer": d.timer,
                            "due": d.due,
                            "fire_at": d.fire_at,
                            "rule": d.rule,
                            "calendar_version": d.calendar_version,
                            "status": TIMER_PENDING,
                            "armed_at": d.at,
                        }
                    )
                elif isinstance(d, TimerFired) and (change.after.pupil, d.timer_key) not in claimed:
                    # Fired by a school day's run (a backfill, or one the scheduler had not reached)
                    fired.append({"b_case": case_id, "b_key": d.timer_key, **self._fired_values()})
                elif isinstance(d, TimerCancelled):
                    cancelled.append({"b_case": case_id, "b_key": d.timer_key})
        if pg_rows.many(self.conn, armed):
            pg_rows.copy_dicts(self.conn, TIMERS, armed)
        elif sqlite_rows.many(self.conn, armed):
            columns = tuple(armed[0])
            rows = ([row[c] for c in columns] for row in armed)
            sqlite_rows.insert_rows(self.conn, TIMERS, columns, rows)
        elif armed:
            self.conn.execute(insert(TIMERS), armed)
        built = statements()
        if fired:
            statement = built.timer_fired[self.conn.dialect.name == "sqlite"]
            self._expect(self.conn.execute(statement, fired).rowcount, len(fired))
        if cancelled:
            self._expect(
                self.conn.execute(built.timer_cancelled, cancelled).rowcount, len(cancelled)
            )

    def _undo(self, changes: Sequence[CaseChange], case_ids: dict[str, int]) -> None:
        """Tasks and timers put back as an undone action found them (``core.undo``)."""
        built = statements()
        for change in changes:
            correction = next((d for d in change.decisions if isinstance(d, ActionUndone)), None)
            if correction is None:
                continue
            case_id = case_ids[change.after.pupil]
            made, reopen, armed, rearm = reversed_rows(change.undone)
            why = superseded_why(correction)
            kinds = {d.task_key: d.kind for d in change.undone if isinstance(d, TaskCreated)}
            work = (
                (built.supersede, [{"b_case": case_id, "b_key": k, "b_why": why} for k in made]),
                (built.reopen, [{"b_case": case_id, "b_key": k} for k in reopen]),
                (built.timer_cancelled, [{"b_case": case_id, "b_key": k} for k in armed]),
                (built.rearm, [{"b_case": case_id, "b_key": k} for k in rearm]),
            )
            letters = [{"b_case": case_id, "b_key": k} for k in made if kinds[k] == LETTER]
            if letters:
                self.conn.execute(built.letter_superseded, letters)
            withdrawn = [d.task_key for d in change.undone if isinstance(d, TaskSuperseded)]
            if withdrawn:  # a letter superseded with its task is prepared or approved again
                back = [{"b_case": case_id, "b_key": k} for k in withdrawn]
                self.conn.execute(built.letter_back, back)
            for statement, rows in work:
                if rows:
                    self._expect(self.conn.execute(statement, rows).rowcount, len(rows))

    def _fired_values(self) -> dict[str, Any]:
        return {"b_now": self.now, "b_micros": to_micros(self.now), "b_worker": self.worker}

    def _expect(self, rowcount: int, wanted: int) -> None:
        if self.conn.dialect.supports_sane_multi_rowcount and rowcount not in (-1, wanted):
            raise ConflictError(
                f"school {self.school}: a case, task or timer was changed by someone else at the "
                "same time; nothing was written, try again"
            )


def _event_row(case_id: int, r: dict[str, Any]) -> tuple[Any, ...]:
    """A chain row as ``EVENT_COLUMNS``, its instants as ``UtcDateTime`` binds them."""
    utc = pg_rows.utc
    return (
        case_id, r["seq"], r["on"], utc(r["at"]), r["type"], r["body"], r["flow_version"],
        r["actor"], utc(r["recorded_at"]), r["prev_hash"], r["hash"],
    )  # fmt: skip


def insert_universal_tasks(
    conn: Connection,
    school_id: int,
    tasks: Sequence[UniversalTask],
    kinds: Mapping[str, str],
    now: datetime,
) -> int:
    """Tasks without a case (the first-day absence call); one per pupil, task and day."""
    if not tasks:
        return 0
    rows = [
        {
            "case_id": None,
            "school_id": school_id,
            "pupil": u.pupil,
            "key": f"{u.task}@{u.on.isoformat()}",
            "task": u.task,
            "role": u.role,
            "kind": kinds.get(u.task, "other"),
            "template": None,
            "approval": False,
            "status": TASK_OPEN,
            "due": u.due,
            "created_on": u.on,
            "created_at": now,
            "covers": ",".join(u.covers) if u.covers else None,
        }
        for u in tasks
    ]
    dialect_insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
    statement = dialect_insert(TASKS).on_conflict_do_nothing(
        index_elements=["school_id", "pupil", "key"]
    )
    conn.execute(statement, rows)
    return len(rows)


def lapse_universal_tasks(
    conn: Connection, school_id: int, lapse_on: Mapping[str, Callable[[date], date]], day: date
) -> int:
    """Open tasks without a case whose task id lapses (``lapse_on[task](due)``: the day it
    lapses) and whose lapse day has come by ``day``: marked lapsed, kept on record."""
    if not lapse_on:
        return 0
    t = TASKS.c
    rows = conn.execute(
        select(t.id, t.task, t.due).where(
            t.school_id == school_id,
            t.case_id.is_(None),
            t.status == TASK_OPEN,
            t.task.in_(list(lapse_on)),
        )
    ).all()
    lapsing = [(r.id, lapse_on[r.task](r.due)) for r in rows]
    lapsing = [(i, on) for i, on in lapsing if on <= day]
    if lapsing:
        conn.execute(
            update(TASKS)
            .where(t.id == bindparam("b_id"), t.status == TASK_OPEN)
            .values(status=TASK_LAPSED, superseded_why=bindparam("b_why")),
            [{"b_id": i, "b_why": f"lapsed: not done by {on.isoformat()}"} for i, on in lapsing],
        )
    return len(lapsing)


def record_school_day(
    conn: Connection, school_id: int, day: date, now: datetime, decisions: int, worker: str
) -> None:
    """The ``school_days`` row, written or brought up to date (a forced re-run)."""
    s = SCHOOL_DAYS.c
    values = {"evaluated_at": now, "decisions": decisions, "worker": worker}
    changed = conn.execute(
        update(SCHOOL_DAYS).where(s.school_id == school_id, s.day == day).values(values)
    ).rowcount
    if not changed:
        conn.execute(insert(SCHOOL_DAYS).values(school_id=school_id, day=day, **values))

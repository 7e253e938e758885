"""A small language for a pupil's year, and a driver that replays it day by day with frozen time.

    story = Story(calendar, school="oaks")
    story.pupil("P1").attends().absent("2025-09-15", "N", recorded="2025-09-15T09:10+01:00")
    result = story.replay(flow, to="2025-12-19", actions=[...])
    result.events("P1")  # the backtest events, as the contract's JSON has them

Every school day from the calendar's first is marked present (``/`` AM, ``\\`` PM) unless a
step says otherwise; each mark is recorded at its session's registration time unless given.
The replay moves a frozen clock (freezegun) to each school day's evening and runs the same
``run_day`` the daemon runs, firing due timers synchronously. A pupil given a date of birth
(``story.pupil("P2").born("2021-06-01")``) goes on a roster, so compulsory school age follows it;
everyone else is of compulsory school age, as with no roster. ``Replay.fact`` reads a register
fact as it stood at the end of a school day, to check the hand reasoning behind a date.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from freezegun import freeze_time

from escalation_flow.clock import SystemClock
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.codes import code_id
from escalation_flow.core.definition import Flow
from escalation_flow.core.engine import Context
from escalation_flow.core.facts import FactTable
from escalation_flow.core.marks import MarkTable, PupilRecord, Roster, to_micros
from escalation_flow.core.register import AssumeRecordedAtEndOfDay
from escalation_flow.core.school_day import Action, DayInputs, SchoolCases, run_day
from escalation_flow.core.timeline import KnownAtTimeline

LONDON = ZoneInfo("Europe/London")
Event = dict[str, Any]


def d(text: str) -> date:
    return date.fromisoformat(text)


def at(text: str) -> datetime:
    """An ISO timestamp; without an offset it is London time."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=LONDON)


@dataclass
class _Mark:
    day: date
    session: str
    code: str
    recorded: datetime | None


@dataclass
class PupilStory:
    calendar: SchoolCalendar
    pupil: str
    marks: list[_Mark] = field(default_factory=list)
    date_of_birth: date | None = None

    def born(self, day: str) -> PupilStory:
        self.date_of_birth = d(day)
        return self

    def absent(
        self, days: str | Iterable[str], code: str = "O", *, sessions: str = "AM PM",
        recorded: str | None = None,
    ) -> PupilStory:
        """Mark these school days (``"2025-09-15"``, ``"2025-09-15..2025-09-19"``) with ``code``."""
        for day in self._days(days):
            for s in sessions.split():
                self.marks.append(_Mark(day, s, code, at(recorded) if recorded else None))
        return self

    def late(self, days: str | Iterable[str], code: str = "L") -> PupilStory:
        return self.absent(days, code, sessions="AM")

    def amend(self, day: str, code: str, *, recorded: str, sessions: str = "AM PM") -> PupilStory:
        """A later version of a mark (the original stays: registers are bitemporal)."""
        return self.absent(day, code, sessions=sessions, recorded=recorded)

    def _days(self, spec: str | Iterable[str]) -> list[date]:
        specs = [spec] if isinstance(spec, str) else list(spec)
        out: list[date] = []
        for s in specs:
            first, _, last = s.partition("..")
            a, b = d(first), d(last or first)
            out += [x for x in self.calendar.school_days if a <= x <= b]
            if not any(a <= x <= b for x in self.calendar.school_days):
                raise ValueError(f"{s} holds no school day")
        return out


@dataclass
class Replay:
    book: SchoolCases
    day_facts: dict[str, FactTable] = field(default_factory=dict)

    def fact(self, pupil: str, day: str, name: str) -> float:
        """A register fact at the end of school ``day``, as known then (NaN: unknown)."""
        return self.day_facts[day].row(pupil)[name]

    def events(self, pupil: str) -> list[Event]:
        p = self.book.pupils.index(pupil)
        return [x.to_event() for x in self.book.history.get(p, [])]

    def of_type(self, pupil: str, *types: str) -> list[Event]:
        return [e for e in self.events(pupil) if e["type"] in types]

    def stages(self, pupil: str) -> list[tuple[str, int]]:
        """(date, stage) each time the pupil's case entered a stage."""
        return [(e["date"], e["stage"]) for e in self.of_type(pupil, "stage_entered")]

    def states(self, pupil: str) -> list[tuple[str, str]]:
        return [
            (e["date"], e["state"]) for e in self.of_type(pupil, "stage_entered", "state_entered")
        ]

    def tasks(self, pupil: str) -> list[tuple[str, str, str, str]]:
        """(created on, task, role, due) for every task created."""
        return [
            (e["date"], e["task"], e["role"], e["due"]) for e in self.of_type(pupil, "task_created")
        ]

    def case(self, pupil: str) -> Any:
        return self.book.case(self.book.pupils.index(pupil))


class Story:
    def __init__(self, calendar: SchoolCalendar, school: str = "school") -> None:
        self.calendar = calendar
        self.school = school
        self.pupils: dict[str, PupilStory] = {}

    def pupil(self, pupil: str) -> PupilStory:
        return self.pupils.setdefault(pupil, PupilStory(self.calendar, pupil))

    def marks(self, through: date) -> MarkTable:
        cal = self.calendar
        pupils = tuple(sorted(self.pupils))
        rows: list[tuple[int, int, int, int]] = []
        for pi, name in enumerate(pupils):
            for i, day in enumerate(cal.school_days):
                if day > through:
                    break
                for s, code in ((0, "/"), (1, "\\")):
                    rows.append((pi, 2 * i + s, code_id(code), _registration(day, s)))
            for m in self.pupils[name].marks:
                s = 0 if m.session == "AM" else 1
                recorded = to_micros(m.recorded) if m.recorded else _registration(m.day, s) + 1
                rows.append((pi, cal.session_index(m.day, m.session), code_id(m.code), recorded))
        arr = np.array(rows, dtype=np.int64).reshape(-1, 4)
        return MarkTable(
            school=self.school, pupils=pupils, pupil=arr[:, 0].astype(np.int32),
            session=arr[:, 1].astype(np.int32), code=arr[:, 2].astype(np.int8),
            recorded_at=arr[:, 3], minutes_late=np.full(len(arr), -1, np.int16),
        )

    def replay(
        self, flow: Flow, *, to: str, actions: Sequence[Action] = (), auto_complete: bool = False,
        first: str | None = None,
    ) -> Replay:
        """Run every school day through ``to``, the clock frozen at each day's evening."""
        cal, last = self.calendar, d(to)
        timeline = KnownAtTimeline(
            self.marks(last), cal, unknown_recorded_at=AssumeRecordedAtEndOfDay(),
            roster=self.roster(),
        )
        book = SchoolCases(Context(flow, cal), self.school, timeline.grid.pupils)
        clock = SystemClock()
        previous: FactTable | None = None
        kept: dict[str, FactTable] = {}
        start = cal.index_on_or_before(d(first)) if first else 0
        with freeze_time(datetime.combine(cal.school_days[start], time(7), tzinfo=LONDON)) as frozen:
            for step in timeline.steps(start, cal.index_on_or_before(last)):
                today = cal.school_days[step.day_index]
                frozen.move_to(datetime.combine(today, time(18), tzinfo=LONDON))
                assert clock.now().astimezone(LONDON).date() == today  # one clock for all
                facts = timeline.facts(min_possible_sessions_ytd=flow.definition.min_possible_sessions)
                run_day(book, DayInputs(
                    day=step.day_index, facts=facts, counts=timeline.counts, previous=previous,
                    actions=[a for a in actions if a.at.astimezone(LONDON).date() == today],
                    auto_complete=auto_complete,
                    amended=[int(p) for p in step.amended_pupils],
                ))
                previous = kept[today.isoformat()] = facts
        return Replay(book, kept)

    def roster(self) -> Roster | None:
        """Only when some pupil has a date of birth; a pupil it does not list is on roll all year."""
        born = {p: s.date_of_birth for p, s in self.pupils.items() if s.date_of_birth}
        if not born:
            return None
        return Roster(self.school, {
            p: PupilRecord(self.school, p, date_of_birth=dob) for p, dob in born.items()
        })


def action(when: str, pupil: str, name: str, outcome: str | None = None, by: str = "staff-1") -> Action:
    return Action(at=at(when), pupil=pupil, action=name, by=by, outcome=outcome)


def _registration(day: date, session: int) -> int:
    clock = time(9, 0) if session == 0 else time(13, 15)
    return to_micros(datetime.combine(day, clock, tzinfo=LONDON).astimezone(UTC))


def school_days_after(calendar: SchoolCalendar, day: str, n: int) -> str:
    return calendar.add_school_days(d(day), n).isoformat()


__all__ = ["Replay", "Story", "action", "at", "d", "school_days_after", "timedelta"]

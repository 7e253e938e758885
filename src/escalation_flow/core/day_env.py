"""The environment guards read on a school day: ``DayEnv`` (every name, as arrays over the
book's pupils, built lazily) and ``PupilEnv`` (one pupil's scalars, plus a firing review
timer's facts)."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from escalation_flow.core.case import CLOSED, NO_CASE, Case
from escalation_flow.core.fact_names import CASE_FACTS, REVIEW_FACTS
from escalation_flow.core.facts import FactTable, facts_from_counts
from escalation_flow.core.family_facts import family_facts
from escalation_flow.core.packed_counts import Key
from escalation_flow.core.penalty_notices import NO_NOTICES
from escalation_flow.core.school_cases import FloatArray, IntArray, SchoolCases
from escalation_flow.core.session_counts import CumulativeCounts
from escalation_flow.core.since_recorded import CASE_OPENED, STAGE_ENTRY, STATE_ENTRY, parse_since
from escalation_flow.core.window_facts import parse_window, window_values

NAN = float("nan")


class DayEnv(Mapping[str, Any]):
    """Every name a guard may read, as arrays over the school's pupils, built lazily."""

    def __init__(
        self,
        book: SchoolCases,
        facts: FactTable,
        counts: CumulativeCounts,
        family: Mapping[str, FloatArray] | None = None,
    ) -> None:
        self.book = book
        self.facts = facts
        self.counts = counts
        self.day = facts.day_index
        cal = book.ctx.calendar
        flow = book.ctx.flow
        self._values: dict[str, Any] = dict(facts.values)
        self._values.update(flow.parameter_values(cal.term_name_of(self.day).value))
        self._values["stage"] = book.stage.astype(np.float64)
        # unknown (NaN) without the previous evening's snapshot: such a guard does not fire
        self._values.update(family or family_facts(None, book.school, book.pupils))
        self._family = family
        self._earlier: dict[int, DayEnv] = {}

    def scratch(self) -> DayEnv:
        """A copy holding the figures worked out so far, whose own later figures stay in it
        (this day's are not moved by what is read through the copy)."""
        other = copy.copy(self)
        other._values = dict(self._values)
        return other

    def __getitem__(self, name: str) -> Any:
        if name not in self._values:
            self._values[name] = self._compute(name)
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def on_day(self, day: int) -> DayEnv:
        """Every name at the end of the earlier school day ``day``: the register as this day's
        counts hold it (as known now), the cases as they are now (``engine._reconsider`` asks
        whether a step still holds on the day it was taken). Each day is worked out once."""
        if day == self.day:
            return self
        earlier = self._earlier.get(day)
        if earlier is None:
            minimum = self.book.ctx.flow.definition.min_possible_sessions
            # kept with the counts from evening to evening (a backtest's counts live the year):
            # a day's figures change only when marks of that day or before are recounted
            facts = self.counts.by_day.get((day, minimum))
            if facts is None:
                facts = facts_from_counts(
                    self.counts, day, min_possible_sessions_ytd=minimum, windows=self.book.windows
                )
                self.counts.keep_by_day((day, minimum), facts)
            earlier = self._earlier[day] = DayEnv(self.book, facts, self.counts, self._family)
        return earlier

    def pupil(self, p: int, case: Case, review_from: int | None = None) -> PupilEnv:
        return PupilEnv(self, p, case, review_from)

    def as_taken(self, p: int, case: Case) -> Mapping[str, Any]:
        """Pupil ``p``'s names at the end of this day, the case's own as they stood when the
        step into its state was taken (``Case.prior_*``: the stage, the state's and stage's
        entries, the counts), the register's as this day's counts hold them now."""
        return _AsTaken(self, p, case)

    def _prior_value(self, name: str, p: int, case: Case, prior: Case) -> Any:
        """``name`` for pupil ``p`` with the book holding ``prior`` (the case as it was before
        its step): worked out on a fresh environment (this one's figures are the case's now),
        the book given ``case`` back whatever happens."""
        book = self.book
        book.load(p, prior)
        try:
            value = DayEnv(book, self.facts, self.counts, self._family)[name]
        finally:
            book.load(p, case)
        return value[p] if isinstance(value, np.ndarray) else value

    def _compute(self, name: str) -> Any:
        book, d = self.book, self.day
        if name in book.recorded:
            return book.recorded[name]
        if name in book.state_flags:  # ``state_<stage>_<state>``: 1 in that state
            return (book.state_id == book.state_index[book.state_flags[name]]).astype(np.float64)
        if name == "school_days_in_stage":
            return _since(book.stage_day, d)
        if name == "school_days_in_state":
            return _since(book.state_day, d)
        for prefix, days in (("stage", book.stage_day), ("state", book.state_day)):
            if name == f"attendance_pct_at_{prefix}_entry":
                return self.ytd_pct_at(days)
            if name == f"attendance_pct_since_{prefix}_entry":
                return self.pct_since(days)
        window = parse_window(name)
        if window is not None:
            return window_values(self.counts, d, window, self._values)
        since = parse_since(name)
        if since is not None:
            keys, anchor = since
            days = self._anchor_days(anchor, name)
            return self._count_since(days, *keys, from_day=anchor == CASE_OPENED)
        if name == "unresolved_n_sessions_at_state_entry":
            # N marks in the sessions up to the state's entry, as known now (not as known then)
            known = (book.state_day >= 0) & (book.state_day <= d)
            ends = 2 * np.where(known, book.state_day, 0) + 2
            rows = np.arange(len(book.pupils))
            n_marks = self.counts.running_count_at(Key.N, rows, ends).astype(float)
            return np.where(known, n_marks, NAN)
        if name in REVIEW_FACTS:
            return np.full(len(book.pupils), NAN)  # only defined while a review timer fires
        if name in NO_NOTICES:  # no penalty-notice register handed in with the facts
            return np.full(len(book.pupils), NO_NOTICES[name])
        raise KeyError(name)

    def _anchor_days(self, anchor: str, name: str) -> IntArray:
        """Per pupil, the school day a ``_since_<anchor>`` counter counts after (-1: none)."""
        book = self.book
        fixed = {
            STATE_ENTRY: book.state_day,
            STAGE_ENTRY: book.stage_day,
            CASE_OPENED: book.open_day,
        }
        if anchor in fixed:
            return fixed[anchor]
        if anchor in book.recorded_day:
            return book.recorded_day[anchor]
        raise KeyError(name)

    # -- windows that start at a different day for each pupil ------------------------------------

    def ytd_pct_at(self, days: IntArray) -> FloatArray:
        """Attendance year to date at the end of each pupil's day (NaN where day < 0, or after
        today: a day evaluated again behind a later one, with ``--force``)."""
        out = np.full(len(days), NAN)
        rows = np.flatnonzero((days >= 0) & (days <= self.day))
        if rows.size:
            at = days[rows]
            window = self.counts.windows_of(rows, 2 * self.book.windows.year[at], 2 * at + 1)
            minimum = self.book.ctx.flow.definition.min_possible_sessions
            out[rows] = window.attendance_pct(min_possible_sessions=minimum)
        return out

    def pct_since(self, days: IntArray) -> FloatArray:
        """Attendance over the sessions after each pupil's day, through today."""
        known = (days >= 0) & (days <= self.day)
        firsts = np.where(known, 2 * (days + 1), 2 * self.day + 2)
        pct = self.counts.attendance_pct_between(firsts, 2 * self.day + 1, min_possible_sessions=1)
        return np.where(known, pct, NAN)

    def _count_since(self, days: IntArray, *keys: Key, from_day: bool = False) -> FloatArray:
        """The sessions counting for any of ``keys`` after each pupil's day (``from_day``: from
        it), through today."""
        known = (days >= 0) & (days <= self.day)
        firsts = np.where(known, 2 * (days + (0 if from_day else 1)), 2 * self.day + 2)
        window = self.counts.counts_between(firsts, 2 * self.day + 1)
        counts = sum((window.count(key) for key in keys[1:]), window.count(keys[0]))
        return np.where(known, counts.astype(float), NAN)


def _since(days: IntArray, today: int) -> FloatArray:
    return np.where(days >= 0, (today - days).astype(float), NAN)


_UNSET = object()


def _prior_case(case: Case) -> Case:
    """The case as it stood before the step into its current state."""
    if case.previous_state in (NO_CASE, CLOSED):  # the step opened it
        return replace(
            case,
            opened_on=None,
            event_counts=case.prior_event_counts,
            recorded_on=case.prior_recorded_on,
        )
    return replace(
        case,
        stage=case.prior_stage,
        state=case.previous_state,
        stage_entered_on=case.prior_stage_entered_on,
        state_entered_on=case.prior_state_entered_on,
        event_counts=case.prior_event_counts,
        recorded_on=case.prior_recorded_on,
    )


class _AsTaken(Mapping[str, Any]):
    """``DayEnv.as_taken``: one pupil's names, the case's own read from before its step."""

    def __init__(self, day: DayEnv, p: int, case: Case) -> None:
        self._day, self._p, self._case = day, p, case
        self._plain = day.pupil(p, case)
        self._prior = _prior_case(case)
        # a state only an earlier flow version has cannot be held in this book: the case's
        # facts as they are now, as before
        self._held = not self._prior.is_open or self._prior.state in day.book.state_index
        self._values: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name in self._values:
            return self._values[name]
        book = self._day.book
        if name.endswith("_recorded"):
            value: Any = float(self._prior.count_of(name.removesuffix("_recorded")))
        elif self._held and (
            name in CASE_FACTS
            or name in book.state_flags
            or name in book.recorded
            or parse_since(name) is not None
        ):
            value = self._day._prior_value(name, self._p, self._case, self._prior)
        else:
            value = self._plain[name]
        self._values[name] = value
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._plain)

    def __len__(self) -> int:
        return len(self._plain)


class PupilEnv(Mapping[str, Any]):
    """One pupil's view of a ``DayEnv``: scalars, plus the firing review timer's facts."""

    def __init__(self, day: DayEnv, p: int, case: Case, review_from: int | None) -> None:
        self._day, self._p, self._case = day, p, case
        self._review_from = review_from
        # The day's values as computed so far (the same dict: read first, without a call)
        self._values = day._values
        self._reviewed: dict[str, float] = {}

    def __getitem__(self, name: str) -> Any:
        if name.endswith("_recorded"):
            return float(self._case.count_of(name.removesuffix("_recorded")))
        if self._review_from is not None and name in REVIEW_FACTS:
            if name not in self._reviewed:
                self._reviewed[name] = self._review(name)
            return self._reviewed[name]
        value = self._values.get(name, _UNSET)
        if value is _UNSET:
            value = self._day[name]
        return value[self._p] if isinstance(value, np.ndarray) else value

    def _review(self, name: str) -> float:
        """The firing review timer's facts, from the day it was armed (only when a guard asks;
        a guard and then the reason read them, on counts that do not change in between)."""
        day, start = self._day, int(self._review_from or 0)
        if name == "attendance_pct_at_review_start":
            first = 2 * int(day.book.windows.year[start])
            minimum = day.book.ctx.flow.definition.min_possible_sessions
            return day.counts.pupil_attendance_pct(
                self._p, first, 2 * start + 1, min_possible_sessions=minimum
            )
        return day.counts.pupil_attendance_pct(
            self._p, 2 * start + 2, 2 * day.day + 1, min_possible_sessions=1
        )

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def __iter__(self) -> Iterator[str]:
        return iter(self._day)

    def __len__(self) -> int:
        return len(self._day)

"""Parts of the staff pages that need no server: the attendance chart, the plan's thresholds,
which records are safeguarding records, and the stylesheet's contrast."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pytest

from escalation_flow.adapters.calendar_files import load_calendar
from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.codes import ID_OF_CODE
from escalation_flow.web.case_story import shown_value
from escalation_flow.web.chart import Threshold, attendance_svg, weekly_attendance
from escalation_flow.web.plan_words import thresholds
from escalation_flow.web.safeguarding import restricted_events

ROOT = Path(__file__).resolve().parents[2]
CSS = ROOT / "src" / "escalation_flow" / "web" / "static" / "style.css"


@pytest.fixture(scope="module")
def calendar() -> SchoolCalendar:
    return load_calendar(ROOT / "config" / "calendars" / "england-2025-26.yaml")


def test_weeks_count_attendance_and_the_year_so_far(calendar: SchoolCalendar) -> None:
    codes = np.full(calendar.n_sessions, ID_OF_CODE["/"], dtype=np.int8)
    first_week_last = int(calendar.week_last_day[0])
    second = slice(2 * (first_week_last + 1), 2 * int(calendar.week_last_day[1]) + 2)
    codes[second][::2] = ID_OF_CODE["N"]  # every morning of the second week missed
    as_of = int(calendar.week_last_day[1])
    weeks = weekly_attendance(codes, 0, calendar.n_sessions - 1, calendar, as_of)
    assert [w.pct for w in weeks] == [100.0, 50.0]
    first_possible = 2 * (first_week_last + 1)
    assert weeks[1].ytd_pct == pytest.approx(100.0 * (first_possible + 5) / (first_possible + 10))


def test_weeks_before_admission_are_not_possible(calendar: SchoolCalendar) -> None:
    codes = np.zeros(calendar.n_sessions, dtype=np.int8)  # nothing marked
    weeks = weekly_attendance(codes, 10_000, 10_001, calendar, 4)
    assert weeks and all(math.isnan(w.pct) and w.unmarked == 0 for w in weeks)


def test_the_chart_is_an_svg_image_with_its_numbers_in_words() -> None:
    from datetime import date

    from escalation_flow.web.chart import Week

    weeks = [Week(date(2025, 9, 1), 9, 10, 0, 90.0), Week(date(2025, 9, 8), 5, 10, 0, 70.0)]
    svg = attendance_svg(weeks, [Threshold("Stage 2 below 96% <b>", 96.0)], 'Ava "A" <Wood>')
    assert svg.startswith("<svg") and 'role="img"' in svg
    assert "Ava &quot;A&quot; &lt;Wood&gt;" in svg
    assert "&lt;b&gt;" in svg and "<b>" not in svg
    assert "now 70.0%" in svg and "Stage 2 below 96% &lt;b&gt; at 96%" in svg
    assert "style=" not in svg  # the page's policy allows no inline styles


@pytest.mark.parametrize(
    ("flow", "term", "overrides", "expected"),
    [
        ("leigh-academy-oaks", "autumn", {}, [96.0, 93.0, 90.0]),
        ("leigh-academy-oaks", "autumn", {"stage_2_below_pct": 95}, [95.0, 93.0, 90.0]),
        ("who-does-what-and-when", "autumn", {}, [90.0, 85.0]),
        ("who-does-what-and-when", "spring", {}, [90.0]),
    ],
)
def test_the_chart_draws_the_plans_attendance_thresholds(
    flow: str, term: str, overrides: dict[str, float], expected: list[float]
) -> None:
    plan = load_flow(ROOT / "flows" / f"{flow}.yaml")
    if overrides:  # as a school's overrides reach it: written into the flow (school_flows)
        params = {
            name: p.model_copy(update={"value": overrides[name]}) if name in overrides else p
            for name, p in plan.definition.parameters.items()
        }
        definition = plan.definition.model_copy(update={"parameters": params})
        plan = dataclasses.replace(plan, definition=definition)
    lines = thresholds(plan, term)
    assert sorted({t.pct for t in lines}, reverse=True) == expected
    assert any("Stage" in t.label for t in lines)


def test_safeguarding_records_are_the_dsls_tasks_states_and_concerns() -> None:
    flow = load_flow(ROOT / "flows" / "family-liaison-five-stage.yaml")
    events: list[dict[str, object]] = [
        {"type": "case_opened", "date": "2025-10-01"},
        {"type": "event_recorded", "event": "safeguarding_concern", "by": "flo"},
        {"type": "stage_entered", "stage": 5, "state": "stage_5.dsl_escalation"},
        {
            "type": "task_created",
            "task_key": "dsl_review#1",
            "task": "dsl_review",
            "role": "designated_safeguarding_lead",
        },
        {"type": "task_created", "task_key": "call#2", "task": "call", "role": "admin_staff"},
        {"type": "task_completed", "task_key": "dsl_review#1", "task": "dsl_review"},
        {"type": "task_completed", "task_key": "call#2", "task": "call"},
    ]
    assert restricted_events(flow, events) == [False, True, True, True, False, True, False]


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("attendance_pct", 93.456, "93.5%"),
        ("attendance_pct", float("nan"), "not known yet"),
        ("unauthorised_sessions_last_10_school_weeks", 1, "1 session"),
        ("unauthorised_sessions_last_10_school_weeks", 10, "10 sessions"),
        ("oldest_unresolved_n_school_days", 1, "1 school day"),
        ("persistent_absence", 1, "yes"),
        ("attendance_trend", -2.25, "-2.2 points"),
        ("stage", 4, "4"),
    ],
)
def test_figures_are_shown_in_words(name: str, value: float, shown: str) -> None:
    assert shown_value(name, value) == shown


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@pytest.mark.parametrize(
    ("text", "background"),
    [
        ("--ink", "--paper"),
        ("--ink", "--wash"),
        ("--muted", "--paper"),
        ("--muted", "--wash"),
        ("--link", "--paper"),
        ("--link", "--wash"),
        ("--bad", "--bad-wash"),
        ("--warn", "--warn-wash"),
        ("--ok", "--ok-wash"),
        ("#ffffff", "--brand"),
    ],
)
def test_text_colours_meet_wcag_aa_contrast(text: str, background: str) -> None:
    colours = dict(re.findall(r"(--[a-z-]+):\s*(#[0-9a-fA-F]{6})", CSS.read_text()))

    def hex_of(name: str) -> str:
        return name if name.startswith("#") else colours[name]

    assert _contrast(hex_of(text), hex_of(background)) >= 4.5

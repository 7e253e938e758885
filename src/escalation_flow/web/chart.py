"""The case page's attendance chart: one pupil's weeks as bars, the year to date as a line, and
the plan's thresholds as labelled dashed lines. Drawn as SVG on the server: no script, and the
same numbers are offered as a table for screen readers and for anyone who prefers one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from html import escape

import numpy as np
import numpy.typing as npt

from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.codes import CATEGORY_OF_ID, Category

_W, _H = 720, 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 150, 16, 34
#: (width, height, left, right, top, bottom): the desktop drawing, and the phone's
_SIZES = {False: (_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM), True: (360, 280, 38, 8, 14, 30)}
_BAR = "#7aa7d6"
_LOW_BAR = "#d9822b"
_LINE = "#1b3a5c"
_THRESHOLD = "#b3261e"


@dataclass(frozen=True)
class Week:
    first_day: date
    attended: int
    possible: int
    unmarked: int
    ytd_pct: float  # NaN until the first possible session

    @property
    def pct(self) -> float:
        return 100.0 * self.attended / self.possible if self.possible else math.nan


@dataclass(frozen=True)
class Threshold:
    label: str
    pct: float


def weekly_attendance(
    codes: npt.NDArray[np.int8],
    first_session: int,
    last_session: int,
    calendar: SchoolCalendar,
    as_of_day: int,
) -> list[Week]:
    """One pupil's school weeks of the academic year that holds ``as_of_day``, up to that day.

    ``codes`` is the pupil's row of a ``RegisterGrid``; sessions outside
    ``first_session..last_session`` (admission to leaving) are not possible sessions.
    """
    year = calendar.year_of(as_of_day)
    category = CATEGORY_OF_ID[codes.astype(np.intp)]
    sessions = np.arange(codes.shape[0])
    on_roll = (sessions >= first_session) & (sessions <= last_session)
    attended = on_roll & ((category == Category.PRESENT) | (category == Category.APPROVED_ACTIVITY))
    absent = on_roll & ((category == Category.AUTHORISED) | (category == Category.UNAUTHORISED))
    unmarked = on_roll & (category == Category.UNMARKED)
    weeks: list[Week] = []
    total_attended = total_possible = 0
    first_week = int(calendar.week_of_day[year.first])
    last_week = int(calendar.week_of_day[as_of_day])
    for w in range(first_week, last_week + 1):
        start = max(int(calendar.week_first_day[w]), year.first)
        end = min(int(calendar.week_last_day[w]), as_of_day)
        window = slice(2 * start, 2 * end + 2)
        a = int(attended[window].sum())
        p = a + int(absent[window].sum())
        total_attended += a
        total_possible += p
        ytd = 100.0 * total_attended / total_possible if total_possible else math.nan
        weeks.append(Week(calendar.school_days[start], a, p, int(unmarked[window].sum()), ytd))
    return weeks


def attendance_svg(
    weeks: list[Week], thresholds: list[Threshold], title: str, *, compact: bool = False
) -> str:
    """The chart as an inline ``<svg>`` element (colours as attributes: no inline styles);
    ``compact``: drawn for a phone's width, the thresholds named inside the plot."""
    known = [w.pct for w in weeks if not math.isnan(w.pct)]
    known += [w.ytd_pct for w in weeks if not math.isnan(w.ytd_pct)]
    floor = min([*known, *(t.pct for t in thresholds), 100.0])
    y_min = max(0.0, 10.0 * math.floor((floor - 5.0) / 10.0))
    _W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = _SIZES[compact]  # noqa: N806 (the module's names)
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    ids = "-phone" if compact else ""  # both drawings are on the page: ids stay unique

    def y(pct: float) -> float:
        return _TOP + plot_h * (100.0 - max(pct, y_min)) / (100.0 - y_min)

    n = max(len(weeks), 1)
    step = plot_w / n
    parts: list[str] = [
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" aria-labelledby="chart-title{ids} '
        f'chart-desc{ids}" xmlns="http://www.w3.org/2000/svg" font-family="inherit" '
        'font-size="12">',
        f'<title id="chart-title{ids}">{escape(title)}</title>',
        f'<desc id="chart-desc{ids}">{escape(_describe(weeks, thresholds))}</desc>',
    ]
    for pct in range(int(y_min), 101, 10):
        parts.append(
            f'<line x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{y(pct):.1f}" y2="{y(pct):.1f}" '
            'stroke="#d0d4da" stroke-width="1"/>'
            f'<text x="{_LEFT - 6}" y="{y(pct) + 4:.1f}" text-anchor="end" fill="#333">{pct}%</text>'
        )
    low = min((t.pct for t in thresholds), default=None)
    for i, w in enumerate(weeks):
        if math.isnan(w.pct):
            continue
        x = _LEFT + i * step + step * 0.15
        colour = _LOW_BAR if low is not None and w.pct < low else _BAR
        parts.append(
            f'<rect x="{x:.1f}" y="{y(w.pct):.1f}" width="{step * 0.7:.1f}" '
            f'height="{_TOP + plot_h - y(w.pct):.1f}" fill="{colour}">'
            f"<title>Week of {w.first_day:%d %b}: {w.pct:.0f}% "
            f"({w.attended} of {w.possible} sessions)</title></rect>"
        )
    points = [
        f"{_LEFT + (i + 0.5) * step:.1f},{y(w.ytd_pct):.1f}"
        for i, w in enumerate(weeks)
        if not math.isnan(w.ytd_pct)
    ]
    if points:
        parts.append(
            f'<polyline points="{" ".join(points)}" fill="none" stroke="{_LINE}" '
            'stroke-width="2.5"/>'
        )
    for t in thresholds:
        ty = y(t.pct)
        at = (
            f'x="{_LEFT + plot_w - 2}" y="{ty - 3:.1f}" text-anchor="end"'
            if compact
            else f'x="{_LEFT + plot_w + 6}" y="{ty + 4:.1f}"'
        )
        parts.append(
            f'<line x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{ty:.1f}" y2="{ty:.1f}" '
            f'stroke="{_THRESHOLD}" stroke-width="1.5" stroke-dasharray="6 4"/>'
            f'<text {at} fill="{_THRESHOLD}">{escape(t.label)}</text>'
        )
    for i, w in enumerate(weeks):
        if i % max(1, math.ceil(n / (4 if compact else 8))) == 0:
            parts.append(
                f'<text x="{_LEFT + (i + 0.5) * step:.1f}" y="{_H - _BOTTOM + 16}" '
                f'text-anchor="middle" fill="#333">{w.first_day:%d %b}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _describe(weeks: list[Week], thresholds: list[Threshold]) -> str:
    if not weeks:
        return "No school weeks yet this year."
    last = weeks[-1]
    ytd = "unknown" if math.isnan(last.ytd_pct) else f"{last.ytd_pct:.1f}%"
    lines = ", ".join(f"{t.label} at {t.pct:g}%" for t in thresholds) or "none"
    return (
        f"Bars: attendance each school week, {len(weeks)} weeks. Line: attendance for the year "
        f"so far, now {ytd}. Thresholds of the plan: {lines}."
    )


# -- trends: this year against last, week by week ---------------------------------------------


@dataclass(frozen=True)
class Series:
    label: str
    values: tuple[float, ...]  # one per school week from the year's first; NaN: no data
    colour: str
    dashed: bool = False


#: (width, height, left, right, top, bottom) of the desktop and the phone drawing
#: (the desktop's sits in half the page: drawn at about the size it is shown, so its text is too)
_TREND_SIZES = {False: (480, 260, 46, 12, 14, 30), True: (360, 240, 40, 10, 14, 30)}
#: a percentage axis spans at least this many points, so a wobble of a tenth is not a cliff
_MIN_PCT_SPAN = 5.0


def axis_range(values: list[float], *, from_zero: bool) -> tuple[float, float, float]:
    """(bottom, top, step) of a y axis that holds ``values``: a percentage axis starts just
    below the lowest value (a week at 94% against 96% is not drawn as two equal bars), a count
    axis at 0; steps of 1, 2, 5 or 10 times a power of ten, about five of them."""
    known = [v for v in values if not math.isnan(v)]
    if not known:
        return 0.0, 100.0 if not from_zero else 1.0, 20.0 if not from_zero else 1.0
    low, high = (0.0 if from_zero else min(known)), max(known)
    if high - low < 1e-9:
        low, high = (low - 1.0 if not from_zero else 0.0), high + 1.0
    if not from_zero and high - low < _MIN_PCT_SPAN:
        middle = (high + low) / 2
        low, high = middle - _MIN_PCT_SPAN / 2, middle + _MIN_PCT_SPAN / 2
        if high > 100.0:
            low, high = low - (high - 100.0), 100.0
        low = max(low, 0.0)
    raw = (high - low) / 5
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    bottom = max(0.0, step * math.floor(low / step)) if not from_zero else 0.0
    top = step * math.ceil(high / step)
    if not from_zero:
        top = min(top, 100.0) if high <= 100.0 else top
        bottom = min(bottom, top - step)
    return bottom, top, step


def trend_svg(
    series: list[Series], title: str, *, unit: str = "%", from_zero: bool = False,
    compact: bool = False,
) -> str:  # fmt: skip
    """A line per series over the school weeks, as an inline ``<svg>``; ``compact``: drawn for
    a phone's width (the whole chart visible, labels at a readable size)."""
    width, height, left, right, top_pad, bottom_pad = _TREND_SIZES[compact]
    values = [v for s in series for v in s.values]
    bottom, top, step = axis_range(values, from_zero=from_zero)
    n = max([len(s.values) for s in series] or [1])
    plot_w, plot_h = width - left - right, height - top_pad - bottom_pad

    def x(i: int) -> float:
        return left + plot_w * (i + 0.5) / n

    def y(v: float) -> float:
        return top_pad + plot_h * (top - v) / (top - bottom)

    parts = [
        f'<svg class="chart trend" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg" '
        f'font-family="inherit" font-size="{11 if compact else 12}">'
        f"<title>{escape(title)}</title>",
    ]
    tick = bottom
    while tick <= top + 1e-9:
        label = f"{tick:g}{unit}"
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            'stroke="#d0d4da" stroke-width="1"/>'
            f'<text x="{left - 5}" y="{y(tick) + 4:.1f}" text-anchor="end" fill="#333">'
            f"{label}</text>"
        )
        tick += step
    for s in series:
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        for run in _runs(s.values):
            points = " ".join(f"{x(i):.1f},{y(s.values[i]):.1f}" for i in run)
            if len(run) == 1:
                i = run[0]
                parts.append(
                    f'<circle cx="{x(i):.1f}" cy="{y(s.values[i]):.1f}" r="2.5" fill="{s.colour}"/>'
                )
            else:
                parts.append(
                    f'<polyline points="{points}" fill="none" stroke="{s.colour}" '
                    f'stroke-width="2"{dash}><title>{escape(s.label)}</title></polyline>'
                )
    every = max(1, math.ceil(n / (5 if compact else 10)))
    for i in range(0, n, every):
        parts.append(
            f'<text x="{x(i):.1f}" y="{height - bottom_pad + 15}" text-anchor="middle" '
            f'fill="#333">wk {i + 1}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _runs(values: tuple[float, ...]) -> list[list[int]]:
    """The stretches of weeks with a value (a gap where there is no data, not a zero)."""
    out: list[list[int]] = []
    current: list[int] = []
    for i, v in enumerate(values):
        if math.isnan(v):
            if current:
                out.append(current)
            current = []
        else:
            current.append(i)
    if current:
        out.append(current)
    return out

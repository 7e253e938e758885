"""The case file's chart: attendance over the year, the plan's thresholds, the stages shaded.

Drawn for paper in black and white: the attendance line is solid black, each threshold a
line of its own dash pattern, and each stage a band of its own grey *and* hatching; the legend
below names them all (a stage is also named in its band where it is wide enough), so they stay
apart on a photocopy. The x axis counts school days: holidays take no room.
"""

from __future__ import annotations

import bisect
import io
from datetime import date
from typing import Any

from escalation_flow.audit.chronology import Chart

#: Per stage: fill grey and hatch pattern (stage 1 lightest).
_STAGE_STYLE = {
    1: ("#f7f7f7", ""),
    2: ("#ececec", "/"),
    3: ("#dedede", "\\\\"),
    4: ("#d0d0d0", "x"),
    5: ("#c2c2c2", "."),
}
_DEFAULT_STYLE = ("#d8d8d8", "+")


def render(chart: Chart, fmt: str, *, title: str = "") -> bytes:
    """The chart as ``svg`` or ``png`` bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.4), dpi=150)
    try:
        floor = _floor(chart)
        _bands(ax, chart, floor)
        _line(ax, chart)
        _legend(ax, chart, _thresholds(ax, chart))
        ax.set_ylim(floor, 100.5)
        ax.set_ylabel("attendance this year (%)")
        ax.set_xlim(0, max(len(chart.days), 1))
        _months(ax, chart)
        ax.set_xlabel("school days (holidays left out)")
        ax.grid(axis="y", color="#999999", linewidth=0.3)
        if title:
            ax.set_title(title, fontsize=10, loc="left")
        fig.tight_layout()
        buffer = io.BytesIO()
        # SVG: text as text (selectable, small); a fixed hash salt keeps the bytes stable.
        with matplotlib.rc_context():
            matplotlib.rcParams["hatch.color"] = "#8a8a8a"
            matplotlib.rcParams["hatch.linewidth"] = 0.4
            matplotlib.rcParams["svg.hashsalt"] = "escalation-flow"
            matplotlib.rcParams["svg.fonttype"] = "none"
            fig.savefig(buffer, format=fmt, metadata=_metadata(fmt), bbox_inches="tight")
        return buffer.getvalue()
    finally:
        plt.close(fig)


def _x(chart: Chart, day: date) -> float:
    """A date's place on the axis: school days are 0, 1, 2, ...; holidays take no room."""
    return float(bisect.bisect_left(chart.days, day))


def _months(ax: Any, chart: Chart) -> None:
    ticks, labels, seen = [], [], set()
    for i, day in enumerate(chart.days):
        if (day.year, day.month) not in seen:
            seen.add((day.year, day.month))
            ticks.append(i)
            labels.append(day.strftime("%b %Y"))
    ax.set_xticks(ticks, labels, fontsize=7)


def _bands(ax: Any, chart: Chart, floor: float) -> None:
    if not chart.days:
        return
    end = float(len(chart.days))
    for period in chart.stages:
        first = _x(chart, period.first)
        last = end if period.last is None else _x(chart, period.last)
        if last <= first:
            continue
        fill, hatch = _STAGE_STYLE.get(period.stage, _DEFAULT_STYLE)
        ax.axvspan(
            first, last, facecolor=fill, hatch=hatch, edgecolor="#555555", linewidth=0, zorder=0
        )
        if (last - first) < 0.08 * end:
            continue  # too narrow to write in: the legend names it
        ax.text(
            (first + last) / 2, floor + 0.4, f"stage {period.stage}", ha="center", va="bottom",
            fontsize=7, bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5}, zorder=3,
        )  # fmt: skip


def _line(ax: Any, chart: Chart) -> None:
    points = [(i + 1.0, v) for i, v in enumerate(chart.attendance) if v is not None]
    if not points:
        return
    xs, ys = zip(*points, strict=True)
    ax.plot(xs, ys, color="black", linewidth=1.8, zorder=2)


_LINE_STYLES: tuple[Any, ...] = ("--", "-.", ":", (0, (6, 2, 1, 2, 1, 2)), (0, (1, 3)))


def _thresholds(ax: Any, chart: Chart) -> list[Any]:
    """Each threshold a line of its own dash pattern; the legend says which is which."""
    from matplotlib.lines import Line2D

    handles: list[Any] = []
    for i, (name, value) in enumerate(sorted(chart.thresholds, key=lambda t: -t[1])):
        style = _LINE_STYLES[i % len(_LINE_STYLES)]
        width = 0.9 if i < len(_LINE_STYLES) else 1.6  # a sixth line: heavier, same dashes
        ax.axhline(value, color="black", linewidth=width, linestyle=style, zorder=1)
        label = f"{value:g}%: {name.replace('_', ' ')}"
        handles.append(Line2D([], [], color="black", linewidth=width, linestyle=style, label=label))
    return handles


def _legend(ax: Any, chart: Chart, thresholds: list[Any]) -> None:
    """Below the plot: the attendance line, each threshold and each stage's band."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [Line2D([], [], color="black", linewidth=1.8, label="attendance")]
    handles += thresholds
    for stage in sorted({p.stage for p in chart.stages}):
        fill, hatch = _STAGE_STYLE.get(stage, _DEFAULT_STYLE)
        handles.append(
            Patch(facecolor=fill, hatch=hatch * 2, edgecolor="#555555", label=f"stage {stage}")
        )
    ax.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=7,
        ncol=len(handles) if len(handles) <= 6 else 4, frameon=False, handlelength=3,
    )  # fmt: skip


def _floor(chart: Chart) -> float:
    values = [v for v in chart.attendance if v is not None] + [v for _, v in chart.thresholds]
    low = min(values, default=80.0)
    return max(0.0, min(80.0, (low // 5) * 5 - 5))


def _metadata(fmt: str) -> dict[str, str | None]:
    # No creation date: the same case gives the same bytes.
    if fmt == "svg":
        return {"Date": None}
    if fmt == "pdf":
        return {"CreationDate": None}
    return {}

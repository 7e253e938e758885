"""The workload a plan implies: week by week, stage entries and the tasks each role would get.

Computed from the backtest's decisions (and universal tasks), printed as a table and drawn as a
chart a trust lead can put in front of governors.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from escalation_flow.backtest import SchoolResult
from escalation_flow.core.decisions import StageEntered, TaskCreated


@dataclass(frozen=True)
class Workload:
    weeks: tuple[date, ...]  # the Monday of each week with any school day in the period
    stages: tuple[int, ...]
    roles: tuple[str, ...]
    stage_entries: dict[tuple[date, int], int]  # (week, stage) -> pupils entering
    tasks: dict[tuple[date, str], int]  # (week, role) -> tasks created
    by_role_kind: dict[tuple[str, str], int]  # (role, kind) -> tasks over the period
    universal: dict[str, int]  # universal task id -> count

    @property
    def total_tasks(self) -> int:
        return sum(self.tasks.values())


def workload(books: Sequence[SchoolResult], first: date, last: date) -> Workload:
    entries: Counter[tuple[date, int]] = Counter()
    tasks: Counter[tuple[date, str]] = Counter()
    by_kind: Counter[tuple[str, str]] = Counter()
    universal: Counter[str] = Counter()
    for book in books:
        for history in book.history.values():
            for d in history:
                if isinstance(d, StageEntered) and d.stage > d.from_stage:
                    entries[(_monday(d.on), d.stage)] += 1
                elif isinstance(d, TaskCreated):
                    tasks[(_monday(d.on), d.role)] += 1
                    by_kind[(d.role, d.kind)] += 1
        for u in book.universal_tasks:
            universal[u.task] += 1
            tasks[(_monday(u.on), u.role)] += 1
            by_kind[(u.role, "universal")] += 1
    weeks = sorted({_monday(first + timedelta(days=i)) for i in range((last - first).days + 1)})
    return Workload(
        weeks=tuple(weeks),
        stages=tuple(sorted({s for _, s in entries})),
        roles=tuple(sorted({r for _, r in tasks})),
        stage_entries=dict(entries),
        tasks=dict(tasks),
        by_role_kind=dict(by_kind),
        universal=dict(sorted(universal.items())),
    )


def table(w: Workload) -> str:
    """Plain text: one row a week, stage entries then tasks by role; totals at the foot."""
    heads = [f"S{s}" for s in w.stages] + [_short(r) for r in w.roles]
    widths = [max(5, len(h)) for h in heads]
    lines = ["week of      " + "  ".join(h.rjust(n) for h, n in zip(heads, widths, strict=True))]
    totals = [0] * len(heads)
    for week in w.weeks:
        row = [w.stage_entries.get((week, s), 0) for s in w.stages]
        row += [w.tasks.get((week, r), 0) for r in w.roles]
        totals = [a + b for a, b in zip(totals, row, strict=True)]
        cells = "  ".join(str(v).rjust(n) for v, n in zip(row, widths, strict=True))
        lines.append(f"{week.isoformat()}    {cells}")
    cells = "  ".join(str(v).rjust(n) for v, n in zip(totals, widths, strict=True))
    lines.append(f"{'total':<10}    {cells}")
    lines.append("")
    lines.append(
        "S<n>: pupils entering stage n (upwards); other columns: tasks created for that role."
    )
    lines.append("Tasks by role and kind over the period:")
    for (role, kind), n in sorted(w.by_role_kind.items()):
        lines.append(f"  {role:<32} {kind:<12} {n:>7}")
    return "\n".join(lines) + "\n"


def chart(w: Workload, path: Path, title: str) -> Path:
    """Two panels, readable in black and white: stage entries and tasks by role, week by week."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = list(range(len(w.weeks)))
    labels = [d.strftime("%d %b") for d in w.weeks]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7.5), sharex=True)
    hatches = ["", "//", "..", "xx", "\\\\", "++", "oo"]
    greys = ["0.85", "0.65", "0.45", "0.3", "0.15"]
    base = [0] * len(x)
    for i, stage in enumerate(w.stages):
        values = [w.stage_entries.get((week, stage), 0) for week in w.weeks]
        top.bar(
            x,
            values,
            bottom=base,
            label=f"stage {stage}",
            color=greys[i % len(greys)],
            edgecolor="black",
            hatch=hatches[i % len(hatches)],
            linewidth=0.5,
        )
        base = [a + b for a, b in zip(base, values, strict=True)]
    top.set_ylabel("pupils entering a stage")
    top.legend(loc="upper left", fontsize=8, ncols=max(1, len(w.stages)))
    top.set_title(title)
    styles = ["-", "--", ":", "-."]
    markers = ["o", "s", "^", "D", "v", "x", "*"]
    for i, role in enumerate(w.roles):
        values = [w.tasks.get((week, role), 0) for week in w.weeks]
        bottom.plot(
            x,
            values,
            color="black",
            linestyle=styles[i % len(styles)],
            marker=markers[i % len(markers)],
            markersize=4,
            linewidth=1,
            label=role.replace("_", " "),
        )
    bottom.set_ylabel("tasks created")
    bottom.legend(loc="upper left", fontsize=8, ncols=2)
    step = max(1, len(x) // 16)
    bottom.set_xticks(x[::step], labels[::step], rotation=45, ha="right")
    bottom.set_xlabel("week commencing")
    for axis in (top, bottom):
        axis.grid(axis="y", color="0.8", linewidth=0.5)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _short(role: str) -> str:
    words = role.split("_")
    return "".join(w[0] for w in words).upper() if len(role) > 12 else role

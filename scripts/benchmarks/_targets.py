"""Issue 13's targets table: every row of the issue, its floor and goal, pass or miss.

``scripts/bench.py`` prints it after the figures. Each row names the figures that measure it
(the first one measured in this run is used); a row no section measured says "not measured", a
PostgreSQL row without a server says "skipped: no PostgreSQL". Targets are for the benchmark
trust (20 schools x 1,000 pupils); on the ``--quick`` trust the seconds are scaled by its share
of the pupils (or of the timers), which the header says. Rates (marks a second) are not scaled.
Import rows also give the ratio to the faster columnar CSV read (pyarrow or polars) measured in
the same run: the CSV-reading floor.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from benchmarks import Result

FULL_PUPILS = 20_000
FULL_TIMERS = 10_000
GIB = 1024.0


@dataclass(frozen=True)
class Target:
    row: str
    figures: tuple[str, ...]
    floor: float | None  # seconds (or MiB, or marks/s when ``rate``); None: not a number
    goal: float
    kind: str = "s"  # "s": seconds, scaled; "timers": seconds per 10,000 timers; "rate"; "MiB"
    postgres: bool = False
    floor_words: str = ""


TARGETS: tuple[Target, ...] = (
    Target("import marks, default (sealed), SQLite", ("registers.import_sqlite",),
           500_000, 1_000_000, "rate"),
    Target("  same, the command in a process of its own, SQLite", ("import_marks.sqlite_sealed",),
           500_000, 1_000_000, "rate"),
    # The command itself, in a process of its own (import_marks.py): the one PostgreSQL figure.
    Target("import marks, default (sealed), PostgreSQL", ("import_marks.postgres_sealed",),
           300_000, 1_000_000, "rate", postgres=True),
    Target("10,000 overdue timers fired, SQLite",
           ("daemon_day.fire_timers_sqlite",), 10, 3, "timers"),
    Target("  same, overdue at a daemon's start (100,000 pending), SQLite",
           ("daemon_start.fire_10k_overdue",), 10, 3, "timers"),
    Target("10,000 overdue timers fired, PostgreSQL", ("daemon_day.fire_timers_postgresql",),
           10, 3, "timers", postgres=True),
    Target("one school day (import, evaluate, persist), SQLite", ("daemon_day.one_day_sqlite",),
           4, 1),
    Target("  same, a daemon's first evening after a restart (its files), SQLite",
           ("daemon_day.one_day_first_sqlite",), 4, 1),
    Target("one school day (import, evaluate, persist), PostgreSQL",
           ("daemon_day.one_day_postgresql",), 4, 1.5, postgres=True),
    Target("  same, a daemon's first evening after a restart (its files), PostgreSQL",
           ("daemon_day.one_day_first_postgresql",), 4, 1.5, postgres=True),
    Target("the day's letters (PDFs), after the day", ("daemon_day.letter_pdfs_sqlite",),
           None, 5, floor_words="off run-day's path"),
    Target("backtest of the trust year, five plans", ("backtest.trust_year",), 12, 5),
    # The benchmark trust's 20 schools (registers.py), then one school of 20,000 pupils
    # (facts_bench.py): per-call costs weigh more on twenty schools of 1,000.
    Target("every fact for every school day", ("facts.all_days",), 1, 0.3),
    Target("  same, one school of as many pupils", ("facts_bench.every_day",), 1, 0.3),
    Target("facts for one day", ("facts.one_day",), 0.05, 0.02),
    Target("  same, one school of as many pupils", ("facts_bench.one_day",), 0.05, 0.02),
    Target("peak memory, import (its section)", ("registers.import_sqlite",), 1.5 * GIB, 1 * GIB, "MiB"),
    Target("peak memory, backtest (its section)", ("backtest.trust_year",), 1.5 * GIB, 1 * GIB, "MiB"),
)  # fmt: skip

CSV_FLOORS = ("csv_floor.pyarrow", "csv_floor.polars")


def postgres_configured() -> bool:
    return bool(
        os.environ.get("ESCALATION_FLOW_BENCH_POSTGRES_URL")
        or os.environ.get("ESCALATION_FLOW_TEST_POSTGRES_URL")
    )


def table(results: Sequence[Result], pupils: int, marks: int) -> str:
    """The targets table for the figures of one run."""
    by_name = {r.name: r for r in results}
    scale = pupils / FULL_PUPILS
    floors = [by_name[n] for n in CSV_FLOORS if n in by_name]
    csv_floor = min(floors, key=lambda r: r.median_s) if floors else None
    head = ("target (issue 13)", "measured", "floor", "goal", "verdict", "vs CSV floor")
    rows = [head]
    for t in TARGETS:
        found = next((by_name[n] for n in t.figures if n in by_name), None)
        if found is None:
            missing = t.postgres and not postgres_configured()
            words = "skipped: no PostgreSQL" if missing else "not measured"
            rows.append((t.row, words, _show(t, t.floor, scale), _show(t, t.goal, scale), "", ""))
            continue
        value = _value(t, found, marks)
        floor, goal = _scaled(t, t.floor, scale), _scaled(t, t.goal, scale)
        verdict = _verdict(t, value, floor, goal)
        ratio = ""
        if t.kind == "rate" and csv_floor is not None and csv_floor.median_s > 0:
            reader = csv_floor.name.split(".")[1]
            ratio = f"{found.median_s / csv_floor.median_s:.1f}x {reader} read"
        rows.append((t.row, _fmt(t, value), _show(t, t.floor, scale), _show(t, t.goal, scale),
                     verdict, ratio))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if scale != 1:
        lines.insert(0, f"(targets in seconds scaled by {scale:g}: the trust's share of 20,000 "
                        "pupils, or of 10,000 timers)")  # fmt: skip
    return "\n".join(lines)


def _value(t: Target, r: Result, marks: int) -> float:
    if t.kind == "rate":
        return marks / r.median_s if r.median_s > 0 else 0.0
    if t.kind == "MiB":
        return r.peak_rss_mib or 0.0
    if t.kind == "timers":  # seconds for 10,000 timers at the measured rate
        fired = r.extra.get("timers") or r.extra.get("timers/s", 0.0) * r.median_s
        return r.median_s * FULL_TIMERS / fired if fired else r.median_s
    return r.median_s


def _scaled(t: Target, target: float | None, scale: float) -> float | None:
    if target is None or t.kind != "s":
        return target
    return target * scale


def _verdict(t: Target, value: float, floor: float | None, goal: float) -> str:
    better = (lambda v, x: v >= x) if t.kind == "rate" else (lambda v, x: v <= x)
    if better(value, goal):
        return "pass (goal met)"
    if floor is None:
        return "goal missed"
    return "pass (floor met)" if better(value, floor) else "MISS"


def _show(t: Target, target: float | None, scale: float) -> str:
    if target is None:
        return t.floor_words
    return _fmt(t, _scaled(t, target, scale) or 0.0)


def _fmt(t: Target, v: float) -> str:
    if t.kind == "rate":
        return f"{v / 1000:,.0f}k marks/s"
    if t.kind == "MiB":
        return f"{v / GIB:.2f} GiB"
    if t.kind == "timers":
        return f"{v:.2f} s / 10k"
    return f"{v:.3g} s"


def loads() -> Mapping[str, float]:
    one, five, fifteen = os.getloadavg()
    return {"1 min": one, "5 min": five, "15 min": fifteen}

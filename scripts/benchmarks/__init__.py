"""The benchmark sections' contract: ``run(ctx: BenchContext) -> list[Result]``.

``scripts/bench.py`` runs each section module of this folder in a fresh ``python -c``
subprocess (see ``child_main``) so that the peak RSS it reports is that section's alone.
"""

from __future__ import annotations

import importlib
import json
import resource
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class BenchContext:
    """What a section may use: the benchmark trust's files and figures, and how often to run."""

    repo: Path
    data_dir: Path
    trust_file: Path
    marks_csv: Path
    roster_csv: Path
    schools: int
    pupils_per_school: int
    marks: int  # rows in marks.csv, amendments included
    start: str  # first and last day of the registers, YYYY-MM-DD
    end: str
    runs: int
    quick: bool
    #: medians (seconds) of figures measured earlier in this run, by figure name
    baselines: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BenchContext:
        paths = {"repo", "data_dir", "trust_file", "marks_csv", "roster_csv"}
        fields: dict[str, Any] = {k: Path(v) if k in paths else v for k, v in data.items()}
        return cls(**fields)


@dataclass(frozen=True)
class Result:
    """One figure: the median of ``runs`` timings, with what it is judged against."""

    name: str  # "<section>.<figure>", e.g. "csv_floor.csv_module"
    median_s: float
    runs: int
    min_s: float
    max_s: float
    extra: dict[str, float] = field(default_factory=dict)  # e.g. {"marks/s": 1.2e6}
    target_s: float | None = None  # pass when median_s <= target_s
    baseline_s: float | None = None  # the table shows median_s / baseline_s
    baseline_name: str | None = None
    peak_rss_mib: float | None = None  # the section process's peak, filled in by the harness

    @classmethod
    def of(
        cls,
        name: str,
        samples: list[float],
        *,
        rates: Mapping[str, float] | None = None,
        extra: Mapping[str, float] | None = None,
        target_s: float | None = None,
        baseline: tuple[str, float | None] | None = None,
    ) -> Result:
        """A result from raw timings; ``rates`` are counts turned into per-second figures
        (``{"marks/s": 7_600_000}``); ``baseline`` is (name, seconds or None)."""
        median = statistics.median(samples)
        figures = dict(extra or {})
        figures.update({k: v / median for k, v in (rates or {}).items() if median > 0})
        base_name, base_s = baseline if baseline else (None, None)
        return cls(
            name=name,
            median_s=median,
            runs=len(samples),
            min_s=min(samples),
            max_s=max(samples),
            extra=figures,
            target_s=target_s,
            baseline_s=base_s,
            baseline_name=base_name if base_s is not None else None,
        )

    @property
    def passed(self) -> bool | None:
        return None if self.target_s is None else self.median_s <= self.target_s

    @property
    def ratio(self) -> float | None:
        return None if not self.baseline_s else self.median_s / self.baseline_s


def measure(fn: Callable[[], object], runs: int) -> list[float]:
    """Wall-clock seconds of ``runs`` calls of ``fn``."""
    samples = []
    for _ in range(max(1, runs)):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def peak_rss_mib() -> float:
    """This process's peak resident set size so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def child_main(argv: list[str]) -> None:
    """In the section's own process: ``<section> <context.json> <results.json>``."""
    section, context_file, results_file = argv
    ctx = BenchContext.from_json(json.loads(Path(context_file).read_text(encoding="utf-8")))
    module = importlib.import_module(f"benchmarks.{section}")
    results = module.run(ctx)
    peak = peak_rss_mib()
    rows = [{**asdict(r), "peak_rss_mib": peak} for r in results]
    Path(results_file).write_text(json.dumps(rows, indent=2), encoding="utf-8")

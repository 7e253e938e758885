"""The floor under importing marks: the time merely to read ``marks.csv``.

Four readers: the raw bytes (the disk and page-cache floor), the ``csv`` module row by row
(what a plain-Python importer pays before doing anything), and ``pyarrow.csv`` and ``polars``
when installed (columnar readers, with their type inference). An importer is judged against
these: the targets table (``_targets``) gives its ratio to the faster columnar reader.
"""

from __future__ import annotations

import csv
from pathlib import Path

from benchmarks import BenchContext, Result, measure

ORDER = 0  # first, so later sections can use these figures as baselines
CHUNK = 16 * 1024 * 1024


def run(ctx: BenchContext) -> list[Result]:
    path = ctx.marks_csv
    megabytes = path.stat().st_size / 1e6
    rates = {"MB/s": megabytes, "marks/s": float(ctx.marks)}
    raw = Result.of(
        "csv_floor.read_bytes", measure(lambda: _read_bytes(path), ctx.runs), rates=rates
    )
    rows = Result.of(
        "csv_floor.csv_module",
        measure(lambda: _csv_module(path, ctx.marks), ctx.runs),
        rates=rates,
        baseline=("csv_floor.read_bytes", raw.median_s),
    )
    results = [raw, rows]
    try:
        import pyarrow.csv as pa_csv
    except ImportError:
        print("csv_floor: pyarrow is not installed; skipping its figure")
        return results

    def _pyarrow() -> None:
        table = pa_csv.read_csv(path)
        assert table.num_rows == ctx.marks, (table.num_rows, ctx.marks)

    results.append(
        Result.of(
            "csv_floor.pyarrow",
            measure(_pyarrow, ctx.runs),
            rates=rates,
            baseline=("csv_floor.csv_module", rows.median_s),
        )
    )
    try:
        import polars as pl
    except ImportError:
        print("csv_floor: polars is not installed; skipping its figure")
        return results

    def _polars() -> None:
        frame = pl.read_csv(path, infer_schema_length=10_000)
        assert frame.height == ctx.marks, (frame.height, ctx.marks)

    results.append(
        Result.of(
            "csv_floor.polars",
            measure(_polars, ctx.runs),
            rates=rates,
            baseline=("csv_floor.csv_module", rows.median_s),
        )
    )
    return results


def _read_bytes(path: Path) -> int:
    total = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            total += len(chunk)
    return total


def _csv_module(path: Path, expected: int) -> None:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        count = sum(1 for _ in reader)
    assert count == expected, (count, expected)

"""The project's benchmark harness.

    python scripts/bench.py [--quick] [--only SECTION ...] [--runs N] [--regenerate] [--list]

Generates the benchmark trust with scripts/make_trust.py into bench-data/ (20 schools x 1000
pupils over 2025-26, or 2 x 500 with --quick; only when missing or with --regenerate), then runs
each section of scripts/benchmarks/ in a fresh ``python -c`` subprocess, so that the peak RSS
reported (``resource.getrusage``) is that section's process alone: interpreter and imports
included. Prints a table with the machine and its load at the top, then issue 13's targets (every row
with its floor, goal and verdict; ``benchmarks/_targets.py``), and writes
bench-data/results.json. PostgreSQL figures run when ESCALATION_FLOW_BENCH_POSTGRES_URL (or
ESCALATION_FLOW_TEST_POSTGRES_URL) is set, and are "skipped: no PostgreSQL" otherwise.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parent
BENCH_DATA = REPO / "bench-data"
sys.path.insert(0, str(SCRIPTS))

from benchmarks import BenchContext, Result  # noqa: E402
from benchmarks import _targets as targets  # noqa: E402

TRUSTS: dict[bool, dict[str, Any]] = {
    False: {"schools": 20, "pupils_per_school": 1000, "seed": 7, "start": "2025-09-03",
            "end": "2026-07-21"},
    True: {"schools": 2, "pupils_per_school": 500, "seed": 7, "start": "2025-09-03",
           "end": "2026-07-21"},
}
CHILD = (
    "import sys; sys.path.insert(0, {scripts!r}); "
    "from benchmarks import child_main; child_main(sys.argv[1:])"
)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    sections = _sections()
    if args.list:
        print("\n".join(sections))
        return 0
    chosen = [s for s in sections if not args.only or s in args.only]
    unknown = set(args.only or ()) - set(sections)
    if unknown:
        print(f"no such section: {', '.join(sorted(unknown))} (have: {', '.join(sections)})")
        return 2
    machine = _machine()
    print(" | ".join(f"{k}: {v}" for k, v in machine.items()))
    ctx = _ensure_trust(args.quick, args.regenerate, args.runs)
    print(f"trust: {ctx.schools} schools x {ctx.pupils_per_school} pupils, {ctx.marks:,} marks, "
          f"{ctx.marks_csv.stat().st_size / 1e6:.0f} MB ({ctx.data_dir.relative_to(REPO)})")
    results: list[Result] = []
    failures: list[str] = []
    for section in chosen:
        print(f"-- {section}", flush=True)
        baselines = {r.name: r.median_s for r in results}
        ctx = replace(ctx, baselines=baselines)
        got = _run_section(section, ctx)
        if got is None:
            failures.append(section)
        else:
            results.extend(got)
    print(_table(results))
    print()
    print(targets.table(results, ctx.schools * ctx.pupils_per_school, ctx.marks))
    print(f"load at the end: {_load()}")
    _write_results(machine, ctx, results, failures)
    if failures:
        print(f"sections that failed: {', '.join(failures)}")
    return 1 if failures else 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", metavar="SECTION", help="run only these")
    parser.add_argument("--runs", type=int, default=3, help="timings per figure (median)")
    parser.add_argument("--quick", action="store_true", help="a 2 x 500 trust instead")
    parser.add_argument("--regenerate", action="store_true", help="write the trust again")
    parser.add_argument("--list", action="store_true", help="list the sections and stop")
    return parser.parse_args(argv)


def _sections() -> list[str]:
    """Section modules (those defining ``run``), in (ORDER, name) order; read, not imported."""
    found = []
    for path in sorted((SCRIPTS / "benchmarks").glob("*.py")):
        if path.stem.startswith("_"):
            continue
        body = ast.parse(path.read_text(encoding="utf-8")).body
        if not any(isinstance(n, ast.FunctionDef) and n.name == "run" for n in body):
            print(f"(skipping benchmarks/{path.name}: it defines no run(ctx))")
            continue
        order = 50
        for node in body:
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "ORDER" for t in node.targets)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, int)
            ):
                order = node.value.value
        found.append((order, path.stem))
    return [name for _, name in sorted(found)]


def _python_loop() -> str:
    def once() -> float:
        started = time.process_time()
        sum(i * i for i in range(5_000_000))
        return time.process_time() - started

    return f"{min(once() for _ in range(3)):.3f}"


def _machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": f"{ram:.1f} GiB",
        "python": platform.python_version(),
        "os": platform.platform(terse=True),
        "load (1/5/15 min)": _load(),
        # per-core speed differs up to threefold between machines of the same name here: a
        # figure to tell a slower machine from slower code when two runs' tables disagree
        "python loop (5M squares, min CPU-s)": _python_loop(),
        "postgresql": "yes" if targets.postgres_configured() else "skipped: no PostgreSQL",
    }


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in targets.loads().values())


def _ensure_trust(quick: bool, regenerate: bool, runs: int) -> BenchContext:
    params = {**TRUSTS[quick], "generator": _generator_digest()}
    folder = BENCH_DATA / ("quick" if quick else "full")
    stamp = folder / "generated.json"
    known = json.loads(stamp.read_text()) if stamp.exists() else {}
    missing = not (folder / "marks.csv").exists() or not (folder / "trust.yaml").exists()
    if regenerate or missing or known.get("params") != params:
        known = {"params": params, "marks": _generate(folder, params)}
        stamp.write_text(json.dumps(known, indent=2))
    return BenchContext(
        repo=REPO,
        data_dir=folder,
        trust_file=folder / "trust.yaml",
        marks_csv=folder / "marks.csv",
        roster_csv=folder / "roster.csv",
        schools=params["schools"],
        pupils_per_school=params["pupils_per_school"],
        marks=known["marks"],
        start=params["start"],
        end=params["end"],
        runs=runs,
        quick=quick,
    )


def _generator_digest() -> str:
    """A hash of the generator's code: a changed generator writes the trust again."""
    digest = hashlib.sha256()
    for path in [SCRIPTS / "make_trust.py", *sorted((SCRIPTS / "trustgen").glob("*.py"))]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _generate(folder: Path, p: dict[str, Any]) -> int:
    print(f"generating the benchmark trust into {folder.relative_to(REPO)} ...", flush=True)
    command = [
        sys.executable, str(SCRIPTS / "make_trust.py"), "--out", str(folder),
        "--schools", str(p["schools"]), "--pupils-per-school", str(p["pupils_per_school"]),
        "--seed", str(p["seed"]), "--from", p["start"], "--to", p["end"],
    ]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    print(done.stdout, end="")
    written = re.search(r"marks written ([\d,]+)", done.stdout)
    if written is None:
        raise SystemExit("make_trust.py did not say how many marks it wrote")
    return int(written.group(1).replace(",", ""))


def _run_section(section: str, ctx: BenchContext) -> list[Result] | None:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        context_file, results_file = Path(tmp) / "context.json", Path(tmp) / "results.json"
        context_file.write_text(json.dumps(ctx.to_json()))
        code = CHILD.format(scripts=str(SCRIPTS))
        command = [sys.executable, "-c", code, section, str(context_file), str(results_file)]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, check=False)
        if done.returncode != 0 or not results_file.exists():
            print(f"section {section} failed (exit {done.returncode})")
            return None
        rows = json.loads(results_file.read_text())
    print(f"   {section}: {time.perf_counter() - started:.1f} s in all", flush=True)
    return [Result(**row) for row in rows]


def _table(results: list[Result]) -> str:
    head = ("figure", "median s", "min s", "max s", "runs", "target s", "pass", "vs baseline",
            "peak MiB", "extra")
    rows = [head]
    for r in results:
        ratio = f"{r.ratio:.2f}x {r.baseline_name}" if r.ratio is not None else ""
        verdict = {None: "", True: "pass", False: "FAIL"}[r.passed]
        extra = "  ".join(f"{k} {_num(v)}" for k, v in r.extra.items())
        rows.append((r.name, f"{r.median_s:.3f}", f"{r.min_s:.3f}", f"{r.max_s:.3f}",
                     str(r.runs), "" if r.target_s is None else f"{r.target_s:g}", verdict, ratio,
                     "" if r.peak_rss_mib is None else f"{r.peak_rss_mib:.0f}", extra))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _write_results(
    machine: dict[str, str], ctx: BenchContext, results: list[Result], failures: list[str]
) -> None:
    out = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine,
        "trust": {k: v for k, v in ctx.to_json().items() if k not in {"baselines", "repo"}},
        "peak_rss": "per section: resource.getrusage(RUSAGE_SELF).ru_maxrss of its subprocess",
        "results": [{**asdict(r), "passed": r.passed, "ratio": r.ratio} for r in results],
        "failed_sections": failures,
    }
    BENCH_DATA.mkdir(exist_ok=True)
    (BENCH_DATA / "results.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    sys.exit(main())

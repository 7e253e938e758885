"""Generate a synthetic trust: trust.yaml, per-school calendars, roster.csv and marks.csv.

    python scripts/make_trust.py --out DIR --schools 20 --pupils-per-school 1000 --seed 7 \\
        [--from 2025-09-03 --to 2026-07-21] [--calendars FILE ...] [--name NAME]

The same arguments give the same bytes. Absence is shaped like the national figures (about 7%
overall, a fifth of pupils persistently absent, 2% severely); see scripts/trustgen/.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trustgen.trust import TrustSpec, make_trust


def parse_args(argv: list[str] | None = None) -> TrustSpec:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write into")
    parser.add_argument("--schools", type=int, default=20)
    parser.add_argument("--pupils-per-school", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--from", dest="start", type=date.fromisoformat, default=date(2025, 9, 3))
    parser.add_argument("--to", dest="end", type=date.fromisoformat, default=date(2026, 7, 21))
    parser.add_argument(
        "--calendars",
        type=Path,
        nargs="+",
        help="calendar files every school uses as they are (default: each school gets its own, "
        "varied from config/calendars/, written into OUT/calendars/)",
    )
    parser.add_argument("--name", help="the trust's name (default synthetic-trust-SEED)")
    args = parser.parse_args(argv)
    if args.schools < 1 or args.pupils_per_school < 1:
        parser.error("--schools and --pupils-per-school must be at least 1")
    return TrustSpec(
        out=args.out,
        schools=args.schools,
        pupils_per_school=args.pupils_per_school,
        seed=args.seed,
        start=args.start,
        end=args.end,
        calendars=tuple(args.calendars) if args.calendars else None,
        name=args.name,
    )


def main(argv: list[str] | None = None) -> int:
    spec = parse_args(argv)
    started = time.perf_counter()
    figures = make_trust(spec)
    print(figures.summary(time.perf_counter() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())

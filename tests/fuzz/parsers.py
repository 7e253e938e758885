"""Property: any input to a reader gives a result or one of our named errors (``errors.py``),
never another exception and never a hang. The strategies build inputs close enough to the real
formats to get past the first check: rows of register-like tokens, and the bundled YAML files
with bytes changed, inserted or cut."""

from __future__ import annotations

import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from escalation_flow.adapters.calendar_files import load_calendar, load_year
from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.adapters.register_files import read_marks, read_roster
from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.errors import EscalationFlowError

ROOT = Path(__file__).resolve().parents[2]
CALENDAR = ROOT / "config" / "calendars" / "england-2025-26.yaml"
FLOW = ROOT / "flows" / "leigh-academy-oaks.yaml"
TRUST = ROOT / "config" / "sample-trust" / "trust.yaml"
#: One input taking longer than this is a hang.
PATIENCE_SECONDS = 20

MARK_COLUMNS = ["school", "pupil", "date", "session", "code", "minutes_late", "recorded_at"]
ROSTER_COLUMNS = [
    "school", "pupil", "forename", "surname", "year_group", "date_of_birth", "admitted", "left",
]  # fmt: skip
TOKENS = st.sampled_from(
    [
        "", " ", "oaks", "pines", "100001", "P1", "P2", "../x", "=1+1", "-", "2025-09-03",
        "2025-09-04", "2025-12-25", "2025-02-30", "9999-99-99", "AM", "PM", "am", "/", "\\", "L",
        "U", "N", "H", "QQ", "0", "12", "-5", "99999", "2025-09-03T09:00:00+01:00",
        "2025-09-03T09:00:00", "2031-01-01T00:00:00Z", "x" * 300, '"', '""', "a,b", "\x00",
        "é", "\ufeff", "1e9", "nan",
    ]
)  # fmt: skip
TEXT = st.text(min_size=0, max_size=12)


def csv_text(columns: list[str]) -> st.SearchStrategy[str]:
    """A header (the real columns, shuffled, cut or with strangers) and rows of tokens."""
    header = st.one_of(
        st.just(columns),
        st.permutations(columns),
        st.lists(st.sampled_from([*columns, "extra", ""]), min_size=1, max_size=10),
    )

    def rows(names: list[str]) -> st.SearchStrategy[str]:
        cell = st.one_of(TOKENS, TOKENS, TEXT)
        row = st.lists(cell, min_size=max(len(names) - 1, 0), max_size=len(names) + 1)
        lines = st.lists(row.map(_joined), max_size=8)
        endings = st.sampled_from(["\n", "\r\n"])
        return st.tuples(lines, endings).map(
            lambda pair: pair[1].join([",".join(names), *pair[0]]) + pair[1]
        )

    return header.flatmap(rows)


def _joined(cells: list[str]) -> str:
    return ",".join(f'"{c}"' if "," in c else c for c in cells)


def mutated(path: Path) -> st.SearchStrategy[bytes]:
    """``path``'s bytes with a few changes: a byte replaced, bytes inserted, a stretch cut."""
    original = path.read_bytes()
    edit = st.tuples(
        st.sampled_from(["replace", "insert", "cut"]),
        st.integers(0, len(original)),
        st.binary(min_size=1, max_size=8)
        | st.sampled_from([b":", b"- ", b"\n", b"  ", b"{", b"[", b"'", b"\xff", b"&a", b"*a"]),
    )
    return st.lists(edit, min_size=1, max_size=4).map(lambda edits: _apply(original, edits))


def _apply(data: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
    for kind, at, chunk in edits:
        at = min(at, len(data))
        if kind == "replace":
            data = data[:at] + chunk + data[at + len(chunk) :]
        elif kind == "insert":
            data = data[:at] + chunk + data[at:]
        else:
            data = data[:at] + data[at + len(chunk) * 4 :]
    return data


@contextmanager
def patience(seconds: int = PATIENCE_SECONDS) -> Iterator[None]:
    """Fail, rather than hang, when the body takes longer than ``seconds``."""

    def hung(*_: Any) -> None:
        raise TimeoutError(f"a reader took more than {seconds} s on one input: a hang")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@cache
def calendars() -> dict[str, SchoolCalendar]:
    calendar = load_calendar(CALENDAR)
    return {"oaks": calendar, "pines": calendar}


def gives_a_result_or_a_named_error(read: Callable[[Path], object], data: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        with patience(), suppress(EscalationFlowError):  # a named error is a fine answer
            read(path)


def marks(path: Path) -> object:
    return read_marks(path, calendars(), aliases={"100001": "oaks"})


def marks_skipping(path: Path) -> object:
    return read_marks(path, calendars(), skip_invalid=True)


def roster(path: Path) -> object:
    return read_roster(path, {"oaks", "pines"}, aliases={"100001": "oaks"})


def calendar(path: Path) -> object:
    return load_year(path)


def flow(path: Path) -> object:
    return load_flow(path)


def trust(path: Path) -> object:
    # read from a temporary folder, so the flows and calendars it names are missing: that must
    # be a named error too
    return load_trust(path)

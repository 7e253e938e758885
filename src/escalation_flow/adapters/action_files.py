"""Staff actions CSV (the contract's format) into ``Action`` records, every problem named."""

from __future__ import annotations

import csv
import io
from collections.abc import Collection
from datetime import datetime
from pathlib import Path

from escalation_flow.core.school_day import Action
from escalation_flow.errors import InputError, Problem

REQUIRED = ("at", "school", "pupil", "action", "by")
OPTIONAL = ("outcome", "note")


def read_actions(
    path: Path, schools: Collection[str] | None = None
) -> dict[str, list[Action]]:
    """Actions by school id, in file order; all-or-nothing: any bad row refuses the file."""
    f = str(path)
    problems: list[Problem] = []
    out: dict[str, list[Action]] = {}
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {f}: {exc.strerror}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        bad = f"byte {data[exc.start]:#04x} is not UTF-8"
        raise InputError(f"{f} is not UTF-8 text", [Problem(f, line, None, bad)]) from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    line = 1
    try:
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise InputError(
                f"{f} is not an actions file",
                [Problem(f, 1, c, "required column is missing") for c in missing],
            )
        for row in reader:
            action = _row(row, f, line + 1, schools, problems)
            line = reader.line_num  # a quoted field over several lines: its first line
            if action is not None:
                out.setdefault(row["school"].strip(), []).append(action)
    except csv.Error as exc:
        problem = Problem(f, line + 1, None, str(exc))
        raise InputError(f"{f} is not a readable CSV", [problem]) from exc
    if problems:
        raise InputError(f"{f} has {len(problems)} bad row(s); nothing was read", problems)
    return out


def _row(
    row: dict[str, str],
    f: str,
    line: int,
    schools: Collection[str] | None,
    problems: list[Problem],
) -> Action | None:
    values = {k: (row.get(k) or "").strip() for k in (*REQUIRED, *OPTIONAL)}
    before = len(problems)
    for column in REQUIRED:
        if not values[column]:
            problems.append(Problem(f, line, column, "is empty"))
    if values["school"] and schools is not None and values["school"] not in schools:
        problems.append(Problem(f, line, "school", f"{values['school']!r} is not a known school"))
    at: datetime | None = None
    if values["at"]:
        try:
            at = datetime.fromisoformat(values["at"])
        except ValueError:
            problems.append(Problem(f, line, "at", f"{values['at']!r} is not ISO 8601"))
        if at is not None and at.tzinfo is None:
            problems.append(Problem(f, line, "at", f"{values['at']!r} has no UTC offset"))
    if len(problems) > before or at is None:
        return None
    return Action(
        at=at,
        pupil=values["pupil"],
        action=values["action"],
        by=values["by"],
        outcome=values["outcome"] or None,
        note=values["note"] or None,
        source=f"{f}:{line}",
    )

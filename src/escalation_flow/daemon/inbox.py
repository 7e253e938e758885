"""The inbox: a folder the daemon watches for MIS exports (marks or roster CSV files).

Each new ``*.csv`` is imported whole through the store's import path, then moved to
``processed/``; a file with problems is moved to ``rejected/`` with ``<name>.reasons.txt`` beside
it naming every problem, and nothing of it is imported. A file is taken only once it has stopped
changing (same size and modification time at two looks, or untouched for ``settle_seconds``);
files still being written should be named ``*.part`` (never taken) and renamed when complete.
A database failure leaves the file where it is, to be taken again at the next look.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from escalation_flow.adapters.register_files import read_marks, read_roster
from escalation_flow.adapters.store import ImportSummary
from escalation_flow.errors import InputError, Problem, RegisterError
from escalation_flow.service import Service

PROCESSED, REJECTED = "processed", "rejected"


@dataclass(frozen=True)
class Outcome:
    """What became of one inbox file."""

    file: Path
    moved_to: Path
    summary: ImportSummary | None = None  # None: rejected
    reasons: Path | None = None
    problem: str | None = None

    @property
    def imported(self) -> bool:
        return self.summary is not None


@dataclass
class Inbox:
    folder: Path
    settle_seconds: float = 2.0
    _seen: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def prepare(self) -> None:
        for name in ("", PROCESSED, REJECTED):
            (self.folder / name).mkdir(parents=True, exist_ok=True)

    def ready(self, wall_seconds: float) -> tuple[list[Path], list[Path]]:
        """(files to take now, files still settling), each sorted by name."""
        taken: list[Path] = []
        settling: list[Path] = []
        if not self.folder.is_dir():
            return taken, settling
        for path in sorted(self.folder.glob("*.csv")):
            if not path.is_file() or path.name.startswith("."):
                continue
            stat = path.stat()
            look = (stat.st_size, stat.st_mtime_ns)
            if self._seen.get(path) == look or wall_seconds - stat.st_mtime >= self.settle_seconds:
                taken.append(path)
                self._seen.pop(path, None)
            else:
                self._seen[path] = look
                settling.append(path)
        return taken, settling

    def take(self, path: Path, service: Service, now: datetime) -> Outcome:
        """Import one file all or nothing, then move it to processed/ or rejected/."""
        processed = _free_name(self.folder / PROCESSED, path.name, now)
        try:
            summary = import_file(service, path, processed, now)
        except InputError as exc:
            return self._reject(path, exc, now, service.worker)
        shutil.move(path, processed)
        return Outcome(path, processed, summary=summary)

    def _reject(self, path: Path, exc: InputError, now: datetime, worker: str) -> Outcome:
        target = _free_name(self.folder / REJECTED, path.name, now)
        reasons = target.with_name(target.name + ".reasons.txt")
        lines = [
            f"{path.name} was rejected at {now.isoformat(timespec='seconds')} by {worker}:",
            exc.summary,
            *(f"  {p}" for p in exc.problems),
            "Nothing from this file was imported. Correct it and put it back in the inbox.",
        ]
        reasons.write_text("\n".join(lines) + "\n", encoding="utf-8")
        shutil.move(path, target)
        return Outcome(path, target, reasons=reasons, problem=exc.summary)


def import_file(service: Service, path: Path, record_as: Path, now: datetime) -> ImportSummary:
    """A marks or a roster file (told apart by its header), through the store's import path."""
    trust, store = service.trust, service.store
    service.ensure_schools()
    header = _header(path)
    if {"session", "code"} <= header or not header & {"forename", "surname", "year_group"}:
        result = read_marks(path, trust.calendars(), aliases=trust.aliases)
        return store.import_marks(result, file=record_as, now=now, by=service.worker, seal=True)
    rosters = read_roster(path, set(trust.schools), aliases=trust.aliases)
    return store.import_roster(rosters, file=record_as, now=now, by=service.worker)


def _header(path: Path) -> set[str]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            first = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError) as exc:
        raise RegisterError(
            f"{path} cannot be read", [Problem(str(path), 1, None, str(exc))]
        ) from None
    return {name.strip() for name in first}


def _free_name(folder: Path, name: str, now: datetime) -> Path:
    """``folder/name``, or with the time added when a file of that name is already there."""
    target = folder / name
    if not target.exists():
        return target
    stem, suffix = Path(name).stem, Path(name).suffix
    stamp = now.strftime("%Y%m%dT%H%M%S")
    for n in range(1000):
        candidate = folder / f"{stem}.{stamp}{f'.{n}' if n else ''}{suffix}"
        if not candidate.exists():
            return candidate
    raise FileExistsError(target)

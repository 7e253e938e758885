"""The inbox: a folder the daemon watches for MIS exports (marks or roster CSV files).

Each new ``*.csv`` is imported whole through the store's import path, then moved to
``processed/``; a file with problems is moved to ``rejected/`` with ``<name>.reasons.txt`` beside
it naming every problem, and nothing of it is imported. A file is taken only once it has stopped
changing (same size and modification time at two looks, or untouched for ``settle_seconds``);
files still being written should be named ``*.part`` (never taken) and renamed when complete.
A database failure leaves the file where it is, to be taken again at the next look.

Only regular files are read: a symbolic link (``marks.csv -> /etc/shadow``), a folder or a pipe
named ``*.csv`` is moved to ``rejected/`` unread, with its reasons. Reasons files are readable by
the service's user only (0600): they quote the file's values.
"""

from __future__ import annotations

import csv
import os
import shutil
import stat
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
    rows_refused: int = 0  # rejected: the rows its problems name (the metrics' rejected rows)

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
            if path.name.startswith("."):
                continue
            try:
                found = path.lstat()  # the entry itself: a link is not followed
            except FileNotFoundError:  # taken away since the listing
                continue
            if not stat.S_ISREG(found.st_mode):
                taken.append(path)  # refused at once by ``take``; nothing to wait for
                continue
            look = (found.st_size, found.st_mtime_ns)
            if self._seen.get(path) == look or wall_seconds - found.st_mtime >= self.settle_seconds:
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
            _check_regular(path)
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
        _write_private(reasons, "\n".join(lines) + "\n")
        shutil.move(path, target)  # a link is moved as a link, never followed
        rows = len({p.line for p in exc.problems if p.line is not None})
        return Outcome(path, target, reasons=reasons, problem=exc.summary, rows_refused=rows)


def import_file(service: Service, path: Path, record_as: Path, now: datetime) -> ImportSummary:
    """A marks or a roster file (told apart by its header), through the store's import path."""
    trust, store = service.trust, service.store
    service.ensure_schools()
    header = _header(path)
    if {"session", "code"} <= header or not header & {"forename", "surname", "year_group"}:
        result = read_marks(path, trust.calendars(), aliases=trust.aliases, now=now)
        return store.import_marks(result, file=record_as, now=now, by=service.worker, seal=True)
    rosters = read_roster(path, set(trust.schools), aliases=trust.aliases)
    return store.import_roster(rosters, file=record_as, now=now, by=service.worker)


def _check_regular(path: Path) -> None:
    """Refuse anything but a regular file, before anything reads it."""
    mode = path.lstat().st_mode
    if stat.S_ISREG(mode):
        return
    kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
    raise RegisterError(
        f"{path.name} is {kind}; the inbox takes regular files only",
        [Problem(str(path), None, None, f"is {kind}: it was not read")],
    )


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new file only the service's user can read (0600), never through a
    link someone left at that name."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)  # the mode above is masked by umask and ignored for a file already there
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def _header(path: Path) -> set[str]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            first = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
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

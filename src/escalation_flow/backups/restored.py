"""``audit verify --against`` after a restore: records the restore took back are named as
such, not as a truncation, and only when that is provably what happened.

A checkpoint C an auditor made after a backup B and before B was restored saw records B never
held; after the restore they are missing. Each problem C's check finds is put down to the
restore only when all of these hold:

- the newest restore recorded in the database (``adapters/store/restores.py``) came after C
  was made, and the backup it restored was made before C;
- the database still holds everything B's own checkpoint (carried in the restore's row) saw:
  ``check_against`` B is clean, so nothing B held was taken away after the restore;
- the problem is about something B did not hold as C saw it: a case or chain longer in C
  than in B, a seal beyond B's, marks beyond B's count, a letter or task completion that B had
  not (or had otherwise).

Anything else stays a problem. A truncation after the restore (below what B held) fails the
second test and is reported as the tampering it is, with a warning saying the restore does not
explain it; a checkpoint made after the restore is never explained away.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from escalation_flow.adapters.store.restores import Restore, restores
from escalation_flow.audit.checkpoint import check_against, read_checkpoint
from escalation_flow.audit.verify import Breach
from escalation_flow.backups.compare import case_lengths
from escalation_flow.errors import InputError


def explain_restores(
    engine: Engine,
    checkpoint: Mapping[str, Any],
    found: list[Breach],
    warnings: list[str],
    school: str | None = None,
) -> list[Breach]:
    """Of ``found`` (what ``check_against(checkpoint)`` found, and only that: a record edited
    in place is ``verify_store``'s and never passes through here), those the newest restore
    does not explain; the ones it does are named in ``warnings``, saying so."""
    with engine.connect() as conn:
        done = restores(conn)
    if not done or not found:
        return found
    last = done[-1]
    backup = _carried(last)
    if backup is None:
        warnings.append(
            f"{_restore_words(last)}, but the checkpoint its row carries is not one this "
            "version wrote, or was edited: the restore explains nothing"
        )
        return found
    made = str(checkpoint["made_at"])
    backup_made = datetime.fromisoformat(str(backup["made_at"]))
    if not (backup_made < datetime.fromisoformat(made) < last.restored_at):
        return found
    lost = check_against(engine, backup, school)
    if lost:
        warnings.append(
            f"{_restore_words(last)}, but the database no longer holds everything that backup "
            f"held ({len(lost)} problem(s) against its checkpoint, first: {lost[0]}): the "
            "restore does not explain what is missing"
        )
        return found
    explained = [b for b in found if _before_backup(b, checkpoint, backup)]
    if explained:
        warnings.append(
            f"{_restore_words(last)}: records after it are missing by restore, not tampering "
            f"({len(explained)} entries of the checkpoint of {made} were made after that backup)"
        )
        warnings += [f"missing by restore: {b}" for b in explained]
    return [b for b in found if b not in explained]


def _carried(restore: Restore) -> dict[str, Any] | None:
    """The backup's checkpoint from the restore's row, read as a checkpoint file is (its
    digest and shape checked: the row is in the database, within reach of who edits it)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "carried.json"
        path.write_text(restore.checkpoint, encoding="utf-8")
        try:
            return read_checkpoint(path)
        except InputError:
            return None


def _restore_words(restore: Restore) -> str:
    return (
        f"restored at {restore.restored_at.isoformat()} from the backup of "
        f"{restore.backup_created_at.isoformat()} ({restore.backup_file})"
    )


def _before_backup(breach: Breach, then: Mapping[str, Any], backup: Mapping[str, Any]) -> bool:
    """Whether ``breach`` (against the checkpoint ``then``) is about something the backup did
    not hold as ``then`` saw it."""
    where = breach.where
    if where.startswith("seals of "):
        school = where[len("seals of ") :]
        return (breach.seq or 0) > len(backup["schools"].get(school, {}).get("seals", []))
    if where.startswith("marks of "):
        school = where[len("marks of ") :]
        held = backup["schools"].get(school, {}).get("marks", 0)
        return bool(then["schools"].get(school, {}).get("marks", 0) > held)
    if where.startswith("records of "):
        chain = where[len("records of ") :]
        return bool(
            then["records"].get(chain, [0])[0] > backup.get("records", {}).get(chain, [0])[0]
        )
    for name in ("letter", "task"):
        if where.startswith(f"{name} "):
            key = where.split(" ")[1]
            table = f"{name}s"
            return bool(backup[table].get(key) != then[table].get(key))
    cases_then, cases_backup = case_lengths(then), case_lengths(backup)
    return where in cases_then and cases_then[where] > cases_backup.get(where, 0)

"""``audit verify --against`` after a restore: records the restore took back are named as
such, not as a truncation, only when the auditor vouches for the backup from outside the
database, and only when that is provably what happened.

A checkpoint C an auditor made after a backup B and before B was restored saw records B never
held; after the restore they are missing. Nothing in the database can excuse them: the
``restores`` row, and the backup's manifest and checkpoint, are within reach of whoever can
write the database or the backups, so a forged backup (or a row inserted by hand) could pass
off any deletion as a restore. What excuses a missing record is anchored where C itself is: B's
checkpoint, written beside the backup (``FILE.checkpoint.json``) and kept by the auditor, given
with ``--restored-from``. Without it the missing records stay problems, with a warning naming
the restore the database claims. With it, each problem C's check finds is put down to the
restore only when all of these hold:

- the file's sha256 is that of the checkpoint the newest restore's row carries (the row says
  which backup was restored; the file, which the auditor holds, says what that backup held);
- the newest restore came after C was made, and B was made before C;
- the database still holds everything B saw: ``check_against`` B is clean, so nothing B held
  was taken away after the restore;
- the problem is about something B did not hold as C saw it: a case or chain longer in C
  than in B, a seal beyond B's, marks beyond B's count, a letter or task completion that B had
  not (or had otherwise).

Anything else stays a problem. A truncation after the restore (below what B held) fails the
third test and is reported as the tampering it is, with a warning saying the restore does not
explain it; a checkpoint made after the restore is never explained away.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from escalation_flow.adapters.store.restores import Restore, carried_sha256, restores
from escalation_flow.audit.checkpoint import check_against, read_checkpoint
from escalation_flow.audit.verify import Breach
from escalation_flow.backups.compare import case_lengths
from escalation_flow.errors import InputError

HINT = (
    "if you keep that backup's checkpoint (FILE.checkpoint.json, written beside it by "
    "`backup`), pass it with --restored-from BACKUP_CHECKPOINT to tell restore from truncation"
)


@dataclass(frozen=True)
class BackupCheckpoint:
    """A backup's checkpoint as the auditor holds it: the file, its document (digest and shape
    checked) and the sha256 of its bytes."""

    path: Path
    document: dict[str, Any]
    sha256: str


def read_backup_checkpoint(path: Path) -> BackupCheckpoint:
    """``--restored-from FILE``: refused (naming it) when it is not a checkpoint or was edited."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the backup's checkpoint: {exc}") from exc
    return BackupCheckpoint(path, read_checkpoint(path), hashlib.sha256(data).hexdigest())


def explain_restores(
    engine: Engine,
    checkpoint: Mapping[str, Any],
    found: list[Breach],
    warnings: list[str],
    school: str | None = None,
    restored_from: BackupCheckpoint | None = None,
) -> list[Breach]:
    """Of ``found`` (what ``check_against(checkpoint)`` found, and only that: a record edited
    in place is ``verify_store``'s and never passes through here), those the newest restore
    does not explain; the ones it does are named in ``warnings``, saying so. Nothing is
    explained without ``restored_from``."""
    with engine.connect() as conn:
        done = restores(conn)
    flag = f"--restored-from {restored_from.path}" if restored_from is not None else ""
    if not done:
        if restored_from is not None:
            warnings.append(f"{flag}: no restore is recorded in the database: it explains nothing")
        return found
    last = done[-1]
    made = datetime.fromisoformat(str(checkpoint["made_at"]))
    if not made < last.restored_at:
        if restored_from is not None:
            warnings.append(
                f"{flag}: the newest restore ({_restore_words(last)}) came before the checkpoint "
                f"of {checkpoint['made_at']} was made: it explains nothing"
            )
        return found
    if not found:
        return found
    if restored_from is None:
        warnings.append(
            f"the database says it was {_restore_words(last)}; nothing missing is put down to "
            f"it on the database's word: {HINT} (its sha256 should be {carried_sha256(last)})"
        )
        return found
    backup = restored_from.document
    if restored_from.sha256 != carried_sha256(last):
        warnings.append(
            f"{flag}: its sha256 is {restored_from.sha256}, the checkpoint the newest restore "
            f"({_restore_words(last)}) carries has {carried_sha256(last)}: not the backup "
            "restored, or the restore's row was changed; the restore explains nothing"
        )
        return found
    backup_made = datetime.fromisoformat(str(backup["made_at"]))
    if not backup_made < made:
        warnings.append(
            f"{flag}: that backup was made at {backup['made_at']}, not before the checkpoint "
            f"of {checkpoint['made_at']}: the restore explains nothing"
        )
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
            f"({len(explained)} entries of the checkpoint of {checkpoint['made_at']} were made "
            f"after that backup, whose checkpoint {restored_from.path} you hold)"
        )
        warnings += [f"missing by restore: {b}" for b in explained]
    return [b for b in found if b not in explained]


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

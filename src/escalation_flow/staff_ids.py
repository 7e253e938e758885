"""What a staff id is, where a person is named as the one who acted (the command line, an actions
file, a recorded migration): one place, so the service and the auditors' tools agree."""

from __future__ import annotations

import re
from collections.abc import Iterable

from escalation_flow.errors import ActionError, InputError


def staff_id(by: str | None) -> str:
    """Any non-blank word of at most 100 characters (the staff table's logins are one kind)."""
    text = (by or "").strip()
    if not text or len(text) > 100 or any(ch.isspace() for ch in text):
        raise ActionError(
            f"{by!r} is not a staff id (one word, e.g. s.jones, at most 100 characters)"
        )
    return text


#: A new login: letters, digits and ``. _ -`` (ASCII only, so no look-alike or invisible
#: character can pass for a colleague in the history), at most 64 characters (the column).
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def new_username(name: str, taken: Iterable[str]) -> str:
    """``name`` as a new member of staff's id, or ``InputError`` saying why not: its form, a
    name the service writes under itself, or one differing from a colleague's only by case."""
    from escalation_flow.actors import reserved_name

    if not _USERNAME.fullmatch(name):
        raise InputError(
            f"{name[:40]!r} cannot be a staff id: letters, digits and . _ - only (ASCII), "
            "starting with a letter or digit, at most 64 characters"
        )
    if reserved_name(name):
        raise InputError(f"{name!r} is reserved for the service's own records")
    clash = next((t for t in taken if t.casefold() == name.casefold()), None)
    if clash is not None:
        raise InputError(f"{name!r} differs from the existing staff id {clash!r} only by case")
    return name

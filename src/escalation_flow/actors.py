"""Who may be named as the one who acted, in the service's audit trail: a known member of staff
(a row of the staff table, made by ``escalation-flow users add``) or one of the system actors
declared here, and nobody else.

The system actors are the one list of names no person answers to: ``engine`` (records no person
caused: a school day's evaluation, a timer firing), ``auto`` (tasks done on their due dates in
demonstrations and rehearsals, as the backtest's ``--auto-complete-actions`` does) and the
daemon's worker names (``daemon:HOST:PID``, which write imports and claim timers).

The backtest's ``--actions`` file keeps free staff ids (the contract): it never reaches the
staff table, so only the form of an id is checked there (``staff_ids.staff_id``). Histories
already stored are never rewritten: an older record naming someone not in the staff table stays
as it was written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

from escalation_flow.errors import ActionError, InputError
from escalation_flow.staff_ids import staff_id

#: The actor of records no person caused.
ENGINE = "engine"
#: Completes tasks on their due dates with their default outcome (demos, rehearsals).
AUTO = "auto"
#: A daemon's worker name starts so: ``daemon:HOST:PID`` (``daemon_worker``).
DAEMON_PREFIX = "daemon:"
#: The fixed names; daemon workers are recognised by ``DAEMON_PREFIX``.
SYSTEM_ACTORS: tuple[str, ...] = (ENGINE, AUTO)


def daemon_worker(host: str, pid: int) -> str:
    """The name a daemon process writes under."""
    return f"{DAEMON_PREFIX}{host}:{pid}"


def is_system_actor(name: str) -> bool:
    """A name the service writes under itself. A daemon's worker name (``daemon:HOST:PID``) is
    the daemon's own: it only ever marks what the daemon claimed, so a ``--by`` or an actions
    file naming one is refused like any name that is not on the staff."""
    return name in SYSTEM_ACTORS


def reserved_name(name: str) -> bool:
    """Names no member of staff may take: the system actors and anything a daemon writes under."""
    return name.casefold() in SYSTEM_ACTORS or name.casefold().startswith(DAEMON_PREFIX)


class StaffDirectory(Protocol):
    """The staff table as the service asks it: which of these usernames are active staff."""

    def active_usernames(self, usernames: Iterable[str]) -> set[str]: ...


def how_to_add(name: str) -> str:
    return (
        f"add them with `escalation-flow users add {name} --name NAME --role ROLE "
        "[--school SCHOOL]` (no --school for a role over every school: the trust's attendance "
        "team, an auditor, the data protection officer)"
    )


def unknown_message(name: str) -> str:
    return (
        f"{name!r} is not a member of staff (nor a system actor: {', '.join(SYSTEM_ACTORS)}): "
        + how_to_add(name)
        + ", or see who there is with `escalation-flow users list`"
    )


class Actors:
    """Checks the name given as the one who acted. Without a directory only the form of a name
    is checked: stores built by hand for tests, builders and benchmarks (the composition root
    always hands the service the store's staff table)."""

    def __init__(self, directory: StaffDirectory | None = None) -> None:
        self.directory = directory

    @property
    def checks_staff(self) -> bool:
        return self.directory is not None

    def unknown(self, names: Iterable[str]) -> set[str]:
        """The well-formed names among ``names`` that are neither system actors nor staff."""
        people = {n for n in names if not is_system_actor(n)}
        if self.directory is None or not people:
            return set()
        return people - self.directory.active_usernames(people)

    def check(self, by: str | None) -> str:
        """The staff id, trimmed; ``ActionError`` naming the id and how to add it otherwise."""
        name = staff_id(by)
        if self.unknown([name]):
            raise ActionError(unknown_message(name))
        return name


#: A new login: letters, digits and ``. _ -`` (ASCII only, so no look-alike or invisible
#: character can pass for a colleague in the history), at most 64 characters (the column).
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def new_username(name: str, taken: Iterable[str]) -> str:
    """``name`` as a new member of staff's id, or ``InputError`` saying why not: its form, a
    name the service writes under itself, or one differing from a colleague's only by case."""
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

"""How the case file says dates, times and who did something, for a reader at a local authority:
"Friday 19 December 2025 at 4.30pm", "amended in the MIS by J. Patel", never a machine's
``2025-12-19T16:30:00+00:00`` or a system login such as ``root``.

Times are in the school's zone (Europe/London: GMT in winter, BST in summer), named once in
the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from zoneinfo import ZoneInfo

from escalation_flow.actors import SYSTEM_ACTORS
from escalation_flow.audit.knowledge import MarkVersion

#: Logins that are an MIS's or a server's own, not a person's. An amendment recorded under one is
#: said to be made by a system account: the file cannot name a person the MIS did not.
_SYSTEM_LOGINS = frozenset(
    {
        "root", "admin", "administrator", "system", "sys", "sysadmin", "service", "daemon",
        "cron", "scheduler", "batch", "import", "importer", "export", "sync", "api",
        "integration", "interface", "mis", "sims", "arbor", "bromcom", "scholarpack",
        "iris", "postgres", "sa", "dbo", "nobody", "unknown", "automatic", "auto",
    }
)  # fmt: skip
_SYSTEM_SHAPES = re.compile(
    r"^(svc|sys|system|service|api|bot|auto|sync|integration)[-_.]|[-_.](svc|bot|service|sync|api)$"
    r"|^nt authority\\|\$$",
    re.IGNORECASE,
)

#: The file's one note on whose zone its times are in.
ZONE_NOTE = "Times are UK local time (GMT or BST, as the clocks were that day)."


def long_date(day: date) -> str:
    """``Friday 19 December 2025``."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def short_date(day: date) -> str:
    """``19 Dec 2025``: a table's date column."""
    return f"{day.day} {day:%b %Y}"


def session_words(day: date, session: str) -> str:
    """``the morning of Wednesday 10 September 2025`` (``AM``/``PM``; another name as given)."""
    part = {"AM": "the morning", "PM": "the afternoon"}.get(session.upper(), session)
    return f"{part} of {long_date(day)}"


def clock_time(instant: datetime, zone: ZoneInfo) -> str:
    """``4.30pm``, ``9am``, ``12 noon``, ``12 midnight`` in ``zone``."""
    local = instant.astimezone(zone)
    hour, minute = local.hour, local.minute
    if minute == 0 and hour == 12:
        return "12 noon"
    if minute == 0 and hour == 0:
        return "12 midnight"
    suffix = "am" if hour < 12 else "pm"
    shown = hour % 12 or 12
    return f"{shown}{suffix}" if minute == 0 else f"{shown}.{minute:02d}{suffix}"


def when(instant: datetime, zone: ZoneInfo) -> str:
    """``Friday 19 December 2025 at 4.30pm`` (local)."""
    return f"{long_date(instant.astimezone(zone).date())} at {clock_time(instant, zone)}"


def is_system_login(login: str) -> bool:
    """Whether an MIS login names a system account rather than a person."""
    text = login.strip()
    return (
        not text
        or text.casefold() in _SYSTEM_LOGINS
        or text.casefold() in SYSTEM_ACTORS
        or bool(_SYSTEM_SHAPES.search(text))
    )


def mis_recorder(login: str | None) -> str:
    """Who recorded a mark in the MIS, in words: ``J. Patel``, ``a system account of the MIS
    (no person named)``, or ``an MIS user the register export does not name``."""
    if login is None or not login.strip():
        return "an MIS user the register export does not name"
    if is_system_login(login):
        return "a system account of the MIS (no person named)"
    return login.strip()


def recorded_in_mis(verb: str, login: str | None) -> str:
    """``amended in the MIS by J. Patel``; by a system login, ``... by a system account of the
    MIS (no person named)``; where the export does not say, ``... (user not named in the
    export)``."""
    if login is None or not login.strip():
        return f"{verb} in the MIS (user not named in the export)"
    return f"{verb} in the MIS by {mis_recorder(login)}"


def person(actor: str, staff: Mapping[str, str] | None = None) -> str:
    """Who did something in the service, in words: a member of staff by name (and login), the
    service itself for what it decided from the register, the demonstration's ``auto``."""
    if actor == "engine" or actor.startswith("daemon:"):
        return "the service"
    if actor == "auto":
        return "automatic (demo)"
    if actor == "MIS":
        return "the MIS"
    name = (staff or {}).get(actor)
    if name:
        return f"{name} ({actor})" if name != actor else actor
    if is_system_login(actor):
        # an import run from a server's own account (a cron job as root): no person to name
        return "a system account"
    return actor


def generated_line(generated_at: datetime, zone: ZoneInfo) -> str:
    """When the file was made, in words, and whose clock its times are on."""
    return f"Generated on {when(generated_at, zone)}. {ZONE_NOTE}"


def recorded_text(v: MarkVersion, index: int, zone: ZoneInfo) -> str:
    """One version of a mark: ``/: amended in the MIS by J. Patel on Monday 15 September 2025
    at 11am`` (the first version is ``recorded``)."""
    verb = "recorded" if index == 0 else "amended"
    if v.recorded_by is None or not v.recorded_by.strip():
        return f"{v.code}: {verb} on {when(v.recorded_at, zone)}"
    return f"{v.code}: {recorded_in_mis(verb, v.recorded_by)} on {when(v.recorded_at, zone)}"

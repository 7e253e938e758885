"""Pupils' names on the command line, and ``--pupil``: a name or id search (prefix, any case).

Names are read from the roster for the lines a command prints; they are never logged.
"""

from __future__ import annotations

from collections.abc import Iterable

import click

from escalation_flow.core.pupil_search import Named, full_name, search
from escalation_flow.errors import InputError, NotFoundError
from escalation_flow.service import Service

#: The option's help, the same on every command that takes it.
PUPIL_HELP = (
    "Only this pupil: the start of their id or of any of their names, any case "
    "('kha' finds Amira Khan)."
)

pupil_option = click.option("--pupil", "pupil_query", default=None, metavar="NAME|ID", help=PUPIL_HELP)


class Names:
    """Each school's pupils' names, read once per school for one command."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._schools: dict[str, dict[str, str]] = {}

    def of(self, school: str, pupil: str) -> str:
        if school not in self._schools:
            roster = self.service.store.load_roster(school)
            self._schools[school] = {p: full_name(r) for p, r in roster.pupils.items()}
        return self._schools[school].get(pupil, "")

    def named(self, school: str, pupils: Iterable[str]) -> list[Named]:
        return [Named(p, self.of(school, p)) for p in pupils]


def resolve(service: Service, school: str, query: str) -> str:
    """The one pupil of ``school`` that ``query`` finds among its roster and its cases; refused,
    listing them, when it finds several, and naming the query when it finds none."""
    key = service.setup(school).school
    roster = service.store.load_roster(key)
    known = dict.fromkeys([*roster.pupils, *(c.pupil for c in service.case_lines(key))])
    names = Names(service)
    found = search(query, names.named(key, known))
    if len(found) == 1:
        return found[0].pupil
    if not found:
        # an id the roster does not list may still be a pupil: the case lookup says if not
        if query.strip() and " " not in query.strip():
            return query.strip()
        raise NotFoundError(f"no pupil at {key} has an id or a name starting {query!r}")
    shown = "".join(f"\n  {f.label()}" for f in found[:20])
    more = f"\n  and {len(found) - 20} more" if len(found) > 20 else ""
    raise InputError(
        f"{len(found)} pupils at {key} match {query!r}; type more of the name or the id:"
        f"{shown}{more}"
    )

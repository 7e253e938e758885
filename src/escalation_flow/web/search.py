"""Find a pupil by name or id from every page: the start of the id, the whole name or any one
name, in any case and without accents (``core.pupil_search``, the rule the command line's
``--pupil`` uses), across the schools the viewer may read.

The index is every roster of the trust as sorted keys, built once per import (the import stamp
keys the cache), so a search is a binary search and a walk over the matches: two keystrokes at
30,000 pupils answer in milliseconds. Access is applied to the matches, never to the index, so
one index serves every viewer.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from functools import partial

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from escalation_flow.core.access import Principal
from escalation_flow.core.pupil_search import fold, keys
from escalation_flow.web.auth import require_user
from escalation_flow.web.plan_words import stage_name
from escalation_flow.web.safeguarding import safeguarding_states
from escalation_flow.web.school_data import flow_of, roster_of, school_name
from escalation_flow.web.webapp import WebApp, web_of

#: Results listed; the page says how many more matched.
SHOWN = 50
MAX_QUERY = 100


def routes() -> list[BaseRoute]:
    return [Route("/search", search_page, methods=["GET"])]


@dataclass(frozen=True)
class Pupil:
    school: str
    pupil: str
    forename: str
    surname: str
    year_group: str

    @property
    def name(self) -> str:
        return f"{self.forename} {self.surname}".strip() or self.pupil


@dataclass(frozen=True)
class PupilIndex:
    keys: list[str]  # sorted, lower case
    pupils: list[int]  # for each key, its pupil in ``every``
    every: list[Pupil]

    def find(self, text: str) -> list[Pupil]:
        """Every pupil ``core.pupil_search.matches`` finds for ``text`` (as the command line's
        ``--pupil`` does), by name; an exact id, when among them, alone."""
        q = fold(text)
        if not q:
            return []
        seen: set[int] = set()
        at = bisect.bisect_left(self.keys, q)
        while at < len(self.keys) and self.keys[at].startswith(q):
            seen.add(self.pupils[at])
            at += 1
        found = [self.every[i] for i in seen]
        exact = [p for p in found if fold(p.pupil) == q]
        found = exact or found
        found.sort(key=lambda p: (fold(p.surname), fold(p.forename), p.school, p.pupil))
        return found


def build_index(pupils: list[Pupil]) -> PupilIndex:
    """Every pupil under each of the search keys of ``core.pupil_search`` (id, whole name, each
    name and hyphenated part), sorted, so that a prefix is a binary search."""
    pairs: list[tuple[str, int]] = []
    for i, p in enumerate(pupils):
        pairs.extend((key, i) for key in set(keys(p.pupil, p.name)) if key)
    pairs.sort()
    return PupilIndex([k for k, _ in pairs], [i for _, i in pairs], pupils)


def pupil_index(web: WebApp) -> PupilIndex:
    """The trust's pupils, indexed once per import."""
    stamp = web.reads.import_stamp()

    def build() -> PupilIndex:
        pupils = [
            Pupil(school, r.pupil, r.forename, r.surname, r.year_group)
            for school in web.service.trust.schools
            for r in roster_of(web, school).pupils.values()
        ]
        return build_index(pupils)

    return web.cached(("pupil-index", stamp), build)


@dataclass(frozen=True)
class Found:
    pupil: Pupil
    school_name: str
    #: the open case's stage in words ("an open case" at a stage this viewer may not know), or ""
    case: str
    url: str


def search(web: WebApp, user: Principal, text: str) -> tuple[list[Found], int]:
    """(the first ``SHOWN`` pupils this viewer may read whose name or id starts so, how many)."""
    readable = [
        p
        for p in pupil_index(web).find(text[:MAX_QUERY])
        if user.can_read_pupil(p.school, p.year_group or None)
    ]
    shown = readable[:SHOWN]
    cases: dict[str, dict[str, str]] = {}
    stamps = web.reads.work_stamps() if shown else {}
    for school in {p.school for p in shown}:
        flow = flow_of(web, school)
        hidden = frozenset() if user.sees_safeguarding(school) else safeguarding_states(flow)
        open_cases = web.stamped(
            ("open-cases", school), stamps.get(school), partial(web.reads.open_cases, school)
        )
        cases[school] = {
            c.pupil: "an open case" if c.state in hidden else stage_name(flow, c.stage)
            for c in open_cases
        }
    found = [
        Found(
            p,
            school_name(web, p.school),
            cases[p.school].get(p.pupil, ""),
            f"/schools/{p.school}/pupils/{p.pupil}",
        )
        for p in shown
    ]
    return found, len(readable)


async def search_page(request: Request) -> Response:
    user = await require_user(request)
    web = web_of(request)
    text = request.query_params.get("q", "")[:MAX_QUERY]
    found, count = await run_in_threadpool(search, web, user, text)
    context = {
        "title": f"Pupils matching “{text}”" if text.strip() else "Find a pupil",
        "q": text,
        "search_q": text,
        "found": found,
        "count": count,
        "shown": SHOWN,
        "user": user,
        "csrf": request.state.session.csrf_token,
        "show_school": len(user.readable_schools(web.service.trust.schools)) > 1,
    }
    return web.templates.TemplateResponse(request, "search.html", context)

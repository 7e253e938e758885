"""The flow page: the school's plan as a diagram, and each stage in words."""

from __future__ import annotations

from dataclasses import dataclass

import graphviz
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from escalation_flow.adapters.flow_graph import mermaid, readable, render, stage_title
from escalation_flow.core import definition as d
from escalation_flow.web.auth import require_user
from escalation_flow.web.filters import humanize
from escalation_flow.web.readable import readable_school
from escalation_flow.web.school_data import flow_of, school_name
from escalation_flow.web.webapp import WebApp, error_page, web_of

#: Graphviz draws the diagram; a machine without it still gets the plan in words and as text.
NO_GRAPHVIZ = (
    "The diagram cannot be drawn on this server: Graphviz (the dot program) is not installed. "
    "The plan is written out stage by stage on the plan's page, with the diagram as Mermaid "
    "text that any Mermaid viewer draws."
)


def routes() -> list[BaseRoute]:
    return [
        Route("/schools/{school}/flow", flow_page),
        Route("/schools/{school}/flow.svg", flow_svg),
    ]


@dataclass(frozen=True)
class StageText:
    number: int
    title: str
    quote: str | None
    entry: list[tuple[str, str | None]]  # (the plan's words or the rule, the rule)
    entry_mode: str
    states: list[tuple[str, str | None, list[str]]]  # (name, plan's words, tasks)


async def flow_page(request: Request) -> Response:
    user = await require_user(request)
    web = web_of(request)

    def build() -> dict[str, object]:
        school = readable_school(user, web, request.path_params["school"])
        flow = flow_of(web, school)
        return {
            "school": school,
            "school_name": school_name(web, school),
            "flow": flow,
            "stages": [_stage_text(flow, s) for s in flow.definition.stages],
            "universal": [
                (humanize(u.task.id), u.quote, u.task.role.value) for u in flow.definition.universal
            ],
            "events": [(humanize(e.id), e.quote) for e in flow.definition.events],
            "diagram": diagram_svg(web, flow) is not None,
            "mermaid": mermaid(flow),
            "no_graphviz": NO_GRAPHVIZ,
        }

    context = await run_in_threadpool(build)
    context.update(
        title="How the plan works", user=user, csrf=request.state.session.csrf_token, nav="schools"
    )
    return web.templates.TemplateResponse(request, "flow.html", context)


async def flow_svg(request: Request) -> Response:
    user = await require_user(request)
    web = web_of(request)

    def build() -> bytes | None:
        school = readable_school(user, web, request.path_params["school"])
        return diagram_svg(web, flow_of(web, school))

    data = await run_in_threadpool(build)
    if data is None:
        return error_page(request, 503, "Diagram not available", NO_GRAPHVIZ)
    # An SVG opened as an image cannot run script; the policy says so again if opened directly.
    return Response(
        data,
        media_type="image/svg+xml",
        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )


def diagram_svg(web: WebApp, flow: d.Flow) -> bytes | None:
    """The plan drawn as SVG (drawn once per version), or None when Graphviz is missing."""
    try:
        return web.cached(("flow-svg", flow.version), lambda: render(flow, "svg"))
    except graphviz.ExecutableNotFound:
        return None  # not cached: installing Graphviz needs no restart


def _stage_text(flow: d.Flow, stage: d.Stage) -> StageText:
    entry: list[tuple[str, str | None]] = []
    mode = ""
    if stage.universal:
        entry = [("Every pupil is here until a later stage's conditions are met.", None)]
    elif stage.entry is None:
        entry = [("Only reached from another stage (see the diagram).", None)]
    else:
        mode = "any" if stage.entry.mode == "any" else "all"
        conditions = flow.definition.conditions
        for c in stage.entry.criteria():
            when = conditions[c.when].when if c.when in conditions else c.when
            rule = readable(flow, when)
            entry.append((f"“{c.quote}”", rule) if c.quote else (rule, None))
    states = []
    for sid, state in stage.states.items():
        tasks = [
            f"{humanize(t.template or t.id)} ({t.role.value.replace('_', ' ')}, within {t.due})"
            for t in state.tasks
        ]
        states.append((humanize(sid), state.quote, tasks))
    return StageText(stage.number, stage_title(stage), stage.quote, entry, mode, states)

"""What each letter template says of itself: the case history it states as fact.

A template that states a history without ``{% if history... %}`` ("even with the support and
review period we have offered") declares it in a comment, naming the tasks or letters a case
must have passed to receive it::

    {# states_history: [attendance_panel_meeting] #}

``flows check`` (``core.plan_rules.letter_truth_problems``) proves every path into the state
that sends the letter passes a state with such a task. Read from the template files here, so
that the core stays free of files.
"""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
_SUFFIX = ".html.j2"
_DECLARED = re.compile(r"\{#[^#]*?states_history:\s*\[([^\]]*)\]", re.S)

#: template name -> the history it states (``None``: no such template for the flow)
Claims = dict[str, tuple[str, ...] | None]


def states_history(text: str) -> tuple[str, ...]:
    """The names a template's ``states_history`` comment lists (none: an empty tuple)."""
    found = _DECLARED.search(text)
    if found is None:
        return ()
    return tuple(n.strip() for n in found.group(1).split(",") if n.strip())


def letter_claims(flow: str, names: set[str], directory: Path | None = None) -> Claims:
    """For each template ``names``: what it states, from the flow's own version if it has one."""
    folder = directory or TEMPLATES_DIR
    out: Claims = {}
    for name in sorted(names):
        own, shared = folder / flow / f"{name}{_SUFFIX}", folder / f"{name}{_SUFFIX}"
        path = own if own.is_file() else shared
        out[name] = states_history(path.read_text(encoding="utf-8")) if path.is_file() else None
    return out


def all_templates(directory: Path | None = None) -> set[tuple[str | None, str]]:
    """Every letter file as (flow id or None for a shared one, name)."""
    folder = directory or TEMPLATES_DIR
    found: set[tuple[str | None, str]] = {
        (None, p.name.removesuffix(_SUFFIX)) for p in folder.glob(f"*{_SUFFIX}")
    }
    for sub in (p for p in folder.iterdir() if p.is_dir()):
        found |= {(sub.name, p.name.removesuffix(_SUFFIX)) for p in sub.glob(f"*{_SUFFIX}")}
    return {(f, n) for f, n in found if not n.startswith("_")}

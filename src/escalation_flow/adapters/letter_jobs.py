"""One letter's PDF, rendered in a pool process (``service/letter_pool.py``).

Kept apart from the service so that a pool process imports only what rendering needs (the
letter's kept context and fpdf2, about half a second) rather than the whole service.
"""

from __future__ import annotations

from dataclasses import dataclass

from escalation_flow.adapters.letter_rendering import render_pdf
from escalation_flow.letters.kept import context_from_json


@dataclass(frozen=True)
class Job:
    letter_id: int
    template: str
    figures: str  # the kept context (JSON)
    flow: str


def render_job(job: Job) -> tuple[int, bytes | None, str | None]:
    """A letter's id with its PDF, or with why it could not be made."""
    try:
        pdf = render_pdf(job.template, context_from_json(job.figures), flow=job.flow)
        return job.letter_id, pdf, None
    except Exception as exc:
        return job.letter_id, None, f"{type(exc).__name__}: {exc}"[:300]

"""A letter readdressed while the pool renders it keeps no PDF of its old text: the pool's PDF
is kept only where the letter's figures are still those it rendered (``keep_letter_pdf``), and
the letter is rendered again from the new ones."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from escalation_flow.adapters.letter_jobs import Job, render_job
from escalation_flow.service import Service, letter_pool
from escalation_flow.service.letter_readdress import readdress_desk
from tests.adapters.test_letter_outbox import (
    ANN_MOVED,
    approve,
    clock,
    contacts_now,
    server,
    service,
    template,
    url,
)

pytestmark = pytest.mark.needs_program("openssl")
__all__ = ["clock", "server", "service", "template", "url"]


def test_a_letter_readdressed_while_the_pool_renders_it_keeps_the_new_texts_pdf(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    letter = approve(service, "P1")
    contacts_now(service, tmp_path, ANN_MOVED)
    assert service.outbox.queue().needs_readdressing == 1
    with service.store.engine.begin() as conn:  # still to render, as after the evening's commit
        conn.execute(sa.text("UPDATE letters SET pdf = NULL WHERE id = :i"), {"i": letter})

    def staff_readdress_meanwhile(job: Job) -> tuple[int, bytes | None, str | None]:
        if job.letter_id == letter:  # the job was read; the leader readdresses it now
            readdress_desk(service).readdress(letter, "s.head")
        return render_job(job)

    monkeypatch.setattr(letter_pool, "render_job", staff_readdress_meanwhile)
    letter_pool.render_pending(service.ctx, workers=0)
    assert "7 Refuge Close" in service.letter(letter).html
    pdf = _pdf(service, letter)
    # the old text's PDF is not kept: the letter stays to render, from its new text
    assert pdf is None or "7 Refuge Close" in _text(pdf), "the kept PDF is of the old text"
    monkeypatch.undo()
    letter_pool.render_pending(service.ctx, workers=0)
    pdf = _pdf(service, letter)
    assert pdf is not None and "7 Refuge Close" in _text(pdf)


def _pdf(service: Service, letter: int) -> bytes | None:
    with service.store.engine.connect() as conn:
        found = conn.execute(sa.text("SELECT pdf FROM letters WHERE id = :i"), {"i": letter})
        return found.scalar()  # type: ignore[no-any-return]


def _text(pdf: bytes) -> str:
    return "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)


def test_control_a_letter_readdressed_before_the_pool_reads_it(
    service: Service, tmp_path: Path
) -> None:
    letter = approve(service, "P1")
    contacts_now(service, tmp_path, ANN_MOVED)
    assert service.outbox.queue().needs_readdressing == 1
    with service.store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE letters SET pdf = NULL WHERE id = :i"), {"i": letter})
    readdress_desk(service).readdress(letter, "s.head")
    letter_pool.render_pending(service.ctx, workers=0)
    with service.store.engine.connect() as conn:
        pdf = conn.execute(sa.text("SELECT pdf FROM letters WHERE id = :i"), {"i": letter}).scalar()
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "7 Refuge Close" in text

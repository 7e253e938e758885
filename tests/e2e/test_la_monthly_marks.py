"""The monthly return marks a pupil the local authority has already been told of in an earlier
month's return ("already notified on <date>"), on the page and in every copy."""

from __future__ import annotations

from dataclasses import replace

from escalation_flow.adapters.report_files import la_monthly_csv
from escalation_flow.adapters.store import Store
from tests.e2e.test_reports import SCHOOL, desk, world
from tests.e2e.web_client import login, pages
from tests.e2e.web_world import NOW, World

__all__ = ["world"]  # the reports' fixture


def test_a_pupil_sent_in_an_earlier_months_return_is_marked_already_notified(
    world: World,
) -> None:
    store = Store(world.url)
    try:
        reports = desk(world, store)
        october = reports.la_monthly(SCHOOL, "2025-10")
        (row,) = october.rows
        assert "already notified" not in row.detail and row.notified_before is None
        # September's return, as sent, named the same pupil
        september = replace(reports.la_monthly(SCHOOL, "2025-09"), rows=october.rows)
        reports.record_sent(september, la_monthly_csv(september), "lead")
        again = reports.la_monthly(SCHOOL, "2025-10")
    finally:
        store.dispose()
    (marked,) = again.rows
    assert marked.notified_before == NOW
    assert marked.detail.endswith(f"; already notified on {NOW.date().isoformat()}")
    assert b"already notified on 2025-10-10" in la_monthly_csv(again)
    with pages(world) as client:
        assert login(client, "lead") == 303
        page = client.get(f"/schools/{SCHOOL}/la-monthly?month=2025-10")
        assert "already notified on 2025-10-10" in page.text

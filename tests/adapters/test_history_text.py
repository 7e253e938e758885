"""The history writer's quicker texts are the texts the formats define: each record's hash, its
body and each case's snapshot, over a backtest's year of cases and over awkward values."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache
from typing import Any

import pytest

from escalation_flow import backtest as bt
from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.adapters.store.case_writer import HistoryWriter
from escalation_flow.adapters.store.snapshots import case_document, case_from_json, case_to_json
from escalation_flow.core.case import ArmedTimer, Case, OpenTask, apply
from escalation_flow.core.chain import (
    GENESIS,
    ChainLink,
    body_of,
    canonical_json,
    instant_text,
    link_document_text,
    link_hash,
)
from escalation_flow.core.decisions import ActionUndone, Decision, Reason, _jsonable
from escalation_flow.stored import ENGINE, CaseChange, StoredCase
from tests.core.test_idle_pupils import CALENDAR, LAST, ROOT, registers

#: texts a school's data could hold that JSON must quote or escape
AWKWARD = ('say "hi"', "back\\slash", "tab\there", "line\nbreak", "é ü ß", "日本", "🙂", "\x7f")


@cache
def year() -> list[tuple[str, list[Decision]]]:
    """A backtest year of two bundled plans: each pupil's decisions."""
    out = []
    for name in ("family-liaison-five-stage", "academy-staged-intervention"):
        flow = load_flow(ROOT / "flows" / f"{name}.yaml")
        run = bt.SchoolRun(school="s", flow=flow, calendar=CALENDAR, marks=registers(3))
        book = bt.run_school(run, bt.Period(None, LAST), auto_complete=True)
        out += [(f"{name[:6]}-{book.pupils[p]}", h) for p, h in sorted(book.history.items())]
    return out


def old_link_hash(link: ChainLink) -> str:
    """The record's hash as the format defines it: a dict through ``canonical_json``."""
    document = {
        "case": link.case,
        "seq": link.seq,
        "on": link.on.isoformat(),
        "at": instant_text(link.at),
        "type": link.type,
        "body": link.body,
        "flow_version": link.flow_version,
        "actor": link.actor,
        "recorded_at": instant_text(link.recorded_at),
        "prev_hash": link.prev_hash,
    }
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


def old_to_event(d: Decision) -> dict[str, Any]:
    """``Decision.to_event`` as written before its field names were kept per class."""
    out: dict[str, Any] = {"date": d.on.isoformat(), "type": d.type}
    reason = None
    for f in fields(d):
        if f.name in ("on", "at"):
            continue
        value = getattr(d, f.name)
        if isinstance(value, Reason):
            reason = value
        elif value is not None and value != ():
            out[f.name] = _jsonable(value)
    if reason is not None:
        out["reason"] = {k: _jsonable(v) for k, v in reason.facts}
        for key in ("trigger", "criterion", "guard", "quote"):
            text = getattr(reason, key)
            if text is not None:
                out[key] = text
    return out


def test_the_year_is_a_realistic_case_set() -> None:
    decisions = [d for _, history in year() for d in history]
    kinds = {d.type for d in decisions}
    assert len(decisions) > 500
    assert {"case_opened", "stage_entered", "task_created", "timer_armed"} <= kinds


def test_every_record_of_a_year_is_hashed_and_written_as_the_format_defines() -> None:
    written = datetime(2026, 3, 27, 18, 0, 3, 250, tzinfo=UTC)
    writer = HistoryWriter(
        None,  # type: ignore[arg-type]  # the chain is worked out without the connection
        school_id=1,
        school="s",
        flow="f",
        flow_version="v1",
        now=written,
        worker="w",
    )
    for pupil, history in year():
        change = CaseChange(StoredCase(None, Case("s", pupil)), history, Case("s", pupil), ENGINE)
        rows = writer._chain(change)
        previous = GENESIS
        for seq, (d, row) in enumerate(zip(history, rows, strict=True), start=1):
            assert d.to_event() == old_to_event(d)
            link = ChainLink(
                case=f"s/{pupil}", seq=seq, on=d.on, at=d.at, type=d.type,
                body=canonical_json(old_to_event(d)), flow_version="v1", actor=ENGINE,
                recorded_at=written, prev_hash=previous,
            )  # fmt: skip
            assert row == {**link.__dict__, "hash": old_link_hash(link)}
            assert link.hash() == row["hash"]
            previous = row["hash"]


@pytest.mark.parametrize("text", AWKWARD)
def test_a_record_with_awkward_text_hashes_as_the_format_defines(text: str) -> None:
    at = datetime(2025, 10, 1, 16, 30, tzinfo=timezone(timedelta(hours=1)))
    link = ChainLink(
        case=f"s/{text}", seq=7, on=date(2025, 10, 1), at=at, type="task_created",
        body=canonical_json({"note": text}), flow_version=text, actor=text,
        recorded_at=at + timedelta(microseconds=5), prev_hash=GENESIS,
    )  # fmt: skip
    assert link.hash() == old_link_hash(link)


def test_fields_of_other_types_are_hashed_the_general_way() -> None:
    # a staff id given as a number, a missing actor: what ``canonical_json`` writes for them
    for actor, seq in ((12, 3), (None, 3), ("a", True)):
        args: tuple[Any, ...] = ("s/p", seq, "2025-10-01", "t", "k", "{}", "v", actor, "t", "0")
        text = link_document_text(*args)
        assert link_hash(*args) == hashlib.sha256(text.encode()).hexdigest()
        assert json.loads(text)["actor"] == actor


def test_a_decision_body_is_the_canonical_json_of_its_event() -> None:
    for _, history in year():
        for d in history:
            if not isinstance(d, ActionUndone):
                assert body_of(d) == canonical_json(old_to_event(d))


def dumps_canonical(value: Any) -> str:
    """The canonical JSON as the format defines it: ``json.dumps`` with its settings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_canonical_json_from_the_encoder_made_once_is_json_dumps_text() -> None:
    for _, history in year():
        for d in history:
            assert canonical_json(d.to_event()) == dumps_canonical(d.to_event())
    awkward = {
        "b": list(AWKWARD), "a": {"z": 1.5, "y": float("nan"), "x": -0.0, "w": 1e300},
        "c": [None, True, False, 0, -7, 2**70, (1, "two")], "é": {}, "": [], "d": "",
        "e": {"3": 1, "10": 2, "ü": [{"k": "v"}]},
    }  # fmt: skip
    assert canonical_json(awkward) == dumps_canonical(awkward)
    for scalar in ("text", 3, 2.5, None, True, "日本"):
        assert canonical_json(scalar) == dumps_canonical(scalar)
    for wrong in ({"a": {1, 2}}, [date(2025, 1, 1)], {"k": object()}):
        with pytest.raises(TypeError, match="not JSON serializable"):
            canonical_json(wrong)


def old_snapshot(case: Case) -> str:
    return json.dumps(case_document(case), separators=(",", ":"), ensure_ascii=False)


def test_every_case_of_a_year_after_every_decision_snapshots_as_its_document() -> None:
    seen = 0
    for pupil, history in year():
        case = Case("s", pupil)
        for d in history:
            case = apply(case, d)
            text = case_to_json(case)
            assert text == old_snapshot(case)
            assert case_from_json(text, "s", pupil) == case
            seen += 1
    assert seen > 500


def test_pairs_written_before_are_written_again_by_their_own_values_not_equal_ones() -> None:
    # the texts of (name, count) and (name, day) pairs are kept by the pair, and (n, 1) equals
    # (n, True) and (n, 1.0) as a key: each must still be written as its own value
    day = date(2025, 10, 1)
    ones = (("n", 1), ("n", True), ("n", 1.0), ("n", day), ("n", datetime(2025, 10, 1)))
    for first, second in itertools.permutations(ones, 2):
        for counts in ((first,), (second,), (first, second)):
            case = Case("s", "p", event_counts=counts, recorded_on=counts)
            assert case_to_json(case) == old_snapshot(case)


@pytest.mark.parametrize("text", AWKWARD)
def test_a_case_with_awkward_values_snapshots_as_its_document(text: str) -> None:
    task = OpenTask(
        key=f"{text}#1", task=text, role=text, kind="letter", due=date(2025, 10, 3),
        approval=True, created_on=date(2025, 10, 1), template=None, outcomes=(text, "sent"),
    )  # fmt: skip
    timer = ArmedTimer(
        key="review#1", timer=text, due=date(2025, 11, 3),
        fire_at=datetime(2025, 11, 3, 8, 0, 0, 17, tzinfo=UTC), armed_on=date(2025, 10, 1),
    )  # fmt: skip
    case = Case(
        "s", "p", flow=text, flow_version="v", stage=3, state=text, opened_on=date(2025, 9, 4),
        tasks=(task, task), timers=(timer,), event_counts=((text, 2), ("x_outcome_y", 1)),
        entered_by=text, recorded_on=((text, date(2025, 10, 1)),),
    )  # fmt: skip
    assert case_to_json(case) == old_snapshot(case)
    assert case_from_json(case_to_json(case), "s", "p") == case


def test_values_of_other_types_in_a_case_are_written_the_general_way() -> None:
    # nothing in a case holds these today; should it, the text stays ``json``'s
    odd = Case(
        "s", "p", event_counts=(("a", 1.5), ("b", float("nan")), ("c", True), (1, 2), ("d",)),
        stage=True,
    )  # fmt: skip
    assert case_to_json(odd) == old_snapshot(odd)

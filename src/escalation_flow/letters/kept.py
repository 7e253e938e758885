"""A letter's whole context as kept with it (``letters.figures``, JSON), so that its PDF,
rendered later and in another process (``adapters/letter_jobs.py``), says exactly what its HTML
said. Pure: text in, values out."""

from __future__ import annotations

import json
from dataclasses import fields, is_dataclass
from datetime import date, time
from typing import Any

from escalation_flow.letters.addressing import Household
from escalation_flow.letters.context import (
    CaseHistory,
    Contact,
    Figures,
    LetterContext,
    Meeting,
    PenaltyNotices,
    Pupil,
    School,
)

# -- the context as JSON ----------------------------------------------------------------------


def context_to_json(ctx: LetterContext) -> str:
    # (``asdict`` of the whole context would try to copy ``extra``, a read-only mapping)
    document: dict[str, Any] = {}
    for f in fields(ctx):
        value = getattr(ctx, f.name)
        if is_dataclass(value) and not isinstance(value, type):
            value = _as_dict(value)
        document[f.name] = value
    document["extra"] = dict(ctx.extra)
    document["addressees"] = [_as_dict(h) for h in ctx.addressees]
    return json.dumps(document, default=_plain, sort_keys=True, ensure_ascii=False)


#: a dataclass's field names by its type, found once (``fields`` builds its tuple each call)
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _as_dict(value: Any) -> Any:
    """``dataclasses.asdict`` as far as its JSON goes: dataclasses as dicts of their fields,
    lists and tuples as lists, all the way down, but with nothing else deep-copied (``asdict``
    copies every leaf, and a day prepares hundreds of letters). ``json`` writes the two alike
    (``tests/adapters/test_letter_history.py``)."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value  # most of a context's values: asked first
    names = _FIELD_NAMES.get(kind)
    if names is None and is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES[kind] = tuple(f.name for f in fields(value))
    if names is not None:
        return {name: _as_dict(getattr(value, name)) for name in names}
    if isinstance(value, list | tuple):
        return [_as_dict(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_dict(v) for k, v in value.items()}
    return value


def context_from_json(text: str) -> LetterContext:
    d = json.loads(text)
    figures: dict[str, Any] = {
        k: (date.fromisoformat(v) if k in ("period_from", "period_to") else v)
        for k, v in d["figures"].items()
    }
    meeting = d.get("meeting")
    return LetterContext(
        school=School(**{**d["school"], "address_lines": tuple(d["school"]["address_lines"])}),
        pupil=Pupil(**d["pupil"]),
        figures=Figures(**figures),
        stage=d["stage"],
        stage_name=d["stage_name"],
        letter_date=date.fromisoformat(d["letter_date"]),
        contact=Contact(**d["contact"]),
        next_review=date.fromisoformat(d["next_review"]) if d.get("next_review") else None,
        meeting=(
            Meeting(
                date=date.fromisoformat(meeting["date"]),
                time=time.fromisoformat(meeting["time"]),
                place=meeting["place"],
            )
            if meeting
            else None
        ),
        extra=d.get("extra") or {},
        # letters prepared before the case's history was kept state none
        history=CaseHistory(
            **{k: tuple(v) for k, v in (d.get("history") or {}).items()}
        ),
        penalty_notices=PenaltyNotices(**(d.get("penalty_notices") or {})),
        # letters kept before signatories, addressees and drafts: signed by the contact, one
        # copy to the parent or carer, not a draft (as they were prepared)
        signatory=Contact(**d["signatory"]) if d.get("signatory") else None,
        addressees=_households(d.get("addressees") or []),
        draft=bool(d.get("draft", False)),
    )


def addressees_of(text: str) -> tuple[Household, ...]:
    """Who a prepared letter is for, from its kept context (``letters.figures``): each
    household a copy goes to (contact ids, names, postal address, emails), as known when it
    was prepared. One empty ``Household`` when no contact with parental responsibility was
    known: that copy says "To the parent or carer of ..." and the office addresses it."""
    return context_from_json(text).copies


def _households(items: list[dict[str, Any]]) -> tuple[Household, ...]:
    return tuple(
        Household(
            contacts=tuple(h["contacts"]),
            names=tuple(h["names"]),
            postal_address=h["postal_address"],
            emails=tuple(h["emails"]),
        )
        for h in items
    )


def _plain(value: Any) -> Any:
    if isinstance(value, date | time):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} into a letter's context")

"""A folded ``Case`` as JSON and back: the ``cases.snapshot`` cache.

A snapshot holds exactly what ``core.case.fold`` yields after ``length`` records, so loading one
equals folding the history (the case-store tests check it). It is written field by field from
the dataclasses themselves, with a fingerprint of their field names: when the code's ``Case``
gains or loses a field, old snapshots no longer match and the history is folded instead.
School and pupil come from the row, not the snapshot.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from typing import Any

from escalation_flow.core.case import ArmedTimer, Case, OpenTask

_CLASSES: dict[str, type] = {c.__name__: c for c in (OpenTask, ArmedTimer)}
_OWN = ("school", "pupil")
#: how values are written (below); a snapshot in another format is not read. 3: a case's
#: ``event_counts`` also hold the last outcome of each task and event (issue 11)
_FORMAT = 3


def _fingerprint() -> str:
    names = [
        f"{c.__name__}:{','.join(f.name for f in fields(c))}" for c in (Case, OpenTask, ArmedTimer)
    ]
    return hashlib.sha256(";".join([str(_FORMAT), *names]).encode()).hexdigest()[:16]


FINGERPRINT = _fingerprint()


#: field names read once (``dataclasses.fields`` rebuilds its tuple on every call: a day writes
#: thousands of snapshots)
_CASE_FIELDS = tuple(f.name for f in fields(Case) if f.name not in _OWN)
_FIELDS: dict[type, tuple[str, ...]] = {
    c: tuple(f.name for f in fields(c)) for c in (OpenTask, ArmedTimer)
}
_SCALARS = (type(None), bool, int, float, str)


def case_to_json(case: Case) -> str:
    """The snapshot's text: ``case_document`` as ``json.dumps`` writes it (compact, UTF-8),
    written here value by value (a day writes thousands: building the document first and
    walking it again in ``json`` was most of the cost). The two are held equal by the tests."""
    get = _WRITERS.get
    parts = [key + get(type(v := getattr(case, name)), _other)(v) for name, key in _CASE_KEYS]
    return "{" + ",".join(parts) + _TAIL


def case_document(case: Case) -> dict[str, Any]:
    """The snapshot as a JSON document: ``case_to_json`` is its compact text."""
    document = {name: _encode(getattr(case, name)) for name in _CASE_FIELDS}
    document["_v"] = FINGERPRINT
    return document


#: ``json``'s own quoting of a text (``ensure_ascii=False``)
_quoted = json.encoder.encode_basestring
_CASE_KEYS = tuple((name, f"{_quoted(name)}:") for name in _CASE_FIELDS)
_TAIL = f',"_v":{_quoted(FINGERPRINT)}}}'


# ``value`` encoded (``_encode``) as compact JSON text is ``_WRITERS.get(type(value),
# _other)(value)``: written out in each writer rather than called through one function, as a
# snapshot holds about seventy values.


def _other(value: Any) -> str:
    """A type without its own writer below, through ``json`` itself."""
    return json.dumps(_encode(value), separators=(",", ":"), ensure_ascii=False)


#: the text of a (text, count) or (text, day) pair, by the pair: the same few event names
#: with small counts and school days recur across a day's thousands of snapshots, and looking
#: a pair up is a fifth of writing it (at most ``_PAIRS_KEPT`` kept a process)
_PAIR_TEXTS: dict[tuple[str, int | date], str] = {}
_PAIRS_KEPT = 50_000


def _tuple_text(value: tuple[Any, ...]) -> str:
    """A tuple, its (text, count) and (text, day) pairs written at once: a case's
    ``event_counts`` and ``recorded_on`` are most of its values."""
    get = _WRITERS.get
    known = _PAIR_TEXTS
    parts = []
    for v in value:
        if type(v) is tuple and len(v) == 2 and type(v[0]) is str:
            name, second = v
            kind = type(second)
            # (the type first: a pair of (name, True) equals (name, 1) as a key)
            if kind is int or kind is date:
                text = known.get(v)
                if text is None:
                    if kind is int:
                        text = f'{{"u":[{_quoted(name)},{int.__repr__(second)}]}}'
                    else:
                        text = f'{{"u":[{_quoted(name)},{{"d":"{second.isoformat()}"}}]}}'
                    if len(known) < _PAIRS_KEPT:
                        known[v] = text
                parts.append(text)
                continue
        parts.append(get(type(v), _other)(v))
    return '{"u":[' + ",".join(parts) + "]}"


def _fields_text(kind: type) -> Callable[[Any], str]:
    names = _FIELDS[kind]
    head = "{" + _quoted(kind.__name__) + ":["

    def text(value: Any) -> str:
        get = _WRITERS.get
        return (
            head + ",".join([get(type(v := getattr(value, n)), _other)(v) for n in names]) + "]}"
        )

    return text


_WRITERS: dict[type, Callable[[Any], str]] = {
    str: _quoted,
    int: int.__repr__,
    bool: lambda v: "true" if v else "false",
    type(None): lambda _: "null",
    tuple: _tuple_text,
    date: lambda v: '{"d":"' + v.isoformat() + '"}',
    datetime: lambda v: '{"t":"' + v.isoformat() + '"}',
    **{kind: _fields_text(kind) for kind in (OpenTask, ArmedTimer)},
}


def case_from_json(text: str, school: str, pupil: str) -> Case | None:
    """The case, or None when the snapshot was written for another shape of ``Case``."""
    document: dict[str, Any] = json.loads(text, object_hook=_decode)
    if document.pop("_v", None) != FINGERPRINT:
        return None
    return Case(school=school, pupil=pupil, **document)


# Every value that is not a JSON scalar is a one-key object, so that json's own parser rebuilds
# it (``object_hook``) as it reads: a case loads in one pass, with no walk over it afterwards.


def _encode(value: Any) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is tuple:
        return {"u": [_encode(v) for v in value]}
    names = _FIELDS.get(kind)
    if names is not None:
        return {kind.__name__: [_encode(getattr(value, n)) for n in names]}
    return _encode_other(value)


def _encode_other(value: Any) -> Any:
    """Subclasses and the instants (``_encode`` takes the exact types first)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    if isinstance(value, tuple):
        return {"u": [_encode(v) for v in value]}
    if is_dataclass(value) and type(value).__name__ in _CLASSES:
        return {type(value).__name__: [_encode(getattr(value, f.name)) for f in fields(value)]}
    raise TypeError(f"a case snapshot cannot hold {type(value).__name__}")


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) != 1:
        return obj  # the snapshot itself
    ((key, value),) = obj.items()
    if key == "u":
        return tuple(value)
    if key == "d":
        return date.fromisoformat(value)
    if key == "t":
        return datetime.fromisoformat(value)
    if key in _CLASSES:
        return _CLASSES[key](*value)
    return obj

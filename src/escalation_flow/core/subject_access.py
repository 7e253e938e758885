"""A subject access request's draft, and the rules that decide what it may hold, as pure code.

The draft is for the data protection officer to review, never for the requester as it stands.
Every line written into it passes through one ``DraftWriter``, so that no text can reach the
draft without the redaction rules having seen it:

- **Third parties are redacted, visibly.** Another person's postal address, email or telephone
  number, a sibling's name, another pupil named in a staff note: each is replaced by a marker
  (``[REDACTED: ...]``) and listed with its reason, for the officer to confirm or restore.
  Matching is on whole words, case-insensitive, longest first, so "3 Mill Road" is caught
  before "Mill Road" and "Eve" is not found inside "Evening".
- **Free text is redacted by pattern as well, and always listed for review.** A staff note,
  a reason or an outcome's text may carry what no record says: a number typed another way
  ("07700 900248" for "07700900248"), a new address. In those fields UK telephone numbers (in
  any spacing), email addresses, UK postcodes and a house number with its street are redacted
  whoever they belong to (the officer may restore one), and every free-text field is listed in
  the review whether or not anything was redacted: the checklist never suggests it is clean.
- **Safeguarding records are withheld, never written.** A record the pages restrict to the
  designated safeguarding lead appears in the draft only as a marker saying a record exists
  and is withheld, and as a flag for review under the Data Protection Act 2018, Schedule 3
  (the serious-harm exemption). Its words (notes, task names, states) are never read into a
  line: the caller hands in only that it exists, when, and of what kind.
- **What is a judgement is flagged, not decided**: a parent's request reaching their child's
  records, a home address the child lives at, a contact the school must not contact.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from escalation_flow.core.contacts import ContactVersion
from escalation_flow.core.marks import PupilRecord

#: The heading every page of the draft carries until the officer has reviewed it.
DRAFT_HEADING = "DRAFT — NOT FOR RELEASE until reviewed by the data protection officer"


class SubjectKind(StrEnum):
    PUPIL = "pupil"
    CONTACT = "contact"


class Redacted(StrEnum):
    """What a redaction hid; the value is the marker's words."""

    ADDRESS = "another person's postal address"
    EMAIL = "another person's email address"
    TELEPHONE = "another person's telephone number"
    SIBLING = "a sibling's name or data"
    OTHER_PUPIL = "another pupil's name"
    OTHER_HOUSEHOLD = "another household's copy of this letter"


REDACTION_REASONS: dict[Redacted, str] = {
    Redacted.ADDRESS: "third-party personal data: a contact other than the requester",
    Redacted.EMAIL: "third-party personal data: a contact other than the requester",
    Redacted.TELEPHONE: "third-party personal data: a contact other than the requester",
    Redacted.SIBLING: "third-party personal data: a sibling is a data subject in their own right",
    Redacted.OTHER_PUPIL: "third-party personal data: another pupil named in a record",
    Redacted.OTHER_HOUSEHOLD: (
        "third-party personal data: the names and address of another household the letter "
        "was also addressed to"
    ),
}


class Flagged(StrEnum):
    SAFEGUARDING = "safeguarding record withheld"
    CHILD_DATA = "a child's records requested by a parent"
    HOME_ADDRESS = "the pupil's home address"
    DO_NOT_CONTACT = "a contact the school must not contact"
    UNSENT_LETTER = "a letter addressed to the requester but never sent"


FLAG_REASONS: dict[Flagged, str] = {
    Flagged.SAFEGUARDING: (
        "its content is not in this draft: review with the designated safeguarding lead whether "
        "the Data Protection Act 2018, Schedule 3 (serious harm) exemption applies before "
        "anything about it, its existence included, is released or confirmed"
    ),
    Flagged.CHILD_DATA: (
        "a parent's request is for their own data; the child's records are the child's, and "
        "releasing them to a parent is a separate decision (the child's capacity and interests, "
        "a court order, the other parent): the command did not include them. If you decide the "
        "parent is entitled, run the pupil's request and review it"
    ),
    Flagged.HOME_ADDRESS: (
        "this contact lives with the pupil, so their address is the pupil's home address: it is "
        "redacted like every contact's; restore it only if the requester is entitled to it"
    ),
    Flagged.DO_NOT_CONTACT: (
        "the MIS marks this contact as not to be contacted (a court order or a safeguarding "
        "reason may lie behind it): check before releasing anything that names them"
    ),
    Flagged.UNSENT_LETTER: (
        "it is held and addressed to them, but they never received it, and it speaks of their "
        "child: what it says about the child is part of the decision on the child's records"
    ),
}


@dataclass(frozen=True)
class Secret:
    """A piece of third-party text the draft must not show."""

    text: str
    kind: Redacted


@dataclass(frozen=True)
class Redaction:
    section: str
    where: str
    kind: Redacted
    reason: str


@dataclass(frozen=True)
class Flag:
    section: str
    where: str
    kind: Flagged
    reason: str


#: What the review says of every free-text field, redacted or not.
FREE_TEXT_REVIEW = "free text: read it for third parties before release"


@dataclass(frozen=True)
class FreeText:
    """A line holding text staff typed (``fields`` names which): read by the officer."""

    section: str
    where: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Section:
    title: str
    lines: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class Draft:
    """One subject access draft: what is held, and what the officer must review before release."""

    kind: SubjectKind
    subject: str  # "school-03/S03-P0005" or the contact id
    subject_name: str
    requested_by: str  # the officer who ran it (staff id)
    generated_at: datetime
    sections: tuple[Section, ...]
    redactions: tuple[Redaction, ...]
    flags: tuple[Flag, ...]
    #: every line holding free text (notes, reasons, outcomes' text), redacted or not
    free_text: tuple[FreeText, ...] = ()
    heading: str = DRAFT_HEADING

    def counts(self) -> dict[str, int]:
        return {
            "sections": len(self.sections),
            "lines": sum(len(s.lines) for s in self.sections),
            "redactions": len(self.redactions),
            "flags": len(self.flags),
            "free_text": len(self.free_text),
            "safeguarding_withheld": sum(1 for f in self.flags if f.kind is Flagged.SAFEGUARDING),
        }


@dataclass(frozen=True)
class SessionMarks:
    """One session's mark as known now, and every version when it was amended."""

    day: date
    session: str  # AM | PM
    code: str
    #: (code, recorded at, recorded by) oldest first; empty: never amended
    versions: tuple[tuple[str, datetime, str | None], ...] = ()


@dataclass(frozen=True)
class AuditLine:
    """One staff audit-log entry about a pupil."""

    at: datetime
    actor: str
    action: str
    detail: str | None


# -- redaction -------------------------------------------------------------------------------------


def marker(kind: Redacted) -> str:
    return f"[REDACTED: {kind.value}]"


WITHHELD = (
    "[WITHHELD: a safeguarding record exists here; its content is not in this draft "
    "(see the review list)]"
)


class Redactor:
    """The secrets as one pattern, compiled once for a whole draft."""

    def __init__(self, secrets: Sequence[Secret]) -> None:
        self.by_text = {s.text.casefold(): s for s in sorted(secrets, key=lambda s: -len(s.text))}
        alternatives = "|".join(re.escape(s.text) for s in self.by_text.values())
        self.pattern = (
            re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE) if secrets else None
        )

    def __call__(self, text: str) -> tuple[str, list[Redacted]]:
        """``text`` with every secret replaced by its marker, and what was hidden, in order."""
        if self.pattern is None or not text:
            return text, []
        found: list[Redacted] = []

        def swap(match: re.Match[str]) -> str:
            kind = self.by_text[match.group(0).casefold()].kind
            found.append(kind)
            return marker(kind)

        return self.pattern.sub(swap, text), found


#: A UK telephone number: +44 (with an optional "(0)") or 0, then nine or ten more digits
#: with at most two spaces, hyphens, dots or brackets between any two ("07700 900248",
#: "(01392) 123-456", "+44 (0)7700 900248"); ``_telephone`` checks the digits.
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\s?44\s?(?:\(0\)\s?)?|\(?0)\d(?:[\s().-]{0,2}\d){8,9}(?!\d)"
)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+(?!\w)")
#: A UK postcode, with or without its space, in either case ("EX5 4AB", "ex54ab").
_POSTCODE = re.compile(r"(?<!\w)[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}(?!\w)", re.IGNORECASE)
#: A house number and its street: "29 Victoria Rd", "3a Mill Road", "12, St John's Close".
_STREET = re.compile(
    r"(?<![\w-])\d{1,4}[A-Za-z]?,?\s+(?:[A-Z][\w'.-]*\s+){1,3}"
    r"(?i:road|rd|street|st|avenue|ave|lane|ln|close|drive|dr|way|crescent|cres|place|pl|"
    r"court|ct|gardens|gdns|terrace|grove|hill|square|sq|walk|row|mews|park|view|rise|parade|"
    r"green|estate|gate|grange|wharf)\b\.?"
)


def _telephone(candidate: str) -> bool:
    digits = re.sub(r"\D", "", candidate)
    if digits.startswith("44"):
        digits = "0" + digits[2:].removeprefix("0")
    return digits.startswith("0") and len(digits) in (10, 11)


def redact_patterns(text: str) -> tuple[str, list[Redacted]]:
    """``text`` with every telephone number, email address, postcode and house number with
    its street replaced by its marker, whoever they belong to (for free text: what staff typed
    is matched by its form, not against what the records hold)."""
    found: list[Redacted] = []

    def swap(kind: Redacted, check: bool = True) -> Callable[[re.Match[str]], str]:
        def inner(match: re.Match[str]) -> str:
            if not check or _telephone(match.group(0)):
                found.append(kind)
                return marker(kind)
            return match.group(0)

        return inner

    text = _EMAIL.sub(swap(Redacted.EMAIL, check=False), text)
    text = _PHONE.sub(swap(Redacted.TELEPHONE), text)
    text = _STREET.sub(swap(Redacted.ADDRESS, check=False), text)
    text = _POSTCODE.sub(swap(Redacted.ADDRESS, check=False), text)
    return text, found


def redact(text: str, secrets: Sequence[Secret]) -> tuple[str, list[Redacted]]:
    """``text`` with every secret replaced by its marker, and what was hidden, in order."""
    return Redactor(secrets)(text)


def contact_secrets(
    contacts: Iterable[ContactVersion], *, requester: str | None = None
) -> list[Secret]:
    """The reach details (address, each line of it, email, telephone) of every contact but the
    ``requester`` (a contact id; None: every contact is a third party). What the requester's
    own records also say (a shared household's address) is theirs, and not a secret."""
    contacts = list(contacts)
    own: set[str] = set()
    for c in contacts:
        if c.contact == requester:
            own |= {v.casefold() for v in _details(c)}
    out: dict[str, Secret] = {}
    for c in contacts:
        if c.contact == requester:
            continue
        for text, kind in _reach(c):
            if text.casefold() not in own and len(text) >= 4:
                out.setdefault(text.casefold(), Secret(text, kind))
    return list(out.values())


def _reach(c: ContactVersion) -> list[tuple[str, Redacted]]:
    out = [(line, Redacted.ADDRESS) for line in _address_parts(c.address)]
    if c.email.strip():
        out.append((c.email.strip(), Redacted.EMAIL))
    if c.telephone.strip():
        out.append((c.telephone.strip(), Redacted.TELEPHONE))
    return out


def _details(c: ContactVersion) -> list[str]:
    return [text for text, _ in _reach(c)]


def _address_parts(address: str) -> list[str]:
    """The whole address and each of its lines (a letter prints it a line at a time)."""
    whole = " ".join(address.split())
    parts = [p.strip() for p in address.replace("\n", ",").split(",") if p.strip()]
    return [p for p in dict.fromkeys([whole, *parts]) if p]


def pupil_secrets(
    pupils: Iterable[PupilRecord],
    *,
    subject: Collection[tuple[str, str]],
    siblings: Collection[tuple[str, str]],
) -> list[Secret]:
    """Names and ids of pupils other than the ``subject`` ones: a sibling's full name, forename
    and id (a note about a family names a brother by his first name), any other pupil's full
    name and id. A word of the subject's own name is never a secret."""
    pupils = list(pupils)
    own = {
        w.casefold()
        for p in pupils
        if (p.school, p.pupil) in subject
        for w in (p.forename, p.surname, _full(p))
        if w
    }
    out: dict[str, Secret] = {}
    for p in pupils:
        key = (p.school, p.pupil)
        if key in subject:
            continue
        kind = Redacted.SIBLING if key in siblings else Redacted.OTHER_PUPIL
        words = [_full(p), p.pupil] + ([p.forename] if kind is Redacted.SIBLING else [])
        for w in words:
            if w and w.casefold() not in own and len(w) >= 2:
                held = out.get(w.casefold())
                if held is None or kind is Redacted.SIBLING:
                    out[w.casefold()] = Secret(w, kind)
    return list(out.values())


def _full(p: PupilRecord) -> str:
    return " ".join(x for x in (p.forename, p.surname) if x)


# -- writing the draft -----------------------------------------------------------------------------


@dataclass
class DraftWriter:
    """Collects the draft's sections; every line is redacted as it is written."""

    secrets: Sequence[Secret]
    _redactor: Redactor | None = None
    _sections: list[Section] = field(default_factory=list)
    _lines: list[str] = field(default_factory=list)
    _title: str = ""
    _note: str = ""
    _redactions: list[Redaction] = field(default_factory=list)
    _flags: list[Flag] = field(default_factory=list)
    _free: list[FreeText] = field(default_factory=list)

    def section(self, title: str, note: str = "") -> None:
        self._close()
        self._title, self._note = title, note

    def line(self, text: str, where: str, free: Sequence[str] = ()) -> None:
        """One line of held data, its third parties redacted and listed. ``free`` names the
        free-text fields the line holds (a staff note, a reason): the line is then redacted by
        pattern too, and listed for the officer to read whatever was found."""
        if self._redactor is None:
            self._redactor = Redactor(self.secrets)
        shown, hidden = self._redactor(text)
        if free:
            shown, patterned = redact_patterns(shown)
            hidden += patterned
            self._free.append(FreeText(self._title, where, tuple(free)))
        for kind in dict.fromkeys(hidden):
            self._redactions.append(Redaction(self._title, where, kind, REDACTION_REASONS[kind]))
        self._lines.append(shown)

    def redacted(self, kind: Redacted, where: str, prefix: str = "") -> None:
        """A line that is wholly third-party data: only its marker is written."""
        self._lines.append(prefix + marker(kind))
        self._redactions.append(Redaction(self._title, where, kind, REDACTION_REASONS[kind]))

    def withheld(self, where: str, prefix: str = "") -> None:
        """A safeguarding record: a marker and a flag, never its words. ``where`` and
        ``prefix`` say when and of what kind, in words the caller chose without reading it."""
        self._lines.append(prefix + WITHHELD)
        self.flag(Flagged.SAFEGUARDING, where)

    def flag(self, kind: Flagged, where: str, detail: str = "") -> None:
        reason = FLAG_REASONS[kind] + (f" ({detail})" if detail else "")
        self._flags.append(Flag(self._title, where, kind, reason))

    def draft(
        self,
        kind: SubjectKind,
        subject: str,
        subject_name: str,
        requested_by: str,
        generated_at: datetime,
    ) -> Draft:
        self._close()
        return Draft(
            kind=kind,
            subject=subject,
            subject_name=subject_name,
            requested_by=requested_by,
            generated_at=generated_at,
            sections=tuple(self._sections),
            redactions=tuple(self._redactions),
            flags=tuple(self._flags),
            free_text=tuple(self._free),
        )

    def _close(self) -> None:
        if self._title:
            self._sections.append(Section(self._title, tuple(self._lines), self._note))
        self._lines = []
        self._title = self._note = ""

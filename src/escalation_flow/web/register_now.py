"""The pages' one way to a school's register and facts as known now: the service's ``RegisterAsKnown``.

The pages never count facts themselves: they read what the daemon reads (``RegisterAsKnown.load``, the
register as known at the instant asked), counted by ``core.facts.KnownFacts`` as the flow
version in question counts them (its ``min_possible_sessions``). Every page reaches the register through ``register_known_now``
and the facts through ``facts_known_now``: point these two at the service's own facts use case
when it has one.
"""

from __future__ import annotations

from datetime import datetime

from escalation_flow.core.definition import Flow
from escalation_flow.core.facts import FactTable
from escalation_flow.service import Service
from escalation_flow.service.register import RegisterAsKnown


def register_known_now(service: Service, school: str, now: datetime, through: int) -> RegisterAsKnown:
    """The school's register as known at ``now``, counted through school day ``through``."""
    return RegisterAsKnown.load(service.store, service.setup(school), now, through)


def facts_known_now(register: RegisterAsKnown, day: int, flow: Flow) -> FactTable:
    """Facts at the end of school day ``day``, as ``flow`` (the version a case runs under, or
    the school's current one) counts them: its own ``min_possible_sessions``, never the
    current flow's. The register's own ``facts``: the daemon's evening reads the same table,
    the penalty-notice register's facts with it."""
    return register.facts(day, flow)

"""escalation-flow: English schools' attendance escalation plans as auditable state machines."""

__version__ = "0.1.0"

"""``python -m escalation_flow`` is the ``escalation-flow`` command."""

from escalation_flow.cli import main

main()

"""The auditors' tools: tamper evidence over the history and the marks (``verify``), replay of a
case's decisions on the register as it stood (``replay``), and the case file a local authority
asks for (``chronology``, ``export``). See docs/audit/README.md."""

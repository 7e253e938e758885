"""Backup and restore (``escalation-flow backup`` / ``restore``): one file holding a consistent
copy of the database and the audit checkpoint made from that copy; restore checks it, puts it
back, records that it did, and verifies the result against the checkpoint it carried.

Its own package, not ``adapters/store``: it makes and checks audit checkpoints (``audit``), which
the store may not import, and it drives the store, the daemon's lock and external programs.
"""

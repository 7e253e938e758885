"""The synthetic trust generator behind ``scripts/make_trust.py``.

Modules: ``calendars`` (each school's calendar, varied a little from a base one), ``days`` (the
school days covered and what each is like), ``roster`` (invented pupils), ``profiles`` (each
pupil's propensities, and the planted "story" pupils), ``registers`` (the codes, shaped like the
national figures), ``rows`` (vectorised CSV bytes), ``figures`` (what the registers add up to)
and ``trust`` (the whole run). Everything is drawn from numpy generators seeded from the one
``--seed``, so the same arguments give the same bytes.
"""

"""Letters to parents and carers.

``letters.context`` holds what a letter says about one pupil (pure data and the way figures,
dates and times are written); ``letters/templates`` holds one Jinja2 template per letter a plan
names. Rendering them to HTML and PDF is I/O and lives in ``adapters.letter_rendering``.

Nothing here sends anything: a letter is prepared, approved by a named person, and recorded as
sent by a person.
"""

from __future__ import annotations

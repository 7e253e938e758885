"""The worklist's question, as the query string carries it: which tasks (school, year group,
stage, role, kind, overdue), in what order, and which page.

Everything a person chose lives in the URL so that a link to "overdue letters at school-07,
oldest first, page 3" can be shared and bookmarked. Parsing never fails: a value the page does
not know is dropped (a stale link shows the wider list, never an error page).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from urllib.parse import urlencode

#: Rows per page a person may choose; the first is the default.
PAGE_SIZES = (50, 25, 100, 200)
#: The columns the worklist sorts by, in the order the page offers them.
SORTS = {
    "due": "Due date",
    "school": "School",
    "pupil": "Pupil",
    "year": "Year group",
    "stage": "Stage",
    "task": "Task",
    "role": "Role",
}
#: ``role=mine``: only the tasks of the viewer's own roles (not everything they may record).
MINE = "mine"


@dataclass(frozen=True)
class TaskQuery:
    school: str = ""
    year: str = ""
    stage: str = ""  # a stage number, or "" for any
    role: str = ""  # a task role, ``mine``, or "" for any
    kind: str = ""
    overdue: bool = False
    sort: str = "due"
    desc: bool = False
    page: int = 1
    size: int = PAGE_SIZES[0]

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> TaskQuery:
        """The query in ``params`` (a request's query string or a form); unknown values dropped."""

        def text(name: str) -> str:
            value = params.get(name, "").strip()
            return value if len(value) <= 64 and value.isprintable() else ""

        page = text("page")
        size = text("size")
        sort = text("sort")
        return cls(
            school=text("school"),
            year=text("year"),
            stage=text("stage") if text("stage").isdigit() else "",
            role=text("role"),
            kind=text("kind"),
            overdue=params.get("overdue", "") in ("1", "on", "true", "yes"),
            sort=sort if sort in SORTS else "due",
            desc=params.get("dir", "") == "desc",
            page=int(page) if page.isdigit() and 0 < int(page) < 1_000_000 else 1,
            size=int(size) if size.isdigit() and int(size) in PAGE_SIZES else PAGE_SIZES[0],
        )

    def params(self) -> dict[str, str]:
        """The query as query-string pairs, defaults left out (short, stable links)."""
        out: dict[str, str] = {}
        default = TaskQuery()
        for f in fields(self):
            value = getattr(self, f.name)
            if value == getattr(default, f.name):
                continue
            if f.name == "desc":
                out["dir"] = "desc"
            elif f.name == "overdue":
                out["overdue"] = "1"
            else:
                out[f.name] = str(value)
        return out

    def filters(self) -> dict[str, str]:
        """Only which tasks: what an export or a bulk action carries (no order, no page)."""
        keep = ("school", "year", "stage", "role", "kind", "overdue")
        return {k: v for k, v in self.params().items() if k in keep}

    def link(self, path: str = "/tasks", **changes: object) -> str:
        """This query with ``changes``, as a link; a change of filter or order goes to page 1."""
        if any(k != "page" for k in changes) and "page" not in changes:
            changes["page"] = 1
        changed = replace(self, **changes)  # type: ignore[arg-type]
        encoded = urlencode(changed.params())
        return f"{path}?{encoded}" if encoded else path

    def sort_link(self, column: str) -> str:
        """Sort by ``column``; the column already sorted by turns round."""
        desc = not self.desc if column == self.sort else False
        return self.link(sort=column, desc=desc)

    @property
    def filtered(self) -> bool:
        return bool(self.filters())

"""One page of a long list (the CLI and the Airflow UI page the same queries): its rows and the total."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")
MAX_PAGE = 500


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int

    def as_dict(self, item: Any = None) -> dict[str, Any]:
        """JSON-ready: each item through `item` (default: its own as_dict())."""
        shape = item or (lambda value: value.as_dict())
        return {"items": [shape(value) for value in self.items], "total": self.total, "offset": self.offset,
                "limit": self.limit}


def bounds(offset: int, limit: int) -> tuple[int, int]:
    """A page's offset and size, refusing what makes no sense instead of reading everything."""
    if offset < 0:
        raise ValueError(f"offset must be 0 or more, not {offset}")
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}, not {limit}")
    return offset, limit


def page_of(session: Session, query: Select, offset: int, limit: int) -> tuple[list[Any], int]:
    """The rows of `query` (ordered by the caller) from `offset`, and how many there are in all."""
    offset, limit = bounds(offset, limit)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = session.execute(query.offset(offset).limit(limit)).all()
    return rows, int(total or 0)

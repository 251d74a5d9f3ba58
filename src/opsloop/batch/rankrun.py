"""What a ranking run's record says besides its rows (`batch_runs.details["ranking"]`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RankedRun:
    """What a ranking run's record says besides its rows (`batch_runs.details["ranking"]`):
    the list length, the users ranked (and of those, how many the recommender did not
    know: in neither the users table nor the history), the rows of the lists and of the
    fallback list, and the context they were made from."""

    k: int
    exclude_seen: bool
    users: int
    unknown_users: int
    list_rows: int
    fallback_rows: int
    context: dict[str, Any]

    @property
    def rows(self) -> int:
        return self.list_rows + self.fallback_rows

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

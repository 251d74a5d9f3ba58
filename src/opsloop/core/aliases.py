"""The registry aliases opsloop maintains: the serving champion and the candidate of a
running rollout (or the version waiting for approval)."""

from __future__ import annotations

from typing import Final

CHAMPION: Final = "champion"
CHALLENGER: Final = "challenger"

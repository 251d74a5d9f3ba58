"""opsloop: the whole operational loop around a model.

The public API is `opsloop.Project`; everything heavy is imported lazily so that
`import opsloop` (and `opsloop --help`) stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Project", "__version__"]

if TYPE_CHECKING:
    from opsloop.project import Project


def __getattr__(name: str) -> Any:
    if name == "Project":
        from opsloop.project import Project

        return Project
    raise AttributeError(f"module 'opsloop' has no attribute {name!r}")

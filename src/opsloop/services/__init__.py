"""Application services shared by `Project`, the server and (next) the dashboard.

- `AdminService` (services/admin.py): approvals, deployments, rollouts, rollbacks and
  retraining requests over a Runtime, with the actor named per call.
- `ReadService` (services/reads.py): status, events, monitoring history, gate reports and
  retraining requests from the ops store alone; the JSON views are in services/views.py.

Services import the loop's steps downward; they never import `Project` or `opsloop.serve`.
The services are imported on first use (PEP 562), so the read path (`opsloop status`,
`opsloop events`, the typed views) does not import the deployment machinery and NumPy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsloop.services.admin import AdminService, Decision, ModelRollback
    from opsloop.services.reads import ReadService

__all__ = ["AdminService", "Decision", "ModelRollback", "ReadService"]

_WHERE = {
    "AdminService": "admin",
    "Decision": "admin",
    "ModelRollback": "admin",
    "ReadService": "reads",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'opsloop.services' has no attribute {name!r}")
    return getattr(importlib.import_module(f"opsloop.services.{_WHERE[name]}"), name)

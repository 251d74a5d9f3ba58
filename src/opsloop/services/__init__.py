"""Application services shared by `Project`, the server and (next) the dashboard.

- `AdminService` (services/admin.py): approvals, deployments, rollouts, rollbacks and
  retraining requests over a Runtime, with the actor named per call.
- `ReadService` (services/reads.py): status, events, monitoring history, gate reports and
  retraining requests from the ops store alone; the JSON views are in services/views.py.

Services import the loop's steps downward; they never import `Project` or `opsloop.serve`.
"""

from opsloop.services.admin import AdminService, Decision
from opsloop.services.reads import ReadService

__all__ = ["AdminService", "Decision", "ReadService"]

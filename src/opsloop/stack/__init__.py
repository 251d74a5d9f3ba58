"""A team stack on one machine, for trying it out, and its health check.

`opsloop stack up` (`local.py`) starts an `mlflow server` on PostgreSQL with a proxied
artifact root and prepares the ops store's database; `opsloop stack down` stops it;
`opsloop stack check` (`check.py`) verifies every component a stack names — its own or a
team's real servers — and says exactly what is wrong with each.
"""

from opsloop.stack.check import ComponentCheck, StackCheck, check_stack
from opsloop.stack.local import StackDown, StackUp, stack_down, stack_up
from opsloop.stack.plan import LocalServer, StackPlan, plan_stack

__all__ = [
    "ComponentCheck",
    "LocalServer",
    "StackCheck",
    "StackDown",
    "StackPlan",
    "StackUp",
    "check_stack",
    "plan_stack",
    "stack_down",
    "stack_up",
]

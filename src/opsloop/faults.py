"""Crash points injected by tests into a real opsloop process (docs/reliability.md,
"Crash harness").

`OPSLOOP_CRASH_AT=<point>` makes `crash_point(point)` SIGKILL its own process, so a test
dies at exactly one recorded step of the loop — no `finally`, no `atexit`, no flush, as an
OOM kill or a lost machine would — and then checks what a restart recovers. Without the
variable `crash_point` is one dictionary lookup. The serve side's storage faults
(`serve/faults.py`, `OPSLOOP_FAULTS`) raise an `OSError` instead: a full disk is survived,
a SIGKILL is not.

Every point is listed in `POINTS` (the harness in tests/faults/test_crash.py checks that it
kills at each one); a name that is not listed is a programming error.
"""

from __future__ import annotations

import os
import signal

ENV = "OPSLOOP_CRASH_AT"

POINTS: dict[str, str] = {
    "train.after_load": "training: the load stage recorded, nothing fitted",
    "train.after_fit": "training: the estimator fitted, nothing registered",
    "train.after_mlflow_register": "training: the MLflow version exists, no alias, no "
    "`registered` event in the ops store",
    "train.after_registered": "training: the version registered (alias challenger, events), "
    "no gate decision",
    "gate.after_record": "the gate decision committed, no approval",
    "approve.after_record": "the approval committed (and mirrored as a tag), nothing deployed",
    "promote.after_commit": "a promotion's deployment row committed, the MLflow champion "
    "alias not yet moved",
    "promote.after_alias": "the champion alias moved, the challenger alias not yet dropped",
    "rollback.after_commit": "a rollback's deployment row committed, the alias not yet moved",
    "rollout.after_start": "a canary rollout committed in the ops store, the challenger "
    "alias not yet set",
    "rollout.step_analysed": "a rollout controller (agent tick or server replica) analysed "
    "the running step, nothing acted on or recorded",
    "rollout.after_advance": "a canary step advanced (new share committed), the tick not done",
    "rollout.after_promote_commit": "a rollout's promotion committed, the alias not yet moved",
    "rollout.after_rollback_commit": "a rollout's rollback committed, the controller's step "
    "not yet done",
    "agent.tick_leased": "an agent tick holding the agent lease, before any work",
    "reject.after_record": "a rejection committed (and mirrored as a tag), the rollback, "
    "rollout abort or challenger alias not yet done",
    "expiry.after_record": "a pending approval expired (recorded as rejected), the "
    "challenger alias not yet dropped",
    "batch.before_record": "batch prediction: every row scored into hidden files, nothing "
    "recorded or visible",
    "batch.after_record": "batch prediction: the run recorded (its commit point), the output "
    "folder and log files not yet renamed into place",
    "batch.before_publish": "batch prediction: the run recorded and in place, not yet published",
    "batch.after_publish": "batch prediction: the publication committed, `current.json` and "
    "the PostgreSQL view not yet re-pointed",
    "batch.after_rollback": "a batch rollback (or a model rollback's re-publication) committed "
    "in the ops store, `current.json` and the PostgreSQL view not yet re-pointed",
}


def crash_point(name: str) -> None:
    """SIGKILL this process if `OPSLOOP_CRASH_AT` names `name` (one of `POINTS`)."""
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    if name not in POINTS:
        raise ValueError(f"unknown crash point {name!r}; expected one of {sorted(POINTS)}")
    if wanted == name:
        os.kill(os.getpid(), signal.SIGKILL)

"""`opsloop` commands: a thin layer over `opsloop.Project`."""

from __future__ import annotations

import enum
import functools
import json
import os
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from opsloop.cli import common
from opsloop.cli.common import console, failure_code, print_json

if TYPE_CHECKING:
    from opsloop.project import Project

app = typer.Typer(
    name="opsloop",
    help="The whole operational loop around a model: train, gate, deploy, serve, monitor, retrain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
labels_app = typer.Typer(
    help="Ground truth that arrives after the prediction.", no_args_is_help=True
)
app.add_typer(labels_app, name="labels")
rollout_app = typer.Typer(
    help="Canary and shadow rollouts: status, promote, abort.", no_args_is_help=True
)
app.add_typer(rollout_app, name="rollout")
triggers_app = typer.Typer(
    help="Retrain triggers for an external orchestrator.", no_args_is_help=True
)
app.add_typer(triggers_app, name="triggers")
airflow_app = typer.Typer(help="Run the loop on Apache Airflow.", no_args_is_help=True)
app.add_typer(airflow_app, name="airflow")
stack_app = typer.Typer(
    help="The team stack on one machine (MLflow server on PostgreSQL): up, down, check.",
    no_args_is_help=True,
)
app.add_typer(stack_app, name="stack")
store_app = typer.Typer(help="The ops store: rebuild it after a loss.", no_args_is_help=True)
app.add_typer(store_app, name="store")
batch_app = typer.Typer(
    help="Batch prediction outputs: history, publish, roll back, current.", no_args_is_help=True
)
app.add_typer(batch_app, name="batch")

F = TypeVar("F", bound=Callable[..., Any])

ProjectOpt = Annotated[
    Path,
    typer.Option(
        "--project", "-p", envvar="OPSLOOP_PROJECT", help="Project folder (holds opsloop.yaml)."
    ),
]
StackOpt = Annotated[
    str | None,
    typer.Option(
        "--stack",
        help="Named stack from opsloop.yaml for this command (default: the global "
        "`opsloop --stack`, then $OPSLOOP_STACK, then the file's `stack:`).",
    ),
]
# The global `opsloop --stack NAME <command>` (or $OPSLOOP_STACK), set by `_root` on every
# invocation; a command's own --stack wins over it.
_global_stack: ContextVar[str | None] = ContextVar("opsloop_global_stack", default=None)


@app.callback()
def _root(
    stack: Annotated[
        str | None,
        typer.Option(
            "--stack",
            envvar="OPSLOOP_STACK",
            help="Named stack from opsloop.yaml for every command (`stacks:`; default: "
            "the file's `stack:`), e.g. `opsloop --stack team train`.",
        ),
    ] = None,
) -> None:
    """The whole operational loop around a model: train, gate, deploy, serve, monitor, retrain."""
    _global_stack.set(stack)


def chosen_stack(stack: str | None) -> str | None:
    """The stack a command runs on: its own --stack, else the global `opsloop --stack`
    (or $OPSLOOP_STACK), else None (opsloop.yaml's `stack:`)."""
    if stack is not None:
        return stack
    return _global_stack.get() or os.environ.get("OPSLOOP_STACK") or None


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (stable fields).")]
StartOpt = Annotated[
    str | None,
    typer.Option(
        "--from",
        help="Train on data from this time (ISO 8601, UTC unless an offset is given, or "
        "this long ago, e.g. 90d) up to --to (default now).",
    ),
]
EndOpt = Annotated[
    str | None,
    typer.Option("--to", help="Train on data up to this time (exclusive); alone = --as-of."),
]
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Train as of this time: the training window (retrain.training_window or "
        "--window) ending then.",
    ),
]


def handle_errors(fn: F) -> F:
    """Turn OpsloopError (and an untranslated OSError) into one line on stderr and exit
    code 1; Ctrl-C into 130 (`common.failure_code`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from opsloop.errors import OpsloopError
        from opsloop.redact import install_log_redaction

        install_log_redaction()  # no credentials in any log line (SECURITY.md)
        try:
            return fn(*args, **kwargs)
        except (OpsloopError, OSError, KeyboardInterrupt) as exc:
            code = failure_code(exc, fn.__name__)
            assert code is not None
            raise typer.Exit(code) from None

    return wrapper  # type: ignore[return-value]


def open_project(path: Path, stack: str | None, name: str | None = None) -> Project:
    return common.open_project(path, chosen_stack(stack), name)


@app.command()
@handle_errors
def init(
    path: Annotated[Path, typer.Argument(help="Folder to create the project in.")],
    example: Annotated[
        str, typer.Option(help="Example to start from: churn or restaurants.")
    ] = "churn",
    force: Annotated[bool, typer.Option(help="Overwrite an existing project.")] = False,
    users: Annotated[
        int | None,
        typer.Option(min=1, help="restaurants example: users to generate (default 50000)."),
    ] = None,
    restaurants: Annotated[
        int | None,
        typer.Option(min=12, help="restaurants example: restaurants to generate (default 5000)."),
    ] = None,
) -> None:
    """Scaffold a project: opsloop.yaml, model.py (load + build) and example data."""
    from opsloop.scaffold import init_project

    root = init_project(path, example=example, force=force, users=users, restaurants=restaurants)
    out = console()
    out.print(f"[green]Created[/] {root} from the [bold]{example}[/] example.")
    if example == "restaurants":
        out.print(
            f"Next: [bold]cd {path}[/] then [bold]opsloop train[/], [bold]opsloop status[/]; "
            f"{path}/README.md says what the data is and what runs yet."
        )
        return
    out.print(
        f"Next: [bold]cd {path}[/] then [bold]opsloop train[/], [bold]opsloop serve[/], "
        "[bold]opsloop status[/]."
    )


@app.command()
@handle_errors
def train(
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    window: Annotated[
        str | None,
        typer.Option(
            help="Training window length, e.g. 30d (default: retrain.training_window), "
            "ending now (or --as-of, or at the newest event with retrain.anchor: data)."
        ),
    ] = None,
    start: StartOpt = None,
    end: EndOpt = None,
    as_of: AsOfOpt = None,
    reset_schema: Annotated[
        bool, typer.Option(help="Infer a new data contract instead of checking the stored one.")
    ] = False,
    trigger: Annotated[
        str | None,
        typer.Option(
            help="What started it, <name>:<key> (e.g. a verdict's drift:<window key>), kept "
            "on the pipeline run; a keyed trigger trains once (a second call reports the "
            "first run)."
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Train and register even when the data, code and training configuration "
            "equal the champion's (otherwise such a retrain is skipped).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Train, evaluate, register, gate and (with auto approval) promote a new version; a
    retrain of the champion's data, code and configuration is skipped (exit 0) unless
    --force. The data: --from/--to exactly, --as-of the training window ending then."""
    from opsloop.cli.render import StageProgress, print_train

    p = open_project(project, stack)
    win = _asked_window(start, end, as_of, window)
    if trigger is not None:
        _train_for_trigger(p, trigger, win, reset_schema or force, as_json)
        return
    if as_json:
        print_json(p.train(window=win, reset_schema=reset_schema, force=force).to_dict())
        return
    with StageProgress(console(), f"Training {p.name}") as progress:
        outcome = p.train(window=win, reset_schema=reset_schema, progress=progress, force=force)
    print_train(console(), p, outcome, shown=progress.warnings)


def _train_for_trigger(
    p: Project, trigger: str, window: Any, reset_schema: bool, as_json: bool
) -> None:
    from opsloop.cli.render import print_train
    from opsloop.errors import InvalidInputError
    from opsloop.orchestrate.external import train_for_trigger
    from opsloop.runtime import check_pipeline_task

    check_pipeline_task(p.config, "train")
    if window is not None or reset_schema:
        raise InvalidInputError(
            "--trigger cannot be combined with --window, --reset-schema or --force",
            fix="drop one of them",
        )
    done = train_for_trigger(p.runtime, trigger)
    if as_json:
        print_json(done.to_dict())
    elif done.outcome is not None:
        print_train(console(), p, done.outcome)
    else:
        run = done.previous
        console().print(
            f"Already trained for {trigger}: pipeline run {run.id if run else '?'} "
            f"({run.status if run else '?'}); nothing done."
        )


def _asked_window(start: str | None, end: str | None, as_of: str | None, length: str | None) -> Any:
    """The training window asked for on the command line (None: by retrain.anchor)."""
    if start is None and end is None and as_of is None and length is None:
        return None
    from opsloop.data.window import WindowRequest

    return WindowRequest.parse(start=start, end=end, as_of=as_of, length=length)


def _window(text: str | None) -> Any:
    if text is None:
        return None
    from opsloop.config import parse_duration
    from opsloop.data.window import Window
    from opsloop.errors import InvalidInputError

    try:
        return Window.last(parse_duration(text))
    except ValueError as exc:
        raise InvalidInputError(f"--window: {exc}") from None


@app.command()
@handle_errors
def promote(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version to make champion.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "manual",
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
) -> None:
    """Make VERSION the champion and the current deployment (skips the gate)."""
    dep = open_project(project, stack, name).promote(version, reason=reason)
    console().print(f"[green]Promoted[/] {name} version {dep.version} (revision {dep.revision}).")


@app.command()
@handle_errors
def approve(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version to approve.")],
    comment: Annotated[str, typer.Option(help="Kept in the audit log.")] = "",
    force: Annotated[bool, typer.Option(help="Approve even if the gate failed.")] = False,
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
) -> None:
    """Approve a version waiting for a person, and promote it."""
    a = open_project(project, stack, name).approve(version, comment=comment, force=force)
    console().print(f"[green]Approved[/] {name} version {a.version} by {a.actor}; promoted.")


@app.command()
@handle_errors
def reject(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version to reject.")],
    comment: Annotated[str, typer.Option(help="Kept in the audit log.")] = "",
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
) -> None:
    """Reject a version; rejecting the current champion rolls back to the previous one."""
    a = open_project(project, stack, name).reject(version, comment=comment)
    console().print(f"[yellow]Rejected[/] {name} version {a.version} by {a.actor}.")


@app.command()
@handle_errors
def gate(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version whose gate report to show.")],
    rerun: Annotated[
        bool,
        typer.Option(
            help="Gate it again (its training window, the current champion) and record it."
        ),
    ] = False,
    html: Annotated[Path | None, typer.Option(help="Also write the HTML report here.")] = None,
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show (or rerun) the gate report of a version: every metric with its CI and test,
    slices, regression set, budgets and the verdict."""
    p = open_project(project, stack, name)
    if rerun:
        with console(stderr=True).status(f"Gating {name} version {version}…"):
            report = p.rerun_gate(version)
    else:
        report = p.gate_report(version)
    if html is not None:
        from opsloop.gate.report import to_html

        html.write_text(to_html(report), encoding="utf-8")
    if as_json:
        print_json(report.to_dict())
    else:
        from rich.markdown import Markdown

        from opsloop.gate.report import to_markdown

        console().print(Markdown(to_markdown(report)))
    if not report.passed:
        raise typer.Exit(2)  # scripts can tell a failed gate from an error (1)


@app.command()
@handle_errors
def deploy(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version to take to production.")],
    strategy: Annotated[
        str | None,
        typer.Option(
            help="blue_green (switch now), canary (steps) or shadow (default deploy.strategy)."
        ),
    ] = None,
    steps: Annotated[
        str | None, typer.Option(help="Canary percentages, e.g. 10,50,100 (default deploy.steps).")
    ] = None,
    bake: Annotated[
        str | None,
        typer.Option(help="Time each step runs before it can pass, e.g. 5m (default deploy.bake)."),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "manual",
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Deploy a version that failed its gate or was rejected (audited)."
        ),
    ] = False,
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
) -> None:
    """Deploy VERSION: switch at once (blue_green) or start a canary/shadow rollout that
    is analysed step by step and rolled back automatically on a breach. A version that
    failed its gate or was rejected needs --force (recorded in the audit log)."""
    from opsloop.config import parse_duration
    from opsloop.errors import InvalidInputError
    from opsloop.store.records import Rollout

    try:
        step_list = None if steps is None else tuple(float(x) for x in steps.split(","))
    except ValueError:
        raise InvalidInputError(
            "--steps must be comma-separated percentages",
            expected="e.g. 10,50,100",
            got=repr(steps),
        ) from None
    try:
        bake_time = None if bake is None else parse_duration(bake)
    except ValueError as exc:
        raise InvalidInputError(f"--bake: {exc}") from None
    p = open_project(project, stack, name)
    result = p.deploy(
        version, strategy=strategy, steps=step_list, bake=bake_time, reason=reason, force=force
    )
    if isinstance(result, Rollout):
        console().print(
            f"[green]Started[/] a {result.strategy} rollout of {name} version "
            f"{result.candidate_version} at {result.share:g}% (stable: "
            f"{result.stable_version}). Watch it with `opsloop rollout status {name}`; the "
            "servers and the agent advance it."
        )
    else:
        console().print(
            f"[green]Deployed[/] {name} version {result.version} (revision "
            f"{result.revision}, all traffic)."
        )


@rollout_app.command("status")
@handle_errors
def rollout_status(
    name: Annotated[str, typer.Argument(help="Model name.")],
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The newest rollout: step, share, and a fresh analysis of every check."""
    from opsloop.cli.render import print_rollout

    data = open_project(project, stack, name).rollout_status()
    if as_json:
        print_json(data)
    else:
        print_rollout(console(), data)


@rollout_app.command("promote")
@handle_errors
def rollout_promote(
    name: Annotated[str, typer.Argument(help="Model name.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
) -> None:
    """Skip the remaining steps and promote the candidate now."""
    r = open_project(project, stack, name).promote_rollout(reason=reason)
    console().print(f"[green]Promoted[/] {name} version {r.candidate_version} (rollout {r.id}).")


@store_app.command("rebuild")
@handle_errors
def store_rebuild(
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Restore the current deployment into an ops store that lost the model's history,
    from the model registry's `champion` alias (a `store_rebuilt` event)."""
    import dataclasses

    done = open_project(project, stack).rebuild_store()
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(done)))
        return
    if done.champion is None:
        console().print(
            f"[yellow]Rebuilt[/] the ops store of {done.model}: the registry holds "
            f"{len(done.versions)} version(s) and no champion, so nothing is deployed."
        )
        return
    console().print(
        f"[green]Rebuilt[/] the ops store of {done.model}: version {done.champion} is "
        f"deployed again (revision {done.revision}) from the registry's champion alias."
    )


@rollout_app.command("abort")
@handle_errors
def rollout_abort(
    name: Annotated[str, typer.Argument(help="Model name.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
) -> None:
    """Stop the running rollout; all traffic returns to the stable version."""
    r = open_project(project, stack, name).abort_rollout(reason=reason)
    console().print(
        f"[yellow]Aborted[/] the rollout of {name} version {r.candidate_version}; "
        f"version {r.stable_version} serves all traffic."
    )


@rollout_app.command("advance")
@handle_errors
def rollout_advance(
    name: Annotated[str, typer.Argument(help="Model name.")],
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One controller step (what the agent does each tick): expire overdue approvals,
    analyse the running rollout and advance, promote or roll it back."""
    from opsloop.deploy import advance, expire_pending
    from opsloop.runtime import check_pipeline_task

    p = open_project(project, stack, name)
    check_pipeline_task(p.config, "rollout")
    rt = p.runtime
    notes = [
        f"pending approval of version {a.version} expired" for a in expire_pending(rt, rt.now())
    ]
    step = advance(rt)
    notes.append(
        "nothing is rolling out"
        if step is None
        else f"rollout {step.rollout.id} of version {step.rollout.candidate_version}: "
        f"{step.action} ({'; '.join(step.analysis.reasons)})"
    )
    if as_json:
        print_json({"step": None if step is None else step.to_dict(), "notes": notes})
    else:
        for note in notes:
            console().print(note)


@app.command()
@handle_errors
def rollback(
    name: Annotated[str, typer.Argument(help="Model name.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
) -> None:
    """Return to the previous champion in one step (during a rollout: end it and send all
    traffic back to its stable version)."""
    from opsloop.runtime import check_pipeline_task

    p = open_project(project, stack, name)
    check_pipeline_task(p.config, "rollback")
    running = p.store.find_running_rollout(name)
    done = p.admin.rollback_model(actor=p.actor, reason=reason)
    dep = done.deployment
    source = dep.previous_version if running is None else running.candidate_version
    console().print(
        f"[yellow]Rolled back[/] {name} from version {source} to {dep.version} "
        f"(revision {dep.revision})."
    )
    if done.batch is not None and done.batch.publication is not None:
        pub = done.batch.publication
        console().print(
            f"Batch output: {pub.run_id} (version {dep.version}) is current again "
            f"(revision {pub.revision})."
        )
        if done.batch.lag is not None:
            console().print(f"[yellow]{done.batch.lag}[/]", soft_wrap=True)
    elif done.batch is not None and done.batch.failed:
        console().print(f"[yellow]Batch output {done.batch.note}[/]")


@app.command()
@handle_errors
def retrain(
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
    now: Annotated[
        bool,
        typer.Option(
            "--now", help="Train here and now (with progress) instead of asking the agent."
        ),
    ] = False,
    start: StartOpt = None,
    end: EndOpt = None,
    as_of: AsOfOpt = None,
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Request a retraining: the agent runs it once at its next tick, after any running
    training but regardless of retrain.cooldown. With --now, train in this process. The
    data: --from/--to exactly, --as-of the training window ending then."""
    p = open_project(project, stack)
    win = _asked_window(start, end, as_of, None)
    if not now:
        request = p.request_retrain(reason=reason, window=win)
        if as_json:
            print_json(request.to_dict())
            return
        console().print(
            f"[green]Requested[/] retraining of {p.name} (request "
            f"{request.id}); the agent runs it at its next tick. Follow it with "
            "`opsloop status`."
        )
        return
    from opsloop.cli.render import StageProgress, print_train

    if as_json:
        request, outcome = p.retrain_now(reason=reason, window=win)
        print_json({"request": request.to_dict(), "outcome": outcome.to_dict()})
        return
    with StageProgress(console(), f"Retraining {p.name}") as progress:
        request, outcome = p.retrain_now(reason=reason, progress=progress, window=win)
    console().print(f"Retraining request {request.id} ({request.reason}):")
    print_train(console(), p, outcome, shown=progress.warnings)


@app.command()
@handle_errors
def serve(
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default serve.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default serve.port).")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Server processes (default serve.workers).")
    ] = None,
) -> None:
    """Serve the champion over HTTP (OIP v2 + /predict + /api); follows promotions live.

    The admin API (approve/reject) takes the bearer token in $OPSLOOP_ADMIN_TOKEN."""
    from opsloop.cli.serve import ServeArgs, run  # also run without Typer (cli/serve.py)

    code = run(ServeArgs(project, chosen_stack(stack), host, port, workers))
    if code:
        raise typer.Exit(code)


@app.command()
@handle_errors
def ui(
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default ui.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default ui.port, 8050).")] = None,
    also: Annotated[
        list[Path] | None,
        typer.Option("--also", help="Another project folder whose model to show (repeatable)."),
    ] = None,
) -> None:
    """Serve the dashboard: every model's state, its versions, deployment, monitoring and
    the audit log, with approve/reject/promote/abort/roll back/retrain behind a login.

    The login takes the admin token in $OPSLOOP_ADMIN_TOKEN (serve.admin_token_env);
    `ui.public_read: true` lets anyone who reaches it view without logging in."""
    import os

    p = open_project(project, stack)
    others = [open_project(path, stack) for path in also or []]
    token = os.environ.get(p.config.serve.admin_token_env) or None
    p.ui(host=host, port=port, admin_token=token, others=others)


@labels_app.command("add")
@handle_errors
def labels_add(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet with the id column and target.")],
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid",
            help="Store the valid rows and count the invalid ones (default: any invalid "
            "row rejects the whole file and nothing is stored).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add ground-truth labels, keyed by the prediction id (the project's id_column),
    checked against the deployed version's classes (or the task's type). For a recommender
    (task: ranking) the labels are visits: the user, item, time and optional rating
    columns of its ranking: section."""
    import dataclasses

    p = open_project(project, stack)
    added = p.add_labels(file, skip_invalid=skip_invalid)
    if as_json:
        print_json({"file": str(file), **dataclasses.asdict(added)})
        return
    extra = "".join(
        f", {n} {what}"
        for n, what in (
            (added.rejected, "invalid rows skipped"),
            (added.duplicates, "repeated rows kept once"),
        )
        if n
    )
    said = (
        f"{added.rows} visits from {file} as labels: {added.matched} by a user with a "
        f"published list, {added.waiting} waiting"
        if p.config.task == "ranking"
        else f"{added.rows} labels from {file}: {added.matched} matched a logged prediction, "
        f"{added.waiting} waiting for one"
    )
    console().print(f"[green]Added[/] {said}{extra}.", soft_wrap=True)


monitor_app = typer.Typer(
    help="Monitor the latest window of predictions (default) against the champion's "
    "reference profile and the previous window; backfill a series of windows with "
    "--from/--to/--every; `history` lists the stored windows.",
    invoke_without_command=True,
)
app.add_typer(monitor_app, name="monitor")


@monitor_app.callback()
@handle_errors
def monitor(
    ctx: typer.Context,
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    window: Annotated[
        str | None, typer.Option(help="Window ending now, e.g. 1h (default monitor.window).")
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Backfill from this time (ISO 8601, UTC unless an offset is given) "
            "or this long ago (e.g. 7d).",
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", help="Backfill up to this time or this long ago (default now)."),
    ] = None,
    every: Annotated[
        str | None, typer.Option(help="Backfill window length and step (default monitor.window).")
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(help="Version whose answers to monitor (default the deployed one)."),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            help="Backfill: monitor windows already monitored again and replace their "
            "results (default: skip them)."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Monitor the latest window (default), or backfill windows with --from/--to/--every.

    Subcommand: `opsloop monitor history` lists the stored windows."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"project": project, "stack": stack}
        return
    from opsloop.errors import InvalidInputError

    p = open_project(project, stack)
    if start is None:
        if end is not None or every is not None or replace:
            raise InvalidInputError(
                "--to, --every and --replace are backfill options",
                fix="add --from (e.g. --from 7d) or drop them",
            )
        from opsloop.cli.render import print_monitor

        result = p.monitor(window=_window(window), version=version)
        if as_json:
            print_json(result.to_dict())
        else:
            print_monitor(console(), result)
        return
    if window is not None:
        raise InvalidInputError(
            "--window is for one window ending now; a backfill's window length is --every",
            fix="use --every instead of --window",
        )
    _backfill(p, start, end, every, version=version, replace=replace, as_json=as_json)


def _instant(text: str, option: str) -> Any:
    """ISO 8601 (naive = UTC) or a duration before now."""
    from opsloop.data.window import parse_instant

    return parse_instant(text, option)


def _backfill(
    p: Project,
    start_text: str,
    end_text: str | None,
    every_text: str | None,
    *,
    version: str | None,
    replace: bool,
    as_json: bool,
) -> None:
    from datetime import UTC, datetime

    from opsloop.config import parse_duration
    from opsloop.errors import InvalidInputError
    from opsloop.monitor.backfill import plan_windows

    start = _instant(start_text, "--from")
    end = _instant(end_text, "--to") if end_text else datetime.now(UTC)
    try:
        every = parse_duration(every_text) if every_text else p.config.monitor.window
    except ValueError as exc:
        raise InvalidInputError(f"--every: {exc}") from None
    total = len(plan_windows(start, end, every))  # errors before the progress bar
    if as_json:
        result = p.backfill_monitor(
            start=start, end=end, every=every, version=version, replace=replace, fork_workers=True
        )
        print_json(result.to_dict())
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    out = console()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[window]}"),
        console=out,
    ) as bar:
        task = bar.add_task(f"Backfilling {p.name}", total=total, window="")
        result = p.backfill_monitor(
            start=start,
            end=end,
            every=every,
            version=version,
            replace=replace,
            fork_workers=True,  # a short-lived process: its workers may be forked
            on_window=lambda w, outcome: bar.update(
                task, advance=1, window=f"{w.end:%Y-%m-%d %H:%M} {outcome}"
            ),
        )
    from opsloop.cli.render import print_backfill

    print_backfill(out, result)


@app.command()
@handle_errors
def backtest(
    start: Annotated[
        str, typer.Option("--from", help="Replay from this time (ISO 8601, UTC unless an offset).")
    ],
    end: Annotated[str, typer.Option("--to", help="Replay up to this time.")],
    every: Annotated[str, typer.Option(help="Period length, e.g. 1w.")] = "1w",
    policy: Annotated[
        list[str] | None,
        typer.Option(
            "--policy",
            help="A retraining policy to compare (repeatable): never, schedule:4w, schedule "
            "(retrain.schedule), drift, performance, estimated_performance, quality, or "
            "several joined by '+'. Default: retrain.on, never and schedule:<4 periods>.",
        ),
    ] = None,
    label_delay: Annotated[
        str, typer.Option(help="How long after its event a label arrives, e.g. 7d.")
    ] = "0d",
    html: Annotated[Path | None, typer.Option(help="Write the HTML report here.")] = None,
    json_file: Annotated[
        Path | None, typer.Option("--json-file", help="Write the JSON result here.")
    ] = None,
    registry: Annotated[
        str,
        typer.Option(help="The sandbox's registry: mlflow (SQLite, the default) or memory."),
    ] = "mlflow",
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replay the project's history through the loop (train, score in batches, deliver
    labels, monitor, trigger, gate, promote) once per retraining policy, in a sandbox that
    leaves the project's registry, ops store and prediction log untouched; compare them."""
    from opsloop.cli.backtest import run_command

    run_command(
        open_project(project, stack),
        console(),
        start=start,
        end=end,
        every=every,
        policies=policy,
        label_delay=label_delay,
        registry=registry,
        html=html,
        json_file=json_file,
        as_json=as_json,
    )


@monitor_app.command("history")
@handle_errors
def monitor_history(
    ctx: typer.Context,
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many windows (latest).")] = 24,
    version: Annotated[str | None, typer.Option(help="Only this version's windows.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The latest monitored windows, oldest first: drift, performance (realised and
    estimated), multivariate score and what changed since the previous window."""

    def given(name: str) -> bool:  # typer vendors click: compare the enum by name
        source = ctx.get_parameter_source(name)
        return source is not None and source.name != "DEFAULT"

    parent = ctx.obj or {}  # `opsloop monitor -p DIR history`: the group's options
    if not given("project"):
        project = parent.get("project", project)
    if not given("stack"):
        stack = parent.get("stack", stack)
    view = open_project(project, stack).monitoring_view(limit=limit, version=version)
    if as_json:
        print_json(view.to_json())
        return
    from opsloop.cli.render import print_monitor_history

    print_monitor_history(console(), view)


Names = Annotated[
    list[str] | None,
    typer.Option(help="Column names (repeat the option or separate with commas)."),
]


@app.command()
def drift(
    reference: Annotated[
        str,
        typer.Argument(
            help="Reference data: a Parquet or CSV file, a glob ('data/ref-*.parquet'), a "
            'folder of Parquet files, or a DuckDB query: "sql:SELECT * FROM '
            "read_parquet('x.parquet') WHERE …\"."
        ),
    ],
    current: Annotated[str, typer.Argument(help="Current data, in any of the same forms.")],
    html: Annotated[Path | None, typer.Option(help="Write the HTML report here.")] = None,
    json_out: Annotated[
        str | None,
        typer.Option("--json", help="Write the result as JSON to this file, or '-' for stdout."),
    ] = None,
    columns: Names = None,
    exclude: Names = None,
    categorical: Names = None,
    numeric: Names = None,
    method: Annotated[
        str, typer.Option(help="Drift method: auto (as `opsloop monitor`), ks, wasserstein, …")
    ] = "auto",
    share: Annotated[
        float, typer.Option(help="Share of drifted features that means dataset drift.")
    ] = 0.3,
) -> None:
    """Compare two data sets: drift per column and data quality, with the statistics and
    verdict rules of `opsloop monitor`; no project needed.

    Kinds come from the reference's column types (numbers numeric, text categorical,
    booleans boolean); --categorical/--numeric override them. Exit code: 0 no dataset
    drift, 1 dataset drift, 2 bad input (like a linter)."""
    from opsloop.cli.drift import DriftArgs, run

    args = DriftArgs(
        reference, current, html, json_out, columns, exclude, categorical, numeric, method, share
    )
    raise typer.Exit(run(args))


@app.command()
@handle_errors
def agent(
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    once: Annotated[bool, typer.Option(help="Run one tick and exit.")] = False,
    force_monitor: Annotated[
        bool, typer.Option(help="Run the monitor now even if its schedule is not due.")
    ] = False,
    interval: Annotated[str, typer.Option(help="Time between ticks.")] = "30s",
    as_json: JsonOpt = False,
) -> None:
    """Run schedules and triggers: monitor, retrain on drift, performance, schedule or new
    data, recover crashed pipelines, advance rollouts, notify. One agent acts per model and
    ops store (a lease); others stand by and take over when it dies."""
    import logging

    from opsloop.cli.render import StageProgress, print_tick
    from opsloop.config import parse_duration

    p = open_project(project, stack)
    if once:
        if as_json:
            print_json(p.tick(force_monitor=force_monitor).to_dict())
            return
        with StageProgress(console(), f"Agent tick for {p.name}") as progress:
            result = p.tick(force_monitor=force_monitor, progress=progress)
        print_tick(console(), result)
        return
    import signal
    import threading

    from opsloop.errors import InvalidInputError
    from opsloop.redact import install_log_redaction

    try:
        every = parse_duration(interval)
    except ValueError as exc:
        raise InvalidInputError(f"--interval: {exc}") from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    install_log_redaction()  # the handler basicConfig just made
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # finish the tick, free the lease
    console().print(f"Agent running for [bold]{p.name}[/] every {interval}; Ctrl-C to stop.")
    p.run_agent(interval=every, stop=stop)


@triggers_app.command("check")
@handle_errors
def triggers_check(
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Monitor now and evaluate every retrain trigger, recording firings (once per trigger
    and key, cooled down), without training: the verdict for an orchestrator, which then
    runs `opsloop train --trigger <verdict.trigger>`. Exit 0 whether or not one fired."""
    from opsloop.cli.render import print_tick
    from opsloop.orchestrate.external import check_triggers, verdict
    from opsloop.runtime import check_pipeline_task

    p = open_project(project, stack)
    check_pipeline_task(p.config, "triggers")
    rt = p.runtime
    result = check_triggers(rt)
    found = verdict(rt, result)
    if as_json:
        print_json({"fired": found is not None, "verdict": found, "tick": result.to_dict()})
        return
    print_tick(console(), result)
    console().print(
        "No retrain trigger fired."
        if found is None
        else f"Retrain requested: run `opsloop train --trigger {found['trigger']}`."
    )


@airflow_app.command("export")
@handle_errors
def airflow_export(
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    out: Annotated[
        Path, typer.Option(help="Folder for the DAG files (Airflow's dags folder).")
    ] = Path("dags"),
    python: Annotated[
        str | None,
        typer.Option(
            help="Python of the project's environment that the tasks run opsloop with "
            "(default: this one)."
        ),
    ] = None,
) -> None:
    """Write the project's Airflow DAGs: monitoring (emits a retrain asset event with the
    verdict), training (scheduled on that asset) and rollout (advances rollouts)."""
    from opsloop.orchestrate.airflow import export_dags

    p = open_project(project, stack)
    exported = export_dags(
        p.config, project=p.root, out=out, python=python, stack=chosen_stack(stack)
    )
    for dag in exported:
        console().print(f"[green]Wrote[/] {dag.path}  ({dag.dag_id}, {dag.schedule})")
    console().print("Put them in Airflow's dags folder; see docs/airflow.md.")


@stack_app.command("up")
@handle_errors
def stack_up(
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start the stack's MLflow server on this machine (PostgreSQL backend store, proxied
    artifact root), creating and migrating its database and the ops store's; pid and log
    under .opsloop/stack/<stack>/. For trying a team stack out; teams run their own servers."""
    from opsloop.stack import stack_up as start

    up = start(project, chosen_stack(stack))
    if as_json:
        print_json(up.to_dict())
        return
    from opsloop.cli.stackview import print_up

    print_up(console(), up)


@stack_app.command("down")
@handle_errors
def stack_down(
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stop the MLflow server `opsloop stack up` started (its whole process group)."""
    from opsloop.stack import stack_down as stop

    down = stop(project, chosen_stack(stack))
    if as_json:
        print_json(down.to_dict())
        return
    from opsloop.cli.stackview import print_down

    print_down(console(), down)


@stack_app.command("check")
@handle_errors
def stack_check(
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify every component of the stack from here: tracking server, its database and
    artifact root, the ops store, the prediction-log root, the engine. Exit 1 when any fails,
    each failure saying what is wrong (unreachable, authentication, migrations behind, not
    writable, Java missing) and how to fix it."""
    from opsloop.stack import check_stack

    found = check_stack(project, chosen_stack(stack))
    if as_json:
        print_json(found.to_dict())
    else:
        from opsloop.cli.stackview import print_check

        print_check(console(), found)
    if not found.ok:
        raise typer.Exit(1)


class PredictEngine(enum.StrEnum):
    duckdb = "duckdb"
    spark = "spark"


@app.command()
@handle_errors
def predict(
    name: Annotated[str | None, typer.Argument(help="Model name (default: the project's).")] = None,
    input_: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            help="Rows to score: a Parquet or CSV file, a glob ('in/*.parquet'), a folder of "
            'Parquet files, or a DuckDB query: "sql:SELECT * FROM …" (default: '
            "predict.input).",
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="Output folder; the run writes <output>/run=<id>/ (default: predict.output).",
        ),
    ] = None,
    version: Annotated[str | None, typer.Option(help="Score with this version.")] = None,
    alias: Annotated[
        str | None,
        typer.Option(help="Score with the version holding this alias (champion, challenger)."),
    ] = None,
    publish: Annotated[
        bool, typer.Option(help="Make this run the current output for readers.")
    ] = False,
    batch_rows: Annotated[
        int | None, typer.Option(min=1, help="Rows per Arrow batch (default: predict.batch_rows).")
    ] = None,
    engine: Annotated[
        PredictEngine | None,
        typer.Option(
            help="Where to score: duckdb (in this process) or spark (stack.spark.master); "
            "default: predict.engine, else stack.engine."
        ),
    ] = None,
    output_table: Annotated[
        str | None,
        typer.Option(
            "--output-table",
            help="Also write the rows to PostgreSQL: 'postgresql://USER@HOST/DB?table="
            "[SCHEMA.]NAME'; readers query the view NAME, which --publish re-points "
            "(default: predict.output_table).",
        ),
    ] = None,
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Score a data set with a registered version (default: the deployed one) in bounded
    memory: checked against its feature contract first, written to a run folder and the
    prediction log, recorded (`batch_predicted`); default version and paths from the
    `predict:` section."""
    from opsloop.cli.predict import PredictArgs, run

    run(
        PredictArgs(
            name=name,
            input=input_,
            output=output,
            version=version,
            alias=alias,
            publish=publish,
            batch_rows=batch_rows,
            engine=None if engine is None else engine.value,
            output_table=output_table,
            project=project,
            stack=chosen_stack(stack),
            as_json=as_json,
        )
    )


@batch_app.command("history")
@handle_errors
def batch_history(
    name: Annotated[str, typer.Argument(help="Model name.")],
    limit: Annotated[int, typer.Option(min=1, help="How many runs (newest).")] = 20,
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Batch runs, newest first: status, version, rows, rows/s, which is current."""
    rows = open_project(project, stack, name).batch_history(limit=limit)
    if as_json:
        print_json([r.to_dict() for r in rows])
        return
    from opsloop.cli.batch import print_history

    print_history(console(), rows)


@batch_app.command("publish")
@handle_errors
def batch_publish(
    name: Annotated[str, typer.Argument(help="Model name.")],
    run_id: Annotated[str, typer.Argument(help="The run to publish (`opsloop batch history`).")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
) -> None:
    """Make a finished run the current output for readers, atomically."""
    pub = open_project(project, stack, name).publish_batch(run_id, reason=reason)
    console().print(
        f"[green]Published[/] run {pub.run_id} of {name} (revision {pub.revision}).",
        soft_wrap=True,
    )


@batch_app.command("rollback")
@handle_errors
def batch_rollback(
    name: Annotated[str, typer.Argument(help="Model name.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
) -> None:
    """Re-point the current output to the previously published run, in one step."""
    pub = open_project(project, stack, name).rollback_batch(reason=reason)
    console().print(
        f"[yellow]Rolled back[/] the batch output of {name} from run {pub.previous_run_id} "
        f"to {pub.run_id} (revision {pub.revision}).",
        soft_wrap=True,
    )


@batch_app.command("current")
@handle_errors
def batch_current(
    name: Annotated[str, typer.Argument(help="Model name.")],
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The published output readers see: run, version, rows, path."""
    current = open_project(project, stack, name).batch_current()
    if as_json:
        print_json(current.to_dict())
        return
    from opsloop.cli.batch import print_current

    print_current(console(), current)


@app.command()
@handle_errors
def status(
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="Show which version answered at this past instant (ISO 8601, UTC unless an "
            "offset is given, or this long ago, e.g. 3d) and the traffic split then.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Champion, challenger, deployment, last monitor verdict, pending approvals."""
    if at is not None:
        from opsloop.data.window import parse_instant

        as_of = open_project(project, stack).status_at(parse_instant(at, "--at"))
        if as_json:
            print_json(as_of.to_json())
        else:
            from opsloop.cli.history import print_as_of

            print_as_of(console(), as_of)
        return
    from opsloop.cli.render import print_status

    view = open_project(project, stack).status_view()
    if as_json:
        print_json(view.to_json())
    else:
        print_status(console(), view)


@app.command()
@handle_errors
def dora(
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    since: Annotated[
        str,
        typer.Option(help="The period's start: this long ago (e.g. 90d, 4w) or ISO 8601."),
    ] = "90d",
    until: Annotated[
        str | None, typer.Option(help="The period's end (default now), as --since.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="Only this model (default: every model deployed in the ops store)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """DORA metrics per model and overall: deployment frequency, lead time for changes,
    change-failure rate and time to restore (definitions in docs/dora.md)."""
    from opsloop.data.window import parse_instant

    view = open_project(project, stack).dora(
        since=parse_instant(since, "--since"),
        until=None if until is None else parse_instant(until, "--until"),
        model=model,
    )
    if as_json:
        print_json(view.to_json())
    else:
        from opsloop.cli.history import print_dora

        print_dora(console(), view)


@app.command()
@handle_errors
def events(
    project: ProjectOpt = Path("."),
    stack: StackOpt = None,
    limit: Annotated[int, typer.Option(help="How many (newest).")] = 50,
    kind: Annotated[list[str] | None, typer.Option(help="Only these kinds (repeatable).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The audit log: every automated or manual decision with its evidence."""
    from opsloop.cli.render import print_events

    found = open_project(project, stack).events(limit=limit, kinds=kind)
    if as_json:
        print_json([e.to_dict() for e in found])
    else:
        print_events(console(), found)


@app.command()
@handle_errors
def demo(
    path: Annotated[
        Path | None,
        typer.Argument(help="Folder for the demo project (default: a new temp folder)."),
    ] = None,
    project: Annotated[
        Path | None,
        typer.Option("--project", "-p", help="Folder for the demo project (same as PATH)."),
    ] = None,
    example: Annotated[
        str, typer.Option(help="The example to run: churn (a classifier) or restaurants.")
    ] = "churn",
    requests: Annotated[int, typer.Option(help="churn: production rows to send.")] = 3000,
    users: Annotated[
        int | None, typer.Option(help="restaurants: users (default 5,000; 50,000 the full size).")
    ] = None,
    restaurants: Annotated[
        int | None, typer.Option(help="restaurants: restaurants (default 500).")
    ] = None,
    days: Annotated[
        int, typer.Option(help="restaurants: days after the history replayed at most.")
    ] = 21,
) -> None:
    """Run the whole loop end to end on the embedded default (`--example restaurants`: the
    recommender, its nightly lists and web app, on the data's clock)."""
    from opsloop.errors import InvalidInputError

    if path is not None and project is not None and path != project:
        raise InvalidInputError(
            "two demo folders given", got=f"{path} and --project {project}", fix="give one"
        )
    folder = path if path is not None else project
    from opsloop.cli.demo import terminated_as_exit

    if example == "restaurants":
        from opsloop.cli.demo_restaurants import run_restaurants_demo

        with terminated_as_exit():  # a `kill` stops the web app it started too
            run_restaurants_demo(
                folder,
                console=console(),
                users=5_000 if users is None else users,
                restaurants=500 if restaurants is None else restaurants,
                max_days=days,
            )
        return
    if example != "churn":
        raise InvalidInputError(
            f"unknown demo example {example!r}", expected="churn or restaurants", got=example
        )
    if users is not None or restaurants is not None:
        raise InvalidInputError(
            "--users and --restaurants size the restaurants demo",
            fix="leave them out, or pass --example restaurants",
        )
    from opsloop.cli.demo import run_demo

    with terminated_as_exit():  # a `kill` stops the server it started too
        run_demo(folder, console=console(), rows=requests)


@app.command()
def version() -> None:
    """Print the opsloop version."""
    from opsloop import __version__

    typer.echo(__version__)


def main() -> None:
    app()

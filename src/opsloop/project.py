"""`Project`: the documented Python API. The CLI, the server and the demo are thin layers
over it.

    >>> from opsloop import Project
    >>> p = Project("my-churn")
    >>> outcome = p.train()          # train → gate → approval → promotion
    >>> p.monitor()                  # drift, quality, performance on the last window
    >>> p.rollback()                 # back to the previous champion
    >>> p.status(), p.events()
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from opsloop.config import ProjectConfig, StackConfig
from opsloop.runtime import Paths, Runtime, check_pipeline_task, resolve_stack

if TYPE_CHECKING:
    import os

    import pandas as pd

    from opsloop.backtest import BacktestResult, OnPeriod
    from opsloop.batch import BatchHistoryRow, CurrentBatch, PredictResult
    from opsloop.batch.predict import OnRows
    from opsloop.data.window import Window, WindowRequest
    from opsloop.deploy import Step
    from opsloop.deploy.rebuild import Rebuilt
    from opsloop.engines.base import Engine
    from opsloop.gate.evaluate import GateReport
    from opsloop.monitor.backfill import BackfillResult, OnWindow
    from opsloop.orchestrate.agent import TickResult
    from opsloop.orchestrate.labels import LabelsAdded
    from opsloop.orchestrate.loop import TrainOutcome
    from opsloop.orchestrate.manual import RetrainRequest
    from opsloop.registry.base import ModelRegistry
    from opsloop.serve.context import ServeContext
    from opsloop.services import AdminService, ReadService
    from opsloop.services.dora_models import DoraView
    from opsloop.services.view_models import AsOfView, MonitoringView, StatusView
    from opsloop.stages import Progress
    from opsloop.store.light import LightStore
    from opsloop.store.reader import StoreReader
    from opsloop.store.records import (
        Approval,
        BatchPublication,
        Deployment,
        Event,
        MonitorResult,
        Rollout,
    )
    from opsloop.store.sql import OpsStore
    from opsloop.ui import UISite


class Project:
    """An opsloop project: a folder with `opsloop.yaml` and the user's code."""

    def __init__(
        self,
        path: str | Path = ".",
        *,
        stack: str | None = None,
        registry: ModelRegistry | None = None,
        store: OpsStore | None = None,
        engine: Engine | None = None,
        actor: str = "opsloop",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """`clock`: the time this project's acting commands run at (default: the wall
        clock, UTC) — the windows' ends, the nightly run's answer time, the agent's
        schedules and cooldown, and the times its ops store stamps records with. A replay
        on the data's clock (`opsloop demo --example restaurants`) passes a simulated one."""
        from opsloop.backends import load_project_config

        self.root = Path(path).resolve()
        config = load_project_config(self.root, stack)
        self.config: ProjectConfig = config
        self.paths = Paths(self.root)
        self.stack: StackConfig = resolve_stack(config, self.paths)
        self._registry = registry
        self._store = store
        self._engine = engine
        self.actor = actor
        self.clock = clock

    @property
    def name(self) -> str:
        return self.config.model

    # ---- backends (built lazily: `opsloop status` must not import MLflow) -----------
    @cached_property
    def store(self) -> OpsStore:
        from opsloop.backends import open_store

        store = self._store if self._store is not None else open_store(self.stack)
        if self.clock is not None:
            store.clock = self.clock
        return store

    @cached_property
    def registry(self) -> ModelRegistry:
        from opsloop.backends import open_registry

        if self._registry is not None:
            return self._registry
        return open_registry(self.stack, self.paths)

    @cached_property
    def engine(self) -> Engine:
        from opsloop.backends import open_engine

        if self._engine is not None:
            return self._engine
        return open_engine(self.config, self.stack, self.paths)

    @cached_property
    def runtime(self) -> Runtime:
        """The backends acting commands use: StateError (with the fix) when the ops store
        has no record of the model while the registry has versions of it (a lost ops store:
        `deploy/rebuild.py`)."""
        rt = self._runtime
        self._check_store(rt.registry)
        return rt

    def _acting(self, command: str) -> None:
        """Refuse `command` in one line when it does not run the project's task
        (`runtime.check_pipeline_task`: e.g. `serve` for `task: ranking`)."""
        check_pipeline_task(self.config, command)

    def _check_store(self, registry: ModelRegistry) -> None:
        from opsloop.deploy.rebuild import check_not_lost

        check_not_lost(self.store, registry, self.name)

    @cached_property
    def _runtime(self) -> Runtime:
        rt = Runtime(
            self.config, self.root, self._lazy_registry, self.store, self.engine, actor=self.actor
        )
        if self.clock is not None:
            rt.clock = self.clock
        return rt

    def _batch_runtime(self) -> tuple[Runtime, LightStore | None]:
        """The backends of one batch prediction: `runtime`'s, but the ops store through the
        DB-API reader (`store/light.py`: no SQLAlchemy unless a call needs it) when neither
        a caller nor this project has opened `OpsStore` and the reader can open the store
        and knows the model; else `runtime` itself. The light store is the caller's to
        close (its connection must not outlive the call in a long-lived process). A project on
        a `clock` of its own takes `runtime`: the reader stamps its records with the wall
        clock."""
        opened = self._store is not None or "store" in self.__dict__ or "_runtime" in self.__dict__
        if opened or self.clock is not None:  # the reader stamps with the wall clock
            return self.runtime, None
        from opsloop.store.ports import has_record
        from opsloop.store.reader import open_reader

        assert self.stack.ops_store is not None
        reader = open_reader(self.stack.ops_store)
        if reader is None:  # new, in memory or behind a migration: OpsStore sees to it
            return self.runtime, None
        if not has_record(reader, self.name):  # a new project, or a lost ops store: the
            reader.close()  # full path asks the registry (`deploy/rebuild.check_not_lost`)
            return self.runtime, None
        from typing import cast

        from opsloop.engines.lazy import LazyEngine
        from opsloop.store.light import LightStore

        light = LightStore(reader, lambda: self.store)
        store = cast("OpsStore", light)  # OpsStore's methods (store/light.py)
        engine = cast("Engine", LazyEngine(lambda: self.engine))  # engines/lazy.py
        rt = Runtime(self.config, self.root, self._lazy_registry, store, engine, actor=self.actor)
        return rt, light

    @cached_property
    def _lazy_registry(self) -> ModelRegistry:
        if self._registry is not None or "registry" in self.__dict__:
            return self.registry
        # opened by its first call: a server on a cached version never imports MLflow
        from opsloop.registry.aliaspeek import alias_peek
        from opsloop.registry.lazy import LazyRegistry

        uri = self.stack.registry_uri or self.stack.tracking_uri
        peek = None if uri is None else alias_peek(uri)
        return LazyRegistry(lambda: self.registry, peek=peek)

    # ---- application services (opsloop.services): the actor is this Project's -------
    @cached_property
    def admin(self) -> AdminService:
        from opsloop.services import AdminService

        return AdminService(self.runtime)

    @cached_property
    def reads(self) -> ReadService:
        """Reads through the SQLAlchemy-free reader (`opsloop status` and `events` stay
        fast) unless a store was given or already opened, or the store needs migrating."""
        from opsloop.backends import open_reads
        from opsloop.services import ReadService

        reader = None
        if self._store is None and "store" not in self.__dict__:
            reader = open_reads(self.stack)
        log = self.stack.prediction_log
        return ReadService(
            self.store if reader is None else reader,
            self.config,
            None if log is None or "://" in log else Path(log),
        )

    # ---- the loop ------------------------------------------------------------------
    def train(
        self,
        *,
        window: Window | WindowRequest | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        as_of: datetime | str | None = None,
        trigger: str = "manual",
        reset_schema: bool = False,
        progress: Progress | None = None,
        force: bool = False,
    ) -> TrainOutcome:
        """Run the pipeline: load → validate → split → fit → evaluate → register → gate →
        approval → promotion (when approval is `auto`). When the loaded data, the code and
        the training configuration equal the champion's, nothing is trained or registered
        (`skipped=True`, a `retrain_skipped` event) unless `force`.

        The data window: ``start`` (and ``end``, default now) train on exactly
        ``[start, end)``; ``as_of`` on `retrain.training_window` ending then (times as
        datetimes, ISO 8601 text or a duration before now such as ``"30d"``); else by
        `retrain.anchor` (ending now, or at the data's newest event)."""
        from opsloop.orchestrate.loop import run_loop

        self._acting("train")
        return run_loop(
            self.runtime,
            window=self._asked(window, start, end, as_of),
            trigger=trigger,
            reset_schema=reset_schema,
            progress=progress,
            force=force,
        )

    def _asked(
        self,
        window: Window | WindowRequest | None,
        start: datetime | str | None,
        end: datetime | str | None,
        as_of: datetime | str | None,
    ) -> Window | WindowRequest | None:
        if start is None and end is None and as_of is None:
            return window
        from opsloop.data.window import WindowRequest
        from opsloop.errors import InvalidInputError

        if window is not None:
            raise InvalidInputError(
                "give either window= or start/end/as_of, not both",
                fix="drop window= (start/end/as_of make the window)",
            )
        return WindowRequest.parse(start=start, end=end, as_of=as_of, now=self.runtime.now())

    def promote(self, version: str, *, reason: str = "manual promotion") -> Deployment:
        self._acting("promote")
        return self.admin.promote(version, actor=self.actor, reason=reason)

    def deploy(
        self,
        version: str,
        *,
        strategy: str | None = None,
        steps: tuple[float, ...] | None = None,
        bake: timedelta | None = None,
        reason: str = "manual deployment",
        force: bool = False,
    ) -> Deployment | Rollout:
        """Take `version` to production by `strategy` (default `deploy.strategy`):
        blue_green switches now (a Deployment), canary/shadow start a Rollout. A version
        that failed its gate or was rejected needs `force` (recorded in the event)."""
        self._acting("deploy")
        return self.admin.deploy(
            version,
            actor=self.actor,
            strategy=strategy,
            steps=steps,
            bake_seconds=None if bake is None else bake.total_seconds(),
            reason=reason,
            force=force,
        )

    def rollout_status(self) -> dict[str, Any] | None:
        """The newest rollout, with a fresh analysis while it runs."""
        return self.admin.rollout_status()

    def advance_rollout(self) -> Step | None:
        """One controller step: analyse the running rollout and act on the verdict."""
        self._acting("rollout")
        return self.admin.advance_rollout()

    def promote_rollout(self, *, reason: str = "") -> Rollout:
        """Skip the remaining steps of the running rollout and promote its candidate."""
        self._acting("rollout")
        return self.admin.promote_rollout(actor=self.actor, reason=reason)

    def abort_rollout(self, *, reason: str = "") -> Rollout:
        """Stop the running rollout; all traffic returns to stable."""
        self._acting("rollout")
        return self.admin.abort_rollout(actor=self.actor, reason=reason)

    def rollback(self, *, reason: str = "") -> Deployment:
        self._acting("rollback")
        return self.admin.rollback(actor=self.actor, reason=reason)

    def approve(self, version: str, *, comment: str = "", force: bool = False) -> Approval:
        self._acting("approve")
        return self.admin.approve(version, actor=self.actor, comment=comment, force=force)

    def reject(self, version: str, *, comment: str = "") -> Approval:
        self._acting("reject")
        return self.admin.reject(version, actor=self.actor, comment=comment)

    def gate_report(self, version: str) -> GateReport:
        """The latest gate report of `version`, from the ops store (no MLflow needed)."""
        return self.reads.gate_report(version)

    def rerun_gate(self, version: str) -> GateReport:
        """Gate `version` again (same training window, current champion) and record it."""
        from opsloop.gate.record import rerun_gate

        self._acting("gate")
        return rerun_gate(self.runtime, version, actor=self.actor)

    def add_labels(self, source: Any, *, skip_invalid: bool = False) -> LabelsAdded:
        """Ingest ground truth (CSV/Parquet path or DataFrame with id column + target),
        checked against the deployed version's classes (or the task's type): any invalid
        row rejects the whole file (`LabelValidationError`, nothing stored) unless
        `skip_invalid`, which stores the valid rows and counts the rest. The answer says
        how many labels matched a logged prediction and how many are waiting for one.

        A recommender's (`task: ranking`) labels are visits: the user, item, time and
        optional rating columns of `ranking:` (`VisitValidationError` when invalid);
        `matched` counts the visits whose user has a list of their own in the published
        output."""
        import uuid

        from opsloop.orchestrate.labels import LABELS_SOURCE, content_seq, labels_summary
        from opsloop.store.records import utcnow

        self._acting("labels")

        part = uuid.uuid4().hex
        light = self._add_labels_light(source, part, skip_invalid)
        store: OpsStore | StoreReader
        if light is not None:
            added, store = light
        else:
            from opsloop.orchestrate.labels import store_labels, store_visits

            self._check_store(self._lazy_registry)  # never into a lost ops store
            store = self.store
            root, name = self.paths.labels, f"part-{part}.parquet"
            if self.config.task == "ranking":  # visits: no engine needed
                added = store_visits(
                    source,
                    config=self.config,
                    store=store,
                    labels_root=root,
                    part_name=name,
                    skip_invalid=skip_invalid,
                )
            else:
                added = store_labels(
                    source,
                    config=self.config,
                    store=store,
                    engine=self.engine,
                    labels_root=root,
                    part_name=name,
                    skip_invalid=skip_invalid,
                )
        n = added.rows
        evidence = {
            "rows": n,
            "matched": added.matched,
            "waiting": added.waiting,
            "rejected": added.rejected,
            "duplicates": added.duplicates,
            "source": str(source) if isinstance(source, str | Path) else "DataFrame",
        }
        try:  # counted by the `labels` trigger like the agent's inbox files
            store.add_arrival(
                self.name,
                source=LABELS_SOURCE,
                seq=content_seq(part),
                ts=utcnow() if self.clock is None else self.clock(),
                rows=n,
                payload=evidence,
                actor=self.actor,
                event=("labels_added", labels_summary(self.config.task, added), evidence),
            )
        finally:
            if light is not None:
                light[1].close()
        return added

    def _add_labels_light(
        self, source: Any, part: str, skip_invalid: bool
    ) -> tuple[LabelsAdded, StoreReader] | None:
        """`add_labels` of a file without pandas or SQLAlchemy (`opsloop labels add` in
        well under a second): through the DB-API reader and DuckDB, when the ops store is
        opened by neither this project nor a caller and the engine is DuckDB on local
        files; None otherwise, or when pandas must read the file."""
        log = self.stack.prediction_log
        if (
            self.config.task == "ranking"  # visits: pandas checks them (`store_visits`)
            or not isinstance(source, str | Path)
            or self._store is not None
            or self._engine is not None
            or "store" in self.__dict__
            or self.stack.engine != "duckdb"
            or log is None
            or "://" in log
        ):
            return None
        from opsloop.store.reader import open_reader

        assert self.stack.ops_store is not None
        reads = open_reader(self.stack.ops_store)
        if reads is None:
            return None
        from opsloop.orchestrate.labels import add_label_file
        from opsloop.store.ports import has_record

        if not has_record(reads, self.name):  # a new project, or a lost ops store: the
            reads.close()  # full path asks the registry (`deploy/rebuild.check_not_lost`)
            return None
        try:
            added = add_label_file(
                Path(source),
                config=self.config,
                reads=reads,
                prediction_root=Path(log),
                labels_root=self.paths.labels,
                part_name=f"part-{part}.parquet",
                skip_invalid=skip_invalid,
            )
        except BaseException:
            reads.close()
            raise
        if added is None:
            reads.close()
            return None
        return added, reads

    def request_retrain(
        self, *, reason: str = "", window: WindowRequest | None = None
    ) -> RetrainRequest:
        """Ask the agent to retrain at its next tick (once; not held back by the cooldown,
        but after a training that is running), on `window` if given (as `train`)."""
        self._acting("retrain")
        return self.admin.request_retrain(actor=self.actor, reason=reason, window=window)

    def retrain_now(
        self,
        *,
        reason: str = "",
        progress: Progress | None = None,
        window: WindowRequest | None = None,
    ) -> tuple[RetrainRequest, TrainOutcome]:
        """Record a retraining request and run it in this process now; StateError while a
        training of the model runs."""
        self._acting("retrain")
        return self.admin.retrain_now(
            actor=self.actor, reason=reason, progress=progress, window=window
        )

    def retrain_requests(self, *, limit: int = 50) -> list[RetrainRequest]:
        """The newest retraining requests, oldest first, with what became of them."""
        return self.reads.retrain_requests(limit=limit)

    def monitor(self, *, window: Window | None = None, version: str | None = None) -> MonitorResult:
        """Monitor `window` (default: the last `monitor.window`) for `version` (default:
        the deployed one), against its reference and the previous window."""
        from opsloop.monitor.dispatch import monitor_window

        self._acting("monitor")
        return monitor_window(self.runtime, window=window, version=version)

    def backfill_monitor(
        self,
        *,
        start: datetime,
        end: datetime,
        every: timedelta,
        version: str | None = None,
        replace: bool = False,
        on_window: OnWindow | None = None,
        fork_workers: bool = False,
    ) -> BackfillResult:
        """Monitor the consecutive windows of length `every` from `start` to `end`
        (`opsloop.monitor.backfill`): skipped when already monitored unless `replace`.
        `fork_workers`: judge many windows in forked worker processes — only in a
        short-lived process that runs nothing else (the CLI passes it); a fork of a
        process with other threads (a server, the agent, a notebook's) can deadlock."""
        from opsloop.monitor.dispatch import backfill_windows

        self._acting("monitor")
        return backfill_windows(
            self.runtime,
            start=start,
            end=end,
            every=every,
            version=version,
            replace=replace,
            on_window=on_window,
            fork_workers=fork_workers,
        )

    def backtest(
        self,
        *,
        start: datetime,
        end: datetime,
        every: timedelta,
        policies: list[str] | None = None,
        label_delay: timedelta = timedelta(0),
        registry: Literal["mlflow", "memory"] = "mlflow",
        on_period: OnPeriod | None = None,
    ) -> BacktestResult:
        """Replay the project's history from `start` to `end` period by period (`every`)
        through the real loop, once per retraining policy (`never`, `schedule:4w`,
        `drift`, `performance`, … or several joined by `+`; default: `retrain.on`, `never`
        and a schedule of four periods), each in a sandbox that never touches this
        project's registry, ops store or prediction log (`opsloop.backtest`)."""
        from opsloop.backtest import plan_backtest, run_backtest

        self._acting("backtest")
        plan = plan_backtest(
            self.config,
            start=start,
            end=end,
            every=every,
            policies=policies,
            label_delay=label_delay,
        )
        return run_backtest(self.config, self.root, plan, registry=registry, on_period=on_period)

    # ---- batch inference ---------------------------------------------------------------
    def predict(
        self,
        input: str | os.PathLike[str] | pd.DataFrame | None = None,
        output: str | os.PathLike[str] | None = None,
        *,
        version: str | None = None,
        alias: str | None = None,
        publish: bool = False,
        batch_rows: int | None = None,
        on_rows: OnRows | None = None,
        engine: Literal["duckdb", "spark"] | None = None,
        output_table: str | None = None,
    ) -> PredictResult:
        """Score `input` (a Parquet/CSV file, glob, folder of Parquet files, ``"sql:SELECT
        …"`` or a DataFrame; default `predict.input`) with `version` (or the version holding
        `alias`; default the deployed one) into ``<output>/run=<id>/`` (default
        `predict.output`) and the prediction log, checked first against the version's
        feature contract; recorded in the ops store (`batch_predicted`). With `publish`, the
        run becomes the current output for readers (`opsloop.batch.read_current`). `engine`:
        where it runs, DuckDB in this process or Spark (default: `predict.engine`, else the
        stack's `engine`). `output_table`: also write the rows to PostgreSQL,
        ``postgresql://…/DB?table=[SCHEMA.]NAME`` (default: `predict.output_table`); readers
        query the view NAME, re-pointed when a run is published (docs/batch.md)."""
        from opsloop.batch.predict import (
            DEFAULT_BATCH_ROWS,
            output_table_of,
            project_path,
            run_predict,
        )

        self._acting("predict")
        rt, light = self._batch_runtime()
        cfg = self.config.predict
        if input is None or output is None:
            if cfg is None:
                from opsloop.errors import ConfigError

                if light is not None:
                    light.close()
                raise ConfigError(
                    "no input or output given and opsloop.yaml has no `predict:` section",
                    expected="--input and --output, or predict: {input: …, output: …}",
                    fix="pass both, or add a `predict:` section (docs/batch.md)",
                )
            if input is None:
                input = project_path(rt, cfg.input)
            if output is None:
                output = project_path(rt, cfg.output)
            if version is None and alias is None:
                alias = cfg.alias
        rows = batch_rows or (cfg.batch_rows if cfg is not None else DEFAULT_BATCH_ROWS)
        try:
            return run_predict(
                rt,
                input,
                output,
                version=version,
                alias=alias,
                publish=publish,
                batch_rows=rows,
                on_rows=on_rows,
                actor=self.actor,
                engine=engine or (cfg.engine if cfg is not None else None),
                output_table=output_table_of(
                    output_table or (cfg.output_table if cfg is not None else None)
                ),
            )
        finally:
            if light is not None:
                light.close()

    def publish_batch(self, run_id: str, *, reason: str = "") -> BatchPublication:
        """Make a finished batch run the current output for readers (and its PostgreSQL
        view, when it wrote a table)."""
        from opsloop.batch import publish_run

        self._acting("batch")
        return publish_run(self.runtime, run_id, actor=self.actor, reason=reason)

    def rollback_batch(self, *, reason: str = "") -> BatchPublication:
        """Re-point the current batch output to the previous published run, in one step."""
        from opsloop.batch import rollback_run

        self._acting("batch")
        return rollback_run(self.runtime, actor=self.actor, reason=reason)

    def batch_history(self, *, limit: int = 20) -> list[BatchHistoryRow]:
        """The newest batch runs, newest first, with which is current."""
        from opsloop.batch import batch_history

        return batch_history(self.store, self.name, limit=limit)

    def batch_current(self) -> CurrentBatch:
        """The published batch output (`opsloop.batch.read_current`)."""
        from opsloop.batch import read_current

        return read_current(self)

    def monitoring(self, *, limit: int = 48, version: str | None = None) -> dict[str, Any]:
        """The stable JSON of `monitoring_view()`."""
        return self.monitoring_view(limit=limit, version=version).to_json()

    def monitoring_view(self, *, limit: int = 48, version: str | None = None) -> MonitoringView:
        """The latest monitored windows, oldest first (`services.views.build_monitoring`),
        typed."""
        return self.reads.monitoring(limit=limit, version=version)

    def tick(self, *, force_monitor: bool = False, progress: Progress | None = None) -> TickResult:
        """One agent tick under the agent lease: recover crashed runs, monitor if due, fire
        triggers, retrain if fired, send pending notifications. StateError while another
        agent holds the lease."""
        from opsloop.orchestrate.agent import tick_with_lease

        self._acting("agent")
        return tick_with_lease(self.runtime, force_monitor=force_monitor, progress=progress)

    def run_agent(
        self, *, interval: timedelta = timedelta(seconds=30), stop: threading.Event | None = None
    ) -> None:
        """Tick every `interval` while holding the agent lease (stand by otherwise), until
        `stop` is set."""
        from opsloop.orchestrate.agent import run_agent

        self._acting("agent")
        run_agent(self.runtime, interval=interval, stop=stop)

    def serve(
        self,
        *,
        host: str | None = None,
        port: int | None = None,
        admin_token: str | None = None,
        workers: int | None = None,
    ) -> None:
        """Run the prediction server until stopped (blocks). With `admin_token`, the
        management API's write endpoints (approve, reject) accept that bearer token.
        `workers` (default `serve.workers`) > 1 runs that many processes, each building its
        own backends from this project's folder and stack."""
        from opsloop.serve.gcwatch import hold_collections, release_collections

        self._acting("serve")  # before any worker process starts
        cfg = self.config.serve
        n = cfg.workers if workers is None else workers
        host, port = host or cfg.host, cfg.port if port is None else port
        if n <= 1:
            hold_collections()  # until the first model is settled (serve/gcwatch.py)
            try:
                from opsloop.serve import run_server

                run_server(self.serve_context(admin_token=admin_token), host, port)
            finally:
                release_collections()
            return
        release_collections()  # held by the CLI; this supervisor loads no model (each worker does)
        if self._registry is not None or self._store is not None:
            from opsloop.errors import InvalidInputError

            raise InvalidInputError(
                "several workers build their backends from the project's stack; this "
                "Project was given a registry or store object",
                fix="serve with workers=1, or configure the backends in opsloop.yaml",
            )
        from opsloop.serve.runner import run_workers

        # Create or upgrade both databases once, before N processes open them at once.
        self._check_store(self.registry)
        deployment = self.store.find_deployment(self.name)
        run_workers(
            self.root,
            self.config.stack,
            name=self.name,
            version=None if deployment is None else deployment.version,
            host=host,
            port=port,
            workers=n,
            actor=self.actor,
            admin_token=admin_token,
        )

    def ui(
        self,
        *,
        host: str | None = None,
        port: int | None = None,
        admin_token: str | None = None,
        others: list[Project] | None = None,
    ) -> None:
        """Serve the dashboard of this model (and of `others`) until stopped (blocks).
        Actions need `admin_token` (given in its login form)."""
        from opsloop.ui.app import run_ui

        cfg = self.config.ui
        run_ui(
            self.ui_site(admin_token=admin_token, others=others),
            host or cfg.host,
            cfg.port if port is None else port,
        )

    def ui_site(
        self, *, admin_token: str | None = None, others: list[Project] | None = None
    ) -> UISite:
        """The dashboard's models (this one first) and settings (`ui:` of this project)."""
        from opsloop.ui import UISite, model_from_runtime

        return UISite(
            [model_from_runtime(p.runtime) for p in [self, *(others or [])]],
            admin_token=admin_token,
            public_read=self.config.ui.public_read,
            session_hours=self.config.ui.session_hours,
        )

    def serve_context(
        self, *, admin_token: str | None = None, multiprocess_metrics: bool = False
    ) -> ServeContext:
        """What one server process needs: backends, log writer and `serve` settings."""
        from opsloop.serve.context import serve_context

        return serve_context(
            self.runtime,
            admin_token=admin_token,
            multiprocess_metrics=multiprocess_metrics,
        )

    def rebuild_store(self) -> Rebuilt:
        """Restore the current deployment into an ops store that lost the model's history,
        from the registry's `champion` alias, with a `store_rebuilt` event (StateError if
        the store still holds the history)."""
        from opsloop.deploy.rebuild import rebuild

        self._acting("store")
        return rebuild(self._runtime)

    # ---- views ---------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The stable JSON of `status_view()` (docs/cli.md)."""
        return self.status_view().to_json()

    def status_view(self) -> StatusView:
        """Champion, challenger, deployment, rollout, last monitor, schedule and agent,
        typed (`services.views.build_status`)."""
        return self.reads.status()

    def status_at(self, at: datetime | str) -> AsOfView:
        """Which version answered at `at` (ISO 8601, or a duration ago such as ``3d``) and
        the traffic split of the rollout running then."""
        return self.reads.status_at(_instant(at, "at"))

    def dora(
        self,
        *,
        since: datetime | str = "90d",
        until: datetime | str | None = None,
        model: str | None = None,
    ) -> DoraView:
        """DORA metrics over the period (default the last 90 days) for `model`, or for every
        model deployed in the ops store (docs/dora.md)."""
        return self.reads.dora(
            since=_instant(since, "since"),
            until=None if until is None else _instant(until, "until"),
            model=model,
        )

    def events(self, *, limit: int = 200, kinds: list[str] | None = None) -> list[Event]:
        return self.reads.events(limit=limit, kinds=kinds)


def _instant(value: datetime | str, option: str) -> datetime:
    """A datetime as given, or text read by `data.window.parse_instant` (ISO 8601 or a
    duration ago such as ``90d``)."""
    if isinstance(value, datetime):
        return value
    from opsloop.data.window import parse_instant

    return parse_instant(value, option)

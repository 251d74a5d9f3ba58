"""`opsloop demo --example restaurants`: the recommender's loop, end to end, on the data's clock.

init → train v1 (gate, promote) → the nightly `predict --publish` → the example's web app
(its own process) answers v1's lists → the days after the history are replayed one by one:
each night the nightly job publishes fresh lists, during the day visits drawn with a rising
cuisine trend are posted to the web app (they become labels) and added to the project's
data, each morning the agent ticks → its monitor detects the shift → the trigger retrains
v2 → gate → promotion → the nightly job publishes v2 → the running web app serves v2 →
`batch rollback` → it serves v1's lists again.

**The time model.** The example's history ends on 2025-06-30 and its visits carry their
own event times; the nightly run stamps its lists with the run's time and the monitor
judges a visit against the user's newest list served before it. So the demo runs the
project on a simulated clock (`Project(clock=...)`) that starts at the history's end and
advances day by day: the windows' ends, the lists' times, the agent's schedules and the
ops store's records all read it. The web app (its own process) stamps visits with the
times the demo posts, and its own `labels_added` events with the wall clock.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsloop.cli.demo import _free_port, _wait, stop_process
from opsloop.errors import InvalidInputError, StateError

if TYPE_CHECKING:
    import subprocess

    import pandas as pd
    from rich.console import Console

    from opsloop.orchestrate.agent import TickResult
    from opsloop.orchestrate.loop import TrainOutcome
    from opsloop.project import Project
    from opsloop.store.records import MonitorResult

HISTORY_END = datetime(2025, 6, 30, tzinfo=UTC)  # the example's 180 days from 2025-01-01
NIGHTLY = timedelta(hours=2)  # the template's `predict.schedule: 0 2 * * *`
MORNING = timedelta(hours=4)  # its `monitor.schedule: 0 4 * * *`
# A day of 5,000 users is ~150 visits, under the drift checks' min_rows (200): the demo's
# project judges a week of visits at a time.
DEMO_WINDOW = "7d"
# The template's gate margins are sized for its 50,000 users; the confidence intervals of
# the paired differences widen as 1/sqrt(users), so the demo's project widens its
# non-inferiority margins by sqrt(50,000 / users) (coverage's too: fewer users' lists make
# its point value swing more between two fits).
FULL_USERS = 50_000
# The trend: Japanese food's appeal x5 from the day after the history (Korean, the
# generator's default, is ~2% of a 500-restaurant catalogue and <1% of its visits: five
# times that is under the noise of a week of ~1,200 visits).
TREND_CUISINE, TREND_STRENGTH, TREND_DAYS = "japanese", 5.0, 1
UNKNOWN_USER = "u-new-in-town"
SEED = 7  # the project's (`opsloop init`'s default): the arriving visits are of its world


@dataclass
class DemoClock:
    """The simulated now the demo's `Project` runs on (`Project(clock=...)`)."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def at(self, day: date, offset: timedelta) -> datetime:
        """Move to `offset` after midnight UTC of `day` (never backwards)."""
        target = datetime(day.year, day.month, day.day, tzinfo=UTC) + offset
        if target < self.now:
            raise ValueError(f"the demo clock cannot go back from {self.now} to {target}")
        self.now = target
        return target


def demo_config(text: str, *, users: int, window: str = DEMO_WINDOW) -> str:
    """The template's opsloop.yaml with the demo's monitor window and, below
    `FULL_USERS`, its gate's non-inferiority margins widened by sqrt(FULL_USERS / users)
    (module constants)."""
    import math
    import re

    old = "  window: 1d\n"
    margin = re.compile(r"(metric: \w+, policy: non_inferiority, margin: )([0-9.]+)")
    if text.count(old) != 1 or not margin.search(text):
        raise StateError(
            "the restaurants template's opsloop.yaml has no single `monitor.window: 1d` "
            "line or no non-inferiority margin",
            expected=f"{old.strip()!r} and gate metrics like "
            "'{metric: ndcg_at_k, policy: non_inferiority, margin: 0.005}'",
            fix="update opsloop.cli.demo_restaurants.demo_config to the template",
        )
    factor = max(1.0, math.sqrt(FULL_USERS / users))

    def widen(m: re.Match[str]) -> str:
        return f"{m.group(1)}{round(float(m.group(2)) * factor, 4)}"

    text = text.replace(old, f"  window: {window}                     # the demo: a week\n")
    return margin.sub(widen, text)


def day_file(day: date) -> str:
    """The file of one day's arrived visits in the project's `data/` (read by `load()`)."""
    return f"visits-{day:%Y%m%d}.parquet"


def visit_bodies(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The `POST /visits` bodies of `frame`'s visits, each with its own event time."""
    from opsloop.examples.restaurants import ITEM, RATING, TIME, USER

    times = frame[TIME].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return [
        {"user": str(u), "restaurant": str(r), "time": t, "rating": int(s)}
        for u, r, t, s in zip(frame[USER], frame[ITEM], times, frame[RATING], strict=True)
    ]


class _WebApp:
    """The example's web app (`python -m opsloop.examples.webapp`) as its own process."""

    def __init__(self, project: Path) -> None:
        import os
        import subprocess
        import sys

        import httpx

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "opsloop.examples.webapp",
                "--project",
                str(project),
                "--port",
                str(self.port),
                "--interval",
                "0.5",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def health(self) -> dict[str, Any] | None:
        import httpx

        try:
            response = self.client.get("/health")
        except httpx.TransportError:
            return None
        return dict(response.json()) if response.status_code == 200 else None

    def serving(self, run_id: str) -> bool:
        found = self.health()
        return found is not None and found.get("run_id") == run_id

    def recommendations(self, user: str) -> dict[str, Any]:
        response = self.client.get(f"/users/{user}/recommendations")
        if response.status_code != 200:
            raise StateError(f"the web app answered {response.status_code}: {response.text}")
        return dict(response.json())

    def post_visits(self, bodies: list[dict[str, Any]], threads: int = 8) -> int:
        """POST every visit (concurrently: the app stores them by group commit); how many
        were stored."""

        def post(body: dict[str, Any]) -> bool:
            response = self.client.post("/visits", json=body)
            if response.status_code != 201:
                raise StateError(
                    f"the web app refused a visit ({response.status_code}): {response.text}"
                )
            return bool(response.json()["stored"])

        with ThreadPoolExecutor(threads) as pool:
            return sum(pool.map(post, bodies))

    def stop(self) -> None:
        self.client.close()
        stop_process(self.proc)


@dataclass
class Served:
    """What the web app answered for a few users at one moment."""

    version: str
    run_id: str
    lists: dict[str, list[str]]  # user -> restaurant ids, best first
    fallback_user: str
    fallback: bool
    trend: str  # the trend cuisine
    trend_share: float  # share of its restaurants in those lists

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RestaurantsDemo:
    """What `run_restaurants_demo` did (the CLI prints it; the test reads it)."""

    project: str
    users: int
    restaurants: int
    v1: dict[str, Any]
    v2: dict[str, Any] | None = None
    served: dict[str, Served] = field(default_factory=dict)  # v1, v2, rollback
    days: list[str] = field(default_factory=list)  # the replayed days
    posted: int = 0  # visits posted to the web app
    stored: int = 0  # of them acknowledged as stored labels
    monitor: dict[str, Any] | None = None  # the result that fired the retraining
    fired: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # retrained versions the gate refused
    rollback: dict[str, Any] | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["served"] = {k: v.to_dict() for k, v in self.served.items()}
        return out


def _served(app: _WebApp, users: list[str], cuisine: dict[str, str], trend: str) -> Served:
    answers = {u: app.recommendations(u) for u in users}
    unknown = app.recommendations(UNKNOWN_USER)
    runs = {(a["version"], a["run_id"]) for a in [*answers.values(), unknown]}
    if len(runs) != 1:
        raise StateError(f"the web app's answers mixed runs: {sorted(runs)}")
    version, run_id = runs.pop()
    lists = {u: [r["restaurant"] for r in a["recommendations"]] for u, a in answers.items()}
    items = [i for items in lists.values() for i in items]
    share = sum(cuisine.get(i) == trend for i in items) / max(len(items), 1)
    return Served(
        version=str(version),
        run_id=str(run_id),
        lists=lists,
        fallback_user=UNKNOWN_USER,
        fallback=bool(unknown["fallback"]),
        trend=trend,
        trend_share=share,
    )


def _show(console: Console, served: Served, step: str, shown: int = 3) -> None:
    console.print(
        f"{step} The web app serves version [bold]{served.version}[/] (run {served.run_id}); "
        f"{served.trend_share:.0%} of its answers for {len(served.lists)} users are "
        f"{served.trend} restaurants:"
    )
    for user in list(served.lists)[:shown]:
        console.print(f"     {user}: {', '.join(served.lists[user][:5])}, …")
    kind = "the fallback list" if served.fallback else "a list of its own"
    console.print(f"     {served.fallback_user} (unknown user): {kind}")


def run_restaurants_demo(
    path: Path | None,
    *,
    console: Console,
    users: int = 5_000,
    restaurants: int = 500,
    max_days: int = 21,
    sample_users: int = 50,
) -> RestaurantsDemo:
    """The demo of the module docstring; StateError when a step does not happen."""
    import pandas as pd
    from rich.rule import Rule

    from opsloop.cli.render import StageProgress, print_monitor
    from opsloop.examples.restaurants import ITEM, TIME, USER, Scenario
    from opsloop.examples.restaurants.world import build_world
    from opsloop.project import Project
    from opsloop.scaffold import init_project

    if max_days < 1:
        raise InvalidInputError(f"max_days must be >= 1, got {max_days}")
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="opsloop-demo-")) if path is None else Path(path)
    console.print(
        Rule("[bold]opsloop demo --example restaurants[/] — a recommender's loop, end to end")
    )
    init_project(root, example="restaurants", users=users, restaurants=restaurants, seed=SEED)
    config = root / "opsloop.yaml"
    config.write_text(
        demo_config(config.read_text(encoding="utf-8"), users=users), encoding="utf-8"
    )
    data = root / "data"
    history = pd.read_parquet(data / "visits.parquet", columns=[USER, TIME])
    table = pd.read_parquet(data / "restaurants.parquet", columns=[ITEM, "cuisine"])
    cuisine = dict(zip(table[ITEM], table["cuisine"], strict=True))
    console.print(
        f"1. Project scaffolded at [bold]{root}[/]: {users:,} users, {restaurants:,} "
        f"restaurants, {len(history):,} visits from 2025-01-01 to 2025-06-29 "
        f"(for the demo's size: monitor.window {DEMO_WINDOW}, the gate's non-inferiority "
        f"margins x{max(1.0, (FULL_USERS / users) ** 0.5):.1f})."
    )
    clock = DemoClock(HISTORY_END)
    console.print(
        f"   The demo replays the days after the history on the data's clock, from "
        f"{HISTORY_END:%Y-%m-%d}: the nightly job at 02:00, the day's visits, the agent at "
        "04:00 the next morning."
    )
    project = Project(root, actor="demo", clock=clock)
    # the users whose lists the demo shows: the most active ones
    active = history[USER].value_counts()
    sample = [str(u) for u in active.index[:sample_users]]

    first = HISTORY_END.date()
    clock.at(first, timedelta(hours=1))
    with StageProgress(console, "2. Training v1") as progress:
        v1 = project.train(progress=progress)
    if not v1.promoted:
        raise StateError(f"v1 was not promoted: {'; '.join(v1.gate_reasons)}")
    console.print(
        f"2. Trained and promoted version [bold]{v1.version}[/]: "
        + ", ".join(f"{m}={v1.metrics[m]:.4f}" for m in ("ndcg_at_k", "recall_at_k", "coverage"))
        + f" (window {v1.window})."
    )
    summary = RestaurantsDemo(str(root), users, restaurants, v1=v1.to_dict())

    clock.at(first, NIGHTLY)
    nightly = project.predict(publish=True)
    console.print(
        f"3. Nightly `opsloop predict --publish` at {clock.now:%Y-%m-%d %H:%M}: run "
        f"{nightly.run.run_id}, {nightly.run.rows:,} rows by version {nightly.run.version}, "
        "published with the fallback list."
    )

    # the same world, with the trend switched on from the history's end
    world = build_world(
        Scenario(
            users=users,
            restaurants=restaurants,
            changes=frozenset({"trend"}),
            change_at=first,
            seed=SEED,
            trend_cuisine=TREND_CUISINE,
            trend_strength=TREND_STRENGTH,
            trend_days=TREND_DAYS,
        )
    )
    trend = world.scenario.trend_cuisine
    console.print(
        f"   From {first:%Y-%m-%d}, {trend} food's appeal rises to "
        f"{world.scenario.trend_strength:g}x (the generator's `trend`): the visits that "
        "arrive follow it."
    )
    app = _WebApp(root)
    try:
        with console.status("4. Starting the web app…"):
            _wait(lambda: app.serving(nightly.run.run_id), 120, "the web app", app.proc)
        summary.served["v1"] = _served(app, sample, cuisine, trend)
        _show(console, summary.served["v1"], "4.")

        tick, day = _replay(project, app, clock, world, summary, max_days, console)
        trained = tick.trained
        assert trained is not None and tick.monitored is not None
        print_monitor(console, tick.monitored)
        _say_retrained(console, tick, trained, day)
        summary.monitor = tick.monitored.to_dict()
        summary.fired = [f.trigger for f in tick.fired]
        summary.v2 = trained.to_dict()
        if not trained.promoted:
            raise StateError(f"v2 was not promoted: {'; '.join(trained.gate_reasons)}")

        clock.now += timedelta(minutes=30)
        nightly2 = project.predict(publish=True)
        console.print(
            f"7. The nightly job, run now ({clock.now:%Y-%m-%d %H:%M}) rather than at the next "
            f"02:00: run {nightly2.run.run_id} by version {nightly2.run.version}, published."
        )
        with console.status("   Waiting for the web app to follow the published pointer…"):
            _wait(lambda: app.serving(nightly2.run.run_id), 60, "the web app to serve v2", app.proc)
        summary.served["v2"] = _served(app, sample, cuisine, trend)
        _show(console, summary.served["v2"], "   ")

        clock.now += timedelta(minutes=30)
        publication = project.rollback_batch(reason="demo: back to v1's lists")
        summary.rollback = publication.to_dict()
        with console.status("8. Waiting for the web app to follow the rollback…"):
            _wait(lambda: app.serving(publication.run_id), 60, "the web app to roll back", app.proc)
        summary.served["rollback"] = _served(app, sample, cuisine, trend)
        console.print(
            f"8. `opsloop batch rollback` re-published run {publication.run_id} "
            f"(revision {publication.revision})."
        )
        _show(console, summary.served["rollback"], "   ")
    finally:
        app.stop()
    summary.seconds = time.monotonic() - started
    _print_summary(console, project, summary)
    return summary


def _replay(
    project: Project,
    app: _WebApp,
    clock: DemoClock,
    world: Any,
    summary: RestaurantsDemo,
    max_days: int,
    console: Console,
) -> tuple[TickResult, date]:
    """Day by day from the history's end: the day's visits (posted to the web app with
    their times, and written to data/), the next night's nightly job, the next morning's
    agent tick — until a tick retrains; StateError after `max_days`."""
    from opsloop.examples.restaurants import write_table
    from opsloop.examples.restaurants.generate import arriving

    data = project.root / "data"
    day = HISTORY_END.date()
    for n in range(1, max_days + 1):
        begin = datetime(day.year, day.month, day.day, tzinfo=UTC)
        visits = arriving(world, begin, begin + timedelta(days=1))
        summary.posted += len(visits)
        summary.stored += app.post_visits(visit_bodies(visits))
        write_table(data, day_file(day), visits)  # load() reads data/visits*.parquet
        summary.days.append(day.isoformat())
        day += timedelta(days=1)
        clock.at(day, NIGHTLY)
        nightly = project.predict(publish=True)
        clock.at(day, MORNING)
        tick = project.tick()
        console.print(
            f"5. Day {n} ({begin:%Y-%m-%d}): {len(visits)} visits posted as labels; nightly "
            f"run {nightly.run.run_id} (v{nightly.run.version}); agent at "
            f"{clock.now:%Y-%m-%d %H:%M}: {_tick_line(tick)}"
        )
        if tick.trained is not None and tick.trained.promoted:
            return tick, day
        if tick.trained is not None:
            summary.refused.append(tick.trained.version)
            console.print(
                f"   The gate refused version {tick.trained.version} "
                f"({'; '.join(r for r in tick.trained.gate_reasons if 'non_inferiority' in r)}"
                "); v1 stays champion and the days go on."
            )
    raise StateError(
        f"the agent did not retrain within {max_days} days after the history",
        fix="run with more --days, or a larger --users",
    )


def _tick_line(tick: TickResult) -> str:
    m = tick.monitored
    if tick.fired:
        return f"monitor breach → trigger {', '.join(f.trigger for f in tick.fired)} fired"
    if m is None:
        return "no complete monitor window yet"
    breaches = (m.summary.get("ranking") or {}).get("breaches") or []
    return f"window {m.window_start:%m-%d}→{m.window_end:%m-%d}: " + (
        ", ".join(breaches) if breaches else "no breach"
    )


def _say_retrained(console: Console, tick: TickResult, v2: TrainOutcome, day: date) -> None:
    assert tick.monitored is not None
    m: MonitorResult = tick.monitored
    ranking = m.summary.get("ranking") or {}
    console.print(
        f"6. The monitor judged {m.window_start:%Y-%m-%d} → {m.window_end:%Y-%m-%d} "
        f"({m.n_labelled} visits): breaches {ranking.get('breaches')}; trigger "
        f"{', '.join(f.trigger for f in tick.fired)} fired → retrained version "
        f"[bold]{v2.version}[/] on the window {v2.window} (the arrived visits included); gate "
        f"{'passed' if v2.gate_passed else 'failed'}: {'; '.join(v2.gate_reasons)}"
        + ("; promoted." if v2.promoted else ".")
    )


def _print_summary(console: Console, project: Project, s: RestaurantsDemo) -> None:
    from rich.table import Table

    from opsloop.cli.render import print_table

    title = f"opsloop demo (restaurants) finished in {s.seconds:.0f}s"
    table = Table(title=title, show_header=False)
    table.add_row("project", f"{s.project} ({s.users:,} users × {s.restaurants:,} restaurants)")
    table.add_row(
        "replayed",
        f"{len(s.days)} days after the history ({s.days[0]} → {s.days[-1]}) on the data's "
        f"clock; {s.stored}/{s.posted} visits stored as labels by the web app",
    )
    if s.monitor is not None:
        ranking = s.monitor["summary"].get("ranking") or {}
        popularity = ranking.get("popularity") or {}
        shift = popularity.get("corrected")
        table.add_row(
            "detected",
            f"{', '.join(ranking.get('breaches') or []) or 'no breach'} in "
            f"{s.monitor['window_start'][:10]} → {s.monitor['window_end'][:10]}"
            + (
                f"\nvisits' popularity shift {shift:.3f} (Jensen-Shannon corrected for noise; "
                f"floor {popularity.get('floor')}, {popularity.get('n')} visits)"
                if isinstance(shift, float)
                else ""
            ),
        )
        realised = s.monitor.get("performance_value")
        table.add_row(
            "realised NDCG@k",
            "not judged (too few lists with a relevant visit)"
            if realised is None
            else f"{realised:.4f} (floor {s.monitor['summary'].get('performance_floor')}; "
            f"offline, at training: {ranking.get('offline_ndcg') or float('nan'):.4f})",
        )
    table.add_row("triggers", ", ".join(s.fired) or "—")
    if s.refused:
        table.add_row("refused by the gate", ", ".join(f"v{v}" for v in s.refused))
    if s.v2 is not None:
        table.add_row(
            "versions",
            f"v{s.v1['version']} (NDCG@k {s.v1['metrics']['ndcg_at_k']:.4f}) → "
            f"v{s.v2['version']} (NDCG@k {s.v2['metrics']['ndcg_at_k']:.4f} on its holdout)",
        )
        table.add_row(
            "gate",
            "\n".join(s.v2["gate_reasons"])
            + f"\n(full report: opsloop gate {project.name} {s.v2['version']} -p {s.project})",
        )
    table.add_row(
        "served",
        "  ".join(
            f"{k}: v{v.version} ({v.trend_share:.0%} {v.trend})" for k, v in s.served.items()
        ),
    )
    table.add_row("see it", f"opsloop status -p {s.project}\nopsloop events -p {s.project}")
    print_table(console, table)

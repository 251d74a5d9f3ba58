"""The restaurants example's nightly job, whole, as a user meets it: 50,000 users x 5,000
restaurants (issue 17's target: under 2 minutes on this 2-core machine).

Each step is its own process, timed from outside (wall seconds by the parent; CPU seconds
and peak RSS of the process tree, sampled from /proc by `procmem.py` every 0.25 s, and GNU
time's user + system of the process and the children it reaped):

1. **generate** (once, cached in ``--cache``): ``opsloop init PROJECT --example restaurants``
   — the data (``data/*.parquet``), ``opsloop.yaml`` and ``model.py``.
2. **train**: the project's ``load(window)`` for ``retrain.training_window`` ending at the
   data's newest visit (``retrain.anchor: data``), ``build()``, fitted on the visits before
   ``window end - ranking.holdout``, evaluated on the holdout (top ``ranking.k`` of its
   users, NDCG@k and recall@k), the fitted model pickled — the train stage's work.
3. **predict**, per engine: the pickled model, ``load(window)`` for the same window (the
   histories and tables as known now), the top ``ranking.k`` of every user of
   ``predict.input`` plus the fallback list (k rows with a null user), written as Parquet
   in the nightly output's columns (user, rank int16, restaurant, score, model, version,
   run_id):

   - ``duckdb``: scored in the process, written by DuckDB (``COPY … TO``);
   - ``spark``: Spark ``local[2]`` reads the users, ``mapInPandas`` scores one chunk of
     users per partition (each task loads the model and the window's data once and scores
     on one thread: Spark runs a task per core), Spark writes the Parquet. The pipeline's
     Spark path for ranking (``opsloop predict --engine spark``) is not there yet, so this
     is the recommender inside Spark's ``mapInPandas``, timed against the DuckDB path
     above, JVM start-up included.

   Both outputs must hold the same rows, scores included (checked every run): a user's
   list does not depend on the users scored with it.

CPU seconds are what a step costs on a machine shared with other jobs; wall seconds are
what the user waits, and on this 2-core machine they grow with the load average.
``--profile`` first runs the train and DuckDB predict steps once under cProfile in this
process (the main thread only: predictions on worker threads show as lock waits).

``--via opsloop`` runs the pipeline's commands instead of steps 2 and 3: ``opsloop train
--force`` (MLflow logging, registration and the gate included; ``--force`` trains even when
nothing changed since the champion) and ``opsloop predict --engine duckdb|spark`` (the run
folder, the prediction log, the run recorded). Medians over ``--runs`` runs (engines
alternating); the load average is printed with every run.

    nice -n 10 python benchmarks/recommender_nightly.py [--runs 3] [--engines duckdb spark]
        [--users 50000 --restaurants 5000] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO / "src")]  # this checkout

from machine import machine  # noqa: E402
from procmem import rollup  # noqa: E402

GNU_TIME = Path("/usr/bin/time")
MODEL, VERSION = "restaurants", "bench"
SPARK_STACK = "\nstacks:\n  spark:\n    engine: spark\n    spark: {master: 'local[2]'}\n"


# ---- measuring a process from outside -------------------------------------------------


@dataclass(frozen=True)
class Timed:
    """One process: wall seconds, CPU seconds (tree sampled from /proc, and GNU time's),
    peak RSS (the tree's summed RSS at its largest, and the largest single process's
    VmHWM), its stdout."""

    seconds: float
    cpu: float
    time_cpu: float
    tree_peak_mib: float
    process_peak_mib: float
    stdout: str


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _tree(pid: int) -> list[int]:
    kids, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def _cpu_seconds(pid: int) -> float:
    """User + system seconds of a live process (its own threads, not its children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class TreeSampler(threading.Thread):
    """Samples a process tree every `every` seconds until it is gone: the largest summed
    RSS, each process's VmHWM and its last CPU seconds."""

    def __init__(self, pid: int, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.tree_peak_kib = 0
        self.hwm_kib: dict[int, int] = {}
        self.cpu: dict[int, float] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            total = 0
            for p in _tree(self.pid):
                r = rollup(p)
                if r.rss:
                    total += r.rss
                    self.hwm_kib[p] = max(self.hwm_kib.get(p, 0), r.hwm)
                    self.cpu[p] = max(self.cpu.get(p, 0.0), _cpu_seconds(p))
            self.tree_peak_kib = max(self.tree_peak_kib, total)
            self.done.wait(self.every)


def timed(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> Timed:
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = [str(GNU_TIME), "-f", "%U %S", "-o", tf.name, *cmd] if GNU_TIME.exists() else cmd
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            full, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        sampler = TreeSampler(proc.pid)
        sampler.start()
        out, err = proc.communicate()
        seconds = time.perf_counter() - t0
        sampler.done.set()
        sampler.join()
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd[:6])} failed:\n{err[-3000:]}")
        user_sys = tf.read().strip().splitlines()[-1].split() if GNU_TIME.exists() else ["0", "0"]
    return Timed(
        seconds=seconds,
        cpu=sum(sampler.cpu.values()),
        time_cpu=float(user_sys[0]) + float(user_sys[1]),
        tree_peak_mib=sampler.tree_peak_kib / 1024,
        process_peak_mib=max(sampler.hwm_kib.values(), default=0) / 1024,
        stdout=out,
    )


# ---- the steps, as processes ----------------------------------------------------------


def load_avg() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def project_window(project: Path) -> tuple[Any, Any, Any]:
    """(config, the project's model.py module, the training window ending at the data's
    newest visit), as the pipeline computes them for `retrain.anchor: data`."""
    import importlib.util
    from datetime import UTC, datetime

    import pandas as pd

    from opsloop.config.project import load_config
    from opsloop.data.window import Window

    cfg = load_config(project / "opsloop.yaml")
    spec = importlib.util.spec_from_file_location("nightly_model", project / cfg.code)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["nightly_model"] = module
    spec.loader.exec_module(module)
    visits = pd.read_parquet(project / "data" / "visits.parquet", columns=[cfg.time_column])
    newest = pd.Timestamp(visits[cfg.time_column].max()).to_pydatetime()
    end = newest + timedelta(microseconds=1)  # [newest - window, newest]
    window = Window(max(end - cfg.retrain.training_window, datetime(1970, 1, 1, tzinfo=UTC)), end)
    return cfg, module, window


def step_train(project: Path, model_path: Path) -> dict[str, Any]:
    import cloudpickle
    import pandas as pd

    from opsloop.ranking.evaluate import evaluate

    cfg, module, window = project_window(project)
    data = module.load(window)
    rk = cfg.ranking
    model = module.build()
    result = evaluate(  # fits `model` on the visits before the cut-off
        model,
        data,
        pd.Timestamp(window.end) - rk.holdout,
        rk.holdout,
        k=rk.k,
        min_rating=rk.min_rating,
        exclude_seen=rk.exclude_seen,
    )
    model_path.write_bytes(cloudpickle.dumps(model))
    summary = getattr(model, "training_", None)
    return {
        "visits": len(data.interactions),
        "ndcg": result.ndcg,
        "recall": result.recall,
        "evaluated_users": result.users,
        "fit_seconds": result.fit_seconds,
        "recommend_seconds": result.recommend_seconds,
        "candidate_recall": getattr(summary, "candidate_recall", None),
    }


def nightly_rows(top: Any, data: Any, run_id: str) -> Any:
    """The nightly output's rows of a `TopK` (RANKING.md contract 3) as an Arrow table;
    a user id of None (the fallback list) becomes a null user."""
    import numpy as np
    import pyarrow as pa

    k = top.items.shape[1]
    valid = (top.items >= 0).ravel()
    users = np.repeat(top.users, k)[valid]
    user_type = pa.Schema.from_pandas(data.users[[data.user_column]], preserve_index=False)
    return pa.table(
        {
            data.user_column: pa.array(users, type=user_type.field(0).type),
            "rank": pa.array(np.tile(np.arange(1, k + 1, dtype=np.int16), len(top.users))[valid]),
            data.item_column: pa.array(top.catalogue[top.items.ravel()[valid]]),
            "score": pa.array(top.scores.ravel()[valid], type=pa.float64()),
            "model": pa.array([MODEL] * int(valid.sum()), type=pa.string()),
            "version": pa.array([VERSION] * int(valid.sum()), type=pa.string()),
            "run_id": pa.array([run_id] * int(valid.sum()), type=pa.string()),
        }
    )


def score_users(
    model: Any, data: Any, users: Any, k: int, exclude_seen: bool, run_id: str, *, fallback: bool
) -> Any:
    """The lists of `users` as the nightly output's rows, with the fallback list (what a
    user the run did not score gets: k rows with a null user) if `fallback` — one
    `recommend` call: a None user is unknown to it, so it gets the fallback."""
    import numpy as np

    if fallback:
        users = np.append(np.asarray(users, dtype=object), None)
    return nightly_rows(model.recommend(data, users, k, exclude_seen=exclude_seen), data, run_id)


def step_predict(project: Path, model_path: Path, engine: str, output: Path) -> dict[str, Any]:
    cfg, module, window = project_window(project)
    rk = cfg.ranking
    source = project / str(cfg.predict.input)
    run_id = f"nightly-{engine}"
    if engine == "duckdb":
        import duckdb

        model = pickle.loads(model_path.read_bytes())
        data = module.load(window)
        con = duckdb.connect()
        users = con.execute(f"SELECT {rk.user_column} FROM read_parquet(?)", [str(source)])
        ids = users.fetchnumpy()[rk.user_column]
        rows = score_users(model, data, ids, rk.k, rk.exclude_seen, run_id, fallback=True)
        con.register("nightly", rows)
        con.execute(f"COPY nightly TO '{output}' (FORMAT parquet)")
        return {"rows": rows.num_rows, "users": len(ids)}
    return spark_predict(project, model_path, source, output, rk, run_id)


def spark_predict(
    project: Path, model_path: Path, source: Path, output: Path, rk: Any, run_id: str
) -> dict[str, Any]:
    """The recommender inside Spark local[2]: one chunk of users per partition."""
    from opsloop.engines.spark_session import get_session

    spark = get_session("local[2]")
    model_bytes = spark.sparkContext.broadcast(model_path.read_bytes())
    user_column, k, exclude_seen = rk.user_column, rk.k, rk.exclude_seen
    users = spark.read.parquet(str(source)).select(user_column).repartition(2)
    schema = (
        f"{user_column} string, rank short, {rk.item_column} string, score double, "
        "model string, version string, run_id string"
    )

    def score_partition(batches: Any) -> Any:
        import numpy as np
        from pyspark import TaskContext

        ids = [b[user_column].to_numpy() for b in batches]
        model = pickle.loads(model_bytes.value)
        model.n_threads = 1  # Spark runs a task per core: one scoring thread per task
        _, module, window = project_window(project)
        data = module.load(window)
        first = TaskContext.get().partitionId() == 0  # one task adds the fallback list
        users = np.concatenate(ids) if ids else np.zeros(0, dtype=object)
        if len(users) or first:
            yield score_users(
                model, data, users, k, exclude_seen, run_id, fallback=first
            ).to_pandas()

    scored = users.mapInPandas(score_partition, schema)
    scored.write.mode("overwrite").parquet(str(output))
    count = spark.read.parquet(str(output)).count()
    return {"rows": count, "partitions": users.rdd.getNumPartitions()}


# ---- the benchmark ----------------------------------------------------------------------


def step_command(step: str, *args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--step", step, *args]


def commands(via: str, project: Path, work: Path, engine: str) -> dict[str, list[str]]:
    """The train and predict processes of one run (`--via script`: this file's steps;
    `--via opsloop`: the pipeline's commands)."""
    model = work / "model.pkl"
    out = work / f"out-{engine}"
    if via == "opsloop":
        base = [sys.executable, "-m", "opsloop"]
        return {
            # --force: train even when data, code and configuration equal the champion's
            "train": [*base, "train", "-p", str(project), "--force", "--json"],
            "predict": [
                *base,
                "predict",
                "-p",
                str(project),
                "-i",
                str(project / "data" / "users.parquet"),
                "-o",
                str(out),
                "--engine",
                engine,
                "--json",
            ],
        }
    return {
        "train": step_command("train", "--project", str(project), "--model", str(model)),
        "predict": step_command(
            "predict",
            "--project",
            str(project),
            "--model",
            str(model),
            "--engine",
            engine,
            "--output",
            str(out),
        ),
    }


def generated(cache: Path, users: int, restaurants: int, env: dict[str, str]) -> Path:
    """The example project at this size, made once by `opsloop init` (timed when made)."""
    project = cache / f"restaurants-{users}x{restaurants}"
    if (project / "opsloop.yaml").exists():
        print(f"generate: cached at {project}")
        return project
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "opsloop", "init", str(project), "--example", "restaurants"]
    cmd += ["--users", str(users), "--restaurants", str(restaurants)]
    before = load_avg()
    t = timed(cmd, env)
    print(
        f"generate: opsloop init {t.seconds:.1f} s wall, {t.time_cpu:.1f} s CPU, peak RSS "
        f"{t.process_peak_mib:,.0f} MiB (load {before} -> {load_avg()})"
    )
    with (project / "opsloop.yaml").open("a") as f:  # for `--via opsloop --engines spark`
        f.write(SPARK_STACK)
    return project


def same_rows(work: Path, engines: list[str]) -> None:
    """Every engine's output holds the same (user, rank, item, score) rows."""
    import duckdb

    def rows(engine: str) -> list[tuple[Any, ...]]:
        path = work / f"out-{engine}"  # a file, Spark's folder, or opsloop's run=<id>/ folders
        pattern = str(path / "**" / "*.parquet") if path.is_dir() else str(path)
        return duckdb.sql(
            "SELECT * EXCLUDE (model, version, run_id) FROM "
            f"read_parquet('{pattern}', hive_partitioning = false) "
            "ORDER BY 1 NULLS FIRST, rank"
        ).fetchall()

    first = rows(engines[0])
    for other in engines[1:]:
        assert rows(other) == first, f"{other}'s output differs from {engines[0]}'s"


def med(values: list[float]) -> float:
    return statistics.median(values)


def report(name: str, runs: list[Timed]) -> str:
    return (
        f"{name:18s} {med([r.seconds for r in runs]):7.1f} s wall  "
        f"{med([r.cpu for r in runs]):6.1f} s CPU (GNU time {med([r.time_cpu for r in runs]):.1f})"
        f"  peak RSS {med([r.tree_peak_mib for r in runs]):,.0f} MiB tree / "
        f"{med([r.process_peak_mib for r in runs]):,.0f} MiB largest process"
    )


def profile(project: Path, work: Path) -> None:
    """cProfile of the train and DuckDB predict steps (in this process), top functions."""
    import cProfile
    import pstats

    for name, call in (
        ("train", lambda: step_train(project, work / "model.pkl")),
        ("predict", lambda: step_predict(project, work / "model.pkl", "duckdb", work / "p.pq")),
    ):
        prof = cProfile.Profile()
        c0 = time.process_time()
        prof.runcall(call)
        print(f"\n--- profile: {name} ({time.process_time() - c0:.1f} s CPU) ---")
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--restaurants", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engines", nargs="+", default=["duckdb", "spark"])
    parser.add_argument("--via", choices=["script", "opsloop"], default="script")
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "opsloop-bench"))
    parser.add_argument("--profile", action="store_true", help="cProfile the steps once first")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    # one step, run as its own process by the benchmark
    parser.add_argument("--step", choices=["train", "predict"], help=argparse.SUPPRESS)
    parser.add_argument("--project", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step == "train":
        print(json.dumps(step_train(Path(args.project), Path(args.model))))
        return
    if args.step == "predict":
        found = step_predict(Path(args.project), Path(args.model), args.engine, Path(args.output))
        print(json.dumps(found))
        return

    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    print(machine())
    project = generated(Path(args.cache), args.users, args.restaurants, env)
    work = Path(tempfile.mkdtemp(prefix="opsloop-nightly-"))
    if args.profile:
        profile(project, work)
    times: dict[str, list[Timed]] = {"train": []} | {e: [] for e in args.engines}
    try:
        for i in range(args.runs):
            engines = args.engines if i % 2 == 0 else args.engines[::-1]
            before = load_avg()
            cmds = commands(args.via, project, work, engines[0])
            t = timed(cmds["train"], env, cwd=project)
            times["train"].append(t)
            said = t.stdout.strip() if args.via == "script" else "(opsloop train)"
            line = f"run {i + 1}: train {t.seconds:.1f} s ({t.cpu:.1f} s CPU) {said}"
            for engine in engines:
                p = timed(commands(args.via, project, work, engine)["predict"], env, cwd=project)
                times[engine].append(p)
                line += f"; {engine} {p.seconds:.1f} s ({p.cpu:.1f} s CPU)"
            print(f"{line}; load {before} -> {load_avg()}")
            if len(engines) > 1:
                same_rows(work, engines)
            for engine in engines:  # the next run writes its own output
                out = work / f"out-{engine}"
                if out.is_dir():
                    shutil.rmtree(out)
                else:
                    out.unlink(missing_ok=True)
        same = ", outputs identical" if len(args.engines) > 1 else ""
        print(f"\nmedians of {args.runs} runs ({', '.join(args.engines)}{same}):")
        print(report("train", times["train"]))
        for engine in args.engines:
            print(report(f"predict ({engine})", times[engine]))
            whole = [
                a.seconds + b.seconds for a, b in zip(times["train"], times[engine], strict=True)
            ]
            cpu = [a.cpu + b.cpu for a, b in zip(times["train"], times[engine], strict=True)]
            print(
                f"{'  nightly, ' + engine:18s} {med(whole):7.1f} s wall  {med(cpu):6.1f} s CPU "
                "(train + predict; target: under 120 s wall)"
            )
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Batch prediction: the whole `opsloop predict` command vs raw `predict_proba` of the same
registered model over the same Arrow batches, on the same Parquet input, one run.

The model is the churn example's (`opsloop init --example churn`: a scikit-learn Pipeline
of a ColumnTransformer with a OneHotEncoder over 5 categorical and 10 numeric features and
a HistGradientBoostingClassifier), trained once and registered in MLflow on SQLite. The
input is the example's generator at 1M and 10M rows (`--quick`: 200k and 1M), one Parquet
file per size in row groups of 128k rows.

Each contender runs as its own process, alternating, `--runs` times per size:

- **opsloop**: `python -m opsloop predict churn -i input.parquet -o out --json`, the user's
  command whole — start-up, the version from the ops store and the model cache (MLflow on
  the first run only, which caches it: as a nightly job after its first night), the
  contract check, DuckDB streaming the file in Arrow record batches of 65,536 rows scored on
  worker threads by the compiled path (verified at load), the output Parquet and the
  prediction log, the run recorded. Time: the process's wall time, measured by the parent.
- **raw**: a script that loads the same version (`Project.registry.load`), then iterates
  `pyarrow.parquet.ParquetFile.iter_batches(65,536)` and calls the pipeline's own
  `predict_proba` on each batch's `to_pandas()`, writing nothing. Time: the loop only
  (imports and the model's load excluded), measured inside the process. This is the
  issue's comparison ("raw model.predict over the same Arrow batches in one process"):
  opsloop's whole command against the loop alone.
- **raw script**: the same work as a whole process, as a user would write the nightly job
  without opsloop (`RAW_SCRIPT`): start, import MLflow and pyarrow, `mlflow.sklearn.
  load_model("models:/churn/<v>")`, the same `iter_batches(65,536)` → `to_pandas()` →
  `predict_proba`, the id, prediction and score written to one Parquet file. Time: the
  process's wall time, measured by the parent, like opsloop's (the project guide's rule:
  measure whole commands).

Throughput is rows / seconds, medians over the runs; peak memory is GNU time's maximum RSS
of the process; CPU seconds are GNU time's user + system for the whole processes (opsloop,
raw script) and `process_time` of the raw loop (all threads). Printed: rows/s of each and
per core, both ratios, each labelled — opsloop / raw loop (the target, ≥ 0.9) and opsloop /
raw script (whole process against whole process) — the CPU seconds of each, and opsloop's
peak RSS at the larger size over the smaller (target ≤ 1.2).

With `--spark`, the same input on Spark `local[2]`, both contenders in one process on one
warm SparkSession (the JVM's start-up counted for neither), alternating, `--runs` times
after one uncounted warm-up run of each:

- **opsloop on Spark**: `Project.predict(..., engine="spark")` — the contract check, the
  verified scorer broadcast and run by `mapInArrow` (unpickled once per Python worker),
  the output Parquet and the prediction log (each written by the Spark task that scored
  the rows), the run recorded.
- **spark_udf**: `mlflow.pyfunc.spark_udf(spark, "models:/churn/<v>", env_manager="local")`
  created (the model fetched from the registry) and applied over the same columns, the id
  and the prediction written as Parquet by Spark — what a nightly `spark_udf` script does.

Both outputs are read back and joined by id: every prediction must be identical. Printed:
rows/s of each and per core, and opsloop / spark_udf (target ≥ 1.3).

    .venv/bin/python benchmarks/batch_predict.py            # 1M and 10M rows
    .venv/bin/python benchmarks/batch_predict.py --quick    # 200k and 1M rows
    .venv/bin/python benchmarks/batch_predict.py --spark --sizes 1000000   # Spark only

Nothing is downloaded; the temporary directory is removed at the end (`--keep` keeps it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from machine import machine  # benchmarks/machine.py, beside this script

REPO = Path(__file__).resolve().parents[1]
BATCH_ROWS = 65_536
ROW_GROUP = 131_072
CHUNK = 500_000
GNU_TIME = Path("/usr/bin/time")

RAW = """
import json, sys, time
import pyarrow.parquet as pq
from opsloop.project import Project

p = Project(sys.argv[1])
version = p.store.find_deployment("churn").version
model = p.registry.load("churn", version)
names = model.feature_names
t0 = time.perf_counter()
c0 = time.process_time()
rows = 0
checksum = 0.0
for batch in pq.ParquetFile(sys.argv[2]).iter_batches(batch_size=int(sys.argv[3]), columns=names):
    frame = batch.to_pandas()
    score = model.estimator.predict_proba(frame[names])[:, 1]
    rows += len(score)
    checksum += float(score.sum())
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"rows": rows, "seconds": seconds, "cpu": cpu, "checksum": checksum}))
"""


# The whole-process peer: the nightly script a user would write without opsloop — start,
# imports, the same registered version loaded from MLflow, the same Parquet streamed in Arrow
# batches, the pipeline's own predict_proba, the id, prediction and score written to Parquet.
# Timed by the parent like the opsloop command (process start to output written); it prints
# its own phases (seconds from the interpreter's start) so the table can say where time went.
RAW_SCRIPT = """
import json, sys, time
t_start = time.perf_counter()
import mlflow
import mlflow.sklearn
import pyarrow as pa
import pyarrow.parquet as pq
t_imported = time.perf_counter()

tracking, model_uri, data, out, batch_rows, id_column = sys.argv[1:7]
mlflow.set_tracking_uri(tracking)
mlflow.set_registry_uri(tracking)
model = mlflow.sklearn.load_model(model_uri)
names = list(model.feature_names_in_)
t_loaded = time.perf_counter()
writer = None
rows = 0
reader = pq.ParquetFile(data).iter_batches(batch_size=int(batch_rows), columns=[id_column, *names])
for batch in reader:
    proba = model.predict_proba(batch.to_pandas()[names])
    table = pa.table({
        id_column: batch.column(id_column),
        "prediction": model.classes_[proba.argmax(axis=1)],
        "score": proba[:, 1],
    })
    if writer is None:
        writer = pq.ParquetWriter(out, table.schema)
    writer.write_table(table)
    rows += batch.num_rows
writer.close()
t_done = time.perf_counter()
print(json.dumps({"rows": rows, "imports": t_imported - t_start, "load": t_loaded - t_imported,
                  "loop": t_done - t_loaded}))
"""


SPARK = """
import json, shutil, statistics, sys, time
from pathlib import Path
import pyarrow.compute as pc
import pyarrow.parquet as pq
from opsloop.engines.spark_session import get_session
from opsloop.project import Project

project, data, work, runs = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
spark = get_session("local[2]")
p = Project(project, stack="spark")
version = p.store.find_deployment("churn").version
import mlflow
import mlflow.pyfunc
from pyspark.sql import functions as F

mlflow.set_tracking_uri(p.stack.tracking_uri)
mlflow.set_registry_uri(p.stack.registry_uri)
names = p.registry.load("churn", version).feature_names
times = {"opsloop": [], "spark_udf": []}
for i in range(runs + 1):  # run 0 warms both up (Python workers, JIT) and is not counted
    t0 = time.perf_counter()
    result = p.predict(data, work / "ops", version=version, engine="spark")
    ops_seconds = time.perf_counter() - t0
    out_udf = work / f"udf-{i}"
    t0 = time.perf_counter()
    # a spark_udf job loads its model each run, as opsloop's run loads and verifies its own
    udf = mlflow.pyfunc.spark_udf(
        spark, f"models:/churn/{version}", env_manager="local", result_type="long"
    )
    frame = spark.read.parquet(data)
    frame.select("customer_id", udf(F.struct(*names)).alias("prediction")).write.parquet(
        str(out_udf)
    )
    udf_seconds = time.perf_counter() - t0
    if i:
        times["opsloop"].append(ops_seconds)
        times["spark_udf"].append(udf_seconds)
    ours = pq.read_table(result.output, columns=["customer_id", "prediction"])
    theirs = pq.read_table(out_udf)
    ours = ours.sort_by("customer_id")
    theirs = theirs.sort_by("customer_id")
    assert ours.num_rows == theirs.num_rows == result.run.rows
    assert ours.column("customer_id").equals(theirs.column("customer_id"))
    same = pc.all(pc.equal(ours.column("prediction").cast("int64"), theirs.column("prediction")))
    assert same.as_py(), "opsloop and spark_udf predictions differ"
    shutil.rmtree(result.output)
    shutil.rmtree(out_udf)
    shutil.rmtree(project / ".opsloop" / "predictions", ignore_errors=True)
print(json.dumps({"rows": result.run.rows, "times": times, "inference": result.inference}))
"""


def make_project(root: Path) -> None:
    from opsloop.project import Project
    from opsloop.scaffold import init_project

    init_project(root, example="churn")
    # the same project and backends on Spark local[2] (`--spark`): only the stack differs
    with (root / "opsloop.yaml").open("a") as f:
        f.write("\nstacks:\n  spark:\n    engine: spark\n    spark: {master: 'local[2]'}\n")
    outcome = Project(root).train()
    assert outcome.promoted, outcome


def write_input(path: Path, n: int, seed: int) -> None:
    """`n` rows of the churn example's generator, written in chunks (bounded memory)."""
    from datetime import UTC, datetime, timedelta

    import pyarrow as pa
    import pyarrow.parquet as pq

    from opsloop.examples.churn import TARGET, generate

    end = datetime.now(UTC)
    writer = None
    for i, at in enumerate(range(0, n, CHUNK)):
        frame = generate(
            min(CHUNK, n - at),
            end - timedelta(hours=1),
            end,
            seed=seed + i,
            id_prefix=f"b{i}-",
        ).drop(columns=[TARGET])
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=ROW_GROUP)
    assert writer is not None
    writer.close()


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int, float, str]:
    """(wall seconds, peak RSS in MiB and user+system CPU seconds by GNU time, stdout)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = [str(GNU_TIME), "-f", "%M %U %S", "-o", tf.name, *cmd]
        full = full if GNU_TIME.exists() else cmd
        t0 = time.perf_counter()
        done = subprocess.run(full, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(f"{cmd[:4]} failed:\n{done.stderr[-3000:]}")
        kb, user, system = (
            tf.read().strip().splitlines()[-1].split() if GNU_TIME.exists() else (0, 0, 0)
        )
    return seconds, int(kb) // 1024, float(user) + float(system), done.stdout


def run_opsloop(project: Path, data: Path, out: Path, env: dict[str, str]) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "opsloop", "predict", "churn", "-p", str(project)]
    cmd += ["-i", str(data), "-o", str(out), "--batch-rows", str(BATCH_ROWS), "--json"]
    seconds, rss, cpu, stdout = timed(cmd, env)
    result = json.loads(stdout)
    shutil.rmtree(result["run"]["output"])  # keep the disk flat between runs
    log = Path(project, ".opsloop", "predictions")
    shutil.rmtree(log, ignore_errors=True)
    rows = int(result["run"]["rows"])
    return {
        "rows": rows,
        "seconds": seconds,
        "rss_mib": rss,
        "cpu": cpu,
        "inside": result["run"]["seconds"],
        "inference": result["inference"],
    }


def run_raw(project: Path, data: Path, env: dict[str, str]) -> dict[str, Any]:
    _, rss, _, stdout = timed(
        [sys.executable, "-c", RAW, str(project), str(data), str(BATCH_ROWS)], env
    )
    result = json.loads(stdout)
    return {
        "rows": result["rows"],
        "seconds": result["seconds"],
        "rss_mib": rss,
        "cpu": result["cpu"],
    }


def run_raw_script(
    model: tuple[str, str], data: Path, out: Path, env: dict[str, str]
) -> dict[str, Any]:
    """The whole-process peer (`RAW_SCRIPT`), timed like `run_opsloop`."""
    tracking, uri = model
    cmd = [sys.executable, "-c", RAW_SCRIPT, tracking, uri, str(data), str(out)]
    seconds, rss, cpu, stdout = timed([*cmd, str(BATCH_ROWS), "customer_id"], env)
    result = json.loads(stdout.strip().splitlines()[-1])
    out.unlink()
    return {
        "rows": result["rows"],
        "seconds": seconds,
        "rss_mib": rss,
        "cpu": cpu,
        "start": seconds - result["loop"],  # start-up, imports and the model's load
    }


def registered(project: Path) -> tuple[str, str]:
    """(the MLflow tracking URI, `models:/churn/<deployed version>`) of the project."""
    from opsloop.project import Project

    p = Project(project)
    deployed = p.store.find_deployment("churn")
    assert deployed is not None and p.stack.tracking_uri is not None
    return p.stack.tracking_uri, f"models:/churn/{deployed.version}"


def med(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200k and 1M rows")
    parser.add_argument("--runs", type=int, default=3, help="runs per contender and size")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--spark", action="store_true", help="opsloop on Spark local[2] vs spark_udf only"
    )
    parser.add_argument("--sizes", type=int, nargs="+", help="input rows (default by mode)")
    args = parser.parse_args()
    sizes = [200_000, 1_000_000] if args.quick else [1_000_000, 10_000_000]
    sizes = args.sizes or sizes
    if args.spark:
        return spark_main(sizes, args.runs, args.keep)
    work = Path(tempfile.mkdtemp(prefix="opsloop-batch-bench-"))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    print(f"machine: {machine()}")
    try:
        project = work / "churn"
        make_project(project)
        model = registered(project)
        results: dict[int, dict[str, list[dict[str, Any]]]] = {}
        for n in sizes:
            data = work / f"input-{n}.parquet"
            write_input(data, n, seed=n % 997)
            runs: dict[str, list[dict[str, Any]]] = {"opsloop": [], "raw": [], "script": []}
            for _ in range(args.runs):
                runs["opsloop"].append(run_opsloop(project, data, work / "out", env))
                runs["raw"].append(run_raw(project, data, env))
                runs["script"].append(run_raw_script(model, data, work / "script.parquet", env))
                found = {r[-1]["rows"] for r in runs.values()}
                assert found == {n}, found
            results[n] = runs
            data.unlink()
            report(n, runs)
        if len(sizes) > 1:  # memory growth: the largest size over the smallest
            small, large = min(sizes), max(sizes)
            growth = med(results[large]["opsloop"], "rss_mib") / med(
                results[small]["opsloop"], "rss_mib"
            )
            print(
                f"\nopsloop peak RSS at {large:,} rows / at {small:,} rows: {growth:.2f}x "
                "(target <= 1.2)"
            )
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def spark_main(sizes: list[int], runs: int, keep: bool) -> None:
    work = Path(tempfile.mkdtemp(prefix="opsloop-spark-bench-"))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.1f}")
    try:
        project = work / "churn"
        make_project(project)
        for n in sizes:
            data = work / f"input-{n}.parquet"
            write_input(data, n, seed=n % 997)
            _, _, _, stdout = timed(
                [sys.executable, "-c", SPARK, str(project), str(data), str(work), str(runs)], env
            )
            found = json.loads(stdout.strip().splitlines()[-1])
            assert found["rows"] == n
            cores = 2  # local[2]
            ops = n / statistics.median(found["times"]["opsloop"])
            udf = n / statistics.median(found["times"]["spark_udf"])
            print(f"\n{n:,} rows on Spark local[2] ({runs} runs each, medians; outputs identical;")
            print(f"  inference path: {found['inference']}; load average {os.getloadavg()[0]:.1f})")
            print(f"  {'':34} {'rows/s':>12} {'per core':>10}")
            print(f"  {'opsloop predict on Spark':34} {ops:>12,.0f} {ops / cores:>10,.0f}")
            print(f"  {'mlflow.pyfunc.spark_udf':34} {udf:>12,.0f} {udf / cores:>10,.0f}")
            print(f"  opsloop / spark_udf throughput: {ops / udf:.2f}x (target >= 1.3)")
            print(f"  seconds: {json.dumps(found['times'])}")
            data.unlink()
    finally:
        if keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def report(n: int, runs: dict[str, list[dict[str, Any]]]) -> None:
    cores = os.cpu_count() or 1
    ops, raw = runs["opsloop"], runs["raw"]
    ops_rate = n / med(ops, "seconds")
    raw_rate = n / med(raw, "seconds")
    inside = n / med(ops, "inside")
    print(f"\n{n:,} rows ({len(ops)} runs each, medians; inference path: {ops[0]['inference']})")
    print(f"  {'':34} {'rows/s':>12} {'per core':>10} {'peak RSS':>10}")
    print(
        f"  {'opsloop predict (whole command)':34} {ops_rate:>12,.0f} {ops_rate / cores:>10,.0f} "
        f"{med(ops, 'rss_mib'):>7,.0f} MiB"
    )
    print(f"  {'  of which the run itself':34} {inside:>12,.0f} {inside / cores:>10,.0f}")
    print(
        f"  {'raw predict_proba (loop only)':34} {raw_rate:>12,.0f} {raw_rate / cores:>10,.0f} "
        f"{med(raw, 'rss_mib'):>7,.0f} MiB"
    )
    script = runs["script"]
    script_rate = n / med(script, "seconds")
    print(
        f"  {'raw script (whole process)':34} {script_rate:>12,.0f} "
        f"{script_rate / cores:>10,.0f} {med(script, 'rss_mib'):>7,.0f} MiB"
    )
    print(
        f"  opsloop / raw loop (the issue's target, >= 0.9): {ops_rate / raw_rate:.2f}x "
        "throughput (opsloop's whole command vs the loop alone)"
    )
    print(
        f"  opsloop / raw script, whole process vs whole process: {ops_rate / script_rate:.2f}x "
        f"throughput (the script's start-up, imports and MLflow load: "
        f"{med(script, 'start'):.2f} s)"
    )
    # CPU seconds are what a busy shared machine distorts least (wall time waits for cores)
    ops_cpu, raw_cpu, script_cpu = med(ops, "cpu"), med(raw, "cpu"), med(script, "cpu")
    print(
        f"  CPU seconds: opsloop {ops_cpu:.1f} (whole process), raw {raw_cpu:.1f} (loop), "
        f"raw script {script_cpu:.1f} (whole process); raw loop / opsloop "
        f"{raw_cpu / ops_cpu:.2f}x, raw script / opsloop {script_cpu / ops_cpu:.2f}x; "
        f"load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()

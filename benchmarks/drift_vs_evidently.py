"""Drift detection: the whole `opsloop drift REF CUR --html out.html` command vs Evidently
0.7.23's `DataDriftPreset` script, on the same Parquet files, same machine, one run.

For each size (1M and 10M rows; `--quick`: 200k) the script writes a reference and, per
scenario, a current data set (10 numeric + 5 categorical features) as Parquet, then runs
each tool as a separate process on those files and times the process (start to report
written) from the parent, wall and CPU (user + system, from the parent's
`RUSAGE_CHILDREN`: on a loaded machine the CPU seconds, unlike the wall time, stay near
what they are on a quiet one). Peak memory: GNU time's maximum RSS of the command (`%M`) when
/usr/bin/time exists, else the process's VmHWM polled every 5 ms; Evidently's child reports
its own VmHWM. Evidently runs only up to `--evidently-max-rows` (3M; it needs ~1.6 GB and
~1 min per 1M rows). Medians over the runs of a size; ratios Evidently / opsloop, and
opsloop's peak memory at each size over its peak at the smallest.

    .venv/bin/python benchmarks/drift_vs_evidently.py            # ~10 minutes on an idle machine
    .venv/bin/python benchmarks/drift_vs_evidently.py --quick    # 200k rows

What each process computes:

- **Evidently** (its own virtualenv, `benchmarks/evidently-venv.sh`: it needs pandas < 3):
  reads both Parquet files with pandas, `Report([DataDriftPreset()]).run(current,
  reference)` with the columns declared numerical/categorical; above 1,000 reference rows
  its defaults are Wasserstein distance / reference std (≥ 0.1) per numeric column on the
  raw values, and the Jensen-Shannon distance in nats (≥ 0.1) per categorical column on
  the categories of both datasets. It writes no report file (less work than opsloop).
- **opsloop**: `python -m opsloop drift ref.parquet cur.parquet --html out.html --json
  out.json`, the user's command with its defaults (`opsloop.monitor.compare`): the
  reference profile built from the reference file in DuckDB, the current file profiled on
  its layout, `detect_drift` with `monitor.drift`'s defaults (`auto`: above 100,000 rows
  Wasserstein / std ≥ 0.1 for numbers and Jensen–Shannon base 2 ≥ 0.12 ≈ 0.1 nats for
  categories, or PSI ≥ 0.2), the data-quality checks, the HTML and JSON reports. Kinds are
  inferred from the Parquet types. Its verdicts are read from out.json.

Scenarios (stated sizes, σ = the feature's reference std): `none` (a second sample of the
reference's distribution); `drift` — each kind of change in its own columns, one material
and one immaterial: mean shift n0 +0.25σ, n1 +0.05σ; scale change (about the mean) n2 ×1.5,
n3 ×1.05; category frequencies c0 (.55, .27, .18) → (.3, .4, .3), c1 5% of rows moved from
its top category to its second; new categories c2 20% of rows, c3 1% of rows (two new
values); n4–n9 and c4 unchanged.

Nothing is downloaded except by `evidently-venv.sh` (pip, once); the temporary directory
is removed at the end (`--keep` keeps it).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
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
NUMERIC = [f"n{i}" for i in range(10)]
CATEGORICAL = [f"c{i}" for i in range(5)]
CARDINALITY = [3, 5, 10, 20, 40]
SCENARIOS = ("none", "drift")
JS_NATS = 0.1  # Evidently's default Jensen-Shannon threshold (natural log)
WASSERSTEIN = 0.1  # Evidently's default normed Wasserstein threshold

# ---- child processes ---------------------------------------------------------------------


def _emit(result: dict[str, Any]) -> None:
    """Print the child's result with its peak RSS: VmHWM of /proc/self/status, the
    high-water mark of this program's memory since exec (ru_maxrss from getrusage or wait4
    would also count the parent's pages the child shared between fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            result["peak_mib"] = int(line.split()[1]) / 1024  # kB
    sys.stdout.write(json.dumps(result) + "\n")


def evidently_main(reference: str, current: str) -> None:
    t0 = time.perf_counter()
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    t1 = time.perf_counter()
    ref, cur = pd.read_parquet(reference), pd.read_parquet(current)
    t2 = time.perf_counter()
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    result = (
        Report([DataDriftPreset()])
        .run(
            Dataset.from_pandas(cur, data_definition=definition),
            Dataset.from_pandas(ref, data_definition=definition),
        )
        .dict()
    )
    t3 = time.perf_counter()
    features = {}
    for metric in result["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            value, threshold = float(metric["value"]), float(config["threshold"])
            features[config["column"]] = {
                "method": config["method"],
                "value": value,
                "threshold": threshold,
                "drifted": value >= threshold,
            }
    _emit({"import_s": t1 - t0, "read_s": t2 - t1, "compute_s": t3 - t2, "features": features})


# ---- data --------------------------------------------------------------------------------


def _probabilities(k: int) -> Any:
    import numpy as np

    p = 1.0 / np.arange(1, k + 1)
    return p / p.sum()


def make_frame(n: int, seed: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        if i == 8:
            cols[name] = rng.lognormal(0.0, 0.6, n)
        elif i == 9:
            cols[name] = rng.exponential(2.0, n)
        else:
            cols[name] = rng.normal(10.0 * i, 1.0 + i, n)
    for name, k in zip(CATEGORICAL, CARDINALITY, strict=True):
        levels = np.array([f"{name}_{j}" for j in range(k)], dtype=object)
        cols[name] = levels[rng.choice(k, n, p=_probabilities(k))]
    return pd.DataFrame(cols)


def apply_scenario(frame: Any, scenario: str, reference: Any, seed: int) -> Any:
    import numpy as np

    rng = np.random.default_rng(seed)
    out = frame.copy()
    n = len(out)
    if scenario == "drift":
        for col, shift in (("n0", 0.25), ("n1", 0.05)):
            out[col] = out[col] + shift * reference[col].std(ddof=0)
        for col, scale in (("n2", 1.5), ("n3", 1.05)):
            mean = reference[col].mean()
            out[col] = mean + (out[col] - mean) * scale
        out["c0"] = np.array(["c0_0", "c0_1", "c0_2"], dtype=object)[
            rng.choice(3, n, p=[0.3, 0.4, 0.3])
        ]
        moved = (out["c1"] == "c1_0").to_numpy() & (rng.random(n) < 0.05 / 0.438)
        out.loc[moved, "c1"] = "c1_1"
        out.loc[rng.random(n) < 0.20, "c2"] = "c2_new"
        new = rng.random(n) < 0.01
        out.loc[new, "c3"] = np.array(["c3_new_a", "c3_new_b"], dtype=object)[
            rng.integers(0, 2, int(new.sum()))
        ]
    return out


# ---- running and measuring ---------------------------------------------------------------


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's reaped children so far, theirs
    included (GNU time's command). Children run one at a time, so the difference around
    one run is that run's: load from other processes inflates it far less than wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return float(usage.ru_utime + usage.ru_stime)


def measure(cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run a child of this script (`--child evidently`): its wall and CPU time and its JSON
    line (which carries its peak RSS)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0, c0 = time.perf_counter(), _children_cpu()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        proc.wait()
        wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:4])} failed:\n{err.read().decode()[-3000:]}")
        result = json.loads(out.read().decode().strip().splitlines()[-1])
    result["wall_s"], result["cpu_s"] = wall, cpu
    return dict(result)


GNU_TIME = Path("/usr/bin/time")


def _poll_hwm(pid: int, proc: subprocess.Popen[bytes]) -> int:
    """The process's VmHWM (kB), polled every 5 ms until it exits (fallback without GNU
    time; may miss growth in its last milliseconds)."""
    peak = 0
    status = Path(f"/proc/{pid}/status")
    while proc.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            break
        time.sleep(0.005)
    return peak


def measure_cli(reference: Path, current: Path, out: Path, env: dict[str, str]) -> dict[str, Any]:
    """`opsloop drift REF CUR --html … --json …` as the user runs it: wall time from process
    start to exit (report written), peak RSS, and the verdicts from its JSON."""
    html, report = out.with_suffix(".html"), out.with_suffix(".json")
    args = [sys.executable, "-m", "opsloop", "drift", str(reference), str(current)]
    args += ["--html", str(html), "--json", str(report)]
    peak_file = out.with_suffix(".peak")
    timed = GNU_TIME.exists()
    cmd = [str(GNU_TIME), "-f", "%M", "-o", str(peak_file), *args] if timed else args
    with tempfile.TemporaryFile() as err:
        t0, c0 = time.perf_counter(), _children_cpu()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        peak_kb = 0 if timed else _poll_hwm(proc.pid, proc)
        proc.wait()
        wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
        if proc.returncode not in (0, 1) or not html.exists():  # 0 no drift, 1 drift
            err.seek(0)
            raise RuntimeError(f"opsloop drift failed:\n{err.read().decode()[-3000:]}")
    if timed:
        peak_kb = int(peak_file.read_text().split()[-1])
    data = json.loads(report.read_text())
    features = {
        f["name"]: {
            "method": f["test"],
            "value": f["statistic"],
            "threshold": f["threshold"],
            "drifted": f["drifted"],
        }
        for f in data["drift"]["features"]
    }
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_mib": peak_kb / 1024,
        "detected": data["detected"],
        "features": features,
    }


def versions(evidently_python: str) -> str:
    from importlib import metadata

    ours = ", ".join(f"{n} {metadata.version(n)}" for n in ("duckdb", "numpy", "pandas", "pyarrow"))
    theirs = subprocess.run(
        [
            evidently_python,
            "-c",
            "import evidently, pandas, numpy, scipy; print("
            "f'evidently {evidently.__version__}, pandas {pandas.__version__}, numpy "
            "{numpy.__version__}, scipy {scipy.__version__}')",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return f"opsloop side: {ours}; Evidently side: {theirs}"


def evidently_python() -> str:
    script = REPO / "benchmarks" / "evidently-venv.sh"
    out = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{script} failed:\n{out.stderr[-3000:]}")
    return out.stdout.strip().splitlines()[-1]


def compile_sources() -> None:
    """Byte-compile the opsloop package the children import, once, as `pip install` does:
    where PYTHONDONTWRITEBYTECODE is set (this machine's shells) every run of a source
    checkout would otherwise compile its modules again (~0.1 s of CPU per command)."""
    import compileall

    compileall.compile_dir(REPO / "src" / "opsloop", quiet=1)  # the children's PYTHONPATH


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200k rows only")
    parser.add_argument("--sizes", help="comma-separated row counts (default 1000000,10000000)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="opsloop runs per scenario (Evidently: one)"
    )
    parser.add_argument(
        "--evidently-max-rows",
        type=int,
        default=3_000_000,
        help="run Evidently only up to this many rows (default 3M)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary files")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        evidently_main(*args.child[1:])
        return
    compile_sources()

    sizes = [
        int(s) for s in (args.sizes or ("200000" if args.quick else "1000000,10000000")).split(",")
    ]
    ev_python = evidently_python() if min(sizes) <= args.evidently_max_rows else None
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])
        ),
    }
    ev_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    ev_env["DO_NOT_TRACK"] = "1"  # Evidently's telemetry
    me = str(Path(__file__).resolve())
    found = versions(ev_python) if ev_python else "Evidently not run"
    print(f"machine: {machine()}\n{found}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="opsloop-drift-bench-"))
    report: dict[str, Any] = {"machine": machine(), "versions": found, "sizes": {}}
    try:
        for n in sizes:
            print(
                f"\n== {n:,} rows × {len(NUMERIC)} numeric + {len(CATEGORICAL)} categorical",
                flush=True,
            )
            reference = make_frame(n, seed=1)
            ref_path = tmp / f"reference-{n}.parquet"
            reference.to_parquet(ref_path, index=False)
            base = make_frame(n, seed=2)
            paths = []
            for k, scenario in enumerate(SCENARIOS):
                cur_path = tmp / f"current-{n}-{scenario}.parquet"
                apply_scenario(base, scenario, reference, seed=10 + k).to_parquet(
                    cur_path, index=False
                )
                paths.append(cur_path)
            del reference, base  # the children's memory is theirs alone; keep the parent small
            runs: dict[str, list[dict[str, Any]]] = {"evidently": [], "opsloop": []}
            verdicts: dict[str, dict[str, Any]] = {}
            for scenario, cur_path in zip(SCENARIOS, paths, strict=True):
                ev = None
                if ev_python is not None and n <= args.evidently_max_rows:
                    ev = measure(
                        [ev_python, me, "--child", "evidently", str(ref_path), str(cur_path)],
                        ev_env,
                    )
                    runs["evidently"].append(ev)
                ops = [
                    measure_cli(ref_path, cur_path, tmp / f"out-{n}-{scenario}", env)
                    for _ in range(args.repeats)
                ]
                runs["opsloop"] += ops
                verdicts[scenario] = {
                    "evidently": None if ev is None else ev["features"],
                    "opsloop": ops[0]["features"],
                }
                theirs = (
                    "not run"
                    if ev is None
                    else f"{ev['wall_s']:7.2f} s (CPU {ev['cpu_s']:6.2f} s) "
                    f"{ev['peak_mib']:6.0f} MiB"
                )
                print(
                    f"  {scenario:<12} evidently {theirs} | opsloop drift "
                    f"{statistics.median(o['wall_s'] for o in ops):6.2f} s "
                    f"(CPU {statistics.median(o['cpu_s'] for o in ops):5.2f} s) "
                    f"{statistics.median(o['peak_mib'] for o in ops):5.0f} MiB",
                    flush=True,
                )
                cur_path.unlink()
            report["sizes"][n] = summarize(n, runs, verdicts)
            ref_path.unlink()
        smallest = report["sizes"][sizes[0]]["medians"]["opsloop"]["peak_mib"]
        for n in sizes[1:]:
            peak = report["sizes"][n]["medians"]["opsloop"]["peak_mib"]
            report["sizes"][n]["memory_vs_smallest"] = peak / smallest
            print(f"\nopsloop peak memory at {n:,} rows / at {sizes[0]:,}: {peak / smallest:.2f}")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


def _med(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r.get(key, 0.0) for r in runs))


def summarize(
    n: int,
    runs: dict[str, list[dict[str, Any]]],
    verdicts: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    table = {
        name: {k: _med(r, k) for k in ("wall_s", "cpu_s", "peak_mib")} | {"runs": len(r)}
        for name, r in runs.items()
        if r
    }
    print(f"\n  medians at {n:,} rows")
    print(f"  {'':<16}{'process s':>10}{'CPU s':>8}{'peak MiB':>10}{'runs':>6}")
    for name, m in table.items():
        print(
            f"  {name:<16}{m['wall_s']:10.2f}{m['cpu_s']:8.2f}{m['peak_mib']:10.0f}{m['runs']:6d}"
        )
    out: dict[str, Any] = {"medians": table}
    if "evidently" not in table:
        return out
    speed = table["evidently"]["wall_s"] / table["opsloop"]["wall_s"]
    cpu = table["evidently"]["cpu_s"] / table["opsloop"]["cpu_s"]
    memory = table["opsloop"]["peak_mib"] / table["evidently"]["peak_mib"]
    print(
        f"  ratios: process wall Evidently / opsloop drift {speed:.1f}×; CPU {cpu:.1f}×; "
        f"peak memory opsloop / Evidently {memory:.3f}"
    )
    agree = total = 0
    print(
        f"\n  verdicts at {n:,} rows (E = Evidently, O = opsloop; distances: Wasserstein/"
        f"std for n*, Jensen-Shannon in nats for c*, opsloop's converted from base 2)"
    )
    print(
        f"  {'scenario':<12}{'feature':<8}{'E value':>10}{'O value':>10}{'O test':>15}"
        f"{'E':>5}{'O':>5}{'agree':>7}"
    )
    rows = []
    for scenario, both in verdicts.items():
        for feature in [*NUMERIC, *CATEGORICAL]:
            e, o = both["evidently"][feature], both["opsloop"][feature]
            o_value = float(o["value"]) * (
                math.sqrt(math.log(2)) if o["method"] == "jensenshannon" else 1.0
            )
            same = bool(e["drifted"]) == bool(o["drifted"])
            agree += same
            total += 1
            rows.append(
                {
                    "scenario": scenario,
                    "feature": feature,
                    "evidently": e["value"],
                    "opsloop": o_value,
                    "opsloop_test": o["method"],
                    "evidently_drifted": e["drifted"],
                    "opsloop_drifted": o["drifted"],
                    "agree": same,
                }
            )
            print(
                f"  {scenario:<12}{feature:<8}{e['value']:10.4f}{o_value:10.4f}{o['method']:>15}"
                f"{'yes' if e['drifted'] else 'no':>5}{'yes' if o['drifted'] else 'no':>5}"
                f"{'' if same else 'NO':>7}"
            )
    print(f"  agreement: {agree}/{total}")
    return out | {
        "speed_ratio": speed,
        "cpu_ratio": cpu,
        "memory_ratio": memory,
        "agreement": [agree, total],
        "verdicts": rows,
    }


if __name__ == "__main__":
    main()

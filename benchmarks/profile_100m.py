"""Window profiles at 1M, 10M and 100M rows: peak memory does not grow with the rows.

Writes Parquet files of 1M rows each (10 numeric + 5 categorical features, the generator
of `drift_vs_evidently.py`) into a temporary directory, after checking the free disk
space: `--distinct` files (default 10) are generated one at a time with NumPy (one 1M-row
frame in memory), and the rest of the 100 are hard links to them, cycling (generating
100M distinct rows takes longer than the measurement on this 2-core machine; DuckDB's
`range()` + `hash()`/`random()` expressions took ~140 s per 1M rows here). A reference
profile is computed with NumPy on 200k rows of the same generator. Then, for each size, a
fresh process profiles the first N files on the reference's layout
(`engines/profile_sql.run_profile`, the query behind `DuckDBEngine.profile_window`) and
runs `detect_drift`; the parent records its wall time, the process its peak RSS (VmHWM). The
linked files are read from the page cache, so the time is optimistic about disk I/O; the
memory is what this measures.

    .venv/bin/python benchmarks/profile_100m.py                   # 1M, 10M, 100M
    .venv/bin/python benchmarks/profile_100m.py --sizes 1,2       # millions of rows

Needs ~1.5 GB of free disk (10 distinct files); the files are removed at the end unless
`--keep`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]  # this checkout's opsloop

from drift_vs_evidently import (  # noqa: E402
    NUMERIC,
    REPO,
    _emit,
    machine,
    make_frame,
    measure,
)

ROWS_PER_FILE = 1_000_000
BYTES_PER_ROW = 100  # ~96 measured on these files (Parquet, snappy); the check adds 50%


def generate(folder: Path, files: int, distinct: int) -> list[Path]:
    """`files` Parquet files of 1M rows: `distinct` of them generated one at a time (one
    1M-row frame in memory), the others hard links to those, cycling."""
    paths: list[Path] = []
    for k in range(files):
        path = folder / f"part-{k:04d}.parquet"
        if not path.exists():
            if k < distinct:
                make_frame(ROWS_PER_FILE, seed=100 + k).to_parquet(path, index=False)
            else:
                os.link(paths[k % distinct], path)
        paths.append(path)
    return paths


def reference_profile(out: Path) -> None:
    from drift_vs_evidently import _specs

    from opsloop.core.profile import compute_profile

    out.write_text(compute_profile(make_frame(200_000, seed=1), _specs()).to_json())


def child(profile_json: str, files: list[str]) -> None:
    t0 = time.perf_counter()
    import duckdb
    from drift_vs_evidently import WASSERSTEIN, _specs

    from opsloop.config import DriftConfig, FeatureDriftConfig
    from opsloop.core.profile import Profile
    from opsloop.engines.profile_sql import quote, run_profile
    from opsloop.monitor.drift import detect_drift

    t1 = time.perf_counter()
    reference = Profile.from_json(Path(profile_json).read_text())
    source = f"read_parquet([{', '.join(quote(f) for f in files)}])"
    with duckdb.connect() as con:
        window = run_profile(con, reference, source)[0][1]
    t2 = time.perf_counter()
    cfg = DriftConfig(
        features={
            n: FeatureDriftConfig(method="wasserstein", threshold=WASSERSTEIN) for n in NUMERIC
        }
    )
    drift = detect_drift(reference, window, _specs(), cfg)
    _emit(
        {
            "import_s": t1 - t0,
            "compute_s": time.perf_counter() - t1,
            "profile_s": t2 - t1,
            "rows": window.n_rows,
            "drifted": drift.drifted_features,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,10,100", help="millions of rows, comma-separated")
    parser.add_argument(
        "--distinct",
        type=int,
        default=10,
        help="distinct 1M-row files generated; the rest are hard links",
    )
    parser.add_argument("--dir", type=Path, help="where to write the files (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1:])
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    folder = args.dir or Path(tempfile.mkdtemp(prefix="opsloop-profile-100m-"))
    folder.mkdir(parents=True, exist_ok=True)
    need = min(max(sizes), args.distinct) * ROWS_PER_FILE * BYTES_PER_ROW * 1.5
    free = shutil.disk_usage(folder).free
    print(
        f"machine: {machine()}\nfiles in {folder}: free {free / 1e9:.1f} GB, "
        f"need ~{need / 1e9:.1f} GB",
        flush=True,
    )
    if free < need:
        raise SystemExit(
            f"not enough free disk in {folder}: {free / 1e9:.1f} GB free, "
            f"~{need / 1e9:.1f} GB needed; pass --dir or smaller --sizes"
        )
    env = {"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}
    results = []
    try:
        t0 = time.perf_counter()
        files = generate(folder, max(sizes), args.distinct)
        size_gb = sum(f.stat().st_size for f in files[: args.distinct]) / 1e9
        print(
            f"generated {min(args.distinct, len(files))} distinct files ({size_gb:.2f} GB) "
            f"and {max(len(files) - args.distinct, 0)} hard links to them in "
            f"{time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        profile_json = folder / "reference.json"
        reference_profile(profile_json)
        me = str(Path(__file__).resolve())
        print(f"{'rows':>12}{'process s':>11}{'profile s':>11}{'rows/s':>14}{'peak MiB':>10}")
        for millions in sizes:
            paths = [str(f) for f in files[:millions]]
            run = measure([sys.executable, me, "--child", str(profile_json), *paths], env)
            assert run["rows"] == millions * ROWS_PER_FILE, run
            run["millions"] = millions
            results.append(run)
            print(
                f"{run['rows']:>12,}{run['wall_s']:11.1f}{run['profile_s']:11.1f}"
                f"{run['rows'] / run['profile_s']:14,.0f}{run['peak_mib']:10.0f}",
                flush=True,
            )
        peaks = [r["peak_mib"] for r in results]
        print(
            f"peak RSS from {sizes[0]}M to {sizes[-1]}M rows: {min(peaks):.0f}–"
            f"{max(peaks):.0f} MiB (×{max(peaks) / min(peaks):.2f} for "
            f"×{sizes[-1] / sizes[0]:.0f} rows; log-log slope "
            f"{math.log(peaks[-1] / peaks[0]) / math.log(sizes[-1] / sizes[0]):.3f})"
            if len(sizes) > 1
            else ""
        )
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "results": results}, indent=2))


if __name__ == "__main__":
    main()

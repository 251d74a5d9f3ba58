"""What a training is made of — its data, its code and its configuration — as digests kept
in the version's tags, so that a retrain of nothing new is recognised right after loading,
before anything is fitted ("nothing changed, nothing deployed").

- data: the loaded frame's content fingerprint (`opsloop.data_fingerprint`);
- code: the user's code file, hashed by content (`opsloop.code_digest`), and the git commit
  of the project when it is in a git repository (`opsloop.git_sha`);
- configuration: a hash of the `opsloop.yaml` settings that change what training produces
  (`opsloop.config_digest`, the keys are `TRAINING_CONFIG`).

A champion registered before these tags existed lacks some of them and is never "equal".
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from opsloop.config import ProjectConfig
    from opsloop.registry.base import ModelVersion
    from opsloop.runtime import Runtime

DATA_TAG = "opsloop.data_fingerprint"
CODE_TAG = "opsloop.code_digest"
CONFIG_TAG = "opsloop.config_digest"
GIT_TAG = "opsloop.git_sha"

# The settings that change the registered version: what is learnt from which columns, the
# split, the data checks, and the monitoring references fitted at register time. Gate,
# deploy, serve, retrain, agent, notify and the stack do not change the model.
TRAINING_CONFIG: tuple[str, ...] = (
    "task",
    "target",
    "id_column",
    "time_column",
    "code",
    "features",
    "data.quality",
    "split",
    "monitor.drift.chunks",
    "monitor.drift.sigma",
    "monitor.drift.multivariate",
    "monitor.estimated_performance.enabled",
    "monitor.estimated_performance.chunks",
    # `task: ranking`: the columns, k, the holdout and the relevance rule. Left out of the
    # digest when absent, so projects without the section keep their digest.
    "ranking",
)
# Keys whose absence (None) is not part of the digest (they were added after digests
# were first recorded: a champion's digest must not change when opsloop is upgraded).
_OPTIONAL_CONFIG = frozenset({"ranking"})


@dataclass(frozen=True)
class TrainingInputs:
    """The digests of one training's data, code and configuration."""

    data: str
    code: str
    config: str
    git_sha: str | None = None

    def tags(self) -> dict[str, str]:
        out = {DATA_TAG: self.data, CODE_TAG: self.code, CONFIG_TAG: self.config}
        if self.git_sha:
            out[GIT_TAG] = self.git_sha
        return out

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> TrainingInputs | None:
        """A version's inputs from its tags; None when it was registered without them."""
        if not all(tags.get(k) for k in (DATA_TAG, CODE_TAG, CONFIG_TAG)):
            return None
        return cls(tags[DATA_TAG], tags[CODE_TAG], tags[CONFIG_TAG], tags.get(GIT_TAG) or None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Unchanged:
    """A retrain whose inputs equal the champion's: nothing is fitted or registered."""

    champion: str  # the champion's version, which stays
    inputs: TrainingInputs
    rows: int  # rows loaded
    window: str | None = None  # the key of the window loaded

    @property
    def reason(self) -> str:
        return (
            f"data, code and configuration equal champion version {self.champion}'s: "
            "nothing to retrain (force it with `opsloop train --force`)"
        )

    def evidence(self) -> dict[str, Any]:
        return {"champion_version": self.champion, "rows": self.rows, **self.inputs.to_dict()}


def git_sha(root: Path) -> str | None:
    """The commit checked out at `root`, or None outside a git repository."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def code_digest(rt: Runtime) -> str:
    """SHA-256 of the user's code file as stored (`code:` in opsloop.yaml)."""
    return hashlib.sha256((rt.root / rt.config.code).read_bytes()).hexdigest()


def config_digest(config: ProjectConfig) -> str:
    """SHA-256 of the `TRAINING_CONFIG` settings, as canonical JSON."""
    whole = config.model_dump(mode="json")
    picked: dict[str, Any] = {}
    for key in TRAINING_CONFIG:
        value: Any = whole
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None and key in _OPTIONAL_CONFIG:
            continue
        picked[key] = value
    text = json.dumps(picked, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def training_inputs(
    rt: Runtime, frame: pd.DataFrame | None = None, *, data: str | None = None
) -> TrainingInputs:
    """The inputs of a training on `frame` (or on data whose fingerprint is `data`: a
    ranking project's three tables) with the project's code and configuration."""
    from opsloop.data.fingerprint import fingerprint

    if data is None:
        if frame is None:
            raise TypeError("training_inputs needs a frame or a data fingerprint")
        data = fingerprint(frame)
    return TrainingInputs(
        data=data,
        code=code_digest(rt),
        config=config_digest(rt.config),
        git_sha=git_sha(rt.root),
    )


def unchanged_since(
    inputs: TrainingInputs, champion: ModelVersion | None, *, rows: int
) -> Unchanged | None:
    """`Unchanged` when the champion was trained on the same inputs, else None."""
    if champion is None or TrainingInputs.from_tags(champion.tags) != inputs:
        return None
    return Unchanged(champion.version, inputs, rows=rows)

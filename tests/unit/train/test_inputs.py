"""The configuration digest: the `ranking:` section is part of it, and projects without
the section keep the digest they had before it existed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from opsloop.config import load_config
from opsloop.train.inputs import TRAINING_CONFIG, config_digest

EXAMPLES = Path(__file__).parents[3] / "src" / "opsloop" / "examples"


def digest_without_ranking(whole: dict) -> str:  # type: ignore[type-arg]
    """The digest as computed before `ranking` joined TRAINING_CONFIG."""
    picked = {}
    for key in TRAINING_CONFIG:
        if key == "ranking":
            continue
        value = whole
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        picked[key] = value
    text = json.dumps(picked, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_project_without_ranking_keeps_its_digest() -> None:
    churn = load_config(EXAMPLES / "churn" / "template" / "opsloop.yaml")
    assert churn.ranking is None
    assert config_digest(churn) == digest_without_ranking(churn.model_dump(mode="json"))


def test_the_ranking_section_is_in_the_digest(tmp_path: Path) -> None:
    template = EXAMPLES / "restaurants" / "template" / "opsloop.yaml"
    ranking = load_config(template)
    assert config_digest(ranking) != digest_without_ranking(ranking.model_dump(mode="json"))
    text = template.read_text(encoding="utf-8")
    assert "  k: 10 " in text
    longer = tmp_path / "opsloop.yaml"
    longer.write_text(text.replace("  k: 10 ", "  k: 20 "), encoding="utf-8")
    assert config_digest(load_config(longer)) != config_digest(ranking)
    assert config_digest(load_config(template)) == config_digest(ranking)

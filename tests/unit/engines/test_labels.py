from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from opsloop.data.labels import LabelValidationError
from opsloop.engines.labels import ingest_labels
from opsloop.errors import InvalidInputError


def test_csv_and_parquet(tmp_path: Path) -> None:
    root = tmp_path / "labels"
    csv = tmp_path / "l.csv"
    csv.write_text("customer_id,churned\nc-1,1\nc-2,0\n,1\nc-3,\n")
    # a missing id or label rejects the whole file (nothing stored) unless skipped
    with pytest.raises(LabelValidationError, match="2 of 4 label rows are invalid"):
        ingest_labels(csv, root, id_column="customer_id", target="churned")
    assert not root.exists()
    kept = ingest_labels(csv, root, id_column="customer_id", target="churned", skip_invalid=True)
    assert kept.frame.shape[0] == 2 and kept.rejected == 2
    assert kept.reasons == {"missing id": 1, "missing label": 1}
    pq = tmp_path / "l.parquet"
    pd.DataFrame({"customer_id": [7], "churned": [1]}).to_parquet(pq)
    assert len(ingest_labels(pq, root, id_column="customer_id", target="churned").frame) == 1
    stored = pd.concat(pd.read_parquet(f) for f in root.glob("part-*.parquet"))
    assert sorted(stored["prediction_id"]) == ["7", "c-1", "c-2"]
    assert list(stored.columns) == ["prediction_id", "label", "label_ts"]


def test_missing_column_names_what_is_expected(tmp_path: Path) -> None:
    csv = tmp_path / "l.csv"
    csv.write_text("id,label\n1,1\n")
    with pytest.raises(InvalidInputError) as info:
        ingest_labels(csv, tmp_path / "labels", id_column="customer_id", target="churned")
    text = str(info.value)
    assert "['customer_id', 'churned']" in text and "Got columns ['id', 'label']" in text
    assert not (tmp_path / "labels").exists()


def test_garbage_and_unsupported_files(tmp_path: Path) -> None:
    root = tmp_path / "labels"
    ingest_labels(pd.DataFrame({"i": ["a"], "y": [1]}), root, id_column="i", target="y")
    before = sorted(root.iterdir())
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"definitely not parquet")
    with pytest.raises(InvalidInputError, match="cannot read label file"):
        ingest_labels(bad, root, id_column="i", target="y")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(InvalidInputError, match="unsupported label file type"):
        ingest_labels(tmp_path / "x.json", root, id_column="i", target="y")
    with pytest.raises(InvalidInputError, match="does not exist"):
        ingest_labels(tmp_path / "nope.csv", root, id_column="i", target="y")
    assert sorted(root.iterdir()) == before  # nothing stored was touched

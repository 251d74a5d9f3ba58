"""Quarantine for prediction-log rows that cannot be written as Parquet.

Parse-time checks (serve/fastjson.py, serve/inputs.py) keep such rows out; this is the
second line: whatever still fails to convert (a bug, a model answering something Arrow
cannot store) is kept on disk as JSON under `<log>/_quarantine/model=<name>/` (layout in
`opsloop.data.predlog`), counted (`opsloop_prediction_log_quarantined_rows_total`) and
reported by `opsloop status` — never re-queued at the head of the queue, where it would
block every row behind it. Text UTF-8 cannot encode is written escaped (`\\ud800`).
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsloop.data.predlog import quarantine_dir, quarantine_name
from opsloop.serve import faults

if TYPE_CHECKING:
    import pandas as pd

    from opsloop.serve.logrows import LoggedRequest


def _rows(item: pd.DataFrame | LoggedRequest) -> list[dict[str, Any]]:
    import pandas as pd

    from opsloop.serve.logrows import requests_frame

    try:
        frame = item if isinstance(item, pd.DataFrame) else requests_frame([item])
        return [dict(row) for row in frame.to_dict(orient="records")]
    except Exception as exc:  # the rows cannot even be built: keep what identifies them
        return [
            {
                "prediction_id": pid,
                "request_id": getattr(item, "request_id", None),
                "error": str(exc),
            }
            for pid in getattr(item, "prediction_ids", [None])
        ]


def quarantine(root: Path, model: str, item: pd.DataFrame | LoggedRequest, error: str) -> Path:
    """Write `item`'s rows to a new quarantine file (temporary name, then renamed); raises
    OSError when the disk refuses it (the caller keeps the rows queued then)."""
    faults.check("predlog.quarantine")
    rows = _rows(item)
    now = datetime.now(UTC)
    folder = quarantine_dir(root, model)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / quarantine_name(now, len(rows), uuid.uuid4().hex[:12])
    body = {"error": error, "quarantined": now.isoformat(), "model": model, "rows": rows}
    tmp = folder / f".{path.name}.tmp"
    tmp.write_text(json.dumps(body, default=str, indent=1), encoding="ascii")  # \\u escapes
    os.replace(tmp, path)
    return path

"""`jsonable` / `dumps`: what the ops store's JSON columns hold."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from opsloop.store._util import _walk, dumps, jsonable


def test_jsonable_matches_the_tree_walk_on_evidence() -> None:
    value = {
        "n": np.int64(3),
        "share": np.float32(0.5),
        "flag": np.bool_(True),
        "nan": float("nan"),
        "np_nan": np.float64("nan"),
        "inf": float("inf"),
        "ts": datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC),
        "pd_ts": pd.Timestamp("2026-01-02T03:04:05", tz="UTC"),
        "nested": ({"t": (1, 2)}, [np.int32(4)]),
        1: "int key",
    }
    fast = jsonable(value)
    assert fast == _walk(value)
    assert fast["nan"] is None and fast["np_nan"] is None and fast["inf"] is None
    assert fast["ts"] == "2026-01-02T03:04:05.000678+00:00"
    assert fast["pd_ts"] == "2026-01-02T03:04:05+00:00"
    assert fast["nested"] == [{"t": [1, 2]}, [4]] and fast["1"] == "int key"
    assert json.loads(dumps(value)) == fast  # strict JSON: no NaN/Infinity tokens


def test_values_orjson_cannot_encode_take_the_walk() -> None:
    big = 2**70
    assert jsonable({"big": big, "s": "\ud800"}) == {"big": big, "s": "\ud800"}
    assert json.loads(dumps({"big": big})) == {"big": big}

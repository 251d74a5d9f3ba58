"""Content fingerprints of data frames: same rows and columns → same digest."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pandas as pd


def fingerprint(df: pd.DataFrame) -> str:
    """SHA-256 over column names, dtypes and a per-row hash of the values (row order counts)."""
    import pandas as pd

    h = hashlib.sha256()
    for name, dtype in df.dtypes.items():
        h.update(f"{name}:{dtype};".encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def fingerprint_tables(tables: Mapping[str, pd.DataFrame]) -> str:
    """SHA-256 over named tables' fingerprints, in the order given (e.g. a recommender's
    interactions, users and items: a new restaurant in the catalogue changes it)."""
    h = hashlib.sha256()
    for name, frame in tables.items():
        h.update(f"{name}={fingerprint(frame)};".encode())
    return h.hexdigest()

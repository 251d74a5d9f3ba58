"""Content fingerprints of data frames: same rows and columns → same digest."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def fingerprint(df: pd.DataFrame) -> str:
    """SHA-256 over column names, dtypes and a per-row hash of the values (row order counts)."""
    import pandas as pd

    h = hashlib.sha256()
    for name, dtype in df.dtypes.items():
        h.update(f"{name}:{dtype};".encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()

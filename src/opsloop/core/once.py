"""`Once`: a value made by its first use, once, whichever thread asks first.

The lazy backends share it: the registry opened by its first call (`registry/lazy.py`: no
MLflow import for a server on a cached version), `OpsStore` behind the batch prediction's
light store (`store/light.py`: no SQLAlchemy), the engine of a batch prediction
(`engines/lazy.py`: no pandas before the model).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Once(Generic[T]):
    """`make()`'s result, made on the first `get()` (under a lock: one maker at a time)."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._value: T | None = None
        self._made = False
        self._lock = threading.Lock()

    @property
    def made(self) -> bool:
        return self._made

    def get(self) -> T:
        if not self._made:
            with self._lock:
                if not self._made:
                    self._value = self._make()
                    self._made = True
        return self._value  # type: ignore[return-value]

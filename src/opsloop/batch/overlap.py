"""Reading, scoring and writing a batch prediction at the same time, in bounded memory.

The model's trees run in OpenMP threads with the GIL released, and so do DuckDB's scan
and pyarrow's Parquet writer: the next batch is read (`Prefetch`, one thread) and the
previous batch's rows are written (`Behind`, another) while this one is scored, instead
of the three waiting for each other. Each side holds at most `DEPTH` batches, so memory
stays bounded by a few batches, not by the rows.

Errors cross over: a reader's error is raised where the next batch is taken, a writer's
at the next `submit` or at `finish`; `close` (also on an error) stops both and waits for
them, so nothing is still writing when a failed run's files are removed.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")
DEPTH = 2
_END = object()


class Prefetch(Generic[T]):
    """Iterates `items` in a thread, `depth` items ahead of the consumer."""

    def __init__(self, items: Iterable[T], depth: int = DEPTH) -> None:
        self._items = items
        self._queue: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fill, name="opsloop-read", daemon=True)
        self._thread.start()

    def _put(self, entry: tuple[object, BaseException | None]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _fill(self) -> None:
        try:
            for item in self._items:
                if not self._put((item, None)):
                    return
            self._put((_END, None))
        except BaseException as exc:  # handed to the consumer, raised there
            self._put((_END, exc))

    def __iter__(self) -> Iterator[T]:
        while True:
            item, exc = self._queue.get()
            if item is _END:
                if exc is not None:
                    raise exc
                return
            yield item  # type: ignore[misc]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> Prefetch[T]:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Behind:
    """Runs submitted calls in one thread, in order, at most `depth` behind the caller."""

    def __init__(self, depth: int = DEPTH) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="opsloop-write")
        self._pending: deque[Future[None]] = deque()
        self._depth = depth

    def submit(self, call: Callable[[], None]) -> None:
        while len(self._pending) >= self._depth:
            self._pending.popleft().result()  # a writer's error surfaces here
        self._pending.append(self._pool.submit(call))

    def finish(self) -> None:
        """Wait for every submitted call; the first error is raised."""
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        for pending in self._pending:
            pending.cancel()
        self._pool.shutdown(wait=True)  # a running call finishes before anything is removed
        self._pending.clear()

    def __enter__(self) -> Behind:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

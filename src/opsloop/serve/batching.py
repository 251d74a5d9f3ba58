"""The predict queue, with optional adaptive micro-batching.

Every predict call of the server goes through a `MicroBatcher`: calls run one at a time in
a dedicated thread, so the event loop keeps accepting, reading and validating requests
meanwhile (scikit-learn's tree and BLAS loops release the GIL), and health checks and
/metrics answer while a large request is predicted. This is also what `mlflow models serve`
does (`asyncio.to_thread`). Without batching (`serve.batching.enabled: false`) each request
is its own call (`max_batch_size=1`).

A vectorised model predicts 16 rows in little more time than one, so with batching enabled
the requests that queue up are coalesced:

- Requests are validated before they are queued, so a bad request never reaches a batch;
  if a batch's predict call fails anyway, each of its requests is predicted alone and only
  the one that fails gets the error.
- What queued up during one call forms the next batch (up to `max_batch_size` rows; a
  larger request is never split and goes alone).
- It is adaptive: a request that comes alone to an idle model is predicted at once. Only
  when the last batch held several requests (the server is under concurrent load) does a
  batch wait — at most `max_wait` after its first request arrived — for more to join.
- A batch holds requests for one model object only: around a hot swap, requests for the
  old and new version are predicted separately, each by its own version.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from opsloop.serve.rows import ModelInput

Result = tuple[np.ndarray, np.ndarray | None]
PredictFn = Callable[[Any, ModelInput], Result]


@dataclass(eq=False)
class _Item:
    model: Any
    rows: ModelInput
    arrived: float
    future: asyncio.Future[Result] = field(repr=False)


class MicroBatcher:
    """Queue requests with `await predict(model, rows)`; `start()`/`stop()` in the server's
    event loop (its lifespan)."""

    def __init__(
        self, predict: PredictFn, *, max_batch_size: int = 64, max_wait: float = 0.002
    ) -> None:
        self._predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait
        self.calls = 0  # predict calls made (batches, plus retries one by one)
        self.batched_requests = 0
        self._queue: deque[_Item] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._concurrent = False  # did the last batch hold more than one request?

    def start(self) -> None:
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="opsloop-predict")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="opsloop-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while self._queue:
            item = self._queue.popleft()
            if not item.future.done():
                item.future.set_exception(RuntimeError("the server is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def predict(self, model: Any, rows: ModelInput) -> Result:
        if self._task is None or self._wake is None:
            raise RuntimeError("the batcher is not running (start() it in the event loop)")
        loop = asyncio.get_running_loop()
        item = _Item(model, rows, loop.time(), loop.create_future())
        self._queue.append(item)
        self._wake.set()
        return await item.future

    async def _run(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            first = self._queue[0]
            if self._concurrent and self.max_wait > 0:
                await self._fill(first, first.arrived + self.max_wait, loop)
            batch = self._take()
            self._concurrent = len(batch) > 1
            try:
                await self._run_batch(batch, loop)
            except BaseException as exc:  # never leave a request waiting (e.g. on stop())
                for item in batch:
                    raise_into(
                        item,
                        exc
                        if isinstance(exc, Exception)
                        else RuntimeError("the server is shutting down"),
                    )
                if not isinstance(exc, Exception):
                    raise

    async def _fill(self, first: _Item, deadline: float, loop: asyncio.AbstractEventLoop) -> None:
        """Wait until the queue holds a full batch for `first`'s model or the deadline."""
        assert self._wake is not None
        while self._queued_rows(first.model) < self.max_batch_size:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except TimeoutError:
                return

    def _queued_rows(self, model: Any) -> int:
        rows = 0
        for item in self._queue:
            if item.model is not model:
                break
            rows += item.rows.n
        return rows

    def _take(self) -> list[_Item]:
        """The head of the queue: same model, at most max_batch_size rows (at least one
        request, however large)."""
        batch = [self._queue.popleft()]
        rows = batch[0].rows.n
        while self._queue:
            item = self._queue[0]
            if item.model is not batch[0].model or rows + item.rows.n > self.max_batch_size:
                break
            batch.append(self._queue.popleft())
            rows += item.rows.n
        return batch

    async def _run_batch(self, batch: list[_Item], loop: asyncio.AbstractEventLoop) -> None:
        live = [item for item in batch if not item.future.done()]  # cancelled: client left
        if not live:
            return
        model = live[0].model
        rows = ModelInput.concat([item.rows for item in live])
        self.calls += 1
        self.batched_requests += len(live)
        try:
            prediction, score = await loop.run_in_executor(
                self._executor, self._predict, model, rows
            )
        except Exception as exc:
            if len(live) == 1:
                raise_into(live[0], exc)
                return
            for item in live:  # find the culprit: one by one, each gets its own outcome
                self.calls += 1
                try:
                    result = await loop.run_in_executor(
                        self._executor, self._predict, model, item.rows
                    )
                except Exception as one:
                    raise_into(item, one)
                else:
                    resolve(item, result)
            return
        start = 0
        for item in live:
            end = start + item.rows.n
            resolve(item, (prediction[start:end], None if score is None else score[start:end]))
            start = end


def resolve(item: _Item, result: Result) -> None:
    if not item.future.done():
        item.future.set_result(result)


def raise_into(item: _Item, exc: BaseException) -> None:
    if not item.future.done():
        item.future.set_exception(exc)

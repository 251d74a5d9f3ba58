"""Following a recommender's published output: a reader's view of `read_current` that
loads each newly published run once into an immutable `TopLists` and swaps it in.

`PublishedLists.refresh()` asks the ops store which run is published (one query on the
`batch_publications` pointer); when that is another run than the one served, it reads the
run's output (`toplists.read_output`: the run folder, or its own PostgreSQL table), builds
the index off the request path and replaces one reference. A reader takes `state` once per
request and answers from that one run: never half of one run and half of another. The run
folder of a published run is complete before its publication and never changed after, so
what is read is exactly that run. The last `keep` runs stay loaded, so a rollback to the
run served before swaps back without reading it again.

A run that cannot be read (its folder gone, rows of another run in it) leaves the served
run in place; `state.error` says why and the next refresh tries again. Nothing published:
`state.lists` is None and `state.error` says so.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from opsloop.batch.publish import read_current
from opsloop.batch.toplists import TopLists, output_columns, read_output
from opsloop.errors import NotFoundError, OpsloopError

if TYPE_CHECKING:
    from opsloop.config import ProjectConfig
    from opsloop.store.ports import StoreReads
    from opsloop.store.records import BatchPublication


@dataclass(frozen=True)
class Followed:
    """What a reader serves: `lists` (None before anything could be loaded), the
    publication they were loaded for, the newest publication seen (`seen`; another run than
    `lists` while it could not be loaded), and the last refresh's error, if any."""

    lists: TopLists | None
    publication: BatchPublication | None
    seen: BatchPublication | None
    error: str | None
    checked_at: float  # time.monotonic() of the last refresh

    @property
    def stale(self) -> bool:
        """Is a newer publication than the one served known but not loaded?"""
        return (
            self.seen is not None
            and self.lists is not None
            and self.seen.run_id != self.lists.run_id
        )


class PublishedLists:
    """Follows `config.model`'s published ranking output in `store` (see the module
    docstring); `start()` refreshes every `interval` seconds on a daemon thread."""

    def __init__(
        self,
        config: ProjectConfig,
        store: StoreReads,
        *,
        interval: float = 1.0,
        keep: int = 2,
    ) -> None:
        if config.ranking is None:
            raise NotFoundError(
                f"model {config.model!r} is not a recommender (task: {config.task})",
                expected="task: ranking with a ranking: section",
            )
        self.config = config
        self.store = store
        self.interval = interval
        self._keep = max(1, keep)
        self._loaded: OrderedDict[str, TopLists] = OrderedDict()
        self._lock = threading.Lock()  # one refresh at a time (thread and callers)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.state = Followed(None, None, None, "not checked yet", time.monotonic())

    def refresh(self) -> Followed:
        """Check the store's pointer once; load and swap in a newly published run."""
        with self._lock:
            self.state = self._refresh(self.state)
            return self.state

    def _refresh(self, before: Followed) -> Followed:
        now = time.monotonic()
        try:
            current = read_current(self)
        except NotFoundError as exc:  # nothing published
            return Followed(None, None, None, exc.what, now)
        except OpsloopError as exc:  # the store unreachable: keep serving what is loaded
            return Followed(before.lists, before.publication, before.seen, exc.message, now)
        publication, run_id = current.publication, current.run.run_id
        lists = self._loaded.get(run_id)
        if lists is None:
            ranking = self.config.ranking
            assert ranking is not None
            try:
                table = read_output(
                    current, output_columns(ranking.user_column, ranking.item_column)
                )
                lists = TopLists.from_table(
                    table,
                    user_column=ranking.user_column,
                    item_column=ranking.item_column,
                    run_id=run_id,
                )
            except OpsloopError as exc:
                return Followed(before.lists, before.publication, publication, exc.message, now)
            except Exception as exc:  # the folder vanished, a file is corrupt (ArrowInvalid)
                error = f"cannot read the output of run {run_id}: {type(exc).__name__}: {exc}"
                return Followed(before.lists, before.publication, publication, error, now)
            self._loaded[run_id] = lists
            while len(self._loaded) > self._keep:
                self._loaded.popitem(last=False)
        self._loaded.move_to_end(run_id)
        return Followed(lists, publication, publication, None, now)

    # ---- the background thread ------------------------------------------------------
    def start(self) -> None:
        """Refresh now, then every `interval` seconds until `stop()`."""
        if self._thread is not None:
            return
        self.refresh()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="published-lists", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except Exception as exc:  # never let the follower die: report and go on
                before = self.state
                self.state = Followed(
                    before.lists,
                    before.publication,
                    before.seen,
                    f"refresh failed: {type(exc).__name__}: {exc}",
                    time.monotonic(),
                )

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=max(5.0, 2 * self.interval))

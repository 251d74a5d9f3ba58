"""The restaurants example's web app: a small FastAPI service in its own process between
the nightly recommendations and the people who use them.

    python -m opsloop.examples.webapp --project PATH [--host H] [--port 8000]

- `GET /users/{user_id}/recommendations` — the user's list from the published output
  (`opsloop predict --publish`), or the run's fallback list (`"fallback": true`) for a user
  the run has no list for; every answer names the `model`, `version` and `run_id` it came
  from. Nothing published yet: 503.
- `POST /visits` `{"user", "restaurant", "time"?, "rating"?}` — what a user chose, stored
  as a label of the project (`Project.add_labels`: the visits opsloop joins late), by group
  commit (`visitlog.py`): 201 once stored; 422 for a bad visit.
- `GET /health` — the run served, what is published, the last error, the visits stored.

Reads follow the ops store's publication pointer (`batch/follow.py`): every `--interval`
seconds (default 1) a background thread asks which run is published; a new one is read
once, indexed in memory and swapped in by one reference, so a request is answered from one
run, never two, and a publish or a rollback is served within about a second. Errors are
the JSON shape of opsloop's server (`error`, `type`, `expected`, `got`, `fix`, `details`),
never a bare 500.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from opsloop.batch.follow import Followed, PublishedLists
from opsloop.errors import NotFoundError, OpsloopError
from opsloop.examples.webapp.visitlog import (
    LogClosedError,
    Visit,
    VisitError,
    VisitLog,
    parse_visit,
)

if TYPE_CHECKING:
    from opsloop.project import Project
    from opsloop.store.ports import StoreReads

log = logging.getLogger("opsloop.examples.webapp")
MAX_BODY = 64 * 1024


class Unavailable(OpsloopError, RuntimeError):
    """Nothing can be served or stored right now (HTTP 503)."""


class RequestError(OpsloopError, ValueError):
    """A request no route answers (an unknown path, a wrong method): its HTTP status."""


@dataclass(frozen=True)
class _Running:
    """What the app runs while it serves: the follower of the published lists and the
    visit log."""

    lists: PublishedLists
    visits: VisitLog


def error_body(exc: OpsloopError) -> dict[str, Any]:
    """opsloop's one error shape (`serve/errors.py`)."""
    return {**exc.to_dict(), "details": list(getattr(exc, "details", None) or [])}


def _status(exc: OpsloopError) -> int:
    if isinstance(exc, VisitError):
        return 422
    if isinstance(exc, Unavailable | LogClosedError):
        return 503
    if isinstance(exc, NotFoundError):
        return 404
    return 503  # storing failed (the store, the disk): the client may retry


def _error(exc: OpsloopError) -> JSONResponse:
    return JSONResponse(error_body(exc), status_code=_status(exc))


def create_app(
    project: Project,
    *,
    reads: StoreReads | None = None,
    interval: float = 1.0,
) -> FastAPI:
    """The web app over `project` (a recommender: `task: ranking`); `reads`: where the
    publication pointer is read (default: the DB-API reader of the project's ops store,
    else its `OpsStore`)."""
    config = project.config
    ranking = config.ranking
    if ranking is None:
        raise NotFoundError(
            f"model {config.model!r} is not a recommender (task: {config.task})",
            expected="a task: ranking project such as `opsloop init PATH --example restaurants`",
        )
    opened: list[Any] = []

    def pointer() -> StoreReads:
        if reads is not None:
            return reads
        from opsloop.store.reader import open_reader

        assert project.stack.ops_store is not None
        reader = open_reader(project.stack.ops_store)
        if reader is None:
            return project.store  # a new or older database: OpsStore creates or upgrades it
        opened.append(reader)
        return reader

    def store_visits(visits: list[Visit]) -> object:
        import pandas as pd

        assert ranking is not None
        columns: dict[str, Any] = {
            ranking.user_column: [v.user for v in visits],
            ranking.item_column: [v.restaurant for v in visits],
            config.time_column: pd.Series([v.time for v in visits], dtype="datetime64[us, UTC]"),
        }
        if ranking.rating_column is not None:
            columns[ranking.rating_column] = pd.Series([v.rating for v in visits], dtype="float64")
        return project.add_labels(pd.DataFrame(columns))

    running: list[_Running] = []  # set while the app runs (lifespan)

    def now() -> _Running:
        return running[0]

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        follower = PublishedLists(config, await asyncio.to_thread(pointer), interval=interval)
        await asyncio.to_thread(follower.start)  # the first load before the port answers
        visits = VisitLog(store_visits)
        running[:] = [_Running(follower, visits)]
        try:
            yield
        finally:
            visits.close()  # every visit taken is stored first
            follower.stop()
            for reader in opened:
                reader.close()

    app = FastAPI(title=f"{config.model} recommendations", lifespan=lifespan)

    def served() -> Followed:
        followed = now().lists.state
        if followed.lists is None:
            raise Unavailable(
                f"no recommendations to serve: {followed.error or 'nothing loaded yet'}",
                fix="publish a nightly run (`opsloop predict --publish`); the app picks it up "
                f"within {interval:g} s",
            )
        return followed

    @app.get("/users/{user_id}/recommendations")
    async def recommendations(user_id: str) -> JSONResponse:
        try:
            lists = served().lists
            assert lists is not None
            answer = lists.get(user_id)
        except OpsloopError as exc:
            return _error(exc)
        return JSONResponse(
            {
                "user": answer.user,
                "fallback": answer.fallback,
                "model": answer.model,
                "version": answer.version,
                "run_id": answer.run_id,
                "recommendations": [
                    {"rank": r.rank, "restaurant": r.item, "score": r.score} for r in answer.items
                ],
            }
        )

    @app.post("/visits", status_code=201)
    async def visits(request: Request) -> JSONResponse:
        assert ranking is not None
        try:
            raw = await request.body()
            if len(raw) > MAX_BODY:
                raise VisitError(
                    "the request body is too large",
                    [{"field": "body", "expected": f"at most {MAX_BODY} bytes", "got": len(raw)}],
                )
            try:
                body = json.loads(raw)
            except ValueError as exc:
                raise VisitError(
                    "the request body is not JSON",
                    [{"field": "body", "expected": "a JSON object", "got": str(exc)[:80]}],
                ) from None
            visit = parse_visit(
                body, rating_range=ranking.rating_range, rated=ranking.rating_column is not None
            )
            await asyncio.wrap_future(now().visits.submit(visit))
        except OpsloopError as exc:
            return _error(exc)
        except Exception as exc:  # storing failed for a reason opsloop did not name
            return _error(
                Unavailable(f"the visit was not stored: {type(exc).__name__}: {exc}"[:300])
            )
        lists = now().lists.state.lists
        body = {
            "stored": True,
            **visit.to_dict(),
            "listed": lists is not None and visit.user in lists,  # their own list is served
            "run_id": None if lists is None else lists.run_id,
        }
        return JSONResponse(body, 201)

    @app.get("/health")
    async def health() -> JSONResponse:
        followed = now().lists.state
        lists, seen = followed.lists, followed.seen
        counts = now().visits.counts
        body = {
            "status": "ready" if lists is not None else "unavailable",
            "model": config.model,
            "run_id": None if lists is None else lists.run_id,
            "version": None if lists is None else lists.version,
            "users": 0 if lists is None else lists.users,
            "fallback": lists is not None and lists.has_fallback,
            "published_run_id": None if seen is None else seen.run_id,
            "published_revision": None if seen is None else seen.revision,
            "stale": followed.stale,
            "error": followed.error,
            "visits": {"stored": counts.stored, "parts": counts.parts, "failed": counts.failed},
        }
        return JSONResponse(body, status_code=200 if lists is not None else 503)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        error = RequestError(
            f"{request.method} {request.url.path}: {exc.detail}",
            expected="GET /users/{user_id}/recommendations, POST /visits or GET /health",
        )
        return JSONResponse(error_body(error), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:  # never a bare 500
        log.exception("unexpected error")
        error = Unavailable(f"internal error: {type(exc).__name__}: {exc}"[:300])
        return JSONResponse(error_body(error), status_code=500)

    return app


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m opsloop.examples.webapp`: the app on uvicorn."""
    parser = argparse.ArgumentParser(
        prog="python -m opsloop.examples.webapp",
        description="Serve a recommender's published lists and record visits.",
    )
    parser.add_argument("--project", "-p", type=Path, default=Path("."))
    parser.add_argument("--stack", default=None, help="a stack of opsloop.yaml")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between publication checks"
    )
    args = parser.parse_args(argv)
    import uvicorn

    from opsloop.project import Project

    try:
        app = create_app(
            Project(args.project, stack=args.stack, actor="webapp"), interval=args.interval
        )
    except OpsloopError as exc:
        raise SystemExit(f"error: {exc.message}") from None
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")

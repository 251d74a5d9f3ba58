"""The dashboard's HTTP routes: server-rendered pages (GET) and actions (POST forms).

Pages read through the application services (`ReadService`: the same views as
`opsloop status --json` and `/api`); actions call `AdminService` with the logged-in actor
(`ui:<name>`), exactly as the CLI and the management API do. A POST is refused (401, nothing
changes) without a valid session cookie and (403) without the form's CSRF token.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from opsloop.errors import InvalidInputError, NotFoundError, OpsloopError
from opsloop.templates import environment
from opsloop.ui import pages
from opsloop.ui.auth import SEED_COOKIE, SESSION_COOKIE, Session, Sessions, new_seed

if TYPE_CHECKING:
    from opsloop.ui.site import UIModel, UISite

_MAX_FORM = 64 * 1024


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def create_ui_router(site: UISite) -> APIRouter:
    sessions = Sessions(site.admin_token, hours=site.session_hours)
    base = site.prefix.rstrip("/")
    router = APIRouter(prefix=base, include_in_schema=False)

    def session(request: Request) -> Session | None:
        return sessions.read(request.cookies.get(SESSION_COOKIE))

    def page(request: Request, template: str, code: int = 200, **context: Any) -> Response:
        who = session(request)
        seed = who.nonce if who else request.cookies.get(SEED_COOKIE) or new_seed()
        html = (
            environment()
            .get_template(f"ui/{template}")
            .render(
                base=base,
                who=who,
                can_login=sessions.enabled,
                csrf=sessions.csrf(seed) if sessions.enabled else "",
                models=[m.name for m in site.models],
                done=request.query_params.get("done"),
                nav=context.pop("nav", ""),
                path=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
                **context,
            )
        )
        response = HTMLResponse(html, status_code=code)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        response.headers["Referrer-Policy"] = "same-origin"
        if who is None and sessions.enabled and request.cookies.get(SEED_COOKIE) != seed:
            _cookie(response, SEED_COOKIE, seed, base, site.secure_cookie, None)
        return response

    def error_page(request: Request, status: int, message: str, fix: str = "") -> Response:
        return page(request, "error.html", code=status, message=message, fix=fix)

    def readable(request: Request) -> Response | None:
        """None when the viewer may read; else the login redirect (or why not)."""
        if site.public_read or session(request) is not None:
            return None
        if not sessions.enabled:
            return error_page(
                request,
                403,
                "the dashboard needs a login, and no admin token is set",
                "set the admin token (serve.admin_token_env, default OPSLOOP_ADMIN_TOKEN) "
                "or ui.public_read: true in opsloop.yaml",
            )
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(f"{base}/login?next={target}", status_code=303)

    def guarded(request: Request, build: Any) -> Response:
        blocked = readable(request)
        if blocked is not None:
            return blocked
        try:
            return build()  # type: ignore[no-any-return]
        except NotFoundError as exc:
            return error_page(request, 404, exc.message, exc.fix or "")
        except OpsloopError as exc:
            return error_page(request, 400, exc.message, exc.fix or "")

    async def form(request: Request) -> dict[str, str]:
        body = await request.body()
        if len(body) > _MAX_FORM:
            raise Refused(413, "form too large")
        parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        return {k: v[-1] for k, v in parsed.items()}

    async def act(request: Request, name: str, action: Any) -> Response:
        """Run `action(model, actor, form)` for a logged-in caller with a valid CSRF token;
        redirect back with what happened, or show why not (nothing changed)."""
        who = session(request)
        try:
            data = await form(request)
            if who is None:
                raise Refused(401, "log in with the admin token to act (nothing was changed)")
            if not sessions.check_csrf(who.nonce, data.get("csrf")):
                raise Refused(403, "missing or wrong CSRF token: reload the page and retry")
            model = site.model(name)
            message = action(model, who.actor, data)
        except Refused as exc:
            return error_page(request, exc.status, exc.message)
        except NotFoundError as exc:
            return error_page(request, 404, exc.message, exc.fix or "")
        except OpsloopError as exc:
            return error_page(request, 409, exc.message, exc.fix or "")
        back = data.get("back") or f"{base}/models/{quote(name)}"
        if not back.startswith(base + "/") or back.startswith("//"):
            back = f"{base}/"
        back = back.split("?", 1)[0]
        return RedirectResponse(f"{back}?{urlencode({'done': message})}", status_code=303)

    # ---- login -------------------------------------------------------------------------
    @router.get("/login")
    def login_form(request: Request, next: str = "") -> Response:
        return page(request, "login.html", next=next if next.startswith(base) else f"{base}/")

    @router.post("/login")
    async def login(request: Request) -> Response:
        data = await form(request)
        seed = request.cookies.get(SEED_COOKIE)
        if not sessions.check_csrf(seed, data.get("csrf")):
            return error_page(request, 403, "missing or wrong CSRF token: reload the login page")
        cookie = sessions.login(data.get("token", ""), data.get("name", ""))
        if cookie is None:
            return page(request, "login.html", code=401, next=data.get("next", ""), failed=True)
        target = data.get("next") or f"{base}/"
        if not target.startswith(base + "/") or target.startswith("//"):
            target = f"{base}/"
        response = RedirectResponse(target, status_code=303)
        _cookie(response, SESSION_COOKIE, cookie, base, site.secure_cookie, sessions.seconds)
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        who = session(request)
        data = await form(request)
        if who is not None and not sessions.check_csrf(who.nonce, data.get("csrf")):
            return error_page(request, 403, "missing or wrong CSRF token")
        response = RedirectResponse(f"{base}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=base)
        return response

    # ---- pages -------------------------------------------------------------------------
    @router.get("/")
    def overview(request: Request, since: str = "90d") -> Response:
        def build() -> Response:
            from opsloop.data.window import parse_instant

            rows = [pages.overview_row(m.reads.status()) for m in site.models]
            dora = site.models[0].reads.dora(since=parse_instant(since or "90d", "since"))
            return page(request, "overview.html", rows=rows, nav="overview", dora=dora, since=since)

        return guarded(request, build)

    @router.get("/models/{name}")
    def model_page(
        request: Request, name: str, version: str | None = None, a: str = "", b: str = ""
    ) -> Response:
        def build() -> Response:
            m = site.model(name)
            status = m.reads.status()
            versions = m.reads.versions()
            lineages = {v.version: m.reads.lineage(v.version) for v in versions}
            chosen = version or (
                status.deployment.version
                if status.deployment and status.deployment.version
                else (versions[-1].version if versions else None)
            )
            selected = next((v for v in versions if v.version == chosen), None)
            if version is not None and selected is None:
                raise NotFoundError(f"{name!r} has no version {version!r}")
            compare = [lineages[x] for x in (a, b) if x in lineages] if a and b else []
            return page(
                request,
                "model.html",
                nav=name,
                name=name,
                status=status,
                versions=list(reversed(versions)),
                lineages=lineages,
                selected=selected,
                lineage=None if selected is None else lineages[selected.version],
                compare=compare,
                compare_gates={v.version: v for v in versions if v.version in (a, b)},
                mlflow=m.mlflow_ui,
                a=a,
                b=b,
                can_act=m.admin is not None,
            )

        return guarded(request, build)

    @router.get("/models/{name}/versions/{version}/gate")
    def gate_report(request: Request, name: str, version: str) -> Response:
        def build() -> Response:
            from opsloop.gate.report import to_html

            report = site.model(name).reads.gate_report(version)
            return HTMLResponse(to_html(report), headers={"Cache-Control": "no-store"})

        return guarded(request, build)

    @router.get("/dora")
    def dora_page(request: Request, since: str = "90d", until: str = "") -> Response:
        def build() -> Response:
            from opsloop.data.window import parse_instant

            view = site.models[0].reads.dora(
                since=parse_instant(since or "90d", "since"),
                until=parse_instant(until, "until") if until.strip() else None,
            )
            return page(request, "dora.html", nav="dora", view=view, since=since, until=until)

        return guarded(request, build)

    @router.get("/models/{name}/deployment")
    def deployment_page(request: Request, name: str, at: str = "") -> Response:
        def build() -> Response:
            from opsloop.data.window import parse_instant

            m = site.model(name)
            asof = m.reads.status_at(parse_instant(at, "at")) if at.strip() else None
            status = m.reads.status()
            events = m.reads.events(limit=200, kinds=pages.ROLLOUT_KINDS)
            rollout_id = None if status.rollout is None else status.rollout.id
            current = [e for e in events if e.evidence.get("rollout") in (rollout_id, None)]
            points, chart = pages.rollout_analysis(current)
            return page(
                request,
                "deployment.html",
                nav=name,
                name=name,
                status=status,
                split=pages.traffic_split(status),
                points=points[-50:],
                chart=chart,
                history=list(reversed(m.reads.deployments()))[:200],
                at=at,
                asof=asof,
                can_act=m.admin is not None,
            )

        return guarded(request, build)

    @router.get("/models/{name}/monitoring")
    def monitoring_page(
        request: Request,
        name: str,
        windows: int = 48,
        window: int | None = None,
        feature: str | None = None,
        version: str | None = None,
        to: str = "",
    ) -> Response:
        def build() -> Response:
            m = site.model(name)
            n = max(1, min(windows, pages.MAX_WINDOWS))
            until = _instant(to, "to")
            # windows ending at or before `to` (the store's bound is exclusive)
            before = None if until is None else until + timedelta(microseconds=1)
            here = f"{base}/models/{quote(name)}/monitoring"
            share = float(m.reads.config.monitor.drift.share)
            days = None
            if n > pages.PER_WINDOW_MAX:  # long ranges: per day, aggregated in SQL
                days = m.reads.monitoring_days(limit=n, version=version or None, before=before)
                view = None
                charts = pages.monitoring_day_charts(days, here, share)
            else:
                view = m.reads.monitoring(limit=n, version=version or None, before=before)
                same = {"windows": n, "to": to, "version": version}
                keep = urlencode({k: v for k, v in same.items() if v})
                charts = pages.monitoring_charts(view, here, share, keep + "&")
            chosen = window
            if chosen is None and view is not None and view.windows:
                chosen = view.windows[-1].id
            detail = None
            if chosen is not None:
                detail = pages.window_detail(m.reads.monitor_result(chosen), feature)
            older = pages.older_link(here, view, days, n, version)
            return page(
                request,
                "monitoring.html",
                nav=name,
                name=name,
                view=view,
                days=days,
                charts=charts,
                detail=detail,
                n=n,
                to=to,
                older=older,
                per_window_max=pages.PER_WINDOW_MAX,
                max_windows=pages.MAX_WINDOWS,
            )

        return guarded(request, build)

    @router.get("/models/{name}/monitoring/{result_id}/report")
    def monitoring_report(request: Request, name: str, result_id: int) -> Response:
        def build() -> Response:
            m = site.model(name)
            result = m.reads.monitor_result(result_id)
            path = Path(result.report_path or "")
            if path.suffix != ".html" or not path.is_file():
                raise NotFoundError(
                    f"the report of window {result_id} is not on this machine ({path})",
                    fix="run `opsloop monitor` on this machine, or see `opsloop monitor history`",
                )
            return HTMLResponse(path.read_text(encoding="utf-8"))

        return guarded(request, build)

    @router.get("/events")
    def events_page(
        request: Request,
        model: str = "",
        kind: str = "",
        actor: str = "",
        since: str = "",
        until: str = "",
        before: int | None = None,
        limit: int = 100,
    ) -> Response:
        def build() -> Response:
            reads = (site.model(model) if model else site.models[0]).reads
            found = reads.search_events(
                every_model=not model,
                kinds=[k.strip() for k in kind.split(",") if k.strip()] or None,
                actor=actor.strip() or None,
                since=_instant(since, "since"),
                until=_instant(until, "until"),
                before_id=before,
                limit=limit,
            )
            shown = list(reversed(found))
            query = {"model": model, "kind": kind, "actor": actor, "since": since, "until": until}
            older = (
                f"{base}/events?{urlencode({**query, 'before': found[0].id})}"
                if len(found) >= max(1, min(limit, 1000))
                else None
            )
            return page(
                request,
                "events.html",
                nav="events",
                events=shown,
                query=query,
                older=older,
                evidence=lambda e: json.dumps(e.evidence, indent=2, default=str, sort_keys=True),
            )

        return guarded(request, build)

    # ---- actions -----------------------------------------------------------------------
    def _approve(m: UIModel, actor: str, data: dict[str, str], version: str) -> str:
        d = m.admin_service().decide(
            version, approved=True, actor=actor, comment=data.get("comment", "")
        )
        served = "" if d.deployment is None else f"; serving v{d.deployment.version}"
        return f"approved v{version}{served}"

    @router.post("/models/{name}/versions/{version}/approve")
    async def approve(request: Request, name: str, version: str) -> Response:
        return await act(request, name, lambda m, who, d: _approve(m, who, d, version))

    @router.post("/models/{name}/versions/{version}/reject")
    async def reject(request: Request, name: str, version: str) -> Response:
        def run(m: UIModel, who: str, d: dict[str, str]) -> str:
            m.admin_service().decide(
                version, approved=False, actor=who, comment=d.get("comment", "")
            )
            return f"rejected v{version}"

        return await act(request, name, run)

    @router.post("/models/{name}/rollout/promote")
    async def rollout_promote(request: Request, name: str) -> Response:
        def run(m: UIModel, who: str, d: dict[str, str]) -> str:
            r = m.admin_service().promote_rollout(actor=who, reason=d.get("reason", ""))
            return f"promoted v{r.candidate_version}"

        return await act(request, name, run)

    @router.post("/models/{name}/rollout/abort")
    async def rollout_abort(request: Request, name: str) -> Response:
        def run(m: UIModel, who: str, d: dict[str, str]) -> str:
            r = m.admin_service().abort_rollout(actor=who, reason=d.get("reason", ""))
            return f"aborted the rollout of v{r.candidate_version}"

        return await act(request, name, run)

    @router.post("/models/{name}/rollback")
    async def rollback(request: Request, name: str) -> Response:
        def run(m: UIModel, who: str, d: dict[str, str]) -> str:
            dep = m.admin_service().rollback(actor=who, reason=d.get("reason", ""))
            return f"rolled back: serving v{dep.version} (revision {dep.revision})"

        return await act(request, name, run)

    @router.post("/models/{name}/retrain")
    async def retrain(request: Request, name: str) -> Response:
        def run(m: UIModel, who: str, d: dict[str, str]) -> str:
            req = m.admin_service().request_retrain(actor=who, reason=d.get("reason", ""))
            return f"retraining requested (request {req.id}); the agent runs it at its next tick"

        return await act(request, name, run)

    return router


def _instant(text: str, what: str) -> datetime | None:
    """An ISO time (UTC unless it has an offset) from a filter field; '' → None."""
    from datetime import UTC

    text = text.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"{what}: expected an ISO time such as 2026-12-01 or 2026-12-01T08:00, got {text!r}",
            fix="use the date picker or type YYYY-MM-DD[THH:MM]",
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _cookie(
    response: Response, key: str, value: str, path: str, secure: bool, max_age: float | None
) -> None:
    response.set_cookie(
        key,
        value,
        max_age=None if max_age is None else int(max_age),
        path=path or "/",
        httponly=True,
        samesite="strict",
        secure=secure,
    )

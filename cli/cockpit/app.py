"""The cockpit's web app (FastAPI): one page, its JSON, its controls, all behind one token.

Routes
    ``GET /?token=T``        the page; a right token also sets an HttpOnly, SameSite=Strict
                             cookie so the page's own requests carry it
    ``GET /static/...``      the page's script, style and the vendored uPlot (no CDN)
    ``GET /api/state``       ``CockpitState.view()``; filters ``agent``, ``state``,
                             ``unknown`` and ``filled`` apply to the orders
    ``POST /api/control``    ``{"action": kill|reset|pause|resume|flatten, "agent", "reason"}``;
                             needs the ``X-Swarm-Token`` header (a cookie alone is not enough:
                             another site's form could send it); 200 with what was done, or
                             409 with ``{"error": why}``
    ``GET /reports/backtest``, ``/reports/sweep``: the latest HTML reports under ``state.dir``

Every request needs the token (query ``token``, header ``X-Swarm-Token`` or the
cookie): none is 401, a wrong one 403, compared in constant time. The token is
never logged (the server runs without an access log).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from cli.cockpit.controls import ControlFailed
from cli.cockpit.state import CockpitState

STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "swarm_cockpit"
HEADER = "x-swarm-token"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".md": "text/plain"}

Control = Callable[[str, str | None, str], dict[str, Any]]
"""``control(action, agent, reason)``: do it (``ControlFailed`` says why not)."""


def new_token() -> str:
    """A random token (32 bytes, URL-safe)."""
    return secrets.token_urlsafe(32)


def token_status(given: str | None, token: str) -> int:
    """200 for the right token, 401 for none, 403 for a wrong one (constant-time compare)."""
    if not given:
        return 401
    if secrets.compare_digest(given.encode(), token.encode()):
        return 200
    return 403


def latest_reports(state_dir: Path | None) -> dict[str, Path]:
    """The newest backtest report (``backtest-*.html``) and ``sweep.html`` under ``state_dir``."""
    found: dict[str, Path] = {}
    if state_dir is None or not state_dir.is_dir():
        return found
    backtests = sorted(state_dir.glob("backtest-*.html"), key=lambda p: p.stat().st_mtime)
    if backtests:
        found["backtest"] = backtests[-1]
    sweep = state_dir / "sweep.html"
    if sweep.is_file():
        found["sweep"] = sweep
    return found


def build_app(
    state: CockpitState, token: str, control: Control, *, state_dir: Path | None = None
) -> FastAPI:
    """Return the cockpit's app over ``state``, acting through ``control``."""
    app = FastAPI(title="Swarm cockpit", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Any]) -> Response:
        given = (
            request.headers.get(HEADER)
            or request.query_params.get("token")
            or request.cookies.get(COOKIE)
        )
        code = token_status(given, token)
        if code != 200:
            why = "no token" if code == 401 else "wrong token"
            return JSONResponse({"error": why}, status_code=code)
        response: Response = await call_next(request)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"  # the URL carries the token
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        return response

    @app.get("/")
    def page(request: Request) -> Response:
        response = HTMLResponse((STATIC / "index.html").read_text())
        if request.query_params.get("token"):
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
        return response

    @app.get("/static/{name:path}")
    def static(name: str) -> Response:
        path = (STATIC / name).resolve()
        if STATIC not in path.parents or not path.is_file():
            return JSONResponse({"error": f"no such file: {name}"}, status_code=404)
        return FileResponse(path, media_type=STATIC_TYPES.get(path.suffix, "text/plain"))

    @app.get("/api/state")
    def api_state(
        agent: str | None = None,
        state_filter: str | None = Query(None, alias="state"),
        unknown: bool = False,
        filled: bool = False,
    ) -> dict[str, Any]:
        view = state.view(
            agent=agent or None,
            state=state_filter or None,
            unknown_only=unknown,
            filled_only=filled,
        )
        view["reports"] = sorted(latest_reports(state_dir))
        return view

    @app.post("/api/control")
    async def api_control(request: Request) -> Response:
        if token_status(request.headers.get(HEADER), token) != 200:
            return JSONResponse({"error": f"a control needs the {HEADER} header"}, status_code=403)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body must be JSON"}, status_code=400)
        if not isinstance(body, dict) or not isinstance(body.get("action"), str):
            return JSONResponse({"error": "action: missing"}, status_code=400)
        agent = body.get("agent")
        reason = str(body.get("reason") or "")
        from starlette.concurrency import run_in_threadpool

        try:  # the clients block: off the server's loop
            result = await run_in_threadpool(
                control, body["action"], str(agent) if agent else None, reason
            )
        except ControlFailed as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse(result)

    @app.get("/reports/{kind}")
    def report(kind: str) -> Response:
        path = latest_reports(state_dir).get(kind)
        if path is None:
            return JSONResponse({"error": f"no {kind} report under state.dir"}, status_code=404)
        return FileResponse(path, media_type="text/html")

    return app

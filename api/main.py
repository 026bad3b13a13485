"""FastAPI app factory."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from api.agent_setup import open_agent
from api.errors import install_error_handlers
from api.routers import (
    agent,
    auth,
    backtest,
    docs,
    meta,
    modelcheck,
    pages,
    results,
    status,
    sweeps,
)
from api.schemas import ErrorResponse
from api.security import SecurityMiddleware
from api.settings import Settings, get_settings
from engine import __version__
from engine.compute_slot import ComputeSlot
from engine.manager import BacktestManager
from engine.sweep.manager import SweepManager
from engine.warmup import WARMUP

log = logging.getLogger(__name__)
ERRORS = {
    400: "Bad request, e.g. a Host header that names another server",
    401: "Token required (a server bound beyond loopback)",
    403: "Cross-site write refused",
    413: "Request body too large",
    422: "Invalid request: names the bad field(s)",
    500: "Internal error",
}
ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
# front-end libraries that `make` installs with npm from web/package-lock.json (never committed)
UPLOT_DIR = ROOT / "web" / "node_modules" / "uplot" / "dist"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; long-lived objects live in ``app.state`` for the lifespan's duration."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        app.state.engine_warmup = WARMUP
        WARMUP.start()  # compile (or load) the kernels now, not on the first click; once a process
        slot = ComputeSlot()  # a backtest and a sweep never run at the same time
        app.state.backtest_manager = BacktestManager(settings.data_dir, warmup=WARMUP, slot=slot)
        app.state.sweep_manager = SweepManager(settings.data_dir, warmup=WARMUP, slot=slot)
        app.state.agent, app.state.agent_error = None, None
        if settings.agent_enabled:
            try:
                app.state.agent = open_agent(settings)
                app.state.agent.start()
            except Exception as exc:  # the dashboard must come up and say why
                log.warning("live agent not started: %s", exc)
                app.state.agent_error = f"{type(exc).__name__}: {exc}"
        try:
            yield
        finally:
            app.state.backtest_manager.shutdown()
            app.state.sweep_manager.shutdown()
            if app.state.agent is not None:
                app.state.agent.stop()
                app.state.agent.journal.close()

    errors = {code: {"model": ErrorResponse, "description": text} for code, text in ERRORS.items()}
    # /docs is served from a local copy of Swagger UI (routers/docs.py); ReDoc only comes from a CDN
    app = FastAPI(
        title="thetadesk",
        version=__version__,
        lifespan=lifespan,
        responses=errors,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.templates = Jinja2Templates(directory=TEMPLATES_DIR)
    app.state.templates.env.globals["auth_required"] = settings.auth_token is not None
    install_error_handlers(app)
    app.add_middleware(SecurityMiddleware, settings=settings)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if UPLOT_DIR.is_dir():
        app.mount("/vendor/uplot", StaticFiles(directory=UPLOT_DIR), name="uplot")
    else:  # the app still serves; the page says so where the charts would be
        log.warning("charts unavailable: %s is missing (run `make run`)", UPLOT_DIR)
    app.include_router(status.router)
    app.include_router(backtest.router)
    app.include_router(agent.router)
    app.include_router(results.router)
    app.include_router(sweeps.router)
    app.include_router(meta.router)
    app.include_router(modelcheck.router)
    app.include_router(pages.router)
    app.include_router(auth.router)
    app.include_router(docs.router)
    return app

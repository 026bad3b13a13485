"""``GET /status`` and ``GET /api/sources``: health, data coverage, backtest and agent state."""

from datetime import UTC, datetime

from fastapi import APIRouter, Request

from api.routers.agent import agent_status
from api.schemas import ChainsOut, SeriesOut, SourceOut, StatusResponse
from cache.store import SourceMeta, Store
from engine import __version__
from engine.results.runs import write_problem

router = APIRouter(tags=["status"])


def _source_out(meta: SourceMeta) -> SourceOut:
    coverage = {}
    for u, cov in meta.coverage.items():
        coverage[u] = {
            kind: SeriesOut(
                start=s.start,
                end=s.end,
                rows=s.rows,
                timeframe=s.timeframe,
                gaps=len(s.gaps),
                real_rows=s.real_rows,
            )
            for kind, s in (("candles", cov.candles), ("iv", cov.iv), ("delivery", cov.delivery))
        }
    return SourceOut(
        name=meta.name,
        origin=meta.origin,
        label=meta.label,
        synthetic=meta.is_synthetic,
        fingerprint=meta.fingerprint,
        coverage=coverage,
        chains={
            u: ChainsOut(
                snapshots=cov.chain_snapshots,
                rows=cov.chain_rows,
                start=cov.chain_start,
                end=cov.chain_end,
            )
            for u, cov in meta.coverage.items()
            if cov.chain_snapshots
        },
    )


def list_sources(request: Request) -> list[SourceOut]:
    """Every source of the app's cache."""
    return [_source_out(m) for m in Store(request.app.state.settings.data_dir).list_sources()]


@router.get("/status", response_model=StatusResponse)
def get_status(request: Request) -> StatusResponse:
    """Report version, health (and why not healthy), data sources, backtest and agent state."""
    backtest = request.app.state.backtest_manager.get_status()
    problem = write_problem(request.app.state.settings.data_dir)
    problems = [] if problem is None else [problem]
    return StatusResponse(
        version=__version__,
        healthy=not problems,
        problems=problems,
        server_time=datetime.now(UTC),
        data_dir=str(request.app.state.settings.data_dir),
        sources=list_sources(request),
        backtest_running=backtest.running,
        backtest_state=backtest.state,
        engine="warming" if request.app.state.engine_warmup.warming_backtests else "ready",
        agent=agent_status(request),
    )


@router.get("/api/sources", response_model=list[SourceOut], tags=["data"])
def get_sources(request: Request) -> list[SourceOut]:
    """The data sources a backtest can use, with coverage; synthetic ones are flagged."""
    return list_sources(request)

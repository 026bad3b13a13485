"""``/api/agent/*``: the live agent's status, decisions, trades, pause, resume and strategy."""

import logging
import threading

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import ValidationError

from api.agent_setup import AgentConfigError, build_agent
from api.errors import error_response, field_error, validation_fields
from api.schemas import (
    AgentDecision,
    AgentResumeRequest,
    AgentStatus,
    AgentStrategyRequest,
    AgentTrade,
    ErrorResponse,
)
from cache.deribit.errors import DeribitError
from engine.agent.loop import AccountMismatchError
from engine.config import split_strategy
from engine.results.history import RunNotFoundError, RunUnreadableError, read_summary

log = logging.getLogger(__name__)
router = APIRouter(
    prefix="/api/agent",
    tags=["agent"],
    responses={409: {"model": ErrorResponse, "description": "no agent is running"}},
)
_switching = threading.Lock()  # one strategy change at a time


def agent_status(request: Request) -> AgentStatus:
    """The agent's status, or why there is none (the same model ``/status`` embeds)."""
    agent = request.app.state.agent
    if agent is None:
        error = request.app.state.agent_error
        return AgentStatus(
            state="error" if error else "disabled",
            last_error=error,
            message=error or "the agent is disabled (THETADESK_AGENT_ENABLED=false)",
        )
    return agent.status()


def _agent(request: Request):
    agent = request.app.state.agent
    if agent is None:
        raise HTTPException(409, detail=agent_status(request).message)
    return agent


@router.get("/status", response_model=AgentStatus)
def get_agent_status(request: Request) -> AgentStatus:
    """Mode, feed, broker, strategy, last cycle, position, equity, last error."""
    return agent_status(request)


@router.get("/decisions", response_model=list[AgentDecision])
def get_decisions(request: Request, limit: int = Query(50, ge=1, le=1000)) -> list[dict]:
    """The newest decisions first."""
    agent = request.app.state.agent
    return agent.journal.latest(limit) if agent is not None else []


@router.get("/trades", response_model=list[AgentTrade])
def get_trades(request: Request) -> list[dict]:
    """The covered calls the agent has closed, in the order they closed."""
    agent = request.app.state.agent
    return agent.journal.trades() if agent is not None else []


@router.post("/pause", response_model=AgentStatus)
def pause_agent(request: Request) -> AgentStatus:
    """Stop cycling until resumed (an open position stays open)."""
    _agent(request).pause()
    return agent_status(request)


def _errors(descriptions: dict[int, str]) -> dict:
    """OpenAPI ``responses``: each status code answered in the one error shape."""
    return {code: {"model": ErrorResponse, "description": d} for code, d in descriptions.items()}


@router.post(
    "/resume",
    response_model=AgentStatus,
    responses=_errors(
        {
            400: "the body is not JSON",
            409: "the account still differs from the book",
            503: "the account could not be checked",
        }
    ),
)
def resume_agent(request: Request, body: AgentResumeRequest | None = None):
    """Cycle again.

    An agent held back because its Deribit account differs from its book (``reconcile_error``)
    checks the account again first and stays paused while it still differs (409). Send
    ``adopt_account: true`` to take the account as it is instead: flat, or one short call of
    the agent's size with no open order.
    """
    agent = _agent(request)
    try:
        agent.resume(adopt_account=body is not None and body.adopt_account)
    except AccountMismatchError as exc:
        return error_response(409, f"the account still differs from the agent's book: {exc}")
    except DeribitError as exc:
        return error_response(503, f"could not check the account: {type(exc).__name__}: {exc}")
    return agent_status(request)


@router.post(
    "/strategy",
    response_model=AgentStatus,
    responses=_errors(
        {
            400: "the body is not JSON",
            404: "no finished run with this id",
            409: "not a paper agent, or a call is open",
            422: "the strategy names a bad field",
        }
    ),
)
def set_agent_strategy(body: AgentStrategyRequest, request: Request):
    """Run the paper agent on another strategy: a config, or a finished run's (``from_run``).

    Run-only fields (dates, source, capital) are ignored. The agent restarts on the new strategy
    with a fresh paper account; while a call is open this is refused unless
    ``close_open_call`` is true, in which case the call is bought back (and journaled) first.
    Agents trading on Deribit take a strategy only at start (``THETADESK_AGENT_STRATEGY``).
    """
    settings = request.app.state.settings
    agent = _agent(request)
    if agent.broker.name != "paper":
        return error_response(
            409,
            f"the {agent.broker.name} agent takes a strategy only at start "
            "(THETADESK_AGENT_STRATEGY); only a paper agent switches while running",
        )
    where = "config" if body.from_run is None else "from_run"
    if body.from_run is not None:
        try:
            source = read_summary(settings.data_dir, body.from_run)["config"]
        except RunNotFoundError as exc:
            return field_error(404, "from_run", str(exc))
        except RunUnreadableError as exc:
            return field_error(409, "from_run", str(exc))
    else:
        source = body.config
    try:
        strategy, _ = split_strategy(source)
    except ValidationError as exc:
        message, detail = validation_fields(exc, prefix=f"{where}.")
        return error_response(422, message, detail)
    except ValueError as exc:
        return field_error(422, where, str(exc))
    with _switching:
        if agent.broker.position is not None and not body.close_open_call:
            name = agent.broker.position.instrument_name
            return error_response(
                409,
                f"covered call {name} is open: send close_open_call=true to buy it back and "
                "switch, or wait until it is closed",
            )
        try:
            new = build_agent(settings, strategy, configured=agent.configured)
        except (AgentConfigError, ValueError) as exc:
            return field_error(422, where, str(exc))
        agent.pause()
        if agent.broker.position is not None:
            closed = agent.close_open_call("switching strategy")
            if closed["error"] is not None:
                new.stop()
                new.journal.close()
                agent.resume()
                return error_response(409, f"the open call could not be closed: {closed['error']}")
        agent.stop()
        agent.journal.close()
        request.app.state.agent, request.app.state.agent_error = new, None
        new.start()
        log.info("live agent restarted on a new strategy (%s)", strategy.exit_style)
    return agent_status(request)

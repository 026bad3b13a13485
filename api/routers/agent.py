"""``/api/agent/*``: the live agent's status, decisions, pause and resume."""

from fastapi import APIRouter, HTTPException, Query, Request

from api.schemas import AgentDecision, AgentStatus, ErrorResponse

router = APIRouter(
    prefix="/api/agent",
    tags=["agent"],
    responses={409: {"model": ErrorResponse, "description": "no agent is running"}},
)


def agent_status(request: Request) -> dict:
    """The agent's status, or why there is none (the same dict ``/status`` embeds)."""
    agent = request.app.state.agent
    if agent is None:
        error = request.app.state.agent_error
        return {
            "state": "error" if error else "disabled",
            "last_error": error,
            "message": error or "the agent is disabled (THETADESK_AGENT_ENABLED=false)",
        }
    return agent.status() | {"message": None}


def _agent(request: Request):
    agent = request.app.state.agent
    if agent is None:
        raise HTTPException(409, detail=agent_status(request)["message"])
    return agent


@router.get("/status", response_model=AgentStatus)
def get_agent_status(request: Request) -> dict:
    """Mode, feed, broker, last cycle, position, equity, last error."""
    return agent_status(request)


@router.get("/decisions", response_model=list[AgentDecision])
def get_decisions(request: Request, limit: int = Query(50, ge=1, le=1000)) -> list[dict]:
    """The newest decisions first."""
    agent = request.app.state.agent
    return agent.journal.latest(limit) if agent is not None else []


@router.post("/pause", response_model=AgentStatus)
def pause_agent(request: Request) -> dict:
    """Stop cycling until resumed (an open position stays open)."""
    _agent(request).pause()
    return agent_status(request)


@router.post("/resume", response_model=AgentStatus)
def resume_agent(request: Request) -> dict:
    """Cycle again."""
    _agent(request).resume()
    return agent_status(request)

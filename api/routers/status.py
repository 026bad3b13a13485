"""``GET /status``: version and health."""

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel

from engine import __version__

router = APIRouter(tags=["status"])


class StatusResponse(BaseModel):
    """App health as the dashboard and scripts read it."""

    app: str = "thetadesk"
    version: str
    healthy: bool
    server_time: datetime
    data_dir: str


@router.get("/status", response_model=StatusResponse)
def get_status(request: Request) -> StatusResponse:
    """Report version and health."""
    settings = request.app.state.settings
    return StatusResponse(
        version=__version__,
        healthy=True,
        server_time=datetime.now(UTC),
        data_dir=str(settings.data_dir),
    )

"""HTML pages (each has a JSON twin under ``/status`` or ``/api``)."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from engine import __version__

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    """Render the dashboard."""
    templates = request.app.state.templates
    return templates.TemplateResponse(request, "index.html", {"version": __version__})

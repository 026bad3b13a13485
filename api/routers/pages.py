"""HTML pages (each has a JSON twin under ``/status`` or ``/api``)."""

import re

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.routers.meta import run_meta
from engine import __version__
from engine.results.labels import METRIC_LABELS

router = APIRouter(include_in_schema=False)


def _number_format(fmt: str) -> dict:
    """Turn a Python format such as ``{:+,.2f}`` into hints for the page's number formatter."""
    match = re.fullmatch(r"\{:(\+?)(,?)\.(\d)f\}", fmt)
    if match is None:
        raise ValueError(f"unsupported metric format {fmt!r}")
    sign, group, decimals = match.groups()
    return {"sign": bool(sign), "group": bool(group), "decimals": int(decimals)}


METRIC_DISPLAY = [  # a list: the page shows metrics in this order
    {"key": key, "label": label} | _number_format(fmt)
    for key, (label, fmt) in METRIC_LABELS.items()
]


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    """Render the dashboard; its bootstrap JSON carries the metric labels and ``/api/meta``."""
    templates = request.app.state.templates
    meta = run_meta().model_dump(mode="json")
    context = {"version": __version__, "metric_labels": METRIC_DISPLAY, "meta": meta}
    return templates.TemplateResponse(request, "index.html", context)

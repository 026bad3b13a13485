"""Model against market: ``GET /model-check`` (the page) and ``GET /api/model-check`` (its JSON).

Both serve the report of :func:`engine.modelcheck.cached_model_check` for one source, with the
shipped calibration and the model check's default strategy: computed on a worker thread the
first time (seconds), read from the data dir after. An unknown source is 404; a source without
recorded chains, or an underlying it has none of, is 400 naming the field; a data file of the
source that cannot be read is 409 naming it.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from api.errors import error_response
from api.schemas import ErrorResponse
from cache.datasource import DataNotCoveredError
from cache.files import CorruptFileError
from cache.store import SOURCE_NAME_RE, SourceNotFoundError
from engine import __version__
from engine.config import FieldValueError
from engine.modelcheck import ModelCheckInputError, ModelCheckReport, cached_model_check
from engine.modelcheck.display import backtest_table, chart_data, error_tables

router = APIRouter(tags=["model-check"])

Source = Annotated[
    str,
    Query(
        pattern=SOURCE_NAME_RE.pattern,
        description="a data source holding recorded option chains (thetadesk import-chains)",
    ),
]
Underlying = Annotated[
    Literal["BTC", "ETH"] | None,
    Query(description="one underlying (default: every underlying the source has chains of)"),
]
ERRORS = {
    404: {"model": ErrorResponse, "description": "no data source of this name"},
    400: {
        "model": ErrorResponse,
        "description": "the source holds no recorded chains (of this underlying), or too few",
    },
    409: {"model": ErrorResponse, "description": "a data file of the source cannot be read"},
}


def _report(
    request: Request, source: str, underlying: str | None
) -> tuple[ModelCheckReport, bool] | JSONResponse:
    """The report and whether it was read from disk, or the error response that refuses."""
    try:
        return cached_model_check(
            request.app.state.settings.data_dir,
            source,
            underlyings=[underlying] if underlying else None,
        )
    except SourceNotFoundError as exc:
        return error_response(404, str(exc), [{"field": "source", "message": str(exc)}])
    except CorruptFileError as exc:
        return error_response(409, str(exc))
    except (ModelCheckInputError, DataNotCoveredError, FieldValueError) as exc:
        detail = [{"field": f, "message": str(exc)} for f in exc.fields]
        return error_response(400, str(exc), detail)


@router.get("/api/model-check", response_model=ModelCheckReport, responses=ERRORS)
def get_model_check(request: Request, source: Source, underlying: Underlying = None):
    """The model (vol surface on the IV index, spread model) against a source's recorded chains:
    IV, premium, fill and forward errors by delta and DTE bucket, and the same backtest on the
    recorded chains and on the model chain side by side."""
    found = _report(request, source, underlying)
    return found if isinstance(found, JSONResponse) else found[0]


@router.get("/model-check", response_class=HTMLResponse, include_in_schema=False)
def model_check_page(request: Request, source: Source, underlying: Underlying = None):
    """The model check as a page: what was compared, the tables and one chart."""
    found = _report(request, source, underlying)
    if isinstance(found, JSONResponse):
        return found
    report, from_disk = found
    sections = [
        {
            "check": check,
            "tables": error_tables(check),
            "backtest": backtest_table(check.backtest),
        }
        for check in report.underlyings
    ]
    context = {
        "version": __version__,
        "report": report,
        "from_disk": from_disk,
        "sections": sections,
        "chart": chart_data(report),
    }
    return request.app.state.templates.TemplateResponse(request, "model_check.html", context)

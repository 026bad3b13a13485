"""``/docs``: Swagger UI served from the installed ``swagger-ui-bundle-v2`` package, not a CDN.

FastAPI's own page loads its script, stylesheet and icon from the internet, so the API docs were
blank offline; this page points at the same files shipped inside the package instead.
"""

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

router = APIRouter(include_in_schema=False)
ASSETS_PATH = "/vendor/swagger-ui"
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")  # all the page loads


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    """Render Swagger UI for the app's OpenAPI document."""
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} API",
        swagger_js_url=f"{ASSETS_PATH}/{ASSETS[0]}",
        swagger_css_url=f"{ASSETS_PATH}/{ASSETS[1]}",
        swagger_favicon_url=f"{ASSETS_PATH}/{ASSETS[2]}",
        # Swagger UI would otherwise send the document to an online validator
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get(ASSETS_PATH + "/{name}")
def swagger_asset(name: str) -> FileResponse:
    """One of the files the page loads (only those: the package also holds a demo page)."""
    if name not in ASSETS:
        raise HTTPException(404, detail=f"no such Swagger UI file: {name}")
    return FileResponse(swagger_ui_path / name)

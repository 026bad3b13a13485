"""``GET /api/meta``: what the run tables hold and what the codes in them mean.

The page carries the same object in its bootstrap JSON, so the dashboard formats tables from it
without a second request.
"""

from functools import cache

from fastapi import APIRouter

from api.schemas import MetaResponse
from engine.policy.actions import meta_tables
from engine.results.schema import contract_json

router = APIRouter(tags=["meta"])


@cache
def run_meta() -> MetaResponse:
    """Build the metadata once: it is fixed for the life of the process."""
    return MetaResponse(**contract_json(), **meta_tables())


@router.get("/api/meta", response_model=MetaResponse)
def get_meta() -> MetaResponse:
    """Columns, dtypes and units of every run table, the trade view, actions and close reasons."""
    return run_meta()

"""``GET /api/meta``: what the run tables hold and what the codes in them mean.

The page carries the same object in its bootstrap JSON, so the dashboard formats tables from it
without a second request.
"""

from functools import cache

from fastapi import APIRouter

from api.schemas import MetaResponse
from engine.policy.actions import meta_tables
from engine.results.data_quality import FILL_MODEL_LABELS
from engine.results.schema import contract_json

router = APIRouter(tags=["meta"])


@cache
def run_meta() -> MetaResponse:
    """Build the metadata once: it is fixed for the life of the process."""
    return MetaResponse(**contract_json(), **meta_tables(), fill_models=FILL_MODEL_LABELS)


@router.get("/api/meta", response_model=MetaResponse)
def get_meta() -> MetaResponse:
    """Columns, dtypes and units of the run tables, the trade view, actions and other names."""
    return run_meta()

"""HTTP routes of model operations (scope `admin`): the drift windows, the versions with their split, shadow,
candidates' health, rollbacks and disagreements, and changing a split without a restart.

A split is shared by every front through the database (front/split_sync.py): a PUT to one is served by all
within FINFER_SPLITS_REFRESH_S. (No `from __future__ import annotations`: FastAPI reads the routes' annotations.)
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from finfer.access.guard import Guard
from finfer.errors import openapi_errors
from finfer.front.dataplane import DataPlane
from finfer.front.split_sync import SplitSync
from finfer.settings import Split

ERRORS = openapi_errors(400, 401, 403, 404, 429, 503)


class CandidateHealth(BaseModel):
    answers: int
    error_rate: float
    compared: int
    disagreement_rate: float


class VersionsState(BaseModel):
    versions: Annotated[dict[str, str], Field(description="each built version's model_version")]
    weights: dict[str, int]
    shadow: int | None
    baseline: Annotated[int, Field(description="the version with the most weight: candidates are compared with it")]
    candidates: Annotated[dict[str, CandidateHealth], Field(description="versions with weight other than the baseline")]
    rollbacks: list[dict[str, Any]]
    disagreements: Annotated[list[dict[str, Any]], Field(description="the latest answers that disagreed, kept bounded")]


def admin_router(plane: DataPlane, splits: SplitSync, guard: Guard, json: Callable[[Any], Response]) -> APIRouter:
    router = APIRouter(tags=["operations"])

    def admin(request: Request) -> None:
        guard.check(request.headers.get("authorization"), ("admin",))

    @router.get("/v1/drift", responses=ERRORS)
    async def drift_window(request: Request) -> Response:
        """Each pipeline's drift window (a candidate's as `<pipeline>@v<N>`): PSI, reference and current shares
        per input field and output."""
        admin(request)
        return json({s.drift.pipeline: s.drift.snapshot() for s in plane.every_version() if s.drift is not None})

    @router.get("/v1/admin/versions", response_model=dict[str, VersionsState], responses=ERRORS)
    async def versions(request: Request) -> Response:
        """Each pipeline with candidate versions: its split, its candidates' health, rollbacks and disagreements."""
        admin(request)
        return json({name: v.snapshot() for name, v in plane.versions.items()})

    @router.put("/v1/admin/splits/{pipeline}", response_model=VersionsState, responses=ERRORS)
    async def set_split(
        request: Request, pipeline: Annotated[str, Path(pattern=r"^[a-z_]{1,40}$")], split: Split
    ) -> Response:
        """New weights and shadow for a pipeline's next requests, on every front sharing this one's database
        (503 when it does not answer: nothing changes); the candidates' windows start again."""
        admin(request)
        versions = plane.of(pipeline)
        await splits.put(pipeline, split)
        return json(versions.snapshot())

    return router

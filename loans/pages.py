"""The early-warning pages beside the review queue: the loans in a warning band, and one loan's score over time
(a plot), its statements and its treatment. Server-rendered; the same sign-in and key as the review pages.

(No `from __future__ import annotations` here: FastAPI reads the routes' annotations.)
"""

from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from finfer.access.guard import Guard, Principal
from finfer.loans.ids import ID_PATTERN
from finfer.loans.service import LoanService
from finfer.office.review_pages import PAGE_SIZE, rendered

HERE = FilePath(__file__).parent
TEMPLATES = Environment(
    loader=ChoiceLoader([FileSystemLoader(HERE / "templates"), FileSystemLoader(HERE.parent / "office" / "templates")]),
    autoescape=select_autoescape(["html"]),
)
SCOPES = ("loans", "reviews:read")
PLOT_WIDTH, PLOT_HEIGHT, MARGIN = 640, 220, 32


def plot(statements: list[dict[str, Any]], warning_from: float) -> dict[str, Any]:
    """The loan's probability by period as SVG coordinates: x by statement, y from 0 (bottom) to 1 (top)."""
    scored = [s for s in statements if s["probability_of_default"] is not None]
    step = (PLOT_WIDTH - 2 * MARGIN) / max(len(scored) - 1, 1)

    def y(probability: float) -> float:
        return round(PLOT_HEIGHT - MARGIN - probability * (PLOT_HEIGHT - 2 * MARGIN), 1)

    points = [
        {
            "x": round(MARGIN + i * step, 1),
            "y": y(s["probability_of_default"]),
            "period": s["period"],
            "probability": s["probability_of_default"],
        }
        for i, s in enumerate(scored)
    ]
    return {
        "width": PLOT_WIDTH,
        "height": PLOT_HEIGHT,
        "points": points,
        "line": " ".join(f"{p['x']},{p['y']}" for p in points),
        "warning_y": y(warning_from),
        "ticks": [{"y": y(v), "label": f"{v:.0%}"} for v in (0.0, 0.5, 1.0)],
        "left": MARGIN,
        "right": PLOT_WIDTH - MARGIN,
    }


def warning_pages(service: LoanService, guard: Guard) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def html(name: str, status: int = 200, **values: Any) -> HTMLResponse:
        return HTMLResponse(TEMPLATES.get_template(name).render(**values), status_code=status)

    @router.get("/review/loans")
    async def queue(request: Request, band: str | None = None, page_number: int = 1) -> Response:
        async def render(who: Principal) -> Response:
            first = max(1, page_number)
            found = await service.warnings(band or None, first, PAGE_SIZE) | {"page": first}
            return html("warnings.html", who=who.name, band=band, **found)

        return await rendered(request, guard, SCOPES, render)

    @router.get("/review/loans/{loan_id}")
    async def loan(request: Request, loan_id: Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]) -> Response:
        async def render(who: Principal) -> Response:
            found = await service.loan(loan_id)
            drawn = plot(found["statements"], service.treatments.warning_from())
            return html("loan.html", who=who.name, loan=found, plot=drawn)

        return await rendered(request, guard, SCOPES, render)

    return router

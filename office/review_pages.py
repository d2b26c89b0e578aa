"""The review pages: the queue and a case, server-rendered, for a reviewer who would rather look than read JSON.

The same store calls and the same access check as the JSON routes; a browser carries its key in an HttpOnly,
SameSite=Strict cookie set by the sign-in form (so no other site can post a review with it).
"""

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from finfer.access.guard import Guard, Principal
from finfer.application.branches import BRANCH_NAMES
from finfer.errors import FrontError, Unauthenticated
from finfer.office.records_api import CaseId, Records
from finfer.store.application_record import PERSONAL_FIELDS

COOKIE = "finfer_key"
PAGE_SIZE = 20
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)


def _page(name: str, status: int = 200, **values: Any) -> HTMLResponse:
    return HTMLResponse(TEMPLATES.get_template(name).render(**values), status_code=status)


async def rendered(
    request: Request, guard: Guard, scopes: tuple[str, ...], render: Callable[[Principal], Awaitable[Response]]
) -> Response:
    """`render(principal)` behind the access check, with the key of the sign-in cookie (or the header): sign in
    when there is no key, the refusal as a page."""
    key = request.cookies.get(COOKIE)
    try:
        return await render(guard.check(f"Bearer {key}" if key else request.headers.get("authorization"), scopes))
    except Unauthenticated:
        return RedirectResponse("/review/login", status_code=303)
    except FrontError as error:
        return _page("base.html", error.http_status, who="", error=error.message)


def review_pages(records: Records, guard: Guard) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    store = records.store

    @router.get("/review")
    async def queue(request: Request, reason: str | None = None, page: int = 1) -> Response:
        async def render(who: Principal) -> Response:
            code, first = (reason or "").strip().upper() or None, max(1, page)
            cases, total = await records.call(store.cases, "open", code, first, PAGE_SIZE)
            mine, _ = await records.call(store.cases, "claimed", None, 1, 100, who.name)
            values = {"cases": cases, "total": total, "mine": mine, "reason": code, "page": first}
            return _page("queue.html", who=who.name, page_size=PAGE_SIZE, **values)

        return await rendered(request, guard, ("reviews:read",), render)

    @router.get("/review/cases/{case_id}")
    async def case(request: Request, case_id: CaseId) -> Response:
        async def render(who: Principal) -> Response:
            found = await records.call(store.case, case_id)
            values = {"case": found, "personal": PERSONAL_FIELDS, "branch_order": BRANCH_NAMES}
            return _page("case.html", who=who.name, **values)

        return await rendered(request, guard, ("reviews:read",), render)

    @router.post("/review/cases/{case_id}/claim")
    async def claim(request: Request, case_id: CaseId) -> Response:
        async def render(who: Principal) -> Response:
            await records.call(store.claim, case_id, who.name)
            return RedirectResponse(f"/review/cases/{case_id}", status_code=303)

        return await rendered(request, guard, ("reviews:write",), render)

    @router.post("/review/cases/{case_id}/resolve")
    async def resolve(
        request: Request, case_id: CaseId, outcome: Annotated[str, Form()], note: Annotated[str, Form()] = ""
    ) -> Response:
        async def render(who: Principal) -> Response:
            if outcome not in ("approve", "decline"):
                return _page("base.html", 400, who=who.name, error="outcome: must be approve or decline")
            await records.call(store.resolve, case_id, who.name, outcome, note[:2000])
            return RedirectResponse("/review", status_code=303)

        return await rendered(request, guard, ("reviews:write",), render)

    @router.get("/review/login")
    async def login_form() -> Response:
        return _page("login.html", who="")

    @router.post("/review/login")
    async def login(key: Annotated[str, Form()]) -> Response:
        try:
            guard.check(f"Bearer {key.strip()}", ("reviews:read",))
        except FrontError as error:
            return _page("login.html", error.http_status, who="", error=error.message)
        response = RedirectResponse("/review", status_code=303)
        response.set_cookie(COOKIE, key.strip(), httponly=True, samesite="strict", path="/review")
        return response

    return router

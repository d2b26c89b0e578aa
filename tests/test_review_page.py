"""The review page in a real browser: Debian's chromium driven by Playwright (no browser download). A reviewer
opens the queue, opens a case, reads the decision, claims it, approves it, and sees it leave the queue."""

from __future__ import annotations

from typing import Any

import pytest

from finfer.application.examples import applications
from tests.conftest import Front
from tests.helpers import call, post


@pytest.fixture(scope="module")
def referred(front: Front) -> dict[str, Any]:
    """An application with a contract page and a photo that the policy sent to review."""
    for body in applications(80, seed=7300, shape="images"):
        status, answer = post(f"{front.http_url}/v1/applications", body)
        assert status == 200, answer
        if answer["decision"] == "review":
            return answer | {"application_id": body["application_id"]}
    pytest.fail("none of 80 applications reached the review band")


def test_a_reviewer_resolves_a_case_in_the_browser(browser, front: Front, referred: dict[str, Any]) -> None:
    application_id = referred["application_id"]
    page = browser.new_page()
    page.goto(f"{front.http_url}/review?page_size=20")
    assert page.title().startswith("Review queue")
    # The queue is oldest first and paged: find the case by its reason code filter and application id.
    page.fill("input[name=reason]", referred["reasons"][0]["code"])
    page.click("text=Filter")
    link = page.locator("#open tr", has_text=application_id).locator("a")
    while link.count() == 0:
        older = page.locator("text=older →")
        assert older.count(), f"{application_id} is not in the queue"
        older.click()
        link = page.locator("#open tr", has_text=application_id).locator("a")
    link.click()

    assert application_id in page.inner_text("h2")
    assert page.inner_text(".decision").strip().lower() == "review"
    shown = [item.inner_text() for item in page.locator("#reasons li").all()]
    assert [text.split()[0] for text in shown] == [r["code"] for r in referred["reasons"]]  # in the decision's order
    documents = page.inner_text("#documents")
    assert "contract" in documents and ("valid" in documents or "no field read" in documents)
    assert page.locator("text=Vehicle damage").count() == 1

    page.click("#claim")
    assert page.inner_text("#status") == "claimed"
    page.fill("#note", "income and contract checked by phone")
    page.click("#approve")
    page.wait_for_url(f"{front.http_url}/review")
    assert page.locator("#open tr", has_text=application_id).count() == 0
    assert page.locator("#mine").count() == 0 or page.locator("#mine tr", has_text=application_id).count() == 0
    page.close()

    status, record, _ = call(f"{front.http_url}/v1/applications/{application_id}")
    assert status == 200 and record["final_decision"] == "approve"
    assert record["case"]["resolved_by"] == "local" and record["trail"][-1]["kind"] == "review"

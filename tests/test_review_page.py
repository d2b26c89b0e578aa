"""The review page in a real browser: Debian's chromium driven by Playwright (no browser download). A reviewer
opens the queue, opens a case, reads the decision, claims it, approves it, and sees it leave the queue."""

from __future__ import annotations

import base64
import random
from typing import Any

import pytest

from finfer.application.examples import applications
from finfer.models.documents.kinds import BY_NAME
from finfer.models.documents.training.pages import render
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


def open_case(page: Any, front: Front, reason: str, application_id: str) -> None:
    """The queue is oldest first and paged: find the case by its reason code filter and application id."""
    page.goto(f"{front.http_url}/review?page_size=20")
    assert page.title().startswith("Review queue")
    page.fill("input[name=reason]", reason)
    page.click("text=Filter")
    link = page.locator("#open tr", has_text=application_id).locator("a")
    while link.count() == 0:
        older = page.locator("text=older →")
        assert older.count(), f"{application_id} is not in the queue"
        older.click()
        link = page.locator("#open tr", has_text=application_id).locator("a")
    link.click()


def test_a_reviewer_resolves_a_case_in_the_browser(browser, front: Front, referred: dict[str, Any]) -> None:
    application_id = referred["application_id"]
    page = browser.new_page()
    open_case(page, front, referred["reasons"][0]["code"], application_id)

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


def test_a_case_shows_each_page_its_kind_its_checked_fields_and_the_findings_that_cite_it(browser, front: Front):
    """A purchase invoice sent as a pay slip, its seller's credit code printed with a wrong check character."""
    invoice = render(BY_NAME["purchase_invoice"], random.Random(8), given={"seller_code": "91350100M000100Y44"})
    for body in applications(40, seed=7400, shape="plain"):
        body["documents"] = [{"kind": "pay_slip", "image_base64": base64.b64encode(invoice.image).decode()}]
        status, answer = post(f"{front.http_url}/v1/applications", body)
        assert status == 200, answer
        if answer["decision"] == "review":
            break
    else:
        pytest.fail("none of 40 applications reached the review band")
    assert {"KIND_MISMATCH", "CHECKSUM_INVALID"} <= {r["code"] for r in answer["reasons"]}
    page = browser.new_page()
    open_case(page, front, "KIND_MISMATCH", body["application_id"])
    heading = page.inner_text("#documents tr.page")
    assert "purchase_invoice" in heading and "sent as pay_slip" in heading
    assert "KIND_MISMATCH" in heading and "CHECKSUM_INVALID" in heading
    seller = page.locator("#documents tr", has_text="seller_code")
    assert "91350100M000100Y44" in seller.inner_text() and "✗ invalid" in seller.inner_text()
    buyer = page.locator("#documents tr", has_text="buyer").first
    assert "digest" in buyer.inner_text()  # a name reaches the record, and the page, only as a digest
    page.close()

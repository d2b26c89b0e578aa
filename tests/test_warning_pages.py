"""The early-warning pages in a real browser (Debian's chromium through Playwright): the queue lists a loan whose
score crossed the warning band, and its page plots every month's score beside its statements and treatment."""

from __future__ import annotations

from tests.conftest import Front
from tests.helpers import get, post


def test_a_warned_loan_is_listed_and_its_page_plots_its_months(browser, front: Front) -> None:
    loan_id = "page-1"
    origination = {"limit": 30_000.0, "age": 29, "education": 3}
    assert post(f"{front.http_url}/v1/loans", {"loan_id": loan_id, "origination": origination})[0] == 200
    for month in range(1, 6):
        body = {
            "statement_id": f"p{month}",
            "period": f"2026-0{month}",
            "balance": 29_000.0,
            "paid": 0.0,
            "status": min(month, 2),
            "message_intent": "overdue_negotiation" if month == 5 else None,
        }
        body = {k: v for k, v in body.items() if v is not None}
        status, update = post(f"{front.http_url}/v1/loans/{loan_id}/statements", body)
        assert status == 200, update
    assert update["treatment"]["band"] in ("warning", "high")
    _, loan = get(f"{front.http_url}/v1/loans/{loan_id}")

    page = browser.new_page()
    page.goto(f"{front.http_url}/review/loans")
    assert page.title().startswith("Early warnings")
    row = page.locator("#warnings tr", has_text=loan_id)
    while row.count() == 0:
        older = page.locator("text=older →")
        assert older.count(), f"{loan_id} is not in the warning queue"
        older.click()
        row = page.locator("#warnings tr", has_text=loan_id)
    assert update["treatment"]["action"] in row.inner_text()
    row.locator("a").click()

    assert loan_id in page.inner_text("h2")
    assert page.inner_text("#action") == loan["treatment"]["action"] == update["treatment"]["action"]
    assert page.inner_text("#band") == loan["band"]
    assert page.locator("#plot circle.point").count() == 5
    heights = [float(c.get_attribute("cy")) for c in page.locator("#plot circle.point").all()]
    # Higher on the page is a higher probability: the plot follows the API's scores month by month.
    scores = [s["probability_of_default"] for s in loan["statements"]]
    assert sorted(range(5), key=lambda i: heights[i]) == sorted(range(5), key=lambda i: -scores[i])
    months = [r.inner_text().split("\t")[0] for r in page.locator("#statements tr").all()[1:]]
    assert months == [f"2026-0{m}" for m in range(1, 6)]
    page.close()

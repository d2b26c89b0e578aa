"""The loan store dies under statement load: statements get 503 with Retry-After (never a 500 or a hang), every
statement answered 200 is kept, and once the database is back, sending the refused ones again leaves every loan's
scores equal to a clean replay of its statements."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from finfer.loadtest import stack
from finfer.settings import Settings
from tests.conftest import front_of, wait_until
from tests.helpers import call, get, post

ORIGINATION = {"limit": 40_000.0, "age": 41, "education": 3}
LOANS = 6
MONTHS = 12


def statement(month: int) -> dict:
    return {
        "statement_id": f"m{month}",
        "period": f"2025-{month:02d}",
        "balance": 2_000.0 * month,
        "paid": 500.0 if month % 3 else 0.0,
        "status": month % 4 - 1,
    }


@pytest.fixture
def dying_postgres() -> Iterator[stack.PostgresServer]:
    """A PostgreSQL of the test's own: the test kills it."""
    with stack.PostgresServer() as server:
        yield server


def scores(url: str, loan_id: str) -> dict[str, float]:
    status, loan = get(f"{url}/v1/loans/{loan_id}")
    assert status == 200, loan
    return {s["period"]: s["probability_of_default"] for s in loan["statements"]}


def test_a_dead_database_answers_503_and_loses_no_statement(
    settings: Settings, triton, dying_postgres: stack.PostgresServer, tmp_path: Path
):
    postgres = dying_postgres
    database = postgres.create_database("loans")
    with front_of(settings, tmp_path, database_url=database, database_timeout_s=1.0) as own:
        url = f"http://127.0.0.1:{own.http_port}"
        for i in range(LOANS):
            assert post(f"{url}/v1/loans", {"loan_id": f"F-{i}", "origination": ORIGINATION})[0] == 200
        answered: dict[tuple[int, int], int] = {}

        dead, back = threading.Event(), threading.Event()

        def servicing(loan: int) -> None:
            """One loan's months in order, each sent once (a 503 is sent again at the end). Months 1-4 go while the
            database is killed, 5-8 while it is dead, 9-12 once it is back."""
            for month in range(1, MONTHS + 1):
                if month in (5, 9):
                    assert (dead if month == 5 else back).wait(60)
                status, body, headers = call(f"{url}/v1/loans/F-{loan}/statements", statement(month))
                assert status in (200, 503), (status, body)
                if status == 503:
                    assert (
                        int({k.lower(): v for k, v in headers.items()}["retry-after"]) >= 1
                        and body["error"]["code"] == "unavailable"
                    )
                answered[loan, month] = status
                time.sleep(0.15)

        with ThreadPoolExecutor(LOANS) as pool:
            running = [pool.submit(servicing, i) for i in range(LOANS)]
            wait_until(lambda: len(answered) >= 2 * LOANS, 30, "statements before the kill")
            postgres.stop("immediate")
            dead.set()
            dead_months = [(loan, month) for loan in range(LOANS) for month in (5, 6, 7, 8)]
            wait_until(
                lambda: all(key in answered for key in dead_months), 60, "months sent while the database is down"
            )
            postgres.start()
            back.set()
            for done in running:
                done.result(timeout=120)
        refused = [key for key, status in answered.items() if status == 503]
        assert len(answered) == LOANS * MONTHS
        assert all(answered[loan, month] == 503 for loan in range(LOANS) for month in (5, 6, 7, 8))
        # Every statement answered 200 is in the store; the refused ones may be (taken, then not scored) or not.
        for loan in range(LOANS):
            kept = scores(url, f"F-{loan}")
            for month in range(1, MONTHS + 1):
                if answered[loan, month] == 200:
                    assert kept[f"2025-{month:02d}"] is not None
        for loan, month in refused:  # the servicing system sends them again, now out of order
            status, body = post(f"{url}/v1/loans/F-{loan}/statements", statement(month))
            assert status == 200, body
        assert post(f"{url}/v1/loans", {"loan_id": "clean", "origination": ORIGINATION})[0] == 200
        for month in range(1, MONTHS + 1):
            assert post(f"{url}/v1/loans/clean/statements", statement(month))[0] == 200
        clean = scores(url, "clean")
        for loan in range(LOANS):
            assert scores(url, f"F-{loan}") == pytest.approx(clean, abs=1e-9)


def test_two_fronts_on_one_database_give_one_loan_the_same_scores(settings: Settings, triton, postgres, tmp_path):
    database = postgres.create_database("shared")
    with (
        front_of(settings, tmp_path / "a", database_url=database) as front_a,
        front_of(settings, tmp_path / "b", database_url=database) as front_b,
    ):
        a, b = (f"http://127.0.0.1:{own.http_port}" for own in (front_a, front_b))
        assert post(f"{a}/v1/loans", {"loan_id": "both", "origination": ORIGINATION})[0] == 200
        assert post(f"{b}/v1/loans", {"loan_id": "both", "origination": ORIGINATION})[1]["created"] is False
        # Months sent to both fronts at once, each front's share in reverse: late months and races across fronts.
        shares = ([m for m in range(MONTHS, 0, -1) if m % 2], [m for m in range(MONTHS, 0, -1) if not m % 2])

        def send(url: str, months: list[int]) -> list[int]:
            return [post(f"{url}/v1/loans/both/statements", statement(m))[0] for m in months]

        with ThreadPoolExecutor(2) as pool:
            statuses = list(pool.map(send, (a, b), shares))
        assert all(status == 200 for share in statuses for status in share), statuses
        assert scores(a, "both") == scores(b, "both")
        history = [{k: v for k, v in statement(m).items() if k != "statement_id"} for m in range(1, MONTHS + 1)]
        status, clean = post(f"{a}/v1/loans/score", {"origination": ORIGINATION, "statements": history})
        assert status == 200 and scores(b, "both")["2025-12"] == pytest.approx(
            clean["probability_of_default"], abs=1e-9
        )

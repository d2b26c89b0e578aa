"""The one retry loop every SDK client uses: Unavailable is retried, anything else is not."""

from __future__ import annotations

import asyncio

import pytest

from finfer.clients.errors import InvalidRequest, Unavailable
from finfer.clients.retry import RetryPolicy

POLICY = RetryPolicy(attempts=3, backoff_s=0.001)


def flaky(failures: list[Exception]):
    calls = []

    def call() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return "ok"

    return call, calls


def test_unavailable_is_retried_until_an_answer():
    call, calls = flaky([Unavailable("down"), Unavailable("down")])
    assert POLICY.run(call) == "ok"
    assert len(calls) == 3


def test_the_last_unavailable_propagates_after_every_attempt():
    call, calls = flaky([Unavailable("down")] * 5)
    with pytest.raises(Unavailable):
        POLICY.run(call)
    assert len(calls) == 3


def test_other_errors_are_not_retried():
    call, calls = flaky([InvalidRequest("age: must be a number")])
    with pytest.raises(InvalidRequest):
        POLICY.run(call)
    assert len(calls) == 1


def test_the_async_loop_behaves_the_same():
    call, calls = flaky([Unavailable("down")] * 5)

    async def attempt() -> str:
        return call()

    with pytest.raises(Unavailable):
        asyncio.run(POLICY.run_async(attempt))
    assert len(calls) == 3

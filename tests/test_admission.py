"""Admission control of heavy requests (front/admission.py), without a server."""

import asyncio

import pytest

from finfer.errors import Unavailable
from finfer.front import metrics
from finfer.front.admission import Gate
from finfer.pipelines.declaration import AdmissionBound


def refused(pipeline: str, reason: str) -> float:
    return metrics.REGISTRY.get_sample_value("finfer_admission_refused_total", {"pipeline": pipeline, "reason": reason})


def gauge(name: str, pipeline: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, {"pipeline": pipeline})


def test_no_more_than_the_bound_run_at_once_and_waiters_go_in_order():
    gate = Gate("t_order", AdmissionBound(in_flight=2, queue=10, wait_s=5), retry_after_s=1)
    running, most, started = 0, 0, []

    async def request(i: int) -> None:
        nonlocal running, most
        async with gate.admitted():
            started.append(i)
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.01)
            running -= 1

    async def main() -> None:
        tasks = [asyncio.create_task(request(i)) for i in range(8)]
        await asyncio.sleep(0)  # all eight have arrived: two run, six wait
        assert gauge("finfer_admission_in_flight", "t_order") == 2
        assert gauge("finfer_admission_queued", "t_order") == 6
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert most == 2
    assert started == list(range(8))
    assert gate.in_flight == 0 and not gate.waiting
    assert gauge("finfer_admission_in_flight", "t_order") == 0


def test_past_the_queue_a_request_is_refused_at_once_with_retry_after():
    gate = Gate("t_full", AdmissionBound(in_flight=1, queue=1, wait_s=5), retry_after_s=3)

    async def main() -> None:
        release = asyncio.Event()

        async def hold() -> None:
            async with gate.admitted():
                await release.wait()

        holder, waiter = asyncio.create_task(hold()), asyncio.create_task(hold())
        await asyncio.sleep(0)
        with pytest.raises(Unavailable) as error:
            async with gate.admitted():
                pass
        release.set()
        await asyncio.gather(holder, waiter)
        return error.value

    error = asyncio.run(main())
    assert error.retry_after_s == 3
    assert "t_full" in error.message and "1 waiting" in error.message
    assert refused("t_full", "queue_full") == 1
    assert gate.in_flight == 0


def test_a_wait_past_its_deadline_is_refused_and_leaks_no_place():
    gate = Gate("t_wait", AdmissionBound(in_flight=1, queue=4, wait_s=0.05), retry_after_s=1)

    async def main() -> None:
        release = asyncio.Event()

        async def hold() -> None:
            async with gate.admitted():
                await release.wait()

        holder = asyncio.create_task(hold())
        await asyncio.sleep(0)
        with pytest.raises(Unavailable, match="no place freed within 0.05 s"):
            async with gate.admitted():
                pass
        release.set()
        await holder
        async with gate.admitted():  # the place is free again
            assert gate.in_flight == 1

    asyncio.run(main())
    assert refused("t_wait", "wait") == 1
    assert gate.in_flight == 0 and not gate.waiting


def test_a_cancelled_waiter_gives_up_its_turn_and_the_next_one_runs():
    gate = Gate("t_cancel", AdmissionBound(in_flight=1, queue=4, wait_s=5), retry_after_s=1)
    ran = []

    async def main() -> None:
        release = asyncio.Event()

        async def request(name: str, wait: bool) -> None:
            async with gate.admitted():
                ran.append(name)
                if wait:
                    await release.wait()

        holder = asyncio.create_task(request("holder", True))
        await asyncio.sleep(0)
        gone = asyncio.create_task(request("gone", False))
        last = asyncio.create_task(request("last", False))
        await asyncio.sleep(0)
        gone.cancel()  # a client that hung up while waiting
        release.set()
        await asyncio.gather(holder, last)
        with pytest.raises(asyncio.CancelledError):
            await gone

    asyncio.run(main())
    assert ran == ["holder", "last"]
    assert gate.in_flight == 0 and not gate.waiting

import asyncio

import pytest

from finfer.front.coalescer import Coalescer


def run(coro):
    return asyncio.run(coro)


def test_concurrent_submissions_share_calls_and_keep_order():
    calls: list[list[int]] = []

    async def call(rows):
        calls.append(list(rows))
        await asyncio.sleep(0.01)
        return [r * 10 for r in rows]

    async def main():
        coalescer = Coalescer(call, max_rows=100, max_inflight=1)
        return await asyncio.gather(*(coalescer.submit([i, i + 1000]) for i in range(20)))

    results = run(main())
    assert results == [[i * 10, (i + 1000) * 10] for i in range(20)]
    # One call goes out at once, the other 19 requests wait and leave together.
    assert len(calls) <= 2
    assert sum(len(c) for c in calls) == 40


def test_max_rows_splits_large_submissions():
    sizes: list[int] = []

    async def call(rows):
        sizes.append(len(rows))
        return list(rows)

    async def main():
        coalescer = Coalescer(call, max_rows=4, max_inflight=2)
        return await coalescer.submit(list(range(10)))

    assert run(main()) == list(range(10))
    assert sorted(sizes) == [2, 4, 4]


def test_failure_reaches_every_waiter_and_the_next_call_works():
    attempts = 0

    async def call(rows):
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("triton down")
        return list(rows)

    async def main():
        coalescer = Coalescer(call, max_rows=10, max_inflight=1)
        first = await asyncio.gather(*(coalescer.submit([i]) for i in range(3)), return_exceptions=True)
        second = await coalescer.submit([7])
        return first, second

    first, second = run(main())
    assert all(isinstance(r, ConnectionError) for r in first)
    assert second == [7]


def test_rejects_nothing_silently():
    async def call(rows):
        return list(rows)[:-1]  # a broken upstream that drops a row

    async def main():
        coalescer = Coalescer(call, max_rows=10, max_inflight=1)
        return await asyncio.gather(coalescer.submit([1]), coalescer.submit([2]))

    with pytest.raises(ValueError, match="answered 1 rows for 2"):
        run(main())


def test_a_refused_merged_call_is_sent_again_a_request_at_a_time_and_only_the_bad_one_fails():
    from finfer.errors import InvalidArgument

    calls: list[list[int]] = []

    async def call(rows):
        calls.append(list(rows))
        await asyncio.sleep(0.01)
        if any(r < 0 for r in rows):
            raise InvalidArgument("image: corrupt", "image")
        return [r * 10 for r in rows]

    async def main():
        coalescer = Coalescer(call, max_rows=10, max_inflight=1)
        first = asyncio.ensure_future(coalescer.submit([0]))  # goes out alone, the others wait for it
        await asyncio.sleep(0)
        rest = await asyncio.gather(*(coalescer.submit([r]) for r in (1, -1, 2)), return_exceptions=True)
        return [await first, *rest]

    results = run(main())
    assert results[0] == [0] and results[1] == [10] and results[3] == [20]
    assert isinstance(results[2], InvalidArgument) and results[2].field == "image"
    # The merged call [1, -1, 2] was refused, then each request went alone.
    assert calls[1] == [1, -1, 2] and sorted(calls[2:]) == [[-1], [1], [2]]

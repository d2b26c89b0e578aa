"""What loans in servicing cost: statements through the front, and a portfolio's rescore in batch through Triton.

Statements: 1, 8 and `--clients` closed-loop clients over HTTP, each sending its own loans' statements month after month
(every statement is taken into the store, scored through Triton with its loan's window, treated and written back),
against a front on SQLite and one on PostgreSQL. Rescore: `behaviour_score` called straight on Triton with batches
of 256 loans (a portfolio's windows; the front's batch route would answer repeats from its cache). The state's size: the
PostgreSQL tables' bytes a loan and a statement after the run, and what 10 million loans of a year each would take.

python -m finfer.loadtest.loans_bench [--duration 15]  →  loadtest/results/loans.{md,json}
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
import sqlalchemy as sa
from tritonclient.grpc.service_pb2_grpc import GRPCInferenceServiceStub

from finfer import paths
from finfer.loadtest import stack
from finfer.loadtest.scenario import Result, Send, grpc_sender, run_scenario
from finfer.pipelines import behaviour
from finfer.settings import Settings

MONTHS_A_LOAN = 12
BATCH = 256


def random_statement(rng: random.Random, month: int) -> dict:
    """Month `month` (0 to 11) of 2025 for some loan: a balance, a payment and a status drawn at random."""
    return {
        "statement_id": f"s{month + 1}",
        "period": f"2025-{month + 1:02d}",
        "balance": float(rng.randrange(0, 40_000)),
        "paid": float(rng.choice((0, 500, 2_000, 10_000))),
        "status": rng.choice((-1, 0, 0, 0, 1, 2)),
    }


def statement_sender(url: str, clients: int, run: str) -> Callable[[], Awaitable[tuple[Send, Callable]]]:
    """A servicing system's month: statements of many loans at once, each loan's months one after another.
    Statement i goes to one of `4 × clients` loans in turn (months of one loan are that many statements apart, so
    they do not overlap), month after month of 2025; after twelve months the next loans start. A loan is opened
    ahead of its first statement, untimed."""

    async def make() -> tuple[Send, Callable[[], Awaitable[None]]]:
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients * 2))
        headers = {"content-type": "application/json"}
        rng = random.Random(run)
        opened: dict[int, asyncio.Task] = {}

        async def open_loan(loan: int) -> None:
            origination = {"limit": float(rng.choice((20_000, 50_000, 120_000))), "age": 25 + loan % 40, "education": 2}
            body = orjson.dumps({"loan_id": f"{run}-{loan}", "origination": origination})
            async with session.post(f"{url}/v1/loans", data=body, headers=headers) as response:
                await response.read()

        def ahead(loan: int) -> asyncio.Task:
            if loan not in opened:
                opened[loan] = asyncio.ensure_future(open_loan(loan))
            return opened[loan]

        width = 4 * clients

        async def send(i: int) -> None:
            round_, at = divmod(i, width * MONTHS_A_LOAN)
            month, slot = divmod(at, width)
            loan = round_ * width + slot
            await ahead(loan)
            ahead(loan + width)  # the loan sent after this one's twelfth month is opened meanwhile
            body = random_statement(rng, month)
            path = f"{url}/v1/loans/{run}-{loan}/statements"
            async with session.post(path, data=orjson.dumps(body), headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(response.status)

        return send, session.close

    return make


def batch_sender(url: str, clients: int, run: str, settings: Settings, loans: int = 8192):
    """Batches of BATCH statements of BATCH loans each, a month of theirs at a time (the route `finfer loans rescore`
    sends to). Loan blocks take turns as in `statement_sender`, so one loan's months never overlap. The loans are
    opened in the store before the clock starts."""

    async def make() -> tuple[Send, Callable[[], Awaitable[None]]]:
        import aiohttp

        await asyncio.to_thread(open_loans, settings, run, loans)
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients))
        headers = {"content-type": "application/json"}
        rng = random.Random(run)
        width = 2 * clients

        async def send(i: int) -> None:
            round_, at = divmod(i, width * MONTHS_A_LOAN)
            month, slot = divmod(at, width)
            first = (round_ * width + slot) * BATCH
            statements = [
                {"loan_id": f"{run}-{(first + k) % loans}", **random_statement(rng, month)} for k in range(BATCH)
            ]
            body = orjson.dumps({"statements": statements})
            async with session.post(f"{url}/v1/loans/statements:batch", data=body, headers=headers) as response:
                answer = await response.read()
                if response.status != 200 or b'"error"' in answer:
                    raise RuntimeError(response.status)

        return send, session.close

    return make


def open_loans(settings: Settings, run: str, loans: int) -> None:
    from finfer.store.database import connect
    from finfer.store.loans import Ledger

    engine = connect(settings)
    ledger = Ledger(engine)
    for loan in range(loans):
        ledger.open(f"{run}-{loan}", {"limit": 50_000.0, "age": 25 + loan % 40, "education": 2})
    engine.dispose()


def state_size(url: str) -> dict[str, float]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as connection:
        loans = connection.execute(sa.text("SELECT count(*) FROM loans")).scalar() or 1
        statements = connection.execute(sa.text("SELECT count(*) FROM statements")).scalar() or 1
        loan_bytes = connection.execute(sa.text("SELECT pg_total_relation_size('loans')")).scalar()
        statement_bytes = connection.execute(sa.text("SELECT pg_total_relation_size('statements')")).scalar()
    engine.dispose()
    per_loan, per_statement = loan_bytes / loans, statement_bytes / statements
    return {
        "loans": loans,
        "statements": statements,
        "bytes_a_loan": per_loan,
        "bytes_a_statement": per_statement,
        "ten_million_loans_a_year_gib": 10_000_000 * (per_loan + MONTHS_A_LOAN * per_statement) / 2**30,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds a scenario")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--out", type=Path, default=paths.LOADTEST_RESULTS)
    args = parser.parse_args()
    repository = Settings().model_repository
    if not behaviour.PIPELINE.is_built(repository):
        raise SystemExit(f"build the behaviour family first: finfer build --family behaviour --out {repository}")
    state = paths.STATE_DIR / "loans-bench"
    shutil.rmtree(state, ignore_errors=True)  # a run's loans and statements start from none
    base = stack.bench_settings(repository, state)
    results: list[Result] = []
    with stack.triton(base) as triton, stack.PostgresServer() as postgres, contextlib.ExitStack() as fronts:
        database = postgres.create_database("loans")
        live = {}
        for name, update in (("SQLite", {}), ("PostgreSQL", {"database_url": database})):
            http, grpc_port = stack.free_ports(2)
            own = base.model_copy(
                update={**update, "http_port": http, "grpc_port": grpc_port, "state_dir": state / name}
            )
            live[name] = (own, fronts.enter_context(stack.front(own)))
        for name, (own, front) in live.items():
            url = f"http://127.0.0.1:{own.http_port}"
            pids = {"front": front.pid, "triton": triton.pid}
            for clients in sorted({1, 8, args.clients}):
                send = statement_sender(url, clients, f"{name}-{clients}")
                label = f"statements, {name}, {clients} clients"
                results.append(run_scenario(label, label, send, clients, args.duration, pids, model="behaviour"))
            send = batch_sender(url, 2, f"{name}-batch", own)
            label = f"statements in batches of {BATCH}, {name}, 2 clients"
            results.append(run_scenario(label, label, send, 2, args.duration, pids, rows_per_request=BATCH))
        own, front = live["SQLite"]
        pids = {"front": front.pid, "triton": triton.pid}
        loans = behaviour.PIPELINE.examples(BATCH * 40, 4)
        batches = [
            direct_requests_batch(behaviour.PIPELINE, own.model_repository, loans[i : i + BATCH])
            for i in range(0, len(loans), BATCH)
        ]
        send = grpc_sender(own.triton_grpc_url, GRPCInferenceServiceStub, "ModelInfer", batches)
        label = f"rescore, Triton direct, batches of {BATCH}"
        results.append(run_scenario(label, label, send, 4, args.duration, pids, rows_per_request=BATCH))
        size = state_size(database)
    write(args.out, results, size, args)
    return 0


def direct_requests_batch(pipeline, repository: Path, loans: list[dict]):
    """One Triton request holding every loan of `loans` (the codec's own tensors, batch dimension first)."""
    from finfer.front.upstream import infer_request

    codec = pipeline.load(repository)
    rows = [codec.row(loan) for loan in loans]
    return infer_request(pipeline.triton_model, pipeline.infer_inputs(codec.encode(rows)))


def write(out: Path, results: list[Result], size: dict[str, float], args: argparse.Namespace) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = {"results": [r.as_json() for r in results], "state": size, "duration_s": args.duration}
    (out / "loans.json").write_text(json.dumps(data, indent=2))
    lines = [
        "# Loans in servicing: statements and rescoring",
        "",
        f"`python -m finfer.loadtest.loans_bench --duration {args.duration:g}` on this machine (2 cores, no GPU, the",
        "load generator on the same cores), full-profile repository, one embedded Triton. Latency is a request's:",
        "one statement, or a batch of them.",
        "",
        "| scenario | statements or loans/s | p50 ms | p95 ms | errors | front µs/statement | Triton µs/statement |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        cpu = {k: v / r.rows_per_request for k, v in r.cpu_us_per_request.items()}
        lines.append(
            f"| {r.description} | {r.rows_per_s:.0f} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | {r.errors} | "
            f"{cpu.get('front', 0):.0f} | {cpu.get('triton', 0):.0f} |"
        )
    lines += [
        "",
        f"State in PostgreSQL after the run: {size['loans']:.0f} loans, {size['statements']:.0f} statements; "
        f"{size['bytes_a_loan']:.0f} bytes a loan and {size['bytes_a_statement']:.0f} bytes a statement, indexes "
        f"included. Ten million loans with a year of statements each: {size['ten_million_loans_a_year_gib']:.0f} GiB.",
    ]
    (out / "loans.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())

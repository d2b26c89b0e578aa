"""Locust users for every pipeline in the registry: HTTP (FastHttpUser) and gRPC (an interceptor firing
events.request). Both draw requests from the declarations' own generators and mix pipelines by `--mix`.

    locust -f loadtest/locustfile.py --host http://127.0.0.1:8080 --grpc-host 127.0.0.1:8081
or `finfer loadtest`, which runs it headless and summarises the CSV.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import itertools
import random
import time
from collections.abc import Callable
from typing import Any

import gevent
import grpc
import grpc.experimental.gevent as grpc_gevent
from locust import FastHttpUser, User, constant_throughput, events, task
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

from finfer.application.examples import APPLICATION_SHAPES, applications
from finfer.clients.grpc_client import Calls
from finfer.loadtest.mix import DEFAULT_MIX, parse_mix
from finfer.pipelines.declaration import Pipeline

grpc_gevent.init_gevent()

BATCH_ROWS = 16
CHUNK = 2_000
HOT = 20


FINAL_STATS = "_final_stats.csv"  # beside Locust's own --csv files


@events.init.add_listener
def _fresh_clock(**_: Any) -> None:
    """gevent's loop caches its clock. In one 4 s run --run-time's timer fired 1.9 s after Locust set it (9
    requests sent; a test failed on it); a clock left stale by the seconds this file's imports take is the
    likely cause, and refreshing it before the timer is set costs nothing."""
    gevent.get_hub().loop.update_now()


@events.init.add_listener
def _final_stats_at_quit(environment: Any, **_: Any) -> None:
    """Locust's `<prefix>_stats.csv` holds its last periodic write, not the run's end: a route whose first
    answers came after it was missing from a short run (a test failed on it). The run's final numbers,
    as Locust prints them, go to `<prefix>_final_stats.csv` when it quits."""
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    if not prefix:
        return

    def write(**_: Any) -> None:
        with open(f"{prefix}{FINAL_STATS}", "w", newline="") as handle:
            StatsCSV(environment, PERCENTILES_TO_REPORT).requests_csv(csv.writer(handle))

    environment.events.quit.add_listener(write)


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--grpc-host", default="127.0.0.1:8081", help="finfer front gRPC address")
    parser.add_argument(
        "--mix",
        default=DEFAULT_MIX,
        help="PIPELINE[:batch]=WEIGHT,... over the registry's pipelines (default: %(default)s)",
    )
    parser.add_argument(
        "--hot-share",
        type=float,
        default=0.2,
        help="share of requests of cached pipelines that repeat a small hot set (cache hits)",
    )
    parser.add_argument(
        "--user-rate",
        type=float,
        default=0.0,
        help="requests a second each user sends, whatever the latency (0: the next as soon as one is answered)",
    )
    parser.add_argument(
        "--application-shape",
        choices=APPLICATION_SHAPES,
        default="mix",
        help="the applications sent: as dealers send them (mix), without images (plain), or each with a contract "
        "page and a vehicle photo (images)",
    )
    parser.add_argument(
        "--persist-share",
        type=float,
        default=0.0,
        help="share of fraud scores that also insert the application into the graph",
    )


@functools.cache
def _image_bodies(pipeline: Pipeline, application_shape: str) -> tuple[dict[str, Any], ...]:
    """A few bodies carrying pages or photos, rendered once a process (100 ms or more each): rendering fresh
    ones kept a heavy user's process at 100% of a core and sent a request a second. Nothing answers these
    from a cache, so a repeat costs the server what a fresh body does."""
    return tuple(_examples(pipeline, application_shape)(HOT, 0))


def _examples(pipeline: Pipeline, application_shape: str) -> Callable[[int, int], list[dict[str, Any]]]:
    if pipeline.name == "application":
        return functools.partial(applications, shape=application_shape)
    return pipeline.examples


_application_ids = itertools.count()


class Stream:
    """Endless distinct bodies of one pipeline, from its declaration's generator a chunk at a time."""

    _seeds = itertools.count(random.randrange(900))

    def __init__(self, pipeline: Pipeline, application_shape: str = "mix", paced: bool = False) -> None:
        self.pipeline = pipeline
        self.examples = _examples(pipeline, application_shape)
        carries_images = pipeline.body == "image" or (pipeline.name == "application" and application_shape != "plain")
        self.reused = itertools.cycle(_image_bodies(pipeline, application_shape)) if carries_images else None
        self.hot = self.examples(HOT, next(self._seeds)) if pipeline.cached else []
        self.fresh: list[dict[str, Any]] = []
        # The first fresh chunk is small, so that a user sends its first request at once rather than after
        # generating thousands of bodies (six users doing that at start sent nothing in a 4 s run). A paced user
        # measures latency at a fixed rate instead: it makes them all before it starts (the statistics are reset
        # once every user has), not in the middle of its run, where 200 ms of generating delayed the answers
        # its other requests were waiting for.
        self.chunk = CHUNK if paced and pipeline.body == "json" else HOT
        if paced and self.reused is None:
            self.fresh = self.examples(self.chunk, next(self._seeds))

    def _fresh(self) -> dict[str, Any]:
        if self.reused is not None:
            body = dict(next(self.reused))
            if "application_id" in body:  # recorded by its id: each send is a new application
                body["application_id"] = f"load-{random.getrandbits(32):08x}-{next(_application_ids)}"
                body["fraud"] = dict(body["fraud"])  # its `persist` is set per send below
            return body
        if not self.fresh:
            self.fresh = self.examples(self.chunk, next(self._seeds))
            self.chunk = CHUNK if self.pipeline.body == "json" else HOT
        return self.fresh.pop()

    def next(self, hot_share: float, persist_share: float) -> dict[str, Any]:
        if self.pipeline.cached and random.random() < hot_share:
            return self.hot[random.randrange(HOT)]
        body = self._fresh()
        fraud_part = body["fraud"] if isinstance(body.get("fraud"), dict) else body  # an application's, or its own
        if "persist" in fraud_part:
            fraud_part["persist"] = random.random() < persist_share
        return body


class FinferUser(User):
    """What both protocols share: the mix, the streams, and one call a task."""

    abstract = True

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        options = environment.parsed_options
        self.routes = parse_mix(options.mix)
        self.weights = [w for *_, w in self.routes]
        paced = options.user_rate > 0
        self.streams = {p.name: Stream(p, options.application_shape, paced) for p, *_ in self.routes}
        self.paced = constant_throughput(options.user_rate) if options.user_rate > 0 else None

    def wait_time(self) -> float:
        return self.paced(self) if self.paced is not None else 0.0

    def body(self, pipeline: Pipeline) -> dict[str, Any]:
        options = self.environment.parsed_options
        return self.streams[pipeline.name].next(options.hot_share, options.persist_share)

    def item(self, pipeline: Pipeline) -> Any:
        """One item of a batch body: the single body itself, or its only field (intent's `text`)."""
        body = self.body(pipeline)
        return next(iter(body.values())) if len(body) == 1 else body

    @task
    def request(self) -> None:
        ((pipeline, batch, _),) = random.choices(self.routes, self.weights)
        if batch:
            self.send_batch(pipeline, [self.item(pipeline) for _ in range(BATCH_ROWS)])
        else:
            self.send(pipeline, self.body(pipeline))

    def send(self, pipeline: Pipeline, body: dict[str, Any]) -> None:
        raise NotImplementedError

    def send_batch(self, pipeline: Pipeline, items: list[Any]) -> None:
        raise NotImplementedError


class HttpUser(FinferUser, FastHttpUser):
    abstract = False

    def send(self, pipeline: Pipeline, body: dict[str, Any]) -> None:
        self.client.post(pipeline.http_path, json=body)

    def send_batch(self, pipeline: Pipeline, items: list[Any]) -> None:
        self.client.post(pipeline.batch.http_path, json={pipeline.batch.field: items})  # type: ignore[union-attr]


class LocustInterceptor(grpc.UnaryUnaryClientInterceptor):
    """Times each unary call and reports it to Locust like an HTTP request."""

    def __init__(self, environment: Any) -> None:
        self.environment = environment

    def intercept_unary_unary(self, continuation, client_call_details, request):  # noqa: ANN001
        started = time.perf_counter()
        exception = None
        response = None
        try:
            response = continuation(client_call_details, request)
            result = response.result()
            length = result.ByteSize()
        except grpc.RpcError as exc:
            exception, length = exc, 0
        self.environment.events.request.fire(
            request_type="grpc",
            name=client_call_details.method,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            exception=exception,
            context={},
        )
        return response


class GrpcUser(FinferUser):
    abstract = False

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        channel = grpc.insecure_channel(environment.parsed_options.grpc_host)
        # The SDK's request building over an intercepted channel: the same messages a client sends.
        self.calls = Calls(grpc.intercept_channel(channel, LocustInterceptor(environment)))

    def send(self, pipeline: Pipeline, body: dict[str, Any]) -> None:
        call, request = self.calls.one(pipeline, body)
        # Failures are already reported to Locust by the interceptor.
        with contextlib.suppress(grpc.RpcError):
            call(request, timeout=10)

    def send_batch(self, pipeline: Pipeline, items: list[Any]) -> None:
        call, request = self.calls.many(pipeline, items)
        with contextlib.suppress(grpc.RpcError):
            call(request, timeout=10)

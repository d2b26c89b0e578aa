"""Access control and the decision store on PostgreSQL, through a front of its own (FINFER_AUTH=on) beside the
session's Triton: keys made by `finfer keys create`, every scope allowed and refused over HTTP and gRPC,
rotation and revocation without a restart, rate limits, refusal to start, and PostgreSQL stopped mid-run."""

from __future__ import annotations

import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from finfer.application.examples import applications
from finfer.clients import AccessDenied, GrpcClient, HttpClient
from finfer.clients.grpc_client import Calls
from finfer.clients.retry import RetryPolicy
from finfer.loadtest import stack
from finfer.pipelines.registry import REGISTRY
from finfer.settings import Settings
from finfer.store.database import connect
from finfer.store.decisions import DecisionStore
from finfer.wire import finfer_pb2, finfer_pb2_grpc
from tests.conftest import front_of, http_status, wait_until
from tests.helpers import call, metric, post

NO_RETRY = RetryPolicy(attempts=1)


@pytest.fixture(scope="module")
def guarded(settings: Settings, triton, postgres: stack.PostgresServer, tmp_path_factory) -> Iterator[Settings]:
    """A front with API keys required, recording into PostgreSQL, on ports of its own."""
    with front_of(
        settings,
        tmp_path_factory.mktemp("guarded"),
        auth="on",
        database_url=postgres.create_database("guarded"),
        keys_refresh_s=0.2,
        spool_retry_s=0.3,
        database_timeout_s=1.0,
    ) as own:
        yield own


def finfer(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "finfer.cli", *args],
        env=stack.environment(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


def make_key(settings: Settings, name: str, *scopes: str, rate: float | None = None) -> str:
    extra = ["--rate", str(rate)] if rate else []
    done = finfer(settings, "keys", "create", "--name", name, "--scopes", *scopes, *extra)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def url(settings: Settings, path: str) -> str:
    return f"http://127.0.0.1:{settings.http_port}{path}"


def allowed_eventually(settings: Settings, key: str) -> None:
    """A new key works once the front has read the keys again (every keys_refresh_s)."""
    wait_until(lambda: call(url(settings, "/v1/reviews"), key=key)[0] != 401, 10, "the new key accepted")


def test_no_key_or_a_wrong_one_is_401_and_probes_stay_open(guarded: Settings) -> None:
    status, error, headers = call(url(guarded, "/v1/reviews"))
    assert status == 401 and error["error"]["code"] == "unauthenticated"
    assert headers.get("www-authenticate", headers.get("WWW-Authenticate", "")).startswith("Bearer")
    assert call(url(guarded, "/v1/reviews"), key="fk_000000000000_" + "x" * 40)[0] == 401
    assert post(url(guarded, "/v1/risk/score"), {}, key="not-a-key")[0] == 401
    for probe in ("/healthz", "/readyz"):
        assert http_status(url(guarded, probe)) == 200
    assert http_status(url(guarded, "/metrics")) == 200
    with grpc.insecure_channel(f"127.0.0.1:{guarded.grpc_port}") as channel:
        with pytest.raises(grpc.RpcError) as refused:
            finfer_pb2_grpc.RecordsStub(channel).GetApplication(finfer_pb2.GetApplicationRequest(application_id="A-1"))
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def grpc_code(settings: Settings, pipeline, body: dict, key: str) -> grpc.StatusCode:
    with grpc.insecure_channel(f"127.0.0.1:{settings.grpc_port}") as channel:
        method, request = Calls(channel).one(pipeline, body)
        try:
            method(request, timeout=30, metadata=(("authorization", f"Bearer {key}"),))
        except grpc.RpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize("pipeline", REGISTRY, ids=lambda p: p.name)
def test_each_pipeline_scope_allows_its_routes_and_nothing_else(guarded: Settings, pipeline) -> None:
    key = make_key(guarded, f"only-{pipeline.access_scope}", pipeline.access_scope)
    allowed_eventually(guarded, key)
    (body,) = pipeline.examples(1, 4242)
    status, answer = post(url(guarded, pipeline.http_path), body, key=key)
    assert status == 200, answer
    assert grpc_code(guarded, pipeline, body, key) == grpc.StatusCode.OK
    for other in REGISTRY:
        if other.access_scope == pipeline.access_scope:
            continue
        (other_body,) = other.examples(1, 4242)
        status, error = post(url(guarded, other.http_path), other_body, key=key)
        assert status == 403 and error["error"]["code"] == "permission_denied", error
        assert other.access_scope in error["error"]["message"]
        assert grpc_code(guarded, other, other_body, key) == grpc.StatusCode.PERMISSION_DENIED
    assert call(url(guarded, "/v1/reviews"), key=key)[0] == 403
    with grpc.insecure_channel(f"127.0.0.1:{guarded.grpc_port}") as channel, pytest.raises(grpc.RpcError) as answered:
        finfer_pb2_grpc.RecordsStub(channel).GetApplication(
            finfer_pb2.GetApplicationRequest(application_id="never-sent"),
            metadata=(("authorization", f"Bearer {key}"),),
        )
    passed = grpc.StatusCode.NOT_FOUND if pipeline.access_scope == "applications" else grpc.StatusCode.PERMISSION_DENIED
    assert answered.value.code() == passed


def test_a_reviewer_signs_in_to_the_review_page(guarded: Settings, browser) -> None:
    key = make_key(guarded, "rita", "reviews:read", "reviews:write")
    allowed_eventually(guarded, key)
    page = browser.new_page()
    page.goto(url(guarded, "/review"))
    page.wait_for_url(url(guarded, "/review/login"))  # no key yet: sent to sign in
    page.fill("input[name=key]", "fk_000000000000_" + "x" * 40)
    page.click("button[type=submit]")
    assert "unknown or revoked" in page.inner_text(".error")
    page.fill("input[name=key]", key)
    page.click("button[type=submit]")
    page.wait_for_url(url(guarded, "/review"))
    assert "signed in as rita" in page.inner_text("header")
    cookie = next(c for c in page.context.cookies() if c["name"] == "finfer_key")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.close()


def test_review_scopes_and_admin(guarded: Settings) -> None:
    reader = make_key(guarded, "auditor", "reviews:read")
    writer = make_key(guarded, "ann", "reviews:read", "reviews:write")
    admin = make_key(guarded, "ops", "admin")
    for key in (reader, writer, admin):
        allowed_eventually(guarded, key)
    assert call(url(guarded, "/v1/reviews"), key=reader)[0] == 200
    assert post(url(guarded, "/v1/reviews/1/claim"), {}, key=reader)[0] == 403
    assert post(url(guarded, "/v1/reviews/999999/claim"), {}, key=writer)[0] == 404  # past the check
    assert post(url(guarded, "/v1/reviews/999999/claim"), {}, key=admin)[0] == 404
    (risk_body,) = REGISTRY[0].examples(1, 1)
    assert post(url(guarded, REGISTRY[0].http_path), risk_body, key=admin)[0] == 200
    assert post(url(guarded, REGISTRY[0].http_path), risk_body, key=writer)[0] == 403


def test_the_sdk_sends_its_key(guarded: Settings) -> None:
    key = make_key(guarded, "sdk", "risk")
    allowed_eventually(guarded, key)
    (applicant,) = REGISTRY[0].examples(1, 77)
    target = f"127.0.0.1:{guarded.grpc_port}"
    for client in (HttpClient(url(guarded, ""), api_key=key), GrpcClient(target, api_key=key)):
        with client:
            assert 0 <= client.score(applicant).probability_of_default <= 1
    for client in (HttpClient(url(guarded, ""), retry=NO_RETRY), GrpcClient(target, retry=NO_RETRY)):
        with client, pytest.raises(AccessDenied):
            client.score(applicant)


def test_rotation_then_revocation_take_effect_without_a_restart(guarded: Settings) -> None:
    old = make_key(guarded, "dealer-rotating", "reviews:read")
    allowed_eventually(guarded, old)
    new = make_key(guarded, "dealer-rotating", "reviews:read")
    allowed_eventually(guarded, new)
    assert call(url(guarded, "/v1/reviews"), key=old)[0] == 200  # both valid in between
    old_id = old.split("_")[1]
    done = finfer(guarded, "keys", "revoke", old_id)
    assert done.returncode == 0 and "revoked" in done.stdout
    wait_until(lambda: call(url(guarded, "/v1/reviews"), key=old)[0] == 401, 10, "the revoked key refused")
    assert call(url(guarded, "/v1/reviews"), key=new)[0] == 200
    listed = finfer(guarded, "keys", "list").stdout
    assert old_id in listed and old not in listed  # the list never shows a key


def test_a_key_over_its_rate_gets_429_with_retry_after(guarded: Settings) -> None:
    key = make_key(guarded, "slow-partner", "reviews:read", rate=0.5)  # burst 1: one call, then 2 s a call
    allowed_eventually(guarded, key)
    status, error, headers = call(url(guarded, "/v1/reviews"), key=key)
    assert status == 429 and error["error"]["code"] == "rate_limited"
    assert int(headers["retry-after"]) >= 1
    with grpc.insecure_channel(f"127.0.0.1:{guarded.grpc_port}") as channel, pytest.raises(grpc.RpcError) as limited:
        finfer_pb2_grpc.RecordsStub(channel).GetApplication(
            finfer_pb2.GetApplicationRequest(application_id="A-1"), metadata=(("authorization", f"Bearer {key}"),)
        )
    assert limited.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert dict(limited.value.trailing_metadata())["retry-after"] in ("1", "2")
    front = url(guarded, "/metrics")
    assert metric(front, "finfer_auth_refusals_total", reason="rate_limited", key="slow-partner") >= 2
    assert key not in urllib.request.urlopen(front, timeout=5).read().decode()  # names, never keys


def test_a_front_that_cannot_open_its_database_refuses_to_start(guarded: Settings, tmp_path: Path) -> None:
    (closed,) = stack.free_ports(1)
    broken = guarded.model_copy(
        update={"database_url": f"postgresql://finfer@127.0.0.1:{closed}/none", "state_dir": tmp_path}
    )
    done = subprocess.run(
        [sys.executable, "-m", "finfer.server"],
        env=stack.environment(broken),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "error: the decision store postgresql+psycopg://finfer@127.0.0.1" in done.stderr
    assert "cannot be opened" in done.stderr


def test_postgres_stopped_mid_run_loses_no_decision(guarded: Settings, postgres: stack.PostgresServer) -> None:
    """Applications go on being decided while PostgreSQL is down (records spooled); once it is back the spool
    drains, every answered application is on record and the chain is whole."""
    key = make_key(guarded, "dealer-drill", "applications", "reviews:read")
    allowed_eventually(guarded, key)
    bodies = iter(applications(2_000, seed=9100, shape="plain"))
    lock = threading.Lock()
    answered: list[str] = []
    failures: list[tuple[int, dict]] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            with lock:
                body = next(bodies)
            status, answer = post(url(guarded, "/v1/applications"), body, key=key)
            with lock:
                (answered.append(body["application_id"]) if status == 200 else failures.append((status, answer)))

    threads = [threading.Thread(target=client) for _ in range(6)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(answered) >= 10, 60, "applications before the stop")
        postgres.stop("immediate")
        down_from = len(answered)
        wait_until(lambda: len(answered) >= down_from + 20, 60, "applications while PostgreSQL is down")
        spooled = metric(url(guarded, "/metrics"), "finfer_spool_records")
        postgres.start()
        wait_until(lambda: len(answered) >= down_from + 40, 60, "applications after PostgreSQL is back")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert failures == []
    assert spooled > 0
    wait_until(lambda: metric(url(guarded, "/metrics"), "finfer_spool_records") == 0, 30, "the spool drained")
    for application_id in answered:
        status, record, _ = call(url(guarded, f"/v1/applications/{application_id}"), key=key)
        assert status == 200, (application_id, record)
    engine = connect(guarded)
    try:
        assert DecisionStore(engine).verify()[1] is None
    finally:
        engine.dispose()

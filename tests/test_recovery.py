"""Triton stopped mid-session: the front answers 503/UNAVAILABLE (cache hits still served), then recovers."""

import grpc
import httpx
import pytest

from finfer.clients.grpc_client import to_struct
from finfer.wire import finfer_pb2, finfer_pb2_grpc
from tests.conftest import wait_until
from tests.helpers import fresh_applicant
from tests.test_fraud_front import FEATURES_OK


def fraud_body(application_id: str, persist: bool = False) -> dict:
    links = {"device": ["restart-device"]}
    return {"application_id": application_id, "features": FEATURES_OK, "links": links, "persist": persist}


def test_triton_down_then_back(front, triton):
    cached = fresh_applicant()
    with (
        httpx.Client(base_url=front.http_url, timeout=30) as http,
        grpc.insecure_channel(front.grpc_target) as ch,
    ):
        stub = finfer_pb2_grpc.RiskScoringStub(ch)
        assert http.post("/v1/risk/score", json=cached).status_code == 200
        persisted = fraud_body("kept-across-restart", persist=True)
        assert http.post("/v1/fraud/score", json=persisted).json()["persisted"] is True
        triton.stop()
        try:
            response = http.post("/v1/risk/score", json=fresh_applicant())
            assert response.status_code == 503
            assert response.headers["retry-after"] == "1"
            assert response.json()["error"]["code"] == "unavailable"
            with pytest.raises(grpc.RpcError) as info:
                stub.Score(finfer_pb2.ScoreRequest(applicant=to_struct(fresh_applicant())), timeout=30)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            wait_until(lambda: http.get("/readyz").status_code == 503, 10, "readyz to report not ready")
            # What the cache holds is still answered without Triton.
            hit = http.post("/v1/risk/score", json=cached)
            assert hit.status_code == 200 and hit.json()["cached"] is True
            assert http.get("/healthz").status_code == 200
        finally:
            triton.start()
            triton.wait_ready(timeout=120)
        wait_until(
            lambda: http.post("/v1/risk/score", json=fresh_applicant()).status_code == 200,
            60,
            "the front to recover",
        )
        # Readiness is remembered for readiness_cache_s (1 s), and the last check may predate the restart.
        wait_until(lambda: http.get("/readyz").status_code == 200, 10, "readyz to report ready again")
        answer = stub.Score(finfer_pb2.ScoreRequest(applicant=to_struct(fresh_applicant())), timeout=30)
        assert answer.grade
        # The application persisted before the restart is still in the graph (replayed from the journal).
        probe = http.post("/v1/fraud/score", json=fraud_body("probe-after-restart")).json()
        assert probe["evidence"]["shared"]["device"] == [1]
        assert probe["evidence"]["suspicious_neighbours"] == ["kept-across-restart"]


def test_the_restart_budget_backs_off_and_gives_up_on_a_crash_loop():
    from finfer.triton_server import RestartBudget

    budget = RestartBudget(max_restarts=3, window_s=60, backoff_s=1, max_backoff_s=3)
    assert budget.delay(100, []) == 1
    assert budget.delay(100, [90]) == 2 and budget.delay(100, [80, 90]) == 3  # doubled, then capped
    assert budget.delay(100, [70, 80, 90]) is None  # three in the last minute: a person must look
    assert budget.delay(100, [10, 20, 90]) == 2  # restarts older than the window are forgiven


def test_finfer_serve_restarts_a_triton_that_was_killed(settings, tmp_path):
    """`finfer serve` with nobody touching it: Triton SIGKILLed, serving again, the restart counted."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from finfer.loadtest import stack
    from tests.conftest import http_status
    from tests.helpers import metric

    own = stack.bench_settings(settings.model_repository, tmp_path / "state").model_copy(
        update={"triton_restart_backoff_s": 0.2, "triton_exit_timeout_s": 1}
    )
    url = f"http://127.0.0.1:{own.http_port}"
    log = (tmp_path / "serve.log").open("wb")
    serve = subprocess.Popen(
        [sys.executable, "-m", "finfer.cli", "serve", "--no-build"],
        env=stack.environment(own),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: http_status(f"{url}/readyz") == 200 or serve.poll() is not None, 120, "finfer serve")
        assert serve.poll() is None, (tmp_path / "serve.log").read_text()
        triton_pid = stack.find_child(serve.pid, "bin/tritonserver")
        assert triton_pid is not None
        os.kill(triton_pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_until(lambda: http_status(f"{url}/readyz") == 503, 10, "readyz to see Triton gone")
        wait_until(lambda: http_status(f"{url}/readyz") == 200, 90, "Triton restarted")
        recovered_s = time.monotonic() - killed
        with httpx.Client(base_url=url, timeout=30) as http:
            assert http.post("/v1/risk/score", json=fresh_applicant()).status_code == 200
        # Counted once the supervisor's own readiness wait returns, which may be a poll after the front sees it.
        restarts = lambda: metric(f"{url}/metrics", "finfer_triton_restarts_total")  # noqa: E731
        wait_until(lambda: restarts() >= 1, 10, "the restart counted")
        assert restarts() == 1
        assert stack.find_child(serve.pid, "bin/tritonserver") not in (None, triton_pid)
        print(f"serving again {recovered_s:.1f}s after Triton was killed")
        assert recovered_s < 60, recovered_s
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
        log.close()


def test_sigterm_drains_not_ready_first_still_answering_then_exits(settings, triton, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from finfer.loadtest import stack
    from tests.conftest import http_status

    http_port, grpc_port = stack.free_ports(2)
    own = settings.model_copy(update={"http_port": http_port, "grpc_port": grpc_port, "drain_s": 3.0})
    url = f"http://127.0.0.1:{http_port}"
    front = subprocess.Popen(
        [sys.executable, "-m", "finfer.server"], env=stack.environment(own), stdout=subprocess.DEVNULL
    )
    try:
        wait_until(lambda: http_status(f"{url}/readyz") == 200 or front.poll() is not None, 60, "the front")
        front.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        with httpx.Client(base_url=url, timeout=10) as http:
            wait_until(lambda: http.get("/readyz").status_code == 503, 2, "readyz to say draining")
            assert http.get("/readyz").json()["status"] == "draining"
            assert http.post("/v1/risk/score", json=fresh_applicant()).status_code == 200  # still answering
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.NOT_SERVING
        assert time.monotonic() - stopped < 3.0  # all of that inside the drain window
        assert front.wait(timeout=20) == 0
    finally:
        if front.poll() is None:
            front.kill()


def test_shared_memory_only_a_dead_triton_held_is_reclaimed(tmp_path):
    """Regions a live process holds open or maps stay; one nobody holds (a killed stub's) goes."""
    from finfer.shared_memory import reclaim_shared_memory

    shm, proc = tmp_path / "shm", tmp_path / "proc"
    shm.mkdir()
    regions = {name: shm / f"triton_python_backend_shm_region_{name}" for name in ("open", "mapped", "orphan")}
    for region in regions.values():
        region.write_bytes(bytes(64))
    (shm / "someone_elses_segment").write_bytes(b"x")
    holder = proc / "4242"
    (holder / "fd").mkdir(parents=True)
    (holder / "fd" / "7").symlink_to(regions["open"])
    (holder / "maps").write_text(f"7f00-7f10 rw-s 00000000 00:1a 99 {regions['mapped']}\n")
    (proc / "self-status").mkdir()  # not a process: ignored

    assert reclaim_shared_memory(shm, proc) == [regions["orphan"]]
    assert sorted(p.name for p in shm.iterdir()) == sorted(
        [regions["open"].name, regions["mapped"].name, "someone_elses_segment"]
    )

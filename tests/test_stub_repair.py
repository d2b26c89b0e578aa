"""A dead Python stub under a running front: found (by traffic or by a probe), failed fast, reloaded."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

from finfer.loadtest import stack
from tests.conftest import wait_until
from tests.helpers import fresh_applicant, metric


@pytest.fixture(scope="module")
def own_stack(settings, tmp_path_factory):
    """A Triton and a front of this module's own (stubs are killed here), probing every second."""
    own = stack.bench_settings(settings.model_repository, tmp_path_factory.mktemp("repair_state"))
    own = own.model_copy(update={"probe_interval_s": 1.0, "triton_exit_timeout_s": 1})
    with stack.triton(own) as triton, stack.front(own):
        yield own, triton


def kill_stub(triton, model: str) -> int:
    pid = stack.find_child(triton.pid, f"{model}_0_0")
    assert pid is not None, f"no stub process for {model}"
    os.kill(pid, signal.SIGKILL)
    return pid


def test_a_dead_stub_seen_by_traffic_fails_fast_then_answers_again(own_stack):
    own, triton = own_stack
    url = f"http://127.0.0.1:{own.http_port}"
    with httpx.Client(base_url=url, timeout=30) as http:
        assert http.post("/v1/risk/score", json=fresh_applicant()).status_code == 200
        old = kill_stub(triton, "risk_score")
        killed = time.monotonic()
        seen: list[tuple[float, int, float, str | None]] = []  # since the kill, status, seconds, Retry-After
        while time.monotonic() - killed < 60:
            started = time.monotonic()
            response = http.post("/v1/risk/score", json=fresh_applicant())
            seen.append(
                (
                    started - killed,
                    response.status_code,
                    time.monotonic() - started,
                    response.headers.get("retry-after"),
                )
            )
            if response.status_code == 200 and any(s == 503 for _, s, _, _ in seen):
                break
        failed = [x for x in seen if x[1] != 200]
        assert failed and all(status == 503 and retry == "1" for _, status, _, retry in failed), seen
        assert failed[0][0] < 5, f"first refusal {failed[0][0]:.1f}s after the kill"
        assert max(took for _, _, took, _ in seen) < 3, "a request waited on the dead stub"
        assert seen[-1][1] == 200 and seen[-1][0] < 30, f"answering again only {seen[-1][0]:.1f}s after the kill"
        print(f"dead risk_score: refused from {failed[0][0]:.1f}s, answering again at {seen[-1][0]:.1f}s")
        wait_until(lambda: http.get("/readyz").status_code == 200, 10, "readyz after the repair")
    assert metric(f"{url}/metrics", "finfer_stub_repairs_total", model="risk_score", result="reloaded") == 1
    assert stack.find_child(triton.pid, "risk_score_0_0") not in (None, old)


def test_a_dead_stub_without_traffic_is_found_by_the_probe(own_stack):
    own, triton = own_stack
    url = f"http://127.0.0.1:{own.http_port}"
    kill_stub(triton, "customer_intent")
    killed = time.monotonic()
    with httpx.Client(base_url=url, timeout=30) as http:
        repaired = lambda: metric(f"{url}/metrics", "finfer_stub_repairs_total", model="customer_intent") >= 1  # noqa: E731
        wait_until(repaired, 30, "the probe to find and reload the dead customer_intent stub")
        print(f"dead customer_intent, no traffic: reloaded {time.monotonic() - killed:.1f}s after the kill")
        answer = http.post("/v1/intent", json={"text": "我想提前还款"})
        assert answer.status_code == 200 and answer.json()["intent"]

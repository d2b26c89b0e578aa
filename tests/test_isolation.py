"""Isolation of light requests from heavy ones (docs/isolation.md): heavy stubs in the background CPU class, and
the front's admission bound on heavy requests, against the real Triton and front."""

from __future__ import annotations

import base64
import os
import threading
from pathlib import Path

import httpx

from finfer.pipelines.declaration import AdmissionBound
from finfer.pipelines.registry import BY_NAME
from finfer.runtime.cpu_priority import in_background
from tests.conftest import own_front, wait_until

HEAVY_MODELS = ("document_ocr", "vehicle_damage")
LIGHT_MODELS = ("risk_score", "fraud_score", "customer_intent", "loan_application")


def stub_pids(repository: Path, model: str) -> list[int]:
    """The Python stubs Triton started for `model` (one an instance)."""
    script = f"{repository}/{model}/1/model.py".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                command = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if script in command:
                pids.append(int(entry))
    return pids


def test_heavy_stubs_run_in_the_background_and_light_ones_do_not(triton, settings):
    for model in HEAVY_MODELS:
        pids = stub_pids(settings.model_repository, model)
        assert pids, f"no stub of {model}"
        assert all(in_background(pid) for pid in pids), model
    for model in LIGHT_MODELS:
        pids = stub_pids(settings.model_repository, model)
        assert pids, f"no stub of {model}"
        assert not any(in_background(pid) for pid in pids), model
        assert all(os.getpriority(os.PRIO_PROCESS, pid) == 0 for pid in pids), model


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{{{wanted}}} is not in /metrics")


def test_a_burst_of_pages_past_the_bound_gets_503_with_retry_after_and_light_requests_still_answer(
    settings, triton, tmp_path
):
    bound = AdmissionBound(in_flight=1, queue=1, wait_s=60)
    own = settings.model_copy(update={"admission": {"documents": bound}, "retry_after_s": 2})
    (page,) = BY_NAME["documents"].examples(1, 5)
    (applicant,) = BY_NAME["risk"].examples(1, 5)
    url = f"http://127.0.0.1:{own.http_port}"
    burst = 8
    start = threading.Barrier(burst)
    answers: list[httpx.Response] = []

    def post_page() -> None:
        with httpx.Client(timeout=120) as client:
            start.wait()
            answers.append(client.post(f"{url}/v1/documents/ocr", json=page))

    with own_front(own, tmp_path / "front.log"), httpx.Client(timeout=30) as client:
        threads = [threading.Thread(target=post_page) for _ in range(burst)]
        for t in threads:
            t.start()

        # While a page is read, a credit score still answers.
        def pages_in_flight() -> float:
            return metric(client.get(f"{url}/metrics").text, "finfer_admission_in_flight", pipeline="documents")

        wait_until(lambda: pages_in_flight() == 1, 30, "a page in flight")
        assert client.post(f"{url}/v1/risk/score", json=applicant).status_code == 200
        for t in threads:
            t.join(timeout=180)
        statuses = sorted(a.status_code for a in answers)
        assert len(statuses) == burst and set(statuses) <= {200, 503}, statuses
        # One runs, one waits its turn: at least those two are read; every other one is refused at once.
        assert statuses.count(200) >= 2, statuses
        refused = [a for a in answers if a.status_code == 503]
        assert refused, statuses
        for answer in refused:
            assert answer.headers["retry-after"] == "2"
            error = answer.json()["error"]
            assert error["code"] == "unavailable" and error["message"].startswith("documents:"), error
        text = client.get(f"{url}/metrics").text
        assert metric(text, "finfer_admission_refused_total", pipeline="documents", reason="queue_full") == len(refused)
        assert metric(text, "finfer_admission_in_flight", pipeline="documents") == 0
        assert metric(text, "finfer_admission_limit", pipeline="documents") == 1
        # A refused burst leaves nothing behind: the next page is read.
        assert client.post(f"{url}/v1/documents/ocr", json=page, timeout=60).status_code == 200


def test_only_applications_carrying_images_count_against_the_bound(repository):
    codec = BY_NAME["application"].load(repository)
    (plain,) = BY_NAME["application"].examples(1, 3)
    plain = {k: v for k, v in plain.items() if k not in ("documents", "vehicle_photos")}
    assert not codec.heavy(codec.row(plain))
    photo = base64.b64decode(BY_NAME["damage"].examples(1, 3)[0]["image_base64"])
    with_photo = plain | {"vehicle_photos": [{"image_base64": base64.b64encode(photo).decode()}]}
    assert codec.heavy(codec.row(with_photo))
    assert BY_NAME["risk"].admission is None and BY_NAME["application"].admission is not None

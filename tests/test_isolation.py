"""Isolation of light requests from heavy ones (docs/isolation.md): heavy stubs in the background CPU class, and
the front's admission bound on heavy requests, against the real Triton and front."""

from __future__ import annotations

import base64
import os
import signal
import threading
from pathlib import Path

import httpx

from finfer.pipelines.declaration import AdmissionBound
from finfer.pipelines.registry import BY_NAME
from tests.conftest import front_of, wait_until


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
    pages = BY_NAME["documents"].examples(8, 5)
    (applicant,) = BY_NAME["risk"].examples(1, 5)
    answers: list[httpx.Response] = []

    # The OCR stubs are stopped while the burst arrives, so that the first page stays in flight whatever this
    # machine's speed: the burst meets a full bound every time (a fast page let all eight through one by one).
    stubs = stub_pids(settings.model_repository, "document_ocr")
    assert stubs
    with (
        front_of(settings, tmp_path, admission={"documents": bound}, retry_after_s=2) as own,
        httpx.Client(timeout=30) as client,
    ):
        url = f"http://127.0.0.1:{own.http_port}"

        def post_page(page: dict) -> None:
            with httpx.Client(timeout=120) as burst:
                answers.append(burst.post(f"{url}/v1/documents/ocr", json=page))

        def gauges() -> tuple[float, float, float]:
            text = client.get(f"{url}/metrics").text
            return (
                metric(text, "finfer_admission_in_flight", pipeline="documents"),
                metric(text, "finfer_admission_queued", pipeline="documents"),
                metric(text, "finfer_admission_refused_total", pipeline="documents", reason="queue_full"),
            )

        threads = [threading.Thread(target=post_page, args=(page,)) for page in pages]
        try:
            for pid in stubs:
                os.kill(pid, signal.SIGSTOP)
            for t in threads:
                t.start()
            # One page in Triton, one waiting its turn, six refused at once.
            wait_until(lambda: gauges() == (1, 1, 6), 30, "the bound full")
            # A credit score still answers while the pages wait.
            assert client.post(f"{url}/v1/risk/score", json=applicant).status_code == 200
        finally:
            for pid in stubs:
                os.kill(pid, signal.SIGCONT)
        for t in threads:
            t.join(timeout=180)
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200, 200, *[503] * 6], statuses
        for answer in (a for a in answers if a.status_code == 503):
            assert answer.headers["retry-after"] == "2"
            error = answer.json()["error"]
            assert error["code"] == "overloaded" and error["message"].startswith("documents:"), error
        text = client.get(f"{url}/metrics").text
        assert metric(text, "finfer_admission_in_flight", pipeline="documents") == 0
        assert metric(text, "finfer_admission_limit", pipeline="documents") == 1
        # A refused burst leaves nothing behind: the next page is read.
        assert client.post(f"{url}/v1/documents/ocr", json=pages[0], timeout=60).status_code == 200


def test_only_applications_carrying_images_count_against_the_bound(repository):
    codec = BY_NAME["application"].load(repository)
    (plain,) = BY_NAME["application"].examples(1, 3)
    plain = {k: v for k, v in plain.items() if k not in ("documents", "vehicle_photos")}
    assert not codec.heavy(codec.row(plain))
    photo = base64.b64decode(BY_NAME["damage"].examples(1, 3)[0]["image_base64"])
    with_photo = plain | {"vehicle_photos": [{"image_base64": base64.b64encode(photo).decode()}]}
    assert codec.heavy(codec.row(with_photo))
    assert BY_NAME["risk"].admission is None and BY_NAME["application"].admission is not None

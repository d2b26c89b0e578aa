"""Bench scenarios n–u (documents and vehicle damage) and the OCR peer: RapidOCR in-process.

Documents are the rendered 1000×700 test pages (contracts, licences, VIN plates); photos are
generated car panels. Both are sent as JSON base64, the form most HTTP clients use.
"""

from __future__ import annotations

import base64
import time

import httpx
import orjson
from tritonclient.grpc.service_pb2_grpc import GRPCInferenceServiceStub

from finfer.loadtest.scenario import Result, direct_requests, grpc_sender, http_sender, run_scenario
from finfer.models.damage.training.panels import panels
from finfer.models.ocr.fields import Line
from finfer.models.ocr.training import documents as ocr_documents
from finfer.models.ocr.training.evaluation import evaluate
from finfer.pipelines import damage, documents
from finfer.pipelines.declaration import Pipeline
from finfer.pipelines.validation import Upload
from finfer.settings import Settings

OCR, DAMAGE = documents.PIPELINE, damage.PIPELINE
PEER_DOCUMENTS = 30
OCR_CLIENTS = 4
DAMAGE_CLIENTS = 16


def _bodies(images: list[bytes]) -> list[bytes]:
    return [orjson.dumps({"image_base64": base64.b64encode(image).decode()}) for image in images]


def pages(count: int = 30, seed: int = 404) -> list[bytes]:
    return [d.image for d in ocr_documents.documents(count, seed)]


def photos(count: int = 200, seed: int = 405) -> list[bytes]:
    return [p.image for p in panels(count, seed)]


def damage_bodies() -> list[bytes]:
    """The photos scenario s sends, as its JSON bodies (the plain baseline gets the same stream)."""
    return _bodies(photos())


def vision_scenarios(only: set[str], live: Settings, pids: dict[str, int], duration: float) -> list[Result]:
    http_url = f"http://{live.front_host}:{live.http_port}"
    docs, shots = pages(), photos()
    out = []
    if "n" in only:
        send = http_sender(http_url, "/v1/documents/ocr", _bodies(docs), 1)
        out.append(run_scenario("n", f"front, HTTP, {OCR.triton_model}, 1 client", send, 1, duration, pids))
    if "o" in only:
        send = http_sender(http_url, "/v1/documents/ocr", _bodies(docs), OCR_CLIENTS)
        description = f"front, HTTP, {OCR.triton_model}, {OCR_CLIENTS} clients"
        out.append(run_scenario("o", description, send, OCR_CLIENTS, duration, pids, tier="front-miss", model="ocr"))
    if "p" in only:
        out.append(triton_direct("p", live, OCR, docs, OCR_CLIENTS, duration, pids, "dynamic batching"))
    if "r" in only:
        send = http_sender(http_url, "/v1/vehicles/damage", _bodies(shots), 1)
        out.append(run_scenario("r", f"front, HTTP, {DAMAGE.triton_model}, 1 client", send, 1, duration, pids))
    if "s" in only:
        send = http_sender(http_url, "/v1/vehicles/damage", _bodies(shots), DAMAGE_CLIENTS)
        description = f"front, HTTP, {DAMAGE.triton_model}, {DAMAGE_CLIENTS} clients"
        out.append(
            run_scenario("s", description, send, DAMAGE_CLIENTS, duration, pids, tier="front-miss", model="damage")
        )
    if "t" in only:
        out.append(triton_direct("t", live, DAMAGE, shots, DAMAGE_CLIENTS, duration, pids, "dynamic batching"))
    return out


def vision_without_batching(only: set[str], plain: Settings, pid: int, duration: float) -> list[Result]:
    """The same Triton-direct load as p and t on a repository whose configs have no dynamic batching."""
    out = []
    if "q" in only:
        pid_of = {"triton": pid}
        out.append(triton_direct("q", plain, OCR, pages(), OCR_CLIENTS, duration, pid_of, "none"))
    if "u" in only:
        pid_of = {"triton": pid}
        out.append(triton_direct("u", plain, DAMAGE, photos(), DAMAGE_CLIENTS, duration, pid_of, "none"))
    return out


def triton_direct(
    name: str,
    live: Settings,
    pipeline: Pipeline,
    images: list[bytes],
    clients: int,
    duration: float,
    pids: dict,
    batching: str,
) -> Result:
    requests = direct_requests(pipeline, live.model_repository, [Upload(image, "image") for image in images])
    send = grpc_sender(live.triton_grpc_url, GRPCInferenceServiceStub, "ModelInfer", requests)
    model = pipeline.triton_model
    description = f"Triton direct, {model}, {clients} clients, batching: {batching}"
    return run_scenario(name, description, send, clients, duration, pids, tier="triton", model=model)


def front_reader(http_url: str):
    client = httpx.Client(timeout=30)

    def read(image: bytes) -> list[Line]:
        answer = client.post(f"{http_url}/v1/documents/ocr", files={"file": ("page.jpg", image)}).json()
        return [Line(x["text"], x["confidence"], tuple(map(tuple, x["box"]))) for x in answer["lines"]]

    return read


def rapidocr_reader():
    """RapidOCR's own pipeline with its defaults (the same PP-OCRv4 weights), in this process."""
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR()

    def read(image: bytes) -> list[Line]:
        found, _ = engine(image)
        return [Line(text, float(score), tuple(map(tuple, box))) for box, text, score in found or []]

    return read


def ocr_peer(http_url: str) -> dict:
    """Accuracy and median seconds per image of finfer (through the front, one client) and RapidOCR."""
    test_set = list(ocr_documents.documents(PEER_DOCUMENTS, 2026))  # the build's held-out seed: the same pages
    readers = {"finfer": front_reader(http_url), "rapidocr": rapidocr_reader()}
    report = {}
    for name, read in readers.items():
        read(test_set[0].image)  # warm-up
        started = time.perf_counter()
        report[name] = evaluate(read, test_set)
        report[name]["wall_s"] = round(time.perf_counter() - started, 1)
        print(f"  ocr peer {name}: {report[name]}", flush=True)
    report["speedup_median"] = round(
        report["rapidocr"]["median_ms_per_image"] / report["finfer"]["median_ms_per_image"], 2
    )
    report["speedup_by_kind"] = {
        kind: round(ms / report["finfer"]["median_ms_by_kind"][kind], 2)
        for kind, ms in report["rapidocr"]["median_ms_by_kind"].items()
    }
    return report


def peer_markdown(peer: dict) -> list[str]:
    rows = ["", "OCR peer, the same rendered pages (`finfer.loadtest.vision_bench.ocr_peer`):", ""]
    rows += [
        "| reader | line exact | CER | VIN exact (plates) | median ms/image | by kind |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name in ("finfer", "rapidocr"):
        r = peer[name]
        kinds = ", ".join(f"{k} {v:.0f}" for k, v in r["median_ms_by_kind"].items())
        rows.append(
            f"| {name} | {r['line_exact_match']:.4f} | {r['character_error_rate']:.4f} | "
            f"{r['vin_plate_exact_match']:.3f} | {r['median_ms_per_image']:.0f} | {kinds} |"
        )
    return rows


def vision_checks(by: dict[str, Result], peer: dict | None) -> list[tuple[str, float, float]]:
    checks = []
    if "n" in by:
        checks.append(
            (f"{OCR.triton_model}, 1000×700, one at a time: p95 ≤ 400 ms (ratio 400 / p95)", 400 / by["n"].p95_ms, 1.0)
        )
    if "r" in by:
        checks.append((f"{DAMAGE.triton_model}, one at a time: p95 ≤ 30 ms (ratio 30 / p95)", 30 / by["r"].p95_ms, 1.0))
    if "p" in by and "q" in by:
        checks.append(
            (
                f"{OCR.triton_model} dynamic batching vs none (Triton direct)",
                by["p"].requests_per_s / by["q"].requests_per_s,
                1.0,
            )
        )
    if "t" in by and "u" in by:
        checks.append(
            (
                f"{DAMAGE.triton_model} dynamic batching vs none (Triton direct)",
                by["t"].requests_per_s / by["u"].requests_per_s,
                1.0,
            )
        )
    if peer:
        checks.append(("OCR ≥ 3× faster than RapidOCR per image (median)", peer["speedup_median"], 3.0))
        checks.append(
            (
                "OCR reads at least as accurately as RapidOCR (line exact ratio)",
                peer["finfer"]["line_exact_match"] / max(peer["rapidocr"]["line_exact_match"], 1e-9),
                1.0,
            )
        )
    return checks

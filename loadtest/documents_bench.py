"""What self-proof documents cost: a page through the front, and an application with five pages.

Pages: held-out layouts of every kind (models/documents/training/pages.py) through `POST /v1/documents/ocr`,
beside the loan file's contract pages (the page the bench's scenario n sends), at 1 client and at 3 (the OCR
instances). Application: `POST /v1/applications` with five pages (ID card, pay slip, bank statement, vehicle
licence, purchase invoice) and a credit file, at 1 client. Classifying and reading a page's fields are
timed in-process too: what they add to a page's OCR.

python -m finfer.loadtest.documents_bench [--duration 20]  →  loadtest/results/documents.{md,json}
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import shutil
import statistics
import time
from pathlib import Path

import orjson

from finfer import paths
from finfer.application.examples import applications
from finfer.loadtest import stack
from finfer.loadtest.scenario import Result, http_sender, run_scenario
from finfer.models.documents.kinds import BY_NAME, KINDS
from finfer.models.documents.training.pages import render
from finfer.models.ocr.training import documents as loan_file
from finfer.pipelines import application, documents
from finfer.settings import Settings

APPLICATION_PAGES = ("id_card_front", "pay_slip", "bank_statement", "vehicle_licence", "purchase_invoice")


def _b64(image: bytes) -> str:
    return base64.b64encode(image).decode()


def page_bodies(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [
        orjson.dumps({"image_base64": _b64(render(KINDS[i % len(KINDS)], rng, held_out=True).image)})
        for i in range(count)
    ]


def contract_bodies(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [orjson.dumps({"image_base64": _b64(loan_file.render("contract", rng).image)}) for _ in range(count)]


def application_bodies(count: int, seed: int) -> list[bytes]:
    """Applications of five pages each, every one with its own id (an application is answered once)."""
    rng = random.Random(seed)
    pages = [[_b64(render(BY_NAME[k], rng).image) for k in APPLICATION_PAGES] for _ in range(4)]
    bodies = []
    for i, body in enumerate(applications(count, seed, shape="plain")):
        body.pop("message", None)
        body["documents"] = [{"image_base64": image} for image in pages[i % len(pages)]]
        bodies.append(orjson.dumps(body))
    return bodies


def in_process_share(pages: int, seed: int, repository: Path) -> dict[str, float]:
    """Median ms a page: OCR (detector, crops, recogniser), and then classifying and reading its fields."""
    from finfer.exporters.ocr import CANDIDATES
    from finfer.models.documents.classifier import FILE, KindClassifier
    from finfer.models.documents.page import page_reading
    from finfer.models.ocr.pipeline import read_document

    version = json.loads((repository / "ocr_read" / "1" / "meta.json").read_text(encoding="utf-8"))["model_version"]
    models = next(c for c in CANDIDATES if version.startswith(f"ocr-{c.name}-")).models()
    classifier = KindClassifier.load(repository / "ocr_read" / "1" / FILE)
    rng = random.Random(seed)
    ocr_s, extra_s = [], []
    for i in range(pages):
        image = render(KINDS[i % len(KINDS)], rng, held_out=True).image
        started = time.perf_counter()
        lines = read_document(models, image)
        read = time.perf_counter()
        page_reading(classifier, lines)
        ocr_s.append(read - started)
        extra_s.append(time.perf_counter() - read)
    ocr_ms, extra_ms = 1000 * statistics.median(ocr_s), 1000 * statistics.median(extra_s)
    return {"ocr_ms": ocr_ms, "classify_and_read_ms": extra_ms, "share": extra_ms / ocr_ms}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds a scenario")
    parser.add_argument("--out", type=Path, default=paths.LOADTEST_RESULTS)
    args = parser.parse_args()
    repository = Settings().model_repository
    for pipeline in (documents.PIPELINE, application.PIPELINE):
        if not pipeline.is_built(repository):
            raise SystemExit(
                f"build the repository first (finfer build --out {repository}): {pipeline.name} is missing"
            )
    share = in_process_share(46, 3, repository)
    state = paths.STATE_DIR / "documents-bench"
    shutil.rmtree(state, ignore_errors=True)
    settings = stack.bench_settings(repository, state)
    url = f"http://127.0.0.1:{settings.http_port}"
    results: list[Result] = []
    with stack.triton(settings) as triton, stack.front(settings) as front:
        pids = {"front": front.pid, "triton": triton.pid}
        contracts, kinds = contract_bodies(12, 1), page_bodies(46, 2)
        for label, bodies, clients in (
            ("contract pages, 1 client", contracts, 1),
            ("self-proof pages of every kind, 1 client", kinds, 1),
            ("self-proof pages of every kind, 3 clients", kinds, 3),
        ):
            send = http_sender(url, documents.PIPELINE.http_path, bodies, clients)
            results.append(run_scenario(label, label, send, clients, args.duration, pids))
        send = http_sender(url, application.PIPELINE.http_path, application_bodies(400, 5), 1)
        label = "applications with 5 pages, 1 client"
        results.append(run_scenario(label, label, send, 1, args.duration, pids))
    write(args.out, results, share, args)
    return 0


def write(out: Path, results: list[Result], share: dict[str, float], args: argparse.Namespace) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = {"results": [r.as_json() for r in results], "in_process": share, "duration_s": args.duration}
    (out / "documents.json").write_text(json.dumps(data, indent=2))
    lines = [
        "# Self-proof documents: what a page and an application cost",
        "",
        f"`python -m finfer.loadtest.documents_bench --duration {args.duration:g}` on this machine (2 cores, no GPU,",
        "the load generator on the same cores), full-profile repository, one embedded Triton, pages of 1000×700.",
        "",
        "| scenario | pages or applications/s | p50 ms | p95 ms | errors | front CPU ms | Triton CPU ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        cpu = r.cpu_us_per_request
        lines.append(
            f"| {r.description} | {r.requests_per_s:.2f} | {r.p50_ms:.0f} | {r.p95_ms:.0f} | {r.errors} | "
            f"{cpu.get('front', 0) / 1000:.1f} | {cpu.get('triton', 0) / 1000:.0f} |"
        )
    lines += [
        "",
        f"In one process, a page's OCR takes {share['ocr_ms']:.0f} ms (median); recognising its kind and reading "
        f"its fields {share['classify_and_read_ms']:.2f} ms more: {share['share']:.1%} of the page.",
    ]
    (out / "documents.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())

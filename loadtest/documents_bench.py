"""Self-proof documents: quality on held-out layouts, and what a page and an application cost.

Quality: the build's held-out report (models/documents/training/evaluation.py) on a larger set. Pages:
held-out layouts of every kind through `POST /v1/documents/ocr`, beside the loan file's contract pages
(the page the bench's scenario n sends), at 1 client and at 3 (the OCR instances). Application:
`POST /v1/applications` with five pages (ID card, pay slip, bank statement, vehicle licence, purchase
invoice) and a credit file, at 1 client.

python -m finfer.loadtest.documents_bench [--duration 20] [--pages-per-kind 40]
    →  loadtest/results/documents.{md,json}
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import shutil
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


def held_out_quality(per_kind: int, seed: int, repository: Path) -> dict:
    """The served classifier and OCR, in this process, on `per_kind` held-out pages of every kind (and as
    many that are not documents): the build's report (evaluation.evaluate) on a larger set."""
    from finfer.exporters.ocr import CANDIDATES
    from finfer.models.documents.classifier import FILE, KindClassifier
    from finfer.models.documents.training.evaluation import evaluate
    from finfer.models.documents.training.pages import pages
    from finfer.models.ocr.pipeline import read_document

    version = json.loads((repository / "ocr_read" / "1" / "meta.json").read_text(encoding="utf-8"))["model_version"]
    models = next(c for c in CANDIDATES if version.startswith(f"ocr-{c.name}-")).models()
    classifier = KindClassifier.load(repository / "ocr_read" / "1" / FILE)
    return evaluate(lambda data: read_document(models, data), classifier, list(pages(per_kind, seed, held_out=True)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds a scenario")
    parser.add_argument("--pages-per-kind", type=int, default=40, help="held-out pages of each kind for quality")
    parser.add_argument("--out", type=Path, default=paths.LOADTEST_RESULTS)
    args = parser.parse_args()
    repository = Settings().model_repository
    for pipeline in (documents.PIPELINE, application.PIPELINE):
        if not pipeline.is_built(repository):
            raise SystemExit(
                f"build the repository first (finfer build --out {repository}): {pipeline.name} is missing"
            )
    quality = held_out_quality(args.pages_per_kind, 4242, repository)
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
    write(args.out, results, quality, args)
    return 0


def write(out: Path, results: list[Result], quality: dict, args: argparse.Namespace) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = {"results": [r.as_json() for r in results], "held_out": quality, "duration_s": args.duration}
    (out / "documents.json").write_text(json.dumps(data, indent=2, ensure_ascii=False))
    timing, checks = quality["median_ms"], quality["check_characters"]
    per_kind = quality["kind_accuracy_by_kind"]
    lowest_kind = min(per_kind.items(), key=lambda item: item[1])
    lowest_field = quality["numbers_dates_amounts_lowest"]
    missed = {name: rate for name, rate in quality["field_exact_match"].items() if rate < 1.0}
    lines = [
        "# Self-proof documents: quality on held-out layouts, and what a page and an application cost",
        "",
        f"`python -m finfer.loadtest.documents_bench --duration {args.duration:g} --pages-per-kind "
        f"{args.pages_per_kind}` on this machine (2 cores, no GPU, the load generator on the same cores),",
        "full-profile repository, one embedded Triton, pages of 1000×700.",
        "",
        f"## Held out: {quality['pages']} pages ({args.pages_per_kind} of each of {quality['kinds']} kinds, and as "
        "many that are not documents)",
        "",
        "Held-out layouts (ruled tables, labels above values), font weight, titles and field order; read by the",
        "served OCR and classifier in this process. Full report, with the confusion matrix: `documents.json`.",
        "",
        f"- Kind accuracy: {quality['kind_accuracy']:.4f} (target 0.98); lowest kind {lowest_kind[0]} "
        f"{lowest_kind[1]:.4f} (target 0.95 each).",
        f"- Field exact match, numbers, dates and amounts: lowest {lowest_field[0]} {lowest_field[1]:.4f} "
        "(target 0.95 each).",
        f"- Fields below 1.0: {json.dumps(missed, ensure_ascii=False) if missed else 'none'}.",
        f"- Check characters: {checks['invalid_flagged']} of {checks['invalid_printed']} printed wrong flagged, "
        f"{checks['valid_flagged']} of {checks['valid_printed']} printed right flagged; {checks['misread']} "
        f"identifiers misread by the recogniser, {checks['misreads_flagged']} of them flagged.",
        f"- A page's OCR {timing['ocr']:.0f} ms (median, in one process); recognising its kind "
        f"{timing['classify']:.2f} ms and reading its fields {timing['read_fields']:.2f} ms more: "
        f"{timing['added_share']:.1%} of the page.",
        "",
        "## Served",
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
    (out / "documents.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())

"""OCR steps as plain functions: image checks, detector input, DB boxes, recogniser batches, CTC, and
the whole in-process pipeline on rendered documents with the repository's served models."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from finfer.exporters.ocr import CANDIDATES
from finfer.models.images import pixels, uploads
from finfer.models.ocr import pipeline as ocr
from finfer.models.ocr.training.documents import documents
from finfer.models.ocr.training.evaluation import edit_distance, evaluate


def encoded(image: Image.Image, kind: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kind)
    return buffer.getvalue()


def test_check_image_refuses_what_the_header_shows():
    page = next(documents(1, 3)).image
    assert uploads.check_image(page) == (1000, 700)
    cases = {
        b"": "empty",
        b"%PDF-1.7 not an image": "not an image",
        encoded(Image.new("RGB", (8, 8)), "GIF"): "GIF is not supported",
        page[: len(page) // 2]: "truncated",
        encoded(Image.new("L", (4200, 4100))): "the limit is",
    }
    for data, message in cases.items():
        with pytest.raises(uploads.ImageError, match=message):
            uploads.check_image(data)


def test_zero_sized_png_is_refused():
    png = bytearray(encoded(Image.new("RGB", (1, 1))))
    png[16:24] = (0).to_bytes(4, "big") + (1).to_bytes(4, "big")  # IHDR width 0 (the CRC goes stale)
    with pytest.raises(uploads.ImageError):
        uploads.check_image(bytes(png))


def test_a_corrupt_body_is_refused_at_decode():
    page = bytearray(next(documents(1, 3)).image)
    page[600:-2] = bytes(len(page) - 602)  # header and end marker intact, the scan data gone
    uploads.check_image(bytes(page))
    with pytest.raises(uploads.ImageError, match="corrupt"):
        pixels.decode_image(bytes(page))


def test_detector_input_keeps_the_aspect_in_multiples_of_32():
    pixels, scale = ocr.detector_input(np.zeros((700, 1000, 3), np.uint8))
    assert pixels.shape == (1, 3, 512, 736) and pixels.dtype == np.float32
    assert scale == pytest.approx([700 / 512, 1000 / 736])


def test_db_boxes_are_found_grown_scaled_and_in_reading_order():
    probability = np.zeros((128, 256), np.float32)
    probability[70:80, 20:120] = 0.9  # second line
    probability[20:30, 140:240] = 0.9  # first line (higher up)
    probability[100:102, 10:12] = 0.9  # a speck: too small
    boxes, scores = ocr.boxes_from_probability(probability, np.array([2.0, 2.0], np.float32))
    assert boxes.shape == (2, 4, 2) and np.all(scores > 0.85)
    first, second = boxes
    assert first[:, 1].max() < second[:, 1].min()  # reading order
    # Unclipped beyond the kernel (rows 20-29 → 40-58 at scale 2) and scaled back to image pixels.
    assert first[:, 1].min() < 40 and first[:, 1].max() > 58 and first[:, 0].min() < 280


def test_recognizer_batch_pads_to_one_width_bucket():
    lines = [np.full((32, 100, 3), 255, np.uint8), np.full((40, 400, 3), 0, np.uint8)]
    batch = ocr.recognizer_batch(lines)
    widths = [ocr.rec_width(line) for line in lines]
    assert batch.shape == (2, 3, ocr.REC_HEIGHT, ocr.bucket(max(widths)))
    assert batch.shape[-1] in ocr.REC_WIDTH_BUCKETS and batch.shape[-1] >= max(widths)
    assert np.all(batch[0, :, :, : widths[0]] == 1.0) and np.all(batch[0, :, :, widths[0] :] == 0.0)
    assert np.all(batch[1, :, :, : widths[1]] == -1.0)
    assert ocr.recognizer_batch([]).shape == (1, 3, ocr.REC_HEIGHT, ocr.REC_WIDTH_BUCKETS[0])


def test_ctc_merges_repeats_and_drops_blanks():
    characters = ("", "车", "贷", "1")
    steps = [1, 1, 0, 2, 0, 3, 3, 0, 3]  # 车车 _ 贷 _ 11 _ 1 → 车贷11
    probabilities = np.full((1, len(steps), 4), 0.1, np.float32)
    probabilities[0, np.arange(len(steps)), steps] = 0.7
    ((text, confidence),) = ocr.ctc_decode(probabilities, characters)
    assert text == "车贷11" and confidence == pytest.approx(0.7)
    assert ocr.ctc_decode(np.eye(4, dtype=np.float32)[[[0, 0]]], characters) == [("", 0.0)]


def test_edit_distance():
    assert edit_distance("车辆识别代号", "车辆识别代号") == 0
    assert edit_distance("LSVAU2180N2183294", "LSVAU218ON2183294") == 1
    assert edit_distance("", "abc") == 3


def test_rendering_is_deterministic():
    first, second = list(documents(3, 9)), list(documents(3, 9))
    assert [d.image for d in first] == [d.image for d in second]
    assert {d.kind for d in first} == {"contract", "licence", "vin_plate"}


def test_served_models_read_rendered_documents(repository):
    meta = json.loads((repository / "ocr_read" / "1" / "meta.json").read_text(encoding="utf-8"))
    served = next(c for c in CANDIDATES if meta["model_version"].startswith(f"ocr-{c.name}-"))
    models = served.models()
    report = evaluate(lambda data: ocr.read_document(models, data), list(documents(6, 77)))
    assert report["line_exact_match"] >= 0.9 and report["character_error_rate"] <= 0.02
    assert report["field_exact_match"]["vin@vin_plate"] == 1.0


def test_lines_are_recognised_in_width_groups_and_put_back_in_order():
    widths = [300, 60, 500, 120, 90]
    lines = [np.full((40, w, 3), 200, np.uint8) for w in widths]
    batches, order, sizes = ocr.recognizer_groups(lines)
    assert len(batches) == ocr.REC_GROUPS and sizes.sum() == len(lines)
    assert [ocr.rec_width(lines[i]) for i in order] == sorted(ocr.rec_width(line) for line in lines)
    padded = [batch.shape[-1] for batch in batches]
    assert padded == sorted(padded) and padded[0] < padded[-1]  # the narrow batches are padded less
    # Each line's "text" is its original index: decoding must put every line back in its place.
    characters = ("", *map(str, range(len(lines))))
    probabilities = []
    for batch, size in zip(batches, sizes, strict=True):
        probs = np.zeros((len(batch), 3, len(characters)), np.float32)
        for row, index in enumerate(order[sum(sizes[: len(probabilities)]) :][:size]):
            probs[row, :, index + 1] = 1.0
        probabilities.append(probs)
    decoded = ocr.decode_groups(probabilities, order, sizes, characters)
    assert [text for text, _ in decoded] == [str(i) for i in range(len(lines))]
    one = ocr.recognizer_groups(lines[:1])
    assert list(one[2]) == [1] + [0] * (ocr.REC_GROUPS - 1)
    assert all(batch.shape[0] == 1 for batch in one[0][1:])  # an empty group holds one blank line


def test_the_ensemble_runs_the_recogniser_once_a_width_group():
    """ensembles/document_ocr is written by hand: it must have one recogniser step a width group, each reading its
    own group's lines and feeding `ocr_read` its own probabilities."""
    from finfer import paths
    from finfer.exporters import model_config

    ensemble = model_config.parse((paths.ENSEMBLES / "document_ocr" / "config.pbtxt").read_text())
    steps = ensemble.ensemble_scheduling.step
    recognisers = [(dict(s.input_map), dict(s.output_map)) for s in steps if s.model_name == "ocr_recognizer"]
    assert recognisers == [
        ({"line_pixels": f"line_pixels_{i}"}, {"char_probabilities": f"char_probabilities_{i}"})
        for i in range(ocr.REC_GROUPS)
    ]
    (read,) = [s for s in steps if s.model_name == "ocr_read"]
    assert {f"char_probabilities_{i}" for i in range(ocr.REC_GROUPS)} <= set(read.input_map.values())

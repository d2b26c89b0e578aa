"""Self-proof documents without a server: values and their check characters, the reader's three ways a
field is printed, the kind classifier, and a rendered page of every kind read by the OCR functions."""

from __future__ import annotations

import datetime
import random
from pathlib import Path

import pytest

from finfer.application.crosschecks import document_findings
from finfer.application.findings import Declared
from finfer.application.policy import parse_policy
from finfer.exporters.ocr import CANDIDATES
from finfer.models.documents.classifier import KindClassifier
from finfer.models.documents.kinds import BY_NAME, KINDS, NAMES, UNKNOWN, Type, kind_mismatch
from finfer.models.documents.page import page_reading
from finfer.models.documents.reading import read_fields
from finfer.models.documents.training import evaluation
from finfer.models.documents.training.fit import fit
from finfer.models.documents.training.noise import as_read
from finfer.models.documents.training.pages import pages, render
from finfer.models.documents.values import luhn_is_valid, parse, uscc_check_char, uscc_is_valid
from finfer.models.ocr import pipeline as ocr
from finfer.models.ocr.fields import Line
from finfer.pipelines.documents import Document
from tests.helpers import read_page


@pytest.fixture(scope="module")
def classifier() -> KindClassifier:
    return fit(20, seed=7)


@pytest.fixture(scope="module")
def ocr_models() -> ocr.OcrModels:
    return CANDIDATES[0].models()


def test_the_catalogue_has_at_least_twenty_kinds_each_with_distinct_fields():
    assert len(KINDS) >= 20 and len(set(NAMES)) == len(KINDS)
    for kind in KINDS:
        names = [f.name for f in kind.fields]
        assert names and len(names) == len(set(names)), kind.name


@pytest.mark.parametrize(
    ("type_", "text", "expected"),
    [
        (Type.USCC, "统一社会信用代码 91350100M000100Y43", ("91350100M000100Y43", True)),
        (Type.USCC, "91350100M000100Y44", ("91350100M000100Y44", False)),
        (Type.CARD, "4111 1111 1111 1111", ("4111111111111111", True)),
        (Type.CARD, "4111111111111112", ("4111111111111112", False)),
        (Type.ID_NUMBER, "11010519491231002X", ("11010519491231002X", True)),
        (Type.ID_NUMBER, "110105194912310021", ("110105194912310021", False)),
        (Type.PERIOD, "2016年05月12日至2036年05月12日", ("2016-05-12/2036-05-12", True)),
        (Type.PERIOD, "2016.05.12-长期", ("2016-05-12/long-term", True)),
        (Type.PERIOD, "2020.01.01-2019.01.01", ("2020-01-01/2019-01-01", False)),
        (Type.DATE, "2023年2月30日", ("2023-02-30", False)),
        (Type.MONTH, "2026年10月", ("2026-10", True)),
        (Type.AMOUNT, "人民币128,500.00元", ("128500.00", True)),
        (Type.AMOUNT, "1.5万", ("15000.00", True)),
        (Type.NAME, "王伟", ("王伟", True)),
        (Type.NAME, "本合同一式两份", None),  # a sentence is not a name
        (Type.CODE, "151.42㎡", None),  # a measure is not a code
        (Type.CODE, "C1", ("C1", True)),
        (Type.CODE, "KCFBGFOHHC", ("KCFBGF0HHC", True)),  # codes hold no O: the recogniser's O is a 0
        (Type.INTEGER, "36个月", ("36", True)),
    ],
)
def test_values_parse_and_check(type_, text, expected):
    assert parse(type_, text) == expected


def test_check_characters_catch_every_single_change():
    code = "91350100M000100Y43"
    assert uscc_is_valid(code) and uscc_check_char(code[:17]) == "3"
    for i in range(17):
        for other in "0123456789ABCDEFGHJKLMNPQRTUWXY":
            if other != code[i]:
                assert not uscc_is_valid(code[:i] + other + code[i + 1 :])
    card = "4111111111111111"
    assert all(not luhn_is_valid(card[:i] + str((int(card[i]) + 1) % 10) + card[i + 1 :]) for i in range(16))


def line(text: str, x: float, y: float, width: float, height: float = 28, tilt: float = 0.0) -> Line:
    """A line's box, optionally tilted by `tilt` pixels of rise across its width (a photo at an angle)."""
    return Line(text, 0.99, ((x, y), (x + width, y - tilt), (x + width, y - tilt + height), (x, y + height)))


def test_a_field_is_read_on_its_line_in_the_next_cell_or_below_its_label():
    kind = BY_NAME["pay_slip"]
    inline = [line("工资单", 400, 20, 120), line("姓名：王伟", 60, 100, 150), line("实发工资 ¥8,200.00", 60, 160, 260)]
    table = [
        line("姓名", 60, 100, 60),
        line("王伟", 300, 102, 60),
        line("实发工资", 60, 160, 110),
        line("8200.00元", 300, 158, 140),
    ]
    stacked = [
        line("姓名", 60, 100, 40, 18),
        line("实发工资", 520, 100, 80, 18),
        line("王伟", 60, 126, 60),
        line("¥8,200.00", 520, 126, 130),
    ]
    for lines in (inline, table, stacked):
        fields = read_fields(kind, lines)
        assert fields["employee"].value == "王伟" and fields["net_pay"].value == "8200.00", lines


def test_a_tilted_photo_keeps_rows_apart():
    """Tilted 4°, the next column's value drifts onto the label's row; the line under the label wins."""
    kind = BY_NAME["provident_fund"]
    lines = [
        line("月缴额", 494, 110, 70, 34, tilt=5),
        line("公积金账号", 53, 132, 105, 34, tilt=7),
        line("9550.00元", 495, 140, 135, 34, tilt=9),
        line("293557591836", 55, 161, 187, 34, tilt=12),
    ]
    fields = read_fields(kind, lines)
    assert fields["account"].value == "293557591836" and fields["monthly_deposit"].value == "9550.00"


def test_a_label_read_with_one_character_wrong_still_finds_its_field():
    fields = read_fields(BY_NAME["contract"], [line("信款金额：人民币71,040.00元", 60, 100, 300)])
    assert fields["amount"].value == "71040.00"


def test_the_classifier_recognises_held_out_layouts(classifier):
    rng = random.Random(3)
    held_out = list(pages(2, seed=99, held_out=True, photographed=False))
    right = sum(classifier.classify(as_read(page.texts, rng)).kind == page.kind for page in held_out)
    assert right / len(held_out) >= 0.95
    assert classifier.classify([]).kind == UNKNOWN and classifier.classify([]).confidence == 1.0


def test_the_classifier_survives_its_file(classifier, tmp_path):
    path = tmp_path / "kinds.npz"
    path.write_bytes(classifier.to_bytes())
    loaded = KindClassifier.load(path)
    texts = ["机动车销售统一发票", "价税合计", "¥120,000.00"]
    assert loaded.classify(texts) == classifier.classify(texts)


def test_a_rendered_page_of_every_kind_is_classified_and_read(classifier, ocr_models):
    """Every kind, in a held-out layout, through the OCR functions the served steps call."""
    rng = random.Random(2026)
    report = evaluation.evaluate(
        lambda data: ocr.read_document(ocr_models, data),
        classifier,
        [render(kind, rng, held_out=True) for kind in KINDS],
    )
    assert report["kind_accuracy"] == 1.0, report["confusion"]
    misread = {name: rate for name, rate in report["field_exact_match"].items() if rate < 1.0}
    assert len(misread) <= 2, misread  # of about a hundred fields, photographed: a rare OCR slip
    checks = report["check_characters"]
    assert checks["valid_flagged"] == 0 and checks["invalid_flagged"] == checks["invalid_printed"]


def test_a_page_with_given_values_reads_them(ocr_models, classifier):
    given = {"vin": "LSVAU033512345670", "plate": "京A12345"}
    page = render(BY_NAME["vehicle_licence"], random.Random(5), given=given)
    reading = page_reading(classifier, ocr.read_document(ocr_models, page.image))
    assert reading.kind == "vehicle_licence" and reading.kind_confidence > 0.6
    assert reading.fields["plate"].value == "京A12345"


POLICY = parse_policy(
    (Path(__file__).parents[1] / "application" / "default_policy.toml").read_text(encoding="utf-8"),
    ("risk", "fraud", "documents", "damage", "intent"),
)
TODAY = datetime.date(2026, 12, 1)


def codes(declared: Declared, *documents: tuple[str | None, Document]) -> list[str]:
    return [f.code for f in document_findings(POLICY, declared, documents, TODAY)]


def test_income_against_the_documents():
    slip = read_page("pay_slip", gross_pay=("9000.00", True), net_pay=("7600.00", True), month=("2026-10", True))
    assert codes(Declared(monthly_income=10_000), (None, slip)) == []
    assert codes(Declared(monthly_income=15_000), (None, slip)) == ["INCOME_MISMATCH"]
    assert codes(Declared(monthly_income=30_000)) == ["INCOME_UNVERIFIED"]
    assert codes(Declared(monthly_income=8_000)) == []  # below the policy's proof threshold


def test_expiry_owner_price_and_vins_across_pages():
    licence = read_page("driving_licence", validity=("2014-11-27/2024-11-27", True))
    assert codes(Declared(), (None, licence)) == ["DOCUMENT_EXPIRED"]
    long_term = read_page("id_card_back", validity=("2014-11-27/long-term", True))
    assert codes(Declared(), (None, long_term)) == []
    vin, other = "LSVAU033512345670", "LFV2A21K0A3043256"
    invoice = read_page("purchase_invoice", buyer=("王伟", True), vin=(vin, True), price=("200000.00", True))
    certificate = read_page("conformity_certificate", vin=(other, True))
    found = codes(Declared(name="李娜", vehicle_price=150_000, amount=190_000), (None, invoice), (None, certificate))
    assert sorted(found) == ["LOAN_TO_VALUE", "OWNER_MISMATCH", "PRICE_MISMATCH", "VIN_MISMATCH"]
    assert codes(Declared(name="王伟", vehicle_price=200_000, amount=150_000), (None, invoice)) == []


def test_checksums_unclassified_pages_and_kind_mismatch():
    invoice = read_page("purchase_invoice", seller_code=("91350100M000100Y44", False), price=("200000.00", True))
    assert codes(Declared(), (None, invoice)) == ["CHECKSUM_INVALID"]
    unsure = read_page("pay_slip", confidence=0.4)
    assert codes(Declared(), (None, unsure)) == ["DOCUMENT_UNCLASSIFIED"]
    assert codes(Declared(), (None, Document([], UNKNOWN, 0.9, {}))) == ["DOCUMENT_UNCLASSIFIED"]
    assert codes(Declared(), ("bank_statement", read_page("pay_slip"))) == ["KIND_MISMATCH"]
    unread = read_page("pay_slip", net_pay=None)
    assert codes(Declared(), ("pay_slip", unread)) == ["FIELD_UNREAD"]


def test_a_new_template_from_one_issuer_shows_up_as_drift():
    """The kinds and each kind's field-read states against the reference: a mix like the reference's stays
    near 0; pay slips from a new template whose net pay no longer reads move both the kind and that field."""
    import json

    from finfer.front.drift import DriftMonitor
    from finfer.models.documents.page import drift_states
    from finfer.models.drift import psi as drift

    def states_of(pages_read: list[tuple[str, dict]]) -> dict[str, list[str]]:
        columns: dict[str, list[str]] = {}
        for kind, fields in pages_read:
            for name, state in drift_states(kind, fields).items():
                columns.setdefault(name, []).append(state)
        return columns

    ok = read_page("pay_slip").fields
    usual = [(kind.name, read_page(kind.name).fields) for kind in KINDS] * 20
    reference = json.loads(drift.card({}, states_of(usual), categorical=states_of(usual)))
    same, new = DriftMonitor("documents", reference, 200, 10**9), DriftMonitor("documents", reference, 200, 10**9)
    for i in range(200):
        kind, fields = usual[i]
        same.observe({}, drift_states(kind, fields))
        new.observe({}, drift_states("pay_slip", {k: v for k, v in ok.items() if k != "net_pay"}))
    assert same.outputs["kind"].psi() < 0.1 and same.outputs["pay_slip.net_pay"].psi() < 0.1
    assert new.outputs["kind"].psi() > 1 and new.outputs["pay_slip.net_pay"].psi() > 1


def test_a_kind_sent_is_a_mismatch_only_when_another_kind_is_read():
    assert kind_mismatch(None, "pay_slip") is None
    assert kind_mismatch("pay_slip", "pay_slip") is None
    assert kind_mismatch("id_card", "id_card_front") is None  # an alias of the kind read
    assert kind_mismatch("pay_slip", "bank_statement") == "sent as pay_slip, read as bank_statement"

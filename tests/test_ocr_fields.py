"""Field validators: check digits with known-good and corrupted examples, OCR-confusion repair, extraction."""

from __future__ import annotations

import random

import pytest

from finfer.models.ocr.fields import (
    VIN_CONFUSIONS,
    Line,
    correct_vin,
    extract_fields,
    find_amount,
    find_date,
    find_id_number,
    find_plate,
    find_vin,
    id_number_is_valid,
    vin_check_digit,
    vin_is_valid,
)
from finfer.models.ocr.training.documents import random_id_number, random_vin

# Published examples: NHTSA's VIN with check digit X, and GB 11643's sample ID number.
GOOD_VINS = ("1M8GDM9AXKP042788", "11111111111111111", "5GZCZ43D13S812715")
GOOD_ID = "11010519491231002X"
UNREPAIRABLE = "ACEFHJKM" + ("3" if vin_check_digit("ACEFHJKM3NPRTW479") != "3" else "4") + "NPRTW479"
BOX = ((0.0, 0.0), (10.0, 0.0), (10.0, 5.0), (0.0, 5.0))


@pytest.mark.parametrize("vin", GOOD_VINS)
def test_known_good_vins_validate(vin):
    assert vin_is_valid(vin) and vin_check_digit(vin) == vin[8]


@pytest.mark.parametrize(
    "vin",
    [
        "1M8GDM9A1KP042788",  # wrong check digit
        "1M8GDM9AXKP04278",  # 16 characters
        "1M8GDM9AXKP0427O8",  # O is not a VIN character
        "1M8GDM9AXKP042789",  # one digit changed
    ],
)
def test_corrupted_vins_do_not_validate(vin):
    assert not vin_is_valid(vin)


@pytest.mark.parametrize(
    ("read", "truth"),
    [
        ("1M8GDM9AXKPO42788", "1M8GDM9AXKP042788"),  # 0 read as O, a letter no VIN has
        ("5GZCZ43DI3S8I2715", "5GZCZ43D13S812715"),  # two 1s read as I
        ("1M8GDM9AXKP0427B8", "1M8GDM9AXKP042788"),  # 8 read as B: the only swap that validates
    ],
)
def test_usual_ocr_confusions_are_repaired(read, truth):
    assert correct_vin(read) == (truth, True)


def test_repairs_only_swap_confusable_characters_and_are_mostly_right():
    rng = random.Random(1)
    repaired = wrong = 0
    for _ in range(300):
        truth = random_vin(rng)
        confusable = [i for i, c in enumerate(truth) if c in VIN_CONFUSIONS]
        if not confusable:
            continue
        i = rng.choice(confusable)
        read = truth[:i] + VIN_CONFUSIONS[truth[i]][0] + truth[i + 1 :]
        if vin_is_valid(read):
            continue  # the misread happens to validate: no check digit can catch it
        fixed, valid = correct_vin(read)
        differing = [j for j in range(17) if fixed[j] != read[j]]
        assert len(differing) <= 1 and all(fixed[j] in VIN_CONFUSIONS[read[j]] for j in differing)
        repaired += valid and fixed == truth
        wrong += valid and fixed != truth
    assert repaired >= 150 and wrong == 0


def test_a_vin_with_no_confusable_character_is_not_repaired():
    body = "ACEFHJKM3NPRTW479"  # no character OCR usually confuses
    check = vin_check_digit(body)
    broken = body[:8] + next(c for c in "3479X" if c != check) + body[9:]
    assert correct_vin(broken) == (broken, False)


def test_generated_vins_and_ids_validate():
    rng = random.Random(0)
    assert all(vin_is_valid(random_vin(rng)) for _ in range(200))
    assert all(id_number_is_valid(random_id_number(rng)) for _ in range(200))


def test_id_number_checksum_and_birth_date():
    assert id_number_is_valid(GOOD_ID)
    assert not id_number_is_valid("110105194912310021")  # wrong check character
    assert not id_number_is_valid("11010519491231002")  # 17 characters
    bad_date = "11010519491331002"  # month 13
    from finfer.models.ocr.fields import id_check_char

    assert not id_number_is_valid(bad_date + id_check_char(bad_date))


def test_finders():
    assert find_vin("车辆识别代号：1M8GDM9AXKP0427B8") == ("1M8GDM9AXKP042788", True)
    assert find_vin("身份证号：11010519491231002X") is None  # 18 characters: not a VIN
    assert find_vin("12345678901234567") is None  # no letter: no manufacturer code
    assert find_plate("号牌号码 沪A·D12345") == ("沪AD12345", True)
    assert find_plate("号牌号码 粤B·DF1O23") == ("粤BDF1023", True)  # O on a plate is a 0
    assert find_id_number("身份证号：11010519491231002X") == (GOOD_ID, True)
    assert find_id_number("身份证号：110105194912310021") == ("110105194912310021", False)
    assert find_amount("贷款金额：人民币120,000.00元") == ("120000.00", True)
    assert find_amount("金额：15万") == ("150000.00", True)
    assert find_amount("贷款期限：36个月") is None
    assert find_date("签订日期：2026年3月5日") == ("2026-03-05", True)
    assert find_date("注册日期 2026-02-30") == ("2026-02-30", False)


def test_extract_fields_prefers_valid_candidates_and_keeps_their_box():
    lines = [
        Line(f"车架号 {UNREPAIRABLE}", 0.9, BOX),  # wrong check digit, nothing to repair
        Line("VIN 5GZCZ43D13S812715", 0.8, BOX),
        Line("身份证号：11010519491231002X", 0.97, BOX),
    ]
    fields = extract_fields(lines)
    assert fields["vin"].value == "5GZCZ43D13S812715" and fields["vin"].valid and fields["vin"].confidence == 0.8
    assert fields["id_number"].value == GOOD_ID and fields["id_number"].box == BOX
    assert fields["plate"] is None and fields["amount"] is None and fields["date"] is None
    only_invalid = extract_fields(lines[:1])["vin"]
    assert only_invalid.value == UNREPAIRABLE and not only_invalid.valid

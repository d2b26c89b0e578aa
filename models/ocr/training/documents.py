"""Rendered loan-file documents with their ground truth: contracts, driving licences, VIN plates.

finfer cannot ship real ID documents, so its OCR test set is rendered: Chinese and Latin text in
Noto Sans CJK (SIL Open Font License, from the `cvttf-notosanscjk-regular` package), then rotated a
little, blurred, noised and JPEG-encoded the way phone photos are. Every line's text and box and
every field's value are known, so accuracy is measured exactly. Deterministic by seed.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from finfer.models.ocr.fields import ID_CHECK_CHARS, ID_WEIGHTS, PROVINCES, VIN_ALPHABET, vin_check_digit

KINDS = ("contract", "licence", "vin_plate")
PAGE = (1000, 700)  # width, height: the size the latency target names
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华玉兰建国志红宇浩然子轩欣怡晨阳思远嘉琪佳俊"
REGIONS = ("110101", "310104", "440305", "320106", "330106", "510107", "420102", "500103", "370202", "210203")
CAR_MODELS = ("大众汽车牌SVW71412BM", "丰田牌GTM7250GB", "本田牌HG7203AB", "比亚迪牌BYD7152WT6HEV", "吉利牌MR7153A01")
CAR_TYPES = ("小型轿车", "小型普通客车", "小型越野客车")
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ".replace("Q", "")
LENDERS = ("华信汽车金融有限公司", "安泰消费金融有限公司", "合众汽车金融有限公司")


@dataclass(frozen=True)
class TruthLine:
    text: str
    box: tuple[tuple[float, float], ...]  # four corners, clockwise from top-left


@dataclass(frozen=True)
class Document:
    kind: str
    image: bytes  # encoded JPEG, as a client would upload it
    lines: tuple[TruthLine, ...]
    fields: dict[str, str]  # field name → value as extract_fields reports it


@cache
def font(size: int) -> ImageFont.FreeTypeFont:
    from cvttf_NotoSansCJK_Regular import get_TTF_path

    return ImageFont.truetype(get_TTF_path(), size)


def random_vin(rng: random.Random) -> str:
    chars = [rng.choice(VIN_ALPHABET) for _ in range(17)]
    chars[0] = "L"  # made in China
    chars[8] = "0"
    chars[8] = vin_check_digit("".join(chars))
    return "".join(chars)


def random_id_number(rng: random.Random) -> str:
    birth = f"{rng.randint(1960, 2003)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    first17 = rng.choice(REGIONS) + birth + f"{rng.randint(0, 999):03d}"
    return first17 + ID_CHECK_CHARS[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def random_plate(rng: random.Random) -> str:
    tail = "".join(rng.choice("0123456789" + PLATE_LETTERS[:10]) for _ in range(5))
    return rng.choice(PROVINCES[:12]) + rng.choice(PLATE_LETTERS) + tail


def random_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))


def random_date(rng: random.Random) -> tuple[int, int, int]:
    return rng.randint(2018, 2026), rng.randint(1, 12), rng.randint(1, 28)


Given = dict[str, str]  # field name → the value to print instead of a random one


def contract(rng: random.Random, given: Given) -> tuple[list[tuple[str, int]], dict[str, str]]:
    amount = int(given.get("amount") or rng.randrange(30_000, 400_000, 1_000))
    year, month, day = random_date(rng)
    vin, id_number = given.get("vin") or random_vin(rng), given.get("id_number") or random_id_number(rng)
    lines = [
        ("汽车消费贷款合同", 34),
        (f"Auto Loan Contract No. AL{year}{month:02d}{rng.randint(1000, 9999)}", 24),
        (f"贷款人：{rng.choice(LENDERS)}", 26),
        (f"借款人：{random_name(rng)}", 26),
        (f"身份证号：{id_number}", 26),
        (f"贷款金额：人民币{amount:,}.00元", 26),
        (f"贷款期限：{rng.choice((12, 24, 36, 48, 60))}个月", 26),
        (f"车辆识别代号：{vin}", 26),
        (f"签订日期：{year}年{month:02d}月{day:02d}日", 26),
    ]
    fields = {
        "vin": vin,
        "id_number": id_number,
        "amount": f"{amount:.2f}",
        "date": f"{year:04d}-{month:02d}-{day:02d}",
    }
    return lines, fields


def licence(rng: random.Random, given: Given) -> tuple[list[tuple[str, int]], dict[str, str]]:
    plate, vin = given.get("plate") or random_plate(rng), given.get("vin") or random_vin(rng)
    year, month, day = random_date(rng)
    lines = [
        ("中华人民共和国机动车行驶证", 32),
        (f"号牌号码 {plate[:2]}·{plate[2:]}", 28),
        (f"车辆类型 {rng.choice(CAR_TYPES)}", 28),
        (f"所有人 {random_name(rng)}", 28),
        (f"品牌型号 {rng.choice(CAR_MODELS)}", 28),
        (f"车辆识别代号 {vin}", 28),
        (f"注册日期 {year}-{month:02d}-{day:02d}", 28),
    ]
    return lines, {"plate": plate, "vin": vin, "date": f"{year:04d}-{month:02d}-{day:02d}"}


def vin_plate(rng: random.Random, given: Given) -> tuple[list[tuple[str, int]], dict[str, str]]:
    vin = given.get("vin") or random_vin(rng)
    return [(vin, rng.randint(44, 60))], {"vin": vin}


def id_card(rng: random.Random, given: Given) -> tuple[list[tuple[str, int]], dict[str, str]]:
    """The front of a resident identity card, as the loan-application pipeline reads it (not in KINDS:
    the OCR accuracy report keeps its three kinds)."""
    id_number = given.get("id_number") or random_id_number(rng)
    birth = id_number[6:14]
    lines = [
        ("居民身份证", 32),
        (f"姓名 {random_name(rng)}", 28),
        (f"性别 {rng.choice('男女')}  民族 汉", 28),
        (f"出生 {birth[:4]}年{int(birth[4:6])}月{int(birth[6:])}日", 28),
        (f"住址 {rng.choice(('北京市东城区', '上海市徐汇区', '深圳市福田区', '成都市武侯区'))}", 28),
        (f"公民身份号码 {id_number}", 28),
    ]
    return lines, {"id_number": id_number}


LAYOUTS = {"contract": contract, "licence": licence, "vin_plate": vin_plate, "id_card": id_card}
BACKGROUNDS = {
    "contract": (250, 248, 240),
    "licence": (226, 232, 238),
    "vin_plate": (92, 96, 100),
    "id_card": (232, 238, 246),
}


def render(kind: str, rng: random.Random, given: Given | None = None) -> Document:
    """A photographed page of `kind`; `given` prints those field values instead of random ones."""
    texts, fields = LAYOUTS[kind](rng, given or {})
    width, height = PAGE
    shade = rng.randint(-12, 6)
    page = Image.new("RGB", PAGE, tuple(max(0, min(255, c + shade)) for c in BACKGROUNDS[kind]))
    draw = ImageDraw.Draw(page)
    boxes = []
    if kind == "vin_plate":
        ((text, size),) = texts
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font(size))
        x, y = rng.randint(60, width - (right - left) - 60), rng.randint(150, height - 200)
        draw.rectangle((x - 40, y - 40, x + right + 40, y + bottom + 40), fill=(200, 202, 205), outline=(60, 60, 60))
        ink = (20, 20, 24)
        draw.text((x, y), text, font=font(size), fill=ink)
        boxes.append(draw.textbbox((x, y), text, font=font(size)))
    else:
        ink = (rng.randint(0, 40),) * 3
        x, y = rng.randint(50, 90), rng.randint(30, 60)
        for text, size in texts:
            indent = (width - draw.textlength(text, font=font(size))) / 2 if size >= 32 else x
            draw.text((indent, y), text, font=font(size), fill=ink)
            boxes.append(draw.textbbox((indent, y), text, font=font(size)))
            y += int(size * rng.uniform(1.9, 2.3))
    return _photograph(kind, page, texts, boxes, fields, rng)


def _photograph(
    kind: str,
    page: Image.Image,
    texts: list[tuple[str, int]],
    boxes: list[tuple[float, float, float, float]],
    fields: dict[str, str],
    rng: random.Random,
) -> Document:
    """A slight rotation, sometimes blur, sensor noise and JPEG: what a phone photo of the page adds."""
    angle = rng.uniform(-3.0, 3.0)
    centre = (page.width / 2, page.height / 2)
    rotated = page.rotate(angle, resample=Image.BICUBIC, center=centre, fillcolor=(128, 128, 128))
    if rng.random() < 0.5:
        rotated = rotated.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.1)))
    pixels = np.asarray(rotated, dtype=np.float32)
    pixels += np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(1, 8), pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=rng.randint(70, 95))
    lines = tuple(TruthLine(text, _rotate_box(box, angle, centre)) for (text, _), box in zip(texts, boxes, strict=True))
    return Document(kind, buffer.getvalue(), lines, fields)


def _rotate_box(box: tuple[float, float, float, float], angle: float, centre: tuple[float, float]):
    """PIL rotates counter-clockwise by `angle` degrees in image coordinates (y down)."""
    left, top, right, bottom = box
    theta = np.deg2rad(angle)
    cos, sin = np.cos(theta), np.sin(theta)
    corners = []
    for x, y in ((left, top), (right, top), (right, bottom), (left, bottom)):
        dx, dy = x - centre[0], y - centre[1]
        corners.append((round(centre[0] + dx * cos + dy * sin, 1), round(centre[1] - dx * sin + dy * cos, 1)))
    return tuple(corners)


def documents(count: int, seed: int) -> Iterator[Document]:
    """`count` documents cycling through the kinds; the same seed gives the same documents."""
    rng = random.Random(seed)
    for index in range(count):
        yield render(KINDS[index % len(KINDS)], rng)

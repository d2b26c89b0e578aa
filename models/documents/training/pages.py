"""Rendered self-proof documents of every kind, with the values printed on them: the classifier's
training text and the held-out test set.

finfer cannot ship real papers, so it renders them: each kind's title and labelled fields (kinds.py),
with names, numbers and amounts that are valid and, on purpose, some whose check character is wrong
or whose validity has run out. A page is then photographed: rotated, seen at an angle, shadowed,
blurred, noised and JPEG-encoded.

Layouts are split so that the test set is held out: training pages are printed `label：value` on a line,
or label and value apart on one row, in the regular and bold weights, under all titles but a kind's
last; held-out pages are tables with ruled cells, or labels printed small above their values, in the
light weight, under the kind's last title, with the fields in another order. Deterministic by seed.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from finfer.models.documents.kinds import KINDS, UNKNOWN, FieldSpec, Kind, Type
from finfer.models.documents.values import USCC_ALPHABET, luhn_check_digit, uscc_check_char
from finfer.models.ocr.fields import correct_vin, normalise
from finfer.models.ocr.training.documents import random_id_number, random_name, random_plate, random_vin

PAGE = (1000, 700)
TODAY = date(2026, 12, 1)  # the renderer's "now": validity periods run out before or after it
TRAIN_STYLES = ("inline", "spaced")
HELD_OUT_STYLES = ("table", "stacked")
TRAIN_FONTS = ("Regular", "Bold")
HELD_OUT_FONTS = ("Light",)
INVALID_SHARE = 0.2  # of identifiers with a check character, printed with a wrong one


@dataclass(frozen=True)
class Printed:
    """One field as printed: the text on the page, and the value and validity the reader must report."""

    text: str
    value: str
    valid: bool


@dataclass(frozen=True)
class Page:
    kind: str
    image: bytes  # JPEG, as a client uploads it
    texts: tuple[str, ...]  # every string printed, in drawing order
    fields: dict[str, Printed]
    held_out: bool


@cache
def font(weight: str, size: int) -> ImageFont.FreeTypeFont:
    import importlib

    module = importlib.import_module(f"cvttf_NotoSansCJK_{weight}")
    return ImageFont.truetype(module.get_TTF_path(), size)


TEXTS: dict[str, tuple[str, ...]] = {
    "authority": ("北京市公安局东城分局", "上海市公安局徐汇分局", "深圳市公安局福田分局", "成都市公安局武侯分局"),
    "address": (
        "北京市东城区东四北大街107号",
        "上海市徐汇区漕溪北路88号",
        "深圳市福田区深南大道6008号",
        "成都市武侯区人民南路四段9号",
    ),
    "mortgagee": ("华信汽车金融有限公司", "安泰消费金融有限公司", "中国工商银行股份有限公司北京分行"),
    "lender": ("华信汽车金融有限公司", "安泰消费金融有限公司", "合众汽车金融有限公司"),
    "employer": (
        "北京星河科技有限公司",
        "上海同舟物流有限公司",
        "深圳前海数据服务有限公司",
        "成都天府制药股份有限公司",
    ),
    "insurer": ("中国人民财产保险股份有限公司", "平安财产保险股份有限公司", "太平洋财产保险股份有限公司"),
    "company": ("杭州青禾餐饮管理有限公司", "南京远航汽车服务有限公司", "武汉明德教育咨询有限公司"),
    "location": (
        "北京市朝阳区望京西园三区312号楼5单元1201",
        "上海市浦东新区张杨路1500弄6号801室",
        "广州市天河区体育西路191号2302房",
    ),
    "relation": ("户主", "妻", "之子", "之女", "夫"),
}
FOOTERS = {
    "bank_statement": ("本明细仅供参考，以银行系统记录为准", "打印网点：营业部"),
    "contract": ("借款人应按月归还贷款本息", "本合同一式两份，双方各执一份"),
    "income_certificate": ("特此证明", "本证明仅用于办理贷款业务"),
    "pay_slip": ("如有疑问请联系人力资源部",),
    "utility_bill": ("请于缴费截止日前缴纳", "客服热线 95598"),
}
SCREENSHOT = (
    "设置",
    "微信",
    "通讯录",
    "发现",
    "我",
    "下午3:42",
    "电量 67%",
    "搜索",
    "相册",
    "取消",
    "确定",
    "返回",
    "更多",
)


def _code(rng: random.Random, field: str) -> str:
    if field == "class":
        return rng.choice(("C1", "C2", "B1", "B2", "A1", "A2"))
    if field == "model":
        return rng.choice(("SVW71412BM", "GTM7250GB", "HG7203AB", "BYD7152WT6HEV", "MR7153A01"))
    if field == "engine_number":
        return rng.choice("DGHKL") + "".join(rng.choice("0123456789ABCDEFGH") for _ in range(9))
    prefix = {"policy_number": "PDZA", "certificate_number": "WA", "account": "", "account_number": ""}.get(field, "")
    return prefix + "".join(rng.choice("0123456789") for _ in range(rng.randint(10, 14)))


def _date(rng: random.Random, start: int, end: int) -> date:
    return date(start, 1, 1) + timedelta(days=rng.randrange((date(end, 12, 31) - date(start, 1, 1)).days))


def _print_date(rng: random.Random, day: date) -> str:
    return rng.choice(
        (
            f"{day.year}年{day.month:02d}月{day.day:02d}日",
            f"{day:%Y-%m-%d}",
            f"{day:%Y.%m.%d}",
            f"{day.year}年{day.month}月{day.day}日",
        )
    )


def _amount(rng: random.Random, field: str) -> float:
    low, high = {
        "price": (80_000, 420_000),
        "amount": (30_000, 400_000),
        "insured_sum": (60_000, 400_000),
        "tax": (3_000, 40_000),
        "area": (40, 180),
        "balance": (1_000, 200_000),
        "credits": (10_000, 120_000),
        "debits": (5_000, 100_000),
        "amount_due": (40, 900),
    }.get(field, (3_000, 30_000))
    return (
        round(rng.uniform(low, high), 2)
        if field in ("area", "amount_due", "balance")
        else float(rng.randrange(low, high, 10))
    )


def _print_amount(rng: random.Random, value: float, field: str) -> str:
    if field == "area":
        return f"{value:.2f}㎡"
    return rng.choice((f"¥{value:,.2f}", f"{value:.2f}元", f"人民币{value:,.2f}元", f"{value:,.2f}"))


def _corrupt(value: str, at: int, alphabet: str, rng: random.Random) -> str:
    return value[:at] + rng.choice([c for c in alphabet if c != value[at]]) + value[at + 1 :]


def _checked(rng: random.Random, spec: FieldSpec) -> Printed:
    """An identifier with a check character; INVALID_SHARE of them printed with a wrong one."""
    invalid = rng.random() < INVALID_SHARE
    if spec.type is Type.ID_NUMBER:
        value = random_id_number(rng)
        value = _corrupt(value, 17, "0123456789X", rng) if invalid else value
    elif spec.type is Type.USCC:
        body = (
            "91"
            + rng.choice(("110105", "310115", "440300", "330106"))
            + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
        )
        value = body + uscc_check_char(body)
        value = _corrupt(value, 17, USCC_ALPHABET, rng) if invalid else value
    elif spec.type is Type.CARD:
        body = "6222" + "".join(rng.choice("0123456789") for _ in range(rng.choice((11, 14))))
        value = body + luhn_check_digit(body)
        value = _corrupt(value, len(value) - 1, "0123456789", rng) if invalid else value
    else:
        value = random_vin(rng)
        while invalid:  # a wrong check digit the reader's one-swap repair cannot "fix"
            wrong = _corrupt(value, 8, "0123456789X", rng)
            if not correct_vin(wrong)[1]:
                value = wrong
                break
    text = (
        " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        if spec.type is Type.CARD and rng.random() < 0.5
        else value
    )
    return Printed(text, value, not invalid)


def printed(rng: random.Random, spec: FieldSpec) -> Printed:
    """A random value of the field, as printed and as the reader must report it."""
    kind_of = spec.type
    if kind_of in (Type.ID_NUMBER, Type.USCC, Type.CARD, Type.VIN):
        return _checked(rng, spec)
    if kind_of is Type.NAME:
        name = random_name(rng)
        return Printed(name, name, True)
    if kind_of is Type.PLATE:
        plate = random_plate(rng)
        return Printed(rng.choice((f"{plate[:2]}·{plate[2:]}", plate)), plate, True)
    if kind_of is Type.DATE:
        day = _date(rng, 1965, 2003) if spec.name == "birth_date" else _date(rng, 2012, 2026)
        return Printed(_print_date(rng, day), f"{day:%Y-%m-%d}", True)
    if kind_of is Type.MONTH:
        year, month = rng.randint(2024, 2026), rng.randint(1, 12)
        return Printed(rng.choice((f"{year}年{month:02d}月", f"{year}-{month:02d}")), f"{year}-{month:02d}", True)
    if kind_of is Type.PERIOD:
        start = _date(rng, 2008, 2025)
        if rng.random() < 0.1:
            return Printed(f"{start:%Y.%m.%d}-长期", f"{start:%Y-%m-%d}/long-term", True)
        end = start.replace(year=start.year + rng.choice((1, 5, 10, 20)), day=min(start.day, 28))
        text = rng.choice((f"{start:%Y.%m.%d}-{end:%Y.%m.%d}", f"{_print_date(rng, start)}至{_print_date(rng, end)}"))
        return Printed(text, f"{start:%Y-%m-%d}/{end:%Y-%m-%d}", True)
    if kind_of is Type.AMOUNT:
        value = _amount(rng, spec.name)
        return Printed(_print_amount(rng, value, spec.name), f"{value:.2f}", True)
    if kind_of is Type.INTEGER:
        value = rng.choice((12, 24, 36, 48, 60)) if spec.name == "term_months" else rng.randint(6, 240)
        return Printed(f"{value}个月" if rng.random() < 0.5 else str(value), str(value), True)
    if kind_of is Type.CODE:
        code = _code(rng, spec.name)
        return Printed(code, code, True)
    text = rng.choice(TEXTS.get(spec.name, TEXTS["employer"]))
    return Printed(text, normalise(text), True)


@dataclass(frozen=True)
class Style:
    layout: str
    weight: str
    size: int
    title: str
    labels: dict[str, str]  # field → the label printed
    order: tuple[FieldSpec, ...]


def choose_style(kind: Kind, rng: random.Random, held_out: bool) -> Style:
    titles = kind.titles or ("",)
    title = titles[-1] if held_out else rng.choice(titles[:-1] or titles)
    order = list(kind.fields)
    if held_out:
        rng.shuffle(order)
    return Style(
        layout=rng.choice(HELD_OUT_STYLES if held_out else TRAIN_STYLES),
        weight=rng.choice(HELD_OUT_FONTS if held_out else TRAIN_FONTS),
        size=rng.randint(22, 28),
        title=title,
        labels={f.name: rng.choice(f.labels) for f in kind.fields},
        order=tuple(order),
    )


def render(
    kind: Kind,
    rng: random.Random,
    held_out: bool = False,
    given: dict[str, str] | None = None,
    photographed: bool = True,
) -> Page:
    """A photographed page of `kind`; `given` prints those values (valid) instead of random ones.
    Not photographed: only its texts (the classifier's training), ten times faster."""
    style = choose_style(kind, rng, held_out)
    values = {f.name: printed(rng, f) for f in kind.fields}
    for name, value in (given or {}).items():
        if name in values:
            values[name] = Printed(value, value, True)
    canvas = Image.new("RGB", PAGE if photographed else (1, 1), tuple(rng.randint(228, 252) for _ in range(3)))
    draw = ImageDraw.Draw(canvas)
    texts: list[str] = []
    ink = (rng.randint(0, 50),) * 3

    def write(xy: tuple[float, float], text: str, size: int) -> None:
        draw.text(xy, text, font=font(style.weight, size), fill=ink)
        texts.append(text)

    if kind.name == "vin_plate":
        _vin_plate(draw, rng, values["vin"].text, texts)
    else:
        title_size = style.size + 8
        write(
            ((PAGE[0] - draw.textlength(style.title, font=font(style.weight, title_size))) / 2, 28),
            style.title,
            title_size,
        )
        top = 28 + title_size * 2.4
        LAYOUTS[style.layout](write, draw, style, values, top, rng)
        for i, footer in enumerate(FOOTERS.get(kind.name, ())[: 1 + rng.randint(0, 1)]):
            write((60, PAGE[1] - 70 - 36 * i), footer, 18)
    image = photograph(canvas, rng) if photographed else b""
    return Page(kind.name, image, tuple(texts), values, held_out)


def _vin_plate(draw: ImageDraw.ImageDraw, rng: random.Random, vin: str, texts: list[str]) -> None:
    size = rng.randint(44, 60)
    face = font(rng.choice(("Regular", "Bold")), size)
    width = draw.textlength(vin, font=face)
    x, y = rng.randint(60, int(PAGE[0] - width - 60)), rng.randint(150, PAGE[1] - 200)
    draw.rectangle((x - 40, y - 40, x + width + 40, y + size + 50), fill=(200, 202, 205), outline=(60, 60, 60))
    draw.text((x, y), vin, font=face, fill=(20, 20, 24))
    texts.append(vin)


def _inline(write, draw, style: Style, values: dict[str, Printed], top: float, rng: random.Random) -> None:
    step = min(style.size * 2.1, (PAGE[1] - top - 90) / max(1, len(style.order)))
    x = rng.randint(50, 90)
    for i, spec in enumerate(style.order):
        write(
            (x, top + i * step),
            f"{style.labels[spec.name]}{rng.choice(('：', ':', ' '))}{values[spec.name].text}",
            style.size,
        )


def _spaced(write, draw, style: Style, values: dict[str, Printed], top: float, rng: random.Random) -> None:
    step = min(style.size * 2.1, (PAGE[1] - top - 90) / max(1, len(style.order)))
    x = rng.randint(50, 90)
    column = (
        x + max(draw.textlength(style.labels[f.name], font=font(style.weight, style.size)) for f in style.order) + 70
    )
    for i, spec in enumerate(style.order):
        write((x, top + i * step), style.labels[spec.name], style.size)
        write((column, top + i * step), values[spec.name].text, style.size)


def _table(write, draw, style: Style, values: dict[str, Printed], top: float, rng: random.Random) -> None:
    size = style.size - 2
    row = min(size * 2.2, (PAGE[1] - top - 90) / max(1, len(style.order)))
    x0 = rng.randint(40, 70)
    split = x0 + max(draw.textlength(style.labels[f.name], font=font(style.weight, size)) for f in style.order) + 40
    x1 = PAGE[0] - rng.randint(40, 70)
    for i, spec in enumerate(style.order):
        y = top + i * row
        draw.rectangle((x0, y, x1, y + row), outline=(90, 90, 90), width=2)
        draw.line((split, y, split, y + row), fill=(90, 90, 90), width=2)
        write((x0 + 14, y + (row - size) / 2 - 3), style.labels[spec.name], size)
        write((split + 18, y + (row - size) / 2 - 3), values[spec.name].text, size)


def _stacked(write, draw, style: Style, values: dict[str, Printed], top: float, rng: random.Random) -> None:
    label_size, value_size = max(16, style.size - 8), style.size
    rows = (len(style.order) + 1) // 2
    step = min(value_size * 3.0, (PAGE[1] - top - 90) / max(1, rows))
    columns = (rng.randint(50, 80), PAGE[0] // 2 + rng.randint(0, 30))
    for i, spec in enumerate(style.order):
        x, y = columns[i % 2], top + (i // 2) * step
        write((x, y), style.labels[spec.name], label_size)
        text, size = values[spec.name].text, value_size
        while size > 14 and draw.textlength(text, font=font(style.weight, size)) > columns[1] - columns[0] - 30:
            size -= 1  # a long value is printed smaller to stay in its column, as forms do
        write((x, y + label_size * 1.5), text, size)


LAYOUTS = {"inline": _inline, "spaced": _spaced, "table": _table, "stacked": _stacked}


def photograph(page: Image.Image, rng: random.Random) -> bytes:
    """What a phone adds: a small rotation, a view at an angle, a shadow, blur, sensor noise and JPEG."""
    page = page.rotate(rng.uniform(-3, 3), resample=Image.BICUBIC, fillcolor=(128, 128, 128))
    pixels = np.asarray(page, dtype=np.float32)
    height, width = pixels.shape[:2]
    if rng.random() < 0.5:
        lean = [[rng.uniform(0, 0.035) * width, rng.uniform(0, 0.035) * height] for _ in range(4)]
        corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
        seen = corners + np.float32(lean) * np.float32([[1, 1], [-1, 1], [-1, -1], [1, -1]])
        matrix = cv2.getPerspectiveTransform(corners, seen)
        pixels = cv2.warpPerspective(pixels, matrix, (width, height), borderValue=(128, 128, 128))
    if rng.random() < 0.4:
        ramp = np.linspace(rng.uniform(0.6, 0.85), 1.0, width, dtype=np.float32)
        pixels *= (ramp if rng.random() < 0.5 else ramp[::-1])[None, :, None]
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if rng.random() < 0.5:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    noisy = np.asarray(image, dtype=np.float32)
    noisy += np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(1, 6), noisy.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=rng.randint(60, 95))
    return buffer.getvalue()


def not_a_document(rng: random.Random, photographed: bool = True) -> Page:
    """A screenshot, a blank page or a plain photo-like image: `unknown`, with no fields."""
    canvas = Image.new("RGB", PAGE if photographed else (1, 1), tuple(rng.randint(0, 255) for _ in range(3)))
    draw = ImageDraw.Draw(canvas)
    texts: list[str] = []
    choice = rng.random()
    if choice < 0.4:
        for i in range(rng.randint(3, 8)):
            text = rng.choice(SCREENSHOT)
            draw.text((rng.randint(40, 800), 40 + i * 70), text, font=font("Regular", 26), fill=(20, 20, 20))
            texts.append(text)
    elif choice < 0.7:
        for _ in range(12):
            box = sorted(rng.randint(0, 1000) for _ in range(2)), sorted(rng.randint(0, 700) for _ in range(2))
            draw.ellipse(
                (box[0][0], box[1][0], box[0][1], box[1][1]), fill=tuple(rng.randint(0, 255) for _ in range(3))
            )
    return Page(UNKNOWN, photograph(canvas, rng) if photographed else b"", tuple(texts), {}, False)


def pages(per_kind: int, seed: int, held_out: bool, photographed: bool = True) -> Iterator[Page]:
    """`per_kind` pages of every kind (and as many that are not documents); the same seed, the same pages."""
    rng = random.Random(seed)
    for _ in range(per_kind):
        for kind in KINDS:
            yield render(kind, rng, held_out, photographed=photographed)
        yield not_a_document(rng, photographed)

"""Procedural photos of car-body panels, with and without damage, labelled with type and severity.

A panel is painted metal (any colour, a lighting gradient, a specular highlight, metallic grain,
sometimes a panel seam or a reflection streak: things that are not damage) or glass. Damage is
drawn on top: scratches (thin bright or dark strokes), dents (a shaded hollow) and cracks (rays and
rings from an impact point). Severity grows with the number, length and size of the marks.
Deterministic by seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from finfer.models.damage.classify import DAMAGE_TYPES

RENDER_SIZE = 160


@dataclass(frozen=True)
class Panel:
    image: bytes  # encoded JPEG, as uploaded
    damage_type: int
    severity: int


def _surface(rng: random.Random, size: int) -> tuple[np.ndarray, bool]:
    glass = rng.random() < 0.2
    if glass:
        base = np.array([rng.randint(30, 70), rng.randint(35, 75), rng.randint(40, 90)], np.float32)
    else:
        hue = rng.randint(0, 179)
        colour = cv2.cvtColor(np.uint8([[[hue, rng.randint(0, 255), rng.randint(40, 250)]]]), cv2.COLOR_HSV2BGR)
        base = colour[0, 0].astype(np.float32)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    angle = rng.uniform(0, 2 * math.pi)
    gradient = (xs * math.cos(angle) + ys * math.sin(angle)) * rng.uniform(-60, 60)
    cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.15, 0.5)
    highlight = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * r * r)) * rng.uniform(0, 70)
    image = base[None, None, :] + (gradient + highlight)[..., None]
    image += np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(1, 6), image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:  # a panel seam: long, straight, dark and not damage
        y = rng.randint(10, size - 10)
        cv2.line(image, (0, y), (size, y + rng.randint(-20, 20)), tuple(int(c * 0.4) for c in base), rng.randint(2, 4))
    if rng.random() < 0.3:  # a soft reflection streak
        overlay = np.zeros_like(image)
        x = rng.randint(0, size)
        cv2.line(overlay, (x, 0), (x + rng.randint(-60, 60), size), (90, 90, 90), rng.randint(8, 20))
        image = cv2.add(image, cv2.GaussianBlur(overlay, (0, 0), 6))
    return image, glass


def _scratch(image: np.ndarray, rng: random.Random, severity: int) -> None:
    size = image.shape[0]
    count = (1, rng.randint(2, 4), rng.randint(5, 9))[severity - 1]
    length = (0.25, 0.45, 0.7)[severity - 1] * size
    for _ in range(count):
        x, y = rng.uniform(0.1, 0.9) * size, rng.uniform(0.1, 0.9) * size
        angle = rng.uniform(0, math.pi)
        end = (int(x + length * math.cos(angle)), int(y + length * math.sin(angle)))
        shade = rng.choice((rng.randint(200, 255), rng.randint(0, 50)))
        cv2.line(image, (int(x), int(y)), end, (shade, shade, shade), rng.choice((1, 1, 2)), cv2.LINE_AA)


def _dent(image: np.ndarray, rng: random.Random, severity: int) -> None:
    size = image.shape[0]
    radius = (0.12, 0.2, 0.3)[severity - 1] * size * rng.uniform(0.85, 1.15)
    depth = (35, 55, 80)[severity - 1]
    cx, cy = rng.uniform(0.3, 0.7) * size, rng.uniform(0.3, 0.7) * size
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    dx, dy = (xs - cx) / radius, (ys - cy) / (radius * rng.uniform(0.6, 1.0))
    inside = np.clip(1 - (dx**2 + dy**2), 0, 1)
    light = rng.uniform(0, 2 * math.pi)
    # A hollow is dark on the side facing the light and bright on the other.
    shading = -(dx * math.cos(light) + dy * math.sin(light)) * inside * depth
    image[:] = np.clip(image.astype(np.float32) + shading[..., None], 0, 255).astype(np.uint8)


def _crack(image: np.ndarray, rng: random.Random, severity: int) -> None:
    size = image.shape[0]
    cx, cy = int(rng.uniform(0.25, 0.75) * size), int(rng.uniform(0.25, 0.75) * size)
    rays = (rng.randint(3, 5), rng.randint(6, 9), rng.randint(10, 16))[severity - 1]
    reach = (0.2, 0.4, 0.7)[severity - 1] * size
    colour = (235, 235, 235)
    for _ in range(rays):
        angle, x, y = rng.uniform(0, 2 * math.pi), float(cx), float(cy)
        for _ in range(4):  # a ray bends a little at each segment
            angle += rng.uniform(-0.4, 0.4)
            step = reach / 4 * rng.uniform(0.6, 1.2)
            nx, ny = x + step * math.cos(angle), y + step * math.sin(angle)
            cv2.line(image, (int(x), int(y)), (int(nx), int(ny)), colour, 1, cv2.LINE_AA)
            x, y = nx, ny
    for ring in range(severity):
        cv2.circle(image, (cx, cy), int(reach * (ring + 1) / (severity + 2)), colour, 1, cv2.LINE_AA)
    cv2.circle(image, (cx, cy), 2 + severity, colour, -1)


DRAW = {1: _scratch, 2: _dent, 3: _crack}


def render(rng: random.Random, damage_type: int, severity: int, size: int = RENDER_SIZE) -> np.ndarray:
    image, _ = _surface(rng, size)
    if damage_type:
        DRAW[damage_type](image, rng, severity)
    if rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.4, 1.0))
    return image


def panels(count: int, seed: int, size: int = RENDER_SIZE) -> Iterator[Panel]:
    """Balanced over damage types; damaged panels are balanced over the three severities."""
    rng = random.Random(seed)
    for index in range(count):
        damage_type = index % len(DAMAGE_TYPES)
        severity = rng.randint(1, 3) if damage_type else 0
        image = render(rng, damage_type, severity, size)
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(75, 95)])
        assert ok
        yield Panel(encoded.tobytes(), damage_type, severity)

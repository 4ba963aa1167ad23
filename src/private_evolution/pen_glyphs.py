"""Digits drawn by a pen: each digit a few strokes (smooth curves through control points), stroked
by a round pen whose width tapers along each stroke, as a hand writes rather than as a font prints.

A pen style is a set of stroke skeletons, one per digit, used by the glyph simulator like a font
(its name in ``api.glyph_simulator.fonts``): the atlas turns a skeleton into the same signed-distance
field a font's glyph gives, so size, aspect, rotation, shear, the displacement field (which bends
the strokes), stroke width, framing and blur vary a pen-drawn digit as they vary a printed one, and
the vote chooses between pens and fonts through ``font_switch_probability``.

Coordinates: a box 1 high (y down) and about 0.6 wide; a stroke is ``(points, closed)``, a
Catmull-Rom curve through ``points`` (two points: a straight line).

A style's variants (``<style>~<n>``, n >= 1) move every control point by a fixed, seeded offset:
another hand writing the same forms, with loops, bars and curls of other sizes and places, which
the displacement field (smooth over the whole glyph) does not reach. A point that several strokes
share moves once, so strokes that meet stay joined.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np

from . import PEError

PEN_PREFIX = "pen:"
DIGITS = tuple("0123456789")
DIGIT_HEIGHT = 64.0  # pixels of the field a digit is drawn in (fonts' digits: about 70 at GLYPH_FONT_SIZE 96)
PEN_RADIUS = 0.055  # half the pen's width where it presses most, as a fraction of the digit's height
VARIANT_SEPARATOR = "~"
VARIANT_JITTER = 0.06  # sd of a variant's control-point offsets, as a fraction of the digit's height
# Variants of each style in the default font list: with 20 (5, 10) beside the fonts the default's
# validation accuracy at epsilon 1 was 0.911 (0.904, 0.901) against 0.877 without; a second run
# 0.913 (0.917, 0.906) against 0.893 (VARIANT_FIDELITY.md): 5 and 20 tie.
DEFAULT_VARIANTS = 20
TAPER = 0.35  # the pen's width at a stroke's ends, as a fraction of its widest
POINTS_PER_SEGMENT = 12  # curve points between two control points

Stroke = tuple[tuple[tuple[float, float], ...], bool]

_ELLIPSE = tuple((0.3 + 0.27 * np.sin(a), 0.5 - 0.48 * np.cos(a)) for a in np.linspace(0, 2 * np.pi, 9)[:-1])

# The shapes most hands write (MNIST's commonest forms).
PLAIN: dict[str, tuple[Stroke, ...]] = {
    "0": ((tuple((round(x, 3), round(y, 3)) for x, y in _ELLIPSE), True),),
    "1": ((((0.36, 0.0), (0.26, 1.0)), False),),
    "2": (
        (((0.04, 0.24), (0.18, 0.04), (0.4, 0.0), (0.55, 0.17), (0.5, 0.42), (0.28, 0.7), (0.03, 0.98)), False),
        (((0.03, 0.98), (0.6, 0.97)), False),
    ),
    "3": (
        (((0.05, 0.13), (0.25, 0.0), (0.48, 0.06), (0.52, 0.27), (0.24, 0.47)), False),
        (((0.24, 0.47), (0.52, 0.6), (0.55, 0.84), (0.3, 1.0), (0.03, 0.9)), False),
    ),
    "4": (
        (((0.12, 0.0), (0.05, 0.58), (0.6, 0.58)), False),
        (((0.47, 0.1), (0.44, 1.0)), False),
    ),
    "5": (
        (((0.56, 0.02), (0.13, 0.03)), False),
        (((0.13, 0.03), (0.08, 0.42)), False),
        (((0.08, 0.42), (0.33, 0.36), (0.55, 0.55), (0.52, 0.84), (0.28, 1.0), (0.03, 0.92)), False),
    ),
    "6": (
        (((0.5, 0.0), (0.22, 0.24), (0.06, 0.6), (0.12, 0.92), (0.34, 1.0), (0.55, 0.84), (0.5, 0.6), (0.28, 0.53), (0.08, 0.68)), False),
    ),
    "7": (
        (((0.02, 0.03), (0.58, 0.03)), False),
        (((0.58, 0.03), (0.22, 1.0)), False),
    ),
    "8": (
        (((0.3, 0.48), (0.52, 0.3), (0.5, 0.08), (0.3, 0.0), (0.1, 0.08), (0.08, 0.3), (0.3, 0.48),
          (0.55, 0.7), (0.5, 0.95), (0.3, 1.0), (0.1, 0.95), (0.05, 0.7)), True),
    ),
    "9": (
        (((0.53, 0.26), (0.35, 0.45), (0.12, 0.42), (0.05, 0.22), (0.2, 0.02), (0.45, 0.02), (0.56, 0.2), (0.53, 0.55), (0.45, 1.0)), False),
    ),
}

# The other common forms: a 1 with a flag, a crossed 7, a closed 4, a 2 with a loop, a straight-stemmed
# 9, a 6 and a 0 that lean, a flat-topped 3.
FORMAL: dict[str, tuple[Stroke, ...]] = {
    "0": ((((0.36, 0.0), (0.56, 0.2), (0.52, 0.72), (0.28, 1.0), (0.06, 0.82), (0.08, 0.3)), True),),
    "1": (
        (((0.2, 0.14), (0.38, 0.0)), False),
        (((0.38, 0.0), (0.36, 1.0)), False),
    ),
    "2": (
        (((0.05, 0.2), (0.25, 0.0), (0.5, 0.06), (0.52, 0.34), (0.2, 0.78), (0.08, 0.95), (0.2, 0.86), (0.4, 0.96), (0.6, 0.92)), False),
    ),
    "3": (
        (((0.05, 0.02), (0.55, 0.02)), False),
        (((0.55, 0.02), (0.25, 0.4)), False),
        (((0.25, 0.4), (0.52, 0.55), (0.55, 0.84), (0.3, 1.0), (0.03, 0.9)), False),
    ),
    "4": (
        (((0.5, 0.0), (0.0, 0.62)), False),
        (((0.0, 0.62), (0.62, 0.62)), False),
        (((0.5, 0.0), (0.5, 1.0)), False),
    ),
    "5": (
        (((0.56, 0.02), (0.15, 0.02), (0.1, 0.45), (0.35, 0.38), (0.56, 0.6), (0.45, 0.92), (0.05, 0.95)), False),
    ),
    "6": (
        (((0.52, 0.05), (0.25, 0.35), (0.08, 0.75), (0.25, 1.0), (0.5, 0.88), (0.45, 0.58), (0.18, 0.6)), False),
    ),
    "7": (
        (((0.02, 0.03), (0.58, 0.03)), False),
        (((0.58, 0.03), (0.3, 1.0)), False),
        (((0.18, 0.52), (0.56, 0.5)), False),
    ),
    "8": (
        (((0.5, 0.12), (0.3, 0.0), (0.1, 0.14), (0.2, 0.38), (0.48, 0.62), (0.5, 0.9), (0.28, 1.0), (0.08, 0.86),
          (0.15, 0.6), (0.42, 0.38), (0.52, 0.2)), False),
    ),
    "9": (
        (((0.55, 0.08), (0.3, 0.0), (0.08, 0.15), (0.15, 0.4), (0.45, 0.38), (0.55, 0.08)), False),
        (((0.55, 0.08), (0.52, 1.0)), False),
    ),
}

PEN_STYLES: dict[str, dict[str, tuple[Stroke, ...]]] = {"pen_plain": PLAIN, "pen_formal": FORMAL}


def draws_classes(class_names: list[str] | None) -> bool:
    """Whether a pen style can draw every class: they are all digits."""
    return bool(class_names) and set(class_names) <= set(DIGITS)


def pen_font(style: str) -> str:
    """The font path the simulator carries for a pen style."""
    return PEN_PREFIX + style


def is_pen(font_path: str) -> bool:
    return str(font_path).startswith(PEN_PREFIX)


def style_digest(font_path: str) -> str:
    """Stands for a font file's content in the glyph cache's key: the style's name and this module
    (its strokes, its pen and how it draws them)."""
    from pathlib import Path

    return hashlib.sha256(_style(font_path).encode() + Path(__file__).read_bytes()).hexdigest()


def is_pen_style(name: str) -> bool:
    """Whether ``name`` names a pen style or one of its variants (``<style>~<n>``, n >= 1)."""
    style, separator, variant = str(name).partition(VARIANT_SEPARATOR)
    return style in PEN_STYLES and (not separator or (variant.isdigit() and int(variant) >= 1))


def style_variants(count: int) -> list[str]:
    """Every pen style, each followed by its variants 1..``count``."""
    return [name for style in PEN_STYLES for name in (style, *(f"{style}{VARIANT_SEPARATOR}{n}" for n in range(1, count + 1)))]


def _style(font_path: str) -> str:
    name = str(font_path)[len(PEN_PREFIX) :]
    if not is_pen_style(name):
        raise PEError(
            f"unknown pen style '{name}'; known: {sorted(PEN_STYLES)}, each also as <style>{VARIANT_SEPARATOR}<n> "
            f"(a variant, n >= 1; for example {next(iter(PEN_STYLES))}{VARIANT_SEPARATOR}2)"
        )
    return name


def strokes(name: str, text: str) -> tuple[Stroke, ...]:
    """The strokes of ``text`` in the style or variant ``name``: a variant moves each distinct
    control point by a normal offset (sd VARIANT_JITTER), seeded by the variant's name and the digit."""
    style, _, variant = name.partition(VARIANT_SEPARATOR)
    if text not in PEN_STYLES[style]:
        raise PEError(f"pen style '{name}' draws the digits 0-9 only, not '{text}': give it digit classes, or use fonts")
    drawn = PEN_STYLES[style][text]
    if not variant:
        return drawn
    points = sorted({point for stroke_points, _ in drawn for point in stroke_points})
    seed = int.from_bytes(hashlib.sha256(f"{style}{VARIANT_SEPARATOR}{variant} {text}".encode()).digest()[:8], "little")
    offsets = np.random.default_rng(seed).normal(0.0, VARIANT_JITTER, size=(len(points), 2))
    moved = {point: (point[0] + dx, point[1] + dy) for point, (dx, dy) in zip(points, offsets)}
    return tuple((tuple(moved[point] for point in stroke_points), closed) for stroke_points, closed in drawn)


def catmull_rom(points: np.ndarray, closed: bool, per_segment: int = POINTS_PER_SEGMENT) -> np.ndarray:
    """Points (m, 2) along the centripetal-free (uniform) Catmull-Rom curve through ``points``."""
    if len(points) == 2 and not closed:
        return points[0] + np.linspace(0, 1, per_segment + 1)[:, None] * (points[1] - points[0])
    if closed:
        padded = np.concatenate([points[-1:], points, points[:2]])
        segments = len(points)
    else:  # the ends continue their first and last segments
        padded = np.concatenate([2 * points[:1] - points[1:2], points, 2 * points[-1:] - points[-2:-1]])
        segments = len(points) - 1
    t = np.linspace(0, 1, per_segment, endpoint=False)[:, None]
    curve = []
    for k in range(segments):
        p0, p1, p2, p3 = padded[k : k + 4]
        curve.append(0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (3 * p1 - p0 - 3 * p2 + p3) * t**3))
    end = padded[1:2] if closed else points[-1:]
    return np.concatenate([*curve, end])


def _stroke_field(px: np.ndarray, py: np.ndarray, curve: np.ndarray, radius: float, taper: bool) -> np.ndarray:
    """Per pixel, the least over the curve's segments of (distance to the segment) - (the pen's
    radius there): a continuous field, negative inside the stroke. With ``taper`` the radius falls
    from ``radius`` mid-stroke to ``TAPER`` of it at the ends, as a hand lifts the pen."""
    field = np.full(px.shape, np.inf, dtype=np.float64)
    segments = len(curve) - 1
    for i in range(segments):
        start, d = curve[i], curve[i + 1] - curve[i]
        s = np.clip(((px - start[0]) * d[0] + (py - start[1]) * d[1]) / max(float(d @ d), 1e-12), 0.0, 1.0)
        distance = np.hypot(px - (start[0] + s * d[0]), py - (start[1] + s * d[1]))
        press = TAPER + (1 - TAPER) * np.sin(np.pi * (i + s) / segments) if taper else 1.0
        np.minimum(field, distance - radius * press, out=field)
    return field


def pen_field(font_path: str, text: str, margin: int) -> np.ndarray:
    """The signed distance (pixels, negative inside the ink) of ``text`` drawn in the pen style, with
    ``margin`` pixels of background around the ink."""
    radius = PEN_RADIUS * DIGIT_HEIGHT
    drawn = strokes(_style(font_path), text)
    curves = [(catmull_rom(np.array(points, dtype=np.float64) * DIGIT_HEIGHT, closed), closed) for points, closed in drawn]
    every = np.concatenate([curve for curve, _ in curves])
    low, high = every.min(axis=0) - radius - margin, every.max(axis=0) + radius + margin
    width, height = (int(np.ceil(v)) for v in high - low)
    px, py = np.meshgrid(np.arange(width) + 0.5 + low[0], np.arange(height) + 0.5 + low[1])
    field = np.full(px.shape, np.inf)
    for curve, closed in curves:
        field = np.minimum(field, _stroke_field(px, py, curve, radius, taper=not closed))
    return field.astype(np.float32)


# ----------------------------------------------------------------------------- continuous shapes
# A pen-drawn sample may carry its own shape: SHAPE_MODES coefficients (simulator parameters
# pen_1.. pen_K, in [-1, 1]) weigh fixed, seeded offset patterns of the style's control points, so
# the vote moves loops, bars and curls continuously, as it moves every other parameter. With all
# coefficients 0 a sample is its style's (cached) glyph. Coefficients drawn uniformly give each
# control point the jitter of a variant: sd VARIANT_JITTER.
SHAPE_MODES = 6
SHAPE_MODE_SD = VARIANT_JITTER * float(np.sqrt(3.0 / SHAPE_MODES))
SHAPED_POINTS_PER_SEGMENT = 6  # curve points between control points when each sample is drawn on its own


@functools.lru_cache(maxsize=2048)
def shape_basis(name: str, text: str) -> tuple[np.ndarray, np.ndarray, tuple[tuple[np.ndarray, bool], ...]]:
    """For the style or variant ``name`` and digit ``text``: its distinct control points (p, 2) and
    the offset modes (SHAPE_MODES, p, 2), in pixels of the field (DIGIT_HEIGHT); per stroke, the
    matrix (curve points, p) that gives its curve from the control points (Catmull-Rom is linear
    in them) and whether it is closed."""
    drawn = strokes(name, text)
    points = sorted({point for stroke_points, _ in drawn for point in stroke_points})
    index = {point: i for i, point in enumerate(points)}
    control = np.array(points, dtype=np.float64) * DIGIT_HEIGHT
    seed = int.from_bytes(hashlib.sha256(f"shape {name} {text}".encode()).digest()[:8], "little")
    modes = np.random.default_rng(seed).normal(0.0, SHAPE_MODE_SD * DIGIT_HEIGHT, size=(SHAPE_MODES, len(points), 2))
    matrices = []
    for stroke_points, closed in drawn:
        chosen = [index[point] for point in stroke_points]
        # the curve through unit vectors gives each control point's weight in every curve point
        unit = np.eye(len(chosen))
        weights = np.stack([catmull_rom(unit[:, [k]].repeat(2, axis=1), closed, SHAPED_POINTS_PER_SEGMENT)[:, 0] for k in range(len(chosen))], axis=1)
        matrix = np.zeros((len(weights), len(points)))
        for column, point in enumerate(chosen):
            matrix[:, point] += weights[:, column]
        matrices.append((matrix, closed))
    return control, modes, tuple(matrices)


def shaped_curves(font_path: str, text: str, coefficients: np.ndarray) -> list[tuple[np.ndarray, bool]]:
    """Per stroke, the curves (n, m, 2) of n samples of a pen style (``pen:<style>``) with shape
    ``coefficients`` (n, SHAPE_MODES), in pixels of the field (DIGIT_HEIGHT)."""
    control, modes, matrices = shape_basis(_style(font_path), text)
    moved = control[None] + np.tensordot(np.asarray(coefficients, dtype=np.float64), modes, axes=1)  # (n, p, 2)
    return [(np.einsum("cp,npd->ncd", matrix, moved), closed) for matrix, closed in matrices]


_AROUND = np.stack([np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], axis=1) / np.cos(np.pi / 8)


def curves_outline(curves: list[tuple[np.ndarray, bool]]) -> np.ndarray:
    """Points (n, q, 2) around each sample's ink: about each curve point an octagon that encloses
    the pen's disc there (tapered along open strokes, as :func:`curves_field` draws it), for the
    ink's box under any affine map."""
    grown = []
    for curve, closed in curves:
        segments = curve.shape[1] - 1
        press = np.ones(curve.shape[1]) if closed else TAPER + (1 - TAPER) * np.sin(np.pi * np.arange(curve.shape[1]) / segments)
        radius = PEN_RADIUS * DIGIT_HEIGHT * press[None, :, None, None]
        grown.append((curve[:, :, None, :] + radius * _AROUND[None, None]).reshape(len(curve), -1, 2))
    return np.concatenate(grown, axis=1)


def curves_field(px: np.ndarray, py: np.ndarray, curves: list[tuple[np.ndarray, bool]]) -> np.ndarray:
    """The signed distance (as pen_field's) at points px, py (n, ...) of each sample's own curves
    (n, m, 2) per stroke: the pen's radius, tapered along open strokes."""
    radius = PEN_RADIUS * DIGIT_HEIGHT
    field = np.full(px.shape, np.inf, dtype=np.float32)
    shape = (-1,) + (1,) * (px.ndim - 1)
    for curve, closed in curves:
        curve = curve.astype(np.float32)
        segments = curve.shape[1] - 1
        for i in range(segments):
            sx, sy = curve[:, i, 0].reshape(shape), curve[:, i, 1].reshape(shape)
            dx, dy = (curve[:, i + 1, 0] - curve[:, i, 0]).reshape(shape), (curve[:, i + 1, 1] - curve[:, i, 1]).reshape(shape)
            length2 = np.maximum(dx * dx + dy * dy, 1e-12)
            s = np.clip(((px - sx) * dx + (py - sy) * dy) / length2, 0.0, 1.0)
            distance = np.hypot(px - (sx + s * dx), py - (sy + s * dy))
            press = 1.0 if closed else TAPER + (1 - TAPER) * np.sin(np.pi * (i + s) / segments)
            np.minimum(field, distance - radius * press, out=field)
    return field

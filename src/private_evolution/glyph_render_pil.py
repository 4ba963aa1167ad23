"""The glyph simulator's first renderer: one glyph at a time with PIL at 4x supersampling.

Kept beside the batched renderer (``glyph_render.py``, the default) to compare against: the
same parameters with the same meaning, about 30 times slower (benchmarks/RENDERER.md).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from . import PEError
from .simulator import GLYPH_FONT_SIZE, MNIST_BOX, PARAMETER_NAMES

SUPERSAMPLING = 4


@functools.lru_cache(maxsize=4096)
def _glyph(font_path: str, text: str, stroke_px: int) -> Image.Image:
    """The text in white on black, cropped to its ink, at GLYPH_FONT_SIZE."""
    font = ImageFont.truetype(font_path, GLYPH_FONT_SIZE)
    side = GLYPH_FONT_SIZE * (len(text) + 2)
    canvas = Image.new("L", (side, side), 0)
    ImageDraw.Draw(canvas).text(
        (side // 2, side // 2), text, fill=255, font=font, anchor="mm", stroke_width=stroke_px, stroke_fill=255
    )
    box = canvas.getbbox()
    if box is None:
        raise PEError(f"font '{font_path}' draws nothing for '{text}'")
    return canvas.crop(box)


def _warp(image: Image.Image, values: dict, box: tuple[float, float, float, float]) -> Image.Image:
    """Bend the strokes: move every pixel by the smooth displacement field over ``box``."""
    coefficients = np.array([[values[f"warp_{axis}{k}"] for k in range(1, 5)] for axis in ("x", "y")])
    if not np.any(coefficients):
        return image
    from scipy.ndimage import map_coordinates

    left, top, right, bottom = box
    width, height = max(right - left, 1.0), max(bottom - top, 1.0)
    rows, columns = np.mgrid[0 : image.size[1], 0 : image.size[0]].astype(np.float64)
    u, v = np.clip((columns - left) / width, 0, 1), np.clip((rows - top) / height, 0, 1)
    su, sv, s2u, s2v = np.sin(np.pi * u), np.sin(np.pi * v), np.sin(2 * np.pi * u), np.sin(2 * np.pi * v)
    basis = np.stack([su * sv, s2u * sv, su * s2v, s2u * s2v])
    side = max(width, height)
    dx = np.tensordot(coefficients[0], basis, axes=1) * side
    dy = np.tensordot(coefficients[1], basis, axes=1) * side
    # The output pixel at (r, c) shows the input at (r - dy, c - dx): the ink moves by (dx, dy).
    pixels = np.asarray(image, dtype=np.float64)
    moved = map_coordinates(pixels, [rows - dy, columns - dx], order=1, mode="constant", cval=0.0)
    return Image.fromarray(np.clip(moved, 0, 255).astype(np.uint8))


def _centre_by_mass(box: np.ndarray, image_size: int) -> np.ndarray:
    """Place ``box`` (the framed glyph) in an image_size canvas so its centre of mass is the centre."""
    canvas = np.zeros((image_size, image_size), dtype=np.float64)
    mass = box.sum()
    height, width = box.shape
    if mass > 0:
        rows, columns = np.indices(box.shape)
        centre_row, centre_column = (rows * box).sum() / mass, (columns * box).sum() / mass
    else:
        centre_row, centre_column = (height - 1) / 2, (width - 1) / 2
    top = int(round((image_size - 1) / 2 - centre_row))
    left = int(round((image_size - 1) / 2 - centre_column))
    top, left = min(max(top, 0), image_size - height), min(max(left, 0), image_size - width)
    canvas[top : top + height, left : left + width] = box
    return canvas


def render(class_name: str, font_path: str, params: np.ndarray, image_size: int, framing: str = "free") -> np.ndarray:
    """One glyph image (image_size x image_size, uint8) from its parameters.

    ``framing: free`` places the glyph by its size and shift parameters; ``mnist`` ignores
    them and frames the ink as MNIST did (fit into the 20/28 box, centred by centre of mass).
    """
    values = dict(zip(PARAMETER_NAMES, params.tolist()))
    stroke_px = int(round(values["stroke"] * GLYPH_FONT_SIZE))
    glyph = _glyph(font_path, class_name, stroke_px)
    width, height = glyph.size
    side = image_size * SUPERSAMPLING
    size = values["size"] if framing == "free" else MNIST_BOX
    scale = size * side / max(width, height)
    stretch = math.exp(values["aspect"])
    angle = math.radians(values["rotation"])
    cos, sin = math.cos(angle), math.sin(angle)
    # Forward map (glyph -> output), about the glyph centre: rotation . shear . stretch . scale.
    rotate = np.array([[cos, sin], [-sin, cos]])  # image y points down, so this turns counter-clockwise
    shear = np.array([[1.0, values["shear"]], [0.0, 1.0]])
    forward = rotate @ shear @ np.diag([stretch * scale, scale])
    inverse = np.linalg.inv(forward)
    shift = (values["shift_x"], values["shift_y"]) if framing == "free" else (0.0, 0.0)
    centre_out = np.array([side / 2 + shift[0] * side, side / 2 + shift[1] * side])
    centre_glyph = np.array([width / 2, height / 2])
    offset = centre_glyph - inverse @ centre_out
    coefficients = (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1])
    large = glyph.transform((side, side), Image.Transform.AFFINE, coefficients, resample=Image.Resampling.BILINEAR)
    large = _warp(large, values, large.getbbox() or (0, 0, side, side))
    if framing == "free":
        image = large.resize((image_size, image_size), Image.Resampling.BOX)
    else:
        image = _frame_like_mnist(large, image_size)
    if values["blur"] > 0.05:
        image = image.filter(ImageFilter.GaussianBlur(values["blur"]))
    return np.asarray(image, dtype=np.uint8)


def _frame_like_mnist(large: Image.Image, image_size: int) -> Image.Image:
    ink = large.getbbox()
    if ink is None:
        return Image.new("L", (image_size, image_size), 0)
    glyph = large.crop(ink)
    box = max(1, int(round(MNIST_BOX * image_size)))
    width, height = glyph.size
    factor = box / max(width, height)
    target = (max(1, int(round(width * factor))), max(1, int(round(height * factor))))
    small = np.asarray(glyph.resize(target, Image.Resampling.BOX), dtype=np.float64)
    return Image.fromarray(np.clip(np.round(_centre_by_mass(small, image_size)), 0, 255).astype(np.uint8))

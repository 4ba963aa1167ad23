"""The glyph simulator's renderer and parameters (the API class is ``apis/glyph_simulator.py``;
in the spirit of PE with simulators, "APIs 3").

Each sample is described by a font and a vector of continuous rendering
parameters; its pixels are a deterministic function of (class, font, params).
RANDOM_API draws parameters uniformly from their ranges; VARIATION_API moves
them by Gaussian steps whose scale is the variation degree, and switches font
with a probability that also grows with the degree. Variation therefore works
in parameter space, and degree 0 returns the input unchanged.

To reach handwriting, not only print: handwriting-style fonts that ship in registry
wheels join matplotlib's, stroke thickness varies, and a smooth low-frequency
displacement field (8 coefficients per sample, varied like every other parameter)
bends the strokes. With ``framing: mnist`` (the default) each glyph is then framed as
MNIST's digits were made: its ink scaled to fit a 20x20 box (of 28; the same fraction
at other sizes), keeping its aspect ratio, and centred by its centre of mass.
"""

from __future__ import annotations

import functools
import math
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from . import PEError


@dataclass(frozen=True)
class Parameter:
    name: str
    low: float
    high: float
    step: float  # standard deviation of a variation step at degree 1
    meaning: str


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("size", 0.50, 0.85, 0.08, "larger side of the glyph box, as a fraction of the image side"),
    Parameter("aspect", -0.35, 0.35, 0.10, "log of the horizontal stretch"),
    Parameter("rotation", -25.0, 25.0, 8.0, "rotation in degrees, counter-clockwise"),
    Parameter("shear", -0.40, 0.40, 0.12, "horizontal shear"),
    Parameter("stroke", 0.0, 0.08, 0.02, "extra stroke width, as a fraction of the font size"),
    Parameter("shift_x", -0.08, 0.08, 0.03, "horizontal offset, as a fraction of the image side"),
    Parameter("shift_y", -0.08, 0.08, 0.03, "vertical offset, as a fraction of the image side"),
    # Up to 0.3 pixel, not more: a pixel-space vote favours blur (a blurred digit is close in L2
    # to many written ones), so with a wide range the population drifted to blurred glyphs and
    # away from the data in every other feature space (benchmarks/FIDELITY.md).
    Parameter("blur", 0.0, 0.3, 0.25, "Gaussian blur radius in output pixels"),
    # A smooth displacement field over the glyph's box (u, v in [0, 1]):
    # dx = sum_k warp_x_k * b_k(u, v), dy = sum_k warp_y_k * b_k(u, v), in units of the box side,
    # with b_1..b_4 = sin(pi u) sin(pi v), sin(2 pi u) sin(pi v), sin(pi u) sin(2 pi v), sin(2 pi u) sin(2 pi v).
    *(
        Parameter(f"warp_{axis}{k}", -0.06, 0.06, 0.02, f"{'horizontal' if axis == 'x' else 'vertical'} displacement mode {k}")
        for axis in ("x", "y")
        for k in range(1, 5)
    ),
)
PARAMETER_NAMES = tuple(p.name for p in PARAMETERS)
_LOW = np.array([p.low for p in PARAMETERS])
_HIGH = np.array([p.high for p in PARAMETERS])
STEP = np.array([p.step for p in PARAMETERS])

# Fonts that ship inside matplotlib's wheel and draw ASCII letters and digits.
BUNDLED_FONTS: tuple[str, ...] = (
    "DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique",
    "DejaVuSansMono", "DejaVuSansMono-Bold", "DejaVuSansMono-Oblique", "DejaVuSansMono-BoldOblique",
    "DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSerif-Italic", "DejaVuSerif-BoldItalic",
    "STIXGeneral", "STIXGeneralBol", "STIXGeneralItalic", "STIXGeneralBolIta",
    "cmr10", "cmb10", "cmss10", "cmtt10", "cmti10",
)
# Handwriting-style fonts that registry wheels ship (SIL OFL / MIT): (package, file in it).
HANDWRITING_FONTS: tuple[tuple[str, str], ...] = (
    ("font_amatic_sc", "files/AmaticSC-Regular.ttf"),
    ("font_amatic_sc", "files/AmaticSC-Bold.ttf"),
    ("font_intuitive", "files/Intuitive.ttf"),
    ("handwriting_generator", "fonts/ShadowsIntoLight.ttf"),
)
FRAMINGS = ("mnist", "free")
MNIST_BOX = 20 / 28  # MNIST: the digit's ink fits a 20x20 box in the 28x28 image
GLYPH_FONT_SIZE = 96  # glyphs are drawn large once, then transformed and box-filtered down
SUPERSAMPLING = 4
_DRAWABLE = set(string.ascii_letters + string.digits + string.punctuation)


def font_directory() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def handwriting_fonts() -> dict[str, Path]:
    """The handwriting fonts whose wheels are installed, by name (the file name without suffix)."""
    import importlib.util

    found = {}
    for package, relative in HANDWRITING_FONTS:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        path = Path(list(spec.submodule_search_locations)[0]) / relative
        if path.is_file():
            found[path.stem] = path
    return found


def resolve_fonts(names: list[str] | None) -> list[Path]:
    """Font files for the configured names: bundled or handwriting names, or paths to .ttf/.otf files.

    ``None`` takes every bundled font and every installed handwriting font."""
    handwriting = handwriting_fonts()
    chosen = list(names) if names else [*BUNDLED_FONTS, *handwriting]
    paths = []
    for name in chosen:
        if name.endswith((".ttf", ".otf")):
            path = Path(name)
        elif name in handwriting:
            path = handwriting[name]
        else:
            path = font_directory() / f"{name}.ttf"
        if not path.is_file():
            raise PEError(
                f"font '{name}' not found (looked for '{path}'); use one of {list(BUNDLED_FONTS) + list(handwriting)} "
                f"or a path to a .ttf file (the handwriting fonts come from the wheels "
                f"{sorted({package.replace('_', '-') for package, _ in HANDWRITING_FONTS})})"
            )
        paths.append(path)
    return paths


def parameter_bounds(ranges: dict) -> tuple[np.ndarray, np.ndarray]:
    """Each parameter's [low, high]: the defaults above, with ``api.glyph_simulator.ranges``
    ({name: [low, high]}) replacing some. Steps keep their scale."""
    low, high = _LOW.copy(), _HIGH.copy()
    for name, bounds in ranges.items():
        if name not in PARAMETER_NAMES:
            raise PEError(f"api.glyph_simulator.ranges: unknown parameter '{name}'; known: {list(PARAMETER_NAMES)}")
        if len(bounds) != 2 or not float(bounds[0]) <= float(bounds[1]):
            raise PEError(f"api.glyph_simulator.ranges.{name} must be [low, high] with low <= high, got {bounds}")
        index = PARAMETER_NAMES.index(name)
        low[index], high[index] = float(bounds[0]), float(bounds[1])
    return low, high


def can_draw(class_name: str) -> bool:
    return 1 <= len(class_name) <= 3 and all(ch in _DRAWABLE for ch in class_name)


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


def render(class_name: str, font_path: str, params: np.ndarray, image_size: int, framing: str = "mnist") -> np.ndarray:
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

"""A glyph simulator as the generation API (in the spirit of PE with simulators, "APIs 3").

Each sample is described by a font and a vector of continuous rendering
parameters; its pixels are a deterministic function of (class, font, params).
RANDOM_API draws parameters uniformly from their ranges; VARIATION_API moves
them by Gaussian steps whose scale is the variation degree, and switches font
with a probability that also grows with the degree. Variation therefore works
in parameter space, and degree 0 returns the input unchanged.
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
from .io import Population


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
    Parameter("blur", 0.0, 1.2, 0.25, "Gaussian blur radius in output pixels"),
)
PARAMETER_NAMES = tuple(p.name for p in PARAMETERS)
_LOW = np.array([p.low for p in PARAMETERS])
_HIGH = np.array([p.high for p in PARAMETERS])
_STEP = np.array([p.step for p in PARAMETERS])

# Fonts that ship inside matplotlib's wheel and draw ASCII letters and digits.
BUNDLED_FONTS: tuple[str, ...] = (
    "DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique",
    "DejaVuSansMono", "DejaVuSansMono-Bold", "DejaVuSansMono-Oblique", "DejaVuSansMono-BoldOblique",
    "DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSerif-Italic", "DejaVuSerif-BoldItalic",
    "STIXGeneral", "STIXGeneralBol", "STIXGeneralItalic", "STIXGeneralBolIta",
    "cmr10", "cmb10", "cmss10", "cmtt10", "cmti10",
)
GLYPH_FONT_SIZE = 96  # glyphs are drawn large once, then transformed and box-filtered down
SUPERSAMPLING = 4
_DRAWABLE = set(string.ascii_letters + string.digits + string.punctuation)


def font_directory() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def resolve_fonts(names: list[str] | None) -> list[Path]:
    """Font files for the configured names: bundled names, or paths to .ttf/.otf files."""
    chosen = list(names) if names else list(BUNDLED_FONTS)
    paths = []
    for name in chosen:
        path = Path(name) if name.endswith((".ttf", ".otf")) else font_directory() / f"{name}.ttf"
        if not path.is_file():
            raise PEError(
                f"font '{name}' not found (looked for '{path}'); use one of {list(BUNDLED_FONTS)} "
                "or a path to a .ttf file"
            )
        paths.append(path)
    return paths


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


def render(class_name: str, font_path: str, params: np.ndarray, image_size: int) -> np.ndarray:
    """One glyph image (image_size x image_size, uint8) from its parameters."""
    values = dict(zip(PARAMETER_NAMES, params.tolist()))
    stroke_px = int(round(values["stroke"] * GLYPH_FONT_SIZE))
    glyph = _glyph(font_path, class_name, stroke_px)
    width, height = glyph.size
    side = image_size * SUPERSAMPLING
    scale = values["size"] * side / max(width, height)
    stretch = math.exp(values["aspect"])
    angle = math.radians(values["rotation"])
    cos, sin = math.cos(angle), math.sin(angle)
    # Forward map (glyph -> output), about the glyph centre: rotation . shear . stretch . scale.
    rotate = np.array([[cos, sin], [-sin, cos]])  # image y points down, so this turns counter-clockwise
    shear = np.array([[1.0, values["shear"]], [0.0, 1.0]])
    forward = rotate @ shear @ np.diag([stretch * scale, scale])
    inverse = np.linalg.inv(forward)
    centre_out = np.array([side / 2 + values["shift_x"] * side, side / 2 + values["shift_y"] * side])
    centre_glyph = np.array([width / 2, height / 2])
    offset = centre_glyph - inverse @ centre_out
    coefficients = (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1])
    large = glyph.transform((side, side), Image.Transform.AFFINE, coefficients, resample=Image.Resampling.BILINEAR)
    image = large.resize((image_size, image_size), Image.Resampling.BOX)
    if values["blur"] > 0.05:
        image = image.filter(ImageFilter.GaussianBlur(values["blur"]))
    return np.asarray(image, dtype=np.uint8)


class GlyphSimulator:
    """RANDOM_API and VARIATION_API over rendered glyphs of the class names."""

    name = "glyph_simulator"

    def __init__(self, class_names: list[str], image_size: int, channels: int, options: dict):
        cannot = [name for name in class_names if not can_draw(name)]
        if cannot:
            raise PEError(
                f"the glyph simulator cannot make classes {cannot}: it draws class names of 1 to 3 "
                "ASCII letters, digits or punctuation. Rename the classes or choose another api.name"
            )
        self.class_names = list(class_names)
        self.image_size = image_size
        self.channels = channels
        self.font_paths = [str(path) for path in resolve_fonts(options.get("fonts"))]
        self.font_switch = float(options.get("font_switch_probability", 0.3))
        self.invert = bool(options.get("invert", False))

    def _render_all(self, labels: np.ndarray, fonts: np.ndarray, params: np.ndarray) -> np.ndarray:
        images = np.empty((len(labels), self.image_size, self.image_size, self.channels), dtype=np.uint8)
        for i, (label, font, values) in enumerate(zip(labels, fonts, params)):
            pixels = render(self.class_names[label], self.font_paths[font], values, self.image_size)
            if self.invert:
                pixels = 255 - pixels
            images[i] = pixels[..., None]
        return images

    def _population(self, labels: np.ndarray, fonts: np.ndarray, params: np.ndarray) -> Population:
        return Population(
            images=self._render_all(labels, fonts, params),
            labels=labels.astype(np.int64),
            state={"font": fonts.astype(np.int64), "params": params.astype(np.float64)},
        )

    def random_api(self, labels: np.ndarray, seeds: np.ndarray) -> Population:
        fonts = np.empty(len(labels), dtype=np.int64)
        params = np.empty((len(labels), len(PARAMETERS)))
        for i, seed in enumerate(seeds):
            rng = np.random.default_rng(int(seed))
            fonts[i] = rng.integers(len(self.font_paths))
            params[i] = rng.uniform(_LOW, _HIGH)
        return self._population(labels, fonts, params)

    def variation_api(self, parents: Population, degree: float, seeds: np.ndarray) -> Population:
        if degree < 0:
            raise PEError(f"variation degree must be >= 0, got {degree}")
        fonts = parents.state["font"].copy()
        params = parents.state["params"].astype(np.float64, copy=True)
        switch_probability = min(1.0, degree * self.font_switch)
        for i, seed in enumerate(seeds):
            rng = np.random.default_rng(int(seed))
            step = rng.normal(size=len(PARAMETERS)) * _STEP * degree
            params[i] = np.clip(params[i] + step, _LOW, _HIGH)
            if rng.random() < switch_probability:
                fonts[i] = rng.integers(len(self.font_paths))
        return self._population(parents.labels, fonts, params)

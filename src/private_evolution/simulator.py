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
bends the strokes. With ``framing: free`` (the default) the size and shift parameters place
the glyph, so the vote tunes them to the data; with ``framing: mnist`` each glyph is framed as
MNIST's digits were made: its ink scaled to fit a 20x20 box (of 28; the same fraction
at other sizes), keeping its aspect ratio, and centred by its centre of mass.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from . import PEError
from .pen_glyphs import SHAPE_MODES


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
    # A pen style's own shape (pen_glyphs.SHAPE_MODES seeded offset patterns of its control points),
    # drawn and varied only with api.glyph_simulator.pen_shapes; fonts do not read them.
    *(Parameter(f"pen_{k}", -1.0, 1.0, 0.3, f"pen styles: weight of control-point offset pattern {k}") for k in range(1, SHAPE_MODES + 1)),
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
FRAMINGS = ("free", "mnist")
MNIST_BOX = 20 / 28  # MNIST: the digit's ink fits a 20x20 box in the 28x28 image
GLYPH_FONT_SIZE = 96  # glyphs are rasterised at this size once (stroke is a fraction of it), then transformed
MAX_STROKE = 0.22  # the widest stroke a range may ask for (the glyph field keeps room for it)
# How a population's pixels are made: "batched" (glyph_render.py, the whole population in a
# few array operations) or "pil" (glyph_render_pil.py, one glyph at a time with PIL at 4x
# supersampling: the first renderer, kept to compare against).
RENDERERS = ("batched", "pil")
_DRAWABLE = set(string.ascii_letters + string.digits + string.punctuation)


def font_directory() -> Path:
    """matplotlib's bundled fonts, found without importing matplotlib (a second of a job's time)."""
    import importlib.util

    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise PEError("the glyph simulator's bundled fonts come with matplotlib: pip install matplotlib")
    return Path(list(spec.submodule_search_locations)[0]) / "mpl-data" / "fonts" / "ttf"


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


def default_font_names(class_names: list[str] | None = None) -> list[str]:
    """What ``fonts: null`` takes: every bundled font, every installed handwriting font and, when
    every class name is a digit, every pen style with its first ``pen_glyphs.DEFAULT_VARIANTS``
    variants (with them the default's synthetic digits train a better classifier on the validation
    part: benchmarks/PEN_FIDELITY.md, VARIANT_FIDELITY.md)."""
    from .pen_glyphs import DEFAULT_VARIANTS, draws_classes, style_variants

    pens = style_variants(DEFAULT_VARIANTS) if draws_classes(class_names) else []
    return [*BUNDLED_FONTS, *handwriting_fonts(), *pens]


def resolve_fonts(names: list[str] | None, class_names: list[str] | None = None) -> list[str]:
    """Font files for the configured names: bundled or handwriting names, paths to .ttf/.otf files,
    or pen styles (``pen_glyphs.PEN_STYLES``: digits drawn by a pen) and their variants (``<style>~<n>``),
    as ``pen:<style>``;
    ``None``: :func:`default_font_names` for ``class_names``."""
    from .pen_glyphs import PEN_STYLES, is_pen_style, pen_font

    handwriting = handwriting_fonts()
    chosen = list(names) if names else default_font_names(class_names)
    paths = []
    for name in chosen:
        if is_pen_style(name):
            paths.append(pen_font(name))
            continue
        if name.endswith((".ttf", ".otf")):
            path = Path(name)
        elif name in handwriting:
            path = handwriting[name]
        else:
            path = font_directory() / f"{name}.ttf"
        if not path.is_file():
            raise PEError(
                f"font '{name}' not found (looked for '{path}'); use one of {list(BUNDLED_FONTS) + list(handwriting)}, "
                f"a pen style {sorted(PEN_STYLES)} or its variant (<style>~<n>, n >= 1), or a path to a .ttf file (the handwriting fonts come from the wheels "
                f"{sorted({package.replace('_', '-') for package, _ in HANDWRITING_FONTS})})"
            )
        paths.append(str(path))
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
        if name == "stroke" and not (0 <= float(bounds[0]) and float(bounds[1]) <= MAX_STROKE):
            raise PEError(f"api.glyph_simulator.ranges.stroke must lie within [0, {MAX_STROKE}], got {bounds}")
        index = PARAMETER_NAMES.index(name)
        low[index], high[index] = float(bounds[0]), float(bounds[1])
    return low, high


def can_draw(class_name: str) -> bool:
    return 1 <= len(class_name) <= 3 and all(ch in _DRAWABLE for ch in class_name)

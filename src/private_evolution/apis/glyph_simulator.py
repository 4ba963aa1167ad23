"""The glyph simulator API: rendered class names, varied in parameter space (see ``simulator.py``)."""

from __future__ import annotations

import numpy as np

from .. import PEError
from ..population import Population
from ..pen_glyphs import SHAPE_MODES as SHAPES, draws_classes, is_pen
from ..progress import Progress
from ..simulator import FRAMINGS, PARAMETERS, RENDERERS, STEP, can_draw, parameter_bounds, resolve_fonts
from .base import API


class GlyphSimulator(API):
    """RANDOM_API and VARIATION_API over rendered glyphs of the class names."""

    name = "glyph_simulator"

    def __init__(self, class_names: list[str], image_size: int, channels: int, options: dict):
        super().__init__(class_names, image_size, channels, options)
        cannot = [name for name in class_names if not can_draw(name)]
        if cannot:
            raise PEError(
                f"the glyph simulator cannot make classes {cannot}: it draws each class name as text of 1 to 3 "
                "ASCII letters, digits or punctuation. Either give every class a short alias in label order in "
                "dataset.class_names (e.g. ['T', 'Tr', 'Pu', ...] for Fashion-MNIST: the images show the alias, and "
                "released files name the classes by it), or choose an API that makes images from any names: "
                "api.name: stable_diffusion (text prompts) or diffusion_unet (a diffusers model)"
            )
        self.renderer = options.get("renderer", "batched")
        if self.renderer not in RENDERERS:
            raise PEError(f"unknown renderer '{self.renderer}'; known: {list(RENDERERS)}")
        # the default font list holds the pen styles where they can draw: digit classes, batched renderer
        self.font_paths = resolve_fonts(options.get("fonts"), class_names if self.renderer == "batched" else None)
        self.font_switch = float(options.get("font_switch_probability", 0.3))
        self.invert = bool(options.get("invert", False))
        self.framing = options.get("framing", "free")
        self.low, self.high = parameter_bounds(options.get("ranges") or {})
        # displacement: false keeps every warp coefficient at 0 (printed glyphs, no bent strokes)
        self.active = np.array([options.get("displacement", True) or not p.name.startswith("warp_") for p in PARAMETERS])
        # pen_shapes: each pen-drawn sample's control points move by its own pen_k coefficients
        # (pen_glyphs.shaped_curves). RANDOM_API leaves them 0, each style's own form (drawn
        # uniformly they made implausible shapes: over 3 PE seeds the FD at epsilon 1 was 124
        # against the default's 107, accuracy no better), and VARIATION_API moves them after every
        # other random number, so the fonts and other parameters are those without the option
        self.shapes = np.array([p.name.startswith("pen_") for p in PARAMETERS])
        self.active &= ~self.shapes
        self.pen_shapes = bool(options.get("pen_shapes", False))
        if self.framing not in FRAMINGS:
            raise PEError(f"unknown framing '{self.framing}'; known: {list(FRAMINGS)}")
        pens = [path for path in self.font_paths if is_pen(path)]
        if pens and self.renderer != "batched":
            raise PEError(f"pen styles {pens} need renderer 'batched' (the '{self.renderer}' renderer draws fonts only)")
        if pens and not draws_classes(class_names):
            raise PEError(
                f"pen styles {pens} draw the digits 0-9, and the classes are {class_names}: "
                "remove the pen styles from api.glyph_simulator.fonts, or name the classes by digits"
            )

    def _render_all(self, labels: np.ndarray, fonts: np.ndarray, params: np.ndarray) -> np.ndarray:
        if self.renderer == "batched":
            from ..glyph_render import render_population

            pixels = render_population(
                self.class_names, self.font_paths, labels, fonts, params, self.image_size, self.framing, threads=self.threads
            )
        else:
            from ..glyph_render_pil import render

            pixels = np.empty((len(labels), self.image_size, self.image_size), dtype=np.uint8)
            progress = Progress(len(labels), "rendering glyphs (PIL)")
            for i, (label, font, values) in enumerate(zip(labels, fonts, params)):
                pixels[i] = render(self.class_names[label], self.font_paths[font], values, self.image_size, self.framing)
                progress.update(1)
        if self.invert:
            pixels = 255 - pixels
        return np.repeat(pixels[..., None], self.channels, axis=-1)

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
            params[i] = 0.0
            params[i, ~self.shapes] = np.where(self.active[~self.shapes], rng.uniform(self.low[~self.shapes], self.high[~self.shapes]), 0.0)
        return self._population(labels, fonts, params)

    def variation_api(self, parents: Population, degree: float, seeds: np.ndarray) -> Population:
        if degree < 0:
            raise PEError(f"variation degree must be >= 0, got {degree}")
        fonts = parents.state["font"].copy()
        params = parents.state["params"].astype(np.float64, copy=True)
        switch_probability = min(1.0, degree * self.font_switch)
        for i, seed in enumerate(seeds):
            rng = np.random.default_rng(int(seed))
            step = rng.normal(size=len(PARAMETERS) - SHAPES) * STEP[~self.shapes] * degree * self.active[~self.shapes]
            params[i, ~self.shapes] = np.clip(params[i, ~self.shapes] + step, self.low[~self.shapes], self.high[~self.shapes])
            if rng.random() < switch_probability:
                fonts[i] = rng.integers(len(self.font_paths))
            if self.pen_shapes:
                shape_step = rng.normal(size=SHAPES) * STEP[self.shapes] * degree
                params[i, self.shapes] = np.clip(params[i, self.shapes] + shape_step, self.low[self.shapes], self.high[self.shapes])
        return self._population(parents.labels, fonts, params)

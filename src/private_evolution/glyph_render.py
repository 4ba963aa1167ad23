"""The glyph simulator's batched renderer: a whole population of glyphs in a few array operations.

Every sample is the same chain of maps, so the chain is evaluated for all samples at once
(numpy, float32 pixels, in chunks that stay in cache):

    glyph pixel --affine--> canvas --displacement field--> bent canvas --framing--> output pixel

- affine: size, aspect, rotation, shear and shift, about the centre of the stroked glyph's box;
- displacement field: a smooth field over the box of the transformed glyph (``simulator.py``);
- framing: ``free`` shows the canvas as it is; ``mnist`` scales the bent ink's box to fit the
  20/28 box and then moves the image by whole pixels to put the ink's centre of mass in the
  middle, as MNIST was made.

Each output pixel is found by walking the chain backwards and reading the glyph's
signed-distance field (``glyph_atlas.py``) there: stroke width is a threshold on the
distance and the distance over the pixel's footprint gives anti-aliased coverage. The
boxes the chain needs come from the glyph's outline points walked forwards. Blur last.
Each sample's pixels depend only on its own parameters, never on the batch it is in.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .glyph_atlas import font_glyphs, max_stroke_px
from .pen_glyphs import SHAPE_MODES, curves_field, curves_outline, is_pen, shaped_curves
from .progress import Progress
from .simulator import GLYPH_FONT_SIZE, MNIST_BOX, PARAMETER_NAMES

CHUNK = 256  # samples per array pass: about 10 MB of float32 temporaries at 28 x 28


def available_cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


_INDEX = {name: i for i, name in enumerate(PARAMETER_NAMES)}
_WARP_X = [_INDEX[f"warp_x{k}"] for k in range(1, 5)]
_WARP_Y = [_INDEX[f"warp_y{k}"] for k in range(1, 5)]
_PEN_SHAPE = [_INDEX[f"pen_{k}"] for k in range(1, SHAPE_MODES + 1)]


def render_population(
    texts: list[str], font_paths: list[str], labels: np.ndarray, fonts: np.ndarray, params: np.ndarray,
    image_size: int, framing: str = "free", supersampling: int = 1, threads: int | None = None,
) -> np.ndarray:
    """Images (n, image_size, image_size) uint8 of text ``texts[label]`` in font ``font_paths[font]``,
    on ``threads`` threads (default: the processors this process may use)."""
    labels, fonts = np.asarray(labels, dtype=np.int64), np.asarray(fonts, dtype=np.int64)
    params = np.asarray(params, dtype=np.float64).reshape(len(labels), len(PARAMETER_NAMES))
    images = np.empty((len(labels), image_size, image_size), dtype=np.uint8)
    # samples of one glyph together: a chunk then reads few fields, which stay in cache
    order = np.argsort(fonts * len(texts) + labels, kind="stable")
    parts = [order[begin : begin + CHUNK] for begin in range(0, len(labels), CHUNK)]
    progress = Progress(len(labels), "rendering glyphs")

    def render(part):
        images[part] = _render_chunk(texts, font_paths, labels[part], fonts[part], params[part], image_size, framing, supersampling)
        progress.update(len(part))

    workers = min(threads or available_cpus(), len(parts))
    if workers <= 1:
        for part in parts:
            render(part)
        return images
    # numpy lets go of the interpreter lock inside each array operation: chunks render in parallel
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(render, parts))
    return images


class _Atlas:
    """The distinct glyphs of a chunk, their fields in one flat array, and per-sample lookups."""

    def __init__(self, texts, font_paths, labels, fonts):
        keys, entry = np.unique(np.stack([fonts, labels], axis=1), axis=0, return_inverse=True)
        entry = entry.reshape(-1)
        texts = tuple(texts)  # the key of a font's glyphs in memory and in the cache folder
        glyphs = [font_glyphs(font_paths[f], texts)[t] for f, t in keys]
        sizes = np.array([g.sdf.size for g in glyphs])
        self.texels = np.concatenate([g.texels for g in glyphs])
        self.base = np.concatenate([[0], np.cumsum(sizes)[:-1]])[entry].astype(np.intp)
        self.width = np.array([g.sdf.shape[1] for g in glyphs], dtype=np.intp)[entry]
        self.height = np.array([g.sdf.shape[0] for g in glyphs], dtype=np.intp)[entry]
        self.ink_box = np.array([g.ink_box for g in glyphs])[entry]  # (n, 4)
        # the points around each sample's glyph's ink, padded with NaN
        longest = max(len(g.outline) for g in glyphs)
        padded = np.full((len(glyphs), longest, 2), np.nan, dtype=np.float32)
        for k, g in enumerate(glyphs):
            padded[k, : len(g.outline)] = g.outline
        self.points = padded[entry]

    def shape(self, texts, font_paths, labels, fonts, coefficients) -> None:
        """Samples of a pen style with a shape of their own (any pen_k coefficient not 0) are drawn
        from their own curves: their ink box and outline points replace the style's, and
        :meth:`distance` reads their curves. Their frame: the curves' pixels, edges from 0."""
        self.shaped = []
        shaped = np.any(coefficients != 0, axis=1)
        if not shaped.any():  # every chunk without pen_shapes: no per-sample work
            return
        shaped &= np.array([is_pen(font_paths[f]) for f in fonts], dtype=bool)
        if not shaped.any():
            return
        outlines = []
        for font, label in sorted({(int(f), int(t)) for f, t in zip(fonts[shaped], labels[shaped])}):
            chosen = np.flatnonzero(shaped & (fonts == font) & (labels == label))
            curves = shaped_curves(font_paths[font], texts[label], coefficients[chosen])
            outline = curves_outline(curves).astype(np.float32)
            self.ink_box[chosen] = np.concatenate([outline.min(axis=1), outline.max(axis=1)], axis=1)
            self.shaped.append((chosen, curves))
            outlines.append((chosen, outline))
        longest = max(self.points.shape[1], max(o.shape[1] for _, o in outlines))
        if longest > self.points.shape[1]:
            padded = np.full((len(self.points), longest, 2), np.nan, dtype=np.float32)
            padded[:, : self.points.shape[1]] = self.points
            self.points = padded
        for chosen, outline in outlines:
            self.points[chosen] = np.nan
            self.points[chosen, : outline.shape[1]] = outline

    def distance(self, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
        """The signed distance at glyph coordinates (n, ...): the stored fields', the shaped
        samples' from their curves (coordinates from the first pixel's centre, so + 0.5)."""
        distance = self.sample(gx, gy)
        for chosen, curves in self.shaped:
            distance[chosen] = curves_field(gx[chosen] + 0.5, gy[chosen] + 0.5, curves)
        return distance

    def sample(self, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
        """Bilinear reading of each sample's field at glyph coordinates (n, ...) measured from the
        first pixel's centre (edges clamped: outside the stored field lies only background)."""
        shape = (-1,) + (1,) * (gx.ndim - 1)
        width, height = self.width.reshape(shape), self.height.reshape(shape)
        x = np.clip(gx, 0, (width - 1.001).astype(np.float32))
        y = np.clip(gy, 0, (height - 1.001).astype(np.float32))
        x0, y0 = np.floor(x), np.floor(y)
        index = (y0 * width.astype(np.float32) + x0).astype(np.intp)
        index += self.base.reshape(shape)
        texel = self.texels.take(index, axis=0)  # (n, ..., 4): one gather of 16 bytes per point
        fx, fy = x - x0, y - y0
        return texel[..., 0] + fx * texel[..., 1] + fy * (texel[..., 2] + fx * texel[..., 3])


def _modes(t):
    """sin(pi t) and sin(2 pi t) of t clipped to [0, 1] (the field's basis along one axis)."""
    t = np.clip(t, 0, 1)
    first = np.sin(np.pi * t)
    return first, 2 * first * np.cos(np.pi * t)


def _field(su, s2u, sv, s2v, side, cx, cy):
    """(dx, dy) from the basis along x (su, s2u) and along y (sv, s2v), broadcast against each other."""
    dx = side * (sv * (cx[0] * su + cx[1] * s2u) + s2v * (cx[2] * su + cx[3] * s2u))
    dy = side * (sv * (cy[0] * su + cy[1] * s2u) + s2v * (cy[2] * su + cy[3] * s2u))
    return dx, dy


def _box_parts(box, coefficients_x, coefficients_y, ndim):
    shape = (-1,) + (1,) * (ndim - 1)
    left, top, right, bottom = (box[:, k].reshape(shape) for k in range(4))
    width, height = np.maximum(right - left, 1e-6), np.maximum(bottom - top, 1e-6)
    cx = [c.reshape(shape) for c in coefficients_x.T]
    cy = [c.reshape(shape) for c in coefficients_y.T]
    return left, top, width, height, np.maximum(width, height), cx, cy


def _displacement(x, y, box, coefficients_x, coefficients_y):
    """The displacement field (dx, dy) at canvas points x, y (same shape, leading axis = sample)."""
    left, top, width, height, side, cx, cy = _box_parts(box, coefficients_x, coefficients_y, x.ndim)
    su, s2u = _modes((x - left) / width)
    sv, s2v = _modes((y - top) / height)
    return _field(su, s2u, sv, s2v, side, cx, cy)


def _glyph_coordinates(column_x, row_y, field_box, warp_x, warp_y, canvas_centre, inverse, glyph_centre):
    """Glyph pixel coordinates (gx, gy), each (count, rows, columns), of the bent-canvas grid of
    columns x (count, m) and rows y (count, m).

    The field's box is upright, so its basis separates into a row part and a column part, and
    so does each coordinate after the inverse affine: gx[r, c] = sum_j row_j[r] * column_j[c]
    with rows (1, y, sin(pi v), sin(2 pi v)). One small matrix product per sample then gives
    the whole grid, instead of a dozen passes over it.
    """
    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    left, top, width, height, side, cx, cy = _box_parts(f32(field_box), f32(warp_x), f32(warp_y), 2)
    su, s2u = _modes((column_x - left) / width)
    sv, s2v = _modes((row_y - top) / height)
    x = column_x - f32(canvas_centre[:, 0:1])
    y = row_y - f32(canvas_centre[:, 1:2])
    # dx = side (sv p + s2v q), dy = side (sv r + s2v t), with p, q, r, t functions of the column
    p, q = cx[0] * su + cx[1] * s2u, cx[2] * su + cx[3] * s2u
    r, t = cy[0] * su + cy[1] * s2u, cy[2] * su + cy[3] * s2u
    inv = f32(inverse)
    columns = []
    for axis in (0, 1):
        a, b = inv[:, axis, 0:1], inv[:, axis, 1:2]
        columns.append(np.stack([
            a * x + f32(glyph_centre[:, axis : axis + 1]), np.broadcast_to(b, x.shape),
            -side * (a * p + b * r), -side * (a * q + b * t),
        ], axis=1))  # (count, 4, m)
    rows = np.stack([np.ones_like(y), y, sv, s2v], axis=2)  # (count, m, 4)
    both = rows @ np.concatenate(columns, axis=2)  # (count, m, 2 m)
    m = column_x.shape[1]
    return both[:, :, :m], both[:, :, m:]


def _box_of(x, y):
    """Per sample, the box (left, top, right, bottom) of points (n, m) that are not NaN."""
    return np.stack([np.nanmin(x, axis=1), np.nanmin(y, axis=1), np.nanmax(x, axis=1), np.nanmax(y, axis=1)], axis=1)


def _render_chunk(texts, font_paths, labels, fonts, params, image_size, framing, supersampling):
    count, n = len(labels), image_size
    value = {name: params[:, i] for name, i in _INDEX.items()}
    stroke_px = np.clip(value["stroke"] * GLYPH_FONT_SIZE, 0.0, max_stroke_px())
    atlas = _Atlas(texts, font_paths, labels, fonts)
    atlas.shape(texts, font_paths, labels, fonts, params[:, _PEN_SHAPE])
    warp_x, warp_y = params[:, _WARP_X], params[:, _WARP_Y]

    # glyph -> canvas ([0, 1] squared): rotation . shear . stretch . scale about the glyph box's centre
    left, top = atlas.ink_box[:, 0] - stroke_px, atlas.ink_box[:, 1] - stroke_px
    right, bottom = atlas.ink_box[:, 2] + stroke_px, atlas.ink_box[:, 3] + stroke_px
    glyph_centre = np.stack([(left + right) / 2, (top + bottom) / 2], axis=1)
    size = value["size"] if framing == "free" else np.full(count, MNIST_BOX)
    scale = size / np.maximum(right - left, bottom - top)
    angle = np.radians(value["rotation"])
    cos, sin, stretch = np.cos(angle), np.sin(angle), np.exp(value["aspect"])
    rotate = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], axis=1)  # y points down: counter-clockwise
    shear = np.zeros((count, 2, 2))
    shear[:, 0, 0], shear[:, 0, 1], shear[:, 1, 1] = 1.0, value["shear"], 1.0
    forward = rotate @ shear @ (np.eye(2) * np.stack([stretch * scale, scale], axis=1)[:, None, :])
    inverse = np.linalg.inv(forward)
    if framing == "free":
        canvas_centre = np.stack([0.5 + value["shift_x"], 0.5 + value["shift_y"]], axis=1)
    else:
        canvas_centre = np.full((count, 2), 0.5)

    # the outline forwards: the transformed glyph's box (the field's domain), then the bent ink's box
    relative = atlas.points - glyph_centre[:, None, :].astype(np.float32)
    matrix, shift = forward.astype(np.float32), canvas_centre.astype(np.float32)
    px = matrix[:, None, 0, 0] * relative[..., 0] + matrix[:, None, 0, 1] * relative[..., 1] + shift[:, None, 0]
    py = matrix[:, None, 1, 0] * relative[..., 0] + matrix[:, None, 1, 1] * relative[..., 1] + shift[:, None, 1]
    # the stroke grows the ink by a disc; the mapped disc's box is +- stroke times each row's length
    grown = (stroke_px[:, None] * np.hypot(forward[:, :, 0], forward[:, :, 1])).astype(np.float32)  # (count, 2)
    growth = np.concatenate([-grown, grown], axis=1)
    field_box = _box_of(px, py) + growth
    bent_x, bent_y = px, py
    for _ in range(2):  # a bent point q satisfies q = p + d(q): two fixed-point steps
        dx, dy = _displacement(bent_x, bent_y, field_box, warp_x.astype(np.float32), warp_y.astype(np.float32))
        bent_x, bent_y = px + dx, py + dy

    # canvas -> output pixels: y = zoom * (x - centre) + n / 2
    if framing == "free":
        zoom, centre = np.full(count, float(n)), np.full((count, 2), 0.5)
    else:
        ink = _box_of(bent_x, bent_y) + growth
        extent = np.maximum(np.maximum(ink[:, 2] - ink[:, 0], ink[:, 3] - ink[:, 1]), 1e-6)
        zoom = max(1, round(MNIST_BOX * n)) / extent
        centre = np.stack([(ink[:, 0] + ink[:, 2]) / 2, (ink[:, 1] + ink[:, 3]) / 2], axis=1)

    # every output (sub)pixel backwards: output -> bent canvas -> canvas -> glyph field
    offsets = (np.arange(n * supersampling) + 0.5) / supersampling - n / 2
    column_x = (offsets[None, :] / zoom[:, None] + centre[:, 0:1]).astype(np.float32)  # (count, m)
    row_y = (offsets[None, :] / zoom[:, None] + centre[:, 1:2]).astype(np.float32)
    # glyph coordinates from the first pixel's centre, as the field is stored
    gx, gy = _glyph_coordinates(column_x, row_y, field_box, warp_x, warp_y, canvas_centre, inverse, glyph_centre - 0.5)
    distance = atlas.distance(gx, gy)
    # one output sample spans this many glyph pixels: the edge ramps over it (anti-aliasing)
    footprint = 1.0 / (zoom * supersampling * np.sqrt(np.abs(np.linalg.det(forward))))
    slope = (-1.0 / footprint).astype(np.float32)[:, None, None]
    level = (0.5 + stroke_px / footprint).astype(np.float32)[:, None, None]
    coverage = np.clip(distance * slope + level, 0, 1)
    if supersampling > 1:
        coverage = coverage.reshape(count, n, supersampling, n, supersampling).mean(axis=(2, 4))
    if framing == "mnist":
        box_origin = zoom[:, None] * (ink[:, :2] - centre) + n / 2
        coverage = _centre_by_mass(coverage, box_origin, zoom[:, None] * (ink[:, 2:] - ink[:, :2]))
    coverage = _blur(coverage, value["blur"])
    return np.clip(np.rint(coverage * 255), 0, 255).astype(np.uint8)


def _centre_by_mass(images: np.ndarray, box_origin: np.ndarray, box_extent: np.ndarray) -> np.ndarray:
    """Move each image by whole pixels so its centre of mass lands on the middle pixel, keeping the
    framed box (origin and extent in output pixels, x then y) inside the image."""
    count, n, _ = images.shape
    mass = images.sum(axis=(1, 2))
    safe = np.where(mass > 0, mass, 1.0)
    index = np.arange(n, dtype=np.float32)
    com_x = np.where(mass > 0, (images.sum(axis=1) * index).sum(axis=1) / safe, (n - 1) / 2)
    com_y = np.where(mass > 0, (images.sum(axis=2) * index).sum(axis=1) / safe, (n - 1) / 2)
    shift = np.rint(np.stack([(n - 1) / 2 - com_x, (n - 1) / 2 - com_y], axis=1))
    lowest = np.ceil(-box_origin - 1e-6)
    highest = np.floor(n - (box_origin + box_extent) + 1e-6)
    shift = np.clip(shift, lowest, np.maximum(lowest, highest)).astype(np.int64)
    rows = np.arange(n)[None, :] - shift[:, 1:2]  # (count, n): the source row of each row
    columns = np.arange(n)[None, :] - shift[:, 0:1]
    inside = ((rows >= 0) & (rows < n)).astype(np.float32)[:, :, None] * ((columns >= 0) & (columns < n)).astype(np.float32)[:, None, :]
    moved = images[np.arange(count)[:, None, None], np.clip(rows, 0, n - 1)[:, :, None], np.clip(columns, 0, n - 1)[:, None, :]]
    return moved * inside


def _blur(images: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Gaussian blur with each sample's standard deviation in pixels (none below 0.05), separable.
    Samples are blurred in groups of equal kernel width, so a sample's pixels never depend on
    the other samples of its batch."""
    half_widths = np.where(radius > 0.05, np.ceil(3 * radius), 0).astype(np.int64)
    images = images.copy()
    for half in np.unique(half_widths[half_widths > 0]):
        chosen = np.nonzero(half_widths == half)[0]
        taps = np.arange(-half, half + 1, dtype=np.float64)
        weights = np.exp(-0.5 * (taps[None, :] / radius[chosen, None]) ** 2)
        weights = (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)[:, :, None, None]
        part, n = images[chosen], images.shape[1]
        for axis in (1, 2):
            padded = np.pad(part, [(0, 0)] + [(half, half) if a == axis else (0, 0) for a in (1, 2)])
            part = sum(
                weights[:, k] * (padded[:, k : k + n, :] if axis == 1 else padded[:, :, k : k + n]) for k in range(len(taps))
            )
        images[chosen] = part
    return images

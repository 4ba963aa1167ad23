"""Each (font, text) glyph rasterised once, as a signed-distance field (the batched renderer's input).

A signed-distance field (SDF) holds, per pixel of a large rendering, the distance to the
glyph's outline in pixels (negative inside the ink). Stroke width is then a threshold
(ink where distance <= stroke), and sampling it at any affine position with a known pixel
footprint gives anti-aliased coverage directly, so one field serves every size, stroke,
rotation and bend of a glyph.

Beside the field, points around the ink's convex hull: where the glyph's box (for the
size and the displacement field) and its ink's box (for MNIST framing) land after a
transform is found from these few points, not from pixels.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import PEError
from .pen_glyphs import is_pen, pen_field, style_digest
from .simulator import GLYPH_FONT_SIZE, MAX_STROKE

# Room around the ink for the widest stroke a range may ask for, and a little more.
MARGIN = int(np.ceil(MAX_STROKE * GLYPH_FONT_SIZE)) + 3
OUTLINE_STEP = 4.0  # points on the outline's hull at most this many pixels apart


@dataclass(frozen=True, eq=False)
class Glyph:
    sdf: np.ndarray  # (height, width) float32, pixels, negative inside the ink
    ink_box: tuple[float, float, float, float]  # left, top, right, bottom of the unstroked ink (pixel edges)
    outline: np.ndarray  # (m, 2) x, y points around the convex hull of the unstroked ink

    @functools.cached_property
    def texels(self) -> np.ndarray:
        """Per pixel (row-major) the bilinear patch to its right and below: value, x step, y step,
        cross term; a renderer reads one 16-byte texel per point instead of four values."""
        sdf = self.sdf
        right = np.concatenate([sdf[:, 1:], sdf[:, -1:]], axis=1)
        down = np.concatenate([sdf[1:], sdf[-1:]], axis=0)
        corner = np.concatenate([right[1:], right[-1:]], axis=0)
        return np.stack([sdf, right - sdf, down - sdf, corner - right - down + sdf], axis=-1).reshape(-1, 4)

    def box(self, stroke_px: float) -> tuple[float, float, float, float]:
        """The ink's box once stroked by ``stroke_px`` pixels (the stroke grows the ink on every side)."""
        left, top, right, bottom = self.ink_box
        return left - stroke_px, top - stroke_px, right + stroke_px, bottom + stroke_px


def max_stroke_px() -> float:
    return MAX_STROKE * GLYPH_FONT_SIZE


@functools.lru_cache(maxsize=64)
def _font(font_path: str):
    from PIL import ImageFont

    return ImageFont.truetype(font_path, GLYPH_FONT_SIZE)


def _coverage(font_path: str, text: str) -> np.ndarray:
    from PIL import Image, ImageDraw

    font = _font(font_path)
    side = GLYPH_FONT_SIZE * (len(text) + 2)
    canvas = Image.new("L", (side, side), 0)
    ImageDraw.Draw(canvas).text((side // 2, side // 2), text, fill=255, font=font, anchor="mm")
    box = canvas.getbbox()
    if box is None:
        raise PEError(f"font '{font_path}' draws nothing for '{text}'")
    cropped = np.asarray(canvas.crop(box), dtype=np.float32) / 255.0
    return np.pad(cropped, MARGIN)


def signed_distance(coverage: np.ndarray) -> np.ndarray:
    """Distance in pixels from each pixel centre to the outline (the 0.5 level of ``coverage``),
    negative inside; the anti-aliased coverage refines it to a fraction of a pixel."""
    from scipy.ndimage import distance_transform_edt

    ink = coverage >= 0.5
    outside = distance_transform_edt(~ink)  # to the nearest ink pixel centre
    inside = distance_transform_edt(ink)  # to the nearest background pixel centre
    # A pixel next to the outline: its coverage says how far the edge lies from its centre.
    edge = np.clip(0.5 - coverage, -0.5, 0.5)
    distance = np.where(ink, -(inside - 0.5), outside - 0.5)
    near = np.where(ink, inside <= 1.0, outside <= 1.0)
    return np.where(near, edge, distance).astype(np.float32)


@functools.lru_cache(maxsize=256)
def font_glyphs(font_path: str, texts: tuple[str, ...]) -> tuple[Glyph, ...]:
    """The glyphs of ``texts`` (the class names) in the font: from memory, else from the cache
    folder, else made (a few milliseconds each) and stored there. One stored file holds a
    font's glyphs of every text: a vary job reads the default list's 67 fonts and pen styles in
    67 reads, where 670 files (one a glyph) took a third of its time."""
    stored = cache_file(font_path, texts)
    if stored is not None and stored.is_file():
        try:
            return _unpack_all(np.load(stored, allow_pickle=False), len(texts))
        except (OSError, EOFError, ValueError, IndexError, OverflowError):
            pass  # a damaged or foreign file (empty after a crash, another format): make the glyphs again and replace it
    made = tuple(make_glyph(font_path, text) for text in texts)
    if stored is not None:
        _store(stored, made)
    return made


def make_glyph(font_path: str, text: str) -> Glyph:
    if is_pen(font_path):  # strokes give their distance field directly
        sdf = pen_field(font_path, text, MARGIN)
        ink = sdf <= 0
    else:
        coverage = _coverage(font_path, text)
        sdf = signed_distance(coverage)
        ink = coverage >= 0.5
    rows, columns = np.nonzero(ink)
    ink_box = (float(columns.min()), float(rows.min()), float(columns.max() + 1), float(rows.max() + 1))
    return Glyph(sdf=sdf, ink_box=ink_box, outline=hull_outline(ink))


def cache_folder() -> Path | None:
    """Where glyph fields are kept between processes: $PE_GLYPH_CACHE, or
    $XDG_CACHE_HOME/pe-workflow/glyph-fields (~/.cache/...); PE_GLYPH_CACHE=off keeps none."""
    chosen = os.environ.get("PE_GLYPH_CACHE")
    if chosen == "off":
        return None
    if chosen:
        return Path(chosen)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pe-workflow" / "glyph-fields"


@functools.lru_cache(maxsize=256)  # the default list: 25 fonts and 42 pen styles and variants
def _font_digest(font_path: str) -> str:
    if is_pen(font_path):
        return style_digest(font_path)
    return hashlib.sha256(Path(font_path).read_bytes()).hexdigest()


@functools.lru_cache(maxsize=1)
def _maker_digest() -> str:
    """The code that makes a field: a change to it makes every stored field stale."""
    return hashlib.sha256(Path(__file__).read_bytes() + f"{GLYPH_FONT_SIZE} {MAX_STROKE}".encode()).hexdigest()


def cache_file(font_path: str, texts: tuple[str, ...]) -> Path | None:
    """The stored fields of (font file content, texts, the code that made them), or None."""
    folder = cache_folder()
    if folder is None:
        return None
    key = hashlib.sha256(f"{_font_digest(font_path)} {tuple(texts)!r} {_maker_digest()}".encode()).hexdigest()
    return folder / f"{key[:40]}.npy"


def _store(path: Path, made: tuple[Glyph, ...]) -> None:
    """Write atomically (concurrent jobs may make the same glyphs); a folder that cannot be
    written only costs the next process the time to make the glyphs again."""
    handle = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
            np.save(handle, _pack_all(made))
        os.replace(handle.name, path)
    except OSError:
        if handle is not None:  # a full disk: leave no partial file behind
            Path(handle.name).unlink(missing_ok=True)


def _pack_all(made: tuple[Glyph, ...]) -> np.ndarray:
    """The glyphs' packed vectors after a head of their count and lengths (exact in float32)."""
    packed = [_pack(one) for one in made]
    return np.concatenate([np.array([len(packed), *map(len, packed)], np.float32), *packed])


def _unpack_all(stored, count: int) -> tuple[Glyph, ...]:
    if not isinstance(stored, np.ndarray) or stored.dtype != np.float32:
        raise ValueError("not a file of glyph fields")
    if stored.ndim != 1 or len(stored) < count + 1 or int(stored[0]) != count:
        raise ValueError("not a file of this many glyphs")
    bounds = count + 1 + np.concatenate([[0], np.cumsum(stored[1 : count + 1].astype(np.int64))])
    if bounds[-1] != len(stored):
        raise ValueError("truncated glyph fields")
    return tuple(_unpack(stored[begin:end]) for begin, end in zip(bounds[:-1], bounds[1:]))


def _pack(made: Glyph) -> np.ndarray:
    """One float32 vector (a plain .npy reads ten times faster than an .npz): the ink box, the
    outline's length and points, the field's height and width, the field. All exact in float32."""
    height, width = made.sdf.shape
    head = [*made.ink_box, len(made.outline)]
    return np.concatenate([np.array(head, np.float32), made.outline.reshape(-1), np.array([height, width], np.float32), made.sdf.reshape(-1)])


def _unpack(packed: np.ndarray) -> Glyph:
    ink_box, count = tuple(float(v) for v in packed[:4]), int(packed[4])
    outline = packed[5 : 5 + 2 * count].reshape(count, 2)
    height, width = (int(v) for v in packed[5 + 2 * count : 7 + 2 * count])
    sdf = packed[7 + 2 * count :].reshape(height, width)
    if sdf.size != height * width:
        raise ValueError("truncated glyph field")
    return Glyph(sdf=sdf, ink_box=ink_box, outline=outline)


def hull_outline(ink: np.ndarray) -> np.ndarray:
    """Points (m, 2) around the convex hull of the ink pixels (as squares), OUTLINE_STEP apart.

    An affine map takes the hull to the hull of the mapped ink, so these points give the exact
    box of a rotated, sheared glyph (a stroke adds a disc, whose mapped box is known exactly);
    the displacement field is smooth and small, so the bent ink's box is found from the bent
    points to a fraction of an output pixel."""
    # the hull's corners are among each row's first and last ink pixel's corners
    rows = np.nonzero(ink.any(axis=1))[0]
    first = ink[rows].argmax(axis=1)
    last = ink.shape[1] - 1 - ink[rows, ::-1].argmax(axis=1)
    corners = np.concatenate([
        np.stack([first, rows], 1), np.stack([first, rows + 1], 1), np.stack([last + 1, rows], 1), np.stack([last + 1, rows + 1], 1)
    ]).astype(np.float64)
    hull = convex_hull(corners)
    edges = np.roll(hull, -1, axis=0) - hull
    pieces = np.maximum(1, np.ceil(np.hypot(edges[:, 0], edges[:, 1]) / OUTLINE_STEP)).astype(np.int64)
    edge = np.repeat(np.arange(len(hull)), pieces)
    fraction = (np.arange(pieces.sum()) - np.repeat(np.cumsum(pieces) - pieces, pieces)) / pieces[edge]
    return (hull[edge] + edges[edge] * fraction[:, None]).astype(np.float32)


_DIRECTIONS = np.stack([np.cos(np.arange(256) * np.pi / 128), np.sin(np.arange(256) * np.pi / 128)], axis=1)


def convex_hull(points: np.ndarray) -> np.ndarray:
    """The hull's vertices of points (m, 2) that are extreme in one of 256 directions, in angular
    order: every hull vertex whose outer angle exceeds 1.4 degrees, so the polygon lies within a
    hair's breadth of the hull (vertices it skips sit on nearly straight runs)."""
    extreme = np.argmax(points @ _DIRECTIONS.T, axis=0)
    _, first = np.unique(extreme, return_index=True)
    return points[extreme[np.sort(first)]]

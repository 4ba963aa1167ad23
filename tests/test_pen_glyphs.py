"""Digits drawn by a pen (pen_glyphs): stroke skeletons the glyph simulator uses like fonts."""

from __future__ import annotations

import numpy as np
import pytest

from private_evolution import PEError, glyph_atlas
from private_evolution.apis.glyph_simulator import GlyphSimulator
from private_evolution.pen_glyphs import PEN_STYLES, VARIANT_JITTER, catmull_rom, pen_field, pen_font, strokes, style_variants
from private_evolution.seeding import per_sample_seeds
from private_evolution.simulator import resolve_fonts

DIGITS = [str(d) for d in range(10)]


def test_the_curve_passes_through_its_control_points_and_closes():
    points = np.array([[0.0, 0.0], [1.0, 0.5], [0.5, 1.0], [0.0, 0.7]])
    open_curve = catmull_rom(points, closed=False, per_segment=8)
    assert np.allclose(open_curve[::8], points)  # every 8th point is a control point, the last one too
    closed_curve = catmull_rom(points, closed=True, per_segment=8)
    assert np.allclose(closed_curve[::8][:4], points) and np.allclose(closed_curve[-1], closed_curve[0])
    line = catmull_rom(points[:2], closed=False, per_segment=4)
    assert np.allclose(line, np.linspace(points[0], points[1], 5))


@pytest.mark.parametrize("style", sorted(PEN_STYLES))
def test_every_digit_is_a_field_of_strokes_with_ink_inside_and_room_around(style):
    for digit in DIGITS:
        field = pen_field(pen_font(style), digit, margin=5)
        ink = field <= 0
        assert 0.04 < ink.mean() < 0.5, (style, digit, ink.mean())
        # the margin and a pen's radius of background on every side; the field grows away from the ink
        assert not ink[:5].any() and not ink[-5:].any() and not ink[:, :5].any() and not ink[:, -5:].any()
        assert field[0, 0] > 5 and field.min() < -1
        # the value changes by about a pixel per pixel (a distance field, not a mask; the taper adds a little)
        assert np.abs(np.diff(field, axis=0)).max() < 1.15 and np.abs(np.diff(field, axis=1)).max() < 1.15


def test_the_two_styles_draw_different_forms():
    for digit in ("1", "4", "7"):
        plain = pen_field(pen_font("pen_plain"), digit, 3) <= 0
        formal = pen_field(pen_font("pen_formal"), digit, 3) <= 0
        assert plain.shape != formal.shape or (plain != formal).mean() > 0.05


def test_pen_styles_are_named_like_fonts_and_kept_in_the_glyph_cache(tmp_path, monkeypatch):
    assert resolve_fonts(["pen_plain", "DejaVuSans"])[0] == "pen:pen_plain"
    monkeypatch.setenv("PE_GLYPH_CACHE", str(tmp_path / "fields"))
    glyph_atlas.font_glyphs.cache_clear()
    (made,) = glyph_atlas.font_glyphs("pen:pen_plain", ("3",))
    stored = glyph_atlas.cache_file("pen:pen_plain", ("3",))
    assert stored.is_file() and stored != glyph_atlas.cache_file("pen:pen_formal", ("3",))
    glyph_atlas.font_glyphs.cache_clear()
    (loaded,) = glyph_atlas.font_glyphs("pen:pen_plain", ("3",))
    assert np.array_equal(loaded.sdf, made.sdf) and loaded.ink_box == made.ink_box
    left, top, right, bottom = made.ink_box
    assert (made.sdf[int(top) : int(bottom), int(left) : int(right)] <= 0).any()
    glyph_atlas.font_glyphs.cache_clear()


def test_a_simulator_with_pens_and_fonts_renders_every_digit_and_varies_between_them():
    api = GlyphSimulator(DIGITS, 28, 1, {"fonts": ["pen_plain", "pen_formal", "DejaVuSans"], "framing": "mnist"})
    labels = np.repeat(np.arange(10), 12)
    population = api.random_api(labels, per_sample_seeds(0, len(labels), "random"))
    pens = population.state["font"] < 2
    assert 0.3 < pens.mean() < 0.9
    ink = population.images[..., 0].astype(float)
    assert (ink.max(axis=(1, 2)) == 255).all() and ((ink > 127).mean(axis=(1, 2)) > 0.02).all()
    again = api.random_api(labels, per_sample_seeds(0, len(labels), "random"))
    assert np.array_equal(again.images, population.images)  # a function of the seed
    varied = api.variation_api(population, 1.0, per_sample_seeds(0, len(labels), "vary"))
    assert (varied.state["font"] != population.state["font"]).any()  # a variation may change pen or font


def test_pens_refuse_classes_that_are_not_digits_and_the_first_renderer():
    with pytest.raises(PEError, match=r"pen styles \['pen:pen_plain'\] draw the digits 0-9, and the classes are \['A', 'B'\]"):
        GlyphSimulator(["A", "B"], 28, 1, {"fonts": ["pen_plain"]})
    with pytest.raises(PEError, match="need renderer 'batched'"):
        GlyphSimulator(DIGITS, 28, 1, {"fonts": ["pen_plain"], "renderer": "pil"})
    with pytest.raises(PEError, match="unknown pen style 'pen_cursive'"):
        pen_field("pen:pen_cursive", "1", 3)
    with pytest.raises(PEError, match="draws the digits 0-9 only, not 'x'"):
        pen_field("pen:pen_plain", "x", 3)
    with pytest.raises(PEError, match=r"a pen style \['pen_formal', 'pen_plain'\]"):
        resolve_fonts(["pen_cursive"])


def test_a_variant_moves_every_control_point_and_keeps_shared_points_joined():
    assert style_variants(2) == ["pen_plain", "pen_plain~1", "pen_plain~2", "pen_formal", "pen_formal~1", "pen_formal~2"]
    for digit in DIGITS:
        drawn, moved = strokes("pen_plain", digit), strokes("pen_plain~3", digit)
        assert [closed for _, closed in drawn] == [closed for _, closed in moved]
        before = np.concatenate([np.array(points) for points, _ in drawn])
        after = np.concatenate([np.array(points) for points, _ in moved])
        offsets = after - before
        assert before.shape == after.shape and (np.abs(offsets) > 0).all()
        assert np.abs(offsets).max() < 6 * VARIANT_JITTER
        # a point that two strokes share (where they meet) moves once: they stay joined
        for point in {tuple(p) for p in before}:
            rows = (before == point).all(axis=1)
            assert len({tuple(p) for p in after[rows]}) == 1, (digit, point)
    # each digit of each variant its own offsets; a variant the same in every process (seeded by its name)
    assert strokes("pen_plain~3", "7") != strokes("pen_plain~4", "7") and strokes("pen_plain~3", "7") == strokes("pen_plain~3", "7")
    joined = [(points, closed) for points, closed in strokes("pen_plain~1", "7")]
    assert joined[0][0][-1] == joined[1][0][0]  # the 7's bar ends where its stem begins


def test_variants_are_named_like_fonts_cached_apart_and_drawn_as_other_hands():
    assert resolve_fonts(["pen_formal~2"]) == ["pen:pen_formal~2"]
    assert glyph_atlas.cache_file("pen:pen_plain~1", ("3",)) != glyph_atlas.cache_file("pen:pen_plain", ("3",))
    for digit in ("2", "4", "9"):
        plain, variant = pen_field(pen_font("pen_plain"), digit, 3) <= 0, pen_field(pen_font("pen_plain~1"), digit, 3) <= 0
        assert plain.shape != variant.shape or (plain != variant).mean() > 0.02
    for wrong in ("pen_plain~0", "pen_plain~x", "pen_plain~"):
        with pytest.raises(PEError, match=r"each also as <style>~<n> \(a variant, n >= 1"):
            pen_field(pen_font(wrong), "1", 3)
        with pytest.raises(PEError, match="not found"):
            resolve_fonts([wrong])


def _shape_columns():
    from private_evolution.simulator import PARAMETER_NAMES

    return [i for i, name in enumerate(PARAMETER_NAMES) if name.startswith("pen_")]


def test_a_shaped_pen_sample_is_drawn_from_its_own_curves_in_the_style_glyphs_place():
    """With pen_k coefficients a pen sample is drawn from its own curves, not the stored field: at
    (nearly) zero coefficients it looks like the stored glyph (the same strokes; its box is found
    from the curves, not from whole pixels, so edges may move by a fraction of a pixel); larger
    coefficients move its strokes; fonts ignore the coefficients; a sample's pixels do not
    depend on its batch."""
    from private_evolution.glyph_render import render_population
    from private_evolution.simulator import PARAMETER_NAMES, parameter_bounds

    fonts = resolve_fonts(["pen_plain", "pen_formal~3", "DejaVuSans"], DIGITS)
    low, high = parameter_bounds({})
    count = 60
    labels, font = np.arange(count) % 10, np.arange(count) % 3
    params = np.random.default_rng(0).uniform(low, high, size=(count, len(PARAMETER_NAMES)))
    params[:, _shape_columns()] = 0.0
    stored = render_population(DIGITS, fonts, labels, font, params, 28, threads=1).astype(int)
    tiny = params.copy()
    tiny[:, _shape_columns()] = 1e-9
    own = render_population(DIGITS, fonts, labels, font, tiny, 28, threads=1).astype(int)
    pens = font < 2
    assert np.abs(own[pens] - stored[pens]).mean() < 3 and np.corrcoef(own[pens].ravel(), stored[pens].ravel())[0, 1] > 0.98
    assert np.array_equal(own[~pens], stored[~pens])
    moved = params.copy()
    moved[:, _shape_columns()] = np.random.default_rng(1).uniform(-1, 1, size=(count, len(_shape_columns())))
    shaped = render_population(DIGITS, fonts, labels, font, moved, 28, threads=1).astype(int)
    assert np.array_equal(shaped[~pens], stored[~pens])
    assert np.abs(shaped[pens] - stored[pens]).mean() > 3 * np.abs(own[pens] - stored[pens]).mean()
    alone = render_population(DIGITS, fonts, labels[:7], font[:7], moved[:7], 28, threads=1).astype(int)
    assert np.array_equal(alone, shaped[:7])


def test_pen_shapes_are_drawn_after_every_other_number_and_only_when_asked():
    """pen_shapes varies the pen_k coefficients after every other random number, so the fonts and
    other parameters are those of a population without it; RANDOM_API leaves them 0 (each style's
    own form), and without the option they stay 0."""
    seeds = per_sample_seeds(3, 40, "shapes")
    labels = np.arange(40) % 10
    off = GlyphSimulator(DIGITS, 28, 1, {})
    on = GlyphSimulator(DIGITS, 28, 1, {"pen_shapes": True})
    first, second = off.random_api(labels, seeds), on.random_api(labels, seeds)
    others = [i for i in range(first.state["params"].shape[1]) if i not in _shape_columns()]
    assert np.array_equal(first.state["font"], second.state["font"])
    assert np.array_equal(first.state["params"][:, others], second.state["params"][:, others])
    assert np.array_equal(first.state["params"], second.state["params"]) and not second.state["params"][:, _shape_columns()].any()
    second = on.variation_api(second, 1.0, seeds + 2)  # parents with shapes of their own
    assert np.all(second.state["params"][:, _shape_columns()] != 0)
    varied_off, varied_on = off.variation_api(second, 0.5, seeds + 1), on.variation_api(second, 0.5, seeds + 1)
    assert np.array_equal(varied_off.state["font"], varied_on.state["font"])
    assert np.array_equal(varied_off.state["params"][:, others], varied_on.state["params"][:, others])
    assert np.array_equal(varied_off.state["params"][:, _shape_columns()], second.state["params"][:, _shape_columns()])
    step = varied_on.state["params"][:, _shape_columns()] - second.state["params"][:, _shape_columns()]
    assert 0.05 < np.abs(step).mean() < 0.3  # degree 0.5 times the step 0.3, clipped at +-1

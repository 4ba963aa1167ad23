from pathlib import Path

import numpy as np
import pytest

from private_evolution import PEError
from private_evolution.apis import balanced_labels, make_api
from private_evolution.seeding import per_sample_seeds
from private_evolution.apis.glyph_simulator import GlyphSimulator
from private_evolution.simulator import PARAMETERS

DIGITS = [str(d) for d in range(10)]


@pytest.fixture(scope="module")
def simulator():
    return GlyphSimulator(DIGITS, 28, 1, {})


def test_same_seed_same_image(simulator):
    labels = balanced_labels(20, 10)
    first = simulator.random_api(labels, per_sample_seeds(3, 20, "random"))
    second = simulator.random_api(labels, per_sample_seeds(3, 20, "random"))
    other = simulator.random_api(labels, per_sample_seeds(4, 20, "random"))
    assert np.array_equal(first.images, second.images)
    assert not np.array_equal(first.images, other.images)
    assert first.images.shape == (20, 28, 28, 1) and first.images.dtype == np.uint8
    assert first.images.reshape(20, -1).max(axis=1).min() > 100  # every sample has ink


def test_sample_does_not_depend_on_batch(simulator):
    labels = balanced_labels(30, 10)
    seeds = per_sample_seeds(0, 30, "random")
    whole = simulator.random_api(labels, seeds)
    part = simulator.random_api(labels[10:20], seeds[10:20])
    assert np.array_equal(whole.images[10:20], part.images)


def test_degree_zero_returns_the_input(simulator):
    labels = balanced_labels(20, 10)
    parents = simulator.random_api(labels, per_sample_seeds(0, 20, "random"))
    children = simulator.variation_api(parents, 0.0, per_sample_seeds(0, 20, "vary"))
    assert np.array_equal(children.images, parents.images)
    assert np.array_equal(children.state["params"], parents.state["params"])


def test_larger_degree_moves_further_on_average(simulator):
    labels = balanced_labels(200, 10)
    parents = simulator.random_api(labels, per_sample_seeds(0, 200, "random"))
    scale = np.array([p.high - p.low for p in PARAMETERS])
    moves = []
    for degree in (0.1, 0.5, 1.0):
        children = simulator.variation_api(parents, degree, per_sample_seeds(1, 200, "vary"))
        param_move = np.abs((children.state["params"] - parents.state["params"]) / scale).mean()
        pixel_move = np.abs(children.images.astype(float) - parents.images).mean()
        moves.append((param_move, pixel_move))
        assert (children.labels == parents.labels).all()
    assert moves[0][0] < moves[1][0] < moves[2][0]
    assert moves[0][1] < moves[1][1] < moves[2][1]


def test_rgb_and_inverted_output():
    simulator = GlyphSimulator(["A", "b"], 32, 3, {"invert": True, "fonts": ["DejaVuSans"]})
    population = simulator.random_api(np.array([0, 1]), per_sample_seeds(0, 2, "r"))
    assert population.images.shape == (2, 32, 32, 3)
    assert population.images[:, 0, 0].min() == 255  # white background when inverted


def test_classes_the_simulator_cannot_make():
    with pytest.raises(PEError, match="cannot make classes"):
        GlyphSimulator(["airplane", "7"], 28, 1, {})


def test_unknown_font():
    with pytest.raises(PEError, match="font 'NoSuchFont' not found"):
        GlyphSimulator(DIGITS, 28, 1, {"fonts": ["NoSuchFont"]})


def test_registry_rejects_unknown_api():
    with pytest.raises(PEError, match="unknown API .dall-e.; known: .*glyph_simulator"):
        make_api({"name": "dall-e"}, DIGITS, 28, 1)


def test_balanced_labels():
    assert np.bincount(balanced_labels(23, 10)).tolist() == [3, 3, 3] + [2] * 7
    with pytest.raises(PEError):
        balanced_labels(5, 10)


def test_mnist_framing_fits_the_ink_in_the_20_of_28_box_centred_by_mass():
    """MNIST's digits were normalised into a 20x20 box and centred by centre of mass in 28x28."""
    simulator = GlyphSimulator(DIGITS, 28, 1, {"framing": "mnist"})
    labels = np.repeat(np.arange(10), 5)
    population = simulator.random_api(labels, per_sample_seeds(5, 50, "random"))
    for image, values in zip(population.images[..., 0].astype(float), population.state["params"]):
        ink = np.argwhere(image > 0)
        height, width = ink.max(axis=0) - ink.min(axis=0) + 1
        blur = dict(zip([p.name for p in PARAMETERS], values))["blur"]
        assert max(height, width) <= 20 + 2 * int(np.ceil(3 * blur)) + 1  # the box, widened by the blur's tails
        rows, columns = np.indices(image.shape)
        centre = np.array([(rows * image).sum(), (columns * image).sum()]) / image.sum()
        assert np.abs(centre - 13.5).max() <= 1.0


def test_free_framing_keeps_size_and_shift_parameters():
    free = GlyphSimulator(DIGITS, 28, 1, {"framing": "free"})
    population = free.random_api(np.zeros(20, dtype=int), per_sample_seeds(1, 20, "random"))
    heights = [np.ptp(np.argwhere(image[..., 0] > 40)[:, 0]) for image in population.images]
    assert np.ptp(heights) >= 4  # glyph sizes vary with the size parameter
    # the default, in the API and the schema: MNIST framing fails on digits framed otherwise
    assert GlyphSimulator(DIGITS, 28, 1, {}).framing == "free"
    from private_evolution.config import load_config

    assert load_config({"experiments": {"x": {}}})["x"].api_options()["glyph_simulator"]["framing"] == "free"
    with pytest.raises(PEError, match="unknown framing 'tight'"):
        GlyphSimulator(DIGITS, 28, 1, {"framing": "tight"})


@pytest.mark.parametrize("renderer", ["batched", "pil"])
def test_displacement_field_bends_strokes_and_varies_like_other_parameters(renderer):
    from private_evolution.simulator import PARAMETER_NAMES

    api = GlyphSimulator(["7"], 28, 1, {"fonts": ["DejaVuSans"], "renderer": renderer})
    values = np.array([(p.low + p.high) / 2 for p in PARAMETERS])
    values[PARAMETER_NAMES.index("blur")] = 0.0
    bent = values.copy()
    bent[PARAMETER_NAMES.index("warp_x1")] = 0.06
    bent[PARAMETER_NAMES.index("warp_y4")] = -0.06
    straight, moved = api._render_all(np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64), np.stack([values, bent]))[..., 0]
    assert np.abs(moved.astype(int) - straight).sum() > 255 * 5
    warp = [p for p in PARAMETERS if p.name.startswith("warp_")]
    assert len(warp) == 8 and all(p.low < 0 < p.high and p.step > 0 for p in warp)


def test_handwriting_fonts_from_registry_wheels_and_pens_for_digits_are_used_by_default(simulator):
    from private_evolution.pen_glyphs import DEFAULT_VARIANTS, PEN_STYLES
    from private_evolution.simulator import BUNDLED_FONTS, handwriting_fonts

    found = handwriting_fonts()
    assert {"AmaticSC-Regular", "AmaticSC-Bold", "Intuitive", "ShadowsIntoLight"} <= set(found)
    pens = len(PEN_STYLES) * (1 + DEFAULT_VARIANTS)  # each style and its variants
    assert DEFAULT_VARIANTS == 20 and len(simulator.font_paths) == len(BUNDLED_FONTS) + len(found) + pens
    assert simulator.font_paths[-pens:][:3] == ["pen:pen_plain", "pen:pen_plain~1", "pen:pen_plain~2"]
    assert simulator.font_paths[-1] == "pen:pen_formal~20"
    # classes that are not all digits: the fonts alone (a pen draws digits only)
    letters = GlyphSimulator(["T", "Tr", "3"], 28, 1, {})
    assert len(letters.font_paths) == len(BUNDLED_FONTS) + len(found) and not any(p.startswith("pen:") for p in letters.font_paths)
    named = GlyphSimulator(DIGITS, 28, 1, {"fonts": ["Intuitive", "DejaVuSans"]})
    population = named.random_api(np.arange(10), per_sample_seeds(2, 10, "random"))
    assert population.images.max() == 255 and named.font_paths[0].endswith("Intuitive.ttf")


def test_parameter_ranges_can_be_replaced_and_bad_ones_are_config_errors():
    from private_evolution.config import load_config
    from private_evolution.simulator import PARAMETER_NAMES

    blur = PARAMETER_NAMES.index("blur")
    default = GlyphSimulator(["1"], 28, 1, {})
    wide = GlyphSimulator(["1"], 28, 1, {"ranges": {"blur": [0.9, 1.2]}})
    assert (default.low[blur], default.high[blur]) == (0.0, 0.3)  # the default: blur up to 0.3 pixel
    seeds = np.arange(40)
    drawn = wide.random_api(np.zeros(40, dtype=np.int64), seeds).state["params"][:, blur]
    assert drawn.min() >= 0.9 and drawn.max() <= 1.2
    varied = wide.variation_api(wide.random_api(np.zeros(40, dtype=np.int64), seeds), 1.0, seeds + 100)
    assert varied.state["params"][:, blur].min() >= 0.9 and varied.state["params"][:, blur].max() <= 1.2

    def problems(ranges):
        raw = {"api": {"name": "glyph_simulator", "glyph_simulator": {"ranges": ranges}}}
        with pytest.raises(PEError) as caught:
            load_config({"experiments": {"x": raw}})
        return str(caught.value)

    assert "unknown parameter 'blurr'" in problems({"blurr": [0, 1]})
    assert "ranges.blur must be [low, high] with low <= high" in problems({"blur": [1, 0]})
    assert "ranges.stroke must lie within [0, 0.22]" in problems({"stroke": [0.0, 0.3]})


@pytest.mark.parametrize("framing", ["free", "mnist"])
def test_batched_renderer_draws_what_the_first_renderer_drew(framing):
    """The batched renderer keeps every parameter's meaning: on the same random parameters the two
    renderers' images agree pixel for pixel up to edge shading and whole-pixel placement."""
    apis = {name: GlyphSimulator(DIGITS, 28, 1, {"framing": framing, "renderer": name}) for name in ("batched", "pil")}
    labels = balanced_labels(60, 10)
    population = apis["pil"].random_api(labels, per_sample_seeds(11, 60, "random"))
    old = population.images[..., 0].astype(float)
    new = apis["batched"]._render_all(labels, population.state["font"], population.state["params"])[..., 0].astype(float)
    correlation = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(old, new)]
    assert np.median(correlation) > (0.98 if framing == "free" else 0.93), np.median(correlation)
    assert np.min(correlation) > 0.6
    assert abs(new.mean() / old.mean() - 1) < 0.1  # as much ink
    # each parameter moves the image the same way in both: a rotation, a shear, a stroke
    names = [p.name for p in PARAMETERS]
    for name, value in (("rotation", 25.0), ("shear", 0.4), ("stroke", 0.08), ("aspect", 0.35)):
        changed = population.state["params"][:10].copy()
        changed[:, names.index(name)] = value
        fonts = population.state["font"][:10]
        old_move = apis["pil"]._render_all(labels[:10], fonts, changed)[..., 0].astype(float) - old[:10]
        new_move = apis["batched"]._render_all(labels[:10], fonts, changed)[..., 0].astype(float) - new[:10]
        assert np.corrcoef(old_move.ravel(), new_move.ravel())[0, 1] > 0.7, name


def test_batched_pixels_do_not_depend_on_chunks_threads_or_batch_order():
    from private_evolution.glyph_render import CHUNK, render_population

    api = GlyphSimulator(DIGITS, 28, 1, {})
    count = 2 * CHUNK + 37
    labels = balanced_labels(count, 10)
    population = api.random_api(labels, per_sample_seeds(2, count, "random"))
    fonts, params = population.state["font"], population.state["params"]
    one = render_population(api.class_names, api.font_paths, labels, fonts, params, 28, threads=1)
    assert np.array_equal(one, population.images[..., 0])
    assert np.array_equal(one, render_population(api.class_names, api.font_paths, labels, fonts, params, 28, threads=3))
    reverse = np.arange(count)[::-1]
    shuffled = render_population(api.class_names, api.font_paths, labels[reverse], fonts[reverse], params[reverse], 28)
    assert np.array_equal(shuffled[::-1], one)
    assert np.array_equal(render_population(api.class_names, api.font_paths, labels[5:9], fonts[5:9], params[5:9], 28), one[5:9])


@pytest.fixture
def render_pools(monkeypatch):
    """The thread counts the batched renderer asks its pools for, on a machine of 8 processors."""
    import private_evolution.glyph_render as glyph_render

    pools = []

    class RecordingPool(glyph_render.ThreadPoolExecutor):
        def __init__(self, max_workers):
            pools.append(max_workers)
            super().__init__(max_workers=max_workers)

    monkeypatch.setattr(glyph_render, "ThreadPoolExecutor", RecordingPool)
    monkeypatch.setattr(glyph_render, "available_cpus", lambda: 8)
    return pools


def test_the_jobs_threads_bound_the_renderers_pool(render_pools):
    """A vary job of 1 thread renders on 1 thread, not on every processor beside other jobs."""
    from private_evolution.glyph_render import CHUNK

    count = 2 * CHUNK + 37  # three chunks
    labels, seeds = balanced_labels(count, 10), per_sample_seeds(2, count, "random")
    images = {}
    for threads in (1, 2, None):
        api = make_api({"name": "glyph_simulator"}, DIGITS, 28, 1, threads=threads)
        assert api.threads == threads
        images[threads] = api.random_api(labels, seeds).images
    assert render_pools == [2, 3]  # none for 1 thread; None: the processors, at most one per chunk
    assert np.array_equal(images[1], images[2]) and np.array_equal(images[1], images[None])


def test_the_stages_pass_the_jobs_threads_to_the_renderer(tmp_path, render_pools):
    """random_population and vary (as their scripts call them, with the job's threads) render
    on one thread when the job has one; without a thread count, on the processors."""
    from private_evolution.glyph_render import CHUNK
    from private_evolution.io import save_selection
    from private_evolution.stages.random_population import random_population
    from private_evolution.stages.vary import vary

    api_cfg = {"name": "glyph_simulator", "glyph_simulator": {}}
    target = {"class_names": DIGITS, "image_size": 28, "channels": 1}
    count = 2 * CHUNK + 37  # three chunks
    save_selection(str(tmp_path / "selected.npz"), np.arange(count))
    for threads, expected in ((1, []), (None, [3, 3])):
        render_pools.clear()
        random_population(api_cfg, target, count, 0, str(tmp_path / "population.npz"), threads=threads)
        vary(api_cfg, target, str(tmp_path / "population.npz"), str(tmp_path / "selected.npz"), 0.5, 1, 1.0, 0,
             str(tmp_path / "children.npz"), threads=threads)
        assert render_pools == expected


def test_foreign_or_inconsistent_glyph_files_are_made_again(tmp_path, monkeypatch):
    from private_evolution import glyph_atlas
    from private_evolution.simulator import resolve_fonts

    font, texts = str(resolve_fonts(["DejaVuSans"])[0]), ("4", "5")
    monkeypatch.setenv("PE_GLYPH_CACHE", str(tmp_path / "fields"))
    glyph_atlas.font_glyphs.cache_clear()
    made = glyph_atlas.font_glyphs(font, texts)
    stored = glyph_atlas.cache_file(font, texts)
    good = np.load(stored)
    wrong_count = good.copy()
    wrong_count[0] = 3
    bad_lengths = good.copy()
    bad_lengths[1] += 4

    def another_format():  # an .npz under the .npy name
        with open(stored, "wb") as handle:
            np.savez(handle, fields=good)

    foreign = [
        lambda: stored.write_bytes(b""),  # empty: a crash before the write reached the disk
        lambda: np.save(stored, wrong_count),
        lambda: np.save(stored, bad_lengths),
        lambda: np.save(stored, good.astype(np.int32)),
        lambda: np.save(stored, np.full(3, np.inf, np.float32)),
        another_format,
    ]
    for write in foreign:
        write()
        glyph_atlas.font_glyphs.cache_clear()
        again = glyph_atlas.font_glyphs(font, texts)
        assert all(np.array_equal(a.sdf, b.sdf) and a.ink_box == b.ink_box for a, b in zip(again, made))
        assert np.array_equal(np.load(stored), good)  # replaced by a good file
    assert sorted(path.name for path in stored.parent.iterdir()) == [stored.name]  # no temporary file left
    glyph_atlas.font_glyphs.cache_clear()


def test_unknown_renderer_is_named():
    with pytest.raises(PEError, match="unknown renderer 'gpu'; known: .'batched', 'pil'."):
        GlyphSimulator(DIGITS, 28, 1, {"renderer": "gpu"})


def test_glyph_fields_are_kept_between_processes_and_remade_when_damaged(tmp_path, monkeypatch):
    from private_evolution import glyph_atlas
    from private_evolution.simulator import resolve_fonts

    font = str(resolve_fonts(["DejaVuSans"])[0])
    monkeypatch.setenv("PE_GLYPH_CACHE", str(tmp_path / "fields"))
    texts = ("4", "5")
    glyph_atlas.font_glyphs.cache_clear()
    made = glyph_atlas.font_glyphs(font, texts)
    stored = glyph_atlas.cache_file(font, texts)  # one file for the font's glyphs of every text
    assert stored.parent == tmp_path / "fields" and [path.name for path in stored.parent.iterdir()] == [stored.name]
    glyph_atlas.font_glyphs.cache_clear()
    loaded = glyph_atlas.font_glyphs(font, texts)  # from the file, bit for bit
    assert len(loaded) == 2 and not np.array_equal(loaded[0].sdf, loaded[1].sdf)
    for one, again in zip(made, loaded):
        assert np.array_equal(again.sdf, one.sdf) and again.ink_box == one.ink_box and np.array_equal(again.outline, one.outline)
    stored.write_bytes(stored.read_bytes()[:200])  # a damaged file is made again and replaced
    glyph_atlas.font_glyphs.cache_clear()
    assert np.array_equal(glyph_atlas.font_glyphs(font, texts)[1].sdf, made[1].sdf)
    assert stored.stat().st_size > 200 * 10
    # the key is the font's content and the texts, not the font's name: another file with the same bytes shares it
    copy = tmp_path / "copy.ttf"
    copy.write_bytes(Path(font).read_bytes())
    assert glyph_atlas.cache_file(str(copy), texts) == stored and glyph_atlas.cache_file(font, ("4",)) != stored
    monkeypatch.setenv("PE_GLYPH_CACHE", "off")
    glyph_atlas.font_glyphs.cache_clear()
    assert glyph_atlas.cache_file(font, texts) is None and np.array_equal(glyph_atlas.font_glyphs(font, texts)[0].sdf, made[0].sdf)
    glyph_atlas.font_glyphs.cache_clear()

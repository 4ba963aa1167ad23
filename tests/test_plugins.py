"""Third-party extensions: an API, an embedder and a metric registered through Python entry points
by a package the workflow does not know, validated by their own schemas and run by the real workflow."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from private_evolution.contract import embedding_path, metrics_path, population_path
from workflow_helpers import copy_repository, planned_jobs, snakemake, write_config

PLUGIN = '''
"""A toy package: an API drawing bars, an embedder pooling pixels, a mean-gap metric."""
import numpy as np

from private_evolution.apis import API, Population
from private_evolution.embedders import Embedder
from private_evolution.metrics import FeatureMetric


class Bars(API):
    name = "toy_bars"
    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"width": {"type": "integer", "minimum": 1, "maximum": 8, "default": 3}},
    }

    def _draw(self, labels, positions):
        images = np.zeros((len(labels), self.image_size, self.image_size, self.channels), dtype=np.uint8)
        width = self.options["width"]
        for i, (label, position) in enumerate(zip(labels, positions)):
            column = int(round(position)) % (self.image_size - width)
            images[i, :, column : column + width] = 60 + 19 * int(label)
        return Population(images, labels.astype(np.int64), {"position": positions.astype(np.float64)})

    def random_api(self, labels, seeds):
        return self._draw(labels, np.array([np.random.default_rng(int(s)).uniform(0, self.image_size) for s in seeds]))

    def variation_api(self, parents, degree, seeds):
        steps = np.array([np.random.default_rng(int(s)).normal() for s in seeds]) * 4.0 * degree
        return self._draw(parents.labels, parents.state["position"] + steps)


class Pool(Embedder):
    name = "toy_pool"
    needs_gpu = False
    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"cell": {"type": "integer", "minimum": 1, "default": 7}},
    }

    def __init__(self, options):
        super().__init__(options)
        self.cell = int(options["cell"])

    def embed(self, images):
        n, h, w, c = images.shape
        cells = images[:, : h - h % self.cell, : w - w % self.cell].astype(np.float32) / 255.0
        cells = cells.reshape(n, h // self.cell, self.cell, w // self.cell, self.cell, c)
        return cells.mean(axis=(2, 4)).reshape(n, -1)


class MeanGap(FeatureMetric):
    name = "toy_mean_gap"
    values = {"meangap": ("distance between the feature means", True)}

    def compute(self, synthetic, real, space):
        return {"meangap": float(np.linalg.norm(synthetic.mean(axis=0) - real.mean(axis=0)))}
'''

ENTRY_POINTS = """
[pe_workflow.apis]
toy_bars = toy_pe_plugin:Bars

[pe_workflow.embedders]
toy_pool = toy_pe_plugin:Pool

[pe_workflow.metrics]
toy_mean_gap = toy_pe_plugin:MeanGap
"""


def install_plugin(folder: Path) -> Path:
    """The toy package as pip would leave it: its module and its dist-info with entry points."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "toy_pe_plugin.py").write_text(textwrap.dedent(PLUGIN))
    info = folder / "toy_pe_plugin-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-pe-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return folder


def plugin_config(**api_options) -> dict:
    return {
        "experiments": {
            "toy": {
                "dataset": {"num_private": 200, "num_heldout": 60, "num_validation": 60},
                "api": {"name": "toy_bars", "toy_bars": api_options},
                "embedder": {"name": "toy_pool", "toy_pool": {"cell": 4}},
                "pe": {"iterations": 2, "num_samples": 40},
                "privacy": {"epsilons": [1, "inf"], "delta": 1e-3},
                "evaluation": {
                    "embedders": ["classifier", "toy_pool"],
                    "metrics": ["frechet_distance", "toy_mean_gap"],
                    "accuracy": {"enabled": False},
                },
                "plot": {"samples_per_class": 2},
                "compute": {"gpus": 1},  # asked only by jobs whose API or embedder needs a GPU
            }
        }
    }


def in_subprocess(plugin_dir: Path, code: str) -> subprocess.CompletedProcess:
    """Entry points are read from sys.path when a process starts: a fresh interpreter sees the toy."""
    import os

    repo_src = Path(__file__).resolve().parents[1] / "src"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(repo_src), str(plugin_dir)]))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=300)


def test_registries_list_and_check_the_plugin(tmp_path):
    plugin = install_plugin(tmp_path / "site")
    result = in_subprocess(
        plugin,
        """
        import json
        from private_evolution import PEError
        from private_evolution.apis import REGISTRY as APIS, make_api
        from private_evolution.embedders import REGISTRY as EMBEDDERS
        from private_evolution.metrics import REGISTRY as METRICS
        from private_evolution.config import build_experiments, validate_with_schema
        import copy, sys
        sys.path.insert(0, %r)
        from test_plugins import plugin_config

        report = {"apis": APIS.names(), "embedders": EMBEDDERS.names(), "metrics": METRICS.names()}
        exp = build_experiments(validate_with_schema(plugin_config()))["toy"]
        report["api_options"] = exp.api.options
        report["embedder_options"] = exp.embedder_options("toy_pool")
        api = make_api(exp.api_options(), exp.dataset.class_names, 28, 1)
        report["width"] = int((api.random_api(__import__("numpy").arange(3), __import__("numpy").arange(3)).images[0, 0] > 0).sum())
        problems = []
        for bad in (plugin_config(width=40), plugin_config(colour="red")):
            try:
                build_experiments(validate_with_schema(bad))
            except PEError as err:
                problems.append(str(err))
        misspelt = plugin_config()
        misspelt["experiments"]["toy"]["api"]["toy_barz"] = {"width": 2}
        try:
            build_experiments(validate_with_schema(misspelt))
        except PEError as err:
            problems.append(str(err))
        report["problems"] = problems
        print(json.dumps(report))
        """ % str(Path(__file__).resolve().parent),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "toy_bars" in report["apis"] and "glyph_simulator" in report["apis"]
    assert "toy_pool" in report["embedders"] and "toy_mean_gap" in report["metrics"]
    assert report["api_options"] == {"width": 3}  # the plugin's schema default
    assert report["embedder_options"]["cell"] == 4 and report["embedder_options"]["name"] == "toy_pool"
    assert report["width"] == 3  # a drawn bar is 3 pixels wide
    too_wide, unknown, misspelt = report["problems"]
    assert "experiments.toy.api.toy_bars.width: 40 is greater than the maximum of 8" in too_wide
    assert "experiments.toy.api.toy_bars" in unknown and "colour" in unknown
    assert "experiments.toy.api.toy_barz: no API of that name is registered" in misspelt and "toy_bars" in misspelt


def test_without_the_plugin_its_names_are_unknown(tmp_path):
    result = in_subprocess(
        tmp_path,
        """
        from private_evolution.apis import REGISTRY
        try:
            REGISTRY.get("toy_bars")
        except Exception as err:
            print(err)
        """,
    )
    assert "unknown API 'toy_bars'" in result.stdout and "pe_workflow.apis" in result.stdout


@pytest.fixture(scope="module")
def plugin_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugin_run")
    plugin = install_plugin(root / "site")
    workdir = copy_repository(root / "repo")
    write_config(workdir, plugin_config())
    snakemake(workdir, "--cores", "2", pythonpath=(plugin,))
    return workdir, plugin


def gpu_asking_rules(workdir: Path, plugin: Path) -> set[str]:
    """Rules whose jobs ask for a GPU, from a dry run of the whole workflow."""
    dry = snakemake(workdir, "--dry-run", "--forceall", "--cores", "2", "--resources", "gpu=1", pythonpath=(plugin,))
    rules, current = set(), None
    for line in dry.stdout.splitlines():
        if line.strip().startswith(("rule ", "localrule ")):
            current = line.split()[-1].rstrip(":")
        elif "resources:" in line and "gpu=1" in line:
            rules.add(current)
    return rules


def test_the_workflow_runs_a_third_party_api_embedder_and_metric(plugin_run):
    workdir, plugin = plugin_run
    results = workdir / "results" / "toy"
    population = np.load(workdir / population_path("toy", "1", 2))
    assert "state__position" in population.files
    columns = (population["images"][:, 0, :, 0] > 0).sum(axis=1)
    assert set(columns.tolist()) == {3}  # every sample is a bar of the default width
    features = np.load(workdir / embedding_path("toy", "1", 2, "toy_pool"))
    assert features["features"].shape == (40, 49)  # (28 / 4)^2 cells, the option from embedder.toy_pool
    metrics = json.loads((workdir / metrics_path("toy", "1", 2, "toy_pool")).read_text())
    assert set(metrics) >= {"fd_toy_pool", "meangap_toy_pool"} and "precision_toy_pool" not in metrics
    table = (results / "metrics.csv").read_text()
    assert "meangap_classifier" in table and "fd_toy_pool" in table
    assert (results / "plots" / "fd_vs_epsilon.png").stat().st_size > 0


def test_capabilities_decide_which_jobs_ask_for_a_gpu(plugin_run, tmp_path):
    workdir, plugin = plugin_run
    assert gpu_asking_rules(workdir, plugin) == set()  # neither toy declares needs_gpu (compute.gpus is 1)
    # the same package with an embedder that declares it runs a network
    networked = tmp_path / "networked"
    install_plugin(networked)
    module = networked / "toy_pe_plugin.py"
    module.write_text(module.read_text().replace('name = "toy_pool"\n    needs_gpu = False', 'name = "toy_pool"\n    needs_gpu = True'))
    assert "needs_gpu = True" in module.read_text()
    assert gpu_asking_rules(workdir, networked) == {"embed", "embed_real", "embed_reference"}


def test_a_plugin_option_change_reruns_what_it_affects(plugin_run):
    workdir, plugin = plugin_run
    config = plugin_config(width=2)
    write_config(workdir, config)
    try:
        jobs = planned_jobs(workdir, pythonpath=(plugin,))
    finally:
        write_config(workdir, plugin_config())
    assert jobs.get("random_population") == 1 and jobs.get("vote", 0) >= 2
    assert "prepare_private" not in jobs


def test_editing_a_plugins_code_reruns_the_stages_that_run_it(plugin_run):
    """A plugin's module is in no stage script's import digest; the rules add its own digest."""
    workdir, plugin = plugin_run
    module = plugin / "toy_pe_plugin.py"
    original = module.read_text()
    try:
        module.write_text(original + "\n# a comment: the code means the same\n")
        assert planned_jobs(workdir, pythonpath=(plugin,)) == {}
        module.write_text(original + "\nA_NEW_STATEMENT = 1\n")
        jobs = planned_jobs(workdir, pythonpath=(plugin,))
    finally:
        module.write_text(original)
    # the module holds the API, the embedder and the metric: every stage running one of them
    assert jobs.get("random_population") == 1 and jobs.get("embed_real", 0) >= 1 and jobs.get("evaluate", 0) >= 1
    assert "prepare_private" not in jobs and "calibrate" not in jobs
    assert planned_jobs(workdir, pythonpath=(plugin,)) == {}

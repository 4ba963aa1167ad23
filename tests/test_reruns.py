"""Rerun only what a change changes: each edit of a finished run, planned with --dry-run.

Every vote that reruns is a new noise draw (recorded and counted in the privacy ledger), so
a needless rerun is not only wasted hours but privacy budget spent again.
"""

from __future__ import annotations

import contextlib
import copy
import shutil

import pytest
import yaml

from workflow_helpers import planned_jobs, tiny_config, write_config

EXP = "tiny"
# What evaluation-only edits rerun: metrics, the tables made from them and the plots.
REPORTING = {"collect_metrics": 1, "plot": 1, "all": 1}


@contextlib.contextmanager
def edited_config(workdir, edit):
    config = tiny_config()
    edit(config["experiments"][EXP])
    write_config(workdir, config)
    try:
        yield
    finally:
        write_config(workdir, tiny_config())


def plan_with(workdir, edit) -> dict:
    with edited_config(workdir, edit):
        return planned_jobs(workdir)


def reversed_keys(value):
    if isinstance(value, dict):
        return {key: reversed_keys(value[key]) for key in reversed(list(value))}
    return value


def set_option(path: str, value):
    def edit(exp):
        *parents, last = path.split(".")
        section = exp
        for name in parents:
            section = section.setdefault(name, {})
        section[last] = value

    return edit


# Edits that change how jobs run, or how the config is written, but not what any job computes.
NO_OP_EDITS = {
    "threshold keys in another order": set_option("pe.threshold", {"sigmas": 1.0, "votes": 0.0}),
    "threshold as integers": set_option("pe.threshold", {"votes": 0, "sigmas": 1}),
    "every option written out at its default": set_option("pe.degree_schedule", {"kind": "geometric", "start": 1.0, "end": 0.3}),
    "embedder.batch_size": set_option("embedder.batch_size", 128),
    "embedder.device cpu (auto resolves to the CPU here)": set_option("embedder.device", "cpu"),
    "evaluation.fid.batch_size and device": set_option("evaluation.fid", {"weights_dir": "inception_weights", "batch_size": 7, "device": "cpu"}),
    "pe.nn_backend": set_option("pe.nn_backend", "torch"),
    "1.0 instead of 1 in epsilons": set_option("privacy.epsilons", [1.0, "inf"]),
    "the public seed, unused with the secret seed": set_option("privacy.seed", 42),
}


@pytest.mark.parametrize("edit", list(NO_OP_EDITS.values()), ids=list(NO_OP_EDITS))
def test_edits_that_change_no_result_rerun_nothing(finished_run, edit):
    assert plan_with(finished_run, edit) == {}


def test_the_whole_config_in_reverse_key_order_and_another_yaml_style_reruns_nothing(finished_run):
    config = reversed_keys(tiny_config())
    text = "# the same run, written by a YAML formatter\n" + yaml.safe_dump(config, default_flow_style=True, sort_keys=False)
    path = finished_run / "config" / "config.yaml"
    path.write_text(text.replace("effnet_lite0", "'effnet_lite0'"))
    try:
        assert planned_jobs(finished_run) == {}
    finally:
        write_config(finished_run, tiny_config())


def test_heldout_size_reruns_only_evaluation(finished_run):
    planned = plan_with(finished_run, set_option("dataset.num_heldout", 90))
    # the evaluation part's new split check (never the private part's: no preparation, no vote), the
    # held-out embeddings for both evaluation feature spaces, and every metric made with them
    assert planned == {
        "check_split": 1, "prepare_heldout": 1, "embed_real": 2, "evaluate": 5, "evaluate_reference": 3, "evaluate_accuracy": 2,
        "evaluate_accuracy_reference": 1, "evaluate_accuracy_ceiling": 1, **REPORTING,
    }


def test_measuring_only_the_final_populations_reruns_only_reporting(finished_run):
    """evaluation.iterations: final drops the intermediate metrics from the table: nothing is measured
    again, the table and plots are made again from fewer files."""
    assert plan_with(finished_run, set_option("evaluation.iterations", "final")) == REPORTING


def test_evaluation_option_reruns_only_evaluation(finished_run):
    assert plan_with(finished_run, set_option("evaluation.k_nearest", 5)) == {"evaluate": 5, "evaluate_reference": 3, **REPORTING}


def test_comment_docstring_and_layout_edits_of_library_code_rerun_nothing(finished_run):
    module = finished_run / "src" / "private_evolution" / "vote.py"
    script = finished_run / "src" / "scripts" / "select.py"
    originals = {path: path.read_text() for path in (module, script)}
    module.write_text(
        originals[module]
            .replace('"""The DP nearest-neighbour vote', '"""The differentially private nearest-neighbour vote', 1)
            .replace("\n\nNN_BACKENDS", "\n# a new comment\n\n\nNN_BACKENDS", 1)
    )
    script.write_text("# a comment at the top\n" + originals[script])
    try:
        assert planned_jobs(finished_run) == {}
        # ... while a change of what the code does reruns the stages that run it, and what follows
        module.write_text(originals[module].replace("RERANK_MARGIN = 4", "RERANK_MARGIN = 5"))
        planned = planned_jobs(finished_run)
    finally:
        for path, text in originals.items():
            path.write_text(text)
    assert planned["vote"] == 2 and planned["vote_reference"] == 2 and planned["select"] == planned["select_reference"] == 2
    assert "random_population" not in planned and "prepare_private" not in planned and "embed_real" not in planned


SEMANTIC_EDITS = {
    # edit -> the rules that must rerun (and nothing upstream of them)
    "privacy.delta": (set_option("privacy.delta", 2e-3), {"calibrate": 1, "vote": 2, "select": 2, "vary": 2}),
    "pe.threshold": (set_option("pe.threshold", {"votes": 1.0, "sigmas": 1.0}), {"calibrate": 2, "vote": 2, "vote_reference": 2}),
    "embedder.resolution": (
        set_option("embedder.resolution", 40), {"embed_real": 2, "embed": 3, "embed_reference": 2, "vote": 2, "vote_reference": 2}
    ),
    "pe.seed": (
        set_option("pe.seed", 3), {"random_population": 1, "select": 2, "select_reference": 2, "vary": 2, "vary_reference": 2}
    ),
    "plot.dpi": (set_option("plot.dpi", 77), {"plot": 1, "all": 1}),
    "evaluation.accuracy.epochs": (
        set_option("evaluation.accuracy", {"epochs": 3}),
        # epsilon 1's final population and the random population (the zero-privacy baseline)
        {"evaluate_accuracy": 2, "evaluate_accuracy_reference": 1, "evaluate_accuracy_ceiling": 1, **REPORTING},
    ),
}


@pytest.mark.parametrize("edit,must_run", list(SEMANTIC_EDITS.values()), ids=list(SEMANTIC_EDITS))
def test_a_semantic_edit_reruns_its_stage_and_what_follows(finished_run, edit, must_run):
    planned = plan_with(finished_run, edit)
    for rule, count in must_run.items():
        assert planned.get(rule, 0) >= count, (rule, planned)
    upstream = {"prepare_private", "prepare_heldout"} - set(must_run)
    assert not upstream & set(planned), planned
    if "vote" not in must_run and "select" not in must_run:  # reporting edits: exactly these, nothing of the loop
        assert planned == must_run


def test_shard_count_reruns_only_the_jobs_whose_inputs_change(finished_run):
    """Outputs do not depend on the shard count, but the gathering jobs' input files do:
    Snakemake reruns a job whose input files change. The votes then redraw nothing new:
    identical counts reuse the identical noise (the noise stream is keyed by the counts)."""
    planned = plan_with(finished_run, set_option("compute", {"shards": 2}))
    assert planned["vote_shard"] == 2 * 4 and planned["embed_real_shard"] == 2 * 3
    assert "calibrate" not in planned and "prepare_private" not in planned and "prepare_heldout" not in planned


def test_experiment_order_changes_nothing(finished_run):
    config = tiny_config()
    other = copy.deepcopy(config["experiments"][EXP])
    config["experiments"] = {"another": other, EXP: config["experiments"][EXP]}
    write_config(finished_run, config)
    try:
        planned = planned_jobs(finished_run, f"results/{EXP}/metrics.csv", f"results/{EXP}/plots/samples.png")
    finally:
        write_config(finished_run, tiny_config())
    assert planned == {}


def test_run_settings_do_not_change_results_on_the_cpu():
    """Why batch sizes and the search backend are run settings: the same numbers, up to float rounding."""
    import numpy as np

    from private_evolution.embedders import make_embedder
    from private_evolution.vote import nearest_neighbor_counts

    images = np.random.default_rng(0).integers(0, 256, (48, 28, 28, 1), dtype=np.uint8)
    options = {"name": "effnet_lite0", "resolution": 32, "device": "cpu", "weights": None, "weights_sha256": None}
    small, large = (make_embedder({**options, "batch_size": size}).embed(images) for size in (7, 48))
    # equal up to float rounding (the convolution kernels may differ with the batch size)
    assert np.allclose(small, large, rtol=1e-4, atol=1e-5)
    labels = np.repeat([0, 1], 24)
    counts = [nearest_neighbor_counts(small, labels, large[::2], labels[::2], k=2, backend=b) for b in ("numpy", "torch")]
    assert np.array_equal(*counts)


# --- code edits: each job's `code` param covers its stage's modules and the implementations it runs ---

# The loop of each epsilon (and of the reference), which a code edit of evaluation must never rerun:
# every vote that reruns is a new noise draw.
LOOP = {"calibrate", "random_population", "vote", "vote_reference", "select", "select_reference", "vary", "vary_reference"}
DATA = {"check_source", "prepare_private", "prepare_heldout", "prepare_validation", "train_feature_classifier"}


@pytest.fixture
def run_copy(finished_run, tmp_path):
    """A copy of the finished run (its files with their times, and Snakemake's records), for a
    test that edits its code: the shared run stays as it was."""
    return shutil.copytree(finished_run, tmp_path / "run", symlinks=True)


def add_statement(workdir, module):
    """A statement at the end of a module of the copy: a change of what its code does."""
    path = workdir / "src" / "private_evolution" / module
    path.write_text(path.read_text() + "\nEDITED_BY_A_TEST = 1\n")


@pytest.mark.parametrize("module", ["metrics/precision_recall.py", "metrics/frechet_distance.py"])
def test_a_metric_edit_reruns_only_evaluation_and_reporting(run_copy, module):
    """Not the votes, nor evaluate_accuracy (the same stage module, no metric) nor the privacy ledger."""
    add_statement(run_copy, module)
    assert planned_jobs(run_copy) == {"evaluate": 5, "evaluate_reference": 3, **REPORTING}


@pytest.mark.parametrize(
    "module",
    [
        "embedders/pixels.py",  # no space of the tiny run is the pixels'
        "apis/stable_diffusion.py",  # the tiny run's API is the glyph simulator
        "adm_unet.py",  # imported by the diffusion_unet API only
    ],
)
def test_an_unused_implementation_edit_reruns_nothing(run_copy, module):
    add_statement(run_copy, module)
    assert planned_jobs(run_copy) == {}


def test_an_edit_of_a_module_the_chosen_api_imports_reruns_the_populations(run_copy):
    """The glyph simulator's helpers (simulator.py, imported inside a method) are in its digest."""
    add_statement(run_copy, "simulator.py")
    planned = planned_jobs(run_copy)
    assert planned["random_population"] == 1 and planned["vary"] == planned["vary_reference"] == 2
    assert not (DATA | {"calibrate", "embed_real"}) & set(planned), planned


def test_an_evaluation_embedder_edit_reruns_only_what_embeds_with_it(run_copy):
    """Inception measures the tiny run (it does not vote): its embeddings of the held-out part and
    of the populations it measures, their metrics, the tables and plots."""
    add_statement(run_copy, "embedders/inception.py")
    planned = planned_jobs(run_copy)
    assert planned["embed_real"] == 1 and planned["evaluate"] >= 1 and planned["evaluate_reference"] >= 1
    assert set(planned) <= {"embed", "embed_real", "embed_reference", "evaluate", "evaluate_reference", *REPORTING}, planned


def test_the_vote_embedders_edit_reruns_its_embeddings_and_what_follows(run_copy):
    add_statement(run_copy, "embedders/effnet_lite0.py")
    planned = planned_jobs(run_copy)
    # the private and held-out parts embedded with it, the votes and the loop after them
    assert planned["embed_real"] == 2 and planned["vote"] == planned["vote_reference"] == 2
    assert planned["vary"] == planned["vary_reference"] == 2
    # not what runs before its embeddings, nor the accuracy of the random population
    assert not (DATA | {"calibrate", "random_population", "evaluate_accuracy_ceiling"}) & set(planned), planned


# ledger.py: the vote records its draws there; the data jobs must not rerun (nor prepare the data again)
@pytest.mark.parametrize("module", ["stages/vote.py", "vote.py", "ledger.py"])
def test_a_vote_edit_reruns_the_votes_and_what_follows(run_copy, module):
    add_statement(run_copy, module)
    planned = planned_jobs(run_copy)
    assert planned["vote"] == planned["vote_reference"] == 2 and planned["select"] == planned["select_reference"] == 2
    # nothing before the votes: the data, the embeddings of the private set and of iteration 0
    assert not (DATA | {"calibrate", "random_population", "embed_real", "evaluate_accuracy_ceiling"}) & set(planned), planned
    assert planned["embed"] == 3 and planned["evaluate"] == 3  # of 5: the random population's are kept


def test_an_edit_the_check_and_the_data_jobs_share_reruns_the_data_jobs_in_one_invocation(run_copy):
    """datasets.py is imported by the source check and by the data splits (the tiny run has no
    validation part): one dry run plans the splits. When the check's params held its code digest,
    Snakemake planned the check alone (the splits take it as an ancient input) and the splits only
    on the next invocation. The check reruns when the fields it reads change, not with its code."""
    add_statement(run_copy, "datasets.py")
    planned = planned_jobs(run_copy)
    assert planned.get("prepare_private") == planned.get("prepare_heldout") == 1 and "check_source" not in planned, planned
    # the split checks are named by the data jobs' code: an edit that may move records is checked first
    assert planned.get("check_split") == 2, planned
    add_statement(run_copy, "stages/check_source.py")  # the check's own code: nothing more
    assert planned_jobs(run_copy) == planned


def test_a_config_check_message_reruns_nothing(run_copy):
    config = run_copy / "src" / "private_evolution" / "config.py"
    text = config.read_text()
    message = "no classes found (class_names is empty)"
    assert message in text
    config.write_text(text.replace(message, "found no class (class_names is empty)"))
    assert planned_jobs(run_copy) == {}


def test_a_changed_schema_default_reruns_the_jobs_whose_values_it_changes(run_copy):
    """The tiny config leaves evaluation.k_nearest at its default: the evaluate jobs get it as a param."""
    schema = run_copy / "workflow" / "schemas" / "config.schema.yaml"
    text = schema.read_text()
    default = "k_nearest: {type: integer, minimum: 1, default: 3}"
    assert default in text and "k_nearest" not in str(tiny_config())
    schema.write_text(text.replace(default, default.replace("default: 3", "default: 4")))
    assert planned_jobs(run_copy) == {"evaluate": 5, "evaluate_reference": 3, **REPORTING}

# Paths, wildcard constraints and the per-rule slices of the config.
# Each rule gets only the config values it uses as params, so that changing an
# option reruns exactly the stages it affects (Snakemake compares params by their
# printed form). Dict params are JobOptions: printed in a canonical form without run
# settings (batch sizes, devices, the search backend), so that YAML key order,
# 1 vs 1.0 and settings that do not change results rerun nothing.

from functools import lru_cache

# This file's own folder, not workflow.basedir: used as a module, basedir is the user's folder.
REPO = Path(str(workflow.current_basedir)).parents[1]
# Every path pattern jobs exchange is named in contract.py (with the npz arrays and JSON fields).
from private_evolution.contract import (
    ACCURACY,
    ACCURACY_CEILING,
    BASELINE_EPSILON,
    ANY_ITER,
    DATA_PREPARATION,
    DRAW,
    EMBEDDING,
    EMBEDDING_SHARD,
    FEATURE_CLASSIFIER,
    ITER,
    ITER_ZERO,
    LOOKAHEAD,
    LOOKAHEAD_SHARD,
    METRICS,
    METRICS_TABLE,
    PLOTS,
    POPULATION,
    POPULATION_SHARD,
    PRIVACY,
    PRIVACY_DRAWS,
    PRIVACY_LEDGER,
    PRIVACY_SPEND,
    PRIVATE,
    PRIVATE_ITER,
    RANDOM_BASELINE,
    REFERENCE_RUN,
    RUN_ITER,
    LEDGER_BENCHMARK,
    LEDGER_LOG,
    LEDGER_SPEND,
    RELEASE_VERSIONS,
    REAL_EMBEDDING,
    REAL_EMBEDDING_SHARD,
    REAL_SET,
    RELEASE,
    RUN_PREFIX,
    SELECTED,
    SHARED_RUN,
    SOURCE_CHECK,
    SPLIT_CHECK,
    VOTE_COUNTS,
    VOTES,
    accuracy_path,
    draw_path,
    fill,
    iteration_file,
    job_benchmark,
    job_log,
    ledger_private,
    ledger_spend,
    metrics_path,
    population_path,
    privacy_path,
    real_embedding_path,
    run_epsilon_label,
    run_folder,
    selected_path,
    votes_path,
)
from private_evolution.job import job_files
from private_evolution.job import stage_command as job_command
from private_evolution.ledger import data_source, split_id
from private_evolution.metrics import REGISTRY as METRIC_REGISTRY
from private_evolution.stages.check_source import CHECKED_FIELDS, check_id
from private_evolution.stages.check_split import checked_fields, split_check_id

FINITE_EPS = r"[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?"  # every epsilon label but inf
# The {run} folder (contract.RUN_DIR) of a finite epsilon: eps_<label>. The un-noised reference's
# folder, contract.REFERENCE_RUN (private/eps_inf), is made only by the rules of reference.smk.
FINITE_RUN = rf"{RUN_PREFIX}{FINITE_EPS}"

# The conda environment of every job (snakemake --software-deployment-method conda), relative to the
# files in workflow/rules/. Every rule names it, since Snakemake has no workflow-wide default
# for jobs (a top-level conda directive sets up the Snakemake process itself instead), and
# `use rule` copies it.
JOB_ENV = "../../envs/pe.yaml"

# Job order (Snakemake runs ready jobs of higher priority first, and among equals those
# with larger inputs). Every vote waits for the private set's embedding, and each
# epsilon's iterations are a serial chain: those are the critical path. Evaluation only
# feeds the tables and plots, so it fills the cores the loop leaves idle.
PRIORITY_PRIVATE = 3  # prepare_private, embed_real
# calibrate, RANDOM_API, embed, lookahead, vote, select, vary; and data_ledger, privacy_ledger
PRIORITY_LOOP = 2


wildcard_constraints:
    exp=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    eps=rf"inf|{FINITE_EPS}",
    t=r"[1-9][0-9]*",
    run=rf"{SHARED_RUN}|{FINITE_RUN}",
    any_t=r"[0-9]+",
    embedder=r"[a-z0-9_]+",
    split=r"private|heldout|validation",
    shard=r"[0-9]+",


def cancel_replanning_timers():
    """Snakemake 9 plans again one max-jobs-per-timespan span after every scheduling round, on a
    non-daemon timer, so the process waits for the last of them before it exits (3 s under the
    workflow profile's span). Once the run has ended they have nothing left to wake."""
    import threading

    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.cancel()


def stage_script(name):
    return str(REPO / "src" / "scripts" / f"{name}.py")


# The Python of a job: the conda environment's (envs/pe.yaml), else this process's own.
JOB_PYTHON = (
    "python"
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    else sys.executable
)


def stage_command(name, *params):
    """The shell command of a rule running src/scripts/<name>.py with the named params (see
    private_evolution/job.py). A plain command rather than Snakemake's script directive, whose
    preamble imports Snakemake in every job."""
    return job_command(JOB_PYTHON, stage_script(name), params)


def code(name, implementations=None):
    """Digest of the script and the library modules it imports (see provenance.py), and of
    the code of each API, embedder or metric that the job runs (``implementations(wildcards)``:
    their classes, built-in or from another package): registries import no implementation, so
    editing one reruns only the jobs that run it.
    """
    script = code_digest(stage_script(name))
    if implementations is None:
        return script

    def digest(wildcards):
        implementation_digests = map(implementation_digest, implementations(wildcards))
        return " ".join([script, *implementation_digests])

    return digest


def chosen_api(wildcards):
    return [api_class(exp_cfg(wildcards).api.name)]


def wildcard_embedder(wildcards):
    return [embedder_class(wildcards.embedder)]


def lookahead_implementations(wildcards):
    return chosen_api(wildcards) + wildcard_embedder(wildcards)


def evaluation_implementations(wildcards):
    metrics = exp_cfg(wildcards).evaluation.metrics
    return wildcard_embedder(wildcards) + [metric_class(name) for name in metrics]


def reported_implementations(wildcards):
    """What the tables and plots read of the implementations (report.py): the labels of the
    experiment's feature spaces (the vote's and the evaluation's), and the ids, words and
    directions of every registered metric (metrics.value_words reads a metric id by them).
    """
    exp = exp_cfg(wildcards)
    spaces = dict.fromkeys([exp.embedder.name, *exp.evaluation_embedders])
    metrics = METRIC_REGISTRY.names()
    return [embedder_class(name) for name in spaces] + list(map(metric_class, metrics))


def note_inherited_experiments():
    """A user's --configfile extends config/config.yaml: say which experiments come from it."""
    from snakemake.common.configfile import load_configfile

    settings = workflow.config_settings
    if settings.replace_workflow_config or not workflow.is_main_process:
        return
    user_configs = [load_configfile(str(path)) for path in settings.configfiles]
    inherited = inherited_experiments(EXPERIMENTS, user_configs)
    if inherited:
        print(
            f"Also running experiments {inherited} of config/config.yaml: --configfile adds to the "
            "workflow's config. To run only the experiments of your file, add --replace-workflow-config.",
            file=sys.stderr,
        )


note_inherited_experiments()


def exp_cfg(wildcards):
    return EXPERIMENTS[wildcards.exp]


# --- params read from the job's experiment or wildcards, one line each in the rules ---


def setting(path, convert=None):
    """A param (or threads) function: the value at ``path`` in the job's experiment config,
    attributes then keys, so setting("pe.k") is exp.pe.k and setting("evaluation.accuracy.epochs")
    is exp.evaluation.accuracy["epochs"]; passed through ``convert`` (len, list, JobOptions).
    """

    def value(wildcards):
        node = exp_cfg(wildcards)
        for name in path.split("."):
            node = node[name] if isinstance(node, dict) else getattr(node, name)
        return node if convert is None else convert(node)

    return value


def section_options(name, ignore=()):
    """A config section (config.section) as JobOptions: ``ignore`` names keys that rerun nothing."""

    def options(wildcards):
        return JobOptions(exp_cfg(wildcards).section(name), ignore=ignore)

    return options


def wildcard(name, convert):
    """A param made from one wildcard's value (plain copies are written as "{name}")."""

    def value(wildcards):
        return convert(getattr(wildcards, name))

    return value


def checked_dataset(wildcards):
    """check_source reruns when a field it checks changes; it still receives every value (cache_dir included)."""
    dataset = exp_cfg(wildcards).section("dataset")
    return JobOptions(dataset, ignore=set(dataset) - set(CHECKED_FIELDS))


def calibration_privacy(wildcards):
    """What calibrate reads of privacy: the public seed only in public mode, so a secret-seed run
    never reruns for it."""
    privacy = exp_cfg(wildcards).privacy
    return JobOptions(
        {
            "delta": privacy.delta,
            "adjacency": privacy.adjacency,
            "seed_mode": privacy.seed_mode,
            "seed": privacy.seed if privacy.seed_mode == "public" else None,
        }
    )


def vote_settings(wildcards):
    """The vote's run settings: JobOptions print without them, so changing one reruns nothing."""
    return JobOptions({"nn_backend": exp_cfg(wildcards).pe.nn_backend})


def private_split_id(wildcards):
    return split_id(exp_cfg(wildcards).section("dataset"))


def embedder_params(wildcards):
    """The options of the embedder named by the {embedder} wildcard."""
    exp = exp_cfg(wildcards)
    try:
        options = exp.embedder_options(wildcards.embedder)
        if embedder_class(wildcards.embedder).uses_validation_classifier:
            options["weights"] = FEATURE_CLASSIFIER.format(exp=wildcards.exp)
        return JobOptions(options)
    except KeyError:
        raise WorkflowError(
            f"embedder '{wildcards.embedder}' is not used by experiment '{exp.name}'"
        )


def embedder_inputs(wildcards):
    """Files an embedding job needs besides its images: the classifier space's trained network."""
    return (
        {"weights": FEATURE_CLASSIFIER.format(exp=wildcards.exp)}
        if embedder_class(wildcards.embedder).uses_validation_classifier
        else {}
    )


def api_target(wildcards):
    """What an API needs of the dataset: public facts from the config, never the data."""
    dataset = exp_cfg(wildcards).dataset
    return JobOptions(
        {
            "class_names": dataset.class_names,
            "image_size": dataset.image_size,
            "channels": dataset.channels,
        }
    )


def api_params(wildcards):
    """The chosen API's name and options only: options of other APIs never trigger reruns."""
    return JobOptions(exp_cfg(wildcards).api_options())


def run_epsilon(wildcards):
    """The epsilon of a {run} folder (eps_<label>, private/eps_inf), or None for the shared iteration 0."""
    label = run_epsilon_label(wildcards.run)
    return None if label is None else float(label)


def run_label(wildcards):
    """The epsilon label of a {run} folder: '1' for eps_1, 'inf' for the reference's private/eps_inf
    (contract.run_dir), None for shared."""
    return run_epsilon_label(wildcards.run)


def embed_name(wildcards):
    return exp_cfg(wildcards).embedder.name


def vote_features_path(exp_name, eps, t):
    """What the vote compares private samples with: the candidates' embeddings, or with
    pe.lookahead > 0 the mean embeddings of their variations."""
    exp = EXPERIMENTS[exp_name]
    features = LOOKAHEAD if exp.pe.lookahead > 0 else EMBEDDING
    return iteration_file(exp_name, eps, t, features, embedder=exp.embedder.name)


def metrics_entries(exp_name):
    """Every metrics file of an experiment, with the epsilon and iteration it describes."""
    exp = EXPERIMENTS[exp_name]
    entries = [
        {
            "epsilon": eps,
            "iteration": t,
            "path": metrics_path(exp_name, eps, t, embedder),
            "features": embedder,
            "vote_space": embedder == exp.embedder.name,
        }
        for embedder in exp.evaluation_embedders
        for eps in exp.epsilon_labels
        for t in embedder_class(embedder).evaluated_iterations(exp)
    ]
    # the zero-privacy baseline: the random population (iteration 0) once per feature space,
    # and its accuracy
    entries += [
        {
            "epsilon": BASELINE_EPSILON,
            "iteration": 0,
            "path": metrics_path(exp_name, exp.epsilon_labels[0], 0, embedder),
            "features": embedder,
            "vote_space": embedder == exp.embedder.name,
        }
        for embedder in exp.evaluation_embedders
        if 0 in embedder_class(embedder).evaluated_iterations(exp)
    ]
    if exp.evaluation.accuracy["enabled"]:
        entries.append(
            {
                "epsilon": BASELINE_EPSILON,
                "iteration": 0,
                "path": accuracy_path(exp_name, None),
            }
        )
        entries += [
            {
                "epsilon": eps,
                "iteration": exp.pe.iterations,
                "path": accuracy_path(exp_name, eps),
            }
            for eps in exp.epsilon_labels
        ]
        entries.append(
            {
                "epsilon": None,
                "iteration": None,
                "path": ACCURACY_CEILING.format(exp=exp_name),
            }
        )
    return entries


def accuracy_training_set(wildcards):
    """What evaluate_accuracy trains on: an epsilon's final population, or for the shared run
    the random population (iteration 0: the zero-privacy baseline), of the final population's
    size (RANDOM_BASELINE when pe.final_samples differs from N)."""
    exp = exp_cfg(wildcards)
    label = run_label(wildcards)
    if label is not None:
        return population_path(wildcards.exp, label, exp.pe.iterations)
    if exp.final_size != exp.pe.num_samples:
        return RANDOM_BASELINE.format(exp=wildcards.exp)
    return population_path(wildcards.exp, None, 0)


def accuracy_group(wildcards):
    """The baseline's accuracy joins iteration 0's group, an epsilon's its last iteration's."""
    iteration = "zero" if run_label(wildcards) is None else "last"
    return cluster_group("evaluate", iteration=iteration)(wildcards)


def metrics_files(wildcards):
    """What collect_metrics gathers: every file of metrics_entries."""
    return [entry["path"] for entry in metrics_entries(wildcards.exp)]


def run_privacy_files(wildcards):
    """Each epsilon's privacy.json (sigma and the accountant's figures)."""
    return [
        privacy_path(wildcards.exp, eps) for eps in exp_cfg(wildcards).epsilon_labels
    ]


def experiment_draws(wildcards):
    """Every vote's draw record of the experiment (epsilon = inf's too: counted, free of budget)."""
    exp = exp_cfg(wildcards)
    return [
        draw_path(wildcards.exp, eps, t)
        for eps in exp.epsilon_labels
        for t in range(1, exp.pe.iterations + 1)
    ]


def grid_populations(wildcards):
    """The populations the sample grids show (grid_iterations) of every finite epsilon."""
    exp = exp_cfg(wildcards)
    return [
        population_path(wildcards.exp, eps, t)
        for eps in sample_epsilons(exp.epsilon_labels)
        for t in grid_iterations(exp)
    ]


def final_populations(exp_name):
    """The final populations the sample grid shows: of every finite epsilon."""
    exp = EXPERIMENTS[exp_name]
    return [
        population_path(exp_name, eps, exp.pe.iterations)
        for eps in sample_epsilons(exp.epsilon_labels)
    ]


def plot_paths(exp_name):
    return {
        name: f"{PLOTS}/{file}".format(exp=exp_name)
        for name, file in PLOT_FILES.items()
    }


def grid_iteration_numbers(T):
    """The iterations whose samples the report shows: first, middle, last (of T)."""
    return sorted({0, T // 2, T})


def grid_iterations(exp):
    return grid_iteration_numbers(exp.pe.iterations)


def final_outputs(exp_name):
    outputs = [METRICS_TABLE, PRIVACY_LEDGER, PRIVACY_DRAWS, PRIVACY_SPEND]
    if EXPERIMENTS[exp_name].release.enabled:
        outputs.append(RELEASE)
    return [path.format(exp=exp_name) for path in outputs] + list(
        plot_paths(exp_name).values()
    )


# compute.keep_intermediate: false. Snakemake marks outputs temp() per rule, for every
# experiment: when one experiment asks, each population, embedding and lookahead file and
# each shard file is temp(), and the target `all` lists what is kept (kept_files): every such
# file of the experiments that keep them all, and those of iterations 0, T // 2 and T
# (plotted, final) of the others. Snakemake never removes a temp file that is a target.
TEMPORARY = any(not exp.compute.keep_intermediate for exp in EXPERIMENTS.values())


def intermediate(path):
    return temp(path) if TEMPORARY else path


def kept_files(exp_name):
    """The iteration files of an experiment that stay on disk (see TEMPORARY): its cost plan's files."""
    if not TEMPORARY:
        return []
    from private_evolution.plan import plan_experiment

    exp = EXPERIMENTS[exp_name]
    kept = set(grid_iterations(exp))
    plan = plan_experiment(exp, rates={})
    # with the files of an embedder of no fixed width (no size in the plan)
    files = {**plan.file_iteration, **plan.unsized}
    return sorted(
        path
        for path, (run, t) in files.items()
        if run != "data"
        and (exp.compute.keep_intermediate or (t in kept and "/shards/" not in path))
    )


def shard_count(wildcards):
    return exp_cfg(wildcards).compute.shards


def shard_of(wildcards):
    """(index, count) of a shard job, passed to the stage as its ``shard``."""
    return (int(wildcards.shard), shard_count(wildcards))


def sharded(whole, shard_pattern):
    """Inputs of a gathering rule: ``whole`` (a dict of inputs) with one shard, else the shard files.

    With compute.shards = 1 the rule does the work itself (no extra job); with more,
    it concatenates (or, for the vote, adds up) what its shard jobs wrote.
    """

    def inputs(wildcards):
        count, values = shard_count(wildcards), dict(wildcards.items())
        if count == 1:
            return (
                {name: path.format(**values) for name, path in whole.items()}
                if isinstance(whole, dict)
                else whole(wildcards)
            )
        return {
            "shards": [shard_pattern.format(**values, shard=i) for i in range(count)]
        }

    return inputs


def gathering_gpus(wildcards, stage):
    """A gathering rule runs the stage itself with one shard; with more it only joins files."""
    return gpus(wildcards, stage) if shard_count(wildcards) == 1 else 0


def gpu_request(stage, gathering=False):
    """resources: gpu of a job running ``stage`` (gpus), or with ``gathering`` of the rule that
    runs it unsharded or gathers its shards (gathering_gpus)."""
    count = gathering_gpus if gathering else gpus

    def request(wildcards):
        return count(wildcards, stage)

    return request


def cluster_group(stage, iteration=None):
    """The cluster job a small CPU step joins (SLURM runs a group as one job; local runs
    ignore groups). One group per experiment, epsilon and iteration holds the vote, the
    selection, VARIATION_API and the embedding and evaluation of the new population when
    all run on CPU without shards. A job outside the groups (a GPU step, a shard job) in
    the middle of that chain splits it, since a group may not feed a job that feeds it
    back: the steps after it form a second group of the iteration. ``stage``: "vote",
    "calibrate", "generate" (RANDOM_API or VARIATION_API), "embed", "lookahead",
    "evaluate" (None for the data and report steps);
    ``iteration``: "zero" for RANDOM_API (iteration 0, shared by every epsilon), "last"
    for the accuracy of the final population, "data" and "report" for the per-experiment
    groups before and after the loop."""

    def group(wildcards):
        exp = exp_cfg(wildcards)
        if not exp.compute.group_small_steps:
            return None
        # the real sets' embedding: with their preparation, when on CPU and unsharded
        if stage == "embed" and iteration == "data":
            alone = shard_count(wildcards) > 1 or gpus(wildcards, "embed") > 0
            return None if alone else f"{exp.name}.data"
        # sigma: with the first vote, unless vote shards read it in between
        if stage == "calibrate":
            sharded = shard_count(wildcards) > 1
            return (
                f"{exp.name}.data"
                if sharded
                else f"{exp.name}.{run_folder(wildcards.eps)}.iter_1"
            )
        if iteration in ("data", "report"):
            return f"{exp.name}.{iteration}"
        values = dict(wildcards.items())
        # the run's name, never its folder: the reference run's jobs group as eps_inf
        eps = run_label(wildcards) if "run" in values else values.get("eps")
        run = run_folder(None if iteration == "zero" else eps)
        t = {"zero": 0, "last": exp.pe.iterations}.get(
            iteration, values.get("t", values.get("any_t"))
        )
        generator = "random_population" if int(t) == 0 else "vary"
        network = {"generate": generator, "embed": "embed", "lookahead": "lookahead"}
        if stage in network and gathering_gpus(wildcards, network[stage]) > 0:
            return None  # a GPU step: a job of its own
        unsharded = shard_count(wildcards) == 1
        generate_joins = unsharded and gpus(wildcards, generator) == 0
        embed_joins = generate_joins and gpus(wildcards, "embed") == 0
        # embed, lookahead and evaluate follow the embedding
        after_embedding = "" if embed_joins else ".embed"
        phase = {"vote": "", "generate": "" if generate_joins else ".generate"}
        phase = phase.get(stage, after_embedding)
        return f"{exp.name}.{run}.iter_{t}{phase}"

    return group


def gpus(wildcards, stage):
    """GPUs a job asks for: compute.gpus where the stage runs a network, else none."""
    exp = exp_cfg(wildcards)
    api_gpu = api_class(exp.api.name).needs_gpu
    embedder_gpu = embedder_class(exp.embedder.name).needs_gpu
    runs_network = {
        "embed": embedder_gpu,
        "vary": api_gpu,
        "random_population": api_gpu,
        "lookahead": api_gpu or embedder_gpu,
    }
    return exp.compute.gpus if runs_network.get(stage, True) else 0


# --- used by rules/pe.smk ---


def vote_inputs(wildcards):
    """The candidates and the privacy settings; the private embeddings come from private_input."""
    return {
        "population": vote_features_path(
            wildcards.exp, wildcards.eps, int(wildcards.t) - 1
        ),
        "privacy": privacy_path(wildcards.exp, wildcards.eps),
    }


def private_input(wildcards):
    """A vote shard reads only its shard of the private embeddings (the file embed_real_shard wrote,
    so its I/O is 1/S of the private set); an unsharded vote reads the whole file, and a gathering
    vote reads none (its shards' clean counts hold all it needs)."""
    name = embed_name(wildcards)
    if "shard" in wildcards.keys():
        return {
            "private": REAL_EMBEDDING_SHARD.format(
                exp=wildcards.exp, split="private", embedder=name, shard=wildcards.shard
            )
        }
    if shard_count(wildcards) > 1:
        return {}
    return {"private": real_embedding_path(wildcards.exp, "private", name)}


def selection_votes(wildcards):
    """The votes select reads: the public noisy histogram, or the reference's private one."""
    return votes_path(wildcards.exp, run_label(wildcards), wildcards.t)


def vary_inputs(wildcards):
    eps = run_label(wildcards)
    return {
        "population": population_path(wildcards.exp, eps, int(wildcards.t) - 1),
        "selected": selected_path(wildcards.exp, eps, wildcards.t),
    }


def selection_size(wildcards):
    """The ids select draws at iteration t: the size of population t (pe.final_samples at the last)."""
    return exp_cfg(wildcards).population_size(int(wildcards.t))


def variation_degree(wildcards):
    """The degree VARIATION_API makes iteration t with."""
    return exp_cfg(wildcards).degrees[int(wildcards.t) - 1]


def lookahead_degree(wildcards):
    """The candidates of iteration t are varied with the degree of iteration t + 1."""
    return exp_cfg(wildcards).degrees[int(wildcards.any_t)]


def vary_params(rule_shard):
    return dict(
        job_files=job_files,
        api=api_params,
        dataset=api_target,
        degree=variation_degree,
        epsilon=run_epsilon,
        seed=setting("pe.seed"),
        shard=rule_shard,
        code=code("vary", chosen_api),
    )


def lookahead_params(rule_shard):
    return dict(
        job_files=job_files,
        api=api_params,
        dataset=api_target,
        embedder=embedder_params,
        degree=lookahead_degree,
        lookahead=setting("pe.lookahead"),
        epsilon=run_epsilon,
        seed=setting("pe.seed"),
        shard=rule_shard,
        code=code("lookahead", lookahead_implementations),
    )


# --- used by rules/evaluate.smk ---


def embeds_in_evaluation(wildcards):
    """Whether evaluate embeds the population itself: in a space the validation CNN defines
    (measured once per population, never voted in), so no embedding file is written."""
    return embedder_class(wildcards.embedder).uses_validation_classifier


def evaluation_input(wildcards):
    """What evaluate measures a population by: its embedding (embed's file), or where it
    embeds the population itself (embeds_in_evaluation), the images and the CNN."""
    values = dict(wildcards.items())
    if embeds_in_evaluation(wildcards):
        images = f"{ANY_ITER}/{POPULATION}".format(**values)
        return {"images": images, **embedder_inputs(wildcards)}
    return {"population": f"{ANY_ITER}/{EMBEDDING}".format(**values)}


def evaluation_embedder(wildcards):
    """The space's embedder options where evaluate embeds the population itself, else None."""
    return embedder_params(wildcards) if embeds_in_evaluation(wildcards) else None


# --- used by rules/release.smk ---


def release_runs(exp_name):
    exp = EXPERIMENTS[exp_name]
    T = exp.pe.iterations
    return {
        eps: {
            "privacy": privacy_path(exp_name, eps),
            "votes": [votes_path(exp_name, eps, t) for t in range(1, T + 1)],
            "draws": [draw_path(exp_name, eps, t) for t in range(1, T + 1)],
            "final": population_path(exp_name, eps, T),
        }
        for eps in map(epsilon_label, exp.release.epsilons)
    }


def release_inputs(wildcards):
    """Every file a release copies or checks: each released epsilon's privacy.json, final
    population, votes and draw records."""
    return [
        path
        for files in release_runs(wildcards.exp).values()
        for path in [files["privacy"], files["final"], *files["votes"], *files["draws"]]
    ]


# --- the data set's privacy ledger (ledger.py) ---


def source_check(wildcards):
    """The check of the experiment's data set (metadata only), named by the fields it reads, so
    that a failed check of another config leaves it be; ancient: its time reruns nothing.
    """
    dataset = exp_cfg(wildcards).section("dataset")
    return ancient(SOURCE_CHECK.format(exp=wildcards.exp, check=check_id(dataset)))


# the data jobs' code digest (loading and splitting), in the split checks' names
SPLIT_CODE = code("prepare_private")


def split_check(part):
    """The check of the experiment's ``part`` (private or evaluation) against the data set's
    ledger of parts, named by the fields that decide the part's records and the data jobs' code;
    ancient, as source_check.
    """

    def path(wildcards):
        dataset = exp_cfg(wildcards).section("dataset")
        check = split_check_id(dataset, part, SPLIT_CODE)
        return ancient(SPLIT_CHECK.format(exp=wildcards.exp, part=part, check=check))

    return path


def split_checked_dataset(wildcards):
    """check_split reruns when a field its part's name follows changes; it still receives every value."""
    dataset = exp_cfg(wildcards).section("dataset")
    return JobOptions(
        dataset, ignore=set(dataset) - set(checked_fields(wildcards.part))
    )


def data_source_of(wildcards):
    """The ledger (results/_ledger/<source>) of the experiment's private data set."""
    return data_source(exp_cfg(wildcards).section("dataset"))


def data_set_ledger(wildcards):
    """The private folder of the experiment's data set ledger (results/_ledger/<source>/private)."""
    return ledger_private(data_source_of(wildcards))


def data_set_spend(wildcards):
    """The data set's public spend (results/_ledger/<source>/privacy_spend.json)."""
    return ledger_spend(data_source_of(wildcards))


def private_path_key(wildcards):
    """Part of each noise draw's key (noise.draw_key): the code and config of every step from the
    data set to the vote's counts (loading and splitting, the vote's embedder, the vote), so that
    a change to any of them draws new noise. Public: config and code only. Its canonical text
    (run settings such as batch sizes and devices left out): a dict param would reach the job
    as a plain dict."""
    return _private_path_key(wildcards.exp)


@lru_cache(maxsize=None)  # asked by every vote job while the DAG is built
def _private_path_key(exp_name):
    exp = EXPERIMENTS[exp_name]
    name = exp.embedder.name
    key = JobOptions(
        {
            "dataset": exp.section("dataset"),
            "prepare_code": code_digest(stage_script("prepare_private")),
            "embedder": exp.embedder_options(name),
            "embed_code": code("embed", lambda w: [embedder_class(name)])(None),
            "vote_code": code_digest(stage_script("vote")),
        },
        # the private split does not depend on the held-out sizes (it comes first in the split),
        # and a published data set's cache folder or mirror does not change its (digest-checked) files
        ignore=("num_heldout", "num_validation", "cache_dir", "mirror"),
    )
    return canonical_text(key, key.ignore)

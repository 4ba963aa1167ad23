"""The on-disk contract between the workflow's jobs: where each file lives and what it holds.

The rules (``workflow/rules/common.smk``), the stages and the tests take paths, npz array
names and JSON fields from here, so that each is written once. Path patterns carry
Snakemake's wildcards: ``{exp}`` (experiment), ``{eps}`` (an epsilon label: 0.5, 1, inf),
``{t}`` (an iteration >= 1), ``{run}`` (a run folder: ``shared``, ``eps_<label>`` of a finite
epsilon, or ``private/eps_inf``, the un-noised reference) with ``{any_t}`` (any iteration, 0
included), ``{embedder}``, ``{split}`` (private, heldout, validation) and
``{shard}``. The functions below fill them in.

Privacy: whatever holds private data or anything computed from it without noise lives
under :data:`PRIVATE` (``results/<exp>/private/``) and is never released: the whole epsilon = inf
run (:data:`REFERENCE_RUN`, made from un-noised votes) and the accuracy ceiling (a classifier
trained on the private set) included. Outside it are the noisy votes of finite epsilons and what
is made from them (DP), and the evaluation's numbers of those runs (computed against held-out
real data, labelled non-private in the report).
"""

from __future__ import annotations

import re

# ----------------------------------------------------------------------------- folders

RESULTS = "results/{exp}"
PRIVATE_FOLDER = "private"  # a path component: whatever lies below one is private
PRIVATE = f"{RESULTS}/{PRIVATE_FOLDER}"
SHARED_RUN = "shared"  # the run folder of iteration 0 (RANDOM_API), shared by every epsilon
RUN_PREFIX = "eps_"  # the run of one epsilon: eps_<label>
REFERENCE_EPSILON = "inf"  # the label of the un-noised run: a non-private reference
# Where the un-noised run lives (under RESULTS): its votes are the clean counts, so all it makes
# from them (selections, populations, embeddings, metrics, accuracy) is private too.
REFERENCE_RUN = f"{PRIVATE_FOLDER}/{RUN_PREFIX}{REFERENCE_EPSILON}"
# A finite epsilon's run (DP outputs: public). For epsilon = inf it holds only privacy.json,
# which calibrate makes from the config alone.
RUN = f"{RESULTS}/{RUN_PREFIX}{{eps}}"
RUN_DIR = f"{RESULTS}/{{run}}"  # any run folder: shared, eps_<finite label> or REFERENCE_RUN (see run_dir)
ITER_ZERO = f"{RESULTS}/{SHARED_RUN}/iter_0"
ITER = f"{RUN}/iter_{{t}}"  # iteration t of a finite epsilon (where its DP vote writes)
RUN_ITER = f"{RUN_DIR}/iter_{{t}}"  # iteration t of any epsilon's run, the reference's included
ANY_ITER = f"{RUN_DIR}/iter_{{any_t}}"  # iteration 0 (run = shared) or t of one epsilon
# What an iteration keeps private: per-shard clean counts, the record of each draw; for
# epsilon = inf this is the reference run's own iteration folder (REFERENCE_RUN).
PRIVATE_ITER = f"{PRIVATE}/{RUN_PREFIX}{{eps}}/iter_{{t}}"
LOGS = f"{RESULTS}/logs"
PRIVATE_LOGS = f"{PRIVATE}/logs"  # the logs of jobs that read private data
BENCHMARKS = f"{RESULTS}/benchmarks"
PRIVATE_BENCHMARKS = f"{PRIVATE}/benchmarks"  # of the jobs that read private data
# Every release an experiment ever made, one numbered copy each (RELEASE holds the latest):
# Snakemake empties RELEASE before a release job runs, so the copies keep the earlier ones.
RELEASE_VERSIONS = f"{RESULTS}/releases"

# The privacy ledger of one private data set, shared by every experiment that reads it
# (``{source}``: :func:`ledger.data_source` of the dataset section: the loader and its files,
# not the split). Its private/ part holds the secret noise seed, one record per noise draw
# and the list of releases; the spend is public: it depends only on what was asked, never on
# the data (see noise.py).
LEDGER = "results/_ledger/{source}"
LEDGER_PRIVATE = f"{LEDGER}/private"
LEDGER_SPEND = f"{LEDGER}/privacy_spend.json"
LEDGER_LOG = f"{LEDGER}/logs/data_ledger.log"
LEDGER_BENCHMARK = f"{LEDGER}/benchmarks/data_ledger.tsv"

# ----------------------------------------------------------------------------- files

# the real data, split by prepare_private: private (the vote's), heldout (test), validation
REAL_SET = f"{PRIVATE}/{{split}}.npz"
REAL_EMBEDDING = f"{PRIVATE}/{{split}}_embed_{{embedder}}.npz"
REAL_EMBEDDING_SHARD = f"{PRIVATE}/shards/{{split}}_embed_{{embedder}}_{{shard}}.npz"
# The CNN trained on the held-out validation part: real data, so it stays private; its
# penultimate layer is the "classifier" evaluation feature space.
FEATURE_CLASSIFIER = f"{PRIVATE}/feature_classifier.npz"
# What check_source found about the data set from metadata only (the file exists, an npz's headers),
# checked before any job that loads it: public (config and headers only). ``{check}`` is a digest of
# the dataset fields checked, so a failed check of a new config never removes the earlier one's file.
SOURCE_CHECK = f"{RESULTS}/checks/source_{{check}}.json"
# The split checked against the data set's ledger of parts (split_ledger.py) by check_split, before
# the data jobs: ``{part}`` is private or evaluation, ``{check}`` a digest of the fields that decide
# that part's records and of the data jobs' code. Under private/: it loads the data (its log tells
# the number of images).
SPLIT_CHECK = f"{PRIVATE}/checks/split_{{part}}_{{check}}.json"
# The id of this preparation of the private data set (the experiment and its count of runs of
# prepare_private, kept in the data set's ledger, and random bits: preparation.py): part of every noise draw's
# key, so that re-prepared data draws new noise whether or not it changed (a digest of the data would
# resume the draws when unchanged: the draw count would tell). Private, as the keys.
DATA_PREPARATION = f"{PRIVATE}/data_preparation.json"

PRIVACY = f"{RUN}/privacy.json"  # sigma, threshold and the guarantee of one epsilon (calibrate)
ACCURACY = f"{RUN_DIR}/accuracy.json"  # the final population's downstream accuracy
# In the metrics table the random population (iteration 0, RANDOM_API, no private data) is the
# zero-privacy baseline: its rows carry this epsilon. Its accuracy file is ACCURACY with run =
# SHARED_RUN (accuracy_path(exp, None)); configured epsilons are > 0, so it is never a run's.
BASELINE_EPSILON = 0.0
ACCURACY_CEILING = f"{PRIVATE}/accuracy_ceiling.json"  # the same classifier trained on the private set
# The baseline's training set when pe.final_samples differs from N: RANDOM_API of the final size
# (no private data), so that the baseline is judged on as many samples as each epsilon's final
# population; its first N samples have iteration 0's seeds and labels (both are prefix-stable), so the
# glyph simulator's are iteration 0's pixel for pixel (a network API's, up to batch-dependent rounding).
RANDOM_BASELINE = f"{RESULTS}/{SHARED_RUN}/random_baseline.npz"

# Files of one iteration, relative to its folder (ITER_ZERO, ITER or ANY_ITER)
POPULATION = "population.npz"
POPULATION_SHARD = "shards/population_{shard}.npz"
EMBEDDING = "embed_{embedder}.npz"
EMBEDDING_SHARD = "shards/embed_{embedder}_{shard}.npz"
LOOKAHEAD = "lookahead_{embedder}.npz"  # mean embeddings of each candidate's variations
LOOKAHEAD_SHARD = "shards/lookahead_{embedder}_{shard}.npz"
VOTES = "votes.npz"  # public under ITER for a finite epsilon, private in REFERENCE_RUN for inf
SELECTED = "selected.npz"
METRICS = "metrics_{embedder}.json"

DRAW = f"{PRIVATE_ITER}/draw.json"  # the record of one noise draw (its key holds the id of the data's preparation)
VOTE_COUNTS = f"{PRIVATE_ITER}/vote_counts_{{shard}}.npz"  # one shard's clean counts

METRICS_TABLE = f"{RESULTS}/metrics.csv"
PRIVACY_LEDGER = f"{RESULTS}/privacy_ledger.csv"
PRIVACY_DRAWS = f"{RESULTS}/privacy_draws.csv"
PRIVACY_SPEND = f"{RESULTS}/privacy_spend.json"
PLOTS = f"{RESULTS}/plots"
RELEASE = f"{RESULTS}/release"


def fill(pattern: str, **values) -> str:
    """``pattern`` with the named wildcards filled and the others left for Snakemake:
    ``fill(REAL_SET, split="heldout")`` is ``results/{exp}/private/heldout.npz``."""
    for name, value in values.items():
        pattern = pattern.replace("{" + name + "}", str(value))
    return pattern


def run_folder(eps: str | None) -> str:
    """The name of an epsilon's run ('0.5' -> 'eps_0.5', 'inf' -> 'eps_inf'), 'shared' for None
    (iteration 0): what logs, benchmarks, cluster groups and a release's folders call it."""
    return SHARED_RUN if eps is None else f"{RUN_PREFIX}{eps}"


def run_dir(eps: str | None) -> str:
    """Where an epsilon's run lives under results/<exp>/ (the ``{run}`` of RUN_DIR): eps_<label>
    for a finite epsilon, REFERENCE_RUN (under private/) for the un-noised one, 'shared' for None."""
    return REFERENCE_RUN if eps == REFERENCE_EPSILON else run_folder(eps)


def run_epsilon_label(run: str) -> str | None:
    """The epsilon label of a run folder or name ('eps_0.5' -> '0.5', 'private/eps_inf' -> 'inf'),
    None for 'shared' (iteration 0)."""
    name = run.rsplit("/", 1)[-1]
    return name[len(RUN_PREFIX):] if name.startswith(RUN_PREFIX) else None


def iteration_file(exp: str, eps: str, t: int | str, name: str, **wildcards) -> str:
    """A file of iteration t of one epsilon's run (see run_dir); iteration 0 (RANDOM_API) is
    shared by every epsilon, so its files live under shared/. ``wildcards`` fill ``name`` (embedder)."""
    folder = ITER_ZERO if int(t) == 0 else RUN_ITER
    return f"{folder}/{name}".format(exp=exp, run=run_dir(eps), t=t, **wildcards)


def population_path(exp: str, eps: str, t: int | str) -> str:
    return iteration_file(exp, eps, t, POPULATION)


def embedding_path(exp: str, eps: str, t: int | str, embedder: str) -> str:
    return iteration_file(exp, eps, t, EMBEDDING, embedder=embedder)


def lookahead_path(exp: str, eps: str, t: int | str, embedder: str) -> str:
    return iteration_file(exp, eps, t, LOOKAHEAD, embedder=embedder)


def metrics_path(exp: str, eps: str, t: int | str, embedder: str) -> str:
    return iteration_file(exp, eps, t, METRICS, embedder=embedder)


def selected_path(exp: str, eps: str, t: int | str) -> str:
    return iteration_file(exp, eps, t, SELECTED)


def votes_path(exp: str, eps: str, t: int | str) -> str:
    """The noisy histogram of a finite epsilon is public; the un-noised epsilon = inf one is
    private, in the reference run's folder (PRIVATE_ITER of inf)."""
    return iteration_file(exp, eps, t, VOTES)


def draw_path(exp: str, eps: str, t: int | str) -> str:
    return DRAW.format(exp=exp, eps=eps, t=t)


def ledger_private(source: str) -> str:
    return LEDGER_PRIVATE.format(source=source)


def ledger_spend(source: str) -> str:
    return LEDGER_SPEND.format(source=source)


def privacy_path(exp: str, eps: str) -> str:
    return PRIVACY.format(exp=exp, eps=eps)


def accuracy_path(exp: str, eps: str | None) -> str:
    """The final population's accuracy of an epsilon's run; eps = None: the random population's
    (iteration 0, the zero-privacy baseline)."""
    return ACCURACY.format(exp=exp, run=run_dir(eps))


def real_set_path(exp: str, split: str) -> str:
    return REAL_SET.format(exp=exp, split=split)


def real_embedding_path(exp: str, split: str, embedder: str) -> str:
    return REAL_EMBEDDING.format(exp=exp, split=split, embedder=embedder)


# ----------------------------------------------------------------------------- logs and benchmarks


def job_log(name: str, private: bool = False) -> str:
    """The log of a job: ``results/{exp}/logs/<name>.log``, or under private/logs/ for a job
    that reads private data (its messages may describe that data)."""
    return f"{PRIVATE_LOGS if private else LOGS}/{name}.log"


def job_benchmark(name: str, private: bool = False) -> str:
    """The benchmark file of the job whose log is :func:`job_log` of the same ``name``: under
    private/benchmarks/ for a job that reads private data (its time, memory and I/O depend on it)."""
    return f"{PRIVATE_BENCHMARKS if private else BENCHMARKS}/{name}.tsv"


def _log_regex(folder: str) -> re.Pattern:
    """A job log under ``folder`` (LOGS or PRIVATE_LOGS), anywhere below a working directory."""
    folder = re.escape(folder).replace(re.escape("{exp}"), "(?P<exp>[^/]+)")
    return re.compile(rf"^(?P<workdir>.*?){folder}/(?P<name>.+)\.log$")


_LOG_REGEXES = ((_log_regex(PRIVATE_LOGS), True), (_log_regex(LOGS), False))
_LEDGER_LOG_REGEX = re.compile(
    "^(?P<workdir>.*?)" + re.escape(LEDGER_LOG).replace(re.escape("{source}"), "(?P<source>[^/]+)") + "$"
)


def benchmark_of_log(log_path: str) -> str | None:
    """The benchmark file of the job that writes ``log_path`` (see :func:`job_log`), or None
    for a path that is not a job log. Every rule names both from one name (tests check it on
    a dry run), so a job's messages and its time and memory are found from each other."""
    path = str(log_path).replace("\\", "/")
    for regex, private in _LOG_REGEXES:
        match = regex.match(path)
        if match:
            return match["workdir"] + job_benchmark(match["name"], private).format(exp=match["exp"])
    match = _LEDGER_LOG_REGEX.match(path)
    if match:
        return match["workdir"] + LEDGER_BENCHMARK.format(source=match["source"])
    return None


# ----------------------------------------------------------------------------- npz arrays


class ImageArrays:
    """A population (population.npz), a real split (private/<split>.npz), a released set:
    images (N, H, W, C) uint8 and their class labels (N,)."""

    IMAGES = "images"
    LABELS = "labels"
    REQUIRED = (IMAGES, LABELS)
    # a population's per-sample state (e.g. the simulator's parameters): state__<name>
    STATE_PREFIX = "state__"


class EmbeddingArrays:
    """embed_<embedder>.npz, lookahead_<embedder>.npz, the real sets' embeddings:
    features (N, D) float32 and the labels of the embedded images; the real sets' also name
    the computation that made them (noise.computation_id), one per shard gathered."""

    FEATURES = "features"
    LABELS = "labels"
    COMPUTATION = "computation"
    REQUIRED = (FEATURES, LABELS)


class CountArrays:
    """vote_counts_<shard>.npz (private): one shard's un-noised votes per candidate."""

    COUNTS = "counts"
    LABELS = "labels"
    COMPUTATION = "computation"  # the computation ids of the private embeddings counted
    REQUIRED = (COUNTS, LABELS, COMPUTATION)


class VoteArrays:
    """votes.npz: the noisy counts, the thresholded weights select resamples by, the
    candidates' labels."""

    NOISY_COUNTS = "noisy_counts"
    WEIGHTS = "weights"
    LABELS = "labels"
    REQUIRED = (NOISY_COUNTS, WEIGHTS, LABELS)


class SelectionArrays:
    """selected.npz: the ids of the candidates VARIATION_API varies, one per next sample."""

    PARENT_IDS = "parent_ids"
    REQUIRED = (PARENT_IDS,)


# ----------------------------------------------------------------------------- JSON fields


class PrivacyFields:
    """The fields of privacy.json that other jobs read (accounting.privacy_record writes it)."""

    EPSILON = "epsilon"  # a number, or "inf"
    DELTA = "delta"
    ITERATIONS = "iterations"
    K = "k"
    SIGMA = "sigma"
    NOISE_MULTIPLIER = "noise_multiplier"  # sigma / the vote's L2 sensitivity
    THRESHOLD = "threshold"
    ADJACENCY = "adjacency"
    SEED_MODE = "seed_mode"  # "secret" or "public"
    PUBLIC_SEED = "public_seed"  # only in public mode
    DP = "dp"  # "yes" only for a finite epsilon with a secret seed


class DrawFields:
    """The fields of draw.json and of the ledger's draw records (noise.draw_record writes them)
    that other jobs read."""

    KEY = "key"  # what was asked (never the counts): equal keys are the same draw, see noise.draw_key
    EXPERIMENT = "experiment"
    EPSILON = "epsilon"
    ITERATION = "iteration"
    SIGMA = "sigma"
    K = "k"
    BINS = "bins"  # histogram bins the noise was added to
    DELTA = "delta"
    ADJACENCY = "adjacency"
    SEED_MODE = "seed_mode"
    SEED_ID = "seed_id"  # a digest of the seed: tells seeds apart without revealing one
    SPLIT = "split"  # which private split of the source (a digest of the split's config)
    DP = "dp"
    # what the public ledger tables show of each draw: no key, no seed id
    PUBLIC = (EXPERIMENT, EPSILON, ITERATION, "time", SIGMA, K, BINS, "noise_multiplier", DELTA, ADJACENCY, SEED_MODE, SPLIT, DP)


class SpendFields:
    """Fields of a data set's privacy_spend.json that say whether it composes every draw
    (ledger.pending_spend while draws await composition, ledger.spend_summary after)."""

    UP_TO_DATE = "up_to_date"
    DRAWS_COMPOSED = "draws_composed"  # how many draw records (DP or not) the figures compose
    DRAWS_DIGEST = "draws_digest"  # ledger.draws_digest of the draws composed (their public fields)
    ACCOUNTANT = "accountant"  # the accountant's name and version that composed it
    ALL = (UP_TO_DATE, DRAWS_COMPOSED, DRAWS_DIGEST, ACCOUNTANT)


class AccuracyFields:
    """accuracy.json and accuracy_ceiling.json."""

    ACCURACY = "accuracy_cnn"
    NUM_TRAIN = "num_train"
    NUM_TEST = "num_test"


class MetricsFields:
    """metrics_<embedder>.json: each metric's values (ids from its class's ``values``) and
    the sizes they were computed on."""

    NUM_SYNTHETIC = "num_synthetic"
    NUM_REAL = "num_real"

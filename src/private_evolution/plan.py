"""What a configured run costs, before it starts: calls, votes, disk and time, from the config alone.

    python -m private_evolution.plan [--configfile FILE ...] [--replace-workflow-config]
                                     [--rate NAME=VALUE ...] [--throughput FILE] [--parallel N] [--json]
    snakemake --config plan=true        # the same for the workflow's config; runs nothing

For every experiment: the API calls (RANDOM_API, VARIATION_API, the lookahead's variations) and,
for the diffusion APIs, denoising steps; embedding calls per embedder; the votes and their size;
the bytes of every .npz file the run writes (exact: the files are uncompressed, their size
follows from the config's shapes), per iteration and in all; and, given throughput figures, the
job-hours (GPU-hours for the jobs that ask for GPUs) per stage and a wall time at the configured
shard count. It reads the config and the throughput table only: never the data (the vote's
per-class sizes of the private set are taken as equal: the private labels are not read).

Throughput (``benchmarks/throughput.yaml``): measured figures per job, each with its source;
``--rate NAME=VALUE`` gives or overrides one (an API, embedder or vote backend by name; the
unit is image-steps/s for the diffusion APIs, images/s for other APIs and the embedders,
distance terms/s (private x candidates x dimension) for a vote backend). A stage without a
figure is listed with its work and no time.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import PEError
from .contract import (
    EMBEDDING,
    PRIVATE_FOLDER,
    EMBEDDING_SHARD,
    LOOKAHEAD,
    LOOKAHEAD_SHARD,
    POPULATION,
    POPULATION_SHARD,
    REAL_EMBEDDING,
    REAL_EMBEDDING_SHARD,
    RANDOM_BASELINE,
    REAL_SET,
    SELECTED,
    VOTE_COUNTS,
    VOTES,
    iteration_file,
)
from .sharding import shard_bounds

REPO = Path(__file__).resolve().parents[2]
THROUGHPUT = REPO / "benchmarks" / "throughput.yaml"
COMPUTATION_ID = "<U64"  # noise.computation_id: 64 hex characters

# ----------------------------------------------------------------------------- file sizes


def npz_bytes(arrays: dict[str, tuple[tuple[int, ...], str]]) -> int:
    """The size of ``np.savez(file, **arrays)`` for arrays of these (shape, dtype), without making
    them: numpy's zip entries (zip64, stored) holding each array's .npy header and data."""
    buffer, data = io.BytesIO(), 0
    with zipfile.ZipFile(buffer, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, (shape, dtype) in arrays.items():
            dtype = np.dtype(dtype)
            header = io.BytesIO()
            descriptor = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)}
            np.lib.format.write_array_header_1_0(header, descriptor)
            with archive.open(f"{name}.npy", "w", force_zip64=True) as entry:
                entry.write(header.getvalue())
            data += math.prod(shape) * dtype.itemsize
    return len(buffer.getvalue()) + data


def population_arrays(exp, count: int, state: bool = True) -> dict:
    """A population file's arrays: images, labels and the API's per-sample state (when known)."""
    size, channels = exp.dataset.image_size, exp.dataset.channels
    arrays = {"images": ((count, size, size, channels), "u1"), "labels": ((count,), "<i8")}
    if state:
        arrays.update({f"state__{name}": value for name, value in api_state(exp, count).items()})
    return arrays


def api_state(exp, count: int) -> dict:
    """What each built-in API keeps per sample (Population.state); a plugin's is not known here."""
    if exp.api.name == "glyph_simulator":
        from .simulator import PARAMETERS

        return {"font": ((count,), "<i8"), "params": ((count, len(PARAMETERS)), "<f8")}
    if exp.api.name == "diffusion_unet":
        return {"model_class": ((count,), "<i8")}
    if exp.api.name == "stable_diffusion":
        return {"prompt_id": ((count,), "<i8")}
    return {}


def embedding_arrays(count: int, dim: int, computation: int = 0) -> dict:
    """An embedding file: features (an empty shard's are 0 x 0), labels, and for the real sets the
    computation ids (one per shard gathered)."""
    arrays = {"features": ((count, dim if count else 0), "<f4"), "labels": ((count,), "<i8")}
    if computation:
        arrays["computation"] = ((computation,), COMPUTATION_ID)
    return arrays


# ----------------------------------------------------------------------------- the plan


@dataclass
class Work:
    """Work of one stage at one iteration of one run: ``units`` (images, or image-steps for a
    diffusion API, or distance terms for a vote) over ``jobs`` jobs, the largest taking ``largest``."""

    stage: str
    run: str  # shared, eps_<label> (the reference: eps_inf), or data
    iteration: int | None
    kind: str  # api, embed, vote
    name: str  # the API, embedder or vote backend
    device: str  # where that part runs: gpu or cpu
    job_device: str  # what the job asks for (a lookahead job asks a GPU when either part needs one)
    calls: int  # images made or embedded, votes
    units: float
    largest: float
    jobs: int
    chain: bool = True  # on an epsilon's serial chain (evaluation is not)
    seconds: float | None = None
    largest_seconds: float | None = None


@dataclass
class ExperimentPlan:
    name: str
    summary: dict
    work: list[Work] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)  # path -> bytes
    file_iteration: dict[str, tuple] = field(default_factory=dict)  # path -> (run, t) (data: ("data", None))
    unsized: dict[str, tuple] = field(default_factory=dict)  # files of an embedder whose width is not fixed: path -> (run, t)
    rates: dict[str, dict] = field(default_factory=dict)  # name -> the figure used
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def variation_steps(exp, degree: float, api) -> int:
    """Network calls (denoising steps) of one VARIATION_API image at ``degree``: the API's own
    count (``network_calls``, which every diffusion API declares); 1 per image for other APIs."""
    calls = getattr(api, "network_calls", None)
    return int(calls(degree)) if callable(calls) else 1


def random_steps(exp, api) -> int:
    calls = getattr(api, "network_calls", None)
    return int(calls(None)) if callable(calls) else 1


def counts_steps(exp, api) -> bool:
    """Whether the API's work is counted in network calls per image (a diffusion API)."""
    return callable(getattr(api, "network_calls", None))


def feature_dim(exp, embedder: str) -> int | None:
    from .embedders import embedder_class

    cls = embedder_class(embedder)
    if cls.feature_dim:
        return cls.feature_dim
    if embedder == "pixels":
        return exp.dataset.image_size**2 * exp.dataset.channels
    return None


def embedder_batch(exp, embedder: str) -> int:
    return int(exp.embedder_options(embedder).get("batch_size", 256))


def evaluation_iterations(exp) -> dict[str, list[int]]:
    from .embedders import embedder_class

    return {name: embedder_class(name).evaluated_iterations(exp) for name in exp.evaluation_embedders}


def load_rates(path: Path | None = THROUGHPUT, overrides: dict[str, float] | None = None) -> dict:
    """The throughput table (name -> device -> figure) with ``overrides`` (name -> value on any device)."""
    import yaml

    table = {}
    if path is not None and Path(path).is_file():
        raw = yaml.safe_load(Path(path).read_text()) or {}
        for section in ("apis", "embedders", "vote"):
            for name, devices in (raw.get(section) or {}).items():
                table[name] = dict(devices)
    for name, value in (overrides or {}).items():
        table[name] = {"any": {"value": float(value), "source": "given on the command line"}}
    return table


def rate_of(rates: dict, name: str, device: str) -> dict | None:
    figures = rates.get(name) or {}
    figure = figures.get("any") or figures.get(device)
    if not figure:
        return None
    value = figure.get("value", figure.get("images_per_s", figure.get("image_steps_per_s", figure.get("distance_terms_per_s"))))
    return {**figure, "value": float(value), "device": device}


def plan_experiment(exp, rates: dict | None = None, parallel: int | None = None) -> ExperimentPlan:
    """The plan of one experiment (an ExperimentConfig): see the module's docstring."""
    from .apis import api_class, make_api
    from .embedders import embedder_class

    rates = load_rates() if rates is None else rates
    N, T, L, S = exp.pe.num_samples, exp.pe.iterations, exp.pe.lookahead, exp.compute.shards
    labels = exp.epsilon_labels
    classes = len(exp.dataset.class_names)
    degrees = exp.degrees
    vote_embedder = exp.embedder.name
    api = make_api(exp.api_options(), exp.dataset.class_names, exp.dataset.image_size, exp.dataset.channels)
    api_batch = int(getattr(api, "batch_size", 1) or 1)
    gpus = exp.compute.gpus
    api_device = "gpu" if gpus and api_class(exp.api.name).needs_gpu else "cpu"

    def embed_device(name):
        return "gpu" if gpus and embedder_class(name).needs_gpu else "cpu"

    lookahead_device = "gpu" if api_device == "gpu" or embed_device(vote_embedder) == "gpu" else "cpu"
    plan = ExperimentPlan(exp.name, {})
    runs = [f"eps_{label}" for label in labels]

    def largest_share(total: int, align: int) -> int:
        return max(end - begin for begin, end in shard_bounds(total, S, align)) if S > 1 else total

    def add_file(path: str, arrays: dict, run: str, t):
        plan.files[path] = npz_bytes(arrays)
        plan.file_iteration[path] = (run, t)

    def run_of(eps: str | None) -> str:
        return "shared" if eps is None else f"eps_{eps}"

    # ---- the data: the real splits and their embeddings (under private/)
    fill = {"exp": exp.name}
    dims = {name: feature_dim(exp, name) for name in {vote_embedder, *exp.evaluation_embedders}}
    for name, dim in dims.items():
        if dim is None:
            plan.notes.append(f"the {name} embedder's feature width is not fixed: its files are left out of the disk figures")
    add_file(REAL_SET.format(**fill, split="private"), population_arrays(exp, exp.dataset.num_private, state=False), "data", None)
    add_file(REAL_SET.format(**fill, split="heldout"), population_arrays(exp, exp.dataset.num_heldout, state=False), "data", None)
    uses_classifier = any(embedder_class(name).uses_validation_classifier for name in exp.evaluation_embedders)
    if uses_classifier:
        add_file(REAL_SET.format(**fill, split="validation"), population_arrays(exp, exp.dataset.num_validation, state=False), "data", None)

    def real_embeddings(split: str, count: int, name: str, gathered: bool):
        dim = dims[name]
        if dim is None:
            return
        if S == 1:
            add_file(REAL_EMBEDDING.format(**fill, split=split, embedder=name), embedding_arrays(count, dim, 1), "data", None)
            return
        for shard, (begin, end) in enumerate(shard_bounds(count, S, embedder_batch(exp, name))):
            path = REAL_EMBEDDING_SHARD.format(**fill, split=split, embedder=name, shard=shard)
            add_file(path, embedding_arrays(end - begin, dim, 1), "data", None)
        if gathered:  # the private set's shards are never gathered (each vote shard reads its own)
            # gathering keeps the non-empty shards' computation ids
            ids = sum(end > begin for begin, end in shard_bounds(count, S, embedder_batch(exp, name))) or 1
            add_file(REAL_EMBEDDING.format(**fill, split=split, embedder=name), embedding_arrays(count, dim, ids), "data", None)

    real_embeddings("private", exp.dataset.num_private, vote_embedder, gathered=False)
    for name in exp.evaluation_embedders:
        real_embeddings("heldout", exp.dataset.num_heldout, name, gathered=True)

    def work(stage, run, t, kind, name, device, calls, units, largest, jobs, job_device=None, chain=True):
        plan.work.append(Work(stage, run, t, kind, name, device, job_device or device, calls, units, largest, jobs, chain))

    private_units = exp.dataset.num_private
    work("embedding: private set", "data", None, "embed", vote_embedder, embed_device(vote_embedder), private_units,
         private_units, largest_share(private_units, embedder_batch(exp, vote_embedder)), S)
    for name in exp.evaluation_embedders:
        work("embedding: evaluation", "data", None, "embed", name, embed_device(name), exp.dataset.num_heldout,
             exp.dataset.num_heldout, largest_share(exp.dataset.num_heldout, embedder_batch(exp, name)), S, chain=False)

    # ---- the loop
    def population_files(eps, t):
        run = run_of(eps)
        n = exp.population_size(t)
        add_file(iteration_file(exp.name, eps or labels[0], t, POPULATION), population_arrays(exp, n), run, t)
        if S > 1:
            for shard, (begin, end) in enumerate(shard_bounds(n, S, api_batch)):
                # an empty RANDOM_API shard holds no state arrays; an empty VARIATION_API shard does
                arrays = population_arrays(exp, end - begin, state=bool(end - begin) or t > 0)
                add_file(iteration_file(exp.name, eps or labels[0], t, POPULATION_SHARD, shard=shard), arrays, run, t)

    def embedding_files(eps, t, name):
        dim = dims[name]
        run = run_of(eps)
        if dim is None:
            plan.unsized[iteration_file(exp.name, eps or labels[0], t, EMBEDDING, embedder=name)] = (run, t)
            for shard in range(S if S > 1 else 0):
                plan.unsized[iteration_file(exp.name, eps or labels[0], t, EMBEDDING_SHARD, embedder=name, shard=shard)] = (run, t)
            return
        whole = iteration_file(exp.name, eps or labels[0], t, EMBEDDING, embedder=name)
        # the embed stage names its computation in what it writes under private/ (the reference's run)
        private = PRIVATE_FOLDER in Path(whole).parts
        n = exp.population_size(t)
        bounds = shard_bounds(n, S, embedder_batch(exp, name)) if S > 1 else []
        ids = (sum(end > begin for begin, end in bounds) or 1) if private else 0
        add_file(whole, embedding_arrays(n, dim, ids), run, t)
        for shard, (begin, end) in enumerate(bounds):
            path = iteration_file(exp.name, eps or labels[0], t, EMBEDDING_SHARD, embedder=name, shard=shard)
            add_file(path, embedding_arrays(end - begin, dim, int(private)), run, t)

    def lookahead_files(eps, t):
        from .stages.lookahead import candidates_per_chunk

        dim = dims[vote_embedder]
        run = run_of(eps)
        if dim is None:
            plan.unsized[iteration_file(exp.name, eps or labels[0], t, LOOKAHEAD, embedder=vote_embedder)] = (run, t)
            for shard in range(S if S > 1 else 0):
                plan.unsized[iteration_file(exp.name, eps or labels[0], t, LOOKAHEAD_SHARD, embedder=vote_embedder, shard=shard)] = (run, t)
            return
        add_file(iteration_file(exp.name, eps or labels[0], t, LOOKAHEAD, embedder=vote_embedder), embedding_arrays(N, dim), run, t)
        if S > 1:
            chunk = candidates_per_chunk(api_batch, embedder_batch(exp, vote_embedder), L)
            for shard, (begin, end) in enumerate(shard_bounds(N, S, chunk)):
                path = iteration_file(exp.name, eps or labels[0], t, LOOKAHEAD_SHARD, embedder=vote_embedder, shard=shard)
                add_file(path, embedding_arrays(end - begin, dim), run, t)

    evaluated = evaluation_iterations(exp)

    def features_of(eps, t):
        """What the vote after population t reads (t < T), and the population's evaluation embeddings."""
        run = run_of(eps)
        if t < T and L > 0:
            from .stages.lookahead import candidates_per_chunk

            chunk = candidates_per_chunk(api_batch, embedder_batch(exp, vote_embedder), L)
            steps = variation_steps(exp, degrees[t], api)
            share = largest_share(N, chunk)
            work("lookahead: VARIATION_API", run, t, "api", exp.api.name, api_device, L * N, L * N * steps, L * share * steps, S, lookahead_device)
            work("lookahead: embedding", run, t, "embed", vote_embedder, embed_device(vote_embedder), L * N, L * N, L * share, S, lookahead_device)
            lookahead_files(eps, t)
        n = exp.population_size(t)
        for name in dict.fromkeys([vote_embedder, *exp.evaluation_embedders]):
            for_vote = name == vote_embedder and t < T and L == 0
            if not for_vote and t not in evaluated.get(name, []):
                continue
            # a space the validation CNN defines: embedded in memory by the population's evaluate job
            in_evaluation = embedder_class(name).uses_validation_classifier
            stage = "embedding: vote features" if for_vote else "embedding: evaluation"
            share = n if in_evaluation else largest_share(n, embedder_batch(exp, name))
            work(stage, run, t, "embed", name, embed_device(name), n, n, share, 1 if in_evaluation else S, chain=for_vote)
            if not in_evaluation:
                embedding_files(eps, t, name)

    steps0 = random_steps(exp, api)
    work("RANDOM_API", "shared", 0, "api", exp.api.name, api_device, N, N * steps0, largest_share(N, api_batch) * steps0, S)
    population_files(None, 0)
    features_of(None, 0)
    M = exp.final_size
    if M != N and exp.evaluation.accuracy["enabled"]:
        # the baseline's training set: RANDOM_API of the final size (one job, not sharded)
        work("RANDOM_API", "shared", 0, "api", exp.api.name, api_device, M, M * steps0, M * steps0, 1, chain=False)
        add_file(RANDOM_BASELINE.format(exp=exp.name), population_arrays(exp, M), "shared", 0)
    backend = exp.pe.nn_backend
    for label in labels:
        run = f"eps_{label}"
        for t in range(1, T + 1):
            dim = dims[vote_embedder] or 0
            terms = exp.dataset.num_private * N * dim / classes  # per class: private x candidates of the class
            vote_share = largest_share(exp.dataset.num_private, embedder_batch(exp, vote_embedder)) / max(exp.dataset.num_private, 1)
            work("vote", run, t, "vote", backend, "cpu", 1, terms, terms * vote_share, S)
            for shard in range(S if S > 1 else 0):
                path = VOTE_COUNTS.format(exp=exp.name, eps=label, t=t, shard=shard)
                add_file(path, {"counts": ((N,), "<i8"), "labels": ((N,), "<i8"), "computation": ((2,), COMPUTATION_ID)}, run, t)
            add_file(iteration_file(exp.name, label, t, VOTES), {"noisy_counts": ((N,), "<i8"), "weights": ((N,), "<f8"), "labels": ((N,), "<i8")}, run, t)
            n = exp.population_size(t)  # the last selection draws the synthetic set's size
            add_file(iteration_file(exp.name, label, t, SELECTED), {"parent_ids": ((n,), "<i8")}, run, t)
            steps = variation_steps(exp, degrees[t - 1], api)
            work("VARIATION_API", run, t, "api", exp.api.name, api_device, n, n * steps, largest_share(n, api_batch) * steps, S)
            population_files(label, t)
            features_of(label, t)

    # ---- time
    for item in plan.work:
        figure = rate_of(rates, item.name, item.device)
        if figure is None:
            key = f"{item.name} on {item.device}"
            if key not in plan.missing:
                plan.missing.append(key)
            continue
        plan.rates[f"{item.name} on {item.device}"] = figure
        item.seconds = item.units / figure["value"]
        item.largest_seconds = item.largest / figure["value"]

    def seconds(items, attribute="seconds"):
        """The known part: a stage without a figure counts 0 (and the total is marked incomplete)."""
        return sum(getattr(item, attribute) or 0.0 for item in items)

    def step_seconds(stage_names, run, t):
        return seconds([w for w in plan.work if w.stage in stage_names and w.run == run and w.iteration == t], "largest_seconds")

    chain_stages = {w.stage for w in plan.work if w.chain}
    prefix_private = seconds([w for w in plan.work if w.stage == "embedding: private set"], "largest_seconds")
    prefix_random = step_seconds({"RANDOM_API"}, "shared", 0)
    features0 = step_seconds(chain_stages - {"RANDOM_API", "embedding: private set"}, "shared", 0)
    prefix = max(prefix_private, prefix_random) + features0
    iteration_wall = {run: [step_seconds(chain_stages, run, t) for t in range(1, T + 1)] for run in runs}
    chain = max((prefix + sum(parts) for parts in iteration_wall.values()), default=0.0)
    chain_complete = all(w.seconds is not None for w in plan.work if w.chain)
    total = seconds(plan.work)
    complete = all(w.seconds is not None for w in plan.work)
    parallel = parallel or S
    wall = max(chain, total / parallel) if plan.rates else None
    iterations = []
    first = runs[0] if runs else None
    for t in range(T + 1):
        run, eps = ("shared", None) if t == 0 else (first, labels[0])
        disk = sum(plan.files[path] for path, key in plan.file_iteration.items() if key == (run, t))
        seconds_t = prefix if t == 0 else iteration_wall[first][t - 1]
        iterations.append({
            "t": t,
            "run": run,
            "degree": degrees[t - 1] if t else None,
            "variation_steps": variation_steps(exp, degrees[t - 1], api) if t else random_steps(exp, api),
            "lookahead_degree": degrees[t] if L and t < T else None,
            "lookahead_steps": variation_steps(exp, degrees[t], api) if L and t < T else None,
            "disk": disk,
            "wall_s": seconds_t,
        })

    def steps_label():
        if exp.api.name == "diffusion_unet":
            return f"{random_steps(exp, api)} DDIM steps per RANDOM_API image, round({random_steps(exp, api)} x degree) per variation"
        if exp.api.name == "stable_diffusion":
            return f"{random_steps(exp, api)} steps per RANDOM_API image, int({exp.api.options.get('variation_steps', 50)} x degree) per variation"
        if counts_steps(exp, api):
            return f"{random_steps(exp, api)} network calls per RANDOM_API image, as the API counts them per variation"
        return "work counted in images"

    calls = {
        "random_api": N,
        "variation_api_per_iteration": N,
        "variation_api": (N * (T - 1) + exp.final_size) * len(labels) if T else 0,
        "lookahead_per_iteration": L * N,
        "lookahead": L * N * (1 + len(labels) * (T - 1)) if L and T else 0,
    }
    units_by = lambda stage: sum(w.units for w in plan.work if w.stage == stage)  # noqa: E731
    embeddings: dict[str, int] = {}
    for w in plan.work:
        if w.kind == "embed":
            embeddings[w.name] = embeddings.get(w.name, 0) + w.calls
    per_iteration = {}
    for path, (run, t) in plan.file_iteration.items():
        per_iteration.setdefault((run, t), 0)
        per_iteration[(run, t)] += plan.files[path]
    loop_bytes = [value for (run, t), value in per_iteration.items() if run not in ("data", "shared")]
    stages = {}
    for w in plan.work:
        row = f"{w.stage} ({w.name})" if w.kind == "embed" and w.name != vote_embedder else w.stage
        entry = stages.setdefault(row, {"device": w.job_device, "name": w.name, "jobs": 0, "calls": 0, "units": 0.0, "seconds": 0.0})
        entry["jobs"] += w.jobs
        entry["calls"] += w.calls
        entry["units"] += w.units
        entry["seconds"] = None if entry["seconds"] is None or w.seconds is None else entry["seconds"] + w.seconds
    for entry in stages.values():
        hours = None if entry["seconds"] is None else entry["seconds"] / 3600
        entry["job_hours"] = hours
        entry["gpu_hours"] = hours * gpus if hours is not None and entry["device"] == "gpu" else 0.0 if hours is not None else None
    kept_iterations = sorted({0, T // 2, T})  # the workflow's grid_iterations: plotted, and the final one
    removable = [
        path for path, (run, t) in plan.file_iteration.items()
        if run != "data" and not path.rsplit("/", 1)[-1].startswith(("votes", "selected", "vote_counts"))
        and ("/shards/" in path or t not in kept_iterations)
    ]
    plan.summary = {
        "num_samples": N,
        "final_samples": exp.final_size,
        "iterations": T,
        "lookahead": L,
        "epsilons": labels,
        "shards": S,
        "gpus_per_network_job": gpus,
        "api": exp.api.name,
        "api_batch": api_batch,
        "api_device": api_device,
        "steps": steps_label(),
        "embedder": vote_embedder,
        "embedder_device": embed_device(vote_embedder),
        "feature_dim": dims[vote_embedder],
        "calls": calls,
        "variation_image_steps": units_by("VARIATION_API") if counts_steps(exp, api) else None,
        "lookahead_image_steps": units_by("lookahead: VARIATION_API") if counts_steps(exp, api) else None,
        "random_image_steps": units_by("RANDOM_API") if counts_steps(exp, api) else None,
        "embeddings": embeddings,
        "votes": {
            "count": T * len(labels),
            "dp_votes": T * sum(label != "inf" for label in labels),
            "bins": N,
            "private_samples": exp.dataset.num_private,
            "k": exp.pe.k,
            "distance_terms_each": exp.dataset.num_private * N * (dims[vote_embedder] or 0) / classes,
            "file_bytes_each": npz_bytes({"noisy_counts": ((N,), "<i8"), "weights": ((N,), "<f8"), "labels": ((N,), "<i8")}),
        },
        "disk": {
            "total": sum(plan.files.values()),
            "data": sum(v for (run, _), v in per_iteration.items() if run == "data"),
            "iteration_0": per_iteration.get(("shared", 0), 0),
            "per_iteration_max": max(loop_bytes, default=0),
            "per_iteration_min": min(loop_bytes, default=0),
            "populations_and_embeddings": sum(
                v for path, v in plan.files.items()
                if plan.file_iteration[path][0] != "data"
                and any(part in path for part in ("population", "embed_", "lookahead_"))
            ),
        },
        "keep_intermediate": exp.compute.keep_intermediate,
        "kept_iterations": kept_iterations,
        "removable_bytes": sum(plan.files[path] for path in removable),
        "stages": stages,
        "time": {"chain_s": chain, "chain_complete": chain_complete, "total_job_s": total, "complete": complete, "parallel": parallel, "wall_s": wall},
        "per_iteration": iterations,
    }
    return plan


# ----------------------------------------------------------------------------- printing


def _count(value) -> str:
    if value is None:
        return "?"
    if value >= 1e9:
        return f"{value:.3g}".replace("e+", "e")
    return f"{int(round(value)):,}"


def _bytes(value) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return f"{int(value)} B"


def _hours(seconds) -> str:
    if seconds is None:
        return "?"
    hours = seconds / 3600
    return f"{hours:.3g} h" if hours >= 0.01 else f"{seconds:.3g} s"


def format_plan(plan: ExperimentPlan) -> str:
    s = plan.summary
    c, v, d, time = s["calls"], s["votes"], s["disk"], s["time"]
    T, diffusion = s["iterations"], s["variation_image_steps"] is not None
    lines = [
        f"Experiment {plan.name}: N = {s['num_samples']:,}"
        + (f" (final population {s['final_samples']:,})" if s["final_samples"] != s["num_samples"] else "")
        + f", T = {T}, lookahead L = {s['lookahead']}, "
        f"epsilons {', '.join(s['epsilons'])}, {s['shards']} shard{'s' * (s['shards'] > 1)}, "
        f"{s['gpus_per_network_job']} GPU per network job",
        f"  API {s['api']} on {s['api_device']} (batch {s['api_batch']}; {s['steps']}); "
        f"embedder {s['embedder']} on {s['embedder_device']} ({s['feature_dim'] or '?'}-d)",
        "",
        "  API calls                     per iteration and epsilon        total",
        f"    RANDOM_API                  -                                {_count(c['random_api'])} (iteration 0, shared)",
        f"    VARIATION_API               {_count(c['variation_api_per_iteration']):<32} {_count(c['variation_api'])}",
        f"    lookahead VARIATION_API     {_count(c['lookahead_per_iteration']):<32} {_count(c['lookahead'])}"
        + (" (iteration 0's once)" if c["lookahead"] else ""),
    ]
    if diffusion:
        lines.append(
            f"    denoising image-steps       RANDOM_API {_count(s['random_image_steps'])}, VARIATION_API "
            f"{_count(s['variation_image_steps'])}, lookahead {_count(s['lookahead_image_steps'])}"
        )
    lines.append("  Embedding calls               " + ", ".join(f"{name} {_count(n)}" for name, n in s["embeddings"].items()))
    lines.append(
        f"  Votes                         {v['count']} ({v['dp_votes']} noised), each {v['private_samples']:,} private "
        f"samples x k = {v['k']} into {v['bins']:,} bins; {_count(v['distance_terms_each'])} distance terms each "
        f"(classes of equal size assumed); votes.npz {_bytes(v['file_bytes_each'])}"
    )
    lines += [
        f"  Disk (.npz files)             data {_bytes(d['data'])}, iteration 0 {_bytes(d['iteration_0'])}, "
        f"each later iteration of one epsilon {_bytes(d['per_iteration_max'])}"
        + (f" (down to {_bytes(d['per_iteration_min'])})" if d["per_iteration_min"] < 0.99 * d["per_iteration_max"] else ""),
        f"                                total {_bytes(d['total'])}, of which populations, embeddings and lookahead "
        f"{_bytes(d['populations_and_embeddings'])} (shard files included)",
        (
            f"                                compute.keep_intermediate: false: {_bytes(d['total'] - s['removable_bytes'])} "
            f"left at the end (the data, iterations {', '.join(map(str, s['kept_iterations']))} and the votes; "
            f"{_bytes(s['removable_bytes'])} removed as the run goes)"
            if not s["keep_intermediate"]
            else f"                                compute.keep_intermediate: false would leave "
            f"{_bytes(d['total'] - s['removable_bytes'])} (the data, iterations {', '.join(map(str, s['kept_iterations']))} "
            "and the votes)"
        ),
        "",
        "  Stage                                  device  jobs    work                        job-hours  GPU-hours",
    ]
    for stage, entry in s["stages"].items():
        unit = "terms" if stage == "vote" else ("image-steps" if diffusion and "API" in stage else "images")
        gpu = "-" if entry["device"] != "gpu" else _hours(None if entry["gpu_hours"] is None else entry["gpu_hours"] * 3600)
        lines.append(
            f"    {stage:<36} {entry['device']:<6}  {entry['jobs']:<6}  {_count(entry['units']) + ' ' + unit:<26}  "
            f"{_hours(entry['seconds']):<9}  {gpu}"
        )
    more = "" if time["chain_complete"] else " (known part)"
    lines += ["", f"  Iteration  degree  steps/variation  lookahead degree, steps  disk (one epsilon)  wall (one epsilon, all shards at once){more}"]
    for row in s["per_iteration"]:
        degree = "-" if row["degree"] is None else f"{row['degree']:.3g}"
        steps = "-" if not diffusion else f"{row['variation_steps']}" + (" (RANDOM_API)" if row["t"] == 0 else "")
        ahead = "-" if row["lookahead_degree"] is None else f"{row['lookahead_degree']:.3g}" + (f", {row['lookahead_steps']}" if diffusion else "")
        lines.append(f"    {row['t']:<9}{degree:<8}{steps:<17}{ahead:<25}{_bytes(row['disk']):<20}{_hours(row['wall_s'])}")
    lines.append("")
    if time["wall_s"] is not None:
        lines.append(
            f"  Wall time                     about {_hours(time['wall_s'])}"
            + ("" if time["complete"] else " or more (no figure for " + ", ".join(plan.missing) + ")")
            + f": the larger of one epsilon's chain ({_hours(time['chain_s'])}{'' if time['chain_complete'] else ' or more'}, "
            f"every shard of every epsilon at once) and all jobs' {_hours(time['total_job_s'])}"
            f"{'' if time['complete'] else ' or more'} over {time['parallel']} at a time (--parallel)"
        )
        lines.append(
            "                                compute only: job start-up (about a second; model loading) and the light "
            "jobs (select, metrics, tables) are not counted"
        )
    else:
        lines.append("  Wall time                     ? (no throughput figure for any stage)")
    for key, figure in plan.rates.items():
        marker = "" if figure.get("measured", True) else " (NOT MEASURED: an orientation figure)"
        lines.append(f"    rate {key}: {figure['value']:,.6g}{marker}; {figure.get('source', '')}")
    if plan.missing:
        lines.append("    no figure for " + ", ".join(plan.missing) + ": give one with --rate NAME=VALUE")
    lines += [f"  Note: {note}" for note in plan.notes]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- command line


def workflow_config(configfiles: list[str], replace: bool = False, base: str | Path = "config/config.yaml") -> dict:
    """The config Snakemake would run: config/config.yaml with each --configfile merged over it."""
    import yaml
    from snakemake.utils import update_config

    config: dict = {}
    if not replace:
        path = Path(base) if Path(base).is_file() else REPO / "config" / "config.yaml"
        config = yaml.safe_load(path.read_text()) or {}
    for path in configfiles:
        update_config(config, yaml.safe_load(Path(path).read_text()) or {})
    return config


def experiments_of(config: dict):
    from .config import build_experiments, validate_with_schema

    return build_experiments(validate_with_schema(config))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m private_evolution.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", action="append", default=[], help="merged over config/config.yaml, as snakemake --configfile")
    parser.add_argument("--replace-workflow-config", action="store_true", help="only the --configfile experiments")
    parser.add_argument("--experiment", action="append", default=[], help="plan only these experiments")
    parser.add_argument("--throughput", default=str(THROUGHPUT), help="the throughput table (default: benchmarks/throughput.yaml)")
    parser.add_argument("--rate", action="append", default=[], metavar="NAME=VALUE", help="a figure: image-steps/s (diffusion APIs), images/s (other APIs, embedders), distance terms/s (vote backends)")
    parser.add_argument("--parallel", type=int, default=None, help="jobs running at once (default: compute.shards)")
    parser.add_argument("--json", action="store_true", help="the plans as JSON")
    args = parser.parse_args(argv)
    try:
        overrides = {}
        for item in args.rate:
            name, _, value = item.partition("=")
            if not value:
                raise PEError(f"--rate {item!r}: write NAME=VALUE, e.g. --rate diffusion_unet=900")
            overrides[name.strip()] = float(value)
        rates = load_rates(Path(args.throughput), overrides)
        experiments = experiments_of(workflow_config(args.configfile, args.replace_workflow_config))
        names = args.experiment or list(experiments)
        unknown = [name for name in names if name not in experiments]
        if unknown:
            raise PEError(f"no experiment {unknown} in the config; it has {list(experiments)}")
        plans = [plan_experiment(experiments[name], rates, args.parallel) for name in names]
    except PEError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([{"name": p.name, **p.summary, "rates": p.rates, "missing": p.missing, "notes": p.notes} for p in plans], indent=2))
    else:
        print("\n\n".join(format_plan(plan) for plan in plans))
    return 0


if __name__ == "__main__":
    sys.exit(main())

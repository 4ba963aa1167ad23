"""Auditing tools: the privacy boundary of the DAG, file by file, and empirical epsilon lower bounds.

Neither changes what the workflow computes; tests and docs use them to check
that the guarantee the accountant claims is the one the code delivers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from pathlib import PurePosixPath as Path

import numpy as np

from .contract import DRAW, PRIVATE_FOLDER, run_epsilon_label

# The privacy boundary, checked file by file. Each file of a planned DAG gets a label:
# - a file under a private/ path component is PRIVATE, whoever wrote it;
# - any other file is at least as sensitive as the most sensitive file its job read, except
#   - the DP vote (DP_BARRIERS), and only with a finite epsilon and a secret noise seed: its
#     noisy votes are DP. With epsilon = inf (no noise) or a public seed (anyone can redraw and
#     remove the noise) a vote is no barrier: its output is as private as the data it read;
#   - a labelled non-private report (NON_PRIVATE_REPORTS: evaluation against held-out data and the
#     metrics table, which say they are not DP): what it writes is NOT_DP. The figures are not one:
#     they read only public files (the metrics table, the finite epsilons' populations), so a
#     figure that showed the un-noised epsilon = inf run's images would be flagged;
#   - a job of the privacy ledger (LEDGER_READERS), which reads the draw records under private/
#     (what was asked and its cost, never data) and publishes only their public fields: those
#     records do not count as read.
# Violations: a PRIVATE file outside private/, and a release (RELEASES) reading anything not DP.
DP_BARRIERS = frozenset({"vote"})
NON_PRIVATE_REPORTS = frozenset({"evaluate", "evaluate_accuracy", "collect_metrics"})
LEDGER_READERS = frozenset({"privacy_ledger", "release"})
RELEASES = frozenset({"release"})
# Label order: what a job writes is at least as sensitive as the most sensitive thing it reads.
DP, NOT_DP, PRIVATE = 0, 1, 2
LABELS = {DP: "DP or public", NOT_DP: "not DP (labelled)", PRIVATE: "private"}


def _pattern_regex(pattern: str) -> re.Pattern:
    """A contract path pattern as a regex over planned paths (each wildcard: one path component)."""
    parts = re.split(r"(\{[^}]+\})", pattern)
    return re.compile("(^|/)" + "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts) + "$")


DRAW_RECORD = _pattern_regex(DRAW)


def rulegraph_edges(dot: str) -> set[tuple[str, str]]:
    """(producer rule, consumer rule) pairs from ``snakemake --rulegraph`` output."""
    labels = dict(re.findall(r'^\s*(\d+)\[label = "([^"]+)"', dot, re.M))
    return {(labels[a], labels[b]) for a, b in re.findall(r"^\s*(\d+)\s*->\s*(\d+)", dot, re.M)}


def dry_run_jobs(text: str) -> list[dict]:
    """Jobs of ``snakemake --dry-run --forceall`` output: rule, input, output and wildcards of each."""
    jobs, job = [], None
    for line in text.splitlines():
        # grouped jobs (a Snakemake group) are listed indented under their group's header
        header = re.match(r"^\s*(?:local)?rule (\S+):$", line)
        if header:
            job = {"rule": header.group(1), "input": [], "output": [], "wildcards": {}}
            jobs.append(job)
            continue
        field = re.match(r"^\s+(input|output|wildcards): (.*)$", line)
        if job is None or not field:
            continue
        key, values = field.group(1), [v.strip() for v in field.group(2).split(", ") if v.strip()]
        if key == "wildcards":
            job["wildcards"] = dict(v.split("=", 1) for v in values)
        else:
            job[key] = values
    return jobs


def public_seed_experiments(config: dict) -> set[str]:
    """The experiments of a workflow config whose noise seed is public (privacy.seed_mode: public):
    their votes are no DP barrier."""
    from .config import load_config

    return {name for name, exp in load_config(config).items() if exp.privacy.seed_mode == "public"}


def is_private_path(path: str) -> bool:
    return PRIVATE_FOLDER in Path(path).parts


def _epsilon_of(job: dict) -> str | None:
    wildcards = job["wildcards"]
    if "eps" in wildcards:
        return wildcards["eps"]
    return run_epsilon_label(wildcards.get("run", ""))


def _describe(job: dict) -> str:
    wildcards = ", ".join(f"{k}={v}" for k, v in sorted(job["wildcards"].items()))
    return f"{job['rule']}({wildcards})" if wildcards else job["rule"]


def _no_barrier(job: dict, public_seeds: Collection[str]) -> str | None:
    """Why a vote job is no DP barrier (None: it is one)."""
    epsilon = _epsilon_of(job)
    if epsilon in (None, "inf"):
        return "epsilon = inf: no noise"
    if job["wildcards"].get("exp") in public_seeds:
        return "its noise seed is public (privacy.seed_mode: public): the noise can be removed"
    return None


class _Boundary:
    """The labels of a planned DAG's files and the violations found while labelling them."""

    def __init__(self, jobs: list[dict], public_seeds: Collection[str]):
        self.producer = {path: job for job in jobs for path in job["output"]}
        self.public_seeds = frozenset(public_seeds)
        self.written: dict[int, int] = {}  # the label of what a job writes, before its files' location
        self.problems: set[str] = set()
        for job in jobs:
            self.job_label(job)

    def file_label(self, path: str) -> int:
        if is_private_path(path):
            return PRIVATE
        job = self.producer.get(path)
        return DP if job is None else self.job_label(job)  # a file no job writes: a public input

    def job_label(self, job: dict) -> int:
        key = id(job)
        if key in self.written:
            return self.written[key]
        self.written[key] = PRIVATE  # guards against cycles (a DAG has none)
        rule, name = job["rule"], _describe(job)
        inputs = job["input"]
        if rule in LEDGER_READERS:
            inputs = [path for path in inputs if not DRAW_RECORD.search(path)]
        read = max(map(self.file_label, inputs), default=DP)
        public = [path for path in job["output"] if not is_private_path(path)]
        if rule in DP_BARRIERS:
            reason = _no_barrier(job, self.public_seeds)
            result = DP if reason is None else max(read, PRIVATE)
            if reason is not None and public:
                self.problems.add(f"job {name} is no DP barrier: {reason}")
        elif rule in NON_PRIVATE_REPORTS:
            result = min(read, NOT_DP)
        else:
            result = read
            if read == PRIVATE and public:
                self.problems.add(f"job {name} reads private data and is not allowed to")
        if rule in RELEASES and read > DP:
            self.problems.add(f"job {name} releases outputs that are {LABELS[read]}")
        if result == PRIVATE and public:
            self.problems.add(f"job {name} writes private data outside private/: {public}")
        self.written[key] = result
        return result


def file_labels(jobs: list[dict], public_seeds: Collection[str] = ()) -> dict[str, int]:
    """The label (DP, NOT_DP or PRIVATE) of every file the planned jobs write, by the rules above.
    ``public_seeds``: the experiments whose noise seed is public (public_seed_experiments)."""
    boundary = _Boundary(jobs, public_seeds)
    return {path: boundary.file_label(path) for path in boundary.producer}


def job_privacy_violations(jobs: list[dict], public_seeds: Collection[str] = ()) -> list[str]:
    """Every break of the privacy boundary (see the rules above), with the job and why.
    ``jobs``: dry_run_jobs of a forced dry run; ``public_seeds``: the experiments whose noise
    seed is public (public_seed_experiments of the config), whose votes are no DP barrier."""
    return sorted(_Boundary(jobs, public_seeds).problems)


def clopper_pearson_upper(successes: int, trials: int, alpha: float) -> float:
    """One-sided (1 - alpha) upper confidence bound of a binomial proportion."""
    from scipy.stats import beta

    if successes >= trials:
        return 1.0
    return float(beta.ppf(1 - alpha, successes + 1, trials - successes))


def epsilon_lower_bound(
    scores_without: np.ndarray, scores_with: np.ndarray, delta: float, alpha: float = 0.05, num_thresholds: int = 50
) -> float:
    """A (1 - alpha)-confidence lower bound on epsilon from a threshold attack.

    The attack says "the canary is in" when the score exceeds a threshold. For an
    (epsilon, delta)-DP mechanism every such test has FPR, FNR with
    1 - delta - FNR <= e^epsilon FPR (and symmetrically), so upper confidence
    bounds on FPR and FNR give a lower bound on epsilon. The alpha is split over
    the thresholds tried (Bonferroni), so the bound holds for the best one.
    """
    scores_without, scores_with = np.asarray(scores_without), np.asarray(scores_with)
    thresholds = np.quantile(np.concatenate([scores_without, scores_with]), np.linspace(0.02, 0.98, num_thresholds))
    level = alpha / (2 * num_thresholds)
    best = 0.0
    for threshold in thresholds:
        false_positives = int((scores_without > threshold).sum())
        false_negatives = int((scores_with <= threshold).sum())
        fpr = clopper_pearson_upper(false_positives, len(scores_without), level)
        fnr = clopper_pearson_upper(false_negatives, len(scores_with), level)
        for numerator, denominator in ((1 - delta - fnr, fpr), (1 - delta - fpr, fnr)):
            if numerator > 0 and denominator > 0:
                best = max(best, math.log(numerator / denominator))
    return best

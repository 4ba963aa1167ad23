"""Auditing tools: the privacy boundary of the DAG, job by job, and empirical epsilon lower bounds.

Neither changes what the workflow computes; tests and docs use them to check
that the guarantee the accountant claims is the one the code delivers.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from .contract import run_epsilon_label

# The privacy boundary, checked job by job (each job with its epsilon):
# - PRIVATE_SOURCES write private data as it is.
# - DP_BARRIERS turn private input into a DP output, but only with noise: a vote job of
#   epsilon = inf adds none, so it is not a barrier and its output stays private.
# - NON_PRIVATE_REPORTS read private (real) data for reporting and are labelled not DP.
# - The epsilon = inf chain (select, vary, embed, evaluate after the un-noised vote) is a
#   non-private reference: allowed to read the un-noised vote, labelled not DP, never released.
# - PRIVATE_PROCESSORS may read private data because what they write is private too.
# - RELEASES may read only DP outputs.
# Every output of a job that holds private data must lie under results/*/private/.
PRIVATE_SOURCES = frozenset({"prepare_private", "prepare_heldout", "prepare_validation"})
DP_BARRIERS = frozenset({"vote"})
NON_PRIVATE_REPORTS = frozenset({"evaluate", "evaluate_accuracy", "evaluate_accuracy_ceiling", "embed_evaluation"})
PRIVATE_PROCESSORS = frozenset({"embed_real", "embed_real_shard", "vote_shard", "vote_reference", "train_feature_classifier"})
RELEASES = frozenset({"release"})
# Label order: what a job writes is at least as sensitive as the most sensitive thing it reads.
DP, NOT_DP, PRIVATE = 0, 1, 2
LABELS = {DP: "DP or public", NOT_DP: "not DP (labelled)", PRIVATE: "private"}


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


def _epsilon_of(job: dict) -> str | None:
    wildcards = job["wildcards"]
    if "eps" in wildcards:
        return wildcards["eps"]
    return run_epsilon_label(wildcards.get("run", ""))


def _describe(job: dict) -> str:
    wildcards = ", ".join(f"{k}={v}" for k, v in sorted(job["wildcards"].items()))
    return f"{job['rule']}({wildcards})" if wildcards else job["rule"]


def job_privacy_violations(jobs: list[dict]) -> list[str]:
    """Every job that breaks the privacy boundary (see the rules above), with why."""
    producer = {path: job for job in jobs for path in job["output"]}
    label: dict[int, int] = {}
    problems: list[str] = []

    def label_of(job: dict) -> int:
        key = id(job)
        if key in label:
            return label[key]
        label[key] = PRIVATE  # guards against cycles (a DAG has none)
        read = max((label_of(producer[path]) for path in job["input"] if path in producer), default=DP)
        rule, epsilon = job["rule"], _epsilon_of(job)
        if rule in PRIVATE_SOURCES:
            result = PRIVATE
        elif read < PRIVATE:
            result = read
        elif rule in DP_BARRIERS:
            result = DP if epsilon not in (None, "inf") else PRIVATE  # no noise: the counts are private
        elif rule in NON_PRIVATE_REPORTS or (epsilon == "inf" and rule not in PRIVATE_PROCESSORS):
            result = NOT_DP
        elif rule in PRIVATE_PROCESSORS:
            result = PRIVATE
        else:
            problems.append(f"job {_describe(job)} reads private data and is not allowed to")
            result = PRIVATE
        if rule in RELEASES and read > DP:
            problems.append(f"job {_describe(job)} releases outputs that are {LABELS[read]}")
        if result == PRIVATE:
            public = [path for path in job["output"] if "private" not in Path(path).parts]
            if public:
                problems.append(f"job {_describe(job)} writes private data outside private/: {public}")
        label[key] = result
        return result

    for job in jobs:
        label_of(job)
    return sorted(set(problems))


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

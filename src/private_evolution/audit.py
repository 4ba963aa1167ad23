"""Auditing tools: the privacy boundary of the DAG and empirical epsilon lower bounds.

Neither changes what the workflow computes; tests and docs use them to check
that the guarantee the accountant claims is the one the code delivers.
"""

from __future__ import annotations

import math
import re

import numpy as np

# Rules whose outputs hold private data as they are, and the barriers: rules
# that may read private data because their output is DP (vote) or is marked
# non-private reporting (the evaluate rules). embed_real embeds the private set
# for the vote (and the held-out set for evaluation); with shards, embed_real_shard
# embeds a slice of it and vote_shard writes a slice's clean counts (private, not a
# barrier: only vote, which adds the noise, may read them).
PRIVATE_SOURCES = frozenset({"prepare_private"})
PRIVACY_BARRIERS = frozenset({"vote", "evaluate", "evaluate_accuracy", "evaluate_accuracy_ceiling"})
ALLOWED_PRIVATE_READERS = frozenset({"embed_real", "embed_real_shard", "vote_shard"}) | PRIVACY_BARRIERS


def rulegraph_edges(dot: str) -> set[tuple[str, str]]:
    """(producer rule, consumer rule) pairs from ``snakemake --rulegraph`` output."""
    labels = dict(re.findall(r'^\s*(\d+)\[label = "([^"]+)"', dot, re.M))
    return {(labels[a], labels[b]) for a, b in re.findall(r"^\s*(\d+)\s*->\s*(\d+)", dot, re.M)}


def privacy_boundary_violations(edges: set[tuple[str, str]]) -> list[str]:
    """Every rule that reads private data without being allowed to.

    Private data flows from PRIVATE_SOURCES through any rule except a barrier;
    each edge from a private rule into a rule outside ALLOWED_PRIVATE_READERS
    is a violation.
    """
    private, frontier = set(PRIVATE_SOURCES), list(PRIVATE_SOURCES)
    while frontier:
        rule = frontier.pop()
        for producer, consumer in edges:
            if producer == rule and consumer not in PRIVACY_BARRIERS and consumer not in private:
                private.add(consumer)
                frontier.append(consumer)
    return sorted(
        f"rule '{consumer}' reads private data (the output of rule '{producer}')"
        for producer, consumer in edges
        if producer in private and consumer not in ALLOWED_PRIVATE_READERS
    )


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

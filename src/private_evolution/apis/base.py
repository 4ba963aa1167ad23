"""The generation API extension point: RANDOM_API and VARIATION_API (the PE paper's two calls)."""

from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np

from ..population import Population


class API(abc.ABC):
    """A generator PE calls by inference only: it never sees private data.

    Capabilities, read by the workflow and the config check without building the API:

    - ``needs_gpu``: its calls run a network, so random_population, vary and lookahead jobs
      ask for ``compute.gpus`` (and stay out of the small-step cluster groups);
    - ``max_degree``: the largest variation degree it takes (None: any), checked against
      ``pe.degree_schedule`` when the config is loaded;
    - ``options_schema``: JSON schema of its options block ``api.<name>`` (the built-ins'
      blocks are also in ``workflow/schemas/config.schema.yaml``, where their defaults live);
    - ``batch_size`` (per instance, from its options): samples per call; shards are aligned
      to it, so that a sharded run makes the same batches as an unsharded one.

    ``threads`` (set by :func:`make_api` from the job's ``threads``): the processors its calls
    may keep busy; None: every processor the process may use. A job that uses more than its
    share slows the jobs Snakemake runs beside it. (Torch reads the same number from the
    ``OMP_NUM_THREADS`` Snakemake sets for each job; the glyph simulator's own thread pool reads
    this attribute.)

    Both calls take one seed per sample, so that a sample does not depend on which other
    samples share its batch or shard; a variation of degree 0 returns its parent.
    """

    name: ClassVar[str] = ""
    needs_gpu: ClassVar[bool] = False
    max_degree: ClassVar[float | None] = None
    options_schema: ClassVar[dict] = {"type": "object"}
    batch_size: int = 1
    threads: int | None = None

    def __init__(self, class_names: list[str], image_size: int, channels: int, options: dict):
        self.class_names = list(class_names)
        self.image_size = image_size
        self.channels = channels
        self.options = dict(options)

    @abc.abstractmethod
    def random_api(self, labels: np.ndarray, seeds: np.ndarray) -> Population:
        """One new sample per label, from public information only."""

    @abc.abstractmethod
    def variation_api(self, parents: Population, degree: float, seeds: np.ndarray) -> Population:
        """One variation per parent; ``degree`` says how far it may move (0: unchanged)."""

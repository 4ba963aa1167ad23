"""The embedder extension point: images to feature vectors, for the vote and for evaluation."""

from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np

from ..schema import schema_defaults


class Embedder(abc.ABC):
    """Maps uint8 images (N, H, W, C) to float32 features (N, D).

    Capabilities, read by the workflow and the config check without building the embedder:

    - ``needs_gpu``: it runs a network, so its jobs ask for ``compute.gpus``;
    - ``cpu_only``: it computes on the CPU alone, never on a GPU, whatever ``device`` says
      (numpy code): its private embeddings then name the host but no device, and torch only
      if it imported torch; any other embedder's device is resolved (torch) and a GPU makes
      every computation of it a new draw (noise.computation_id);
    - ``feature_dim``: D when fixed (checked on every output), None when it depends on the images;
    - ``for_vote``: False for a feature space learnt from held-out real data, which may only
      evaluate (voting in it would carry held-out images into the synthetic data);
    - ``uses_validation_classifier``: the workflow trains the small CNN on the validation
      part first and passes its file as ``options["weights"]``;
    - ``frechet_prefix``: the id prefix of the Fréchet distance in its space (``fid`` only
      for the network FID is defined with);
    - ``headline_rank``: spaces the vote did not use are preferred for the headline plot in
      this order (lower first);
    - ``label``: the space in words, for plot titles (``label_detail``: a note after it);
    - ``options_schema``: JSON schema of its options block ``embedder.<name>``;
    - ``batch_size`` (per instance): images per forward pass; shards align to it.
    """

    name: ClassVar[str] = ""
    needs_gpu: ClassVar[bool] = True
    cpu_only: ClassVar[bool] = False
    feature_dim: ClassVar[int | None] = None
    for_vote: ClassVar[bool] = True
    uses_validation_classifier: ClassVar[bool] = False
    frechet_prefix: ClassVar[str] = "fd"
    headline_rank: ClassVar[int] = 10
    label: ClassVar[str] = ""
    label_detail: ClassVar[str] = ""
    options_schema: ClassVar[dict] = {"type": "object"}
    batch_size: int = 256

    def __init__(self, options: dict):
        self.options = dict(options)

    @abc.abstractmethod
    def embed(self, images: np.ndarray) -> np.ndarray:
        """Features of the images, in order."""

    @classmethod
    def evaluation_options(cls, exp) -> dict:
        """Its options when it measures an experiment and is not the vote's embedder: the
        embedder section's defaults (the vote's own options are the embedder section)."""
        return {**schema_defaults("embedder"), "name": cls.name}

    @classmethod
    def evaluated_iterations(cls, exp) -> list[int]:
        """The iterations whose populations are measured in this space (evaluation.iterations): all
        of them, or the random and the final populations."""
        if exp.evaluation.iterations == "final":
            return [0, exp.pe.iterations]
        return list(range(exp.pe.iterations + 1))

"""The frechet_distance metric: FD between Gaussians fitted to both feature sets (FID in Inception's)."""

from __future__ import annotations

from .base import FeatureMetric
from .measures import feature_statistics, frechet_distance


class FrechetDistance(FeatureMetric):
    name = "frechet_distance"
    values = {"fd": ("Fréchet distance", True), "fid": ("FID", True)}

    def compute(self, synthetic, real, space) -> dict[str, float]:
        # FID only in the network FID is defined with; elsewhere FD, named for its features
        return {space.frechet_prefix: frechet_distance(*feature_statistics(synthetic), *feature_statistics(real))}

"""Variation degree per iteration: large early (explore), small late (refine)."""

from __future__ import annotations

import numpy as np

from . import PEError


def variation_degrees(iterations: int, schedule: dict) -> list[float]:
    """Degrees for t = 1..iterations from ``pe.degree_schedule``.

    ``kind: explicit`` takes ``degrees`` as given (one per iteration); ``linear`` and
    ``geometric`` go from ``start`` at t = 1 to ``end`` at t = T; ``constant`` uses ``start``.
    """
    kind = schedule["kind"]
    if kind == "explicit":
        degrees = [float(d) for d in schedule.get("degrees") or []]
        if len(degrees) != iterations:
            raise PEError(
                f"pe.degree_schedule.degrees has {len(degrees)} values but pe.iterations is "
                f"{iterations}: give one degree per iteration"
            )
        return degrees
    start, end = float(schedule["start"]), float(schedule["end"])
    if kind == "constant" or iterations == 1:
        return [start] * iterations
    if kind == "linear":
        return [float(x) for x in np.linspace(start, end, iterations)]
    if kind == "geometric":
        if start <= 0 or end <= 0:
            raise PEError("a geometric degree schedule needs start > 0 and end > 0")
        return [float(x) for x in np.geomspace(start, end, iterations)]
    raise PEError(f"unknown degree schedule kind '{kind}'")

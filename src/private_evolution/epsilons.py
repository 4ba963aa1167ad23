"""How an epsilon is written: in paths and records (``epsilon_label``) and read from the config.

A leaf module, so that whatever shapes a file name or a record from an epsilon imports nothing else.
"""

from __future__ import annotations

import math

from . import PEError


def epsilon_label(epsilon: float) -> str:
    """How an epsilon appears in paths: 0.5 -> '0.5', 1.0 -> '1', inf -> 'inf'."""
    return "inf" if math.isinf(epsilon) else f"{epsilon:g}"


def parse_epsilon(value) -> float:
    if isinstance(value, str):
        if value.lower().lstrip(".") in ("inf", "infinity"):
            return math.inf
        raise PEError(f"epsilon '{value}' is not a number or inf")
    return float(value)

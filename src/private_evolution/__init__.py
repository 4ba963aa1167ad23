"""Private Evolution (PE): DP synthetic images from inference-only generation APIs.

The package is a library of small pure functions; the Snakemake workflow in
``workflow/`` calls thin stage scripts (``src/scripts``) over it. Importing the
package is cheap on purpose: torch is imported only by the modules that need it.
"""

__version__ = "0.1.0"


class PEError(Exception):
    """An error the user can fix: the message says what is wrong and how to fix it."""


"""Private Evolution (PE): DP synthetic images from inference-only generation APIs.

The package is a library of small pure functions; the Snakemake workflow in
``workflow/`` calls thin stage scripts (``src/scripts``) over it. Importing the
package is cheap on purpose: torch is imported only by the modules that need it.
"""

__version__ = "0.1.0"


class PEError(Exception):
    """An error the user can fix: the message says what is wrong and how to fix it."""


def _serve_job_from_the_warm_worker() -> None:
    """The warm worker's one entry point (see warm.py).

    A stage script's first import of this package is the earliest point a Snakemake job
    reaches (before numpy or torch): when a warm worker serves this run, the job hands
    itself over here and its process exits with the script's exit code, so that no stage
    script needs to know the worker exists. In every other process (the Snakefile, the
    worker and its children, tests, benchmarks, a job with no worker) this returns at once.
    """
    import os
    import sys

    if not os.environ.get("PE_WARM_SOCKET") or os.environ.get("PE_WARM_CHILD"):
        return
    job = getattr(sys.modules.get("__main__"), "snakemake", None)  # set by Snakemake's script preamble
    if job is None or not type(job).__module__.startswith("snakemake."):
        return
    from .warm import hand_over

    hand_over(job.log)


_serve_job_from_the_warm_worker()

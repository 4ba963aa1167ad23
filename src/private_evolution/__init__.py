"""Private Evolution (PE): DP synthetic images from inference-only generation APIs.

The package is a library of small pure functions; the Snakemake workflow in
``workflow/`` calls thin stage scripts (``src/scripts``) over it. Importing the
package is cheap on purpose: torch is imported only by the modules that need it.
"""

__version__ = "0.1.0"


class PEError(Exception):
    """An error the user can fix: the message says what is wrong and how to fix it."""


class PublicError(PEError):
    """A :class:`PEError` about a file or the config that holds nothing of the private data (a
    missing file, a dtype or shape read from a header, a published file's digest, a missing
    weights file). A job that reads private data prints its message on the terminal too; any
    other error of such a job stays in its private log (see ``logs.stage_logging``)."""

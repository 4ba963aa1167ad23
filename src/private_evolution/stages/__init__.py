"""One module per workflow stage, each a function from input files to output files.

The rule scripts in ``src/scripts`` only unpack Snakemake's objects and call
these; benchmarks call the same functions in one process. One module per stage
keeps each rule's code digest (see ``provenance``) to the code it really runs.
"""

import logging

logger = logging.getLogger("private_evolution")
